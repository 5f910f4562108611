//! custody-sigstore: Sigstore bundle verification in pure Rust (RustCrypto), for wasm32 and
//! natively alike, with no feature flags and no I/O (the caller gives the bundle, the trusted root
//! and the time).
//!
//! - [`TrustedRoot`]: trust material from a Sigstore `trusted_root.json` (the public-good root is
//!   embedded, [`TrustedRoot::public_good`]);
//! - [`Bundle`]: Sigstore bundles v0.1, v0.2 and v0.3 (both media type spellings);
//! - [`cosign::attestation_bundle`]: a cosign attestation layer (tag `sha256-<hex>.att`) as a
//!   bundle v0.1 (keeping the layer blob, the envelope's logged bytes, when its Rekor entry is
//!   an `intoto` 0.0.1 one: [`DsseEnvelope::raw`]);
//! - [`verify`]: checks a bundle against an [`Artifact`] (its bytes, or only its SHA-256 digest,
//!   as for a container image), a [`Policy`] (an OIDC identity, issuer and subject each matched
//!   by a [`Matcher`]: exactly, by prefix or by an anchored regular expression; or a public key)
//!   and a trusted root, at a time the caller gives, or none (wasm32-unknown-unknown has no clock:
//!   then only the "not in the future" checks are skipped). It returns the verified signing time
//!   and the certificate's [`Identity`]: issuer, SANs and the Fulcio build extensions (build
//!   signer, source repository, digest and ref, build config, trigger, run...).
//!
//! What is verified, in order: the certificate's identity, first, so that a bundle by another
//! signer is refused before any cryptography; the artifact signature (message signature or DSSE
//! envelope whose in-toto statement must name the artifact's digest as a subject; ECDSA P-256
//! and P-384, RSA PKCS#1 v1.5 for certificate chains, Ed25519 for Rekor v2 checkpoints); RFC 3161
//! timestamps over the signature (from a timestamp authority of the trusted root); each Rekor
//! entry: v1 (signed entry timestamp) or v2 (`hashedrekord` 0.0.2 and `dsse` 0.0.2, timed by
//! RFC 3161 timestamps), its RFC 6962 inclusion proof and signed checkpoint, and that its body
//! records this signature, certificate or key, and artifact digest or DSSE envelope, as its kind
//! does: `hashedrekord` 0.0.1 and 0.0.2, `dsse` 0.0.1 and 0.0.2, `intoto` 0.0.2 (payload hash,
//! payload type, signatures and keys) and `intoto` 0.0.1 (what cosign before v2 logged: the
//! hashes of the envelope's bytes as submitted and of its payload, and the certificate or key;
//! the bytes are the bundle's [`DsseEnvelope::raw`] when it has them, else the envelope
//! serialised as cosign submitted it); then the Fulcio certificate chained to a trusted CA and
//! valid at every verified signing time, and its embedded SCTs (one must verify with a CT log of
//! the trusted root).
//!
//! Not supported: Rekor entry kinds and versions other than those above (`rekord`, `intoto`
//! 0.0.3...); an `intoto` 0.0.1 entry whose envelope bytes the bundle neither carries nor
//! reproduces in cosign's form (refused: the envelope hash is never left unchecked); DSSE
//! payload types other than in-toto; a message signature checked against a digest alone when the
//! key does not sign a SHA-256 digest (P-384, Ed25519: [`Error::Unsupported`]); a threshold of
//! several log entries or timestamps (one verified time is enough; every entry and timestamp
//! present must verify). If the trusted root has no timestamp authority, RFC 3161 timestamps in
//! a bundle are ignored and the time must come from a Rekor v1 signed entry timestamp. The in-toto
//! predicate (SLSA provenance...) is not interpreted here: once verified, the caller reads it from
//! the bundle's [`Content::Dsse`] envelope.

mod bundle;
mod cert;
pub mod cosign;
mod crypto;
mod matcher;
pub mod merkle;
mod rekor;
mod sct;
mod time;
mod timestamp;
mod trust;
mod verify;

pub use bundle::{
    Bundle, BundleVersion, Content, DsseEnvelope, DsseSignature, InclusionProof, SigningMaterial,
    TlogEntry,
};
pub use cert::Identity;
pub use crypto::PublicKey;
pub use matcher::{Matcher, Pattern, Prefix};
pub use time::{parse_rfc3339, Timestamp};
pub use trust::{CertificateAuthority, TimeRange, TransparencyLog, TrustedRoot};
pub use verify::{
    check_signer, pae, verify, Artifact, Policy, Verified, MAX_TIMESTAMPS, MAX_TLOG_ENTRIES,
};

use std::fmt;

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bundle, trusted root or key is malformed (bad JSON, base64, DER, missing field).
    Malformed(String),
    /// The input is well-formed but a check failed: the bundle must not be trusted.
    Invalid(String),
    /// The input uses something this verifier does not implement yet (Rekor v2, an Ed25519 key...).
    Unsupported(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(m) => write!(f, "malformed: {m}"),
            Error::Invalid(m) => write!(f, "invalid: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl Error {
    /// What went wrong, without the kind (`malformed:`, ...): for messages that say where the
    /// error is, such as a settings field.
    pub fn message(&self) -> &str {
        match self {
            Error::Malformed(m) | Error::Invalid(m) | Error::Unsupported(m) => m,
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn malformed(m: impl Into<String>) -> Error {
    Error::Malformed(m.into())
}

pub(crate) fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

pub(crate) fn unsupported(m: impl Into<String>) -> Error {
    Error::Unsupported(m.into())
}

/// Standard base64 (with padding), as protobuf-JSON writes bytes. Line breaks are skipped, as
/// the common protobuf-JSON and base64 decoders do (some bundles wrap long values).
pub(crate) fn b64(what: &str, s: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    let joined;
    let s = if s.contains(['\n', '\r']) {
        joined = s.replace(['\n', '\r'], "");
        joined.as_str()
    } else {
        s
    };
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| malformed(format!("{what}: invalid base64: {e}")))
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}
