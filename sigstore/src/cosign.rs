//! cosign's tag layouts (`sha256-<hex>.att` and `sha256-<hex>.sig`) as Sigstore bundles.
//!
//! cosign (before v3) stores an image's attestations as the layers of one manifest at tag
//! `sha256-<image digest hex>.att`, and its signatures as the layers of one at
//! `sha256-<image digest hex>.sig`:
//!
//! - an attestation layer (media type `application/vnd.dsse.envelope.v1+json`) is a DSSE
//!   envelope: [`attestation_bundle`];
//! - a signature layer (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]) is a simple-signing payload
//!   ([`SimpleSigning`]: the image's manifest digest and reference), signed as a message; its
//!   signature is the annotation `dev.cosignproject.cosign/signature` (base64):
//!   [`signature_bundle`].
//!
//! The annotations of either carry the rest of what a Sigstore bundle holds:
//!
//! - `dev.sigstore.cosign/certificate`: the Fulcio leaf certificate (PEM), for keyless signing;
//! - `dev.sigstore.cosign/chain`: the intermediate and root certificates (PEM);
//! - `dev.sigstore.cosign/bundle`: the Rekor entry, `{"SignedEntryTimestamp": <base64>,
//!   "Payload": {"body": <base64>, "integratedTime": n, "logIndex": n, "logID": <hex>}}`;
//! - `dev.sigstore.cosign/rfc3161timestamp` (optional): `{"SignedRFC3161Timestamp": <base64>}`.
//!
//! Both functions turn one such layer into a Sigstore bundle v0.1 (the version whose log entries
//! carry a signed entry timestamp and no inclusion proof, which is what cosign kept), to be read
//! with [`Bundle::from_json`](super::Bundle::from_json) and checked with
//! [`verify`](super::verify()).
//!
//! cosign before v2 logged attestations as Rekor `intoto` 0.0.1 entries, which record the SHA-256
//! of the envelope's JSON as submitted, not its signature: for those, the bundle also keeps the
//! layer blob itself, as `dsseEnvelope.rawEnvelope` (see
//! [`DsseEnvelope::raw`](super::DsseEnvelope::raw)). A signature bundle always keeps its
//! payload, as `messageSignature.message` (see [`Bundle::message`](super::Bundle::message)).
//!
//! cosign v3 signs images otherwise: a DSSE in-toto statement of predicate type
//! [`COSIGN_SIGN_PREDICATE`] whose subject is the image digest, in a Sigstore bundle attached to
//! the image as an OCI 1.1 referrer; that bundle is verified as it is.

use super::{b64, b64_encode, cert, malformed, sha256, unsupported, Error};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The annotation holding the leaf certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the rest of the certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the Rekor entry (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The annotation holding an RFC 3161 timestamp (JSON).
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The annotation of a signature layer holding its signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a signature layer: a simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The type a simple-signing payload's `critical.type` must have.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// The predicate type of cosign v3 image signatures (an in-toto statement whose subject is the
/// image digest, in a Sigstore bundle attached as an OCI 1.1 referrer).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The media type of the bundles [`attestation_bundle`] and [`signature_bundle`] make.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
/// At most this many bytes in a simple-signing payload (real ones have a few hundred).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

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
    let layer = "cosign attestation";
    let env: RawEnvelope = serde_json::from_slice(envelope)
        .map_err(|e| malformed(format!("{layer}: DSSE envelope: {e}")))?;
    // Normalise the base64 (cosign writes standard base64; re-encoding checks it, too).
    let payload = b64_encode(&b64(&format!("{layer}: DSSE payload"), &env.payload)?);
    let signatures = env
        .signatures
        .iter()
        .map(|s| {
            let sig = b64(&format!("{layer}: DSSE signature"), &s.sig)?;
            Ok(json!({"sig": b64_encode(&sig), "keyid": s.keyid}))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if signatures.is_empty() {
        return Err(malformed(format!(
            "{layer}: DSSE envelope has no signature"
        )));
    }
    let hint = env
        .signatures
        .first()
        .map(|s| s.keyid.as_str())
        .unwrap_or_default();
    let material = LayerMaterial::read(layer, annotations, hint)?;
    if material.tlog_entries.is_empty() && material.timestamps.is_empty() {
        return Err(unsupported(format!(
            "{layer}: no {BUNDLE_ANNOTATION} (Rekor entry) nor {RFC3161_ANNOTATION} \
             annotation: nothing vouches for the signing time (signed without a transparency log?)"
        )));
    }
    let logs_envelope_bytes = material.tlog_entries.iter().any(|e| {
        let kind_version = e.get("kindVersion");
        let member = |k| {
            kind_version
                .and_then(|kv| kv.get(k))
                .and_then(Value::as_str)
        };
        member("kind") == Some("intoto") && member("version") == Some("0.0.1")
    });

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
        "verificationMaterial": material.into_json(),
        "dsseEnvelope": dsse_envelope,
    }))
}

