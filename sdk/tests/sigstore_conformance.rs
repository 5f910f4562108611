//! Runs every case of the sigstore-conformance `bundle-verify` suite through the SDK's verifier.
#![cfg(feature = "sigstore")]

use custody_sdk::sigstore::{verify, Bundle, Error, Policy, TrustedRoot};
use std::path::{Path, PathBuf};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Cases this verifier does not classify right yet, each with the reason. None at present: keep
/// it that way, or say here why a case is listed.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/sigstore-conformance/test/assets/bundle-verify")
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Runs one case; `Ok` means the bundle verified.
fn run(dir: &Path, now: i64) -> Result<(), Error> {
    let artifact = std::fs::read(dir.join("artifact"))
        .or_else(|_| std::fs::read(dir.join("../a.txt")))
        .expect("artifact");
    let trust = match std::fs::read(dir.join("trusted_root.json")) {
        Ok(json) => TrustedRoot::from_json(&json)?,
        Err(_) => TrustedRoot::public_good()?,
    };
    let policy = match std::fs::read_to_string(dir.join("key.pub")) {
        Ok(pem) => Policy::key_from_pem(&pem)?,
        Err(_) => Policy::Identity {
            issuer: read_trimmed(&dir.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.to_string()),
            subject: read_trimmed(&dir.join("identity"))
                .unwrap_or_else(|| DEFAULT_IDENTITY.to_string()),
        },
    };
    let bundle =
        Bundle::from_json(&std::fs::read(dir.join("bundle.sigstore.json")).expect("bundle"))?;
    verify(&bundle, &artifact, &policy, &trust, now).map(|_| ())
}

#[test]
fn bundle_verify_conformance() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(suite())
        .expect("the sigstore-conformance suite in shared/testdata")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 70, "suite has {} cases", dirs.len());

    let (mut right, mut wrong_unexpected, mut wrong_known) = (0, Vec::new(), Vec::new());
    let mut stale_exceptions: Vec<String> = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let must_fail = name.ends_with("_fail");
        let result = run(dir, now);
        let ok = result.is_err() == must_fail;
        let outcome = match &result {
            Ok(()) => "verified".to_string(),
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
    println!("\n{right} of {} classified right", dirs.len());
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
