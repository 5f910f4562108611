//! Certificate transparency: the signed certificate timestamps (SCTs, RFC 6962) embedded in a
//! Fulcio certificate, verified with the trusted root's CT logs.

use super::time::Timestamp;
use super::trust::TrustedRoot;
use super::{b64_encode, certificate_invalid, malformed, sha256, Error};
use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode as _, Encode as _, Tag, TagNumber, Tagged as _};
use x509_cert::ext::pkix::sct::{SignedCertificateTimestamp, SignedCertificateTimestampList};
use x509_cert::ext::Extension;
use x509_cert::Certificate;

const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// The TBS certificate the CT log signed: the leaf's, without the SCT list extension.
fn precert_tbs(leaf: &Certificate) -> Result<Vec<u8>, Error> {
    let der_err = |e: der::Error| {
        malformed(format!(
            "leaf certificate: cannot rebuild the precertificate: {e}"
        ))
    };
    let tbs = leaf.tbs_certificate().to_der().map_err(der_err)?;
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let items = Vec::<Any>::from_der(&tbs).map_err(der_err)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.tag() == extensions_tag {
            let kept: Vec<Extension> = Vec::<Extension>::from_der(item.value())
                .map_err(der_err)?
                .into_iter()
                .filter(|e| e.extn_id != SCT_LIST)
                .collect();
            out.push(Any::new(extensions_tag, kept.to_der().map_err(der_err)?).map_err(der_err)?);
        } else {
            out.push(item);
        }
    }
    out.to_der().map_err(der_err)
}

/// Checks that at least one embedded SCT verifies with a CT log of the trusted root.
/// `issuer_spki` is the DER public key of the certificate's issuer.
pub(crate) fn verify_scts(
    leaf: &Certificate,
    issuer_spki: &[u8],
    trust: &TrustedRoot,
) -> Result<(), Error> {
    let (_, list) = leaf
        .tbs_certificate()
        .get_extension::<SignedCertificateTimestampList>()
        .map_err(|e| malformed(format!("leaf certificate: bad SCT list: {e}")))?
        .ok_or_else(|| {
            certificate_invalid("certificate transparency: the certificate has no embedded SCT")
        })?;
    let scts = list
        .parse_timestamps()
        .map_err(|e| malformed(format!("leaf certificate: bad SCT list: {e:?}")))?;
    let tbs = precert_tbs(leaf)?;
    let issuer_key_hash = sha256(issuer_spki);
    let mut last = certificate_invalid("certificate transparency: the SCT list is empty");
    for s in &scts {
        let sct = s
            .parse_timestamp()
            .map_err(|e| malformed(format!("leaf certificate: bad SCT: {e:?}")))?;
        match verify_sct(&sct, &tbs, &issuer_key_hash, trust) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn verify_sct(
    sct: &SignedCertificateTimestamp,
    tbs: &[u8],
    issuer_key_hash: &[u8; 32],
    trust: &TrustedRoot,
) -> Result<(), Error> {
    let log = trust
        .ctlogs
        .iter()
        .find(|l| l.key_id == sct.log_id.key_id)
        .ok_or_else(|| {
            certificate_invalid(format!(
                "certificate transparency: SCT from log {} not in the trusted root",
                b64_encode(&sct.log_id.key_id)
            ))
        })?;
    let key = log.key.as_ref().map_err(Clone::clone)?;
    let secs =
        i64::try_from(sct.timestamp / 1000).map_err(|_| malformed("SCT timestamp out of range"))?;
    let time = Timestamp::from_unix(secs);
    if !log.valid_for.contains(time) {
        return Err(certificate_invalid(format!(
            "certificate transparency: the CT log key is not valid at the SCT time {time}"
        )));
    }
    // RFC 6962 section 3.2, digitally-signed struct for a precertificate entry.
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| malformed("precertificate too long"))?;
    let ext = sct.extensions.as_slice();
    let ext_len = u16::try_from(ext.len()).map_err(|_| malformed("SCT extensions too long"))?;
    let mut data = Vec::with_capacity(tbs.len() + ext.len() + 50);
    data.push(0); // version v1
    data.push(0); // signature type: certificate_timestamp
    data.extend_from_slice(&sct.timestamp.to_be_bytes());
    data.extend_from_slice(&1u16.to_be_bytes()); // entry type: precert_entry
    data.extend_from_slice(issuer_key_hash);
    data.extend(tbs_len.to_be_bytes().into_iter().skip(1)); // 24-bit length
    data.extend_from_slice(tbs);
    data.extend_from_slice(&ext_len.to_be_bytes());
    data.extend_from_slice(ext);
    key.verify(&data, sct.signature.signature.as_slice())
        .map_err(|_| certificate_invalid("certificate transparency: SCT signature does not verify"))
}
