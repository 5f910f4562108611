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
//! - [`cosign::signature_bundle`]: a cosign image signature layer (tag `sha256-<hex>.sig`) as a
//!   bundle v0.1 whose message signature carries the signed simple-signing payload
//!   ([`Bundle::message`], read with [`cosign::SimpleSigning`]);
//! - [`verify`]: checks a bundle against an [`Artifact`] (its bytes, or only its SHA-256 digest,
//!   as for a container image), a [`Policy`] (an OIDC identity, issuer and subject each matched
//!   by a [`Matcher`]: exactly, by prefix or by an anchored regular expression; a public key; or
//!   a configured certificate and chain, [`CertificatePolicy`]; the last two with or without a
//!   transparency log entry required) and a trusted root, at a time the caller gives, or none
//!   (wasm32-unknown-unknown has no clock: then only the "not in the future" checks are skipped).
//!   It returns the verified signing time (none for a bundle signed without a log, when the
//!   policy allows it) and the certificate's [`Identity`]: issuer, SANs and the Fulcio build
//!   extensions (build signer, source repository, digest and ref, build config, trigger, run...).
//!
//! What is verified, in order: the certificate's identity, first, so that a bundle by another
//! signer is refused before any cryptography; the artifact signature (message signature or DSSE
//! envelope whose in-toto statement must name the artifact's digest as a subject; ECDSA P-256
//! and P-384, RSA PKCS#1 v1.5 for certificate chains, Ed25519 for Rekor v2 checkpoints); RFC 3161
//! timestamps over the signature (from a timestamp authority of the trusted root); each Rekor
//! entry: v1 (signed entry timestamp) or v2 (`hashedrekord` 0.0.2 and `dsse` 0.0.2, timed by
//! RFC 3161 timestamps), its RFC 6962 inclusion proof and signed checkpoint, and that its body
//! records this signature, certificate or key, and artifact digest or DSSE envelope, as its kind
//! does: `hashedrekord` 0.0.1 and 0.0.2, `rekord` 0.0.1 (x509 signatures: cosign's image
//! signatures of 2021), `dsse` 0.0.1 and 0.0.2, `intoto` 0.0.2 (payload hash,
//! payload type, signatures and keys) and `intoto` 0.0.1 (what cosign before v2 logged: the
//! hashes of the envelope's bytes as submitted and of its payload, and the certificate or key;
//! the bytes are the bundle's [`DsseEnvelope::raw`] when it has them, else the envelope
//! serialised as cosign submitted it); then the Fulcio certificate chained to a trusted CA and
//! valid at every verified signing time, and its embedded SCTs (one must verify with a CT log of
//! the trusted root); or, for a certificate policy, the configured certificate and chain valid
//! at every verified signing time (at the caller's time when there is none).
//!
//! Not supported: Rekor entry kinds and versions other than those above (`rekord` with PGP,
//! minisign or SSH signatures, `intoto` 0.0.3...); an `intoto` 0.0.1 entry whose envelope bytes the bundle neither carries nor
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
    TlogEntry, DSSE_IN_TOTO,
};
pub use cert::Identity;
pub use crypto::PublicKey;
pub use matcher::{Matcher, Pattern, Prefix};
pub use time::{parse_rfc3339, Timestamp};
pub use trust::{CertificateAuthority, TimeRange, TransparencyLog, TrustedRoot};
pub use verify::{
    check_signer, pae, verify, Artifact, CertificatePolicy, Policy, Verified,
    GITHUB_ACTIONS_ISSUER, MAX_TIMESTAMPS, MAX_TLOG_ENTRIES,
};

use std::borrow::Cow;
use std::fmt;

