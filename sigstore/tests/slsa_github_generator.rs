//! Real SLSA provenance made by slsa-github-generator's container workflow (keyless, GitHub
//! Actions OIDC, Rekor), saved by cosign as an OCI image layout: each attestation layer becomes a
//! Sigstore bundle (`cosign::attestation_bundle`) that the SDK's verifier checks against the
//! image digest alone, as an admission policy does.
// A test may unwrap: a failing assertion is what a test is for.
#![allow(clippy::unwrap_used)]

use custody_test_support::cosign_layout as layout;
use custody_test_support::test_log;

use base64::Engine as _;
use custody_sigstore::{
    cosign::attestation_bundle, verify, Artifact, Bundle, Content, Error, IdentityMismatch,
    Matcher, Policy, SigningMaterial, TrustedRoot, Verified,
};
use layout::{digest_beside, read_cosign_layout, slsa_github_generator_layout, CosignLayout};
use serde_json::Value;

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GENERATOR_WORKFLOW: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

/// The signer of a version's provenance: the generator's reusable workflow at its release tag.
fn signer(version: &str) -> String {
    format!("{GENERATOR_WORKFLOW}@refs/tags/{version}")
}

/// slsa-github-generator v1.9.0, whose attestation cosign (before v2) logged as an `intoto` 0.0.1
/// entry; the later versions' entries are `dsse` 0.0.1.
const INTOTO_V001: &str = "v1.9.0";

/// Every version of the test data.
fn versions() -> impl Iterator<Item = &'static str> {
    layout::SLSA_GITHUB_GENERATOR_VERSIONS.into_iter()
}

/// A version's layout and the bundle JSON of its (only) attestation layer.
fn version(version: &'static str) -> (CosignLayout, Value) {
    let dir = slsa_github_generator_layout(version);
    let layout = read_cosign_layout(&dir);
    assert_eq!(layout.image_digest, digest_beside(&dir), "{version}");
    assert_eq!(layout.attestations.len(), 1, "{version}");
    let layer = &layout.attestations[0];
    let json = attestation_bundle(&layer.envelope, &layer.annotations).unwrap();
    (layout, json)
}

/// Each version's layout and the bundle JSON of its (only) attestation layer.
fn each_version() -> Vec<(&'static str, CosignLayout, Value)> {
    versions()
        .map(|v| {
            let (layout, json) = version(v);
            (v, layout, json)
        })
        .collect()
}

fn parse(json: &Value) -> Bundle {
    Bundle::from_json(&serde_json::to_vec(json).unwrap()).unwrap()
}

