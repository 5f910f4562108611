//! `oci/v2/verify` (and the `v1` capabilities) of [`RegistryCapabilities`] against a real registry
//! (Debian's docker-registry on loopback) holding images signed in cosign's `.sig` layout by the
//! reference signer (Python's `cryptography`, not ours), and real cosign signatures of 2021.

use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine as _;
use custody_host::{Capabilities, NoCapabilities, ScriptedCapabilities};
use custody_registry::{Options, RegistryCapabilities};
use custody_sdk::host::{KeylessInfo, VerifyAnswer, VerifyRequest};
use custody_sigstore::cosign::BUNDLE_ANNOTATION;
use custody_sigstore::TrustedRoot;
use custody_test_support::cosign::{
    fetch_signatures, generate_key, sign_and_push, signature_tag, CosignKey, KeyKind,
    SignatureLayer, Tamper,
};
use custody_test_support::registry::{Registry, OCI_MANIFEST};
use custody_test_support::test_log::{self, Key, LOG_INDEX};
use serde_json::{json, Value};

const REPO: &str = "acme/app";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// No docker config: every test reads the registry anonymously, whatever the machine has.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let none = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-docker-config");
        std::env::set_var("DOCKER_CONFIG", none);
    });
}

fn capabilities(trusted_root: Option<TrustedRoot>) -> RegistryCapabilities {
    setup();
    RegistryCapabilities::new(Options::default(), trusted_root, Box::new(NoCapabilities))
}

/// Calls `oci/<operation>` with `request` (serialised as JSON).
fn call(
    caps: &mut RegistryCapabilities,
    operation: &str,
    request: &impl serde::Serialize,
) -> Result<Vec<u8>, String> {
    let payload = serde_json::to_vec(request).unwrap_or_else(|e| panic!("{e}"));
    caps.call("kubewarden", "oci", operation, &payload)
}

/// `oci/v2/verify`: the answer, parsed, or the host's error.
fn verify(
    caps: &mut RegistryCapabilities,
    request: &VerifyRequest,
) -> Result<VerifyAnswer, String> {
    call(caps, "v2/verify", request).map(|answer| {
        serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("answer {}: {e}", String::from_utf8_lossy(&answer)))
    })
}

fn keys_request(image: &str, keys: &[&CosignKey], annotations: Option<Value>) -> VerifyRequest {
    VerifyRequest::SigstorePubKeyVerify {
        image: image.to_owned(),
        pub_keys: keys.iter().map(|k| k.public_pem.clone()).collect(),
        annotations: annotations
            .map(|a| serde_json::from_value(a).unwrap_or_else(|e| panic!("{e}"))),
    }
}

fn trusted(digest: &str) -> Result<VerifyAnswer, String> {
    Ok(VerifyAnswer {
        is_trusted: true,
        digest: digest.to_owned(),
    })
}

/// The error of a verification that must fail, checked to contain every one of `needles`.
fn refused(outcome: Result<VerifyAnswer, String>, needles: &[&str]) -> String {
    let error = match outcome {
        Ok(answer) => panic!("expected a refusal, got {answer:?}"),
        Err(e) => e,
    };
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} not in: {error}");
    }
    error
}

/// A registry with a test image `acme/app:v1`; its digest and reference.
fn registry_with_image() -> (Registry, String, String) {
    let registry = Registry::start();
    let digest = registry.push_test_image(REPO, "v1", "signed image");
    let image = registry.image(REPO, "v1");
    (registry, digest, image)
}

fn docker_reference(registry: &Registry) -> String {
    format!("{}/{REPO}", registry.host())
}

