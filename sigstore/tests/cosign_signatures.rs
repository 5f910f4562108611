//! cosign image signatures (the `sha256-<hex>.sig` layout) verified as Sigstore bundles made by
//! `cosign::signature_bundle`, against the real signatures of `shared/testdata/cosign-signatures`:
//!
//! - keyless-2021: signed by cosign on 2021-10-20 with a public-good Fulcio certificate (no OIDC
//!   issuer extension yet) and logged in Rekor as a `rekord` 0.0.1 entry; verified here with a
//!   certificate policy (the certificate, issued by the 2021 "sigstore" CA of the public-good
//!   trusted root);
//! - key-2021: signed with a P-256 key, not logged.
//!
//! Every field of them, altered in turn, is refused at the stage it belongs to. Signatures by
//! P-384, Ed25519 and RSA keys are made here (RustCrypto's signers) and by OpenSSL 3.0 (fixed
//! below), so that the verifier is checked against implementations other than itself. Log entries
//! whose body was altered are logged again by a private test log, so that only the body's binding
//! to the bundle can refuse them.
// A test may unwrap: a failing assertion is what a test is for.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use custody_sigstore::cosign::{
    signature_bundle, SimpleSigning, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION,
    MAX_PAYLOAD_BYTES, RFC3161_ANNOTATION, SIGNATURE_ANNOTATION,
};
use custody_sigstore::{
    check_signer, verify, Artifact, Bundle, Error, IdentityMismatch, Matcher, Policy, Timestamp,
    TrustedRoot, Verified,
};
use custody_test_support::test_log::{self, Key, LOG_INDEX};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/cosign-signatures"
);
/// When Rekor integrated the keyless signature: 2021-10-20T07:25:17Z.
const SIGNED_AT: i64 = 1_634_714_717;
/// A time long after the keyless certificate expired (2021-10-20T07:45:15Z): 2025-06-15.
const LATER: i64 = 1_750_000_000;
const KEYLESS_DIGEST: &str =
    "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";

/// One signature layer: the payload (the layer blob) and the layer's annotations.
#[derive(Clone)]
struct Layer {
    payload: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

fn layer(dir: &str) -> Layer {
    let descriptor: Value = serde_json::from_slice(
        &std::fs::read(format!("{DATA}/{dir}/signature-layer.json")).unwrap(),
    )
    .unwrap();
    let payload = std::fs::read(format!("{DATA}/{dir}/payload.json")).unwrap();
    assert_eq!(
        descriptor["layer"]["digest"].as_str().unwrap(),
        format!("sha256:{}", test_log::hex(&test_log::sha256(&payload)))
    );
    Layer {
        payload,
        annotations: serde_json::from_value(descriptor["layer"]["annotations"].clone()).unwrap(),
    }
}

impl Layer {
    fn bundle(&self) -> Result<Bundle, Error> {
        let json = signature_bundle(&self.payload, &self.annotations)?;
        Bundle::from_json(json.to_string().as_bytes())
    }

    /// The layer with its Rekor bundle annotation (JSON) changed by `edit`.
    fn with_rekor(&self, edit: impl FnOnce(&mut Value)) -> Layer {
        let mut rekor: Value = serde_json::from_str(&self.annotations[BUNDLE_ANNOTATION]).unwrap();
        edit(&mut rekor);
        self.with(BUNDLE_ANNOTATION, &rekor.to_string())
    }

    fn with(&self, annotation: &str, value: &str) -> Layer {
        let mut layer = self.clone();
        layer
            .annotations
            .insert(annotation.to_string(), value.to_string());
        layer
    }

