//! Runs every case of the sigstore-conformance `bundle-verify` suite through the SDK's verifier.
// A test may unwrap: a failing assertion is what a test is for (clippy.toml allows it in test
// functions; the helpers here are test code too).
#![allow(clippy::unwrap_used)]

use custody_test_support::sigstore_cases as cases;

use cases::{suite, DEFAULT_IDENTITY, DEFAULT_ISSUER};
use custody_sigstore::{
    verify, Artifact, Bundle, Error, IdentityMismatch, Matcher, Policy, TrustedRoot,
};

/// Cases this verifier does not classify right yet, each with the reason. None at present: keep
/// it that way, or say here why a case is listed.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

#[test]
fn bundle_verify_conformance() {
    let now = cases::now();
    let cases = cases::cases();

    let (mut right, mut wrong_unexpected, mut wrong_known) = (0, Vec::new(), Vec::new());
    let mut stale_exceptions: Vec<String> = Vec::new();
    for case in &cases {
        let name = case.name.clone();
        let result = case.verify_native(now);
        let ok = result.is_err() == case.must_fail;
        let outcome = match &result {
            Ok(_) => "verified".to_string(),
            Err(e) => e.to_string(),
        };
        println!("{} {name}: {outcome}", if ok { "ok  " } else { "MISS" });
        let known = KNOWN_EXCEPTIONS.iter().any(|(n, _)| *n == name);
        if ok {
            right += 1;
            if known {
                stale_exceptions.push(name);
            }
        } else if known {
            wrong_known.push(name);
        } else {
            wrong_unexpected.push(format!("{name}: {outcome}"));
        }
    }
    println!("\n{right} of {} classified right", cases.len());
    println!("known exceptions misclassified: {wrong_known:?}");
    println!("unexpected misclassifications: {wrong_unexpected:#?}");
    assert!(
        wrong_unexpected.is_empty(),
        "misclassified: {wrong_unexpected:#?}"
    );
    assert!(
        stale_exceptions.is_empty(),
        "listed as known exceptions but now classified right, remove them: {stale_exceptions:?}"
    );
}

/// The happy-path v0.3 bundle, its artifact and the public-good root.
fn happy() -> (Bundle, Vec<u8>, TrustedRoot) {
    let dir = suite().join("happy-path-v0.3");
    let bundle =
        Bundle::from_json(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    (
        bundle,
        std::fs::read(suite().join("a.txt")).unwrap(),
        TrustedRoot::public_good().unwrap(),
    )
}

fn identity(issuer: &str, subject: &str) -> Policy {
    Policy::identity(issuer, subject)
}

const NOW: i64 = 1_900_000_000; // 2030

#[test]
fn identity_must_match_exactly() {
    let (bundle, artifact, root) = happy();
    let ok = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &identity(DEFAULT_ISSUER, DEFAULT_IDENTITY),
        &root,
        Some(NOW),
    )
    .unwrap();
    let id = ok.identity.unwrap();
    assert_eq!(id.issuer.as_deref(), Some(DEFAULT_ISSUER));
    assert!(id.sans.iter().any(|s| s == DEFAULT_IDENTITY));
    assert_eq!(
        ok.signing_time.map(|t| t.secs),
        Some(bundle.tlog_entries[0].integrated_time)
    );

    let wrong_subject = identity(DEFAULT_ISSUER, &DEFAULT_IDENTITY.replace("main", "dev"));
    let err = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &wrong_subject,
        &root,
        Some(NOW),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("identity mismatch: certificate subject"),
        "{err}"
    );

    let prefix = identity(
        DEFAULT_ISSUER,
        &DEFAULT_IDENTITY[..DEFAULT_IDENTITY.len() - 1],
    );
    assert!(verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &prefix,
        &root,
        Some(NOW)
    )
    .is_err());

    let wrong_issuer = identity("https://accounts.google.com", DEFAULT_IDENTITY);
    let err = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &wrong_issuer,
        &root,
        Some(NOW),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("identity mismatch: certificate issuer"),
        "{err}"
    );
}

#[test]
fn log_time_after_now_is_refused() {
    let (bundle, artifact, root) = happy();
    let t = bundle.tlog_entries[0].integrated_time;
    let policy = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);
    assert!(verify(&bundle, Artifact::Bytes(&artifact), &policy, &root, Some(t)).is_ok());
    let err = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &policy,
        &root,
        Some(t - 1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");
    // Without a clock, nothing is in the future.
    assert!(verify(&bundle, Artifact::Bytes(&artifact), &policy, &root, None).is_ok());
}

