//! X.509: the Fulcio certificate chain and the signer's identity.

use super::crypto::HashAlg;
use super::time::Timestamp;
use super::trust::TrustedRoot;
use super::{certificate_invalid, malformed, Error, PublicKey};
use const_oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::Certificate;

/// Fulcio's OIDC issuer extension, the raw string (deprecated form).
const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, a DER UTF8String.
const OIDC_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

pub(crate) fn parse(what: &str, der: &[u8]) -> Result<Certificate, Error> {
    Certificate::from_der(der).map_err(|e| malformed(format!("{what}: bad X.509 certificate: {e}")))
}

pub(crate) fn public_key(cert: &Certificate) -> Result<PublicKey, Error> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| malformed(format!("certificate public key: {e}")))?;
    PublicKey::from_spki_der(&spki)
}

/// `(notBefore, notAfter)`.
pub(crate) fn validity(cert: &Certificate) -> (Timestamp, Timestamp) {
    let v = cert.tbs_certificate().validity();
    let ts = |t: &x509_cert::time::Time| {
        Timestamp::from_unix(i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
    };
    (ts(&v.not_before), ts(&v.not_after))
}

pub(crate) fn check_valid_at(what: &str, cert: &Certificate, t: Timestamp) -> Result<(), Error> {
    check_valid_when(what, cert, t, "signing time")
}

/// [`check_valid_at`], `when` naming the time in the error.
pub(crate) fn check_valid_when(
    what: &str,
    cert: &Certificate,
    t: Timestamp,
    when: &str,
) -> Result<(), Error> {
    let (not_before, not_after) = validity(cert);
    if t < not_before || t > not_after {
        return Err(certificate_invalid(format!(
            "{what} not valid at {when} {t} (valid {not_before} to {not_after})"
        )));
    }
    Ok(())
}

/// Whether the certificate's extended key usage includes `usage`.
pub(crate) fn has_eku(cert: &Certificate, usage: ObjectIdentifier) -> Result<bool, Error> {
    let eku = cert
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|e| malformed(format!("certificate: bad extendedKeyUsage: {e}")))?;
    Ok(eku.is_some_and(|(_, e)| e.0.contains(&usage)))
}

pub(crate) fn is_self_signed(cert: &Certificate) -> bool {
    cert.tbs_certificate().issuer() == cert.tbs_certificate().subject()
}

/// Checks that `issuer` signed `child`: the names, `issuer` a CA, and the signature.
pub(crate) fn check_signed_by(
    what: &str,
    child: &Certificate,
    issuer: &Certificate,
) -> Result<(), Error> {
    check_issuer(what, child, issuer)?;
    check_signature(what, child, issuer)
}

/// [`check_signed_by`] for a link between two certificates of a trusted root's chain, given with
/// their DER: the signature is not checked again when the link is, byte for byte, one whose
/// signature was checked when the public-good root was embedded
/// ([`trust::is_checked_link`](super::trust::is_checked_link)); the names and the CA are.
pub(crate) fn check_trusted_link(
    what: &str,
    (child, child_der): (&Certificate, &[u8]),
    (issuer, issuer_der): (&Certificate, &[u8]),
) -> Result<(), Error> {
    check_issuer(what, child, issuer)?;
    if super::trust::is_checked_link(child_der, issuer_der) {
        return Ok(());
    }
    check_signature(what, child, issuer)
}

/// `child` names `issuer` as its issuer, and `issuer` is a CA.
fn check_issuer(what: &str, child: &Certificate, issuer: &Certificate) -> Result<(), Error> {
    if child.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(certificate_invalid(format!(
            "{what}: issuer name does not match the CA's subject"
        )));
    }
    let is_ca = issuer
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|e| malformed(format!("{what}: bad basicConstraints: {e}")))?
        .is_some_and(|(_, bc)| bc.ca);
    if !is_ca {
        return Err(certificate_invalid(format!(
            "{what}: issuing certificate is not a CA"
        )));
    }
    Ok(())
}

/// `issuer`'s key verifies `child`'s signature.
fn check_signature(what: &str, child: &Certificate, issuer: &Certificate) -> Result<(), Error> {
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| malformed(format!("{what}: cannot re-encode the certificate: {e}")))?;
    let hash = HashAlg::of_signature_oid(&child.signature_algorithm().oid)?;
    let sig = child
        .signature()
        .as_bytes()
        .ok_or_else(|| malformed(format!("{what}: unaligned signature")))?;
    public_key(issuer)?
        .verify_prehash(&hash.digest(&tbs), sig)
        .map_err(|_| certificate_invalid(format!("{what}: signature by the CA does not verify")))
}