#[test]
fn every_key_type_verifies_and_only_its_own_signature() {
    let (registry, digest, image) = registry_with_image();
    let reference = docker_reference(&registry);
    let mut caps = capabilities(None);
    for kind in KeyKind::ALL {
        let key = generate_key(kind);
        sign_and_push(
            &registry,
            REPO,
            &digest,
            &[SignatureLayer::new(&key, &reference)],
        );
        // By tag and by digest; the answer names the digest verified.
        for image in [image.clone(), registry.image(REPO, &digest)] {
            assert_eq!(
                verify(&mut caps, &keys_request(&image, &[&key], None)),
                trusted(&digest),
                "{kind:?} {image}"
            );
        }
        // Another key of the same type signed nothing here.
        let other = generate_key(kind);
        refused(
            verify(&mut caps, &keys_request(&image, &[&other], None)),
            &[
                &format!("image {image} ({digest}) is not trusted"),
                "no valid signature by pub_keys[0]",
                "layer 0: invalid: ",
            ],
        );
    }
}

#[test]
fn unsigned_and_missing_images_are_errors() {
    let (registry, digest, image) = registry_with_image();
    let key = generate_key(KeyKind::P256);
    let mut caps = capabilities(None);
    refused(
        verify(&mut caps, &keys_request(&image, &[&key], None)),
        &[
            "no valid signature by pub_keys[0]: no signature layers",
            &format!("{}: not found", signature_tag(&digest)),
        ],
    );
    let missing = registry.image(REPO, "v2");
    refused(
        verify(&mut caps, &keys_request(&missing, &[&key], None)),
        &[&format!("image {missing} not found")],
    );
}

#[test]
fn the_payload_must_name_this_image() {
    let (registry, digest, image) = registry_with_image();
    let other = registry.push_test_image(REPO, "other", "another image");
    let key = generate_key(KeyKind::P256);
    // A valid signature, over a payload for another image, copied next to this one.
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, &docker_reference(&registry)).digest(&other)],
    );
    let mut caps = capabilities(None);
    refused(
        verify(&mut caps, &keys_request(&image, &[&key], None)),
        &[&format!(
            "layer 0: the signature is for {other}, not this image"
        )],
    );
    // The docker reference proves nothing: another repository's name is fine.
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, "elsewhere.example/mirror/app")],
    );
    assert_eq!(
        verify(&mut caps, &keys_request(&image, &[&key], None)),
        trusted(&digest)
    );
}

#[test]
fn tampered_layers_are_refused() {
    let (registry, digest, image) = registry_with_image();
    let key = generate_key(KeyKind::P256);
    let reference = docker_reference(&registry);
    let mut caps = capabilities(None);
    for tamper in [Tamper::Payload, Tamper::Signature] {
        sign_and_push(
            &registry,
            REPO,
            &digest,
            &[SignatureLayer::new(&key, &reference).tamper(tamper)],
        );
        refused(
            verify(&mut caps, &keys_request(&image, &[&key], None)),
            &["no valid signature by pub_keys[0]: layer 0: invalid: "],
        );
    }
}

#[test]
fn annotations_must_all_be_in_the_payload() {
    let (registry, digest, image) = registry_with_image();
    let key = generate_key(KeyKind::P256);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, &docker_reference(&registry))
            .annotations(json!({"env": "prod", "team": "payments"}))],
    );
    let mut caps = capabilities(None);
    for wanted in [
        json!({}),
        json!({"env": "prod"}),
        json!({"env": "prod", "team": "payments"}),
    ] {
        assert_eq!(
            verify(
                &mut caps,
                &keys_request(&image, &[&key], Some(wanted.clone()))
            ),
            trusted(&digest),
            "{wanted}"
        );
    }
    refused(
        verify(
            &mut caps,
            &keys_request(&image, &[&key], Some(json!({"env": "staging"}))),
        ),
        &[r#"layer 0: annotation "env" is "prod", not "staging""#],
    );
    refused(
        verify(
            &mut caps,
            &keys_request(&image, &[&key], Some(json!({"env": "prod", "owner": "me"}))),
        ),
        &[r#"layer 0: annotation "owner" is missing"#],
    );
}

#[test]
fn every_key_must_have_signed() {
    let (registry, digest, image) = registry_with_image();
    let reference = docker_reference(&registry);
    let first = generate_key(KeyKind::P256);
    let second = generate_key(KeyKind::Ed25519);
    let mut caps = capabilities(None);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&first, &reference)],
    );
    let error = refused(
        verify(&mut caps, &keys_request(&image, &[&first, &second], None)),
        &["no valid signature by pub_keys[1]"],
    );
    assert!(!error.contains("pub_keys[0]"), "{error}");
    // Both signed, in either order of the layers and of the keys.
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[
            SignatureLayer::new(&second, &reference),
            SignatureLayer::new(&first, &reference),
        ],
    );
    for keys in [[&first, &second], [&second, &first]] {
        assert_eq!(
            verify(&mut caps, &keys_request(&image, &keys, None)),
            trusted(&digest)
        );
    }
}

