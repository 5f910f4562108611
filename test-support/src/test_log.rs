//! A private test "Rekor" made here with real cryptography (RustCrypto P-256 ECDSA, keys derived
//! from fixed bytes): it logs an entry body of any kind with a signed entry timestamp, and an
//! inclusion proof with a signed checkpoint, and is trusted by a trusted root (alone, or beside
//! the public-good CAs and CT logs, so that real Fulcio certificates still verify). A log entry
//! whose body was altered can be logged again this way: its signed entry timestamp then verifies,
//! and only the body's binding to the bundle can refuse it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use custody_sigstore::TrustedRoot;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::Digest as _;

/// The private log's base URL: checkpoints are signed in the name of its host.
pub const LOG_URL: &str = "https://rekor.example.test";
pub const LOG_NAME: &str = "rekor.example.test";
/// Where the log says it put the entry.
pub const LOG_INDEX: u64 = 4242;

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DER SubjectPublicKeyInfo prefix of a P-256 key (id-ecPublicKey, prime256v1), before its
/// 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 key pair derived from fixed bytes.
pub struct Key {
    signing: SigningKey,
    /// The public key, DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The public key, PEM `PUBLIC KEY`.
    pub pem: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("pem", &self.pem)
            .finish_non_exhaustive()
    }
}

impl Key {
    pub fn new(name: &str) -> Key {
        let scalar = sha256(format!("custody test key: {name}").as_bytes());
        let signing = SigningKey::from_slice(&scalar).expect("a P-256 scalar");
        let point = signing.verifying_key().to_sec1_point(false);
        let spki = [&P256_SPKI_PREFIX[..], point.as_bytes()].concat();
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.clone()));
        Key { signing, spki, pem }
    }

    /// A DER ECDSA signature over SHA-256 of `message` (deterministic, RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.signing.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// SHA-256 of the DER public key: a log's ID.
    pub fn id(&self) -> Vec<u8> {
        sha256(&self.spki)
    }
}

/// The same ECDSA signature (DER) with `s` replaced by `n - s`: P-256 verification accepts both,
/// so it still verifies, but its bytes differ.
pub fn malleate(der: &[u8]) -> Vec<u8> {
    let signature = Signature::from_der(der).expect("a DER signature");
    let (r, s) = signature.split_scalars();
    Signature::from_scalars(r, -s)
        .expect("a signature")
        .to_der()
        .as_bytes()
        .to_vec()
}

/// The log's signed entry timestamp over `body`: its signature over the canonical JSON of the
/// entry.
pub fn signed_entry_timestamp(log: &Key, body: &[u8], integrated_time: i64) -> Vec<u8> {
    signed_entry_timestamp_by(log, log, body, integrated_time)
}

/// The same in `log`'s name (its ID) but signed by `signer`: a rogue log's forgery when they
/// differ.
pub fn signed_entry_timestamp_by(
    log: &Key,
    signer: &Key,
    body: &[u8],
    integrated_time: i64,
) -> Vec<u8> {
    let promise = format!(
        r#"{{"body":"{}","integratedTime":{integrated_time},"logID":"{}","logIndex":{LOG_INDEX}}}"#,
        B64.encode(body),
        hex(&log.id()),
    );
    signer.sign(promise.as_bytes())
}

fn leaf_hash(data: &[u8]) -> Vec<u8> {
    sha256(&[&[0u8][..], data].concat())
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    sha256(&[&[1u8][..], left, right].concat())
}

/// The entry as the second leaf of a two-leaf tree, and the log's signed checkpoint of that tree.
pub fn inclusion_proof(log: &Key, body: &[u8]) -> Value {
    inclusion_proof_by(log, log, body)
}

/// The same with the checkpoint in `log`'s name (its key hint) but signed by `signer`.
pub fn inclusion_proof_by(log: &Key, signer: &Key, body: &[u8]) -> Value {
    let sibling = leaf_hash(b"an earlier entry");
    let root = node_hash(&sibling, &leaf_hash(body));
    let text = format!(
        "{LOG_NAME} - 1193050959916656506\n2\n{}\n",
        B64.encode(&root)
    );
    let signed = [&log.id()[..4], &signer.sign(text.as_bytes())].concat();
    let checkpoint = format!("{text}\n\u{2014} {LOG_NAME} {}\n", B64.encode(signed));
    json!({
        "logIndex": "1",
        "rootHash": B64.encode(&root),
        "treeSize": "2",
        "hashes": [B64.encode(&sibling)],
        "checkpoint": {"envelope": checkpoint},
    })
}