/// Converts one layer of a cosign signature manifest (tag `sha256-<hex>.sig`, media type
/// [`SIMPLE_SIGNING_MEDIA_TYPE`]) into a Sigstore bundle v0.1 (JSON) with a `messageSignature`.
///
/// `payload` is the layer blob, the simple-signing payload (see [`SimpleSigning`]): the exact
/// bytes that were signed; `annotations` the layer's annotations. The signature is
/// `dev.cosignproject.cosign/signature` (base64, required); the verification material, log entry
/// and RFC 3161 timestamp are read as [`attestation_bundle`] reads them (a key-signed layer's
/// `publicKey` hint is empty: verify it with a [`Policy::Key`](super::Policy::Key) or a
/// [`Policy::Certificate`](super::Policy::Certificate)). Unlike an attestation, a layer with
/// neither a Rekor entry nor a timestamp is converted (cosign `--tlog-upload=false`): whether
/// that verifies is the policy's decision ([`Policy::requires_tlog`](super::Policy::requires_tlog)).
///
/// The bundle's `messageSignature` holds `messageDigest` (the payload's SHA-256), `signature`
/// and `message`: the payload itself, base64, a member of ours, not of the Sigstore bundle
/// format (see [`Bundle::message`](super::Bundle::message)); verify the bundle for
/// [`Artifact::Bytes`](super::Artifact::Bytes) of that message, then read it with
/// [`SimpleSigning::from_json`] to match the image. Nothing is verified here: malformed input is a
/// `Malformed` error; a payload over [`MAX_PAYLOAD_BYTES`] is refused.
pub fn signature_bundle(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Value, Error> {
    let layer = "cosign signature";
    check_payload_size(layer, payload)?;
    let signature = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| malformed(format!("{layer}: no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = b64(&format!("{layer}: {SIGNATURE_ANNOTATION}"), signature)?;
    if signature.is_empty() {
        return Err(malformed(format!(
            "{layer}: {SIGNATURE_ANNOTATION} is empty"
        )));
    }
    let material = LayerMaterial::read(layer, annotations, "")?;
    Ok(json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material.into_json(),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64_encode(&sha256(payload))},
            "signature": b64_encode(&signature),
            "message": b64_encode(payload),
        },
    }))
}

/// What the annotations of a cosign layer (attestation or signature) say about its signer, log
/// entry and timestamp, as bundle JSON.
struct LayerMaterial {
    /// `x509CertificateChain` or `publicKey`.
    signer: Value,
    tlog_entries: Vec<Value>,
    timestamps: Vec<Value>,
}

impl LayerMaterial {
    /// Reads the annotations of a layer (`layer` names its kind in errors); `hint` is the
    /// `publicKey` hint when there is no certificate.
    fn read(
        layer: &str,
        annotations: &BTreeMap<String, String>,
        hint: &str,
    ) -> Result<Self, Error> {
        let signer = match annotations.get(CERTIFICATE_ANNOTATION) {
            Some(leaf_pem) => {
                let leaf = cert::pem_certificates(
                    &format!("{layer}: {CERTIFICATE_ANNOTATION}"),
                    leaf_pem,
                )?;
                let [leaf] = leaf.as_slice() else {
                    return Err(malformed(format!(
                        "{layer}: {CERTIFICATE_ANNOTATION} holds {} certificates, not one",
                        leaf.len()
                    )));
                };
                let mut certificates = vec![json!({"rawBytes": b64_encode(leaf)})];
                if let Some(chain_pem) = annotations.get(CHAIN_ANNOTATION) {
                    let what = format!("{layer}: {CHAIN_ANNOTATION}");
                    let chain = cert::pem_certificates(&what, chain_pem)?;
                    if chain.is_empty() {
                        return Err(malformed(format!("{what}: no PEM certificate")));
                    }
                    for der in chain {
                        let c = cert::parse(&what, &der)?;
                        if der != *leaf && !cert::is_self_signed(&c) {
                            certificates.push(json!({"rawBytes": b64_encode(&der)}));
                        }
                    }
                }
                json!({"x509CertificateChain": {"certificates": certificates}})
            }
            None => json!({"publicKey": {"hint": hint}}),
        };
        let mut tlog_entries = Vec::new();
        if let Some(text) = annotations.get(BUNDLE_ANNOTATION) {
            tlog_entries.push(tlog_entry(layer, text)?);
        }
        let mut timestamps = Vec::new();
        if let Some(text) = annotations.get(RFC3161_ANNOTATION) {
            let ts: Rfc3161 = serde_json::from_str(text)
                .map_err(|e| malformed(format!("{layer}: {RFC3161_ANNOTATION}: {e}")))?;
            let der = b64(
                &format!("{layer}: RFC 3161 timestamp"),
                &ts.signed_rfc3161_timestamp,
            )?;
            timestamps.push(json!({"signedTimestamp": b64_encode(&der)}));
        }
        Ok(LayerMaterial {
            signer,
            tlog_entries,
            timestamps,
        })
    }