fn check(json: &Value, digest: [u8; 32], policy: &Policy) -> Result<Verified, Error> {
    let root = TrustedRoot::public_good().unwrap();
    verify(
        &parse(json),
        Artifact::Sha256(digest),
        policy,
        &root,
        Some(now()),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap())
        .unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn attestation_layers_convert_to_v0_1_bundles() {
    for (version, layout, json) in each_version() {
        let layer = &layout.attestations[0];
        assert_eq!(layer.media_type, "application/vnd.dsse.envelope.v1+json");
        assert_eq!(
            layer.annotations["predicateType"],
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(
            json["mediaType"],
            "application/vnd.dev.sigstore.bundle+json;version=0.1"
        );
        let entry = &json["verificationMaterial"]["tlogEntries"][0];
        assert!(entry["logIndex"].is_string() && entry["integratedTime"].is_string());
        // cosign before v2 logged an `intoto` 0.0.1 entry, which binds the envelope by the hash
        // of its bytes: the bundle keeps them (the layer blob) as `rawEnvelope`, ours.
        let (kind, raw) = if version == INTOTO_V001 {
            ("intoto", Some(b64_encode(&layer.envelope)))
        } else {
            ("dsse", None)
        };
        assert_eq!(entry["kindVersion"]["kind"], kind, "{version}");
        assert_eq!(entry["kindVersion"]["version"], "0.0.1", "{version}");
        assert_eq!(
            json["dsseEnvelope"]["rawEnvelope"].as_str(),
            raw.as_deref(),
            "{version}"
        );
        // The log ID: the public-good Rekor's key ID, hex in cosign's annotation.
        assert_eq!(
            entry["logId"]["keyId"],
            "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="
        );

        let bundle = parse(&json);
        let SigningMaterial::Certificate { chain, .. } = &bundle.material else {
            panic!("{version}: not keyless");
        };
        // The chain annotation holds the intermediate and the root; the root is left out.
        assert_eq!(chain.len(), 1, "{version}");
        let Content::Dsse(envelope) = &bundle.content else {
            panic!("{version}: not DSSE");
        };
        assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.raw.is_some(), version == INTOTO_V001, "{version}");
    }
}

#[test]
fn the_real_identity_verifies_by_image_digest() {
    let root = TrustedRoot::public_good().unwrap();
    for (version, layout, json) in each_version() {
        let digest = layout.image_sha256();
        let policies = [
            Policy::identity(GITHUB_ISSUER, signer(version)),
            Policy::Identity {
                issuer: Matcher::exact(GITHUB_ISSUER),
                subject: Matcher::prefix(format!("{GENERATOR_WORKFLOW}@refs/tags/")).unwrap(),
            },
            Policy::Identity {
                issuer: Matcher::regex(r"https://token\.actions\.githubusercontent\.com").unwrap(),
                subject: Matcher::regex(
                    r"https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/generator_(container|generic)_slsa3\.yml@refs/tags/v\d+\.\d+\.\d+",
                )
                .unwrap(),
            },
        ];
        for policy in &policies {
            let verified = check(&json, digest, policy)
                .unwrap_or_else(|e| panic!("{version}, {policy:?}: {e}"));
            let id = verified.identity.unwrap();
            assert_eq!(id.issuer.as_deref(), Some(GITHUB_ISSUER));
            assert_eq!(id.sans, [signer(version)]);
            assert_eq!(
                verified.signing_time.map(|t| t.secs),
                Some(parse(&json).tlog_entries[0].integrated_time)
            );
        }
        // Without a clock, and with the image index's bytes instead of its digest.
        let bundle = parse(&json);
        let policy = &policies[0];
        verify(&bundle, Artifact::Sha256(digest), policy, &root, None).unwrap();
        let index = std::fs::read(
            slsa_github_generator_layout(version)
                .join("blobs/sha256")
                .join(&layout.image_digest["sha256:".len()..]),
        )
        .unwrap();
        verify(&bundle, Artifact::Bytes(&index), policy, &root, None).unwrap();
    }
}

#[test]
fn another_signer_is_an_identity_mismatch() {
    for (version, layout, json) in each_version() {
        let digest = layout.image_sha256();
        let other = if version == "v1.10.0" {
            "v2.1.0"
        } else {
            "v1.10.0"
        };
        let cases = [
            (
                Policy::identity(GITHUB_ISSUER, signer(other)),
                format!(
                    r#"identity mismatch: certificate subject "{}" does not match exact "{}""#,
                    signer(version),
                    signer(other)
                ),
            ),
            (
                Policy::Identity {
                    issuer: Matcher::exact(GITHUB_ISSUER),
                    subject: Matcher::prefix("https://github.com/slsa-framework/example-package/")
                        .unwrap(),
                },
                "does not match prefix".to_string(),
            ),
            (
                Policy::Identity {
                    issuer: Matcher::exact(GITHUB_ISSUER),
                    // Anchored: the regex must match the whole subject, not only its start.
                    subject: Matcher::regex(&format!("{GENERATOR_WORKFLOW}@refs/tags/v1")).unwrap(),
                },
                "does not match regex".to_string(),
            ),
            (
                Policy::identity("https://accounts.google.com", signer(version)),
                format!(
                    r#"identity mismatch: certificate issuer "{GITHUB_ISSUER}" does not match exact "https://accounts.google.com""#
                ),
            ),
        ];
        for (policy, message) in cases {
            let err = check(&json, digest, &policy).unwrap_err();
            assert!(matches!(err, Error::Identity(_)), "{version}: {err}");
            assert!(err.to_string().contains(&message), "{version}: {err}");
        }
    }
}

#[test]
fn another_digest_is_not_a_subject() {
    for (version, layout, json) in each_version() {
        let mut digest = layout.image_sha256();
        digest[31] ^= 1;
        let err = check(
            &json,
            digest,
            &Policy::identity(GITHUB_ISSUER, signer(version)),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("is not a subject"),
            "{version}: {err}"
        );
    }
}

#[test]
fn tampering_is_refused() {
    for (version, layout, json) in each_version() {
        let digest = layout.image_sha256();
        let policy = Policy::identity(GITHUB_ISSUER, signer(version));

        // A byte of the in-toto statement (inside the predicate, so that it stays JSON).
        let mut tampered = json.clone();
        let mut payload = b64(json["dsseEnvelope"]["payload"].as_str().unwrap());
        let at = payload.len() / 2;
        payload[at] ^= 1;
        tampered["dsseEnvelope"]["payload"] = b64_encode(&payload).into();
        let err = check(&tampered, digest, &policy).unwrap_err();
        assert!(
            err.to_string().contains("DSSE signature does not verify"),
            "{version}: {err}"
        );

        // The signed entry timestamp.
        let mut tampered = json.clone();
        let promise = &mut tampered["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"];
        let mut set = b64(promise["signedEntryTimestamp"].as_str().unwrap());
        let at = set.len() - 5;
        set[at] ^= 1;
        promise["signedEntryTimestamp"] = b64_encode(&set).into();
        let err = check(&tampered, digest, &policy).unwrap_err();
        assert!(
            err.to_string()
                .contains("signed entry timestamp does not verify"),
            "{version}: {err}"
        );

        // The integrated time the timestamp covers.
        let mut tampered = json.clone();
        let entry = &mut tampered["verificationMaterial"]["tlogEntries"][0];
        let t: i64 = entry["integratedTime"].as_str().unwrap().parse().unwrap();
        entry["integratedTime"] = (t + 1).to_string().into();
        assert!(check(&tampered, digest, &policy).is_err(), "{version}");

        // The DSSE signature.
        let mut tampered = json.clone();
        let sig = &mut tampered["dsseEnvelope"]["signatures"][0]["sig"];
        let mut bytes = b64(sig.as_str().unwrap());
        let at = bytes.len() - 3;
        bytes[at] ^= 1;
        *sig = b64_encode(&bytes).into();
        assert!(check(&tampered, digest, &policy).is_err(), "{version}");
    }
}

/// What the certificate says about the build (Fulcio's extensions, from the GitHub OIDC token)
/// must agree with what the provenance says, where both say it.
#[test]
fn certificate_extensions_agree_with_the_provenance() {
    for (version, layout, json) in each_version() {
        let verified = check(
            &json,
            layout.image_sha256(),
            &Policy::identity(GITHUB_ISSUER, signer(version)),
        )
        .unwrap();
        let id = verified.identity.unwrap();
        println!("{version}: {id:#?}");

        let statement: Value =
            serde_json::from_slice(&b64(json["dsseEnvelope"]["payload"].as_str().unwrap()))
                .unwrap();
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            layout.image_digest["sha256:".len()..]
        );
        let predicate = &statement["predicate"];
        let source = &predicate["invocation"]["configSource"];
        let env = &predicate["invocation"]["environment"];
        let text = |v: &Value| v.as_str().unwrap().to_string();

        // The builder is the signing (reusable) workflow.
        assert_eq!(id.build_signer_uri, Some(text(&predicate["builder"]["id"])));
        assert_eq!(id.sans, [text(&predicate["builder"]["id"])]);
        // The source: `git+<repository>@<ref>`, at a commit.
        let repository = id.source_repository_uri.clone().unwrap();
        let git_ref = id.source_repository_ref.clone().unwrap();
        assert_eq!(text(&source["uri"]), format!("git+{repository}@{git_ref}"));
        assert_eq!(
            id.source_repository_digest,
            Some(text(&source["digest"]["sha1"]))
        );
        assert_eq!(git_ref, text(&env["github_ref"]));
        // The calling workflow is the entry point, at the same ref.
        assert_eq!(
            id.build_config_uri,
            Some(format!(
                "{repository}/{}@{git_ref}",
                text(&source["entryPoint"])
            ))
        );
        assert_eq!(id.build_trigger, Some(text(&env["github_event_name"])));
        assert_eq!(
            id.run_invocation_uri,
            Some(format!(
                "{repository}/actions/runs/{}/attempts/{}",
                text(&env["github_run_id"]),
                text(&env["github_run_attempt"])
            ))
        );
        assert_eq!(id.runner_environment.as_deref(), Some("github-hosted"));
        // The generator's own commit.
        assert_eq!(id.build_signer_digest.as_ref().map(String::len), Some(40));
    }
}