    fn without(&self, annotation: &str) -> Layer {
        let mut layer = self.clone();
        layer.annotations.remove(annotation);
        layer
    }
}

fn trusted_root_json() -> Value {
    serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/sigstore-public-good/trusted_root.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn public_good() -> TrustedRoot {
    TrustedRoot::from_json(trusted_root_json().to_string().as_bytes()).unwrap()
}

/// A certificate of the public-good trusted root, as PEM: `authority` 0 is the 2021 "sigstore"
/// CA (one self-signed certificate), 1 the 2022 one (intermediate, then root).
fn authority_pem(authority: usize, index: usize) -> String {
    let raw = trusted_root_json()["certificateAuthorities"][authority]["certChain"]["certificates"]
        [index]["rawBytes"]
        .as_str()
        .unwrap()
        .to_string();
    pem::encode(&pem::Pem::new("CERTIFICATE", B64.decode(raw).unwrap()))
}

fn keyless_cert_pem() -> Vec<u8> {
    std::fs::read(format!("{DATA}/keyless-2021/cert.pem")).unwrap()
}

/// Kubewarden's certificate verification of the keyless signature: its certificate and the 2021
/// CA.
fn certificate_policy(require_tlog: bool) -> Policy {
    let ca = authority_pem(0, 0);
    Policy::certificate_from_pem(&keyless_cert_pem(), &[ca.as_bytes()], require_tlog).unwrap()
}

/// Verifies a bundle for the message it carries.
fn check(
    bundle: &Bundle,
    policy: &Policy,
    root: &TrustedRoot,
    now: Option<i64>,
) -> Result<Verified, Error> {
    verify(
        bundle,
        Artifact::Bytes(bundle.message().unwrap()),
        policy,
        root,
        now,
    )
}

fn check_layer(
    layer: &Layer,
    policy: &Policy,
    root: &TrustedRoot,
    now: Option<i64>,
) -> Result<Verified, Error> {
    check(&layer.bundle()?, policy, root, now)
}

/// `text` (base64) with the last byte it encodes flipped.
fn flip_b64(text: &str) -> String {
    let mut bytes = B64.decode(text).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    B64.encode(bytes)
}

#[test]
fn keyless_2021_verifies_with_its_certificate_and_the_2021_ca() {
    let layer = layer("keyless-2021");
    let bundle = layer.bundle().unwrap();
    assert_eq!(bundle.message(), Some(layer.payload.as_slice()));
    let [entry] = bundle.tlog_entries.as_slice() else {
        panic!("one log entry")
    };
    assert_eq!(
        (entry.kind.as_str(), entry.version.as_str()),
        ("rekord", "0.0.1")
    );
    let root = public_good();
    for now in [Some(LATER), Some(SIGNED_AT), None] {
        let verified = check(&bundle, &certificate_policy(true), &root, now).unwrap();
        assert_eq!(verified.signing_time, Some(Timestamp::from_unix(SIGNED_AT)));
        let identity = verified.identity.unwrap();
        assert_eq!(identity.sans, ["flavio@castelli.me"]);
        assert_eq!(identity.issuer, None);
    }
    // The certificate alone, trusted as given.
    let alone = Policy::certificate_from_pem(&keyless_cert_pem(), &[], true).unwrap();
    check(&bundle, &alone, &root, Some(LATER)).unwrap();

    // What was signed: the image by its digest.
    let signed = SimpleSigning::from_json(bundle.message().unwrap()).unwrap();
    assert_eq!(signed.docker_manifest_digest, KEYLESS_DIGEST);
    assert_eq!(
        signed.docker_reference,
        "registry-testing.svc.lan/kubewarden/disallow-service-nodeport"
    );
    assert!(signed.optional.is_empty());
    signed.check_annotations(&BTreeMap::new()).unwrap();
    let wanted = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    assert_eq!(
        signed.check_annotations(&wanted).unwrap_err(),
        r#"annotation "env" is missing (wanted "prod")"#
    );
}

#[test]
fn keyless_2021_has_no_oidc_issuer_for_an_identity_policy() {
    let bundle = layer("keyless-2021").bundle().unwrap();
    let policy = Policy::Identity {
        issuer: Matcher::regex(".*").unwrap(),
        subject: Matcher::exact("flavio@castelli.me"),
    };
    for err in [
        check_signer(&bundle, &policy).unwrap_err(),
        check(&bundle, &policy, &public_good(), Some(LATER)).unwrap_err(),
    ] {
        let Error::Identity(mismatch) = &err else {
            panic!("not an identity error: {err:?}")
        };
        assert!(
            matches!(**mismatch, IdentityMismatch::Issuer { found: None, .. }),
            "{mismatch:?}"
        );
        assert!(
            err.to_string()
                .contains("certificate has no OIDC issuer extension"),
            "{err}"
        );
    }
    // A key policy is not a certificate's.
    let key =
        Policy::key_from_pem(&std::fs::read_to_string(format!("{DATA}/key-2021/pub.pem")).unwrap())
            .unwrap();
    let err = check_signer(&bundle, &key).unwrap_err();
    assert!(
        matches!(&err, Error::Identity(m) if **m == IdentityMismatch::SignedWithCertificate),
        "{err:?}"
    );
}

#[test]
fn a_certificate_policy_without_a_log_checks_the_certificate_now() {
    let layer = layer("keyless-2021");
    let unlogged = layer.without(BUNDLE_ANNOTATION).bundle().unwrap();
    assert!(unlogged.tlog_entries.is_empty());
    let root = public_good();

    // Required, the log entry is missing.
    let err = check(&unlogged, &certificate_policy(true), &root, Some(SIGNED_AT)).unwrap_err();
    assert_eq!(
        err,
        Error::TransparencyLog("bundle has no transparency log entry".into())
    );

    // Not required: the certificate must be valid now, and there must be a now.
    let optional = certificate_policy(false);
    assert!(!optional.requires_tlog());
    let verified = check(&unlogged, &optional, &root, Some(SIGNED_AT + 60)).unwrap();
    assert_eq!(verified.signing_time, None);
    let err = check(&unlogged, &optional, &root, Some(LATER)).unwrap_err();
    assert_eq!(
        err,
        Error::Certificate(
            "certificate policy: the certificate not valid at the current time \
             2025-06-15T15:06:40Z (valid 2021-10-20T07:25:16Z to 2021-10-20T07:45:15Z)"
                .into()
        )
    );
    let err = check(&unlogged, &optional, &root, None).unwrap_err();
    assert!(
        matches!(&err, Error::Timestamp(m) if m.contains("no clock to check the certificate's validity")),
        "{err:?}"
    );

    // A log entry that is there is verified, and dates the signature, even when not required.
    let logged = layer.bundle().unwrap();
    let verified = check(&logged, &optional, &root, Some(LATER)).unwrap();
    assert_eq!(verified.signing_time, Some(Timestamp::from_unix(SIGNED_AT)));
    let forged = layer.with_rekor(|r| {
        r["SignedEntryTimestamp"] = flip_b64(r["SignedEntryTimestamp"].as_str().unwrap()).into()
    });
    let err = check_layer(&forged, &optional, &root, Some(LATER)).unwrap_err();
    assert!(matches!(err, Error::TransparencyLog(_)), "{err:?}");
}

#[test]
fn a_certificate_policy_is_checked_when_made() {
    let cert = keyless_cert_pem();
    let ca_2021 = authority_pem(0, 0);
    let policy = certificate_policy(true);
    let Policy::Certificate(c) = &policy else {
        panic!("a certificate policy")
    };
    assert_eq!(c.certificate(), pem::parse(&cert).unwrap().contents());
    assert_eq!(c.chain(), [pem::parse(&ca_2021).unwrap().into_contents()]);
    assert!(policy.requires_tlog());

    let intermediate_2022 = authority_pem(1, 0);
    let root_2022 = authority_pem(1, 1);
    let key_pem = std::fs::read(format!("{DATA}/key-2021/pub.pem")).unwrap();
    // (certificate PEM, chain PEMs, error)
    type Case<'a> = (&'a [u8], Vec<&'a [u8]>, &'a str);
    let cases: [Case; 8] = [
        // Another CA did not issue it (its name differs: sigstore-intermediate).
        (
            &cert,
            vec![intermediate_2022.as_bytes()],
            "invalid: certificate policy: chain certificate 0 (the certificate's issuer): \
             issuer name does not match the CA's subject",
        ),
        // The 2022 root has the 2021 CA's very name, but not its key.
        (
            &cert,
            vec![root_2022.as_bytes()],
            "invalid: certificate policy: chain certificate 0 (the certificate's issuer): \
             signature by the CA does not verify",
        ),
        // The chain goes on past the 2021 CA to a root that did not sign it.
        (
            &cert,
            vec![ca_2021.as_bytes(), root_2022.as_bytes()],
            "invalid: certificate policy: chain certificate 1 (the issuer of chain certificate \
             0): signature by the CA does not verify",
        ),
        // A CA certificate is not a signing certificate.
        (
            ca_2021.as_bytes(),
            vec![],
            "invalid: certificate policy: the certificate is a CA certificate",
        ),
        (
            b"not PEM",
            vec![],
            "malformed: certificate policy: certificate: 0 PEM certificates, not one",
        ),
        (
            &[cert.as_slice(), ca_2021.as_bytes()].concat(),
            vec![],
            "malformed: certificate policy: certificate: 2 PEM certificates, not one",
        ),
        (
            &cert,
            vec![b""],
            "malformed: certificate policy: chain[0]: no PEM certificate",
        ),
        (
            &cert,
            vec![key_pem.as_slice()],
            r#"malformed: certificate policy: chain[0]: PEM block "PUBLIC KEY", not CERTIFICATE"#,
        ),
    ];
    for (cert, chain, want) in cases {
        let err = Policy::certificate_from_pem(cert, &chain, true).unwrap_err();
        assert_eq!(err.to_string(), want, "{err:?}");
    }
    // A certificate whose DER is broken.
    let mut der = pem::parse(&cert).unwrap().into_contents();
    der.truncate(100);
    let broken = pem::encode(&pem::Pem::new("CERTIFICATE", der));
    let err = Policy::certificate_from_pem(broken.as_bytes(), &[], true).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
}

#[test]
fn key_2021_verifies_without_a_log_when_the_policy_allows_it() {
    let layer = layer("key-2021");
    let bundle = layer.bundle().unwrap();
    assert!(bundle.tlog_entries.is_empty());
    let pem = std::fs::read_to_string(format!("{DATA}/key-2021/pub.pem")).unwrap();
    let root = public_good();

    let optional = Policy::public_key_from_pem(&pem, false).unwrap();
    assert!(!optional.requires_tlog());
    for now in [Some(LATER), None] {
        let verified = check(&bundle, &optional, &root, now).unwrap();
        assert_eq!(
            verified,
            Verified {
                signing_time: None,
                identity: None
            }
        );
    }
    let required = Policy::key_from_pem(&pem).unwrap();
    assert!(required.requires_tlog());
    let err = check(&bundle, &required, &root, Some(LATER)).unwrap_err();
    assert_eq!(
        err,
        Error::TransparencyLog("bundle has no transparency log entry".into())
    );

    let signed = SimpleSigning::from_json(bundle.message().unwrap()).unwrap();
    assert_eq!(signed.docker_reference, "registry-testing.svc.lan/busybox");
    assert_eq!(
        signed.docker_manifest_digest,
        "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    );

    // Another key; the keyless certificate's key (a key hint is accepted for it); an identity.
    let other = Policy::public_key_from_pem(&Key::new("another signer").pem, false).unwrap();
    let err = check(&bundle, &other, &root, None).unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
    check_signer(&bundle, &certificate_policy(false)).unwrap();
    let err = check(&bundle, &certificate_policy(false), &root, Some(LATER)).unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
    let err = check(
        &bundle,
        &Policy::identity("https://issuer.example", "me@example.com"),
        &root,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Identity(m) if **m == IdentityMismatch::SignedWithKey),
        "{err:?}"
    );

    // The payload, the signature.
    let mut payload = layer.clone();
    payload.payload[20] ^= 1;
    let sig = layer.with(
        SIGNATURE_ANNOTATION,
        &flip_b64(&layer.annotations[SIGNATURE_ANNOTATION]),
    );
    for tampered in [payload, sig] {
        let err = check_layer(&tampered, &optional, &root, None).unwrap_err();
        assert_eq!(
            err,
            Error::Signature("message signature does not verify over the artifact".into())
        );
    }
}

/// The expected stage of a refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Malformed,
    Identity,
    Signature,
    Certificate,
    TransparencyLog,
}

