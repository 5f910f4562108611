//! Verifying a bundle: what the signer must be, and the checks in order.

use super::bundle::{Bundle, Content, DsseEnvelope, SigningMaterial};
use super::cert::{self, Identity};
use super::matcher::Matcher;
use super::rekor;
use super::sct;
use super::time::Timestamp;
use super::timestamp;
use super::trust::TrustedRoot;
use super::{
    hex, malformed, sha256, signature_invalid, timestamp_invalid, tlog_invalid, Error,
    IdentityMismatch, PublicKey,
};
use serde_json::Value;

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Policy {
    /// A Fulcio certificate whose OIDC issuer and subject (a SAN: URI or email) match these.
    Identity { issuer: Matcher, subject: Matcher },
    /// A known public key (no certificate); `spki` is its DER SubjectPublicKeyInfo.
    Key { key: PublicKey, spki: Vec<u8> },
}

impl Policy {
    /// An identity policy that matches the issuer and the subject exactly.
    pub fn identity(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Policy::Identity {
            issuer: Matcher::Exact(issuer.into()),
            subject: Matcher::Exact(subject.into()),
        }
    }

    /// A key policy from a PEM `PUBLIC KEY`.
    pub fn key_from_pem(pem: &str) -> Result<Self, Error> {
        let (key, spki) = PublicKey::from_pem(pem)?;
        Ok(Policy::Key { key, spki })
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When the signature was made, as proven by the transparency log.
    pub signing_time: Timestamp,
    /// The certificate's identity (`None` for a key policy).
    pub identity: Option<Identity>,
}

/// DSSE pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// What was signed: the artifact's bytes, or only its SHA-256 digest (a container image is known
/// by its manifest digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact<'a> {
    /// The artifact itself.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest. Enough for a DSSE bundle (the digest must be a subject of
    /// its in-toto statement) and for a message signature by a P-256 or RSA key (which sign the
    /// SHA-256 digest of the message); a message signature by another key (P-384: SHA-384 of the
    /// message; Ed25519: the message itself) cannot be checked and is refused as unsupported.
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    /// The artifact's SHA-256 digest.
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(bytes) => sha256(bytes),
            Artifact::Sha256(digest) => *digest,
        }
    }
}

/// Verifies `bundle` for `artifact` (for a DSSE bundle, a subject of its in-toto statement)
/// against `policy` and `trust`.
///
/// `now` is the current time, Unix seconds, from the caller's clock: a log entry or timestamp
/// later than `now` is refused. `None` (no clock, as in wasm32-unknown-unknown) skips only those
/// "not in the future" checks; every time the bundle proves is still checked against the
/// certificate's validity and the trusted root's validity periods.
pub fn verify(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    policy: &Policy,
    trust: &TrustedRoot,
    now: Option<i64>,
) -> Result<Verified, Error> {
    let now = now.map(Timestamp::from_unix);
    let digest = artifact.sha256();
    check_bounds(bundle)?;

    // 1. The signer's key, and its DER as the log records it. A certificate's identity is
    //    checked first, before any signature: a bundle by another signer is refused at once.
    let (key, signer_der, leaf) = match (&bundle.material, policy, signer(bundle, policy)?) {
        (SigningMaterial::Certificate { leaf, chain }, _, Some((cert, id))) => {
            cert::check_bundle_chain(chain)?;
            (cert::public_key(&cert)?, leaf.clone(), Some((cert, id)))
        }
        (_, Policy::Key { key, spki }, _) => (key.clone(), spki.clone(), None),
        // A key for an identity policy (`signer` refused it already).
        (_, Policy::Identity { .. }, _) => {
            return Err(Error::from(IdentityMismatch::SignedWithKey))
        }
    };

    // 2. The signature over the content.
    match &bundle.content {
        Content::MessageSignature {
            digest: hint,
            signature,
        } => {
            if let Some((alg, d)) = hint {
                if alg != "SHA2_256" {
                    return Err(super::unsupported(format!(
                        "message digest algorithm {alg}"
                    )));
                }
                if d.as_slice() != digest {
                    return Err(signature_invalid(
                        "message digest does not match the artifact",
                    ));
                }
            }
            match artifact {
                Artifact::Bytes(bytes) => key.verify(bytes, signature),
                Artifact::Sha256(digest) => match key {
                    PublicKey::P256(_) | PublicKey::Rsa(_) => key.verify_prehash(&digest, signature),
                    PublicKey::P384(_) | PublicKey::Ed25519(_) => {
                        return Err(super::unsupported(
                            "a message signature by a P-384 or Ed25519 key needs the artifact's bytes, not only its SHA-256 digest",
                        ))
                    }
                },
            }
            .map_err(|_| signature_invalid("message signature does not verify over the artifact"))?;
        }
        Content::Dsse(env) => {
            let [sig] = env.signatures.as_slice() else {
                return Err(signature_invalid(
                    "DSSE envelope must have exactly one signature",
                ));
            };
            key.verify(&pae(&env.payload_type, &env.payload), &sig.sig)
                .map_err(|_| signature_invalid("DSSE signature does not verify"))?;
            check_subject(env, &digest)?;
        }
    }

    // 3. RFC 3161 timestamps over the signature, each must verify.
    let signature = match &bundle.content {
        Content::MessageSignature { signature, .. } => signature.as_slice(),
        Content::Dsse(env) => env
            .signatures
            .first()
            .map(|s| s.sig.as_slice())
            .unwrap_or_default(),
    };
    // A trusted root without timestamp authorities cannot vouch for any timestamp: they are then
    // ignored, and the time must come from the log.
    let mut tsa_times = Vec::new();
    let timestamps = if trust.timestamp_authorities.is_empty() {
        &[][..]
    } else {
        bundle.rfc3161_timestamps.as_slice()
    };
    for ts in timestamps {
        let t = timestamp::verify_timestamp(ts, signature, trust)?;
        if let Some(now) = now.filter(|now| t > *now) {
            return Err(timestamp_invalid(format!(
                "RFC 3161 timestamp {t} is in the future (now {now})"
            )));
        }
        tsa_times.push(t);
    }

    // 4. The transparency log: every entry must verify and record this signature.
    if bundle.tlog_entries.is_empty() {
        return Err(tlog_invalid("bundle has no transparency log entry"));
    }
    let mut times = tsa_times.clone();
    for entry in &bundle.tlog_entries {
        times.extend(rekor::verify_entry(entry, trust, now, &tsa_times)?);
        rekor::check_body(entry, &bundle.content, &signer_der, &digest)?;
    }
    // The chain is checked once per distinct time (a bundle may repeat one).
    times.sort_unstable();
    times.dedup();
    let signing_time = times.first().copied().ok_or_else(|| {
        timestamp_invalid(
            "no verified signing time (no signed entry timestamp, no RFC 3161 timestamp)",
        )
    })?;

    // 5. The certificate: chain and validity at every verified time, SCTs.
    let identity = match (leaf, &bundle.material) {
        (Some((cert, id)), SigningMaterial::Certificate { chain, .. }) => {
            let mut issuer_spki = Vec::new();
            for t in &times {
                issuer_spki = cert::verify_chain(&cert, chain, trust, *t)?;
            }
            sct::verify_scts(&cert, &issuer_spki, trust)?;
            Some(id)
        }
        _ => None,
    };
    Ok(Verified {
        signing_time,
        identity,
    })
}

