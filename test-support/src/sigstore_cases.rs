//! The sigstore-conformance `bundle-verify` suite: where it is, and what each case verifies
//! (bundle, artifact, policy, trusted root), decided in one place. Included by path by the SDK's
//! native conformance test (`sdk/tests/sigstore_conformance.rs`) and by the host tests, which run
//! the same cases through the verifier compiled to wasm (`host-tests/tests/sigstore_in_wasm.rs`).

use custody_sigstore::{verify, Artifact, Bundle, Error, Policy, TrustedRoot, Verified};
use std::path::{Path, PathBuf};

/// The identity a case verifies against unless it has `identity` / `issuer` files.
pub const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/// See [`DEFAULT_IDENTITY`].
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The suite's directory. Both crates that include this file (`sdk/`, `host-tests/`) are one level
/// below the repository root, which is next to `shared/`.
pub fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/sigstore-conformance/test/assets/bundle-verify")
}

/// Who must have signed, as a case says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasePolicy {
    /// An OIDC identity (`issuer` and `identity` files, else the defaults).
    Identity { issuer: String, subject: String },
    /// A public key (`key.pub`, PEM).
    Key { pem: String },
}

/// One case's inputs, read but not parsed: parsing is part of what is tested.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case directory's name.
    pub name: String,
    /// Names ending in `_fail` must not verify.
    pub must_fail: bool,
    /// `bundle.sigstore.json`.
    pub bundle: Vec<u8>,
    /// `artifact`, else the suite's shared `a.txt`.
    pub artifact: Vec<u8>,
    /// `trusted_root.json`; `None`: the public-good root.
    pub trusted_root: Option<Vec<u8>>,
    /// `key.pub`, else an identity.
    pub policy: CasePolicy,
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

impl Case {
    /// Reads the case in `dir`. Panics if its bundle or artifact is missing: the suite is broken.
    pub fn read(dir: &Path) -> Case {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let artifact = std::fs::read(dir.join("artifact"))
            .or_else(|_| std::fs::read(dir.join("../a.txt")))
            .unwrap_or_else(|e| panic!("{name}: artifact: {e}"));
        let policy = match std::fs::read_to_string(dir.join("key.pub")) {
            Ok(pem) => CasePolicy::Key { pem },
            Err(_) => CasePolicy::Identity {
                issuer: read_trimmed(&dir.join("issuer"))
                    .unwrap_or_else(|| DEFAULT_ISSUER.to_string()),
                subject: read_trimmed(&dir.join("identity"))
                    .unwrap_or_else(|| DEFAULT_IDENTITY.to_string()),
            },
        };
        let bundle = std::fs::read(dir.join("bundle.sigstore.json"))
            .unwrap_or_else(|e| panic!("{name}: bundle: {e}"));
        Case {
            must_fail: name.ends_with("_fail"),
            name,
            bundle,
            artifact,
            trusted_root: std::fs::read(dir.join("trusted_root.json")).ok(),
            policy,
        }
    }

    /// Verifies the case with the SDK's verifier, natively, at `now` (Unix seconds). Parses the
    /// trusted root, then the policy, then the bundle: the first error wins.
    pub fn verify_native(&self, now: i64) -> Result<Verified, Error> {
        self.verify_with(Artifact::Bytes(&self.artifact), Some(now))
    }

    /// [`Case::verify_native`] with another view of the artifact (its bytes or its digest) and
    /// an optional clock.
    pub fn verify_with(&self, artifact: Artifact<'_>, now: Option<i64>) -> Result<Verified, Error> {
        let trust = match &self.trusted_root {
            Some(json) => TrustedRoot::from_json(json)?,
            None => TrustedRoot::public_good()?,
        };
        let policy = match &self.policy {
            CasePolicy::Key { pem } => Policy::key_from_pem(pem)?,
            CasePolicy::Identity { issuer, subject } => {
                Policy::identity(issuer.clone(), subject.clone())
            }
        };
        let bundle = Bundle::from_json(&self.bundle)?;
        verify(&bundle, artifact, &policy, &trust, now)
    }
}

/// Every case of the suite, sorted by name. Panics if the suite is missing or has fewer than 70
/// cases: a conformance test that finds nothing to run must fail.
pub fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(suite())
        .unwrap_or_else(|e| panic!("the sigstore-conformance suite in shared/testdata: {e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 70, "suite has {} cases", dirs.len());
    dirs.iter().map(|d| Case::read(d)).collect()
}

/// The current time, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
