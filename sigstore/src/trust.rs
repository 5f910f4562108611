//! Trust material from a Sigstore `trusted_root.json` (protobuf-JSON, camelCase).

use super::time::{parse_rfc3339, Timestamp};
use super::{b64, malformed, Error, PublicKey};
use serde::Deserialize;

/// The Sigstore public-good trusted root, embedded (a copy of
/// `shared/testdata/sigstore-public-good/trusted_root.json`, so that the crate builds on its own;
/// a test checks that the two agree).
const PUBLIC_GOOD: &[u8] = include_bytes!("public_good_trusted_root.json");

/// A closed interval of time; an absent `end` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

impl TimeRange {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

/// A transparency log (Rekor) or certificate transparency log.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    pub base_url: String,
    pub hash_algorithm: String,
    /// The log ID: SHA-256 of the log's DER public key.
    pub key_id: Vec<u8>,
    pub key_details: String,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The key, or why it cannot be used (an algorithm not supported yet).
    pub key: Result<PublicKey, Error>,
    pub valid_for: TimeRange,
}

/// A certificate authority (Fulcio) or timestamp authority.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    /// DER certificates, the issuing (intermediate) one first, the root last.
    pub certificates: Vec<Vec<u8>>,
    pub valid_for: TimeRange,
}

/// The trust material of a Sigstore instance.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub tlogs: Vec<TransparencyLog>,
    pub ctlogs: Vec<TransparencyLog>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    hash_algorithm: String,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCert {
    pub(crate) raw_bytes: String,
}

fn range(what: &str, r: Option<RawRange>) -> Result<TimeRange, Error> {
    let r = r.ok_or_else(|| malformed(format!("trusted root: {what} has no validFor")))?;
    let start = r
        .start
        .ok_or_else(|| malformed(format!("trusted root: {what} validFor has no start")))?;
    Ok(TimeRange {
        start: parse_rfc3339(&start)?,
        end: r.end.as_deref().map(parse_rfc3339).transpose()?,
    })
}

fn log(kind: &str, i: usize, raw: RawLog) -> Result<TransparencyLog, Error> {
    let what = format!("{kind}[{i}]");
    let spki = b64(
        &format!("trusted root: {what} public key"),
        &raw.public_key.raw_bytes,
    )?;
    let key = match raw.public_key.key_details.as_str() {
        "PKIX_ECDSA_P256_SHA_256"
        | "PKIX_ECDSA_P384_SHA_384"
        | "PKIX_ED25519"
        | "PKCS1_RSA_PKCS1V5"
        | "PKIX_RSA_PKCS1V15_2048_SHA256"
        | "PKIX_RSA_PKCS1V15_3072_SHA256"
        | "PKIX_RSA_PKCS1V15_4096_SHA256" => PublicKey::from_spki_der(&spki),
        other => Err(super::unsupported(format!("{what}: key type {other:?}"))),
    };
    Ok(TransparencyLog {
        base_url: raw.base_url,
        hash_algorithm: raw.hash_algorithm,
        key_id: b64(&format!("trusted root: {what} logId"), &raw.log_id.key_id)?,
        key_details: raw.public_key.key_details,
        spki,
        key,
        valid_for: range(&what, raw.public_key.valid_for)?,
    })
}

fn authority(kind: &str, i: usize, raw: RawCa) -> Result<CertificateAuthority, Error> {
    let what = format!("{kind}[{i}]");
    let certificates = raw
        .cert_chain
        .certificates
        .iter()
        .map(|c| b64(&format!("trusted root: {what} certificate"), &c.raw_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    if certificates.is_empty() {
        return Err(malformed(format!(
            "trusted root: {what} has an empty certificate chain"
        )));
    }
    Ok(CertificateAuthority {
        uri: raw.uri,
        certificates,
        valid_for: range(&what, raw.valid_for)?,
    })
}

impl TrustedRoot {
    /// Parses a `trusted_root.json`. It must have a transparency log; every log and authority must have a `validFor` with a start;
    /// keys of types not supported yet are kept, and refused only when used.
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let raw: RawRoot =
            serde_json::from_slice(json).map_err(|e| malformed(format!("trusted root: {e}")))?;
        let enumerate = |v: Vec<RawLog>, kind: &str| {
            v.into_iter()
                .enumerate()
                .map(|(i, l)| log(kind, i, l))
                .collect::<Result<Vec<_>, _>>()
        };
        let authorities = |v: Vec<RawCa>, kind: &str| {
            v.into_iter()
                .enumerate()
                .map(|(i, c)| authority(kind, i, c))
                .collect::<Result<Vec<_>, _>>()
        };
        if raw.tlogs.is_empty() {
            return Err(malformed("trusted root: no transparency log (tlogs)"));
        }
        Ok(TrustedRoot {
            tlogs: enumerate(raw.tlogs, "tlogs")?,
            ctlogs: enumerate(raw.ctlogs, "ctlogs")?,
            certificate_authorities: authorities(
                raw.certificate_authorities,
                "certificateAuthorities",
            )?,
            timestamp_authorities: authorities(raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }

    /// The Sigstore public-good instance's trusted root (embedded at build time).
    pub fn public_good() -> Result<Self, Error> {
        Self::from_json(PUBLIC_GOOD)
    }

    /// The transparency log with this log ID.
    pub fn tlog(&self, key_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.key_id == key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_good_root_parses() {
        let root = TrustedRoot::public_good().unwrap();
        assert_eq!(root.tlogs.len(), 1);
        assert_eq!(root.tlogs[0].base_url, "https://rekor.sigstore.dev");
        assert!(root.tlogs[0].key.is_ok());
        // The log ID is the SHA-256 of the key.
        assert_eq!(
            root.tlogs[0].key_id,
            super::super::sha256(&root.tlogs[0].spki)
        );
        assert_eq!(root.certificate_authorities.len(), 2);
        assert!(root.certificate_authorities[0].valid_for.end.is_some());
        assert_eq!(root.ctlogs.len(), 2);
    }

    #[test]
    fn embedded_root_is_the_shared_one() {
        let shared = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/sigstore-public-good/trusted_root.json"
        ))
        .unwrap();
        assert_eq!(PUBLIC_GOOD, shared.as_slice());
    }

    #[test]
    fn missing_start_is_rejected() {
        let json = br#"{"tlogs":[{"baseUrl":"x","hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"AA==","keyDetails":"PKIX_ED25519","validFor":{"end":"2030-01-01T00:00:00Z"}},"logId":{"keyId":"AA=="}}]}"#;
        let err = TrustedRoot::from_json(json).unwrap_err();
        assert!(err.to_string().contains("no start"), "{err}");
    }
}
