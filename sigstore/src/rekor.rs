//! Rekor transparency log entries (v1, and v2 without a signed entry timestamp): the signed entry
//! timestamp, the inclusion proof and its checkpoint, and the entry body, which must record the
//! bundle's signature, signer and artifact or envelope. Supported kinds: `hashedrekord` 0.0.1
//! and 0.0.2 (Rekor v2), `rekord` 0.0.1 (cosign's image signatures of 2021), `dsse` 0.0.1 and
//! 0.0.2 (Rekor v2), `intoto` 0.0.1 (cosign before v2) and 0.0.2; [`check_body`] says what each
//! binds.
//!
//! Not supported (refused as such): every other kind (`cose`, `helm`, `jar`, `rpm`, `alpine`,
//! `rfc3161`, `tuf`...) and version (`intoto` 0.0.3, `rekord` 0.0.2...); a `rekord` entry whose
//! signature format is not `x509` (`pgp`, `minisign`, `ssh`); an `intoto` 0.0.1 entry of a
//! bundle that neither carries the envelope's logged bytes nor has them in the form cosign and
//! Rekor's Go clients wrote (see [`check_body`]).

use super::bundle::{parse_dsse_json, Content, DsseEnvelope, TlogEntry};
use super::merkle::{leaf_hash, parse_checkpoint, root_from_inclusion_proof};
use super::time::Timestamp;
use super::trust::{TransparencyLog, TrustedRoot};
use super::{b64, b64_encode, hex, malformed, sha256, tlog_invalid, unsupported, Error};
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
    if !supported(&entry.kind, &entry.version) {
        return Err(unsupported(format!(
            "tlog entry kind {} {}",
            entry.kind, entry.version
        )));
    }
    let log = trust.tlog(&entry.log_id).ok_or_else(|| {
        tlog_invalid(format!(
            "tlog entry: log {} is not in the trusted root",
            b64_encode(&entry.log_id)
        ))
    })?;
    let key = log.key.as_ref().map_err(Clone::clone)?;
    let integrated = match &entry.signed_entry_timestamp {
        Some(set) => {
            if entry.integrated_time <= 0 {
                return Err(tlog_invalid(
                    "tlog entry: signed entry timestamp without an integrated time",
                ));
            }
            let time = Timestamp::from_unix(entry.integrated_time);
            if let Some(now) = now.filter(|now| time > *now) {
                return Err(tlog_invalid(format!(
                    "tlog entry: integrated time {time} is in the future (now {now})"
                )));
            }
            if !log.valid_for.contains(time) {
                return Err(tlog_invalid(format!(
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
                .map_err(|_| tlog_invalid("tlog entry: signed entry timestamp does not verify"))?;
            Some(time)
        }
        None => {
            if tsa_times.is_empty() {
                return Err(tlog_invalid(
                    "tlog entry has no signed entry timestamp and the bundle no RFC 3161 timestamp: no trusted time",
                ));
            }
            if let Some(t) = tsa_times.iter().find(|t| !log.valid_for.contains(**t)) {
                return Err(tlog_invalid(format!(
                    "tlog entry: the log key is not valid at timestamp {t}"
                )));
            }
            if entry.inclusion_proof.is_none() {
                return Err(tlog_invalid(
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
            return Err(tlog_invalid(
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

/// The entry kinds and versions whose body [`check_body`] can bind to a bundle.
fn supported(kind: &str, version: &str) -> bool {
    matches!(
        (kind, version),
        ("hashedrekord" | "dsse" | "intoto", "0.0.1" | "0.0.2") | ("rekord", "0.0.1")
    )
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
        return Err(tlog_invalid(format!(
            "checkpoint: no valid signature by the log {name}"
        )));
    }
    if cp.size != size || cp.root_hash != root {
        return Err(tlog_invalid(
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
        return Err(tlog_invalid(format!(
            "tlog entry body: {what} hash does not match the bundle"
        )));
    }
    Ok(())
}

/// Checks that the entry's body records this bundle: its signature, its certificate or key
/// (`signer`, DER), and the artifact digest or DSSE envelope, as the entry's kind records them:
///
/// - `hashedrekord` 0.0.1: the artifact's SHA-256, the signature, the certificate or key (base64
///   PEM);
/// - `rekord` 0.0.1 (what cosign logged for image signatures in 2021): the same, `spec.data.hash`
///   the artifact's SHA-256 (the signed message), `spec.signature.content` the signature,
///   `spec.signature.publicKey.content` the certificate or key (base64 PEM), and
///   `spec.signature.format` `x509` (any other format is unsupported);
/// - `hashedrekord` 0.0.2 (Rekor v2): the artifact's SHA-256 (over a DSSE envelope: of its
///   pre-authentication encoding), the signature, the certificate or key (DER);
/// - `dsse` 0.0.1: the payload's SHA-256, each signature with its verifier (base64 PEM);
/// - `dsse` 0.0.2 (Rekor v2): the payload's SHA-256 (`SHA2_256`), each signature with its
///   verifier (a DER certificate or public key), in any order;
/// - `intoto` 0.0.1: the SHA-256 of the envelope's JSON as submitted and of its payload, and the
///   certificate or key (base64 PEM); no signature: the envelope's bytes bind it (see
///   [`check_intoto_v001`]);
/// - `intoto` 0.0.2: the payload's SHA-256, the payload type, each signature with its key (base64
///   PEM). Its `content.hash`, of the envelope's JSON, is not checked: Rekor records it as the
///   client computed it, unverified, and the fields above (the payload hash Rekor computed, the
///   signatures it verified with those keys) already fix the whole envelope but its key IDs,
///   which nothing signs.
///
/// A certificate or key recorded as base64 PEM is its first PEM block (Rekor may record a
/// certificate chain, the certificate that verified first), whose DER must be `signer`.
pub(crate) fn check_body(
    entry: &TlogEntry,
    content: &Content,
    signer: &[u8],
    artifact_sha256: &[u8; 32],
) -> Result<(), Error> {
    let body: Value = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| malformed(format!("tlog entry body: {e}")))?;
    if string(&body, &["kind"])? != entry.kind || string(&body, &["apiVersion"])? != entry.version {
        return Err(tlog_invalid(
            "tlog entry body: kind or version differ from the entry's kindVersion",
        ));
    }
    match (entry.kind.as_str(), entry.version.as_str(), content) {
        ("rekord", "0.0.1", Content::MessageSignature { signature, .. }) => {
            let format = string(&body, &["spec", "signature", "format"])?;
            if format != "x509" {
                return Err(unsupported(format!(
                    "tlog entry body: rekord signature format {format:?} (only x509)"
                )));
            }
            check_hashed_signature(&body, signature, signer, artifact_sha256)
        }
        ("hashedrekord", "0.0.1", Content::MessageSignature { signature, .. }) => {
            check_hashed_signature(&body, signature, signer, artifact_sha256)
        }
        ("dsse", "0.0.1", Content::Dsse(env)) => {
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
        ("dsse", "0.0.2", Content::Dsse(env)) => check_dsse_v002(&body, env, signer),
        ("intoto", "0.0.1", Content::Dsse(env)) => check_intoto_v001(&body, env, signer),
        ("intoto", "0.0.2", Content::Dsse(env)) => {
            check_sha256(
                "DSSE payload",
                &body,
                &["spec", "content", "payloadHash"],
                &sha256(&env.payload),
            )?;
            let logged = field(&body, &["spec", "content", "envelope"])?;
            if string(logged, &["payloadType"])? != env.payload_type {
                return Err(tlog_invalid(
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
        ("hashedrekord", "0.0.2", content) => {
            let spec = field(&body, &["spec", "hashedRekordV002"])?;
            // Over DSSE, Rekor v2 logs the hash of the pre-authentication encoding.
            let (want_digest, want_sig) = match content {
                Content::MessageSignature { signature, .. } => {
                    (artifact_sha256.to_vec(), signature)
                }
                Content::Dsse(env) => {
                    let [sig] = env.signatures.as_slice() else {
                        return Err(super::signature_invalid(
                            "DSSE envelope must have exactly one signature",
                        ));
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
                return Err(tlog_invalid(
                    "tlog entry body: digest does not match the bundle",
                ));
            }
            if &b64(
                "tlog entry signature",
                string(spec, &["signature", "content"])?,
            )? != want_sig
            {
                return Err(tlog_invalid(
                    "tlog entry body: signature differs from the bundle's",
                ));
            }
            if verifier_der(field(spec, &["signature", "verifier"])?)? != signer {
                return Err(tlog_invalid(
                    "tlog entry body: certificate or key differs from the bundle's",
                ));
            }
            Ok(())
        }
        (kind, version, _) if supported(kind, version) => Err(tlog_invalid(format!(
            "tlog entry: a {kind} {version} entry does not match the bundle's content type"
        ))),
        (kind, version, _) => Err(unsupported(format!("tlog entry kind {kind} {version}"))),
    }
}

/// `hashedrekord` 0.0.1 and `rekord` 0.0.1: `spec.data.hash` is the artifact's SHA-256,
/// `spec.signature.content` the signature and `spec.signature.publicKey.content` the signer.
fn check_hashed_signature(
    body: &Value,
    signature: &[u8],
    signer: &[u8],
    artifact_sha256: &[u8; 32],
) -> Result<(), Error> {
    check_sha256("artifact", body, &["spec", "data", "hash"], artifact_sha256)?;
    let sig = b64(
        "tlog entry signature",
        string(body, &["spec", "signature", "content"])?,
    )?;
    if sig != signature {
        return Err(tlog_invalid(
            "tlog entry body: signature differs from the bundle's",
        ));
    }
    check_pem_signer(
        "tlog entry public key",
        string(body, &["spec", "signature", "publicKey", "content"])?,
        signer,
    )
}

/// A Rekor v2 `Verifier`: exactly one of `x509Certificate` and `publicKey`, its DER `rawBytes`.
fn verifier_der(verifier: &Value) -> Result<Vec<u8>, Error> {
    let raw = match (verifier.get("x509Certificate"), verifier.get("publicKey")) {
        (Some(v), None) | (None, Some(v)) => v.get("rawBytes").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| {
        malformed("tlog entry body: verifier needs exactly one certificate or key, with rawBytes")
    })?;
    b64("tlog entry verifier", raw)
}

/// `dsse` 0.0.2 (Rekor v2, `spec.dsseV002`): `payloadHash` (`SHA2_256`, base64 digest) is the
/// payload's, and `signatures` are the envelope's, each (`content`) with a verifier that is the
/// signer. Rekor v2 lists them in no particular order: compared as multisets.
fn check_dsse_v002(body: &Value, env: &DsseEnvelope, signer: &[u8]) -> Result<(), Error> {
    let spec = field(body, &["spec", "dsseV002"])?;
    if string(spec, &["payloadHash", "algorithm"])? != "SHA2_256" {
        return Err(unsupported(
            "tlog entry body: DSSE payload hash algorithm is not SHA2_256",
        ));
    }
    let digest = b64(
        "tlog entry payload hash",
        string(spec, &["payloadHash", "digest"])?,
    )?;
    if digest != sha256(&env.payload) {
        return Err(tlog_invalid(
            "tlog entry body: DSSE payload hash does not match the bundle",
        ));
    }
    let sigs = field(spec, &["signatures"])?
        .as_array()
        .ok_or_else(|| malformed("tlog entry body: dsseV002.signatures is not a list"))?;
    if sigs.len() != env.signatures.len() {
        return Err(tlog_invalid(
            "tlog entry body: number of DSSE signatures differs from the bundle's",
        ));
    }
    let mut logged = sigs
        .iter()
        .map(|s| {
            if verifier_der(field(s, &["verifier"])?)? != signer {
                return Err(tlog_invalid(
                    "tlog entry body: DSSE verifier differs from the bundle's certificate or key",
                ));
            }
            b64("tlog entry signature", string(s, &["content"])?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut bundle: Vec<&[u8]> = env.signatures.iter().map(|s| s.sig.as_slice()).collect();
    logged.sort();
    bundle.sort();
    if !logged.iter().map(Vec::as_slice).eq(bundle) {
        return Err(tlog_invalid(
            "tlog entry body: DSSE signature differs from the bundle's",
        ));
    }
    Ok(())
}

/// `intoto` 0.0.1 (cosign before v2): Rekor recorded `content.hash`, the SHA-256 of the envelope's
/// JSON exactly as the client submitted it, `content.payloadHash`, the payload's SHA-256, and
/// `publicKey`, the certificate or key that verified the envelope (base64 PEM); not the
/// signature, which only the envelope's bytes bind. So:
///
/// - with those bytes ([`DsseEnvelope::raw`], kept from a cosign attestation layer), they must
///   be this very envelope (parsed: the same payload, payload type, signatures and key IDs) and
///   hash to `content.hash`;
/// - without them (a plain Sigstore bundle), the envelope is serialised as cosign and Rekor's Go
///   clients submitted it ([`go_envelope_json`]) and that must hash to `content.hash`. An
///   envelope that was submitted in another form cannot be bound without its bytes and is
///   refused, saying so: the hash is never left unchecked.
///
/// Then the payload hash, and the public key: the signer.
fn check_intoto_v001(body: &Value, env: &DsseEnvelope, signer: &[u8]) -> Result<(), Error> {
    let hash = ["spec", "content", "hash"];
    if string(body, &[&hash[..], &["algorithm"]].concat())? != "sha256" {
        return Err(unsupported(
            "tlog entry body: DSSE envelope hash is not sha256",
        ));
    }
    let logged = string(body, &[&hash[..], &["value"]].concat())?;
    match &env.raw {
        Some(raw) => {
            let parsed = parse_dsse_json(raw)?;
            if parsed.payload != env.payload
                || parsed.payload_type != env.payload_type
                || parsed.signatures != env.signatures
            {
                return Err(tlog_invalid(
                    "DSSE envelope: its raw bytes (rawEnvelope) are another envelope than the bundle's",
                ));
            }
            if hex(&sha256(raw)) != logged {
                return Err(tlog_invalid(
                    "tlog entry body: DSSE envelope hash does not match the envelope's bytes",
                ));
            }
        }
        None => {
            if hex(&sha256(&go_envelope_json(env))) != logged {
                return Err(tlog_invalid(
                    "tlog entry body: DSSE envelope hash does not match the bundle's envelope: an intoto 0.0.1 \
                     entry records the hash of the envelope's bytes as submitted, which the bundle does not \
                     carry (no dsseEnvelope.rawEnvelope), and the envelope serialised as cosign submitted it \
                     does not have that hash",
                ));
            }
        }
    }
    check_sha256(
        "DSSE payload",
        body,
        &["spec", "content", "payloadHash"],
        &sha256(&env.payload),
    )?;
    check_pem_signer(
        "tlog entry public key",
        string(body, &["spec", "publicKey"])?,
        signer,
    )
}

/// A DSSE envelope as cosign (before v2) and Rekor's Go clients submitted it to an `intoto`
/// 0.0.1 entry: Go's `encoding/json` of the envelope, members in the order `payloadType`,
/// `payload`, `signatures` (each `keyid`, then `sig`), standard base64, no spaces.
fn go_envelope_json(env: &DsseEnvelope) -> Vec<u8> {
    let signatures = env
        .signatures
        .iter()
        .map(|s| {
            format!(
                r#"{{"keyid":{},"sig":"{}"}}"#,
                go_json_string(&s.keyid),
                b64_encode(&s.sig)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"payloadType":{},"payload":"{}","signatures":[{signatures}]}}"#,
        go_json_string(&env.payload_type),
        b64_encode(&env.payload)
    )
    .into_bytes()
}

/// A JSON string as Go's `encoding/json` writes it (before Go 1.22): `"` and `\` escaped, `\n`,
/// `\r`, `\t`, every other control character and the HTML-sensitive `<`, `>`, `&`, U+2028 and
/// U+2029 as `\u00xx`.
fn go_json_string(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A certificate or key recorded as base64 PEM: its first PEM block must be `signer` (DER).
fn check_pem_signer(what: &str, b64_pem: &str, signer: &[u8]) -> Result<(), Error> {
    if pem_der(what, b64_pem)? != signer {
        return Err(tlog_invalid(
            "tlog entry body: certificate or key differs from the bundle's",
        ));
    }
    Ok(())
}

fn check_signatures(
    env: &DsseEnvelope,
    logged: &[Value],
    signer: &[u8],
    read: impl Fn(&Value) -> Result<(Vec<u8>, String), Error>,
) -> Result<(), Error> {
    if logged.len() != env.signatures.len() {
        return Err(tlog_invalid(
            "tlog entry body: number of DSSE signatures differs from the bundle's",
        ));
    }
    for (s, bundle_sig) in logged.iter().zip(&env.signatures) {
        let (sig, verifier) = read(s)?;
        if sig != bundle_sig.sig {
            return Err(tlog_invalid(
                "tlog entry body: DSSE signature differs from the bundle's",
            ));
        }
        if pem_der("tlog entry verifier", &verifier)? != signer {
            return Err(tlog_invalid(
                "tlog entry body: DSSE verifier differs from the bundle's certificate or key",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::DsseSignature;
    use serde_json::json;

    const SIGNER: &[u8] = b"the signer's certificate (DER)";
    const OTHER: &[u8] = b"another certificate (DER)";
    const PAYLOAD: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
    const IN_TOTO: &str = "application/vnd.in-toto+json";

    /// A certificate as Rekor v1 records it: base64 of its PEM.
    fn pem_b64(der: &[u8]) -> String {
        b64_encode(pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())).as_bytes())
    }

    fn envelope(sigs: &[&[u8]]) -> DsseEnvelope {
        DsseEnvelope {
            statement: Default::default(),
            payload: PAYLOAD.to_vec(),
            payload_type: IN_TOTO.to_string(),
            signatures: sigs
                .iter()
                .map(|s| DsseSignature {
                    sig: s.to_vec(),
                    keyid: String::new(),
                })
                .collect(),
            raw: None,
        }
    }

    /// The envelope's JSON as cosign submitted it, written out by hand.
    fn cosign_json(sig: &[u8]) -> Vec<u8> {
        format!(
            r#"{{"payloadType":"{IN_TOTO}","payload":"{}","signatures":[{{"keyid":"","sig":"{}"}}]}}"#,
            b64_encode(PAYLOAD),
            b64_encode(sig)
        )
        .into_bytes()
    }

    fn entry(kind: &str, version: &str, body: &Value) -> TlogEntry {
        TlogEntry {
            log_index: 1,
            log_id: vec![0; 32],
            kind: kind.to_string(),
            version: version.to_string(),
            integrated_time: 1_700_000_000,
            signed_entry_timestamp: None,
            inclusion_proof: None,
            canonicalized_body: body.to_string().into_bytes(),
        }
    }

    fn intoto_v001(envelope_bytes: &[u8], payload: &[u8], signer: &[u8]) -> Value {
        json!({
            "apiVersion": "0.0.1",
            "kind": "intoto",
            "spec": {
                "content": {
                    "hash": {"algorithm": "sha256", "value": hex(&sha256(envelope_bytes))},
                    "payloadHash": {"algorithm": "sha256", "value": hex(&sha256(payload))},
                },
                "publicKey": pem_b64(signer),
            },
        })
    }

    fn check(kind: &str, version: &str, body: &Value, content: &Content) -> Result<(), Error> {
        check_body(&entry(kind, version, body), content, SIGNER, &[0; 32])
    }

    /// The outcome as text; a failed check must be the log entry's.
    fn message(result: Result<(), Error>) -> String {
        match result {
            Ok(()) => "verified".to_string(),
            Err(e @ (Error::Malformed(_) | Error::Unsupported(_) | Error::TransparencyLog(_))) => {
                e.to_string()
            }
            Err(e) => panic!("not a transparency log error: {e:?}"),
        }
    }

    #[test]
    fn intoto_0_0_1_binds_the_envelope_bytes_the_payload_and_the_signer() {
        let raw = cosign_json(b"signature");
        let with_raw = Content::Dsse(DsseEnvelope {
            statement: Default::default(),
            raw: Some(raw.clone()),
            ..envelope(&[b"signature"])
        });
        let without_raw = Content::Dsse(envelope(&[b"signature"]));
        let body = intoto_v001(&raw, PAYLOAD, SIGNER);
        check("intoto", "0.0.1", &body, &with_raw).unwrap();
        // Without the raw bytes, the envelope in cosign's form has the logged hash.
        assert_eq!(go_envelope_json(&envelope(&[b"signature"])), raw);
        check("intoto", "0.0.1", &body, &without_raw).unwrap();

        // The hash of other bytes: of another envelope, or of this one written otherwise.
        let spaced = String::from_utf8(raw.clone())
            .unwrap()
            .replace(r#"","payload":"#, r#"", "payload":"#)
            .into_bytes();
        for logged in [cosign_json(b"another signature"), spaced.clone()] {
            let body = intoto_v001(&logged, PAYLOAD, SIGNER);
            assert_eq!(
                message(check("intoto", "0.0.1", &body, &with_raw)),
                "invalid: tlog entry body: DSSE envelope hash does not match the envelope's bytes"
            );
            assert!(
                message(check("intoto", "0.0.1", &body, &without_raw)).contains(
                    "the envelope serialised as cosign submitted it does not have that hash"
                )
            );
        }
        // Those other bytes verify as the raw envelope they are: the same envelope.
        let spaced_raw = Content::Dsse(DsseEnvelope {
            statement: Default::default(),
            raw: Some(spaced.clone()),
            ..envelope(&[b"signature"])
        });
        check(
            "intoto",
            "0.0.1",
            &intoto_v001(&spaced, PAYLOAD, SIGNER),
            &spaced_raw,
        )
        .unwrap();

        // Raw bytes of another envelope (another signature, another key ID).
        for other in [
            cosign_json(b"another signature"),
            String::from_utf8(raw.clone())
                .unwrap()
                .replace(r#""keyid":"""#, r#""keyid":"k""#)
                .into_bytes(),
        ] {
            let content = Content::Dsse(DsseEnvelope {
                statement: Default::default(),
                raw: Some(other.clone()),
                ..envelope(&[b"signature"])
            });
            let body = intoto_v001(&other, PAYLOAD, SIGNER);
            assert_eq!(
                message(check("intoto", "0.0.1", &body, &content)),
                "invalid: DSSE envelope: its raw bytes (rawEnvelope) are another envelope than the bundle's"
            );
        }
        // Raw bytes that are not a DSSE envelope.
        let content = Content::Dsse(DsseEnvelope {
            statement: Default::default(),
            raw: Some(b"not JSON".to_vec()),
            ..envelope(&[b"signature"])
        });
        let body = intoto_v001(b"not JSON", PAYLOAD, SIGNER);
        assert!(matches!(
            check("intoto", "0.0.1", &body, &content),
            Err(Error::Malformed(_))
        ));

        // The payload hash, the signer.
        let body = intoto_v001(&raw, b"another payload", SIGNER);
        assert_eq!(
            message(check("intoto", "0.0.1", &body, &with_raw)),
            "invalid: tlog entry body: DSSE payload hash does not match the bundle"
        );
        let body = intoto_v001(&raw, PAYLOAD, OTHER);
        assert_eq!(
            message(check("intoto", "0.0.1", &body, &with_raw)),
            "invalid: tlog entry body: certificate or key differs from the bundle's"
        );

        // Another hash algorithm; a missing field; a message signature.
        let mut body = intoto_v001(&raw, PAYLOAD, SIGNER);
        body["spec"]["content"]["hash"]["algorithm"] = "sha512".into();
        assert!(matches!(
            check("intoto", "0.0.1", &body, &with_raw),
            Err(Error::Unsupported(_))
        ));
        let mut body = intoto_v001(&raw, PAYLOAD, SIGNER);
        body["spec"]["content"]
            .as_object_mut()
            .unwrap()
            .remove("hash");
        assert!(matches!(
            check("intoto", "0.0.1", &body, &with_raw),
            Err(Error::Malformed(_))
        ));
        let signature = Content::MessageSignature {
            digest: None,
            signature: b"signature".to_vec(),
            message: None,
        };
        assert_eq!(
            message(check(
                "intoto",
                "0.0.1",
                &intoto_v001(&raw, PAYLOAD, SIGNER),
                &signature
            )),
            "invalid: tlog entry: a intoto 0.0.1 entry does not match the bundle's content type"
        );
    }

    #[test]
    fn json_strings_are_written_as_go_writes_them() {
        assert_eq!(
            go_json_string("a\"b\\c\n\r\t<>&\u{1}\u{1f}\u{2028}\u{2029}é/+"),
            r#""a\"b\\c\n\r\t\u003c\u003e\u0026\u0001\u001f\u2028\u2029é/+""#
        );
    }

    fn dsse_v002(payload: &[u8], sigs: &[(&[u8], &[u8])]) -> Value {
        json!({
            "apiVersion": "0.0.2",
            "kind": "dsse",
            "spec": {"dsseV002": {
                "payloadHash": {"algorithm": "SHA2_256", "digest": b64_encode(&sha256(payload))},
                "signatures": sigs.iter().map(|(sig, der)| json!({
                    "content": b64_encode(sig),
                    "verifier": {"x509Certificate": {"rawBytes": b64_encode(der)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"},
                })).collect::<Vec<_>>(),
            }},
        })
    }

    #[test]
    fn dsse_0_0_2_binds_the_payload_and_each_signature_with_the_signer() {
        let one = Content::Dsse(envelope(&[b"sig 1"]));
        check(
            "dsse",
            "0.0.2",
            &dsse_v002(PAYLOAD, &[(b"sig 1", SIGNER)]),
            &one,
        )
        .unwrap();
        // Rekor v2 lists the signatures in no particular order.
        let two = Content::Dsse(envelope(&[b"sig 1", b"sig 2"]));
        for sigs in [
            [(&b"sig 1"[..], SIGNER), (b"sig 2", SIGNER)],
            [(b"sig 2", SIGNER), (b"sig 1", SIGNER)],
        ] {
            check("dsse", "0.0.2", &dsse_v002(PAYLOAD, &sigs), &two).unwrap();
        }
        let cases: [(Value, &str); 5] = [
            (
                dsse_v002(b"another payload", &[(b"sig 1", SIGNER)]),
                "invalid: tlog entry body: DSSE payload hash does not match the bundle",
            ),
            (
                dsse_v002(PAYLOAD, &[(b"sig 2", SIGNER)]),
                "invalid: tlog entry body: DSSE signature differs from the bundle's",
            ),
            (
                dsse_v002(PAYLOAD, &[(b"sig 1", OTHER)]),
                "invalid: tlog entry body: DSSE verifier differs from the bundle's certificate or key",
            ),
            (
                dsse_v002(PAYLOAD, &[(b"sig 1", SIGNER), (b"sig 1", SIGNER)]),
                "invalid: tlog entry body: number of DSSE signatures differs from the bundle's",
            ),
            (
                json!({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
                    "payloadHash": {"algorithm": "SHA2_256", "digest": b64_encode(&sha256(PAYLOAD))},
                    "signatures": [{"content": b64_encode(b"sig 1"), "verifier": {"publicKey": {"rawBytes": b64_encode(SIGNER)}}}],
                }}}),
                "verified",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(message(check("dsse", "0.0.2", &body, &one)), want, "{body}");
        }
        // Two signatures logged for two in the envelope, but one of them twice.
        let body = dsse_v002(PAYLOAD, &[(b"sig 1", SIGNER), (b"sig 1", SIGNER)]);
        assert_eq!(
            message(check("dsse", "0.0.2", &body, &two)),
            "invalid: tlog entry body: DSSE signature differs from the bundle's"
        );
        // A dsse 0.0.1 body is not read as 0.0.2, nor the other way round.
        let mut body = dsse_v002(PAYLOAD, &[(b"sig 1", SIGNER)]);
        body["apiVersion"] = "0.0.1".into();
        assert!(check("dsse", "0.0.1", &body, &one).is_err());
    }

    fn intoto_v002(payload_type: &str, sig: &[u8], signer: &[u8]) -> Value {
        json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {"content": {
                "envelope": {
                    "payloadType": payload_type,
                    // Base64 twice, as intoto 0.0.2 stores signatures.
                    "signatures": [{"keyid": "", "sig": b64_encode(b64_encode(sig).as_bytes()), "publicKey": pem_b64(signer)}],
                },
                "hash": {"algorithm": "sha256", "value": hex(&sha256(b"the envelope as the client sent it"))},
                "payloadHash": {"algorithm": "sha256", "value": hex(&sha256(PAYLOAD))},
            }},
        })
    }

    #[test]
    fn intoto_0_0_2_binds_the_payload_its_type_and_each_signature_with_its_key() {
        let content = Content::Dsse(envelope(&[b"signature"]));
        // Its content hash, the client's, is not checked (see check_body).
        check(
            "intoto",
            "0.0.2",
            &intoto_v002(IN_TOTO, b"signature", SIGNER),
            &content,
        )
        .unwrap();
        let mut other_payload = intoto_v002(IN_TOTO, b"signature", SIGNER);
        other_payload["spec"]["content"]["payloadHash"]["value"] =
            hex(&sha256(b"another payload")).into();
        let cases = [
            (
                other_payload,
                "invalid: tlog entry body: DSSE payload hash does not match the bundle",
            ),
            (
                intoto_v002("text/plain", b"signature", SIGNER),
                "invalid: tlog entry body: DSSE payload type differs from the bundle's",
            ),
            (
                intoto_v002(IN_TOTO, b"another signature", SIGNER),
                "invalid: tlog entry body: DSSE signature differs from the bundle's",
            ),
            (
                intoto_v002(IN_TOTO, b"signature", OTHER),
                "invalid: tlog entry body: DSSE verifier differs from the bundle's certificate or key",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(message(check("intoto", "0.0.2", &body, &content)), want);
        }
    }

    fn rekord(hash: &[u8], sig: &[u8], format: &str, signer: &[u8]) -> Value {
        json!({
            "apiVersion": "0.0.1",
            "kind": "rekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex(hash)}},
                "signature": {
                    "content": b64_encode(sig),
                    "format": format,
                    "publicKey": {"content": pem_b64(signer)},
                },
            },
        })
    }

    #[test]
    fn rekord_0_0_1_binds_the_message_hash_the_signature_and_the_signer() {
        let content = Content::MessageSignature {
            digest: None,
            signature: b"signature".to_vec(),
            message: None,
        };
        let artifact = [7; 32];
        let run = |body: &Value| {
            message(check_body(
                &entry("rekord", "0.0.1", body),
                &content,
                SIGNER,
                &artifact,
            ))
        };
        assert_eq!(
            run(&rekord(&artifact, b"signature", "x509", SIGNER)),
            "verified"
        );
        let mut sha512 = rekord(&artifact, b"signature", "x509", SIGNER);
        sha512["spec"]["data"]["hash"]["algorithm"] = "sha512".into();
        let mut no_hash = rekord(&artifact, b"signature", "x509", SIGNER);
        no_hash["spec"]["data"] = json!({"url": "https://example.test/artifact"});
        let cases = [
            (
                rekord(&[8; 32], b"signature", "x509", SIGNER),
                "invalid: tlog entry body: artifact hash does not match the bundle",
            ),
            (
                rekord(&artifact, b"another signature", "x509", SIGNER),
                "invalid: tlog entry body: signature differs from the bundle's",
            ),
            (
                rekord(&artifact, b"signature", "x509", OTHER),
                "invalid: tlog entry body: certificate or key differs from the bundle's",
            ),
            (
                rekord(&artifact, b"signature", "pgp", SIGNER),
                r#"unsupported: tlog entry body: rekord signature format "pgp" (only x509)"#,
            ),
            (
                sha512,
                "unsupported: tlog entry body: artifact hash is not sha256",
            ),
            (
                no_hash,
                "malformed: tlog entry body: no spec.data.hash.algorithm",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(run(&body), want, "{body}");
        }
        // A rekord entry binds a message signature, not a DSSE envelope.
        let dsse = Content::Dsse(envelope(&[b"signature"]));
        assert_eq!(
            message(check_body(
                &entry(
                    "rekord",
                    "0.0.1",
                    &rekord(&artifact, b"signature", "x509", SIGNER)
                ),
                &dsse,
                SIGNER,
                &artifact,
            )),
            "invalid: tlog entry: a rekord 0.0.1 entry does not match the bundle's content type"
        );
    }

    #[test]
    fn other_kinds_and_versions_are_unsupported() {
        let content = Content::Dsse(envelope(&[b"signature"]));
        for (kind, version) in [("intoto", "0.0.3"), ("dsse", "0.0.3"), ("rekord", "0.0.2")] {
            assert!(!supported(kind, version));
            let body = json!({"apiVersion": version, "kind": kind, "spec": {}});
            assert_eq!(
                message(check(kind, version, &body, &content)),
                format!("unsupported: tlog entry kind {kind} {version}")
            );
        }
    }
}
