//! The reference cosign signer (`test-support/tools/cosign_sign.py`: Python's `cryptography`, not
//! ours), which the verify-signature tests sign their images with, checked before it is relied
//! on: what it pushes into a real registry (Debian's docker-registry) is read back with the
//! harness's own HTTP client and compared with cosign's layout (media types, annotations, the
//! config, the payload's exact spelling, against a real cosign signature's payload), and every
//! signature is verified with the RustCrypto crates directly (not through custody-sigstore):
//! ECDSA P-256 and P-384, Ed25519, RSA PKCS#1 v1.5. The tampered layers it can make must not
//! verify. Then custody-sigstore (`cosign::signature_bundle`, a key policy) must agree on every
//! layer.

use std::fs;
use std::path::PathBuf;

use custody_host_tests::cosign::{
    fetch_signatures, generate_key, sign_and_push, signature_tag, try_sign_layout, CosignKey,
    FetchedSignatures, KeyKind, SignatureLayer, Tamper, OCI_CONFIG, SIGNATURE_ANNOTATION,
    SIMPLESIGNING,
};
use custody_host_tests::registry::{Registry, OCI_MANIFEST};
use custody_host_tests::repo_root;
use serde_json::{json, Value};

const REPO: &str = "acme/app";
/// The `created` of go-containerregistry's empty image config.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Verifies `signature` over `payload` as cosign does for a key of `kind` (public key `pem`), with
/// the RustCrypto crates. `Err` says whether the signature is malformed or does not verify.
fn verify(kind: KeyKind, pem: &str, payload: &[u8], signature: &[u8]) -> Result<(), String> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    use ed25519_dalek::Verifier as _;
    let malformed = |e: &dyn std::fmt::Display| format!("malformed signature: {e}");
    let invalid = |e: &dyn std::fmt::Display| format!("does not verify: {e}");
    match kind {
        KeyKind::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
                .unwrap_or_else(|e| panic!("P-256 key {pem}: {e}"));
            let signature =
                p256::ecdsa::Signature::from_der(signature).map_err(|e| malformed(&e))?;
            key.verify(payload, &signature).map_err(|e| invalid(&e))
        }
        KeyKind::P384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_pem(pem)
                .unwrap_or_else(|e| panic!("P-384 key {pem}: {e}"));
            let signature =
                p384::ecdsa::Signature::from_der(signature).map_err(|e| malformed(&e))?;
            key.verify(payload, &signature).map_err(|e| invalid(&e))
        }
        KeyKind::Ed25519 => {
            let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
                .unwrap_or_else(|e| panic!("Ed25519 key {pem}: {e}"));
            let signature =
                ed25519_dalek::Signature::from_slice(signature).map_err(|e| malformed(&e))?;
            key.verify(payload, &signature).map_err(|e| invalid(&e))
        }
        KeyKind::Rsa => {
            let key = rsa::PublicKey::from_public_key_pem(pem)
                .unwrap_or_else(|e| panic!("RSA key {pem}: {e}"));
            let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
            let signature =
                rsa::pkcs1v15::Signature::try_from(signature).map_err(|e| malformed(&e))?;
            key.verify(payload, &signature).map_err(|e| invalid(&e))
        }
    }
}

/// What one layer must hold.
struct ExpectedLayer<'a> {
    key: &'a CosignKey,
    reference: &'a str,
    digest: &'a str,
    annotations: Value,
}