#[test]
fn tampered_log_entry_fields_are_refused() {
    let (bundle, artifact, root) = happy();
    let policy = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);

    // The signed entry timestamp covers the integrated time and the log index.
    let mut b = bundle.clone();
    b.tlog_entries[0].integrated_time += 1;
    let err = verify(&b, Artifact::Bytes(&artifact), &policy, &root, Some(NOW)).unwrap_err();
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");
    let mut b = bundle.clone();
    b.tlog_entries[0].log_index += 1;
    assert!(verify(&b, Artifact::Bytes(&artifact), &policy, &root, Some(NOW)).is_err());

    // The inclusion proof.
    let mut b = bundle.clone();
    b.tlog_entries[0]
        .inclusion_proof
        .as_mut()
        .unwrap()
        .log_index += 1;
    assert!(verify(&b, Artifact::Bytes(&artifact), &policy, &root, Some(NOW)).is_err());

    // No log entry at all.
    let mut b = bundle.clone();
    b.tlog_entries.clear();
    let err = verify(&b, Artifact::Bytes(&artifact), &policy, &root, Some(NOW)).unwrap_err();
    assert!(
        err.to_string().contains("no transparency log entry"),
        "{err}"
    );

    // Another artifact.
    let err = verify(
        &bundle,
        Artifact::Bytes(b"not the artifact"),
        &policy,
        &root,
        Some(NOW),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err}");
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let json = std::fs::read(suite().join("happy-path-v0.3/bundle.sigstore.json")).unwrap();
    // Every prefix of a real bundle, and a few garbage documents.
    for n in (0..json.len()).step_by(97) {
        assert!(Bundle::from_json(&json[..n]).is_err());
    }
    for doc in [&b"{}"[..], b"[]", b"null", b"{\"mediaType\":1}"] {
        assert!(Bundle::from_json(doc).is_err());
        assert!(TrustedRoot::from_json(doc).is_err());
    }
}

/// Every case again, with only the artifact's SHA-256 digest: the same verdicts, except message
/// signatures by keys that do not sign a SHA-256 digest, which are refused as unsupported.
#[test]
fn conformance_by_digest() {
    let now = cases::now();
    let mut unsupported = Vec::new();
    for case in cases::cases() {
        let digest = Artifact::Bytes(&case.artifact).sha256();
        let by_bytes = case.verify_native(now);
        let by_digest = case.verify_with(Artifact::Sha256(digest), Some(now));
        match (&by_bytes, &by_digest) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", case.name),
            (Err(_), Err(_)) => {}
            (Ok(_), Err(Error::Unsupported(m))) => unsupported.push(format!("{}: {m}", case.name)),
            _ => panic!("{}: bytes {by_bytes:?}, digest {by_digest:?}", case.name),
        }
    }
    println!("unsupported by digest: {unsupported:#?}");
    // Every signing key of the suite is P-256: all verdicts are the same.
    assert!(unsupported.is_empty(), "{unsupported:#?}");
}

/// Without a clock (`now: None`), only the "not in the future" checks are skipped: every case
/// keeps its verdict (`integrated-time-in-future_fail` too: its log time is also outside the
/// certificate's validity).
#[test]
fn conformance_without_a_clock() {
    let now = cases::now();
    for case in cases::cases() {
        let with = case.verify_native(now);
        let without = case.verify_with(Artifact::Bytes(&case.artifact), None);
        assert_eq!(with, without, "{}", case.name);
    }
}

#[test]
fn message_signature_by_digest() {
    let (bundle, artifact, root) = happy();
    let policy = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);
    let digest = Artifact::Bytes(&artifact).sha256();
    let ok = verify(&bundle, Artifact::Sha256(digest), &policy, &root, None).unwrap();
    assert_eq!(
        ok.signing_time.map(|t| t.secs),
        Some(bundle.tlog_entries[0].integrated_time)
    );
    let mut other = digest;
    other[0] ^= 1;
    let err = verify(&bundle, Artifact::Sha256(other), &policy, &root, None).unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err}");
}