/// Why verification failed: the input could not be read, uses something not implemented, or
/// failed a check, and then at which stage (the signer, the signature, the certificate, the
/// transparency log, the timestamps), so that a caller can branch on the reason without reading
/// the message.
///
/// [`Display`](fmt::Display) is `malformed: …`, `unsupported: …`, or `invalid: …` for every failed
/// check (the message names the stage); [`Error::message`] is the text without that kind. New
/// variants may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bundle, trusted root, key or setting is malformed (bad JSON, base64, PEM, DER, a
    /// missing field...).
    Malformed(String),
    /// The input uses something this verifier does not implement (a Rekor entry kind, a hash
    /// algorithm, a message signature by a P-384 key against a digest...).
    Unsupported(String),
    /// The signer is not the policy's: the certificate's OIDC issuer or subject does not match, or
    /// the bundle is signed with another kind of material (a key for an identity policy, a
    /// certificate for a key policy), or with another certificate than a certificate policy's.
    /// Checked first, before any signature. (A key policy's key is not compared: a bundle by
    /// another key fails as [`Error::Signature`].) Boxed, so that every
    /// `Result<_, Error>` stays small; made with `Error::from(IdentityMismatch::…)`.
    Identity(Box<IdentityMismatch>),
    /// The artifact's signature: the message signature or the DSSE envelope's signature does not
    /// verify with the signer's key, the message digest is not the artifact's, or the in-toto
    /// statement does not name the artifact as a subject.
    Signature(String),
    /// The signing certificate: its chain to a certificate authority of the trusted root, the
    /// validity of each certificate and authority at the signing time, its key usage, or its
    /// embedded SCTs (certificate transparency).
    Certificate(String),
    /// A transparency log (Rekor) entry: missing, from a log the trusted root does not have, its
    /// signed entry timestamp or integrated time, its inclusion proof or checkpoint, or a body
    /// that does not record this bundle's signature, signer and artifact or envelope.
    TransparencyLog(String),
    /// An RFC 3161 timestamp (its authority, signature, imprint, time), or no verified signing
    /// time at all.
    Timestamp(String),
}

/// How a bundle's signer differs from the one a [`Policy`] wants: what was expected and what
/// the bundle has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityMismatch {
    /// The policy wants a certificate identity; the bundle is signed with a key.
    SignedWithKey,
    /// The policy wants a key; the bundle is signed with a certificate.
    SignedWithCertificate,
    /// The policy wants a certain certificate ([`Policy::Certificate`]); the bundle is signed
    /// with another one.
    OtherCertificate,
    /// The certificate's OIDC issuer does not match.
    Issuer {
        /// The policy's issuer.
        expected: Matcher,
        /// The certificate's issuer (`None`: it has none).
        found: Option<String>,
    },
    /// None of the certificate's subjects (SAN URIs and emails) matches.
    Subject {
        /// The policy's subject.
        expected: Matcher,
        /// The certificate's SANs (maybe none).
        found: Vec<String>,
    },
}

impl fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityMismatch::SignedWithKey => write!(
                f,
                "bundle is signed with a key, but no key was given (identity policy)"
            ),
            IdentityMismatch::SignedWithCertificate => write!(
                f,
                "bundle is signed with a certificate, but a key policy was given"
            ),
            IdentityMismatch::Issuer {
                expected,
                found: Some(found),
            } => write!(f, "certificate issuer {found:?} does not match {expected}"),
            IdentityMismatch::OtherCertificate => write!(
                f,
                "bundle is signed with another certificate than the policy's"
            ),
            IdentityMismatch::Issuer {
                expected,
                found: None,
            } => write!(
                f,
                "certificate has no OIDC issuer extension (Fulcio wrote none before 2022; wanted {expected})"
            ),
            IdentityMismatch::Subject { expected, found } => match found.as_slice() {
                [] => write!(
                    f,
                    "certificate has no subject (SAN URI or email; wanted {expected})"
                ),
                [one] => write!(f, "certificate subject {one:?} does not match {expected}"),
                many => write!(f, "certificate subject {many:?} does not match {expected}"),
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(m) => write!(f, "malformed: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            _ => write!(f, "invalid: {}", self.message()),
        }
    }
}