#[test]
fn successes_are_kept_and_failures_are_not() {
    let (registry, digest, image) = registry_with_image();
    let reference = docker_reference(&registry);
    let key = generate_key(KeyKind::P256);
    let request = keys_request(&image, &[&key], None);
    let mut caps = capabilities(None);
    // Not signed yet: refused, and not remembered.
    refused(verify(&mut caps, &request), &["no signature layers"]);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, &reference)],
    );
    assert_eq!(verify(&mut caps, &request), trusted(&digest));
    // Now the signature is replaced by another key's: the same request (from a clone sharing
    // the cache, as another policy instance) is answered from the cache; any other request is
    // verified again.
    let other = generate_key(KeyKind::P256);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&other, &reference)],
    );
    assert_eq!(verify(&mut caps.clone(), &request), trusted(&digest));
    refused(
        verify(&mut caps, &keys_request(&image, &[&key], Some(json!({})))),
        &["no valid signature by pub_keys[0]"],
    );
    // A fresh host verifies anew.
    refused(verify(&mut capabilities(None), &request), &["pub_keys[0]"]);
}

/// The signer's layer re-pushed with `extra` annotations (a Rekor bundle, as cosign adds).
fn repush_with(registry: &Registry, digest: &str, extra: &[(&str, String)]) {
    let signatures = fetch_signatures(registry, REPO, digest).unwrap_or_else(|| panic!("no .sig"));
    let layers: Vec<Value> = signatures
        .layers
        .iter()
        .map(|layer| {
            let mut descriptor = layer.descriptor.clone();
            for (name, value) in extra {
                descriptor["annotations"][*name] = json!(value);
            }
            descriptor
        })
        .collect();
    let mut manifest = signatures.manifest.clone();
    manifest["layers"] = json!(layers);
    registry.push_manifest(
        REPO,
        &signature_tag(digest),
        OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    );
}

/// A cosign Rekor bundle annotation: a `rekord` 0.0.1 entry of `payload`, `signature` and the
/// key `pem`, logged by `log` at `integrated_time`.
fn rekor_bundle(
    log: &Key,
    payload: &[u8],
    signature: &[u8],
    pem: &str,
    integrated_time: i64,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "rekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": test_log::hex(&test_log::sha256(payload))}},
            "signature": {
                "content": b64.encode(signature),
                "format": "x509",
                "publicKey": {"content": b64.encode(pem)},
            },
        },
    })
    .to_string()
    .into_bytes();
    json!({
        "SignedEntryTimestamp": b64.encode(test_log::signed_entry_timestamp(log, &body, integrated_time)),
        "Payload": {
            "body": b64.encode(&body),
            "integratedTime": integrated_time,
            "logIndex": LOG_INDEX,
            "logID": test_log::hex(&log.id()),
        },
    })
    .to_string()
}