/// Without a certificate annotation, the layer is taken as signed with a key: the bundle carries
/// a public key hint, and an identity policy refuses it.
#[test]
fn a_layer_without_certificate_is_key_signed() {
    for (version, layout, _) in each_version() {
        let layer = &layout.attestations[0];
        let mut annotations = layer.annotations.clone();
        annotations.remove("dev.sigstore.cosign/certificate");
        annotations.remove("dev.sigstore.cosign/chain");
        let json = attestation_bundle(&layer.envelope, &annotations).unwrap();
        assert_eq!(json["verificationMaterial"]["publicKey"]["hint"], "");
        assert!(matches!(
            parse(&json).material,
            SigningMaterial::PublicKey { .. }
        ));
        let err = check(
            &json,
            layout.image_sha256(),
            &Policy::identity(GITHUB_ISSUER, signer(version)),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::from(IdentityMismatch::SignedWithKey),
            "{version}"
        );
        assert!(
            err.to_string().contains("signed with a key"),
            "{version}: {err}"
        );

        // And a layer with no log entry at all is refused by the conversion.
        annotations.remove("dev.sigstore.cosign/bundle");
        let err = attestation_bundle(&layer.envelope, &annotations).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{version}: {err}");
    }
}

/// Regression: v1.9.0's provenance, logged as `intoto` 0.0.1, was refused as unsupported.
#[test]
fn an_intoto_0_0_1_attestation_verifies() {
    let (layout, json) = version(INTOTO_V001);
    let entry = &json["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "intoto");
    assert_eq!(entry["kindVersion"]["version"], "0.0.1");
    let verified = check(
        &json,
        layout.image_sha256(),
        &Policy::identity(GITHUB_ISSUER, signer(INTOTO_V001)),
    )
    .unwrap();
    let id = verified.identity.unwrap();
    assert_eq!(id.issuer.as_deref(), Some(GITHUB_ISSUER));
    assert_eq!(id.sans, [signer(INTOTO_V001)]);
    assert_eq!(
        verified.signing_time.map(|t| t.secs),
        Some(parse(&json).tlog_entries[0].integrated_time)
    );
}

/// The `intoto` 0.0.1 entry recorded no signature, only hashes: the envelope's bytes bind it.
/// Without the bytes (a plain bundle), the envelope as cosign serialised it has the same hash.
#[test]
fn an_intoto_0_0_1_bundle_without_its_raw_envelope_verifies_in_cosign_form() {
    let (layout, mut json) = version(INTOTO_V001);
    let members = json["dsseEnvelope"].as_object_mut().unwrap();
    assert!(members.remove("rawEnvelope").is_some());
    let bundle = parse(&json);
    let Content::Dsse(envelope) = &bundle.content else {
        panic!("not DSSE");
    };
    assert_eq!(envelope.raw, None);
    check(
        &json,
        layout.image_sha256(),
        &Policy::identity(GITHUB_ISSUER, signer(INTOTO_V001)),
    )
    .unwrap();
}

/// The layer blob (the envelope as logged) tampered with, then converted: what cannot keep the
/// signature valid is refused by it; what can (the same signature malleated, the same envelope in
/// other bytes) is refused by the entry's envelope hash, under the real log's valid signed entry
/// timestamp.
#[test]
fn intoto_0_0_1_tampered_envelope_bytes_are_refused() {
    let (layout, _) = version(INTOTO_V001);
    let digest = layout.image_sha256();
    let policy = Policy::identity(GITHUB_ISSUER, signer(INTOTO_V001));
    let layer = &layout.attestations[0];
    let blob = String::from_utf8(layer.envelope.clone()).unwrap();
    let envelope: Value = serde_json::from_str(&blob).unwrap();
    let payload = envelope["payload"].as_str().unwrap();
    let sig = envelope["signatures"][0]["sig"].as_str().unwrap();
    let converted = |from: &str, to: &str| {
        assert_eq!(blob.matches(from).count(), 1, "{from}");
        attestation_bundle(blob.replace(from, to).as_bytes(), &layer.annotations).unwrap()
    };
    // The stage that refuses it: the signature, or the log entry's envelope hash.
    let signature = |e: &Error| matches!(e, Error::Signature(_));
    let tlog = |e: &Error| matches!(e, Error::TransparencyLog(_));
    let refused = |json: &Value, stage: fn(&Error) -> bool, message: &str| {
        let err = check(json, digest, &policy).unwrap_err();
        assert!(stage(&err), "{err}");
        assert!(err.to_string().contains(message), "{err}");
    };

    // A byte of the in-toto statement (inside the predicate, so that it stays JSON).
    let mut bytes = b64(payload);
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let json = converted(payload, &b64_encode(&bytes));
    refused(&json, signature, "DSSE signature does not verify");
    // The payload type.
    let json = converted(
        r#""payloadType":"application/vnd.in-toto+json""#,
        r#""payloadType":"application/vnd.in-toto+jsom""#,
    );
    refused(&json, signature, "DSSE signature does not verify");
    // A byte of the signature.
    let mut bytes = b64(sig);
    let at = bytes.len() - 3;
    bytes[at] ^= 1;
    let json = converted(sig, &b64_encode(&bytes));
    refused(&json, signature, "DSSE signature does not verify");

    // The signature malleated (s to n - s): it still verifies, but it is not what was logged.
    let json = converted(sig, &b64_encode(&test_log::malleate(&b64(sig))));
    refused(
        &json,
        tlog,
        "DSSE envelope hash does not match the envelope's bytes",
    );
    // The same, without the raw envelope: the envelope in cosign's form is not what was logged.
    let mut plain = json.clone();
    plain["dsseEnvelope"]
        .as_object_mut()
        .unwrap()
        .remove("rawEnvelope");
    refused(
        &plain,
        tlog,
        "an intoto 0.0.1 entry records the hash of the envelope's bytes as submitted",
    );
    // The same envelope in other bytes (a space): not the bytes logged either.
    let json = converted(r#"","payload":""#, r#"", "payload":""#);
    refused(
        &json,
        tlog,
        "DSSE envelope hash does not match the envelope's bytes",
    );
}

/// The bundle's raw envelope must be its DSSE envelope: another one's bytes are refused even
/// when they hash right, and so is a difference the signature does not cover (a key ID).
#[test]
fn intoto_0_0_1_raw_envelope_must_be_the_bundles_envelope() {
    let (layout, json) = version(INTOTO_V001);
    let digest = layout.image_sha256();
    let policy = Policy::identity(GITHUB_ISSUER, signer(INTOTO_V001));
    let (other, _) = version("v1.10.0");

    let mut tampered = json.clone();
    tampered["dsseEnvelope"]["rawEnvelope"] = b64_encode(&other.attestations[0].envelope).into();
    let err = check(&tampered, digest, &policy).unwrap_err();
    assert!(
        err.to_string()
            .contains("its raw bytes (rawEnvelope) are another envelope than the bundle's"),
        "{err}"
    );

    let mut tampered = json.clone();
    tampered["dsseEnvelope"]["signatures"][0]["keyid"] = "another key".into();
    let err = check(&tampered, digest, &policy).unwrap_err();
    assert!(
        err.to_string()
            .contains("its raw bytes (rawEnvelope) are another envelope than the bundle's"),
        "{err}"
    );
}

/// The v1.9.0 bundle with its entry's body changed by `alter`, and the same entry logged again
/// by a private log (`log`).
fn intoto_relogged(log: &test_log::Key, alter: impl Fn(&mut Value)) -> (Value, Value) {
    let (_, json) = version(INTOTO_V001);
    let entry = &json["verificationMaterial"]["tlogEntries"][0];
    let mut body: Value =
        serde_json::from_slice(&b64(entry["canonicalizedBody"].as_str().unwrap())).unwrap();
    alter(&mut body);
    let body = body.to_string().into_bytes();
    let mut real = json.clone();
    real["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = b64_encode(&body).into();
    let integrated_time = entry["integratedTime"].as_str().unwrap().parse().unwrap();
    let mut relogged = json.clone();
    relogged["verificationMaterial"]["tlogEntries"][0] =
        test_log::tlog_entry(log, ("intoto", "0.0.1"), &body, integrated_time, false);
    (real, relogged)
}

/// The entry's content hash, payload hash and public key are each bound to the bundle: altered,
/// the real log's signed entry timestamp no longer verifies, and logged again by a private log
/// (whose timestamp verifies), the body's check refuses it.
#[test]
fn intoto_0_0_1_entry_body_is_bound_to_the_envelope_and_signer() {
    let (layout, _) = version(INTOTO_V001);
    let digest = layout.image_sha256();
    let policy = Policy::identity(GITHUB_ISSUER, signer(INTOTO_V001));
    let log = test_log::Key::new("private rekor");
    let private_root = test_log::public_good_with(&log);
    let public_good = TrustedRoot::public_good().unwrap();
    let verify_with = |json: &Value, root: &TrustedRoot| {
        verify(
            &parse(json),
            Artifact::Sha256(digest),
            &policy,
            root,
            Some(now()),
        )
    };

    // Unaltered, logged again: it verifies, at the same time.
    let (_, relogged) = intoto_relogged(&log, |_| {});
    let verified = verify_with(&relogged, &private_root).unwrap();
    assert_eq!(
        verified.signing_time.map(|t| t.secs),
        Some(parse(&relogged).tlog_entries[0].integrated_time)
    );

    let flip_hex = |v: &mut Value| {
        let mut text = v.as_str().unwrap().to_string();
        let last = if text.ends_with('0') { "1" } else { "0" };
        text.replace_range(text.len() - 1.., last);
        *v = text.into();
    };
    let (v1_10, _) = version("v1.10.0");
    let other_certificate =
        b64_encode(v1_10.attestations[0].annotations["dev.sigstore.cosign/certificate"].as_bytes());
    type Alter<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let cases: [(&str, Alter, &str); 3] = [
        (
            "content hash",
            Box::new(|body| flip_hex(&mut body["spec"]["content"]["hash"]["value"])),
            "DSSE envelope hash does not match the envelope's bytes",
        ),
        (
            "payload hash",
            Box::new(|body| flip_hex(&mut body["spec"]["content"]["payloadHash"]["value"])),
            "DSSE payload hash does not match the bundle",
        ),
        (
            "public key",
            Box::new(|body| body["spec"]["publicKey"] = other_certificate.clone().into()),
            "certificate or key differs from the bundle's",
        ),
    ];
    for (what, alter, message) in cases {
        let (real, relogged) = intoto_relogged(&log, alter);
        let err = verify_with(&real, &public_good).unwrap_err();
        assert!(
            err.to_string()
                .contains("signed entry timestamp does not verify"),
            "{what}: {err}"
        );
        let err = verify_with(&relogged, &private_root).unwrap_err();
        assert!(matches!(err, Error::TransparencyLog(_)), "{what}: {err}");
        assert!(err.to_string().contains(message), "{what}: {err}");
    }
}