impl Error {
    /// What went wrong, without the kind (`malformed:`, ...): for messages that say where the
    /// error is, such as a settings field. An identity mismatch reads `identity mismatch: …`.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Error::Malformed(m)
            | Error::Unsupported(m)
            | Error::Signature(m)
            | Error::Certificate(m)
            | Error::TransparencyLog(m)
            | Error::Timestamp(m) => Cow::Borrowed(m),
            Error::Identity(mismatch) => Cow::Owned(format!("identity mismatch: {mismatch}")),
        }
    }
}

impl std::error::Error for Error {}

impl From<IdentityMismatch> for Error {
    fn from(mismatch: IdentityMismatch) -> Self {
        Error::Identity(Box::new(mismatch))
    }
}

pub(crate) fn malformed(m: impl Into<String>) -> Error {
    Error::Malformed(m.into())
}

pub(crate) fn unsupported(m: impl Into<String>) -> Error {
    Error::Unsupported(m.into())
}

pub(crate) fn signature_invalid(m: impl Into<String>) -> Error {
    Error::Signature(m.into())
}

pub(crate) fn certificate_invalid(m: impl Into<String>) -> Error {
    Error::Certificate(m.into())
}

pub(crate) fn tlog_invalid(m: impl Into<String>) -> Error {
    Error::TransparencyLog(m.into())
}

pub(crate) fn timestamp_invalid(m: impl Into<String>) -> Error {
    Error::Timestamp(m.into())
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
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_kind_and_the_message() {
        let issuer = Matcher::exact("https://issuer.example");
        let subject = Matcher::prefix("https://github.com/org/").unwrap();
        let cases = [
            (
                Error::from(IdentityMismatch::Issuer {
                    expected: issuer.clone(),
                    found: Some("https://other.example".into()),
                }),
                r#"identity mismatch: certificate issuer "https://other.example" does not match exact "https://issuer.example""#,
            ),
            (
                Error::from(IdentityMismatch::Issuer {
                    expected: issuer,
                    found: None,
                }),
                r#"identity mismatch: certificate has no OIDC issuer extension (Fulcio wrote none before 2022; wanted exact "https://issuer.example")"#,
            ),
            (
                Error::from(IdentityMismatch::Subject {
                    expected: subject.clone(),
                    found: vec![],
                }),
                r#"identity mismatch: certificate has no subject (SAN URI or email; wanted prefix "https://github.com/org/")"#,
            ),
            (
                Error::from(IdentityMismatch::Subject {
                    expected: subject.clone(),
                    found: vec!["a@example.com".into()],
                }),
                r#"identity mismatch: certificate subject "a@example.com" does not match prefix "https://github.com/org/""#,
            ),
            (
                Error::from(IdentityMismatch::Subject {
                    expected: subject,
                    found: vec!["a".into(), "b".into()],
                }),
                r#"identity mismatch: certificate subject ["a", "b"] does not match prefix "https://github.com/org/""#,
            ),
            (
                Error::from(IdentityMismatch::SignedWithKey),
                "identity mismatch: bundle is signed with a key, but no key was given (identity policy)",
            ),
            (
                Error::from(IdentityMismatch::OtherCertificate),
                "identity mismatch: bundle is signed with another certificate than the policy's",
            ),
            (
                Error::Signature("DSSE signature does not verify".into()),
                "DSSE signature does not verify",
            ),
            (Error::TransparencyLog("tlog".into()), "tlog"),
            (Error::Certificate("chain".into()), "chain"),
            (Error::Timestamp("RFC 3161".into()), "RFC 3161"),
        ];
        for (error, message) in cases {
            assert_eq!(error.message(), message);
            assert_eq!(error.to_string(), format!("invalid: {message}"));
        }
        assert_eq!(malformed("m").to_string(), "malformed: m");
        assert_eq!(malformed("m").message(), "m");
        assert_eq!(unsupported("u").to_string(), "unsupported: u");
        assert_eq!(unsupported("u").message(), "u");
    }
}