/// A bundle `tlogEntries[]` item: `body` (an entry of `kind` `version`) logged by `log` at
/// `integrated_time`, with its signed entry timestamp, and an inclusion proof if `proof`.
pub fn tlog_entry(
    log: &Key,
    (kind, version): (&str, &str),
    body: &[u8],
    integrated_time: i64,
    proof: bool,
) -> Value {
    let mut entry = json!({
        "logIndex": LOG_INDEX.to_string(),
        "logId": {"keyId": B64.encode(log.id())},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": integrated_time.to_string(),
        "inclusionPromise": {
            "signedEntryTimestamp": B64.encode(signed_entry_timestamp(log, body, integrated_time)),
        },
        "canonicalizedBody": B64.encode(body),
    });
    if proof {
        entry["inclusionProof"] = inclusion_proof(log, body);
    }
    entry
}

/// A DSSE envelope of `payload` (`payload_type`) signed by `signer`, and the body of the Rekor
/// `dsse` 0.0.1 entry that logs it: the envelope's and the payload's hashes, and the signature
/// with its verifier (the base64 of the PEM public key).
pub fn dsse_envelope(signer: &Key, payload_type: &str, payload: &[u8]) -> (Value, String) {
    let signature = signer.sign(&custody_sigstore::pae(payload_type, payload));
    let envelope = json!({
        "payload": B64.encode(payload),
        "payloadType": payload_type,
        "signatures": [{"sig": B64.encode(&signature), "keyid": ""}],
    });
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex(&sha256(envelope.to_string().as_bytes()))},
            "payloadHash": {"algorithm": "sha256", "value": hex(&sha256(payload))},
            "signatures": [{
                "signature": B64.encode(&signature),
                "verifier": B64.encode(signer.pem.as_bytes()),
            }],
        },
    })
    .to_string();
    (envelope, body)
}

/// A Sigstore bundle v0.3 of `payload` (an in-toto statement) in a DSSE envelope signed by
/// `signer`, logged by `log` at `integrated_time` (signed entry timestamp and inclusion proof).
pub fn dsse_bundle(signer: &Key, log: &Key, payload: &[u8], integrated_time: i64) -> Value {
    let (envelope, body) = dsse_envelope(signer, "application/vnd.in-toto+json", payload);
    json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": B64.encode(signer.id())},
            "tlogEntries": [tlog_entry(log, ("dsse", "0.0.1"), body.as_bytes(), integrated_time, true)],
        },
        "dsseEnvelope": envelope,
    })
}

/// A trusted root `tlogs[]` item for `log` (valid from 2020).
fn transparency_log(log: &Key) -> Value {
    json!({
        "baseUrl": LOG_URL,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": B64.encode(&log.spki),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": "2020-01-01T00:00:00Z"},
        },
        "logId": {"keyId": B64.encode(log.id())},
    })
}

/// A trusted root whose only trust is `log` (key-signed bundles need no CA, CT log or timestamp
/// authority).
pub fn trusted_root(log: &Key) -> TrustedRoot {
    TrustedRoot::from_json(trusted_root_json(log).to_string().as_bytes()).expect("a root")
}

/// [`trusted_root`] as the JSON document (a policy's `trustedRoot` setting).
pub fn trusted_root_json(log: &Key) -> Value {
    json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [transparency_log(log)],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    })
}

/// The public-good trusted root with `log` as its only transparency log: Fulcio certificates
/// and their SCTs verify as in public good, log entries only if `log` logged them.
pub fn public_good_with(log: &Key) -> TrustedRoot {
    let mut root: Value = serde_json::from_slice(include_bytes!(
        "../../sigstore/src/public_good_trusted_root.json"
    ))
    .expect("the public-good root");
    root["tlogs"] = json!([transparency_log(log)]);
    TrustedRoot::from_json(root.to_string().as_bytes()).expect("a root")
}
