//! Rekor v1 transparency log entries: the signed entry timestamp, the inclusion proof and its
//! checkpoint, and the entry body (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2).

use super::bundle::{Content, TlogEntry};
use super::merkle::{leaf_hash, parse_checkpoint, root_from_inclusion_proof};
use super::time::Timestamp;
use super::trust::{TransparencyLog, TrustedRoot};
use super::{b64, b64_encode, hex, invalid, malformed, sha256, unsupported, Error};
use serde_json::Value;

/// Checks an entry's log, signed entry timestamp (Rekor v1), and inclusion proof with its
/// checkpoint (`now`: `None` skips the "not in the future" check). Returns the integrated time when a signed entry timestamp proves it; an entry
/// without one (Rekor v2) needs `tsa_times`, the verified RFC 3161 times, for its log key.
pub(crate) fn verify_entry(
    entry: &TlogEntry,
    trust: &TrustedRoot,
    now: Option<Timestamp>,
    tsa_times: &[Timestamp],
) -> Result<Option<Timestamp>, Error> {
    match (entry.kind.as_str(), entry.version.as_str()) {
        ("hashedrekord", "0.0.1")
        | ("dsse", "0.0.1")
        | ("intoto", "0.0.2")
        | ("hashedrekord", "0.0.2") => {}
        (k, v) => return Err(unsupported(format!("tlog entry kind {k} {v}"))),
    }
    let log = trust.tlog(&entry.log_id).ok_or_else(|| {
        invalid(format!(
            "tlog entry: log {} is not in the trusted root",
            b64_encode(&entry.log_id)
        ))
    })?;
    let key = log.key.as_ref().map_err(Clone::clone)?;
    let integrated = match &entry.signed_entry_timestamp {
        Some(set) => {
            if entry.integrated_time <= 0 {
                return Err(invalid(
                    "tlog entry: signed entry timestamp without an integrated time",
                ));
            }
            let time = Timestamp::from_unix(entry.integrated_time);
            if let Some(now) = now.filter(|now| time > *now) {
                return Err(invalid(format!(
                    "tlog entry: integrated time {time} is in the future (now {now})"
                )));
            }
            if !log.valid_for.contains(time) {
                return Err(invalid(format!(
                    "tlog entry: the log key is not valid at integrated time {time}"
                )));
            }
            // The log's signature over the canonical JSON of the entry (keys sorted, no spaces).
            let canonical = format!(
                r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
                b64_encode(&entry.canonicalized_body),
                entry.integrated_time,
                hex(&entry.log_id),
                entry.log_index
            );
            key.verify(canonical.as_bytes(), set)
                .map_err(|_| invalid("tlog entry: signed entry timestamp does not verify"))?;
            Some(time)
        }
        None => {
            if tsa_times.is_empty() {
                return Err(invalid(
                    "tlog entry has no signed entry timestamp and the bundle no RFC 3161 timestamp: no trusted time",
                ));
            }
            if let Some(t) = tsa_times.iter().find(|t| !log.valid_for.contains(**t)) {
                return Err(invalid(format!(
                    "tlog entry: the log key is not valid at timestamp {t}"
                )));
            }
            if entry.inclusion_proof.is_none() {
                return Err(invalid(
                    "tlog entry has neither a signed entry timestamp nor an inclusion proof",
                ));
            }
            None
        }
    };
    if let Some(proof) = &entry.inclusion_proof {
        let leaf = leaf_hash(&entry.canonicalized_body);
        let root =
            root_from_inclusion_proof(proof.log_index, proof.tree_size, leaf, &proof.hashes)?;
        if root.as_slice() != proof.root_hash.as_slice() {
            return Err(invalid(
                "tlog entry: inclusion proof does not lead to the root hash",
            ));
        }
        let note = proof
            .checkpoint
            .as_deref()
            .ok_or_else(|| malformed("tlog entry: inclusion proof without a checkpoint"))?;
        verify_checkpoint(note, log, proof.tree_size, &proof.root_hash)?;
    }
    Ok(integrated)
}

