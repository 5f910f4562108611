//! Rekor v2 `dsse` 0.0.2 entries (`spec.dsseV002`: the payload's `SHA2_256` hash, and each
//! signature with its verifier, a DER certificate or public key). The test data has no real one
//! (the conformance suite's Rekor v2 bundles hold `hashedrekord` 0.0.2 entries), so they are made
//! here with real cryptography and logged by a private test log (`common/test_log.rs`):
//!
//! - over an envelope signed here with a P-256 key (verifier `publicKey`), trusted root: the
//!   private log alone;
//! - over slsa-github-generator v1.10.0's real envelope and Fulcio certificate (verifier
//!   `x509Certificate`), trusted root: public good's CAs and CT logs with the private log.
//!
//! Real Rekor v2 entries have no signed entry timestamp (RFC 3161 timestamps date them); these
//! have one, as the private log has no timestamp authority: the entry's time is not what is
//! tested here, its body's binding to the bundle is. Each altered body is logged again, so that
//! the log's signatures verify and only that binding can refuse it.
// A test may unwrap: a failing assertion is what a test is for.
#![allow(clippy::unwrap_used)]

use custody_test_support::cosign_layout as layout;
use custody_test_support::test_log;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use custody_sigstore::{
    cosign::attestation_bundle, pae, verify, Artifact, Bundle, Error, Policy, Timestamp,
    TrustedRoot, Verified,
};
use layout::{read_cosign_layout, slsa_github_generator_layout, CosignLayout};
use serde_json::{json, Value};
use test_log::{hex, sha256, Key};

const IN_TOTO: &str = "application/vnd.in-toto+json";
/// When the private log integrated the key-signed entry: 2023-11-14T22:13:20Z.
const INTEGRATED_TIME: i64 = 1_700_000_000;
const DSSE_V002: (&str, &str) = ("dsse", "0.0.2");

/// The SHA-256 of a made-up image manifest: the statement's subject.
fn image_sha256() -> [u8; 32] {
    sha256(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#)
        .try_into()
        .unwrap()
}

/// An in-toto statement about the image.
fn statement() -> Vec<u8> {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.test/app", "digest": {"sha256": hex(&image_sha256())}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"runDetails": {"builder": {"id": "https://ci.example.test/builder@v1"}}},
    })
    .to_string()
    .into_bytes()
}

