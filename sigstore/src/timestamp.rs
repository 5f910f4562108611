//! RFC 3161 signed timestamps: a CMS SignedData over a TSTInfo, from a timestamp authority of the
//! trusted root, over the bundle's signature.

use super::cert;
use super::crypto::HashAlg;
use super::time::Timestamp;
use super::trust::{CertificateAuthority, TrustedRoot};
use super::{malformed, timestamp_invalid, Error};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, ObjectIdentifier as Oid, OctetString};
use der::{Any, Decode as _, Encode as _};
use x509_cert::spki::AlgorithmIdentifierOwned;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

fn bad(m: impl std::fmt::Display) -> Error {
    malformed(format!("RFC 3161 timestamp: {m}"))
}

/// The fields of a TSTInfo this verifier uses.
struct TstInfo {
    imprint_alg: HashAlg,
    imprint: Vec<u8>,
    gen_time: Timestamp,
}

fn parse_tst_info(der: &[u8]) -> Result<TstInfo, Error> {
    // TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, ... }
    let items = Vec::<Any>::from_der(der).map_err(|e| bad(format!("bad TSTInfo: {e}")))?;
    let imprint = items
        .get(2)
        .ok_or_else(|| bad("TSTInfo without messageImprint"))?;
    let imprint: Vec<Any> = imprint
        .decode_as()
        .map_err(|e| bad(format!("bad messageImprint: {e}")))?;
    let (alg, hashed) = match imprint.as_slice() {
        [alg, hashed] => (alg, hashed),
        _ => return Err(bad("messageImprint is not (algorithm, hash)")),
    };
    let alg: AlgorithmIdentifierOwned = alg
        .decode_as()
        .map_err(|e| bad(format!("bad imprint algorithm: {e}")))?;
    let hashed: OctetString = hashed
        .decode_as()
        .map_err(|e| bad(format!("bad imprint hash: {e}")))?;
    let gen_time: GeneralizedTime = items
        .get(4)
        .ok_or_else(|| bad("TSTInfo without genTime"))?
        .decode_as()
        .map_err(|e| bad(format!("bad genTime: {e}")))?;
    let secs = i64::try_from(gen_time.to_unix_duration().as_secs())
        .map_err(|_| bad("genTime out of range"))?;
    Ok(TstInfo {
        imprint_alg: HashAlg::of_digest_oid(&alg.oid)?,
        imprint: hashed.as_bytes().to_vec(),
        gen_time: Timestamp::from_unix(secs),
    })
}

/// The single value of a signed attribute.
fn attribute(signer: &SignerInfo, oid: ObjectIdentifier) -> Result<Any, Error> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("no signed attributes"))?;
    let attr = attrs
        .iter()
        .find(|a| a.oid == oid)
        .ok_or_else(|| bad(format!("no signed attribute {oid}")))?;
    match attr.values.as_slice() {
        [v] => Ok(v.clone()),
        _ => Err(bad(format!("signed attribute {oid} must have one value"))),
    }
}

/// The token of a `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken
/// ContentInfo }` (what Sigstore bundles hold), or a bare token.
fn content_info(der: &[u8]) -> Result<ContentInfo, Error> {
    if let Ok(info) = ContentInfo::from_der(der) {
        return Ok(info);
    }
    let items = Vec::<Any>::from_der(der).map_err(|e| bad(format!("not a TimeStampResp: {e}")))?;
    let [status, token] = items.as_slice() else {
        return Err(bad("TimeStampResp without a token"));
    };
    let status: Vec<Any> = status
        .decode_as()
        .map_err(|e| bad(format!("bad status: {e}")))?;
    let code: u8 = status
        .first()
        .ok_or_else(|| bad("empty status"))?
        .decode_as()
        .map_err(|e| bad(format!("bad status: {e}")))?;
    // granted (0) or grantedWithMods (1)
    if code > 1 {
        return Err(timestamp_invalid(format!(
            "RFC 3161 timestamp: status {code}, not granted"
        )));
    }
    token
        .decode_as()
        .map_err(|e| bad(format!("bad ContentInfo: {e}")))
}

