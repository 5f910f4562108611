//! Public keys and signatures: ECDSA over P-256 and P-384, from DER SPKI or PEM.

use super::{malformed, signature_invalid, unsupported, Error};
use const_oid::ObjectIdentifier;
use der::Decode as _;
use ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::Digest as _;
use spki::SubjectPublicKeyInfoRef;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const ECDSA_WITH_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A hash function a signature is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The hash a digest algorithm identifier names (`id-sha256`...).
    pub fn of_digest_oid(oid: &ObjectIdentifier) -> Result<Self, Error> {
        if *oid == ID_SHA256 {
            Ok(HashAlg::Sha256)
        } else if *oid == ID_SHA384 {
            Ok(HashAlg::Sha384)
        } else if *oid == ID_SHA512 {
            Ok(HashAlg::Sha512)
        } else {
            Err(unsupported(format!("digest algorithm {oid}")))
        }
    }

    /// The hash of an X.509 signature algorithm: ECDSA with SHA-256/384, RSA PKCS#1 v1.5 with
    /// SHA-256/384/512.
    pub fn of_signature_oid(oid: &ObjectIdentifier) -> Result<Self, Error> {
        if *oid == ECDSA_WITH_SHA256 || *oid == SHA256_WITH_RSA {
            Ok(HashAlg::Sha256)
        } else if *oid == ECDSA_WITH_SHA384 || *oid == SHA384_WITH_RSA {
            Ok(HashAlg::Sha384)
        } else if *oid == SHA512_WITH_RSA {
            Ok(HashAlg::Sha512)
        } else {
            Err(unsupported(format!("signature algorithm {oid}")))
        }
    }
}

/// A public key that can verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    /// Ed25519 (Rekor v2 checkpoints): signs messages, not digests.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA, PKCS#1 v1.5 signatures (some private instances' CAs).
    Rsa(Box<rsa::PublicKey>),
}

impl PublicKey {
    /// From a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| malformed(format!("public key: bad SubjectPublicKeyInfo: {e}")))?;
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self, Error> {
        if spki.algorithm.oid == ID_ED25519 {
            let raw = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| malformed("public key: unaligned bit string"))?;
            return ed25519_dalek::VerifyingKey::try_from(raw)
                .map(PublicKey::Ed25519)
                .map_err(|_| malformed("public key: not an Ed25519 key"));
        }
        if spki.algorithm.oid == RSA_ENCRYPTION {
            return rsa::PublicKey::try_from(spki.clone())
                .map(|k| PublicKey::Rsa(Box::new(k)))
                .map_err(|e| malformed(format!("public key: bad RSA key: {e}")));
        }
        if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
            return Err(unsupported(format!(
                "public key algorithm {} (only ECDSA P-256/P-384)",
                spki.algorithm.oid
            )));
        }
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|e| malformed(format!("public key: EC key without a named curve: {e}")))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| malformed("public key: unaligned bit string"))?;
        if curve == SECP256R1 {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P256)
                .map_err(|_| malformed("public key: not a P-256 point"))
        } else if curve == SECP384R1 {
            p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P384)
                .map_err(|_| malformed("public key: not a P-384 point"))
        } else {
            Err(unsupported(format!(
                "elliptic curve {curve} (only P-256/P-384)"
            )))
        }
    }

    /// From a PEM `PUBLIC KEY` block; returns the key and its DER SPKI.
    pub fn from_pem(text: &str) -> Result<(Self, Vec<u8>), Error> {
        let block = pem::parse(text).map_err(|e| malformed(format!("public key: bad PEM: {e}")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(malformed(format!(
                "public key: PEM block is {:?}, not PUBLIC KEY",
                block.tag()
            )));
        }
        let der = block.contents().to_vec();
        Ok((Self::from_spki_der(&der)?, der))
    }

    /// Verifies a signature over `msg`: DER ECDSA hashed with the curve's hash (SHA-256 for
    /// P-256, SHA-384 for P-384), or Ed25519.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        match self {
            PublicKey::P256(_) => self.verify_prehash(&HashAlg::Sha256.digest(msg), sig),
            PublicKey::P384(_) => self.verify_prehash(&HashAlg::Sha384.digest(msg), sig),
            PublicKey::Rsa(_) => self.verify_prehash(&HashAlg::Sha256.digest(msg), sig),
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| signature_invalid("signature is not an Ed25519 signature"))?;
                k.verify_strict(msg, &sig)
                    .map_err(|_| signature_invalid("signature does not verify"))
            }
        }
    }

    /// Verifies a signature over an already computed digest (DER ECDSA, or RSA PKCS#1 v1.5 with
    /// the SHA-2 function the digest's length names).
    pub fn verify_prehash(&self, digest: &[u8], der_sig: &[u8]) -> Result<(), Error> {
        match self {
            PublicKey::P256(k) => {
                let sig = p256::ecdsa::DerSignature::from_bytes(der_sig).map_err(|_| {
                    signature_invalid("signature is not a DER ECDSA P-256 signature")
                })?;
                k.verify_prehash(digest, &sig)
            }
            PublicKey::P384(k) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(der_sig).map_err(|_| {
                    signature_invalid("signature is not a DER ECDSA P-384 signature")
                })?;
                k.verify_prehash(digest, &sig)
            }
            PublicKey::Ed25519(_) => {
                return Err(unsupported("Ed25519 signatures over a digest"));
            }
            PublicKey::Rsa(k) => {
                let scheme = match digest.len() {
                    32 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    48 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    64 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                    n => return Err(unsupported(format!("RSA signature over a {n}-byte digest"))),
                };
                k.verify(scheme, digest, der_sig)
                    .map_err(|_| ecdsa::signature::Error::new())
            }
        }
        .map_err(|_| signature_invalid("signature does not verify"))
    }
}
