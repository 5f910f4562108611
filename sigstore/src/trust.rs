//! Trust material from a Sigstore `trusted_root.json` (protobuf-JSON, camelCase).

use super::time::{parse_rfc3339, Timestamp};
use super::{b64, malformed, Error, PublicKey};
use serde::Deserialize;

/// The Sigstore public-good trusted root, embedded (a copy of
/// `shared/testdata/sigstore-public-good/trusted_root.json`, so that the crate builds on its own;
/// a test checks that the two agree).
const PUBLIC_GOOD: &[u8] = include_bytes!("public_good_trusted_root.json");

/// The links of the embedded public-good root's certificate chains (a certificate and the next
/// one, its issuer: the SHA-256 of each one's DER) whose signatures were checked when the root
/// was embedded: `tests::checked_links_are_the_embedded_roots` checks each signature and that
/// this list is exactly the root's links, so it fails when the embedded root changes. A
/// verification need not check these signatures again (an ECDSA P-384 check each, the costliest
/// step of a keyless verification in wasm); a root that holds the same certificates, byte for
/// byte, benefits too.
const CHECKED_LINKS: [([u8; 32], [u8; 32]); 1] = [(
    // Fulcio's intermediate (sigstore-intermediate, 2022) by its root (sigstore, 2021).
    hex_digest("15d795348226b4649f750f5802592c393bee7cc53c3b86982175b7ad087efe47"),
    hex_digest("3ba7b6cc4e95469d4d334b49cb257ad8537076fa84b0ca87ff4ecfe6a54680c1"),
)];

/// A SHA-256 digest from 64 lower-case hex digits (at compile time: a bad one does not build).
const fn hex_digest(hex: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let hex = hex.as_bytes();
    assert!(hex.len() == 64, "not 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(hex[2 * i]) * 16 + digit(hex[2 * i + 1]);
        i += 1;
    }
    out
}

/// Whether `issuer_der` signing `child_der` is one of [`CHECKED_LINKS`].
pub(crate) fn is_checked_link(child_der: &[u8], issuer_der: &[u8]) -> bool {
    let link = (super::sha256(child_der), super::sha256(issuer_der));
    CHECKED_LINKS.contains(&link)
}

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
    fn checked_links_are_the_embedded_roots() {
        let root = TrustedRoot::public_good().unwrap();
        let mut links = Vec::new();
        for ca in root
            .certificate_authorities
            .iter()
            .chain(&root.timestamp_authorities)
        {
            for pair in ca.certificates.windows(2) {
                let [child, issuer] = pair else {
                    unreachable!()
                };
                let parse = |der| crate::cert::parse("embedded", der).unwrap();
                crate::cert::check_signed_by("embedded link", &parse(child), &parse(issuer))
                    .unwrap();
                assert!(is_checked_link(child, issuer));
                links.push((super::super::sha256(child), super::super::sha256(issuer)));
            }
        }
        assert_eq!(links, CHECKED_LINKS.to_vec());
    }

    #[test]
    fn an_altered_link_is_checked_again() {
        let root = TrustedRoot::public_good().unwrap();
        let [intermediate, issuer] = root.certificate_authorities[1].certificates.as_slice() else {
            panic!("the 2022 authority is an intermediate and its root");
        };
        let parse = |der: &[u8]| crate::cert::parse("embedded", der).unwrap();
        let link = |child: &[u8]| {
            crate::cert::check_trusted_link(
                "link",
                (&parse(child), child),
                (&parse(issuer), issuer),
            )
        };
        link(intermediate).unwrap();
        // The same certificate with one bit of its signature changed: no longer the checked link,
        // so its signature is checked, and fails.
        let mut altered = intermediate.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(!is_checked_link(&altered, issuer));
        let err = link(&altered).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn missing_start_is_rejected() {
        let json = br#"{"tlogs":[{"baseUrl":"x","hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"AA==","keyDetails":"PKIX_ED25519","validFor":{"end":"2030-01-01T00:00:00Z"}},"logId":{"keyId":"AA=="}}]}"#;
        let err = TrustedRoot::from_json(json).unwrap_err();
        assert!(err.to_string().contains("no start"), "{err}");
    }
}