/// Verifies an RFC 3161 timestamp over `signature` (the bundle's signature bytes); returns its
/// time.
pub(crate) fn verify_timestamp(
    der: &[u8],
    signature: &[u8],
    trust: &TrustedRoot,
) -> Result<Timestamp, Error> {
    let info = content_info(der)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(bad("not a CMS SignedData"));
    }
    let sd: SignedData = info
        .content
        .decode_as()
        .map_err(|e| bad(format!("bad SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad("content is not a TSTInfo"));
    }
    let tst: OctetString = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("no TSTInfo"))?
        .decode_as()
        .map_err(|e| bad(format!("bad TSTInfo octets: {e}")))?;
    let tst = tst.as_bytes();
    let tst_info = parse_tst_info(tst)?;
    if tst_info.imprint != tst_info.imprint_alg.digest(signature) {
        return Err(timestamp_invalid(
            "RFC 3161 timestamp: message imprint is not the hash of the bundle's signature",
        ));
    }
    let [signer] = sd.signer_infos.0.as_slice() else {
        return Err(bad("SignedData must have exactly one signer"));
    };
    // The signed attributes bind the TSTInfo: its content type and digest.
    let content_type: Oid = attribute(signer, ATTR_CONTENT_TYPE)?
        .decode_as()
        .map_err(|e| bad(format!("bad content-type attribute: {e}")))?;
    if content_type != ID_CT_TST_INFO {
        return Err(bad("content-type attribute is not TSTInfo"));
    }
    let digest_alg = HashAlg::of_digest_oid(&signer.digest_alg.oid)?;
    let md: OctetString = attribute(signer, ATTR_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(|e| bad(format!("bad message-digest attribute: {e}")))?;
    if md.as_bytes() != digest_alg.digest(tst).as_slice() {
        return Err(timestamp_invalid(
            "RFC 3161 timestamp: message-digest attribute does not match the TSTInfo",
        ));
    }
    let signed = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("no signed attributes"))?
        .to_der()
        .map_err(|e| bad(format!("cannot encode the signed attributes: {e}")))?;
    let sig_hash = HashAlg::of_signature_oid(&signer.signature_algorithm.oid).unwrap_or(digest_alg);
    let prehash = sig_hash.digest(&signed);
    let t = tst_info.gen_time;
    let mut last =
        timestamp_invalid("RFC 3161 timestamp: no timestamp authority in the trusted root");
    for (n, tsa) in trust.timestamp_authorities.iter().enumerate() {
        match check_authority(tsa, &prehash, signer.signature.as_bytes(), t) {
            Ok(()) => return Ok(t),
            Err(e) => {
                last = timestamp_invalid(format!(
                    "RFC 3161 timestamp (authority {n}, {}): {e}",
                    tsa.uri
                ))
            }
        }
    }
    Err(last)
}

fn check_authority(
    tsa: &CertificateAuthority,
    prehash: &[u8],
    sig: &[u8],
    t: Timestamp,
) -> Result<(), Error> {
    let certs = tsa
        .certificates
        .iter()
        .map(|d| cert::parse("trusted root TSA certificate", d))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = certs
        .first()
        .ok_or_else(|| malformed("TSA without certificates"))?;
    cert::public_key(leaf)?
        .verify_prehash(prehash, sig)
        .map_err(|_| timestamp_invalid("signature does not verify with this authority's key"))?;
    if !tsa.valid_for.contains(t) {
        return Err(timestamp_invalid(format!(
            "time {t} is outside the authority's validity in the trusted root"
        )));
    }
    if !cert::has_eku(leaf, TIME_STAMPING)? {
        return Err(timestamp_invalid(
            "the authority's certificate is not for time stamping",
        ));
    }
    cert::check_valid_at("TSA certificate", leaf, t)?;
    // Each certificate of the authority's chain by the next (links of the trusted root itself).
    let mut child = (
        leaf,
        tsa.certificates
            .first()
            .map(Vec::as_slice)
            .unwrap_or_default(),
    );
    for (i, issuer) in certs.iter().zip(&tsa.certificates).enumerate().skip(1) {
        let what = format!("TSA chain certificate {i}");
        cert::check_trusted_link(&what, child, (issuer.0, issuer.1))?;
        cert::check_valid_at(&what, issuer.0, t)?;
        child = (issuer.0, issuer.1.as_slice());
    }
    Ok(())
}