    /// The bundle's `verificationMaterial`.
    fn into_json(self) -> Value {
        let mut material = self.signer;
        if let Some(m) = material.as_object_mut() {
            m.insert("tlogEntries".to_string(), Value::Array(self.tlog_entries));
            if !self.timestamps.is_empty() {
                m.insert(
                    "timestampVerificationData".to_string(),
                    json!({"rfc3161Timestamps": self.timestamps}),
                );
            }
        }
        material
    }
}

/// A bundle `tlogEntries[]` item from cosign's `dev.sigstore.cosign/bundle` annotation.
fn tlog_entry(layer: &str, text: &str) -> Result<Value, Error> {
    let what = |m: String| malformed(format!("{layer}: {BUNDLE_ANNOTATION}: {m}"));
    let rekor: RekorBundle = serde_json::from_str(text).map_err(|e| what(e.to_string()))?;
    let body_bytes = b64(&format!("{layer}: Rekor entry body"), &rekor.payload.body)?;
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
        &format!("{layer}: SignedEntryTimestamp"),
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

/// A simple-signing payload larger than [`MAX_PAYLOAD_BYTES`] is refused.
fn check_payload_size(layer: &str, payload: &[u8]) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(malformed(format!(
            "{layer}: simple-signing payload of {} bytes, more than {MAX_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    Ok(())
}

/// A cosign simple-signing payload: what a signature layer signs,
/// `{"critical": {"identity": {"docker-reference": …}, "image": {"docker-manifest-digest": …},
/// "type": "cosign container image signature"}, "optional": {…} | null}`.
///
/// Other members are tolerated (and ignored). Read it from a verified bundle's message
/// ([`Bundle::message`](super::Bundle::message)): nothing in it is trusted before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`: the image's repository as it was signed
    /// (`registry.example/org/app`), not verified against anything.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`: the signed image's manifest digest
    /// (`sha256:<hex>`).
    pub docker_manifest_digest: String,
    /// `optional`: the annotations given when signing (`cosign sign -a key=value`), and whatever
    /// else the signer added (`creator`, `timestamp`...); empty when `null` or absent.
    pub optional: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawSimpleSigning {
    critical: RawCritical,
    #[serde(default)]
    optional: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct RawCritical {
    identity: RawIdentity,
    image: RawImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawIdentity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

impl SimpleSigning {
    /// Parses a payload: `Malformed` when it is not JSON, larger than [`MAX_PAYLOAD_BYTES`], lacks
    /// a critical member (`identity.docker-reference`, `image.docker-manifest-digest`, `type`),
    /// or has another `type` than [`SIMPLE_SIGNING_TYPE`].
    pub fn from_json(payload: &[u8]) -> Result<Self, Error> {
        let what = "simple-signing payload";
        check_payload_size(what, payload)?;
        let raw: RawSimpleSigning =
            serde_json::from_slice(payload).map_err(|e| malformed(format!("{what}: {e}")))?;
        if raw.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(malformed(format!(
                "{what}: critical.type is {:?}, not {SIMPLE_SIGNING_TYPE:?}",
                raw.critical.kind
            )));
        }
        Ok(SimpleSigning {
            docker_reference: raw.critical.identity.docker_reference,
            docker_manifest_digest: raw.critical.image.docker_manifest_digest,
            optional: raw.optional.unwrap_or_default(),
        })
    }

    /// The payload a signer signs: compact JSON as cosign writes it (`optional` is `null` when
    /// empty).
    pub fn to_json(&self) -> Vec<u8> {
        let optional = if self.optional.is_empty() {
            Value::Null
        } else {
            Value::Object(self.optional.clone())
        };
        let payload = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": self.docker_manifest_digest},
                "type": SIMPLE_SIGNING_TYPE,
            },
            "optional": optional,
        });
        payload.to_string().into_bytes()
    }

    /// What a signature of an image must say: it names `digest` (its
    /// `docker-manifest-digest`; the `docker-reference` proves nothing, an image may be copied)
    /// and carries every `required` annotation ([`check_annotations`](Self::check_annotations)).
    pub fn check_image(
        &self,
        digest: &str,
        required: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self.docker_manifest_digest != digest {
            return Err(format!(
                "the signature is for {}, not this image",
                self.docker_manifest_digest
            ));
        }
        self.check_annotations(required)
    }

    /// Checks that every `required` annotation is in [`optional`](SimpleSigning::optional) with
    /// the same string value (as `cosign verify -a key=value`); the error names the first (in key
    /// order) that is missing or differs.
    pub fn check_annotations(&self, required: &BTreeMap<String, String>) -> Result<(), String> {
        for (key, want) in required {
            match self.optional.get(key) {
                None => return Err(format!("annotation {key:?} is missing (wanted {want:?})")),
                Some(Value::String(found)) if found == want => {}
                Some(Value::String(found)) => {
                    return Err(format!("annotation {key:?} is {found:?}, not {want:?}"))
                }
                Some(other) => {
                    return Err(format!(
                        "annotation {key:?} is {other}, not the string {want:?}"
                    ))
                }
            }
        }
        Ok(())
    }
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