fn stage(err: &Error) -> Stage {
    match err {
        Error::Malformed(_) => Stage::Malformed,
        Error::Identity(_) => Stage::Identity,
        Error::Signature(_) => Stage::Signature,
        Error::Certificate(_) => Stage::Certificate,
        Error::TransparencyLog(_) => Stage::TransparencyLog,
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn every_field_of_the_keyless_signature_altered_is_refused() {
    let layer = layer("keyless-2021");
    let root = public_good();
    let policy = certificate_policy(true);
    check_layer(&layer, &policy, &root, Some(LATER)).unwrap();

    let mut payload = layer.clone();
    payload.payload[30] ^= 1;
    let another_certificate = authority_pem(1, 0);
    let edit_body = |edit: fn(&mut Value)| {
        layer.with_rekor(move |r| {
            let mut body: Value = serde_json::from_slice(
                &B64.decode(r["Payload"]["body"].as_str().unwrap()).unwrap(),
            )
            .unwrap();
            edit(&mut body);
            r["Payload"]["body"] = B64.encode(body.to_string()).into();
        })
    };
    let cases: Vec<(&str, Layer, Stage)> = vec![
        ("one byte of the payload", payload, Stage::Signature),
        (
            "the signature",
            layer.with(
                SIGNATURE_ANNOTATION,
                &flip_b64(&layer.annotations[SIGNATURE_ANNOTATION]),
            ),
            Stage::Signature,
        ),
        (
            "the certificate",
            layer.with(CERTIFICATE_ANNOTATION, &another_certificate),
            Stage::Identity,
        ),
        (
            "the signed entry timestamp",
            layer.with_rekor(|r| {
                r["SignedEntryTimestamp"] =
                    flip_b64(r["SignedEntryTimestamp"].as_str().unwrap()).into()
            }),
            Stage::TransparencyLog,
        ),
        (
            "the Rekor body",
            edit_body(|b| b["spec"]["data"]["hash"]["value"] = "00".repeat(32).into()),
            Stage::TransparencyLog,
        ),
        (
            "the integrated time",
            layer.with_rekor(|r| r["Payload"]["integratedTime"] = (SIGNED_AT + 1).into()),
            Stage::TransparencyLog,
        ),
        (
            "the log index",
            layer.with_rekor(|r| r["Payload"]["logIndex"] = 783_608.into()),
            Stage::TransparencyLog,
        ),
        (
            "the log ID",
            layer.with_rekor(|r| r["Payload"]["logID"] = "00".repeat(32).into()),
            Stage::TransparencyLog,
        ),
        (
            "a chain annotation that is not PEM",
            layer.with(CHAIN_ANNOTATION, "not PEM"),
            Stage::Malformed,
        ),
    ];
    for (what, tampered, want) in cases {
        let err = check_layer(&tampered, &policy, &root, Some(LATER)).unwrap_err();
        assert_eq!(stage(&err), want, "{what}: {err}");
    }

    // The configured chain: another CA (refused when the policy is made).
    let intermediate_2022 = authority_pem(1, 0);
    let err =
        Policy::certificate_from_pem(&keyless_cert_pem(), &[intermediate_2022.as_bytes()], true)
            .unwrap_err();
    assert_eq!(stage(&err), Stage::Certificate, "{err}");

    // Another artifact than the bundle's message.
    let bundle = layer.bundle().unwrap();
    let err = verify(
        &bundle,
        Artifact::Bytes(b"another payload"),
        &policy,
        &root,
        None,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Signature("message digest does not match the artifact".into())
    );

    // A message whose digest is not the bundle's messageDigest.
    let mut json = signature_bundle(&layer.payload, &layer.annotations).unwrap();
    json["messageSignature"]["message"] = B64.encode(b"another payload").into();
    let err = Bundle::from_json(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Error::Malformed("bundle: messageSignature.message does not have the messageDigest".into())
    );

    // Another key than the certificate's.
    let other = Policy::public_key_from_pem(&Key::new("another signer").pem, true).unwrap();
    let err = check(&bundle.clone(), &other, &root, None).unwrap_err();
    assert_eq!(stage(&err), Stage::Identity, "{err}");
    let mut hint = bundle;
    hint.material = custody_sigstore::SigningMaterial::PublicKey {
        hint: String::new(),
    };
    let err = check(&hint, &other, &root, None).unwrap_err();
    assert_eq!(stage(&err), Stage::Signature, "{err}");
}

/// A cosign Rekor bundle annotation for `body`, logged by the private test log.
fn relogged(log: &Key, body: &Value, integrated_time: i64) -> String {
    let body = body.to_string().into_bytes();
    json!({
        "SignedEntryTimestamp": B64.encode(test_log::signed_entry_timestamp(log, &body, integrated_time)),
        "Payload": {
            "body": B64.encode(&body),
            "integratedTime": integrated_time,
            "logIndex": LOG_INDEX,
            "logID": test_log::hex(&log.id()),
        },
    })
    .to_string()
}

/// A `rekord` 0.0.1 body as cosign logged it: the message's hash, the signature, and the
/// certificate or key (base64 of its PEM).
fn rekord(message: &[u8], signature: &[u8], signer_pem: &str) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "rekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": test_log::hex(&test_log::sha256(message))}},
            "signature": {
                "content": B64.encode(signature),
                "format": "x509",
                "publicKey": {"content": B64.encode(signer_pem)},
            },
        },
    })
}