#[test]
fn a_rekor_bundle_present_must_verify_with_the_trusted_root() {
    let (registry, digest, image) = registry_with_image();
    let key = generate_key(KeyKind::P256);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, &docker_reference(&registry))],
    );
    let layer = fetch_signatures(&registry, REPO, &digest)
        .and_then(|s| s.layers.into_iter().next())
        .unwrap_or_else(|| panic!("no layer"));
    let log = Key::new("private rekor for registry tests");
    let logged_at = 1_767_225_600; // 2026-01-01
    let bundle = rekor_bundle(
        &log,
        &layer.payload,
        &layer.signature(),
        &key.public_pem,
        logged_at,
    );
    repush_with(&registry, &digest, &[(BUNDLE_ANNOTATION, bundle)]);
    let request = keys_request(&image, &[&key], None);
    // The root that has the log: trusted.
    let mut caps = capabilities(Some(test_log::trusted_root(&log)));
    assert_eq!(verify(&mut caps, &request), trusted(&digest));
    // The default root (public good) does not know that log: the entry fails, and so does the
    // signature, though no log entry is required.
    refused(
        verify(&mut capabilities(None), &request),
        &["no valid signature by pub_keys[0]: layer 0: invalid: "],
    );
    // An entry recording another key fails even with the right root.
    let other = generate_key(KeyKind::P256);
    let wrong = rekor_bundle(
        &log,
        &layer.payload,
        &layer.signature(),
        &other.public_pem,
        logged_at,
    );
    repush_with(&registry, &digest, &[(BUNDLE_ANNOTATION, wrong)]);
    refused(
        verify(
            &mut capabilities(Some(test_log::trusted_root(&log))),
            &request,
        ),
        &["layer 0: invalid: "],
    );
}

/// `shared/testdata/cosign-signatures/<name>`.
fn cosign_signature(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/cosign-signatures")
        .join(name)
}

/// A real cosign signature (payload, annotations) pushed as the `.sig` of `digest`.
fn push_real_signature(registry: &Registry, digest: &str, name: &str) {
    let dir = cosign_signature(name);
    let payload = std::fs::read(dir.join("payload.json")).unwrap_or_else(|e| panic!("{e}"));
    let layer: Value = serde_json::from_slice(
        &std::fs::read(dir.join("signature-layer.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = b"{}";
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": registry.push_blob(REPO, config), "size": config.len()},
        "layers": [{"mediaType": SIMPLE_SIGNING, "digest": registry.push_blob(REPO, &payload),
                    "size": payload.len(), "annotations": layer["layer"]["annotations"]}],
    });
    registry.push_manifest(
        REPO,
        &signature_tag(digest),
        OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    );
}

#[test]
fn real_2021_signatures_verify_but_name_another_image() {
    let (registry, digest, image) = registry_with_image();
    let mut caps = capabilities(None);

    // key-2021: its key verifies it (no log entry); its payload is for another image.
    push_real_signature(&registry, &digest, "key-2021");
    let pem = std::fs::read_to_string(cosign_signature("key-2021").join("pub.pem"))
        .unwrap_or_else(|e| panic!("{e}"));
    let request = VerifyRequest::SigstorePubKeyVerify {
        image: image.clone(),
        pub_keys: vec![pem],
        annotations: None,
    };
    refused(
        verify(&mut caps, &request),
        &["layer 0: the signature is for sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b, not this image"],
    );

    // keyless-2021, as a certificate request with its Rekor bundle required: the certificate, the
    // 2021 public-good Rekor entry and the signature verify; the payload is for another image.
    push_real_signature(&registry, &digest, "keyless-2021");
    let certificate = std::fs::read(cosign_signature("keyless-2021").join("cert.pem"))
        .unwrap_or_else(|e| panic!("{e}"));
    let request = VerifyRequest::SigstoreCertificateVerify {
        image: image.clone(),
        certificate,
        certificate_chain: None,
        require_rekor_bundle: true,
        annotations: None,
    };
    refused(
        verify(&mut caps, &request),
        &["no valid signature by the certificate: layer 0: the signature is for sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e, not this image"],
    );
    // As a keyless identity: Fulcio of 2021 wrote no OIDC issuer, so no identity matches.
    let request = VerifyRequest::SigstoreKeylessVerify {
        image: image.clone(),
        keyless: vec![KeylessInfo {
            issuer: "https://github.com/login/oauth".into(),
            subject: "flavio@castelli.me".into(),
        }],
        annotations: None,
    };
    refused(
        verify(&mut caps, &request),
        &[
            r#"no valid signature by issuer "https://github.com/login/oauth", subject "flavio@castelli.me": layer 0: invalid: "#,
        ],
    );
    // A key-signed image asked for a keyless identity: refused as signed by another kind.
    let key = generate_key(KeyKind::P256);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, "x/y")],
    );
    refused(verify(&mut caps, &request), &["layer 0: invalid: "]);
}

