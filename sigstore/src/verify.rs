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
    certificate_invalid, hex, malformed, sha256, signature_invalid, timestamp_invalid,
    tlog_invalid, Error, IdentityMismatch, PublicKey,
};
use der::Encode as _;
use serde_json::Value;

/// The OIDC issuer of GitHub Actions' workflow identity tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Policy {
    /// A Fulcio certificate whose OIDC issuer and subject (a SAN: URI or email) match these. A
    /// transparency log entry is always required.
    Identity { issuer: Matcher, subject: Matcher },
    /// A known public key (no certificate); `spki` is its DER SubjectPublicKeyInfo.
    /// `require_tlog`: whether the bundle must have a transparency log entry (see
    /// [`Policy::requires_tlog`]).
    Key {
        key: PublicKey,
        spki: Vec<u8>,
        require_tlog: bool,
    },
    /// A configured certificate, optionally issued by a configured chain (not Fulcio's): made
    /// with [`Policy::certificate_from_pem`], see [`CertificatePolicy`].
    Certificate(Box<CertificatePolicy>),
}

/// A certificate policy (Kubewarden's "certificate" verification): the signature must verify
/// with the key of a configured certificate, which was checked, when the policy was made, to be
/// an end-entity code-signing certificate (key usage `digitalSignature`) issued by the
/// configured chain, if any (the issuer first, the last one trusted as given).
///
/// The bundle's signing material is either that very certificate (byte for byte; any chain the
/// bundle carries is ignored) or a public-key hint (the key is the certificate's). The
/// certificate and the chain must be valid at every verified signing time (Rekor's integrated
/// time, RFC 3161 timestamps); with no such time (no log entry required, none present), at
/// `now`, and [`verify`] without a clock then refuses ([`Error::Timestamp`]). Fulcio's SCTs
/// are not required: the certificate is not Fulcio's.
#[derive(Debug, Clone)]
pub struct CertificatePolicy {
    der: Vec<u8>,
    key: PublicKey,
    spki: Vec<u8>,
    chain: Vec<Vec<u8>>,
    identity: Identity,
    require_tlog: bool,
}