#[test]
fn the_rekord_body_binds_the_message_the_signature_and_the_signer() {
    let layer = layer("keyless-2021");
    let log = Key::new("private rekor");
    let root = test_log::trusted_root(&log);
    let policy = certificate_policy(true);
    let signature = B64
        .decode(&layer.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    let cert = String::from_utf8(keyless_cert_pem()).unwrap();

    // The real body, logged again: verifies.
    let real: Value = serde_json::from_slice(
        &B64.decode(
            serde_json::from_str::<Value>(&layer.annotations[BUNDLE_ANNOTATION]).unwrap()
                ["Payload"]["body"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(real, rekord(&layer.payload, &signature, &cert));
    let ok = layer.with(BUNDLE_ANNOTATION, &relogged(&log, &real, SIGNED_AT));
    let verified = check_layer(&ok, &policy, &root, None).unwrap();
    assert_eq!(verified.signing_time, Some(Timestamp::from_unix(SIGNED_AT)));

    let mut pgp = real.clone();
    pgp["spec"]["signature"]["format"] = "pgp".into();
    let cases = [
        (
            rekord(b"another payload", &signature, &cert),
            "tlog entry body: artifact hash does not match the bundle",
        ),
        (
            rekord(&layer.payload, b"another signature", &cert),
            "tlog entry body: signature differs from the bundle's",
        ),
        (
            rekord(&layer.payload, &signature, &authority_pem(0, 0)),
            "tlog entry body: certificate or key differs from the bundle's",
        ),
        (
            pgp,
            r#"tlog entry body: rekord signature format "pgp" (only x509)"#,
        ),
    ];
    for (body, want) in cases {
        let tampered = layer.with(BUNDLE_ANNOTATION, &relogged(&log, &body, SIGNED_AT));
        let err = check_layer(&tampered, &policy, &root, None).unwrap_err();
        assert_eq!(err.message(), want, "{err:?}");
    }
    // Logged after the certificate expired.
    let late = layer.with(BUNDLE_ANNOTATION, &relogged(&log, &real, SIGNED_AT + 3600));
    let err = check_layer(&late, &policy, &root, None).unwrap_err();
    assert!(matches!(err, Error::Certificate(_)), "{err:?}");
}

/// Signatures over the key-2021 payload made by OpenSSL 3.0.19 (`openssl dgst -sha384 -sign`,
/// `pkeyutl -sign -rawin`, `dgst -sha256 -sign`): P-384, Ed25519, RSA 2048 PKCS#1 v1.5.
const OPENSSL: [(&str, &str, &str); 3] = [
    (
        "P-384",
        "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEzOBANXVqbZwmDX8UGHZXkvvuRSkwLnDE
4oNkwg87IViLgQJfaEnh7pb25iVxqltdphPuhM3EJz9OR5/fzQ8cMFkEulYDkdLJ
uxjv3tY7C2L6tJBUsncXgebeWCnjsfQZ
-----END PUBLIC KEY-----",
        "MGUCMQDJzLe3xwsoa3reXbp/YaSdmLzAg2zctX7IARuSsZpRcf4azmT4TdrEcDLFACpw2+cCMD+QwJeABYHGUzCLygWege5u0UqXHXWfDVhhM1praSgcHMedmxnocNGFpjq9lNd9PQ==",
    ),
    (
        "Ed25519",
        "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAAsusMAT3zlmLfuz3xebQT41k8W+dIIntSl+XpspVm4s=
-----END PUBLIC KEY-----",
        "hYznZhhkM11xq0n0YqC+B2uCuJ4fn8TlUuODCMLJU7ZR7XKwyllXISAD1HrCDECqAx+y8FDynd5mgCMSonWFBQ==",
    ),
    (
        "RSA",
        "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0tq3b9CGZZibYNj1OVsF
bpEyvHQOT/youLGxdEd0cwk0MEtt/JgBVMAcAzc6wzV4e1bpREgqE1ek5rLpTm8w
Ox0INZMZGh1pcs+9HEDp9uapM0LU2NUSRWnxAkbW7BaSvuWwXkSqqqe67V9MFnJ0
znW5aKHQsbFtqLlqCl9c0N7ZYoVizpF0A43+V3cGhRzybOmzk/h15nHY1yZxSua2
vDGsrPQfWrj82XXb/DOUXJQS1nbaL5J/wE4b1chxCA/bI23GvBr8xIz39mdNEK4k
D8GNzrywq2Wbwb7WmhXT2X6GkZR2Ynmi1M8azrQNSi2SWextYnby11BRKe2lCHNJ
JQIDAQAB
-----END PUBLIC KEY-----",
        "DIufKw2OlXG7hlNFAHINc/OWrp5GgznyHBhIjrx8pzACMaW3DMn/FGQPq/Jpu4xcB60j0QcGZZqUUCSGc0TxO9LpfXhfkFNvBDs29dxvc4AEx/uwHWsXRQY2t1F/h47saAI6gHtUpitVjrKo9G9H+sXn4zMrgJGeS7EFB9HaO9pywWDd0pFqkE/pFlEdq95OYB/jYacet3BaIpV/IqJeohwJRQYlFx1jAiKvGiuOuj3qsJCpPAFabSEMirZTf+ag42ll1YBGGUHK0hq95NwHQAjYnZrr2TctpzdnnGYPIkLs9ld6i7IPtL9C1CPxTL5futC8hd6ZWCUci9wllodATw==",
    ),
];

/// The RSA key of [`OPENSSL`] (a test key, PKCS#8), to sign with RustCrypto too.
const RSA_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDS2rdv0IZlmJtg
2PU5WwVukTK8dA5P/Ki4sbF0R3RzCTQwS238mAFUwBwDNzrDNXh7VulESCoTV6Tm
sulObzA7HQg1kxkaHWlyz70cQOn25qkzQtTY1RJFafECRtbsFpK+5bBeRKqqp7rt
X0wWcnTOdbloodCxsW2ouWoKX1zQ3tlihWLOkXQDjf5XdwaFHPJs6bOT+HXmcdjX
JnFK5ra8Mays9B9auPzZddv8M5RclBLWdtovkn/AThvVyHEID9sjbca8GvzEjPf2
Z00QriQPwY3OvLCrZZvBvtaaFdPZfoaRlHZieaLUzxrOtA1KLZJZ7G1idvLXUFEp
7aUIc0klAgMBAAECggEAHjYo9Ow5qYpzbu2/OzvbvCMxVBfD6jmPOkF5penMGWR+
9hGEvZ3RCQHqsZpDAO/jJrcF/trhLnrPHaASdkLPtBSdlcGRJfEDaCg0Vj1F2LLl
mPrxMO1crBX5KqSYTGUSmyghfGxV0NRuH+9Y4Vl+e4uaKJAQ7Tj5N6TzeO9/hsy4
weaD1gt433XqgXzbrTGNv5v8fqu4Ohav07E006BGWX2LRF5RjR8PdYteHr3VjGFR
4ZDCLZ+vPvnW1JJIzoOREUwQx6+5QwUGGYI0ICjX+S3oYpwy/bFrBh7k6wJZagkW
gQY4+ruPbzT3xzd1tU3fEGR6gCGS3fMcIQq1cKJImQKBgQD2ouxbN/EiFH2U3Ieo
MAqZdRbFi5g82R2GthAZf6fCgfzpKCmHySo6CFbaRjMP3+yS4YrlD3PbKVO5+RZO
ZolSltLYC8fboMvjdBk8LaOa2K4zTWAr3NlY3y4YNrpH2WPVpm3NdS6MxtcIYsSy
Y2Qu5X32H8S8xNXtHujvlQ+xXQKBgQDa3AZi0DPi7GspkrmhRgX+Ei/guzJ8fZrS
z4m3cQg5vvFDFN0T/tXrl3WPYGnId2xsDTHrbFzN+DavW5CSZfl0mo9UhTIVBZEp
0EmQY8EUs8GZUTT/0T4WZFDaeI92lsh1xRfsqw70XVwM0+utPXqK6qkDvYLIGicv
Ha1TpQcSaQKBgF2WDOHAJHuuEsj9tWwYbq00ROPIyIeuSwnm480JJ3sjH/jJCJlB
uAg1Sd+ha5bGfVpuwumQJ4It+FtFLTWqqsjv+imIrtmj9jnkv/6Zws7rEY7d+XQr
ZT3X0gHWInFJCBz1/gxMPtGkUcwYzlJybH1vD5DpFRocBqDnbbQbd8zxAoGABDUu
uj+ef8Jj3QzBHOSnwNbArOVsdxBDJcJvt2Mo8VNGeC+ygGvp2Pm0fOkxn3UMVJd8
WjZfImafRofQI8BqJ1/BWbKl39mXjOJAR9JjJ+68ziHNjw2K0Atlso2W1ITZncoI
R7iSNQiGeIiqg04nSPxx+2xtU0ONdU5wwqbtl+ECgYBjrO0lrxm/n4ZdRTMi2d0T
/emP1QlO8/ERouYGwdaQJPbJGyD7PTZaA26ROY0mhLCiUzGHf77pykFlDSk8D1z4
kHaASiIp6qzWRpW+zkLeLcRuUazaQsZM7YbZhcS5vARwPnXuJ/Ojy2HiOcDxObY9
lSlBI3PU/xROpmV0jJHt0w==
-----END PRIVATE KEY-----";

/// DER SubjectPublicKeyInfo prefixes (RFC 5480, RFC 8410) before the key's bytes.
const P384_SPKI_PREFIX: &str = "3076301006072a8648ce3d020106052b81040022036200";
const ED25519_SPKI_PREFIX: &str = "302a300506032b6570032100";

fn public_key_pem(prefix_hex: &str, key: &[u8]) -> String {
    let prefix: Vec<u8> = (0..prefix_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&prefix_hex[i..i + 2], 16).unwrap())
        .collect();
    pem::encode(&pem::Pem::new(
        "PUBLIC KEY",
        [prefix.as_slice(), key].concat(),
    ))
}

/// (name, public key PEM, signature over `message`) made with RustCrypto's signers.
fn rustcrypto_signatures(message: &[u8]) -> Vec<(&'static str, String, Vec<u8>)> {
    use ed25519_dalek::Signer as _;
    let p384 = p384::ecdsa::SigningKey::from_slice(&[0x11; 48]).unwrap();
    let p384_sig: p384::ecdsa::Signature = p384.sign(message);
    let ed = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
    let rsa_der = pem::parse(RSA_PRIVATE_KEY).unwrap().into_contents();
    let rsa = {
        use rsa::pkcs8::DecodePrivateKey as _;
        rsa::PrivateKey::from_pkcs8_der(&rsa_der).unwrap()
    };
    let rsa_sig = rsa
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &test_log::sha256(message),
        )
        .unwrap();
    vec![
        (
            "P-384",
            public_key_pem(
                P384_SPKI_PREFIX,
                p384.verifying_key().to_sec1_point(false).as_bytes(),
            ),
            p384_sig.to_der().as_bytes().to_vec(),
        ),
        (
            "Ed25519",
            public_key_pem(ED25519_SPKI_PREFIX, ed.verifying_key().as_bytes()),
            ed.sign(message).to_bytes().to_vec(),
        ),
        ("RSA", OPENSSL[2].1.to_string(), rsa_sig),
    ]
}

#[test]
fn p384_ed25519_and_rsa_signatures_over_the_payload_verify() {
    let payload = layer("key-2021").payload;
    let root = public_good();
    let mut signed: Vec<(&str, String, Vec<u8>)> = OPENSSL
        .iter()
        .map(|(name, pem, sig)| (*name, pem.to_string(), B64.decode(sig).unwrap()))
        .collect();
    signed.extend(rustcrypto_signatures(&payload));
    assert_eq!(signed.len(), 6);
    for (name, pem, signature) in signed {
        let layer = Layer {
            payload: payload.clone(),
            annotations: BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_string(),
                B64.encode(&signature),
            )]),
        };
        let bundle = layer.bundle().unwrap();
        let policy = Policy::public_key_from_pem(&pem, false).unwrap();
        let verified =
            check(&bundle, &policy, &root, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.signing_time, None, "{name}");

        // Another message.
        let mut other = layer.clone();
        other.payload[20] ^= 1;
        let err = check_layer(&other, &policy, &root, None).unwrap_err();
        assert_eq!(stage(&err), Stage::Signature, "{name}: {err}");
        // Only the message's digest: enough for RSA (it signs the SHA-256 digest), not for P-384
        // (SHA-384) or Ed25519 (the message itself).
        let by_digest = verify(
            &bundle,
            Artifact::Sha256(test_log::sha256(&payload).try_into().unwrap()),
            &policy,
            &root,
            None,
        );
        match name {
            "RSA" => assert!(by_digest.is_ok(), "{name}: {by_digest:?}"),
            _ => assert!(
                matches!(by_digest, Err(Error::Unsupported(_))),
                "{name}: {by_digest:?}"
            ),
        }
    }
}