/// At most this many transparency log entries in a bundle (each costs a signature check; real
/// bundles have one).
pub const MAX_TLOG_ENTRIES: usize = 4;
/// At most this many RFC 3161 timestamps in a bundle (each costs a CMS signature and a chain
/// check; real bundles have none or one).
pub const MAX_TIMESTAMPS: usize = 4;

/// A bundle may not make the verifier work without bound: it is refused, naming the bound, when
/// it carries more log entries or timestamps than [`MAX_TLOG_ENTRIES`] and [`MAX_TIMESTAMPS`].
fn check_bounds(bundle: &Bundle) -> Result<(), Error> {
    let entries = bundle.tlog_entries.len();
    if entries > MAX_TLOG_ENTRIES {
        return Err(tlog_invalid(format!(
            "bundle has {entries} transparency log entries, more than the {MAX_TLOG_ENTRIES} verified at most"
        )));
    }
    let timestamps = bundle.rfc3161_timestamps.len();
    if timestamps > MAX_TIMESTAMPS {
        return Err(timestamp_invalid(format!(
            "bundle has {timestamps} RFC 3161 timestamps, more than the {MAX_TIMESTAMPS} verified at most"
        )));
    }
    Ok(())
}

/// The first, cheap step of [`verify`] alone: whether the bundle's signer can be the one `policy`
/// wants (a certificate whose identity matches, or a key for a key policy), before any
/// signature is checked. An `Ok` here proves nothing about the bundle; [`verify`] does.
pub fn check_signer(bundle: &Bundle, policy: &Policy) -> Result<(), Error> {
    signer(bundle, policy).map(|_| ())
}

/// Step 1 of [`verify`]: the signing material must be the kind `policy` wants, and a
/// certificate's identity must match it. Returns the parsed certificate and its identity (`None`
/// for a key).
fn signer(
    bundle: &Bundle,
    policy: &Policy,
) -> Result<Option<(x509_cert::Certificate, Identity)>, Error> {
    match (&bundle.material, policy) {
        (SigningMaterial::Certificate { leaf, .. }, Policy::Identity { issuer, subject }) => {
            let cert = cert::parse("bundle certificate", leaf)?;
            let id = cert::identity(&cert)?;
            check_identity(&id, issuer, subject)?;
            Ok(Some((cert, id)))
        }
        (SigningMaterial::PublicKey { .. }, Policy::Key { .. }) => Ok(None),
        (SigningMaterial::PublicKey { .. }, Policy::Identity { .. }) => {
            Err(Error::from(IdentityMismatch::SignedWithKey))
        }
        (SigningMaterial::Certificate { .. }, Policy::Key { .. }) => {
            Err(Error::from(IdentityMismatch::SignedWithCertificate))
        }
    }
}

/// The certificate's issuer must match `issuer`, and one of its SANs `subject`.
fn check_identity(id: &Identity, issuer: &Matcher, subject: &Matcher) -> Result<(), Error> {
    if !id
        .issuer
        .as_deref()
        .is_some_and(|found| issuer.matches(found))
    {
        return Err(Error::from(IdentityMismatch::Issuer {
            expected: issuer.clone(),
            found: id.issuer.clone(),
        }));
    }
    if !id.sans.iter().any(|s| subject.matches(s)) {
        return Err(Error::from(IdentityMismatch::Subject {
            expected: subject.clone(),
            found: id.sans.clone(),
        }));
    }
    Ok(())
}

/// A DSSE bundle's artifact is the subject of its in-toto statement.
fn check_subject(env: &DsseEnvelope, digest: &[u8; 32]) -> Result<(), Error> {
    let statement = env.statement()?;
    let want = hex(digest);
    let found = statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("in-toto statement: no subject list"))?
        .iter()
        .any(|s| {
            s.get("digest")
                .and_then(|d| d.get("sha256"))
                .and_then(Value::as_str)
                == Some(want.as_str())
        });
    if !found {
        return Err(signature_invalid(
            "in-toto statement: the artifact is not a subject",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