/// A signing certificate must be an end-entity (not a CA) code-signing certificate; `what` names
/// it in the error.
pub(crate) fn check_code_signing(what: &str, cert: &Certificate) -> Result<(), Error> {
    let is_ca = cert
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|e| malformed(format!("{what}: bad basicConstraints: {e}")))?
        .is_some_and(|(_, bc)| bc.ca);
    if is_ca {
        return Err(certificate_invalid(format!("{what} is a CA certificate")));
    }
    if !has_eku(cert, CODE_SIGNING)? {
        return Err(certificate_invalid(format!(
            "{what} is not a code-signing certificate"
        )));
    }
    Ok(())
}

/// Whether the certificate's key usage extension allows digital signatures (`false` without
/// one).
pub(crate) fn has_digital_signature_usage(cert: &Certificate) -> Result<bool, Error> {
    let usage = cert
        .tbs_certificate()
        .get_extension::<KeyUsage>()
        .map_err(|e| malformed(format!("certificate: bad keyUsage: {e}")))?;
    Ok(usage.is_some_and(|(_, u)| u.digital_signature()))
}

/// The DER certificates of PEM text; any other PEM block is refused.
pub(crate) fn pem_certificates(what: &str, text: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>, Error> {
    let blocks =
        pem::parse_many(text.as_ref()).map_err(|e| malformed(format!("{what}: bad PEM: {e}")))?;
    blocks
        .into_iter()
        .map(|b| {
            if b.tag() == "CERTIFICATE" {
                Ok(b.into_contents())
            } else {
                Err(malformed(format!(
                    "{what}: PEM block {:?}, not CERTIFICATE",
                    b.tag()
                )))
            }
        })
        .collect()
}

/// Only the leaf is taken from the bundle; a chain the bundle carries must not include a root
/// (roots come only from the trusted root).
pub(crate) fn check_bundle_chain(bundle_chain: &[Vec<u8>]) -> Result<(), Error> {
    for (i, der) in bundle_chain.iter().enumerate() {
        if is_self_signed(&parse(
            &format!("bundle certificate chain [{}]", i + 1),
            der,
        )?) {
            return Err(certificate_invalid(
                "certificate chain: the bundle includes a root certificate",
            ));
        }
    }
    Ok(())
}

/// Checks the leaf certificate: a code-signing end-entity certificate, chaining to one of the
/// trusted root's certificate authorities, every certificate valid at `t`, the authority too.
/// Returns the DER public key of the leaf's issuer.
pub(crate) fn verify_chain(
    leaf: &Certificate,
    bundle_chain: &[Vec<u8>],
    trust: &TrustedRoot,
    t: Timestamp,
) -> Result<Vec<u8>, Error> {
    check_bundle_chain(bundle_chain)?;
    check_code_signing("certificate chain: the leaf", leaf)?;
    check_valid_at("certificate chain: leaf", leaf, t)?;
    let mut last =
        certificate_invalid("certificate chain: no certificate authority in the trusted root");
    for (n, ca) in trust.certificate_authorities.iter().enumerate() {
        match chain_to(leaf, ca, t) {
            Ok(issuer) => return Ok(issuer),
            Err(e) => {
                last = Error::Certificate(format!(
                    "certificate chain (authority {n}, {}): {e}",
                    ca.uri
                ))
            }
        }
    }
    Err(last)
}

fn chain_to(
    leaf: &Certificate,
    ca: &super::trust::CertificateAuthority,
    t: Timestamp,
) -> Result<Vec<u8>, Error> {
    if !ca.valid_for.contains(t) {
        return Err(certificate_invalid(format!(
            "authority not valid at signing time {t}"
        )));
    }
    let certs = ca
        .certificates
        .iter()
        .map(|d| parse("trusted root certificate", d))
        .collect::<Result<Vec<_>, _>>()?;
    // The leaf by the first certificate; then each certificate of the authority's chain by the
    // next (links of the trusted root itself).
    let mut child = leaf;
    let mut child_der = None;
    for (i, (issuer, issuer_der)) in certs.iter().zip(&ca.certificates).enumerate() {
        let what = format!("certificate {i}");
        match child_der {
            None => check_signed_by(&what, child, issuer)?,
            Some(der) => check_trusted_link(&what, (child, der), (issuer, issuer_der))?,
        }
        check_valid_at(&format!("CA certificate {i}"), issuer, t)?;
        child = issuer;
        child_der = Some(issuer_der.as_slice());
    }
    if !is_self_signed(child) {
        return Err(certificate_invalid(
            "the authority's chain does not end in a self-signed root",
        ));
    }
    let issuer = certs
        .first()
        .ok_or_else(|| malformed("authority without certificates"))?;
    issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| malformed(format!("CA public key: {e}")))
}