/// Checks the signature manifest read back against cosign's layout and `expected`, layer by
/// layer; and that each signature verifies with its key.
fn check_layout(fetched: &FetchedSignatures, pushed: &str, expected: &[ExpectedLayer]) {
    assert_eq!(fetched.digest, pushed, "the manifest at the .sig tag");
    assert_eq!(fetched.content_type, OCI_MANIFEST, "served media type");
    let manifest = &fetched.manifest;
    let fields: Vec<&String> = manifest
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["config", "layers", "mediaType", "schemaVersion"],
        "{manifest}"
    );
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(fetched.layers.len(), expected.len(), "layers");
    let digests: Vec<&Value> = fetched
        .layers
        .iter()
        .map(|l| &l.descriptor["digest"])
        .collect();
    let history: Vec<Value> = expected
        .iter()
        .map(|_| json!({"created": ZERO_TIME}))
        .collect();
    assert_eq!(
        fetched.config,
        json!({
            "architecture": "",
            "created": ZERO_TIME,
            "history": history,
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": digests},
            "config": {},
        }),
        "config"
    );
    for (i, (layer, want)) in fetched.layers.iter().zip(expected).enumerate() {
        let kind = want.key.kind.name();
        assert_eq!(layer.descriptor["mediaType"], SIMPLESIGNING, "layer {i}");
        let annotations: Vec<&String> = layer.descriptor["annotations"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(annotations, [SIGNATURE_ANNOTATION], "layer {i} annotations");
        let payload = layer.payload_json();
        assert_eq!(
            payload,
            json!({
                "critical": {
                    "identity": {"docker-reference": want.reference},
                    "image": {"docker-manifest-digest": want.digest},
                    "type": PAYLOAD_TYPE,
                },
                "optional": want.annotations,
            }),
            "layer {i} ({kind}) payload"
        );
        verify(
            want.key.kind,
            &want.key.public_pem,
            &layer.payload,
            &layer.signature(),
        )
        .unwrap_or_else(|e| panic!("layer {i} ({kind}): {e}"));
    }
}

fn reference(registry: &Registry) -> String {
    format!("{}/{REPO}", registry.host())
}

fn testdata(path: &str) -> PathBuf {
    repo_root()
        .join("../shared/testdata/cosign-signatures")
        .join(path)
}