#[test]
fn identity_patterns() {
    let (bundle, artifact, root) = happy();
    let check = |issuer: Matcher, subject: Matcher| {
        verify(
            &bundle,
            Artifact::Bytes(&artifact),
            &Policy::Identity { issuer, subject },
            &root,
            Some(NOW),
        )
    };
    let issuer = || Matcher::exact(DEFAULT_ISSUER);
    check(
        issuer(),
        Matcher::prefix("https://github.com/sigstore-conformance/").unwrap(),
    )
    .unwrap();
    check(
        Matcher::regex(r"https://token\.actions\.githubusercontent\.com").unwrap(),
        Matcher::regex(
            r"https://github\.com/sigstore-conformance/[^/]+/\.github/workflows/.+@refs/heads/main",
        )
        .unwrap(),
    )
    .unwrap();

    let other = Matcher::prefix("https://github.com/other/").unwrap();
    let err = check(issuer(), other.clone()).unwrap_err();
    assert_eq!(
        err,
        Error::from(IdentityMismatch::Subject {
            expected: other,
            found: vec![DEFAULT_IDENTITY.to_string()],
        })
    );
    assert_eq!(
        err.to_string(),
        format!(
            r#"invalid: identity mismatch: certificate subject "{DEFAULT_IDENTITY}" does not match prefix "https://github.com/other/""#
        )
    );
    // Anchored: a pattern matching only a part of the subject does not match.
    let err = check(issuer(), Matcher::regex("sigstore-conformance").unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"does not match regex "sigstore-conformance""#),
        "{err}"
    );
    let google = Matcher::prefix("https://accounts.google.com").unwrap();
    let err = check(google.clone(), Matcher::exact(DEFAULT_IDENTITY)).unwrap_err();
    assert_eq!(
        err,
        Error::from(IdentityMismatch::Issuer {
            expected: google,
            found: Some(DEFAULT_ISSUER.to_string()),
        })
    );
    assert_eq!(
        err.to_string(),
        format!(
            r#"invalid: identity mismatch: certificate issuer "{DEFAULT_ISSUER}" does not match prefix "https://accounts.google.com""#
        )
    );
}

/// The identity is checked before any signature: a bundle by another signer is refused for that,
/// even when its signature, log entry and chain are broken too.
#[test]
fn identity_is_checked_before_the_crypto() {
    let (mut bundle, artifact, root) = happy();
    if let custody_sigstore::Content::MessageSignature { signature, .. } = &mut bundle.content {
        signature[10] ^= 1;
    }
    bundle.tlog_entries[0].integrated_time += 1;
    let wrong = identity(DEFAULT_ISSUER, "https://github.com/someone/else");
    let err = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &wrong,
        &root,
        Some(NOW),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Identity(_)), "{err}");
    assert!(err.to_string().contains("identity mismatch"), "{err}");
    let right = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);
    let err = verify(
        &bundle,
        Artifact::Bytes(&artifact),
        &right,
        &root,
        Some(NOW),
    )
    .unwrap_err();
    assert!(!matches!(err, Error::Identity(_)), "{err}");
    assert!(!err.to_string().contains("identity"), "{err}");
}

/// A P-384 key signs the SHA-384 digest of a message: a message signature by such a key cannot be
/// checked against a SHA-256 digest, and is refused as unsupported (not as invalid).
#[test]
fn message_signature_by_a_p384_key_needs_the_bytes() {
    const P384_KEY: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEIH9i5qmfCAA1FCDmxznFXuhRfLwFqmeT
RByVqBRHAIcbFRIAyO/C5Ru2ycXiJSlGtcHPgbjhfsj5wgsTD+9Wo43b1ZqtBnQK
oM3rakcZ+kptCwAJPhTA9bb/NNbcsdre
-----END PUBLIC KEY-----
";
    let dir = suite().join("managed-key-happy-path");
    let bundle =
        Bundle::from_json(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    let artifact = std::fs::read(suite().join("a.txt")).unwrap();
    let policy = Policy::key_from_pem(P384_KEY).unwrap();
    let root = TrustedRoot::public_good().unwrap();
    let digest = Artifact::Bytes(&artifact).sha256();
    let err = verify(&bundle, Artifact::Sha256(digest), &policy, &root, None).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    // With the bytes, it is simply the wrong key.
    let err = verify(&bundle, Artifact::Bytes(&artifact), &policy, &root, None).unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err}");
}