/// A Rekor v2 verifier: a public key (DER SPKI).
fn key_verifier(key: &Key) -> Value {
    json!({"publicKey": {"rawBytes": B64.encode(&key.spki)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
}

/// A Rekor v2 verifier: a certificate (DER).
fn certificate_verifier(der: &[u8]) -> Value {
    json!({"x509Certificate": {"rawBytes": B64.encode(der)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
}

/// The canonicalized body of a `dsse` 0.0.2 entry, as Rekor v2 logs it (protobuf-JSON).
fn body(payload: &[u8], signatures: &[(&[u8], Value)]) -> Value {
    json!({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {
            "dsseV002": {
                "payloadHash": {"algorithm": "SHA2_256", "digest": B64.encode(sha256(payload))},
                "signatures": signatures
                    .iter()
                    .map(|(sig, verifier)| json!({"content": B64.encode(sig), "verifier": verifier}))
                    .collect::<Vec<_>>(),
            },
        },
    })
}

/// The key-signed case: the attestor's envelope over the statement, and what the bundle needs.
struct Signed {
    attestor: Key,
    log: Key,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Signed {
    fn new() -> Signed {
        let attestor = Key::new("dsse 0.0.2 attestor");
        let payload = statement();
        let signature = attestor.sign(&pae(IN_TOTO, &payload));
        Signed {
            attestor,
            log: Key::new("dsse 0.0.2 log"),
            payload,
            signature,
        }
    }

    /// The entry's body as Rekor v2 would log it.
    fn body(&self) -> Value {
        body(
            &self.payload,
            &[(&self.signature, key_verifier(&self.attestor))],
        )
    }

    /// A bundle v0.3 of the envelope whose entry, `body`, the private log logged.
    fn bundle(&self, body: &Value) -> Value {
        let body = body.to_string().into_bytes();
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "publicKey": {"hint": B64.encode(self.attestor.id())},
                "tlogEntries": [test_log::tlog_entry(&self.log, DSSE_V002, &body, INTEGRATED_TIME, true)],
            },
            "dsseEnvelope": {
                "payload": B64.encode(&self.payload),
                "payloadType": IN_TOTO,
                "signatures": [{"sig": B64.encode(&self.signature), "keyid": ""}],
            },
        })
    }

    fn verify(&self, bundle: &Value) -> Result<Verified, Error> {
        verify(
            &Bundle::from_json(bundle.to_string().as_bytes()).unwrap(),
            Artifact::Sha256(image_sha256()),
            &Policy::key_from_pem(&self.attestor.pem).unwrap(),
            &test_log::trusted_root(&self.log),
            Some(INTEGRATED_TIME + 60),
        )
    }
}

#[test]
fn a_key_signed_dsse_0_0_2_entry_verifies() {
    let s = Signed::new();
    let bundle = s.bundle(&s.body());
    let verified = s.verify(&bundle).unwrap();
    assert_eq!(
        verified.signing_time,
        Some(Timestamp::from_unix(INTEGRATED_TIME))
    );
    assert_eq!(verified.identity, None);

    // Not with another key, nor as another kind of entry.
    let other = Key::new("another attestor");
    let err = verify(
        &Bundle::from_json(bundle.to_string().as_bytes()).unwrap(),
        Artifact::Sha256(image_sha256()),
        &Policy::key_from_pem(&other.pem).unwrap(),
        &test_log::trusted_root(&s.log),
        Some(INTEGRATED_TIME + 60),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err}");
    assert!(
        err.to_string().contains("DSSE signature does not verify"),
        "{err}"
    );
}

/// Each part of the body altered, and logged again by the private log: the body's binding to the
/// envelope and the signer refuses it.
#[test]
fn the_dsse_0_0_2_body_is_bound_to_the_envelope_and_signer() {
    let s = Signed::new();
    let another = Key::new("another attestor");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "payload hash of another payload",
            body(b"another payload", &[(&s.signature, key_verifier(&s.attestor))]),
            "invalid: tlog entry body: DSSE payload hash does not match the bundle",
        ),
        (
            "payload hash algorithm",
            {
                let mut b = s.body();
                b["spec"]["dsseV002"]["payloadHash"]["algorithm"] = "SHA2_384".into();
                b
            },
            "unsupported: tlog entry body: DSSE payload hash algorithm is not SHA2_256",
        ),
        (
            // Still a valid signature of the envelope by the attestor, but not the bundle's.
            "malleated signature",
            body(
                &s.payload,
                &[(&test_log::malleate(&s.signature), key_verifier(&s.attestor))],
            ),
            "invalid: tlog entry body: DSSE signature differs from the bundle's",
        ),
        (
            "another key as verifier",
            body(&s.payload, &[(&s.signature, key_verifier(&another))]),
            "invalid: tlog entry body: DSSE verifier differs from the bundle's certificate or key",
        ),
        (
            "a certificate and a key as verifier",
            {
                let mut verifier = key_verifier(&s.attestor);
                verifier["x509Certificate"] = json!({"rawBytes": B64.encode(b"not a certificate")});
                body(&s.payload, &[(&s.signature, verifier)])
            },
            "malformed: tlog entry body: verifier needs exactly one certificate or key, with rawBytes",
        ),
        (
            "a verifier without its bytes",
            body(
                &s.payload,
                &[(&s.signature, json!({"publicKey": {}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}))],
            ),
            "malformed: tlog entry body: verifier needs exactly one certificate or key, with rawBytes",
        ),
        (
            "the signature twice",
            body(
                &s.payload,
                &[
                    (&s.signature, key_verifier(&s.attestor)),
                    (&s.signature, key_verifier(&s.attestor)),
                ],
            ),
            "invalid: tlog entry body: number of DSSE signatures differs from the bundle's",
        ),
        (
            "no signature",
            body(&s.payload, &[]),
            "invalid: tlog entry body: number of DSSE signatures differs from the bundle's",
        ),
        (
            "a hashedrekord 0.0.2 spec",
            {
                let mut b = s.body();
                let spec = b["spec"].as_object_mut().unwrap();
                let v = spec.remove("dsseV002").unwrap();
                spec.insert("hashedRekordV002".into(), v);
                b
            },
            "malformed: tlog entry body: no spec.dsseV002",
        ),
        (
            "another version in the body",
            {
                let mut b = s.body();
                b["apiVersion"] = "0.0.1".into();
                b
            },
            "invalid: tlog entry body: kind or version differ from the entry's kindVersion",
        ),
    ];
    for (what, altered, message) in cases {
        let err = s.verify(&s.bundle(&altered)).unwrap_err();
        assert_eq!(err.to_string(), message, "{what}");
        // A failed check is the log entry's.
        if message.starts_with("invalid: ") {
            assert!(matches!(err, Error::TransparencyLog(_)), "{what}: {err:?}");
        }
    }
}

/// slsa-github-generator v1.10.0's real envelope and Fulcio certificate, logged by the private
/// log as a `dsse` 0.0.2 entry at the real entry's time.
fn keyless(layout: &CosignLayout, verifier_der: Option<&[u8]>) -> (Value, TrustedRoot) {
    let layer = &layout.attestations[0];
    let mut json = attestation_bundle(&layer.envelope, &layer.annotations).unwrap();
    let bundle = Bundle::from_json(json.to_string().as_bytes()).unwrap();
    let custody_sigstore::SigningMaterial::Certificate { leaf, .. } = &bundle.material else {
        panic!("not keyless");
    };
    let custody_sigstore::Content::Dsse(envelope) = &bundle.content else {
        panic!("not DSSE");
    };
    let body = body(
        envelope.payload(),
        &[(
            &envelope.signatures[0].sig,
            certificate_verifier(verifier_der.unwrap_or(leaf)),
        )],
    )
    .to_string()
    .into_bytes();
    let log = Key::new("keyless dsse 0.0.2 log");
    json["verificationMaterial"]["tlogEntries"] = json!([test_log::tlog_entry(
        &log,
        DSSE_V002,
        &body,
        bundle.tlog_entries[0].integrated_time,
        false,
    )]);
    (json, test_log::public_good_with(&log))
}

#[test]
fn a_dsse_0_0_2_entry_with_a_fulcio_certificate_verifies() {
    let layout = read_cosign_layout(&slsa_github_generator_layout("v1.10.0"));
    let policy = Policy::identity(
        "https://token.actions.githubusercontent.com",
        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.10.0",
    );
    let check = |json: &Value, root: &TrustedRoot| {
        verify(
            &Bundle::from_json(json.to_string().as_bytes()).unwrap(),
            Artifact::Sha256(layout.image_sha256()),
            &policy,
            root,
            None,
        )
    };

    let (json, root) = keyless(&layout, None);
    let verified = check(&json, &root).unwrap();
    assert_eq!(
        verified.signing_time.map(|t| t.secs),
        Some(
            json["verificationMaterial"]["tlogEntries"][0]["integratedTime"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        )
    );

    // The entry names another certificate (v1.9.0's) as the verifier.
    let other = read_cosign_layout(&slsa_github_generator_layout("v1.9.0"));
    let other_pem = &other.attestations[0].annotations["dev.sigstore.cosign/certificate"];
    let other_der = pem::parse(other_pem).unwrap().into_contents();
    let (json, root) = keyless(&layout, Some(&other_der));
    let err = check(&json, &root).unwrap_err();
    assert!(matches!(err, Error::TransparencyLog(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid: tlog entry body: DSSE verifier differs from the bundle's certificate or key"
    );
}