/// The payload of a real cosign signature, signed here for the same reference and digest, is the
/// same bytes (and so the same layer digest and size); and the test's verifier accepts that real
/// signature with its real key.
#[test]
fn spells_the_payload_as_cosign_does() {
    let read = |path: &str| fs::read(testdata(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let real_payload = read("key-2021/payload.json");
    let real_layer: Value = serde_json::from_slice(&read("key-2021/signature-layer.json"))
        .unwrap_or_else(|e| panic!("signature-layer.json: {e}"));
    let real_pem = String::from_utf8(read("key-2021/pub.pem")).unwrap_or_default();
    let real_signature = {
        use base64::Engine as _;
        let text = real_layer["layer"]["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|e| panic!("real signature: {e}"))
    };
    verify(KeyKind::P256, &real_pem, &real_payload, &real_signature)
        .unwrap_or_else(|e| panic!("cosign's own signature: {e}"));

    let registry = Registry::start();
    let key = generate_key(KeyKind::P256);
    let digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";
    let layer = SignatureLayer::new(&key, "registry-testing.svc.lan/busybox");
    let pushed = sign_and_push(&registry, "busybox", digest, &[layer]);
    let fetched =
        fetch_signatures(&registry, "busybox", digest).unwrap_or_else(|| panic!("no .sig"));
    let [layer] = fetched.layers.as_slice() else {
        panic!("layers: {:?}", fetched.layers)
    };
    assert_eq!(
        String::from_utf8_lossy(&layer.payload),
        String::from_utf8_lossy(&real_payload)
    );
    assert_eq!(layer.descriptor["digest"], real_layer["layer"]["digest"]);
    assert_eq!(layer.descriptor["size"], real_layer["layer"]["size"]);
    assert_eq!(real_layer["signatureTag"], signature_tag(digest));
    assert_eq!(fetched.digest, pushed);
    // Ours verifies with our key, not with cosign's; cosign's not with ours.
    verify(
        KeyKind::P256,
        &key.public_pem,
        &layer.payload,
        &layer.signature(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(verify(KeyKind::P256, &real_pem, &layer.payload, &layer.signature()).is_err());
    assert!(verify(
        KeyKind::P256,
        &key.public_pem,
        &real_payload,
        &real_signature
    )
    .is_err());
}

/// An image signed with each key type: one signature manifest each, in cosign's layout, the
/// signature verifying with the RustCrypto crates.
#[test]
fn signs_with_every_key_type_in_cosigns_layout() {
    let registry = Registry::start();
    let reference = reference(&registry);
    for kind in KeyKind::ALL {
        let image = registry.push_test_image(REPO, kind.name(), &format!("image for {kind:?}"));
        let key = generate_key(kind);
        assert!(
            key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{kind:?}: {}",
            key.public_pem
        );
        let private = fs::read_to_string(&key.private_key).unwrap_or_default();
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{kind:?}: PKCS#8"
        );
        let pushed = sign_and_push(
            &registry,
            REPO,
            &image,
            &[SignatureLayer::new(&key, &reference)],
        );
        let fetched = fetch_signatures(&registry, REPO, &image)
            .unwrap_or_else(|| panic!("{kind:?}: no .sig"));
        check_layout(
            &fetched,
            &pushed,
            &[ExpectedLayer {
                key: &key,
                reference: &reference,
                digest: &image,
                annotations: Value::Null,
            }],
        );
        // Compact JSON, keys in cosign's (sorted) order: serde_json writes the same bytes.
        let layer = &fetched.layers[0];
        assert_eq!(
            serde_json::to_vec(&layer.payload_json()).unwrap_or_default(),
            layer.payload,
            "{kind:?}: payload spelling"
        );
    }
}

/// Signatures by several keys on one image are layers of one manifest, in order; each verifies
/// with its own key only. Annotations go into `optional` as Go writes them (keys sorted, `&`
/// escaped).
#[test]
fn one_manifest_holds_a_layer_per_signature() {
    let registry = Registry::start();
    let reference = reference(&registry);
    let image = registry.push_test_image(REPO, "v1", "one image, four signatures");
    let keys: Vec<CosignKey> = KeyKind::ALL.into_iter().map(generate_key).collect();
    let annotations = |key: &CosignKey| match key.kind {
        KeyKind::P384 => json!({"team": "a&b", "env": "prod"}),
        KeyKind::Rsa => json!({"build": "42"}),
        _ => Value::Null,
    };
    let layers: Vec<SignatureLayer> = keys
        .iter()
        .map(|key| match annotations(key) {
            Value::Null => SignatureLayer::new(key, &reference),
            value => SignatureLayer::new(key, &reference).annotations(value),
        })
        .collect();
    let pushed = sign_and_push(&registry, REPO, &image, &layers);
    let fetched = fetch_signatures(&registry, REPO, &image).unwrap_or_else(|| panic!("no .sig"));
    let expected: Vec<ExpectedLayer> = keys
        .iter()
        .map(|key| ExpectedLayer {
            key,
            reference: &reference,
            digest: &image,
            annotations: annotations(key),
        })
        .collect();
    check_layout(&fetched, &pushed, &expected);
    let p384 = String::from_utf8_lossy(&fetched.layers[1].payload).into_owned();
    assert!(
        p384.ends_with(r#""optional":{"env":"prod","team":"a\u0026b"}}"#),
        "{p384}"
    );
    for (i, layer) in fetched.layers.iter().enumerate() {
        for (j, key) in keys.iter().enumerate() {
            let verified = verify(
                key.kind,
                &key.public_pem,
                &layer.payload,
                &layer.signature(),
            );
            assert_eq!(
                verified.is_ok(),
                i == j,
                "layer {i} with the {:?} key: {verified:?}",
                key.kind
            );
        }
    }
}

/// A layer may sign another digest than the image's (what a copied signature looks like): the
/// payload names that digest, and the signature over it is genuine.
#[test]
fn signs_another_digest_when_asked() {
    let registry = Registry::start();
    let reference = reference(&registry);
    let image = registry.push_test_image(REPO, "v1", "the image");
    let other = registry.push_test_image(REPO, "v2", "another image");
    let key = generate_key(KeyKind::P256);
    let layer = SignatureLayer::new(&key, &reference).digest(&other);
    let pushed = sign_and_push(&registry, REPO, &image, &[layer]);
    let fetched = fetch_signatures(&registry, REPO, &image).unwrap_or_else(|| panic!("no .sig"));
    check_layout(
        &fetched,
        &pushed,
        &[ExpectedLayer {
            key: &key,
            reference: &reference,
            digest: &other,
            annotations: Value::Null,
        }],
    );
    assert!(
        fetch_signatures(&registry, REPO, &other).is_none(),
        "nothing at the other's .sig"
    );
}

/// Tampered layers, with every key type: the layout stays consistent (each blob is what its
/// digest says) and the payload still names the image, but the signature does not verify; the
/// untampered layer beside them does.
#[test]
fn tampered_layers_do_not_verify() {
    let registry = Registry::start();
    let reference = reference(&registry);
    for kind in KeyKind::ALL {
        let image = registry.push_test_image(REPO, kind.name(), &format!("tampered {kind:?}"));
        let key = generate_key(kind);
        let layers = [
            SignatureLayer::new(&key, &reference),
            SignatureLayer::new(&key, &reference).tamper(Tamper::Payload),
            SignatureLayer::new(&key, &reference).tamper(Tamper::Signature),
        ];
        sign_and_push(&registry, REPO, &image, &layers);
        let fetched = fetch_signatures(&registry, REPO, &image)
            .unwrap_or_else(|| panic!("{kind:?}: no .sig"));
        let [good, payload, signature] = fetched.layers.as_slice() else {
            panic!("{kind:?}: layers: {:?}", fetched.layers)
        };
        let verify = |layer: &custody_host_tests::cosign::FetchedLayer| {
            verify(kind, &key.public_pem, &layer.payload, &layer.signature())
        };
        verify(good).unwrap_or_else(|e| panic!("{kind:?}: the untampered layer: {e}"));

        // The payload: one byte of the docker reference changed, the image digest intact.
        let tampered = payload.payload_json();
        assert_eq!(
            tampered["critical"]["image"]["docker-manifest-digest"], image,
            "{kind:?}"
        );
        let changed = tampered["critical"]["identity"]["docker-reference"]
            .as_str()
            .unwrap_or_default();
        assert_ne!(changed, reference, "{kind:?}");
        assert_eq!(changed.len(), reference.len(), "{kind:?}");
        assert_eq!(good.payload.len(), payload.payload.len(), "{kind:?}");
        let differing = good
            .payload
            .iter()
            .zip(&payload.payload)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 1, "{kind:?}: one byte changed");
        let refused = verify(payload).expect_err("a tampered payload verified");
        assert!(
            refused.starts_with("does not verify"),
            "{kind:?}: {refused}"
        );

        // The signature: the same payload, the signature's last bit flipped.
        assert_eq!(signature.payload, good.payload, "{kind:?}");
        let flipped = signature.signature();
        let refused = verify(signature).expect_err("a tampered signature verified");
        if matches!(kind, KeyKind::P256 | KeyKind::P384 | KeyKind::Rsa) {
            // Still well formed: refused by the signature check itself.
            assert!(
                refused.starts_with("does not verify"),
                "{kind:?}: {refused}"
            );
        }
        if matches!(kind, KeyKind::Ed25519 | KeyKind::Rsa) {
            // Deterministic: exactly the good signature with one bit flipped.
            let mut expected = good.signature();
            if let Some(last) = expected.last_mut() {
                *last ^= 1;
            }
            assert_eq!(flipped, expected, "{kind:?}");
        }
    }
}

/// The script's errors name the field at fault, and [`try_sign_layout`] returns them.
#[test]
fn the_signer_refuses_bad_specs() {
    let key = generate_key(KeyKind::Ed25519);
    let dir = std::env::temp_dir().join(format!("custody-cosign-bad-spec-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let good = SignatureLayer::new(&key, "registry.test/app");

    let error = try_sign_layout("sha256:xyz", std::slice::from_ref(&good), &dir.join("a"))
        .expect_err("a bad image digest");
    assert!(error.contains("spec.image_digest"), "{error}");

    let mut missing = good.clone();
    missing.key = dir.join("no-such.key");
    let error = try_sign_layout(&digest, &[good.clone(), missing], &dir.join("b"))
        .expect_err("a missing key");
    assert!(error.contains("spec.layers[1].key"), "{error}");

    let error = try_sign_layout(&digest, &[], &dir.join("c")).expect_err("no layers");
    assert!(error.contains("spec.layers"), "{error}");

    let signed = try_sign_layout(&digest, std::slice::from_ref(&good), &dir.join("d"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(signed.starts_with("sha256:"), "{signed}");
    let error = try_sign_layout(&digest, &[good], &dir.join("d")).expect_err("a used directory");
    assert!(error.contains("--out"), "{error}");
    let _ = fs::remove_dir_all(&dir);
}

/// custody-sigstore reads every layer the reference signer makes
/// (`cosign::signature_bundle`) and verifies it with a key policy that requires no log (cosign
/// `--tlog-upload=false`): it accepts each key type's genuine signature, agreeing with the
/// RustCrypto crates on every layer, and refuses the tampered ones, a signature by another key,
/// and, when a log entry is required, the genuine ones too (they have none). A signature for
/// another digest verifies: matching the image is the payload's business ([`SimpleSigning`]).
#[test]
fn custody_sigstore_verifies_every_key_type_and_refuses_tampering() {
    use custody_sigstore::cosign::{signature_bundle, SimpleSigning};
    use custody_sigstore::{
        verify as sigstore_verify, Artifact, Bundle, Error, Policy, TrustedRoot,
    };
    use std::collections::BTreeMap;

    let registry = Registry::start();
    let reference = reference(&registry);
    let root = TrustedRoot::public_good().unwrap_or_else(|e| panic!("trusted root: {e}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .ok();
    let keys: Vec<CosignKey> = KeyKind::ALL.into_iter().map(generate_key).collect();
    let other = registry.push_test_image(REPO, "other", "another image");
    for (k, key) in keys.iter().enumerate() {
        let kind = key.kind;
        let image = registry.push_test_image(REPO, kind.name(), &format!("sigstore {kind:?}"));
        let layers = [
            SignatureLayer::new(key, &reference).annotations(json!({"env": "prod"})),
            SignatureLayer::new(key, &reference).tamper(Tamper::Payload),
            SignatureLayer::new(key, &reference).tamper(Tamper::Signature),
            SignatureLayer::new(key, &reference).digest(&other),
        ];
        sign_and_push(&registry, REPO, &image, &layers);
        let fetched = fetch_signatures(&registry, REPO, &image)
            .unwrap_or_else(|| panic!("{kind:?}: no .sig"));
        let policy = |key: &CosignKey, require_tlog: bool| {
            Policy::public_key_from_pem(&key.public_pem, require_tlog)
                .unwrap_or_else(|e| panic!("{:?} key policy: {e}", key.kind))
        };
        let mut verdicts = Vec::new();
        for (i, layer) in fetched.layers.iter().enumerate() {
            let annotations: BTreeMap<String, String> =
                serde_json::from_value(layer.descriptor["annotations"].clone())
                    .unwrap_or_else(|e| panic!("{kind:?} layer {i}: annotations: {e}"));
            let json = signature_bundle(&layer.payload, &annotations)
                .unwrap_or_else(|e| panic!("{kind:?} layer {i}: signature_bundle: {e}"));
            let bundle = Bundle::from_json(json.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{kind:?} layer {i}: bundle: {e}"));
            let message = bundle.message().unwrap_or_default();
            assert_eq!(
                message,
                layer.payload.as_slice(),
                "{kind:?} layer {i}: message"
            );
            let check = |policy: &Policy| {
                sigstore_verify(&bundle, Artifact::Bytes(message), policy, &root, now)
            };
            let verdict = check(&policy(key, false));
            // The same verdict as the RustCrypto crates'.
            let independent = verify(kind, &key.public_pem, &layer.payload, &layer.signature());
            assert_eq!(
                verdict.is_ok(),
                independent.is_ok(),
                "{kind:?} layer {i}: custody-sigstore {verdict:?}, RustCrypto {independent:?}"
            );
            match &verdict {
                Ok(verified) => {
                    assert_eq!(verified.signing_time, None, "{kind:?} layer {i}: no log");
                    assert_eq!(verified.identity, None, "{kind:?} layer {i}: a key");
                }
                Err(e) => assert!(
                    matches!(e, Error::Signature(_)),
                    "{kind:?} layer {i}: {e:?}"
                ),
            }
            // A log entry required: there is none (a bad signature is refused first).
            let err = check(&policy(key, true)).expect_err("no log entry, yet verified");
            if verdict.is_ok() {
                assert!(
                    matches!(err, Error::TransparencyLog(_)),
                    "{kind:?} layer {i}: {err:?}"
                );
            } else {
                assert!(
                    matches!(err, Error::Signature(_)),
                    "{kind:?} layer {i}: {err:?}"
                );
            }
            // Another key (of the next type) never verifies it.
            let stranger = &keys[(k + 1) % keys.len()];
            let err = check(&policy(stranger, false)).expect_err("verified with another key");
            assert!(
                matches!(err, Error::Signature(_) | Error::Unsupported(_)),
                "{kind:?} layer {i} with the {:?} key: {err:?}",
                stranger.kind
            );
            verdicts.push(verdict.is_ok());
            if verdict.is_ok() {
                let signed = SimpleSigning::from_json(message)
                    .unwrap_or_else(|e| panic!("{kind:?} layer {i}: {e}"));
                assert_eq!(signed.docker_reference, reference, "{kind:?} layer {i}");
                let digest = if i == 3 { &other } else { &image };
                assert_eq!(&signed.docker_manifest_digest, digest, "{kind:?} layer {i}");
            }
        }
        assert_eq!(
            verdicts,
            [true, false, false, true],
            "{kind:?}: which layers verify"
        );
    }
}