/// The signer identity a Fulcio certificate records: its OIDC issuer and subject, and what the
/// CI provider's token said about the build (Fulcio's extensions under 1.3.6.1.4.1.57264.1; the
/// GitHub Actions values are given as examples). An extension the certificate lacks is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The OIDC issuer (.8, else the deprecated .1).
    pub issuer: Option<String>,
    /// The subject alternative names: URIs and emails.
    pub sans: Vec<String>,
    /// .9 Build Signer URI: the workflow that signed, at a ref
    /// (`https://github.com/o/r/.github/workflows/w.yml@refs/tags/v1`).
    pub build_signer_uri: Option<String>,
    /// .10 Build Signer Digest: the commit of the signing workflow.
    pub build_signer_digest: Option<String>,
    /// .11 Runner Environment (`github-hosted`, `self-hosted`).
    pub runner_environment: Option<String>,
    /// .12 Source Repository URI (`https://github.com/o/r`); else from the deprecated .5
    /// (`o/r`, as `https://github.com/o/r`).
    pub source_repository_uri: Option<String>,
    /// .13 Source Repository Digest: the commit built; else the deprecated .3 (workflow SHA).
    pub source_repository_digest: Option<String>,
    /// .14 Source Repository Ref (`refs/tags/v1`); else the deprecated .6.
    pub source_repository_ref: Option<String>,
    /// .18 Build Config URI: the top-level workflow, at a ref.
    pub build_config_uri: Option<String>,
    /// .20 Build Trigger (`push`, `workflow_dispatch`); else the deprecated .2.
    pub build_trigger: Option<String>,
    /// .21 Run Invocation URI (`https://github.com/o/r/actions/runs/<id>/attempts/<n>`).
    pub run_invocation_uri: Option<String>,
}

