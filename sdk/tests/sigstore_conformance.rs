//! Runs every case of the sigstore-conformance `bundle-verify` suite through the SDK's verifier.
#![cfg(feature = "sigstore")]
// A test may unwrap: a failing assertion is what a test is for (clippy.toml allows it in test
// functions; the helpers here are test code too).
#![allow(clippy::unwrap_used)]

#[path = "common/sigstore_cases.rs"]
mod cases;

use cases::{suite, DEFAULT_IDENTITY, DEFAULT_ISSUER};
use custody_sdk::sigstore::{verify, Bundle, Error, Policy, TrustedRoot};

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
    Policy::Identity {
        issuer: issuer.to_string(),
        subject: subject.to_string(),
    }
}

const NOW: i64 = 1_900_000_000; // 2030

#[test]
fn identity_must_match_exactly() {
    let (bundle, artifact, root) = happy();
    let ok = verify(
        &bundle,
        &artifact,
        &identity(DEFAULT_ISSUER, DEFAULT_IDENTITY),
        &root,
        NOW,
    )
    .unwrap();
    let id = ok.identity.unwrap();
    assert_eq!(id.issuer.as_deref(), Some(DEFAULT_ISSUER));
    assert!(id.sans.iter().any(|s| s == DEFAULT_IDENTITY));
    assert_eq!(ok.signing_time.secs, bundle.tlog_entries[0].integrated_time);

    let wrong_subject = identity(DEFAULT_ISSUER, &DEFAULT_IDENTITY.replace("main", "dev"));
    let err = verify(&bundle, &artifact, &wrong_subject, &root, NOW).unwrap_err();
    assert!(
        err.to_string().contains("identity: certificate subject"),
        "{err}"
    );

    let prefix = identity(
        DEFAULT_ISSUER,
        &DEFAULT_IDENTITY[..DEFAULT_IDENTITY.len() - 1],
    );
    assert!(verify(&bundle, &artifact, &prefix, &root, NOW).is_err());

    let wrong_issuer = identity("https://accounts.google.com", DEFAULT_IDENTITY);
    let err = verify(&bundle, &artifact, &wrong_issuer, &root, NOW).unwrap_err();
    assert!(
        err.to_string().contains("identity: certificate issuer"),
        "{err}"
    );
}

#[test]
fn log_time_after_now_is_refused() {
    let (bundle, artifact, root) = happy();
    let t = bundle.tlog_entries[0].integrated_time;
    let policy = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);
    assert!(verify(&bundle, &artifact, &policy, &root, t).is_ok());
    let err = verify(&bundle, &artifact, &policy, &root, t - 1).unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");
}

#[test]
fn tampered_log_entry_fields_are_refused() {
    let (bundle, artifact, root) = happy();
    let policy = identity(DEFAULT_ISSUER, DEFAULT_IDENTITY);

    // The signed entry timestamp covers the integrated time and the log index.
    let mut b = bundle.clone();
    b.tlog_entries[0].integrated_time += 1;
    let err = verify(&b, &artifact, &policy, &root, NOW).unwrap_err();
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");
    let mut b = bundle.clone();
    b.tlog_entries[0].log_index += 1;
    assert!(verify(&b, &artifact, &policy, &root, NOW).is_err());

    // The inclusion proof.
    let mut b = bundle.clone();
    b.tlog_entries[0]
        .inclusion_proof
        .as_mut()
        .unwrap()
        .log_index += 1;
    assert!(verify(&b, &artifact, &policy, &root, NOW).is_err());

    // No log entry at all.
    let mut b = bundle.clone();
    b.tlog_entries.clear();
    let err = verify(&b, &artifact, &policy, &root, NOW).unwrap_err();
    assert!(
        err.to_string().contains("no transparency log entry"),
        "{err}"
    );

    // Another artifact.
    let err = verify(&bundle, b"not the artifact", &policy, &root, NOW).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
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
