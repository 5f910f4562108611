//! X.509: the Fulcio certificate chain and the signer's identity.

use super::crypto::HashAlg;
use super::time::Timestamp;
use super::trust::TrustedRoot;
use super::{invalid, malformed, Error, PublicKey};
use const_oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};
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
    let (not_before, not_after) = validity(cert);
    if t < not_before || t > not_after {
        return Err(invalid(format!(
            "{what} not valid at signing time {t} (valid {not_before} to {not_after})"
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

/// Checks that `issuer` signed `child`.
pub(crate) fn check_signed_by(
    what: &str,
    child: &Certificate,
    issuer: &Certificate,
) -> Result<(), Error> {
    if child.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(invalid(format!(
            "{what}: issuer name does not match the CA's subject"
        )));
    }
    let is_ca = issuer
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|e| malformed(format!("{what}: bad basicConstraints: {e}")))?
        .is_some_and(|(_, bc)| bc.ca);
    if !is_ca {
        return Err(invalid(format!("{what}: issuing certificate is not a CA")));
    }
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
        .map_err(|_| invalid(format!("{what}: signature by the CA does not verify")))
}

/// Only the leaf is taken from the bundle; a chain the bundle carries must not include a root
/// (roots come only from the trusted root).
pub(crate) fn check_bundle_chain(bundle_chain: &[Vec<u8>]) -> Result<(), Error> {
    for (i, der) in bundle_chain.iter().enumerate() {
        if is_self_signed(&parse(
            &format!("bundle certificate chain [{}]", i + 1),
            der,
        )?) {
            return Err(invalid(
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
    let tbs = leaf.tbs_certificate();
    let leaf_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| malformed(format!("leaf certificate: bad basicConstraints: {e}")))?
        .is_some_and(|(_, bc)| bc.ca);
    if leaf_ca {
        return Err(invalid("certificate chain: the leaf is a CA certificate"));
    }
    if !has_eku(leaf, CODE_SIGNING)? {
        return Err(invalid(
            "certificate chain: the leaf is not a code-signing certificate",
        ));
    }
    check_valid_at("certificate chain: leaf", leaf, t)?;
    let mut last = invalid("certificate chain: no certificate authority in the trusted root");
    for (n, ca) in trust.certificate_authorities.iter().enumerate() {
        match chain_to(leaf, ca, t) {
            Ok(issuer) => return Ok(issuer),
            Err(e) => {
                last = Error::Invalid(format!(
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
        return Err(invalid(format!("authority not valid at signing time {t}")));
    }
    let certs = ca
        .certificates
        .iter()
        .map(|d| parse("trusted root certificate", d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut child = leaf;
    for (i, issuer) in certs.iter().enumerate() {
        check_signed_by(&format!("certificate {i}"), child, issuer)?;
        check_valid_at(&format!("CA certificate {i}"), issuer, t)?;
        child = issuer;
    }
    if !is_self_signed(child) {
        return Err(invalid(
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

/// The signer identity a Fulcio certificate records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, else 1.1).
    pub issuer: Option<String>,
    /// The subject alternative names: URIs and emails.
    pub sans: Vec<String>,
}

pub(crate) fn identity(leaf: &Certificate) -> Result<Identity, Error> {
    let mut v1 = None;
    let mut v2 = None;
    for ext in leaf.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == OIDC_ISSUER_V2 {
            let s = der::asn1::Utf8StringRef::from_der(ext.extn_value.as_bytes()).map_err(|e| {
                malformed(format!("leaf certificate: bad OIDC issuer extension: {e}"))
            })?;
            v2 = Some(s.as_str().to_string());
        } else if ext.extn_id == OIDC_ISSUER_V1 {
            let s = std::str::from_utf8(ext.extn_value.as_bytes())
                .map_err(|_| malformed("leaf certificate: OIDC issuer extension is not UTF-8"))?;
            v1 = Some(s.to_string());
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
        issuer: v2.or(v1),
        sans,
    })
}