impl CertificatePolicy {
    /// The certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.der
    }

    /// Its DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The chain (DER), the certificate's issuer first; empty when none was given.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The certificate's SANs (and the Fulcio extensions it may have), as [`Verified::identity`]
    /// reports them.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl Policy {
    /// An identity policy that matches the issuer and the subject exactly.
    pub fn identity(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Policy::Identity {
            issuer: Matcher::Exact(issuer.into()),
            subject: Matcher::Exact(subject.into()),
        }
    }

    /// A key policy from a PEM `PUBLIC KEY`, that requires a transparency log entry.
    pub fn key_from_pem(pem: &str) -> Result<Self, Error> {
        Self::public_key_from_pem(pem, true)
    }

    /// A key policy from a PEM `PUBLIC KEY`; `require_tlog`: whether the bundle must have a
    /// transparency log entry (`false`: a signature made without a log, as cosign's
    /// `--tlog-upload=false`, is accepted, with no signing time).
    pub fn public_key_from_pem(pem: &str, require_tlog: bool) -> Result<Self, Error> {
        let (key, spki) = PublicKey::from_pem(pem)?;
        Ok(Policy::Key {
            key,
            spki,
            require_tlog,
        })
    }

    /// A GitHub Actions workflow of `owner` (and of `repository`, when given): issuer
    /// [`GITHUB_ACTIONS_ISSUER`], subject starting with `https://github.com/<owner>/` (or
    /// `.../<owner>/<repository>/`). Each name is letters, digits, `-`, `_` and `.` (GitHub's own
    /// rules are narrower), not `.` or `..`, at most 100 characters; a `Malformed` error names the
    /// one that is not (`owner: "my org" is not a GitHub owner name ...`).
    pub fn github_actions(owner: &str, repository: Option<&str>) -> Result<Self, Error> {
        fn name(what: &str, name: &str) -> Result<(), Error> {
            let ok = !name.is_empty()
                && name.len() <= 100
                && name != "."
                && name != ".."
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if ok {
                Ok(())
            } else {
                Err(malformed(format!(
                    "{what}: {name:?} is not a GitHub {what} name (letters, digits, `-`, `_`, `.`)"
                )))
            }
        }
        name("owner", owner)?;
        let mut prefix = format!("https://github.com/{owner}/");
        if let Some(repository) = repository {
            name("repository", repository)?;
            prefix.push_str(repository);
            prefix.push('/');
        }
        Ok(Policy::Identity {
            issuer: Matcher::Exact(GITHUB_ACTIONS_ISSUER.to_owned()),
            subject: Matcher::prefix(prefix)?,
        })
    }

    /// A certificate policy (see [`CertificatePolicy`]): `cert_pem` is one PEM `CERTIFICATE`;
    /// `chain`, PEM certificates (one or more an item), the certificate's issuer first and the
    /// root last, or none (the certificate is then trusted as given); `require_tlog`: whether the
    /// bundle must have a transparency log entry (Kubewarden's `requireRekorBundle`).
    ///
    /// Checked now, not at each verification: the certificate is an end-entity code-signing
    /// certificate whose key usage allows digital signatures, and each certificate of the chain
    /// a CA that signed the one before ([`Error::Certificate`] names the link that fails). Their
    /// validity periods are checked by [`verify`], at the signing time.
    pub fn certificate_from_pem(
        cert_pem: &[u8],
        chain: &[&[u8]],
        require_tlog: bool,
    ) -> Result<Self, Error> {
        let what = "certificate policy";
        let der =
            match cert::pem_certificates(&format!("{what}: certificate"), cert_pem)?.as_slice() {
                [one] => one.clone(),
                many => {
                    return Err(malformed(format!(
                        "{what}: certificate: {} PEM certificates, not one",
                        many.len()
                    )))
                }
            };
        let leaf = cert::parse(&format!("{what}: certificate"), &der)?;
        cert::check_code_signing(&format!("{what}: the certificate"), &leaf)?;
        if !cert::has_digital_signature_usage(&leaf)? {
            return Err(certificate_invalid(format!(
                "{what}: the certificate's key usage does not allow digital signatures"
            )));
        }
        let mut chain_der = Vec::new();
        for (i, pem) in chain.iter().enumerate() {
            let blocks = cert::pem_certificates(&format!("{what}: chain[{i}]"), pem)?;
            if blocks.is_empty() {
                return Err(malformed(format!("{what}: chain[{i}]: no PEM certificate")));
            }
            chain_der.extend(blocks);
        }
        let parsed = chain_der
            .iter()
            .enumerate()
            .map(|(i, d)| cert::parse(&format!("{what}: chain certificate {i}"), d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut child = &leaf;
        for (i, issuer) in parsed.iter().enumerate() {
            let link = match i.checked_sub(1) {
                None => format!("{what}: chain certificate 0 (the certificate's issuer)"),
                Some(before) => format!(
                    "{what}: chain certificate {i} (the issuer of chain certificate {before})"
                ),
            };
            cert::check_signed_by(&link, child, issuer)?;
            child = issuer;
        }
        let spki = leaf
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| malformed(format!("{what}: certificate public key: {e}")))?;
        Ok(Policy::Certificate(Box::new(CertificatePolicy {
            key: cert::public_key(&leaf)?,
            identity: cert::identity(&leaf)?,
            der,
            spki,
            chain: chain_der,
            require_tlog,
        })))
    }

    /// Whether a bundle must have a transparency log entry: always for an identity (Fulcio
    /// certificates live ten minutes: the log proves when they signed); as configured for a key
    /// or a certificate. When none is required and the bundle has neither a log entry nor an
    /// RFC 3161 timestamp, [`Verified::signing_time`] is `None`; whatever the bundle has must
    /// still verify.
    pub fn requires_tlog(&self) -> bool {
        match self {
            Policy::Identity { .. } => true,
            Policy::Key { require_tlog, .. } => *require_tlog,
            Policy::Certificate(c) => c.require_tlog,
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When the signature was made, as proven by the transparency log or an RFC 3161 timestamp:
    /// the earliest verified time. `None` only when the policy requires no log entry
    /// ([`Policy::requires_tlog`]) and the bundle has neither a log entry nor a verified
    /// timestamp.
    pub signing_time: Option<Timestamp>,
    /// The certificate's identity (`None` for a key policy; for a certificate policy, the
    /// configured certificate's).
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
/// certificate's validity and the trusted root's validity periods. The one exception: a
/// [`CertificatePolicy`] with no verified signing time (no log entry required, none in the
/// bundle) checks its certificate's validity at `now`, and without a clock refuses
/// ([`Error::Timestamp`]).
///
/// For a cosign image signature ([`cosign::signature_bundle`](super::cosign::signature_bundle)),
/// the artifact is the signed payload the bundle carries: `Artifact::Bytes(bundle.message()…)`.
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

    // 1. The signer's key, and its DER as the log records it (for a certificate policy and a
    //    bundle with only a key hint, the log may record the key or the certificate). A
    //    certificate's identity is checked first, before any signature: a bundle by another
    //    signer is refused at once.
    let fulcio = signer(bundle, policy)?;
    let fulcio_key;
    let (key, signer_ders): (&PublicKey, Vec<&[u8]>) = match (&bundle.material, policy, &fulcio) {
        (
            SigningMaterial::Certificate { leaf, chain },
            Policy::Identity { .. },
            Some((cert, _)),
        ) => {
            cert::check_bundle_chain(chain)?;
            fulcio_key = cert::public_key(cert)?;
            (&fulcio_key, vec![leaf.as_slice()])
        }
        (_, Policy::Key { key, spki, .. }, _) => (key, vec![spki.as_slice()]),
        (SigningMaterial::Certificate { .. }, Policy::Certificate(c), _) => {
            (&c.key, vec![c.der.as_slice()])
        }
        (SigningMaterial::PublicKey { .. }, Policy::Certificate(c), _) => {
            (&c.key, vec![c.spki.as_slice(), c.der.as_slice()])
        }
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
            ..
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

    // 4. The transparency log: every entry must verify and record this signature; one is
    //    required unless the policy says otherwise.
    if bundle.tlog_entries.is_empty() && policy.requires_tlog() {
        return Err(tlog_invalid("bundle has no transparency log entry"));
    }
    let mut times = tsa_times.clone();
    for entry in &bundle.tlog_entries {
        times.extend(rekor::verify_entry(entry, trust, now, &tsa_times)?);
        check_body(entry, &bundle.content, &signer_ders, &digest)?;
    }
    // The chain is checked once per distinct time (a bundle may repeat one).
    times.sort_unstable();
    times.dedup();
    let signing_time = times.first().copied();
    if signing_time.is_none() && policy.requires_tlog() {
        return Err(timestamp_invalid(
            "no verified signing time (no signed entry timestamp, no RFC 3161 timestamp)",
        ));
    }

    // 5. The certificate: chain and validity at every verified time, SCTs (Fulcio); validity
    //    of the configured certificate and chain (certificate policy).
    let identity = match (fulcio, &bundle.material, policy) {
        (Some((cert, id)), SigningMaterial::Certificate { chain, .. }, _) => {
            let mut issuer_spki = Vec::new();
            for t in &times {
                issuer_spki = cert::verify_chain(&cert, chain, trust, *t)?;
            }
            sct::verify_scts(&cert, &issuer_spki, trust)?;
            Some(id)
        }
        (_, _, Policy::Certificate(c)) => {
            if times.is_empty() {
                let now = now.ok_or_else(|| {
                    timestamp_invalid(
                        "no verified signing time (no transparency log entry, no RFC 3161 \
                         timestamp) and no clock to check the certificate's validity at",
                    )
                })?;
                check_configured_validity(c, &[now], "the current time")?;
            } else {
                check_configured_validity(c, &times, "signing time")?;
            }
            Some(c.identity.clone())
        }
        _ => None,
    };
    Ok(Verified {
        signing_time,
        identity,
    })
}

/// A certificate policy's certificate and chain must be valid at each of `times` (`when` names
/// them in the error).
fn check_configured_validity(
    policy: &CertificatePolicy,
    times: &[Timestamp],
    when: &str,
) -> Result<(), Error> {
    let what = "certificate policy";
    let leaf = cert::parse(&format!("{what}: certificate"), &policy.der)?;
    let chain = policy
        .chain
        .iter()
        .enumerate()
        .map(|(i, d)| cert::parse(&format!("{what}: chain certificate {i}"), d))
        .collect::<Result<Vec<_>, _>>()?;
    for t in times {
        cert::check_valid_when(&format!("{what}: the certificate"), &leaf, *t, when)?;
        for (i, c) in chain.iter().enumerate() {
            cert::check_valid_when(&format!("{what}: chain certificate {i}"), c, *t, when)?;
        }
    }
    Ok(())
}

/// The entry's body must record the bundle with one of the signer's DER forms: the first that
/// does is enough; else the error of the first.
fn check_body(
    entry: &super::TlogEntry,
    content: &Content,
    signer_ders: &[&[u8]],
    digest: &[u8; 32],
) -> Result<(), Error> {
    let mut first = None;
    for der in signer_ders {
        match rekor::check_body(entry, content, der, digest) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or_else(|| tlog_invalid("tlog entry: no signer to check the body with")))
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
/// wants (a certificate whose identity matches, a key for a key policy, the very certificate of
/// a certificate policy or a key hint), before any signature is checked. An `Ok` here proves
/// nothing about the bundle; [`verify`] does.
pub fn check_signer(bundle: &Bundle, policy: &Policy) -> Result<(), Error> {
    signer(bundle, policy).map(|_| ())
}

/// Step 1 of [`verify`]: the signing material must be the kind `policy` wants, and a Fulcio
/// certificate's identity must match it. Returns the parsed Fulcio certificate and its identity
/// (`None` for a key or a certificate policy).
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
        (SigningMaterial::PublicKey { .. }, Policy::Key { .. } | Policy::Certificate(_)) => {
            Ok(None)
        }
        (SigningMaterial::Certificate { leaf, .. }, Policy::Certificate(c)) => {
            if *leaf != c.der {
                return Err(Error::from(IdentityMismatch::OtherCertificate));
            }
            Ok(None)
        }
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
