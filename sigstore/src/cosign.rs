//! cosign's tag layout (`sha256-<hex>.att`) as Sigstore bundles.
//!
//! cosign (before v3) stores an image's attestations as the layers of one manifest at tag
//! `sha256-<image digest hex>.att`. Each layer (media type `application/vnd.dsse.envelope.v1+json`)
//! is a DSSE envelope, and its annotations carry the rest of what a Sigstore bundle holds:
//!
//! - `dev.sigstore.cosign/certificate`: the Fulcio leaf certificate (PEM), for keyless signing;
//! - `dev.sigstore.cosign/chain`: the intermediate and root certificates (PEM);
//! - `dev.sigstore.cosign/bundle`: the Rekor entry, `{"SignedEntryTimestamp": <base64>,
//!   "Payload": {"body": <base64>, "integratedTime": n, "logIndex": n, "logID": <hex>}}`;
//! - `dev.sigstore.cosign/rfc3161timestamp` (optional): `{"SignedRFC3161Timestamp": <base64>}`.
//!
//! [`attestation_bundle`] turns one such layer into a Sigstore bundle v0.1 (the version whose log
//! entries carry a signed entry timestamp and no inclusion proof, which is what cosign kept), to
//! be read with [`Bundle::from_json`](super::Bundle::from_json) and checked with
//! [`verify`](super::verify()).
//!
//! cosign before v2 logged attestations as Rekor `intoto` 0.0.1 entries, which record the SHA-256
//! of the envelope's JSON as submitted, not its signature: for those, the bundle also keeps the
//! layer blob itself, as `dsseEnvelope.rawEnvelope` (see
//! [`DsseEnvelope::raw`](super::DsseEnvelope::raw)).

