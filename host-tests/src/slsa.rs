//! The real slsa-github-generator images in `../shared/testdata` (OCI image layouts saved by
//! cosign: the image index and its attestation manifest) and what the verify-slsa tests build
//! from them.

use std::path::PathBuf;

use custody_sdk::attestors::AttestationsConfigMap;
use custody_sdk::settings::NamespaceName;
use custody_sdk::sigstore::cosign::attestation_bundle;
use custody_sdk::Digest;
use serde_json::{json, Value};

use crate::cosign_layout::{
    digest_beside, read_cosign_layout, slsa_github_generator_layout, SLSA_GITHUB_GENERATOR_VERSIONS,
};

/// The image the provenance names (the subject's `name`).
pub const IMAGE_NAME: &str =
    "ghcr.io/slsa-framework/example-package.verifier-e2e.all.tag.main.default.slsa3";
/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The certificate subject of slsa-github-generator's container workflow, up to the version tag.
pub const GENERATOR_SUBJECT_PREFIX: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/";
/// The builder id prefix (the same workflow).
pub const BUILDER_PREFIX: &str = GENERATOR_SUBJECT_PREFIX;
/// The container build type.
pub const BUILD_TYPE: &str = "https://github.com/slsa-framework/slsa-github-generator/container@v1";
/// The source repository of both images.
pub const SOURCE_REPOSITORY: &str = "https://github.com/slsa-framework/example-package";

/// One saved image.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The generator version that made it: `v1.10.0`, `v2.1.0`.
    pub version: &'static str,
    /// The OCI layout directory.
    pub dir: PathBuf,
    /// The image's manifest (index) digest.
    pub digest: Digest,
    /// The ref the build ran on.
    pub source_ref: &'static str,
}

impl Layout {
    /// The image pinned to its digest.
    pub fn image(&self) -> String {
        format!("{IMAGE_NAME}@{}", self.digest)
    }

    /// The Sigstore bundles of its attestation layers, as `att-<n>.sigstore.json` keys.
    pub fn bundles(&self) -> Vec<(String, Value)> {
        read_cosign_layout(&self.dir)
            .attestations
            .iter()
            .enumerate()
            .map(|(n, layer)| {
                let bundle = attestation_bundle(&layer.envelope, &layer.annotations)
                    .unwrap_or_else(|e| panic!("{}: layer {n}: {e}", self.version));
                (format!("att-{n}.sigstore.json"), bundle)
            })
            .collect()
    }

    /// The ConfigMap `custody attestations export` makes for it, in `namespace`.
    pub fn config_map(&self, namespace: &str) -> Value {
        let data = self
            .bundles()
            .into_iter()
            .map(|(key, bundle)| (key, bundle.to_string()))
            .collect();
        let namespace = NamespaceName::new(namespace).expect("a namespace");
        let config_map = AttestationsConfigMap::new(&self.digest, &namespace, &self.image(), data)
            .expect("a ConfigMap");
        serde_json::to_value(config_map).expect("JSON")
    }
}

/// Both saved images.
pub fn layouts() -> Vec<Layout> {
    SLSA_GITHUB_GENERATOR_VERSIONS
        .into_iter()
        .zip(["refs/tags/v13.0.30", "refs/heads/main"])
        .map(|(version, source_ref)| {
            let dir = slsa_github_generator_layout(version);
            Layout {
                version,
                digest: Digest::parse(&digest_beside(&dir)).expect("a digest"),
                dir,
                source_ref,
            }
        })
        .collect()
}

/// Settings that the real images meet: keyless slsa-github-generator signer, its builder, the
/// container build type, the example-package repository.
pub fn settings() -> Value {
    json!({
        "images": [{
            "patterns": [format!("{IMAGE_NAME}*")],
            "attestors": {"entries": [{"keyless": {
                "issuer": GITHUB_ISSUER,
                "subjectPrefix": GENERATOR_SUBJECT_PREFIX,
            }}]},
            "conditions": {
                "builderIdPrefix": BUILDER_PREFIX,
                "buildType": BUILD_TYPE,
                "sourceRepository": SOURCE_REPOSITORY,
                "sourceRefs": ["refs/tags/v*", "refs/heads/main"],
            },
        }],
    })
}

/// A Pod CREATE request with one container per image.
pub fn pod_request(images: &[&str], annotations: Value) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({
        "uid": "verify-slsa-test",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "default",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default", "annotations": annotations},
            "spec": {"containers": containers},
        },
    })
}