#[test]
fn a_key_signature_logged_as_rekord_verifies_with_its_log() {
    let payload = layer("key-2021").payload;
    let log = Key::new("private rekor");
    let root = test_log::trusted_root(&log);
    let (_, pem, signature) = rustcrypto_signatures(&payload).into_iter().next().unwrap();
    let signed = Layer {
        payload: payload.clone(),
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), B64.encode(&signature))]),
    };
    let policy = Policy::key_from_pem(&pem).unwrap();
    let logged = signed.with(
        BUNDLE_ANNOTATION,
        &relogged(&log, &rekord(&payload, &signature, &pem), SIGNED_AT),
    );
    let verified = check_layer(&logged, &policy, &root, Some(LATER)).unwrap();
    assert_eq!(verified.signing_time, Some(Timestamp::from_unix(SIGNED_AT)));
    // The entry records another key.
    let other = Key::new("another signer").pem;
    let wrong = signed.with(
        BUNDLE_ANNOTATION,
        &relogged(&log, &rekord(&payload, &signature, &other), SIGNED_AT),
    );
    let err = check_layer(&wrong, &policy, &root, Some(LATER)).unwrap_err();
    assert_eq!(
        err.message(),
        "tlog entry body: certificate or key differs from the bundle's"
    );
    // Logged in the future.
    let future = signed.with(
        BUNDLE_ANNOTATION,
        &relogged(&log, &rekord(&payload, &signature, &pem), LATER + 1),
    );
    let err = check_layer(&future, &policy, &root, Some(LATER)).unwrap_err();
    assert!(matches!(err, Error::TransparencyLog(_)), "{err:?}");
}