use super::{b64, b64_encode, cert, malformed, unsupported, Error};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The annotation holding the leaf certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the rest of the certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the Rekor entry (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The annotation holding an RFC 3161 timestamp (JSON).
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The media type of the bundles [`attestation_bundle`] makes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct Rfc3161 {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed_rfc3161_timestamp: String,
}

/// Converts one cosign attestation layer into a Sigstore bundle v0.1 (JSON).
///
/// `envelope` is the layer blob (a DSSE envelope, JSON) and `annotations` the layer's annotations
/// in the image manifest. The bundle's verification material is:
///
/// - keyless (a `dev.sigstore.cosign/certificate` annotation): an `x509CertificateChain` of the
///   leaf, then the intermediates of `dev.sigstore.cosign/chain`; self-signed (root) certificates
///   are left out, as the verifier takes roots only from the trusted root;
/// - signed with a key (no certificate annotation): `publicKey`, whose `hint` is the DSSE
///   signature's `keyid` (often empty). The key itself is not in the layer: verify such a bundle
///   with a [`Policy::Key`](super::Policy::Key).
///
/// The log entry comes from `dev.sigstore.cosign/bundle` (its `kindVersion` read from the entry
/// body), an RFC 3161 timestamp from `dev.sigstore.cosign/rfc3161timestamp`. A layer with neither
/// is refused (`Unsupported`): nothing would vouch for the signing time. When the entry is an
/// `intoto` 0.0.1 one, which binds the envelope by the hash of its bytes, the bundle's
/// `dsseEnvelope` also holds `rawEnvelope`: `envelope`, base64 (a member of ours, not of the
/// Sigstore bundle format; bundles with other entries are plain Sigstore bundles). Nothing is
/// verified here: malformed input (JSON, base64, PEM, hex) is a `Malformed` error, and the bundle
/// must still be verified.
pub fn attestation_bundle(
    envelope: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Value, Error> {
    let env: RawEnvelope = serde_json::from_slice(envelope)
        .map_err(|e| malformed(format!("cosign attestation: DSSE envelope: {e}")))?;
    // Normalise the base64 (cosign writes standard base64; re-encoding checks it, too).
    let payload = b64_encode(&b64("cosign attestation: DSSE payload", &env.payload)?);
    let signatures = env
        .signatures
        .iter()
        .map(|s| {
            let sig = b64("cosign attestation: DSSE signature", &s.sig)?;
            Ok(json!({"sig": b64_encode(&sig), "keyid": s.keyid}))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if signatures.is_empty() {
        return Err(malformed(
            "cosign attestation: DSSE envelope has no signature",
        ));
    }

    let mut material = match annotations.get(CERTIFICATE_ANNOTATION) {
        Some(leaf_pem) => {
            let leaf = pem_certificates(CERTIFICATE_ANNOTATION, leaf_pem)?;
            let [leaf] = leaf.as_slice() else {
                return Err(malformed(format!(
                    "cosign attestation: {CERTIFICATE_ANNOTATION} holds {} certificates, not one",
                    leaf.len()
                )));
            };
            let mut certificates = vec![json!({"rawBytes": b64_encode(leaf)})];
            if let Some(chain_pem) = annotations.get(CHAIN_ANNOTATION) {
                for der in pem_certificates(CHAIN_ANNOTATION, chain_pem)? {
                    let c = cert::parse("cosign attestation: chain certificate", &der)?;
                    if der != *leaf && !cert::is_self_signed(&c) {
                        certificates.push(json!({"rawBytes": b64_encode(&der)}));
                    }
                }
            }
            json!({"x509CertificateChain": {"certificates": certificates}})
        }
        None => {
            let hint = env
                .signatures
                .first()
                .map(|s| s.keyid.as_str())
                .unwrap_or_default();
            json!({"publicKey": {"hint": hint}})
        }
    };

    let mut tlog_entries = Vec::new();
    if let Some(text) = annotations.get(BUNDLE_ANNOTATION) {
        tlog_entries.push(tlog_entry(text)?);
    }
    let logs_envelope_bytes = tlog_entries.iter().any(|e| {
        let kind_version = e.get("kindVersion");
        let member = |k| {
            kind_version
                .and_then(|kv| kv.get(k))
                .and_then(Value::as_str)
        };
        member("kind") == Some("intoto") && member("version") == Some("0.0.1")
    });
    let mut timestamps = Vec::new();
    if let Some(text) = annotations.get(RFC3161_ANNOTATION) {
        let ts: Rfc3161 = serde_json::from_str(text)
            .map_err(|e| malformed(format!("cosign attestation: {RFC3161_ANNOTATION}: {e}")))?;
        let der = b64(
            "cosign attestation: RFC 3161 timestamp",
            &ts.signed_rfc3161_timestamp,
        )?;
        timestamps.push(json!({"signedTimestamp": b64_encode(&der)}));
    }
    if tlog_entries.is_empty() && timestamps.is_empty() {
        return Err(unsupported(format!(
            "cosign attestation: no {BUNDLE_ANNOTATION} (Rekor entry) nor {RFC3161_ANNOTATION} \
             annotation: nothing vouches for the signing time (signed without a transparency log?)"
        )));
    }
    if let Some(m) = material.as_object_mut() {
        m.insert("tlogEntries".to_string(), Value::Array(tlog_entries));
        if !timestamps.is_empty() {
            m.insert(
                "timestampVerificationData".to_string(),
                json!({"rfc3161Timestamps": timestamps}),
            );
        }
    }

    let mut dsse_envelope = json!({
        "payload": payload,
        "payloadType": env.payload_type,
        "signatures": signatures,
    });
    if logs_envelope_bytes {
        if let Some(members) = dsse_envelope.as_object_mut() {
            members.insert("rawEnvelope".to_string(), b64_encode(envelope).into());
        }
    }
    Ok(json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": dsse_envelope,
    }))
}

/// The DER certificates of a PEM annotation.
fn pem_certificates(what: &str, text: &str) -> Result<Vec<Vec<u8>>, Error> {
    let blocks = pem::parse_many(text)
        .map_err(|e| malformed(format!("cosign attestation: {what}: bad PEM: {e}")))?;
    blocks
        .into_iter()
        .map(|b| {
            if b.tag() == "CERTIFICATE" {
                Ok(b.into_contents())
            } else {
                Err(malformed(format!(
                    "cosign attestation: {what}: PEM block {:?}, not CERTIFICATE",
                    b.tag()
                )))
            }
        })
        .collect()
}

/// A bundle `tlogEntries[]` item from cosign's `dev.sigstore.cosign/bundle` annotation.
fn tlog_entry(text: &str) -> Result<Value, Error> {
    let what = |m: String| malformed(format!("cosign attestation: {BUNDLE_ANNOTATION}: {m}"));
    let rekor: RekorBundle = serde_json::from_str(text).map_err(|e| what(e.to_string()))?;
    let body_bytes = b64("cosign attestation: Rekor entry body", &rekor.payload.body)?;
    let body: Value =
        serde_json::from_slice(&body_bytes).map_err(|e| what(format!("entry body: {e}")))?;
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| what("entry body has no kind".to_string()))?;
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| what("entry body has no apiVersion".to_string()))?;
    let log_id = base16ct::mixed::decode_vec(&rekor.payload.log_id)
        .ok()
        .ok_or_else(|| what(format!("logID {:?} is not hex", rekor.payload.log_id)))?;
    let set = b64(
        "cosign attestation: SignedEntryTimestamp",
        &rekor.signed_entry_timestamp,
    )?;
    Ok(json!({
        "logIndex": rekor.payload.log_index.to_string(),
        "logId": {"keyId": b64_encode(&log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": rekor.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": b64_encode(&set)},
        "canonicalizedBody": b64_encode(&body_bytes),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_without_a_log_entry_or_timestamp_is_refused() {
        let env = br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AAAA"}]}"#;
        let err = attestation_bundle(env, &BTreeMap::new()).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
        let err = attestation_bundle(b"{}", &BTreeMap::new()).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
    }
}
