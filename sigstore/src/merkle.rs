//! RFC 6962 Merkle tree inclusion proofs and signed checkpoints (signed notes).

use super::{b64, malformed, tlog_invalid, Error};
use sha2::Digest as _;

/// The RFC 6962 hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root hash an inclusion proof leads to (RFC 9162, section 2.1.3.2).
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[Vec<u8>],
) -> Result<[u8; 32], Error> {
    if index >= size {
        return Err(tlog_invalid(format!(
            "inclusion proof: index {index} is not below tree size {size}"
        )));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if p.len() != 32 {
            return Err(malformed("inclusion proof: a hash is not 32 bytes"));
        }
        if s == 0 {
            return Err(tlog_invalid(
                "inclusion proof: too many hashes for the tree size",
            ));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(tlog_invalid(
            "inclusion proof: too few hashes for the tree size",
        ));
    }
    Ok(r)
}

/// A checkpoint: the signed note's text and its parsed body and signatures.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The signed text: every line up to the blank line, each with its `\n`.
    pub text: String,
    pub origin: String,
    pub size: u64,
    pub root_hash: Vec<u8>,
    /// `(signer name, 4-byte key hint, signature)`.
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

/// Parses a signed note holding a checkpoint.
pub fn parse_checkpoint(envelope: &str) -> Result<Checkpoint, Error> {
    let (body, sigs) = envelope
        .split_once("\n\n")
        .ok_or_else(|| malformed("checkpoint: no blank line before the signatures"))?;
    let text = format!("{body}\n");
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| malformed("checkpoint: no origin"))?;
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| malformed("checkpoint: no tree size"))?;
    let root_hash = b64(
        "checkpoint root hash",
        lines
            .next()
            .ok_or_else(|| malformed("checkpoint: no root hash"))?,
    )?;
    let mut signatures = Vec::new();
    for line in sigs.split('\n').filter(|l| !l.is_empty()) {
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
            malformed(format!(
                "checkpoint: signature line does not start with an em dash: {line:?}"
            ))
        })?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("checkpoint: signature line without a signature"))?;
        let raw = b64("checkpoint signature", sig)?;
        let (hint, sig) = raw
            .split_first_chunk::<4>()
            .ok_or_else(|| malformed("checkpoint: signature shorter than its key hint"))?;
        signatures.push((name.to_string(), *hint, sig.to_vec()));
    }
    if signatures.is_empty() {
        return Err(malformed("checkpoint: no signatures"));
    }
    Ok(Checkpoint {
        text,
        origin: origin.to_string(),
        size,
        root_hash,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the RFC 6962 root of `leaves` by the recursive definition.
    fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = (leaves.len() as u64).next_power_of_two() as usize / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
    }

    /// The audit path of leaf `m` by the recursive definition (RFC 6962, 2.1.1).
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return vec![];
        }
        let k = (leaves.len() as u64).next_power_of_two() as usize / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(root(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(root(&leaves[..k]).to_vec());
            p
        }
    }

    #[test]
    fn proofs_of_every_leaf_of_small_trees_verify() {
        for n in 1..20usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let want = root(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                let got = root_from_inclusion_proof(m as u64, n as u64, leaves[m], &p).unwrap();
                assert_eq!(got, want, "n={n} m={m}");
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = first.iter().map(|b| b ^ 1).collect();
                    let got =
                        root_from_inclusion_proof(m as u64, n as u64, leaves[m], &bad).unwrap();
                    assert_ne!(got, want);
                }
            }
            assert!(root_from_inclusion_proof(n as u64, n as u64, leaves[0], &[]).is_err());
        }
    }
}
