//! Test probe (not a policy): the SDK's Sigstore verifier behind one waPC operation, `verify`, so
//! that the host tests can run it compiled to wasm in the wasmtime host.
//!
//! Request (JSON):
//! `{"bundle": "<bundle JSON text>", "artifact": "<base64>" | "artifact_sha256": "<64 hex>",
//! "policy": {"issuer": M, "subject": M} | {"key_pem": "..."}, "trusted_root": "<JSON text>"
//! (optional: the embedded public-good root), "now": <Unix seconds> | null (no clock)}`, where a
//! matcher `M` is `"<exact>"`, `{"prefix": "..."}` or `{"regex": "..."}`. Exactly one of
//! `artifact` and `artifact_sha256`.
//!
//! Answer: `{"ok": true, "signing_time": {"secs", "nanos"} | null, "identity": {"issuer", "sans",
//! "build_signer_uri", ... (every field of `Identity`)} | null}`
//! or `{"ok": false, "kind": K, "error": "<message>"}`, where `K` is the [`Error`] variant:
//! `"malformed"`, `"unsupported"`, or the stage of a failed check: `"identity"`, `"signature"`,
//! `"certificate"`, `"transparency-log"`, `"timestamp"` (`"invalid"`: another). A request the
//! probe cannot read is a waPC error, not an answer.
#![deny(unsafe_code)] // `export_operations!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use base64::Engine as _;
use custody_sigstore::{
    verify, Artifact, Bundle, Error, Matcher, Policy, PublicKey, TrustedRoot, Verified,
};
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
    #[serde(default)]
    pub artifact: Option<String>,
    /// Or only its SHA-256 digest, 64 hex digits.
    #[serde(default)]
    pub artifact_sha256: Option<String>,
    /// Who must have signed.
    pub policy: PolicyRequest,
    /// A `trusted_root.json`, as JSON text; `None`: the embedded public-good root.
    #[serde(default)]
    pub trusted_root: Option<String>,
    /// The verification time, Unix seconds; `None`: no clock.
    #[serde(default)]
    pub now: Option<i64>,
}

/// Who must have signed: an OIDC identity or a public key.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PolicyRequest {
    /// A Fulcio certificate for this issuer and subject.
    Identity {
        /// The OIDC issuer.
        issuer: MatcherRequest,
        /// The SAN (URI or email).
        subject: MatcherRequest,
    },
    /// A PEM `PUBLIC KEY`.
    Key {
        /// The key.
        key_pem: String,
    },
}

/// How an issuer or subject must look: a string (exactly), a prefix or a regular expression.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum MatcherRequest {
    /// Exactly this string.
    Exact(String),
    /// A prefix.
    Prefix {
        /// The prefix.
        prefix: String,
    },
    /// A regular expression, matching the whole string.
    Regex {
        /// The pattern.
        regex: String,
    },
}

impl MatcherRequest {
    fn matcher(&self) -> Result<Matcher, Error> {
        match self {
            MatcherRequest::Exact(s) => Ok(Matcher::exact(s.as_str())),
            MatcherRequest::Prefix { prefix } => Matcher::prefix(prefix.as_str()),
            MatcherRequest::Regex { regex } => Matcher::regex(regex),
        }
    }
}