#[test]
fn v1_capabilities_answer_as_kubewarden_does() -> Result<(), String> {
    let (registry, digest, image) = registry_with_image();
    let mut caps = capabilities(None);
    let answer: Value = serde_json::from_slice(&call(&mut caps, "v1/manifest_digest", &image)?)
        .map_err(|e| e.to_string())?;
    assert_eq!(answer, json!({"digest": digest}));
    let (_, served) = registry.manifest(REPO, &digest).ok_or("no manifest")?;
    let answer: Value = serde_json::from_slice(&call(&mut caps, "v1/oci_manifest", &image)?)
        .map_err(|e| e.to_string())?;
    assert_eq!(
        answer,
        serde_json::from_slice::<Value>(&served).map_err(|e| e.to_string())?
    );
    let answer: Value = serde_json::from_slice(&call(&mut caps, "v1/oci_manifest_config", &image)?)
        .map_err(|e| e.to_string())?;
    assert_eq!(answer["digest"], json!(digest));
    assert_eq!(
        answer["manifest"],
        serde_json::from_slice::<Value>(&served).map_err(|e| e.to_string())?
    );
    assert_eq!(answer["config"]["os"], "linux");
    // Kubewarden's own types read every answer.
    use kubewarden_policy_sdk::host_capabilities::oci::{
        ManifestDigestResponse, OciManifestAndConfigResponse, OciManifestResponse,
    };
    let parse_error = |e: serde_json::Error| e.to_string();
    let digest_answer: ManifestDigestResponse =
        serde_json::from_slice(&call(&mut caps, "v1/manifest_digest", &image)?)
            .map_err(parse_error)?;
    assert_eq!(digest_answer.digest, digest);
    let manifest_answer: OciManifestResponse =
        serde_json::from_slice(&call(&mut caps, "v1/oci_manifest", &image)?)
            .map_err(parse_error)?;
    assert!(matches!(manifest_answer, OciManifestResponse::Image(_)));
    let config_answer: OciManifestAndConfigResponse =
        serde_json::from_slice(&call(&mut caps, "v1/oci_manifest_config", &image)?)
            .map_err(parse_error)?;
    assert_eq!(config_answer.digest, digest);

    let missing = call(&mut caps, "v1/manifest_digest", &registry.image(REPO, "v9"));
    assert!(missing.is_err_and(|e| e.contains("not found")));
    Ok(())
}

#[test]
fn kubernetes_calls_reach_the_inner_capabilities() {
    setup();
    let script = r#"[{"namespace": "kubernetes", "operation": "get_resource",
                      "request": {"kind": "ConfigMap"}, "response": {"data": {"k": "v"}}}]"#;
    let inner = ScriptedCapabilities::from_json(script).unwrap_or_else(|e| panic!("{e}"));
    let mut caps = RegistryCapabilities::new(Options::default(), None, Box::new(inner.clone()));
    assert_eq!(
        caps.call(
            "kubewarden",
            "kubernetes",
            "get_resource",
            br#"{"kind": "ConfigMap"}"#
        ),
        Ok(br#"{"data":{"k":"v"}}"#.to_vec())
    );
    // The registry's own calls never reach the script.
    let _ = caps.call(
        "kubewarden",
        "oci",
        "v1/manifest_digest",
        br#""not a reference!""#,
    );
    assert_eq!(inner.calls().len(), 1);
}