/// The log's name in checkpoints: the host of its base URL.
fn log_name(log: &TransparencyLog) -> &str {
    let url = log.base_url.as_str();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Checks a checkpoint: one of its signatures is the log's (its name, key hint and key), and it
/// commits to the inclusion proof's tree size and root hash. Other signatures (witnesses) are
/// ignored.
fn verify_checkpoint(
    note: &str,
    log: &TransparencyLog,
    size: u64,
    root: &[u8],
) -> Result<(), Error> {
    let cp = parse_checkpoint(note)?;
    let key = log.key.as_ref().map_err(Clone::clone)?;
    let hint = log
        .key_id
        .get(..4)
        .ok_or_else(|| malformed("trusted root: log ID shorter than 4 bytes"))?;
    let name = log_name(log);
    let signed = cp
        .signatures
        .iter()
        .filter(|(n, h, _)| n == name && h.as_slice() == hint)
        .any(|(_, _, sig)| key.verify(cp.text.as_bytes(), sig).is_ok());
    if !signed {
        return Err(invalid(format!(
            "checkpoint: no valid signature by the log {name}"
        )));
    }
    if cp.size != size || cp.root_hash != root {
        return Err(invalid(
            "checkpoint: tree size or root hash differ from the inclusion proof",
        ));
    }
    Ok(())
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, Error> {
    path.iter().try_fold(v, |v, k| {
        v.get(k)
            .ok_or_else(|| malformed(format!("tlog entry body: no {}", path.join("."))))
    })
}

fn string<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, Error> {
    field(v, path)?.as_str().ok_or_else(|| {
        malformed(format!(
            "tlog entry body: {} is not a string",
            path.join(".")
        ))
    })
}

/// A `publicKey`/`verifier` field: base64 of PEM (a certificate or a public key), as DER.
fn pem_der(what: &str, b64_pem: &str) -> Result<Vec<u8>, Error> {
    let text = b64(what, b64_pem)?;
    let block = pem::parse(&text).map_err(|e| malformed(format!("{what}: bad PEM: {e}")))?;
    Ok(block.contents().to_vec())
}

fn check_sha256(what: &str, v: &Value, path: &[&str], want: &[u8]) -> Result<(), Error> {
    let mut alg = path.to_vec();
    alg.push("algorithm");
    let mut val = path.to_vec();
    val.push("value");
    if string(v, &alg)? != "sha256" {
        return Err(unsupported(format!(
            "tlog entry body: {what} hash is not sha256"
        )));
    }
    if string(v, &val)? != hex(want) {
        return Err(invalid(format!(
            "tlog entry body: {what} hash does not match the bundle"
        )));
    }
    Ok(())
}

/// Checks that the entry's body records this bundle: its signature, its certificate or key
/// (`signer`, DER), and the artifact digest or DSSE envelope.
pub(crate) fn check_body(
    entry: &TlogEntry,
    content: &Content,
    signer: &[u8],
    artifact_sha256: &[u8; 32],
) -> Result<(), Error> {
    let body: Value = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| malformed(format!("tlog entry body: {e}")))?;
    if string(&body, &["kind"])? != entry.kind || string(&body, &["apiVersion"])? != entry.version {
        return Err(invalid(
            "tlog entry body: kind or version differ from the entry's kindVersion",
        ));
    }
    match (entry.kind.as_str(), content) {
        ("hashedrekord", Content::MessageSignature { signature, .. })
            if entry.version == "0.0.1" =>
        {
            check_sha256(
                "artifact",
                &body,
                &["spec", "data", "hash"],
                artifact_sha256,
            )?;
            let sig = b64(
                "tlog entry signature",
                string(&body, &["spec", "signature", "content"])?,
            )?;
            if &sig != signature {
                return Err(invalid(
                    "tlog entry body: signature differs from the bundle's",
                ));
            }
            let key = pem_der(
                "tlog entry public key",
                string(&body, &["spec", "signature", "publicKey", "content"])?,
            )?;
            if key != signer {
                return Err(invalid(
                    "tlog entry body: certificate or key differs from the bundle's",
                ));
            }
            Ok(())
        }
        ("dsse", Content::Dsse(env)) => {
            check_sha256(
                "DSSE payload",
                &body,
                &["spec", "payloadHash"],
                &sha256(&env.payload),
            )?;
            let sigs = field(&body, &["spec", "signatures"])?
                .as_array()
                .ok_or_else(|| malformed("tlog entry body: spec.signatures is not a list"))?;
            check_signatures(env, sigs, signer, |s| {
                Ok((
                    b64("tlog entry signature", string(s, &["signature"])?)?,
                    string(s, &["verifier"])?.to_string(),
                ))
            })
        }
        ("intoto", Content::Dsse(env)) => {
            check_sha256(
                "DSSE payload",
                &body,
                &["spec", "content", "payloadHash"],
                &sha256(&env.payload),
            )?;
            let logged = field(&body, &["spec", "content", "envelope"])?;
            if string(logged, &["payloadType"])? != env.payload_type {
                return Err(invalid(
                    "tlog entry body: DSSE payload type differs from the bundle's",
                ));
            }
            let sigs = field(logged, &["signatures"])?
                .as_array()
                .ok_or_else(|| malformed("tlog entry body: envelope signatures is not a list"))?;
            // intoto 0.0.2 stores each signature base64-encoded twice.
            check_signatures(env, sigs, signer, |s| {
                let once = b64("tlog entry signature", string(s, &["sig"])?)?;
                let text = String::from_utf8(once)
                    .map_err(|_| malformed("tlog entry signature: not text"))?;
                Ok((
                    b64("tlog entry signature", &text)?,
                    string(s, &["publicKey"])?.to_string(),
                ))
            })
        }
        ("hashedrekord", content) if entry.version == "0.0.2" => {
            let spec = field(&body, &["spec", "hashedRekordV002"])?;
            // Over DSSE, Rekor v2 logs the hash of the pre-authentication encoding.
            let (want_digest, want_sig) = match content {
                Content::MessageSignature { signature, .. } => {
                    (artifact_sha256.to_vec(), signature)
                }
                Content::Dsse(env) => {
                    let [sig] = env.signatures.as_slice() else {
                        return Err(invalid("DSSE envelope must have exactly one signature"));
                    };
                    (
                        sha256(&super::verify::pae(&env.payload_type, &env.payload)).to_vec(),
                        &sig.sig,
                    )
                }
            };
            if string(spec, &["data", "algorithm"])? != "SHA2_256" {
                return Err(unsupported(
                    "tlog entry body: digest algorithm is not SHA2_256",
                ));
            }
            if b64("tlog entry digest", string(spec, &["data", "digest"])?)? != want_digest {
                return Err(invalid("tlog entry body: digest does not match the bundle"));
            }
            if &b64(
                "tlog entry signature",
                string(spec, &["signature", "content"])?,
            )? != want_sig
            {
                return Err(invalid(
                    "tlog entry body: signature differs from the bundle's",
                ));
            }
            let verifier = field(spec, &["signature", "verifier"])?;
            let raw = verifier
                .get("x509Certificate")
                .or_else(|| verifier.get("publicKey"))
                .and_then(|v| v.get("rawBytes"))
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("tlog entry body: verifier has no certificate or key"))?;
            if b64("tlog entry verifier", raw)? != signer {
                return Err(invalid(
                    "tlog entry body: certificate or key differs from the bundle's",
                ));
            }
            Ok(())
        }
        (kind, _) => Err(invalid(format!(
            "tlog entry: a {kind} entry does not match the bundle's content type"
        ))),
    }
}

fn check_signatures(
    env: &super::bundle::DsseEnvelope,
    logged: &[Value],
    signer: &[u8],
    read: impl Fn(&Value) -> Result<(Vec<u8>, String), Error>,
) -> Result<(), Error> {
    if logged.len() != env.signatures.len() {
        return Err(invalid(
            "tlog entry body: number of DSSE signatures differs from the bundle's",
        ));
    }
    for (s, bundle_sig) in logged.iter().zip(&env.signatures) {
        let (sig, verifier) = read(s)?;
        if sig != bundle_sig.sig {
            return Err(invalid(
                "tlog entry body: DSSE signature differs from the bundle's",
            ));
        }
        if pem_der("tlog entry verifier", &verifier)? != signer {
            return Err(invalid(
                "tlog entry body: DSSE verifier differs from the bundle's certificate or key",
            ));
        }
    }
    Ok(())
}