/// The waPC operations: `verify`, and the stages of a verification one at a time, for the
/// profile (`host-tests/benches/profile.rs` counts the wasm instructions of each call):
/// - `noop`: nothing (what a call costs);
/// - `trusted_root`: parses the embedded public-good trusted root;
/// - `bundle`: parses the payload, a bundle's JSON;
/// - `certificate`: parses the payload, a DER X.509 certificate;
/// - `public_key`: parses a DER SubjectPublicKeyInfo (a [`SignatureCheck`]'s `spki`);
/// - `signature`: the same, then verifies its signature over its message.
pub fn handle(operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let done = |what: String| Ok(what.into_bytes());
    match operation {
        "verify" => {
            let request: Request =
                serde_json::from_slice(payload).map_err(|e| format!("verify request: {e}"))?;
            let answer = answer(run(&request)?);
            serde_json::to_vec(&answer).map_err(|e| e.to_string())
        }
        "noop" => done(format!("{} bytes", payload.len())),
        "trusted_root" => {
            let root = TrustedRoot::public_good().map_err(|e| e.to_string())?;
            done(format!(
                "{} authorities",
                root.certificate_authorities.len()
            ))
        }
        "bundle" => {
            let bundle = Bundle::from_json(payload).map_err(|e| e.to_string())?;
            done(format!("{} log entries", bundle.tlog_entries.len()))
        }
        "certificate" => {
            use x509_cert::der::Decode as _;
            let cert = x509_cert::Certificate::from_der(payload).map_err(|e| e.to_string())?;
            done(format!("version {:?}", cert.tbs_certificate().version()))
        }
        "public_key" | "signature" => {
            let check: SignatureCheck =
                serde_json::from_slice(payload).map_err(|e| format!("{operation}: {e}"))?;
            let bytes = |b64: &str| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("{operation}: {e}"))
            };
            let (spki, message, signature) = (
                bytes(&check.spki)?,
                bytes(&check.message)?,
                bytes(&check.signature)?,
            );
            let key = PublicKey::from_spki_der(&spki).map_err(|e| e.to_string())?;
            if operation == "signature" {
                key.verify(&message, &signature)
                    .map_err(|e| e.to_string())?;
            }
            done(format!("{} bytes signed", message.len()))
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

/// A signature to check (`public_key`, `signature`): standard base64 each.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureCheck {
    /// The key, a DER SubjectPublicKeyInfo.
    pub spki: String,
    /// The signed message (hashed with the key's hash: SHA-256 for P-256, SHA-384 for P-384).
    pub message: String,
    /// The signature (DER ECDSA).
    pub signature: String,
}

/// Verifies one request. The outer `Err` is a request the probe cannot read (bad base64 or hex,
/// not exactly one artifact); the inner result is the verifier's verdict.
pub fn run(request: &Request) -> Result<Result<Verified, Error>, String> {
    match (&request.artifact, &request.artifact_sha256) {
        (Some(b64), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("verify request: artifact: {e}"))?;
            Ok(verify_inputs(request, Artifact::Bytes(&bytes)))
        }
        (None, Some(hex)) => {
            let digest = sha256_hex(hex).ok_or_else(|| {
                format!("verify request: artifact_sha256 {hex:?} is not 64 hex digits")
            })?;
            Ok(verify_inputs(request, Artifact::Sha256(digest)))
        }
        _ => Err("verify request: needs exactly one of artifact, artifact_sha256".to_string()),
    }
}

fn sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let digit = |c: &u8| char::from(*c).to_digit(16);
        let [high, low] = pair else { return None };
        *byte = u8::try_from(digit(high)? * 16 + digit(low)?).ok()?;
    }
    Some(out)
}

fn verify_inputs(request: &Request, artifact: Artifact<'_>) -> Result<Verified, Error> {
    let trust = match &request.trusted_root {
        Some(json) => TrustedRoot::from_json(json.as_bytes())?,
        None => TrustedRoot::public_good()?,
    };
    let policy = match &request.policy {
        PolicyRequest::Key { key_pem } => Policy::key_from_pem(key_pem)?,
        PolicyRequest::Identity { issuer, subject } => Policy::Identity {
            issuer: issuer.matcher()?,
            subject: subject.matcher()?,
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
            "signing_time": verified.signing_time.map(|t| json!({
                "secs": t.secs,
                "nanos": t.nanos,
            })),
            "identity": verified.identity.map(|id| json!({
                "issuer": id.issuer,
                "sans": id.sans,
                "build_signer_uri": id.build_signer_uri,
                "build_signer_digest": id.build_signer_digest,
                "runner_environment": id.runner_environment,
                "source_repository_uri": id.source_repository_uri,
                "source_repository_digest": id.source_repository_digest,
                "source_repository_ref": id.source_repository_ref,
                "build_config_uri": id.build_config_uri,
                "build_trigger": id.build_trigger,
                "run_invocation_uri": id.run_invocation_uri,
            })),
        }),
        Err(error) => {
            let kind = match &error {
                Error::Malformed(_) => "malformed",
                Error::Unsupported(_) => "unsupported",
                Error::Identity(_) => "identity",
                Error::Signature(_) => "signature",
                Error::Certificate(_) => "certificate",
                Error::TransparencyLog(_) => "transparency-log",
                Error::Timestamp(_) => "timestamp",
                _ => "invalid",
            };
            json!({"ok": false, "kind": kind, "error": error.message()})
        }
    }
}
