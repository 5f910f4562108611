//! Real SLSA provenance made by slsa-github-generator's container workflow (keyless, GitHub
//! Actions, Rekor), saved by cosign as an OCI image layout: each attestation layer becomes a
//! Sigstore bundle (`cosign::attestation_bundle`) that the SDK's verifier checks.
#![cfg(feature = "sigstore")]
#![allow(clippy::unwrap_used)]

#[path = "common/cosign_layout.rs"]
mod layout;

use custody_sdk::sigstore::{cosign::attestation_bundle, Bundle, Content, SigningMaterial};
use layout::{digest_beside, read_cosign_layout, slsa_github_generator_layout};

#[test]
fn attestation_layers_convert_to_bundles() {
    for version in layout::SLSA_GITHUB_GENERATOR_VERSIONS {
        let dir = slsa_github_generator_layout(version);
        let layout = read_cosign_layout(&dir);
        assert_eq!(layout.image_digest, digest_beside(&dir), "{version}");
        assert!(!layout.attestations.is_empty(), "{version}");
        for layer in &layout.attestations {
            assert_eq!(layer.media_type, "application/vnd.dsse.envelope.v1+json");
            let json = attestation_bundle(&layer.envelope, &layer.annotations).unwrap();
            let bundle = Bundle::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
            let SigningMaterial::Certificate { chain, .. } = &bundle.material else {
                panic!("{version}: not keyless");
            };
            assert_eq!(chain.len(), 1, "{version}: the intermediate, not the root");
            assert!(matches!(bundle.content, Content::Dsse(_)));
            assert_eq!(bundle.tlog_entries.len(), 1);
            assert_eq!(bundle.tlog_entries[0].kind, "dsse");
        }
    }
}

#[test]
fn converted_bundles_verify_against_the_image_index_bytes() {
    use custody_sdk::sigstore::{verify, Policy, TrustedRoot};
    for version in layout::SLSA_GITHUB_GENERATOR_VERSIONS {
        let dir = slsa_github_generator_layout(version);
        let layout = read_cosign_layout(&dir);
        let hex = layout.image_digest.strip_prefix("sha256:").unwrap();
        let index = std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
        let layer = &layout.attestations[0];
        let json = attestation_bundle(&layer.envelope, &layer.annotations).unwrap();
        let bundle = Bundle::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
        let policy = Policy::identity("https://token.actions.githubusercontent.com", format!("https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/{version}"));
        let v = verify(
            &bundle,
            custody_sdk::sigstore::Artifact::Bytes(&index),
            &policy,
            &TrustedRoot::public_good().unwrap(),
            Some(1_900_000_000),
        );
        println!("{version}: {v:?}");
        v.unwrap();
    }
}
