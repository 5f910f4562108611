//! Test probe (not a policy): the SDK's Sigstore verifier behind one waPC operation, `verify`, so
//! that the host tests can run it compiled to wasm in the wasmtime host.
//!
//! Request (JSON):
//! `{"bundle": "<bundle JSON text>", "artifact": "<base64>", "policy": {"issuer": "...",
//! "subject": "..."} | {"key_pem": "..."}, "trusted_root": "<JSON text>" (optional: the embedded
//! public-good root), "now": <Unix seconds>}`.
//!
//! Answer: `{"ok": true, "signing_time": {"secs", "nanos"}, "identity": {"issuer", "sans"} | null}`
//! or `{"ok": false, "kind": "malformed" | "invalid" | "unsupported", "error": "<message>"}`. A
//! request the probe cannot read is a waPC error, not an answer.
#![deny(unsafe_code)] // `export_operations!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use base64::Engine as _;
use custody_sdk::sigstore::{verify, Bundle, Error, Policy, TrustedRoot, Verified};
use serde::Deserialize;
use serde_json::{json, Value};

custody_sdk::export_operations!(handle);

/// The `verify` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The bundle, as JSON text.
    pub bundle: String,
    /// The artifact, standard base64.
    pub artifact: String,
    /// Who must have signed.
    pub policy: PolicyRequest,
    /// A `trusted_root.json`, as JSON text; `None`: the embedded public-good root.
    #[serde(default)]
    pub trusted_root: Option<String>,
    /// The verification time, Unix seconds.
    pub now: i64,
}

/// Who must have signed: an OIDC identity or a public key.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PolicyRequest {
    /// A Fulcio certificate for this issuer and subject.
    Identity {
        /// The OIDC issuer.
        issuer: String,
        /// The SAN (URI or email).
        subject: String,
    },
    /// A PEM `PUBLIC KEY`.
    Key {
        /// The key.
        key_pem: String,
    },
}

/// The waPC operations: `verify` alone.
pub fn handle(operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    match operation {
        "verify" => {
            let request: Request =
                serde_json::from_slice(payload).map_err(|e| format!("verify request: {e}"))?;
            let answer = answer(run(&request)?);
            serde_json::to_vec(&answer).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

/// Verifies one request. The outer `Err` is a request the probe cannot read (bad base64); the
/// inner result is the verifier's verdict.
pub fn run(request: &Request) -> Result<Result<Verified, Error>, String> {
    let artifact = base64::engine::general_purpose::STANDARD
        .decode(&request.artifact)
        .map_err(|e| format!("verify request: artifact: {e}"))?;
    Ok(verify_inputs(request, &artifact))
}

fn verify_inputs(request: &Request, artifact: &[u8]) -> Result<Verified, Error> {
    let trust = match &request.trusted_root {
        Some(json) => TrustedRoot::from_json(json.as_bytes())?,
        None => TrustedRoot::public_good()?,
    };
    let policy = match &request.policy {
        PolicyRequest::Key { key_pem } => Policy::key_from_pem(key_pem)?,
        PolicyRequest::Identity { issuer, subject } => Policy::Identity {
            issuer: issuer.clone(),
            subject: subject.clone(),
        },
    };
    let bundle = Bundle::from_json(request.bundle.as_bytes())?;
    verify(&bundle, artifact, &policy, &trust, request.now)
}

/// The answer for a verdict.
pub fn answer(verdict: Result<Verified, Error>) -> Value {
    match verdict {
        Ok(verified) => json!({
            "ok": true,
            "signing_time": {
                "secs": verified.signing_time.secs,
                "nanos": verified.signing_time.nanos,
            },
            "identity": verified.identity.map(|id| json!({
                "issuer": id.issuer,
                "sans": id.sans,
            })),
        }),
        Err(error) => {
            let (kind, message) = match error {
                Error::Malformed(m) => ("malformed", m),
                Error::Invalid(m) => ("invalid", m),
                Error::Unsupported(m) => ("unsupported", m),
            };
            json!({"ok": false, "kind": kind, "error": message})
        }
    }
}
