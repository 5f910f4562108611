//! Sigstore bundles (`application/vnd.dev.sigstore.bundle...`), v0.1 to v0.3, in protobuf-JSON.

use super::trust::RawCert;
use super::{b64, malformed, Error};
use std::cell::OnceCell;

use serde::Deserialize;
use serde_json::Value;

/// A bundle format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    V0_1,
    V0_2,
    V0_3,
}

impl BundleVersion {
    /// The version a media type names; unknown media types are refused.
    pub fn from_media_type(media_type: &str) -> Result<Self, Error> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(BundleVersion::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(BundleVersion::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(BundleVersion::V0_3),
            other => Err(malformed(format!("bundle: unknown media type {other:?}"))),
        }
    }
}

/// What the signature is verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningMaterial {
    /// A certificate (DER): the leaf, then whatever chain the bundle carried (v0.1/v0.2).
    Certificate { leaf: Vec<u8>, chain: Vec<Vec<u8>> },
    /// A key known to the verifier; the bundle holds only a hint.
    PublicKey { hint: String },
}

/// A DSSE envelope.
#[derive(Debug, Clone)]
pub struct DsseEnvelope {
    /// The payload (see [`payload`](DsseEnvelope::payload)); not public, so that the statement
    /// read from it once stays the statement of this payload.
    pub(crate) payload: Vec<u8>,
    pub payload_type: String,
    pub signatures: Vec<DsseSignature>,
    /// The envelope's JSON exactly as it was submitted to the log, when known: a Rekor `intoto`
    /// 0.0.1 entry records only the SHA-256 of these bytes (and of the payload), so they are what
    /// binds the entry to this envelope. A cosign attestation layer's blob is that JSON, and
    /// [`cosign::attestation_bundle`](super::cosign::attestation_bundle) keeps it in the bundle
    /// as `dsseEnvelope.rawEnvelope` (base64), a member of ours that is not in the Sigstore
    /// bundle format. The verifier checks that it is this same envelope (payload, payload type,
    /// signatures and key IDs) before it trusts its hash.
    pub raw: Option<Vec<u8>>,
    /// The in-toto statement, read from the payload when first asked ([`DsseEnvelope::statement`]).
    pub(crate) statement: OnceCell<Result<Value, Error>>,
}

impl PartialEq for DsseEnvelope {
    /// The envelopes as signed: payload, payload type, signatures and raw JSON.
    fn eq(&self, other: &Self) -> bool {
        (
            &self.payload,
            &self.payload_type,
            &self.signatures,
            &self.raw,
        ) == (
            &other.payload,
            &other.payload_type,
            &other.signatures,
            &other.raw,
        )
    }
}

impl Eq for DsseEnvelope {}

impl DsseEnvelope {
    /// An envelope of `payload_type` with `payload`.
    pub fn new(
        payload: Vec<u8>,
        payload_type: String,
        signatures: Vec<DsseSignature>,
        raw: Option<Vec<u8>>,
    ) -> Self {
        DsseEnvelope {
            payload,
            payload_type,
            signatures,
            raw,
            statement: OnceCell::new(),
        }
    }

    /// The signed payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The in-toto statement the payload holds (payload type `application/vnd.in-toto+json`),
    /// read once however many times the verifier and the caller look at it (its subjects, its
    /// predicate). Nothing in it is trusted until [`verify`](crate::verify) accepts the bundle.
    pub fn statement(&self) -> Result<&Value, Error> {
        self.statement
            .get_or_init(|| {
                if self.payload_type != DSSE_IN_TOTO {
                    return Err(super::unsupported(format!(
                        "DSSE payload type {:?} (only in-toto)",
                        self.payload_type
                    )));
                }
                serde_json::from_slice(&self.payload)
                    .map_err(|e| malformed(format!("in-toto statement: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The DSSE payload type of in-toto statements.
pub const DSSE_IN_TOTO: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    pub sig: Vec<u8>,
    pub keyid: String,
}

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over the artifact bytes, with an optional digest of them `(algorithm, digest)`.
    MessageSignature {
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
        /// The signed message itself, when the bundle carries it: `messageSignature.message`
        /// (base64), a member of ours that is not in the Sigstore bundle format, written by
        /// [`cosign::signature_bundle`](super::cosign::signature_bundle) (the simple-signing
        /// payload of a cosign image signature). When present, the bundle's `messageDigest` is
        /// its SHA-256 (checked when parsed). See [`Bundle::message`].
        message: Option<Vec<u8>>,
    },
    Dsse(DsseEnvelope),
}

/// An RFC 6962 inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: u64,
    pub root_hash: Vec<u8>,
    pub tree_size: u64,
    pub hashes: Vec<Vec<u8>>,
    /// The signed note of the checkpoint.
    pub checkpoint: Option<String>,
}

/// A transparency log (Rekor) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    pub integrated_time: i64,
    /// The signed entry timestamp (inclusion promise).
    pub signed_entry_timestamp: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    pub canonicalized_body: Vec<u8>,
}

/// A parsed Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub media_type: String,
    pub version: BundleVersion,
    pub material: SigningMaterial,
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 signed timestamps (DER), not verified yet.
    pub rfc3161_timestamps: Vec<Vec<u8>>,
    pub content: Content,
}

/// A protobuf-JSON 64-bit integer: a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    Str(String),
    Num(i64),
}

impl Int {
    fn signed(&self, what: &str) -> Result<i64, Error> {
        match self {
            Int::Num(n) => Ok(*n),
            Int::Str(s) => s
                .parse()
                .map_err(|_| malformed(format!("bundle: {what} is not an integer: {s:?}"))),
        }
    }