#[test]
fn simple_signing_payloads_are_read_strictly_and_never_panic() {
    let ok = |optional: Value| {
        json!({
            "critical": {
                "identity": {"docker-reference": "registry.example/app"},
                "image": {"docker-manifest-digest": "sha256:abc"},
                "type": "cosign container image signature",
                "extra": [1, 2],
            },
            "optional": optional,
            "unknown": {"tolerated": true},
        })
    };
    let signed =
        SimpleSigning::from_json(ok(json!({"env": "prod", "n": 1})).to_string().as_bytes())
            .unwrap();
    assert_eq!(signed.docker_reference, "registry.example/app");
    assert_eq!(signed.docker_manifest_digest, "sha256:abc");
    let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    signed.check_annotations(&want(&[("env", "prod")])).unwrap();
    assert_eq!(
        signed
            .check_annotations(&want(&[("env", "dev")]))
            .unwrap_err(),
        r#"annotation "env" is "prod", not "dev""#
    );
    assert_eq!(
        signed
            .check_annotations(&want(&[("env", "prod"), ("n", "1")]))
            .unwrap_err(),
        r#"annotation "n" is 1, not the string "1""#
    );
    assert_eq!(
        signed
            .check_annotations(&want(&[("a", "x"), ("env", "dev")]))
            .unwrap_err(),
        r#"annotation "a" is missing (wanted "x")"#
    );
    for optional in [Value::Null, json!({})] {
        let signed = SimpleSigning::from_json(ok(optional).to_string().as_bytes()).unwrap();
        assert!(signed.optional.is_empty());
    }
    let mut no_optional = ok(Value::Null);
    no_optional.as_object_mut().unwrap().remove("optional");
    SimpleSigning::from_json(no_optional.to_string().as_bytes()).unwrap();

    let edited = |edit: fn(&mut Value)| {
        let mut v = ok(Value::Null);
        edit(&mut v);
        v.to_string().into_bytes()
    };
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let mut deep_optional = ok(Value::Null).to_string();
    deep_optional = deep_optional.replace(
        r#""optional":null"#,
        &format!(
            r#""optional":{{"a":{}}}"#,
            String::from_utf8(deep(100_000)).unwrap()
        ),
    );
    let huge = {
        let v = ok(json!({"pad": "x".repeat(MAX_PAYLOAD_BYTES)}));
        v.to_string().into_bytes()
    };
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not JSON", b"\xff\xfe not JSON".to_vec()),
        ("an array", b"[]".to_vec()),
        ("a number", b"1".to_vec()),
        ("null", b"null".to_vec()),
        ("a string", br#""critical""#.to_vec()),
        ("deep", deep(100_000)),
        ("deep optional", deep_optional.into_bytes()),
        ("huge", huge),
        (
            "no critical",
            edited(|v| {
                v.as_object_mut().unwrap().remove("critical");
            }),
        ),
        ("critical null", edited(|v| v["critical"] = Value::Null)),
        (
            "no type",
            edited(|v| {
                v["critical"].as_object_mut().unwrap().remove("type");
            }),
        ),
        (
            "another type",
            edited(|v| v["critical"]["type"] = "atomic container signature".into()),
        ),
        (
            "a type that is not a string",
            edited(|v| v["critical"]["type"] = 1.into()),
        ),
        (
            "no docker-reference",
            edited(|v| v["critical"]["identity"] = json!({})),
        ),
        (
            "no docker-manifest-digest",
            edited(|v| v["critical"]["image"] = json!({"docker-manifest-digest": null})),
        ),
        (
            "optional not an object",
            edited(|v| v["optional"] = json!(["env"])),
        ),
    ];
    for (what, payload) in hostile {
        let err = SimpleSigning::from_json(&payload).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{what}: {err:?}");
        assert!(
            err.to_string().contains("simple-signing payload"),
            "{what}: {err}"
        );
    }
}