/// Fulcio's deprecated extensions (GitHub Actions only) whose value is the raw string, by the
/// last arc of their OID: .2 trigger, .3 workflow SHA, .5 repository, .6 ref.
const FULCIO_RAW: [(u32, ObjectIdentifier); 4] = [
    (2, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2")),
    (3, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3")),
    (5, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5")),
    (6, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6")),
];

/// Fulcio's extensions whose value is a DER UTF8String, by the last arc of their OID.
const FULCIO_DER: [(u32, ObjectIdentifier); 9] = [
    (9, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.9")),
    (10, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.10")),
    (11, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.11")),
    (12, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12")),
    (13, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.13")),
    (14, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.14")),
    (18, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.18")),
    (20, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.20")),
    (21, ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.21")),
];

pub(crate) fn identity(leaf: &Certificate) -> Result<Identity, Error> {
    // The Fulcio extensions, by the last arc of their OID.
    let mut der = std::collections::BTreeMap::new();
    let mut raw = std::collections::BTreeMap::new();
    for e in leaf.tbs_certificate().extensions().into_iter().flatten() {
        let value = e.extn_value.as_bytes();
        if e.extn_id == OIDC_ISSUER_V2 {
            der.insert(8, utf8_string(8, value)?);
        } else if e.extn_id == OIDC_ISSUER_V1 {
            raw.insert(1, raw_string(1, value)?);
        } else if let Some((arc, _)) = FULCIO_RAW.iter().find(|(_, oid)| e.extn_id == *oid) {
            raw.insert(*arc, raw_string(*arc, value)?);
        } else if let Some((arc, _)) = FULCIO_DER.iter().find(|(_, oid)| e.extn_id == *oid) {
            der.insert(*arc, utf8_string(*arc, value)?);
        }
    }
    let sans = leaf
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|e| malformed(format!("leaf certificate: bad subjectAltName: {e}")))?
        .map(|(_, san)| {
            san.0
                .iter()
                .filter_map(|n| match n {
                    GeneralName::UniformResourceIdentifier(s) | GeneralName::Rfc822Name(s) => {
                        Some(s.as_str().to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Identity {
        issuer: der.remove(&8).or_else(|| raw.remove(&1)),
        sans,
        build_signer_uri: der.remove(&9),
        build_signer_digest: der.remove(&10),
        runner_environment: der.remove(&11),
        source_repository_uri: der.remove(&12).or_else(|| {
            raw.remove(&5)
                .map(|repo| format!("https://github.com/{repo}"))
        }),
        source_repository_digest: der.remove(&13).or_else(|| raw.remove(&3)),
        source_repository_ref: der.remove(&14).or_else(|| raw.remove(&6)),
        build_config_uri: der.remove(&18),
        build_trigger: der.remove(&20).or_else(|| raw.remove(&2)),
        run_invocation_uri: der.remove(&21),
    })
}

/// A Fulcio extension encoded as a DER UTF8String (.8, .9 and later).
fn utf8_string(arc: u32, value: &[u8]) -> Result<String, Error> {
    der::asn1::Utf8StringRef::from_der(value)
        .map(|s| s.as_str().to_string())
        .map_err(|e| {
            malformed(format!(
                "leaf certificate: Fulcio extension 1.3.6.1.4.1.57264.1.{arc} is not a DER UTF8String: {e}"
            ))
        })
}

/// A deprecated Fulcio extension (.1 to .6): the raw string as the extension value.
fn raw_string(arc: u32, value: &[u8]) -> Result<String, Error> {
    String::from_utf8(value.to_vec()).map_err(|_| {
        malformed(format!(
            "leaf certificate: Fulcio extension 1.3.6.1.4.1.57264.1.{arc} is not UTF-8"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf certificate of the conformance suite's happy path (a GitHub Actions identity with
    /// both the current and the deprecated Fulcio extensions).
    fn happy_path_leaf() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/sigstore-conformance/test/assets/bundle-verify/happy-path-v0.3/bundle.sigstore.json"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let raw = json["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        super::super::b64("leaf", raw).unwrap()
    }

    #[test]
    fn identity_reads_the_fulcio_extensions() {
        let id = identity(&parse("leaf", &happy_path_leaf()).unwrap()).unwrap();
        let repo = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon";
        let workflow =
            format!("{repo}/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main");
        let commit = "c7b3dfb335f051e1c86bda4c716fac97df62ad81";
        assert_eq!(
            id,
            Identity {
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                sans: vec![workflow.clone()],
                build_signer_uri: Some(workflow.clone()),
                build_signer_digest: Some(commit.into()),
                runner_environment: Some("github-hosted".into()),
                source_repository_uri: Some(repo.into()),
                source_repository_digest: Some(commit.into()),
                source_repository_ref: Some("refs/heads/main".into()),
                build_config_uri: Some(workflow),
                build_trigger: Some("workflow_dispatch".into()),
                run_invocation_uri: Some(format!("{repo}/actions/runs/8347481628/attempts/1")),
            }
        );
    }

    #[test]
    fn identity_falls_back_to_the_deprecated_extensions() {
        // Hide the DER-encoded extensions (.8 on) by renaming their OIDs (1.3.6.1.4.1.57264.1.N
        // becomes .57264.99.N): what is left is what an older certificate had.
        let mut der = happy_path_leaf();
        let prefix = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01];
        let mut hidden = 0;
        for i in 0..der.len() - prefix.len() {
            if der[i..].starts_with(&prefix) && der[i + prefix.len()] >= 8 {
                der[i + prefix.len() - 1] = 99;
                hidden += 1;
            }
        }
        assert!(hidden >= 10, "{hidden}");
        let id = identity(&parse("leaf", &der).unwrap()).unwrap();
        let commit = "c7b3dfb335f051e1c86bda4c716fac97df62ad81";
        assert_eq!(
            id,
            Identity {
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                sans: id.sans.clone(),
                source_repository_uri: Some(
                    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon".into()
                ),
                source_repository_digest: Some(commit.into()),
                source_repository_ref: Some("refs/heads/main".into()),
                build_trigger: Some("workflow_dispatch".into()),
                ..Identity::default()
            }
        );
    }
}