    fn unsigned(&self, what: &str) -> Result<u64, Error> {
        u64::try_from(self.signed(what)?)
            .map_err(|_| malformed(format!("bundle: {what} is negative")))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    x509_certificate_chain: Option<RawChain>,
    certificate: Option<RawCert>,
    public_key: Option<RawHint>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
struct RawHint {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawSignedTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSignedTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: Int,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    integrated_time: Option<Int>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Int,
    root_hash: String,
    tree_size: Int,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
    /// Ours, not the bundle format's: see [`Content::MessageSignature`].
    message: Option<String>,
}

impl RawMessageSignature {
    fn parse(self) -> Result<Content, Error> {
        let digest = self
            .message_digest
            .map(|d| Ok::<_, Error>((d.algorithm, b64("bundle messageDigest", &d.digest)?)))
            .transpose()?;
        let message = self
            .message
            .map(|m| b64("bundle messageSignature.message", &m))
            .transpose()?;
        if let Some(message) = &message {
            match &digest {
                Some((alg, d)) if alg == "SHA2_256" && d.as_slice() == super::sha256(message) => {}
                Some((alg, _)) if alg == "SHA2_256" => {
                    return Err(malformed(
                        "bundle: messageSignature.message does not have the messageDigest",
                    ))
                }
                Some((alg, _)) => {
                    return Err(malformed(format!(
                    "bundle: messageSignature.message with a {alg} messageDigest (only SHA2_256)"
                )))
                }
                None => {
                    return Err(malformed(
                        "bundle: messageSignature.message without a messageDigest",
                    ))
                }
            }
        }
        Ok(Content::MessageSignature {
            digest,
            signature: b64("bundle messageSignature.signature", &self.signature)?,
            message,
        })
    }
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

/// A DSSE envelope's JSON: the bundle's `dsseEnvelope` (protobuf-JSON), or the DSSE JSON format
/// itself (the same members).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawDsseSig>,
    /// Ours, not the bundle format's: see [`DsseEnvelope::raw`].
    raw_envelope: Option<String>,
}

impl RawEnvelope {
    fn parse(self, what: &str) -> Result<DsseEnvelope, Error> {
        Ok(DsseEnvelope {
            statement: OnceCell::new(),
            payload: b64(&format!("{what}.payload"), &self.payload)?,
            payload_type: self.payload_type,
            signatures: self
                .signatures
                .iter()
                .map(|s| {
                    Ok(DsseSignature {
                        sig: b64(&format!("{what}.signatures"), &s.sig)?,
                        keyid: s.keyid.clone(),
                    })
                })
                .collect::<Result<_, Error>>()?,
            raw: self
                .raw_envelope
                .map(|r| b64(&format!("{what}.rawEnvelope"), &r))
                .transpose()?,
        })
    }
}

/// Parses a DSSE envelope's JSON (`{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}`,
/// base64 standard), as logged in an `intoto` 0.0.1 entry. A `rawEnvelope` member in it is
/// refused: the bytes are the raw envelope.
pub(crate) fn parse_dsse_json(json: &[u8]) -> Result<DsseEnvelope, Error> {
    let raw: RawEnvelope =
        serde_json::from_slice(json).map_err(|e| malformed(format!("DSSE envelope: {e}")))?;
    if raw.raw_envelope.is_some() {
        return Err(malformed("DSSE envelope: has a rawEnvelope member"));
    }
    raw.parse("DSSE envelope")
}

#[derive(Deserialize)]
struct RawDsseSig {
    sig: String,
    #[serde(default)]
    keyid: String,
}

fn entry(i: usize, raw: RawEntry) -> Result<TlogEntry, Error> {
    let what = |f: &str| format!("tlogEntries[{i}].{f}");
    let inclusion_proof = match raw.inclusion_proof {
        None => None,
        Some(p) => Some(InclusionProof {
            log_index: p.log_index.unsigned(&what("inclusionProof.logIndex"))?,
            root_hash: b64(&what("inclusionProof.rootHash"), &p.root_hash)?,
            tree_size: p.tree_size.unsigned(&what("inclusionProof.treeSize"))?,
            hashes: p
                .hashes
                .iter()
                .map(|h| b64(&what("inclusionProof.hashes"), h))
                .collect::<Result<_, _>>()?,
            checkpoint: p.checkpoint.map(|c| c.envelope),
        }),
    };
    Ok(TlogEntry {
        log_index: raw.log_index.unsigned(&what("logIndex"))?,
        log_id: b64(&what("logId.keyId"), &raw.log_id.key_id)?,
        kind: raw.kind_version.kind,
        version: raw.kind_version.version,
        integrated_time: raw
            .integrated_time
            .map(|t| t.signed(&what("integratedTime")))
            .transpose()?
            .unwrap_or(0),
        signed_entry_timestamp: raw
            .inclusion_promise
            .map(|p| {
                b64(
                    &what("inclusionPromise.signedEntryTimestamp"),
                    &p.signed_entry_timestamp,
                )
            })
            .transpose()?,
        inclusion_proof,
        canonicalized_body: b64(&what("canonicalizedBody"), &raw.canonicalized_body)?,
    })
}

impl Bundle {
    /// The signed message a message-signature bundle carries (`messageSignature.message`, see
    /// [`Content::MessageSignature`]): the artifact to verify the bundle for, as
    /// [`Artifact::Bytes`](super::Artifact::Bytes). `None` for a DSSE bundle or a plain Sigstore
    /// bundle. Nothing in it is trusted until [`verify`](super::verify()) accepts the bundle.
    pub fn message(&self) -> Option<&[u8]> {
        match &self.content {
            Content::MessageSignature {
                message: Some(m), ..
            } => Some(m),
            _ => None,
        }
    }

    /// Parses a bundle's JSON, checking its media type and the fields its version requires.
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let raw: RawBundle =
            serde_json::from_slice(json).map_err(|e| malformed(format!("bundle: {e}")))?;
        let version = BundleVersion::from_media_type(&raw.media_type)?;
        let vm = raw.verification_material;
        let material = match (vm.x509_certificate_chain, vm.certificate, vm.public_key) {
            (Some(chain), None, None) => {
                if version >= BundleVersion::V0_3 {
                    return Err(malformed("bundle: v0.3 bundles carry a single certificate, not a chain"));
                }
                let mut certs = chain
                    .certificates
                    .iter()
                    .map(|c| b64("bundle certificate", &c.raw_bytes))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter();
                let leaf = certs
                    .next()
                    .ok_or_else(|| malformed("bundle: empty certificate chain"))?;
                SigningMaterial::Certificate { leaf, chain: certs.collect() }
            }
            (None, Some(cert), None) => SigningMaterial::Certificate {
                leaf: b64("bundle certificate", &cert.raw_bytes)?,
                chain: Vec::new(),
            },
            (None, None, Some(key)) => SigningMaterial::PublicKey { hint: key.hint },
            _ => {
                return Err(malformed(
                    "bundle: verificationMaterial needs exactly one of x509CertificateChain, certificate, publicKey",
                ))
            }
        };
        let tlog_entries = vm
            .tlog_entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| entry(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, e) in tlog_entries.iter().enumerate() {
            if version == BundleVersion::V0_1 && e.signed_entry_timestamp.is_none() {
                return Err(malformed(format!(
                    "bundle: v0.1 tlogEntries[{i}] has no inclusionPromise"
                )));
            }
            if version >= BundleVersion::V0_2 && e.inclusion_proof.is_none() {
                return Err(malformed(format!(
                    "bundle: tlogEntries[{i}] has no inclusionProof"
                )));
            }
        }
        let rfc3161_timestamps = vm
            .timestamp_verification_data
            .map(|t| t.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| b64("bundle RFC 3161 timestamp", &t.signed_timestamp))
            .collect::<Result<Vec<_>, _>>()?;
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(m), None) => m.parse()?,
            (None, Some(env)) => Content::Dsse(env.parse("bundle dsseEnvelope")?),
            _ => {
                return Err(malformed(
                    "bundle: needs exactly one of messageSignature, dsseEnvelope",
                ))
            }
        };
        Ok(Bundle {
            media_type: raw.media_type,
            version,
            material,
            tlog_entries,
            rfc3161_timestamps,
            content,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A message signature's `message` (ours) must have the bundle's `messageDigest`.
    #[test]
    fn a_message_must_have_the_message_digest() {
        let json = |message: &[u8], digest: Option<(&str, [u8; 32])>| {
            let mut signature = serde_json::json!({
                "signature": super::super::b64_encode(b"sig"),
                "message": super::super::b64_encode(message),
            });
            if let Some((algorithm, d)) = digest {
                signature["messageDigest"] = serde_json::json!({
                    "algorithm": algorithm,
                    "digest": super::super::b64_encode(&d),
                });
            }
            serde_json::json!({
                "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
                "verificationMaterial": {"publicKey": {"hint": ""}},
                "messageSignature": signature,
            })
            .to_string()
        };
        let sha256 = super::super::sha256;
        let bundle =
            Bundle::from_json(json(b"payload", Some(("SHA2_256", sha256(b"payload")))).as_bytes())
                .unwrap();
        assert_eq!(bundle.message(), Some(&b"payload"[..]));
        for (text, want) in [
            (
                json(b"payload", Some(("SHA2_256", sha256(b"other")))),
                "malformed: bundle: messageSignature.message does not have the messageDigest",
            ),
            (
                json(b"payload", Some(("SHA2_384", sha256(b"payload")))),
                "malformed: bundle: messageSignature.message with a SHA2_384 messageDigest (only SHA2_256)",
            ),
            (
                json(b"payload", None),
                "malformed: bundle: messageSignature.message without a messageDigest",
            ),
            (
                json(b"payload", Some(("SHA2_256", sha256(b"payload"))))
                    .replace(&super::super::b64_encode(b"payload"), "not base64!"),
                "malformed: bundle messageSignature.message: invalid base64: Invalid symbol 32, offset 3.",
            ),
        ] {
            assert_eq!(Bundle::from_json(text.as_bytes()).unwrap_err().to_string(), want);
        }
        // Without a message (a plain Sigstore bundle), there is none to read.
        let mut plain: Value =
            serde_json::from_str(&json(b"payload", Some(("SHA2_256", sha256(b"payload")))))
                .unwrap();
        plain["messageSignature"]
            .as_object_mut()
            .unwrap()
            .remove("message");
        let plain = plain.to_string();
        assert_eq!(Bundle::from_json(plain.as_bytes()).unwrap().message(), None);
    }

    /// The statement is read once, and only from an in-toto payload.
    #[test]
    fn the_statement_is_read_once() {
        let envelope = |payload_type: &str, payload: &[u8]| {
            DsseEnvelope::new(payload.to_vec(), payload_type.into(), Vec::new(), None)
        };
        let env = envelope(DSSE_IN_TOTO, br#"{"_type": "t", "subject": []}"#);
        let first = env.statement().unwrap() as *const Value;
        assert_eq!(env.statement().unwrap() as *const Value, first);
        assert_eq!(env.statement().unwrap()["_type"], "t");
        let not_json = envelope(DSSE_IN_TOTO, b"[").statement().unwrap_err();
        assert!(
            matches!(&not_json, Error::Malformed(m) if m.starts_with("in-toto statement:")),
            "{not_json:?}"
        );
        let other = envelope("text/plain", b"{}").statement().unwrap_err();
        assert!(
            matches!(&other, Error::Unsupported(m) if m.contains("only in-toto")),
            "{other:?}"
        );
        // Equality is the envelope's, whether or not its statement was read.
        assert_eq!(
            env,
            envelope(DSSE_IN_TOTO, br#"{"_type": "t", "subject": []}"#)
        );
    }
}