#[test]
fn signature_layers_are_read_strictly_and_never_panic() {
    let keyless = layer("keyless-2021");
    // No Rekor bundle, no timestamp: converted (the policy decides).
    let json = signature_bundle(
        &keyless.payload,
        &keyless.without(BUNDLE_ANNOTATION).annotations,
    )
    .unwrap();
    assert_eq!(json["verificationMaterial"]["tlogEntries"], json!([]));
    assert_eq!(
        json["messageSignature"]["messageDigest"],
        json!({"algorithm": "SHA2_256", "digest": B64.encode(test_log::sha256(&keyless.payload))})
    );
    // A chain annotation whose root is left out (roots come from the trusted root).
    let with_root = keyless.with(CHAIN_ANNOTATION, &authority_pem(0, 0));
    let json = signature_bundle(&with_root.payload, &with_root.annotations).unwrap();
    assert_eq!(
        json["verificationMaterial"]["x509CertificateChain"]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let with_intermediate = keyless.with(
        CHAIN_ANNOTATION,
        &(authority_pem(1, 0) + &authority_pem(1, 1)),
    );
    let json =
        signature_bundle(&with_intermediate.payload, &with_intermediate.annotations).unwrap();
    assert_eq!(
        json["verificationMaterial"]["x509CertificateChain"]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cert = keyless.annotations[CERTIFICATE_ANNOTATION].clone();
    let hostile: Vec<(&str, Layer)> = vec![
        ("no signature", keyless.without(SIGNATURE_ANNOTATION)),
        (
            "a signature that is not base64",
            keyless.with(SIGNATURE_ANNOTATION, "not base64!"),
        ),
        ("an empty signature", keyless.with(SIGNATURE_ANNOTATION, "")),
        (
            "a certificate that is not PEM",
            keyless.with(CERTIFICATE_ANNOTATION, "not PEM"),
        ),
        (
            "two certificates",
            keyless.with(CERTIFICATE_ANNOTATION, &(cert.clone() + &cert)),
        ),
        (
            "a key for a certificate",
            keyless.with(
                CERTIFICATE_ANNOTATION,
                &std::fs::read_to_string(format!("{DATA}/key-2021/pub.pem")).unwrap(),
            ),
        ),
        (
            "a chain certificate that is not DER",
            keyless.with(
                CHAIN_ANNOTATION,
                &pem::encode(&pem::Pem::new("CERTIFICATE", b"not DER".to_vec())),
            ),
        ),
        (
            "a Rekor bundle that is not JSON",
            keyless.with(BUNDLE_ANNOTATION, "not JSON"),
        ),
        (
            "a deep Rekor bundle",
            keyless.with(BUNDLE_ANNOTATION, &deep),
        ),
        (
            "a Rekor bundle without a payload",
            keyless.with_rekor(|r| {
                r.as_object_mut().unwrap().remove("Payload");
            }),
        ),
        (
            "a body that is not base64",
            keyless.with_rekor(|r| r["Payload"]["body"] = "not base64!".into()),
        ),
        (
            "a body that is not JSON",
            keyless.with_rekor(|r| r["Payload"]["body"] = B64.encode("not JSON").into()),
        ),
        (
            "a body without a kind",
            keyless.with_rekor(|r| {
                r["Payload"]["body"] = B64.encode(r#"{"apiVersion":"0.0.1"}"#).into()
            }),
        ),
        (
            "a log ID that is not hex",
            keyless.with_rekor(|r| r["Payload"]["logID"] = "not hex".into()),
        ),
        (
            "an integrated time that is not a number",
            keyless.with_rekor(|r| r["Payload"]["integratedTime"] = "soon".into()),
        ),
        (
            "a timestamp that is not JSON",
            keyless.with(RFC3161_ANNOTATION, "not JSON"),
        ),
        (
            "a timestamp that is not base64",
            keyless.with(
                RFC3161_ANNOTATION,
                r#"{"SignedRFC3161Timestamp":"not base64!"}"#,
            ),
        ),
    ];
    for (what, layer) in hostile {
        let err = signature_bundle(&layer.payload, &layer.annotations).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{what}: {err:?}");
        assert!(
            err.to_string().starts_with("malformed: cosign signature"),
            "{what}: {err}"
        );
    }
    let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    let err = signature_bundle(&huge, &keyless.annotations).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
}
