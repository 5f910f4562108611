//! What is attached to an image: cosign's attestation (`sha256-<hex>.att`) and signature
//! (`sha256-<hex>.sig`) tags, and OCI 1.1 referrers holding Sigstore bundles, classified into
//! attestations and cosign v3 image signatures.
//!
//! Bounded like every read of the [`Client`]: at most [`MAX_ITEMS`] layers per cosign manifest
//! and [`MAX_ITEMS`] bundle referrers.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use custody_sigstore::cosign::{COSIGN_SIGN_PREDICATE, SIMPLE_SIGNING_MEDIA_TYPE};
use custody_sigstore::{Bundle, Content};
use oci_client::manifest::OciImageManifest;
use oci_client::Reference;

use crate::oci::{parse_reference, Client, Inner, Layer, MAX_ITEMS};

/// Media type of a cosign attestation layer (a DSSE envelope).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The referrer manifest annotation naming the in-toto predicate type of the bundle it holds
/// (cosign v3 sets it).
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// Media types of a Sigstore bundle (an artifact type, or a layer's media type): cosign v3's
/// `application/vnd.dev.sigstore.bundle.v0.3+json`, and the older
/// `application/vnd.dev.sigstore.bundle+json;version=0.x` spelling.
pub fn is_sigstore_bundle_type(media_type: &str) -> bool {
    let media_type = media_type.trim();
    let Some(rest) = media_type.strip_prefix("application/vnd.dev.sigstore.bundle") else {
        return false;
    };
    match rest.strip_prefix(".v") {
        Some(version) => version
            .strip_suffix("+json")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')),
        None => rest == "+json" || rest.starts_with("+json;"),
    }
}

/// One cosign attestation layer.
#[derive(Debug, Clone)]
pub struct AttLayer {
    /// Its index in the `.att` manifest's layers.
    pub index: usize,
    /// The layer blob: a DSSE envelope.
    pub envelope: Vec<u8>,
    /// The layer's annotations (certificate, chain, Rekor bundle, predicate type...).
    pub annotations: BTreeMap<String, String>,
}

/// One cosign signature layer (`application/vnd.dev.cosign.simplesigning.v1+json`).
#[derive(Debug, Clone)]
pub struct SigLayer {
    /// Its index in the `.sig` manifest's layers.
    pub index: usize,
    /// The layer blob: the simple-signing payload that was signed.
    pub payload: Vec<u8>,
    /// The layer's annotations (signature, certificate, chain, Rekor bundle...).
    pub annotations: BTreeMap<String, String>,
}

/// What a Sigstore bundle referrer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerKind {
    /// An attestation (an in-toto statement of any other predicate type).
    Attestation,
    /// A cosign v3 image signature: an in-toto statement of predicate type
    /// `https://sigstore.dev/cosign/sign/v1`, or a bare message signature.
    Signature,
}

/// One OCI 1.1 referrer holding a Sigstore bundle.
#[derive(Debug, Clone)]
pub struct BundleReferrer {
    /// The referrer manifest's digest.
    pub manifest_digest: String,
    /// The bundle layer blob, as stored.
    pub bundle: Vec<u8>,
    /// Attestation or signature: by the manifest's `dev.sigstore.bundle.predicateType`
    /// annotation when it has one, else by the bundle's content.
    pub kind: ReferrerKind,
}

/// What was found for one image.
#[derive(Debug, Clone)]
pub struct Found {
    /// `registry/repository` as written in the reference (registry defaulted to docker.io).
    pub repository: String,
    /// The image's manifest digest.
    pub digest: String,
    /// Cosign attestation layers.
    pub attestations: Vec<AttLayer>,
    /// Cosign signature layers.
    pub signatures: Vec<SigLayer>,
    /// Referrers holding Sigstore bundles (attestations and signatures).
    pub referrers: Vec<BundleReferrer>,
    /// Where we looked and what was there, for messages.
    pub looked: Vec<String>,
}

/// An image's cosign signature layers.
#[derive(Debug, Clone)]
pub struct Signatures {
    /// The image's manifest digest.
    pub digest: String,
    /// The `.sig` manifest's simple-signing layers (none when there is no such tag).
    pub layers: Vec<SigLayer>,
    /// Where we looked and what was there, for messages.
    pub looked: String,
}

impl Client {
    /// The attestations and signatures of `image` (a reference: a tag is resolved to the manifest
    /// digest, a digest is used as given).
    pub fn artifacts(&mut self, image: &str) -> Result<Found> {
        let reference = parse_reference(image)?;
        self.runtime.block_on(self.inner.artifacts(&reference))
    }

    /// The cosign signature layers of `image` (tag `sha256-<hex>.sig`).
    pub fn signatures(&mut self, image: &str) -> Result<Signatures> {
        let reference = parse_reference(image)?;
        let inner = &mut self.inner;
        self.runtime.block_on(async move {
            let digest = inner.resolve(&reference).await?;
            let (layers, looked) = inner.signature_layers(&reference, &digest).await?;
            Ok(Signatures {
                digest,
                layers,
                looked,
            })
        })
    }
}

/// `sha256:<hex>` → `sha256-<hex>`, the stem of cosign's tags.
fn tag_stem(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

impl Inner {
    async fn signature_layers(
        &mut self,
        reference: &Reference,
        digest: &str,
    ) -> Result<(Vec<SigLayer>, String)> {
        let image = with_digest(reference, digest);
        let tag = format!("{}.sig", tag_stem(digest));
        Ok(
            match self
                .cosign_layers(&image, &tag, SIMPLE_SIGNING_MEDIA_TYPE)
                .await?
            {
                None => (
                    Vec::new(),
                    format!("the cosign signature tag {tag}: not found"),
                ),
                Some((count, layers)) => {
                    let looked = format!(
                        "the cosign signature tag {tag}: {count} layer(s), {} of them \
                         {SIMPLE_SIGNING_MEDIA_TYPE}",
                        layers.len()
                    );
                    let layers = layers
                        .into_iter()
                        .map(
                            |Layer {
                                 index,
                                 blob,
                                 annotations,
                             }| SigLayer {
                                index,
                                payload: blob,
                                annotations,
                            },
                        )
                        .collect();
                    (layers, looked)
                }
            },
        )
    }

    async fn artifacts(&mut self, reference: &Reference) -> Result<Found> {
        let registry = reference.registry().to_owned();
        let repository = reference.repository().to_owned();
        let digest = self.resolve(reference).await?;
        let image = with_digest(reference, &digest);
        let mut looked = Vec::new();

        // Cosign: the attestation manifest at the tag sha256-<hex>.att.
        let att_tag = format!("{}.att", tag_stem(&digest));
        let mut attestations = Vec::new();
        match self
            .cosign_layers(&image, &att_tag, DSSE_MEDIA_TYPE)
            .await?
        {
            None => looked.push(format!("the cosign attestation tag {att_tag}: not found")),
            Some((count, layers)) => {
                looked.push(format!(
                    "the cosign attestation tag {att_tag}: {count} layer(s), {} of them \
                     {DSSE_MEDIA_TYPE}",
                    layers.len()
                ));
                attestations.extend(layers.into_iter().map(
                    |Layer {
                         index,
                         blob,
                         annotations,
                     }| AttLayer {
                        index,
                        envelope: blob,
                        annotations,
                    },
                ));
            }
        }

        // Cosign: the signature manifest at the tag sha256-<hex>.sig.
        let (signatures, sig_looked) = self.signature_layers(reference, &digest).await?;
        looked.push(sig_looked);

        // OCI 1.1 referrers (oci-client falls back to the referrers tag sha256-<hex> when the
        // registry has no referrers API).
        let session = self.session(&image).await?;
        let index = self
            .call(
                format!("listing the referrers of {digest}"),
                session.client.pull_referrers(&image, None),
            )
            .await
            .map_err(|e| session.explain(e, &image, String::new))?;
        let candidates: Vec<_> = index
            .manifests
            .iter()
            .filter(|entry| {
                entry
                    .artifact_type
                    .as_deref()
                    .is_some_and(is_sigstore_bundle_type)
            })
            .collect();
        looked.push(format!(
            "OCI referrers of {digest} (referrers API, or the tag {} where the registry has \
             none): {} referrer(s), {} with a Sigstore bundle artifact type",
            tag_stem(&digest),
            index.manifests.len(),
            candidates.len()
        ));
        if candidates.len() > MAX_ITEMS {
            bail!(
                "{digest} has {} Sigstore bundle referrers, more than the {MAX_ITEMS} read",
                candidates.len()
            );
        }
        let mut referrers = Vec::new();
        for entry in candidates {
            let referrer_ref = with_digest(reference, &entry.digest);
            let (manifest, _) = self.image_manifest(&referrer_ref).await?.ok_or_else(|| {
                anyhow!(
                    "referrer {} of {digest} is listed but not in the registry",
                    entry.digest
                )
            })?;
            let bundle = self
                .referrer_bundle(&image, &digest, &entry.digest, &manifest)
                .await?;
            let annotated = manifest
                .annotations
                .as_ref()
                .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
                .or_else(|| {
                    entry
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
                });
            let kind = match annotated {
                Some(predicate_type) => kind_of_predicate(predicate_type),
                None => kind_of_bundle(&bundle),
            };
            referrers.push(BundleReferrer {
                manifest_digest: entry.digest.clone(),
                bundle,
                kind,
            });
        }

        Ok(Found {
            repository: format!("{registry}/{repository}"),
            digest,
            attestations,
            signatures,
            referrers,
            looked,
        })
    }

    /// The Sigstore bundle a referrer manifest holds: its one bundle layer, as stored.
    async fn referrer_bundle(
        &mut self,
        image: &Reference,
        digest: &str,
        referrer: &str,
        manifest: &OciImageManifest,
    ) -> Result<Vec<u8>> {
        match &manifest.subject {
            Some(subject) if subject.digest != digest => bail!(
                "referrer {referrer} is listed for {digest} but its subject is {}",
                subject.digest
            ),
            Some(_) => {}
            None => bail!("referrer {referrer} of {digest} has no subject"),
        }
        let layers: Vec<_> = manifest
            .layers
            .iter()
            .filter(|layer| is_sigstore_bundle_type(&layer.media_type))
            .collect();
        let [layer] = layers.as_slice() else {
            bail!(
                "referrer {referrer} of {digest} has {} Sigstore bundle layers, expected one",
                layers.len()
            );
        };
        self.blob(image, layer)
            .await
            .with_context(|| format!("referrer {referrer}"))
    }
}

/// `reference`'s repository at `digest`.
fn with_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    )
}

fn kind_of_predicate(predicate_type: &str) -> ReferrerKind {
    if predicate_type == COSIGN_SIGN_PREDICATE {
        ReferrerKind::Signature
    } else {
        ReferrerKind::Attestation
    }
}

/// A bundle without the predicate type annotation: a signature when it is a message signature or
/// its statement's predicate type is cosign's signature one; an attestation otherwise (unreadable
/// bundles included: they are exported as stored, and fail verification later).
pub fn kind_of_bundle(bundle: &[u8]) -> ReferrerKind {
    match Bundle::from_json(bundle).map(|b| b.content) {
        Ok(Content::MessageSignature { .. }) => ReferrerKind::Signature,
        Ok(Content::Dsse(envelope)) => envelope
            .statement()
            .ok()
            .and_then(|statement| statement.get("predicateType"))
            .and_then(|p| p.as_str())
            .map_or(ReferrerKind::Attestation, kind_of_predicate),
        Err(_) => ReferrerKind::Attestation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigstore_bundle_media_types() {
        for yes in [
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.dev.sigstore.bundle.v0.4+json",
            "application/vnd.dev.sigstore.bundle+json;version=0.3",
            "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "application/vnd.dev.sigstore.bundle+json",
        ] {
            assert!(is_sigstore_bundle_type(yes), "{yes}");
        }
        for no in [
            "application/vnd.dsse.envelope.v1+json",
            "application/vnd.dev.sigstore.bundle.v+json",
            "application/vnd.dev.sigstore.bundle.vX+json",
            "application/vnd.dev.sigstore.bundlex+json",
            "application/vnd.dev.cosign.simplesigning.v1+json",
            "application/spdx+json",
            "",
        ] {
            assert!(!is_sigstore_bundle_type(no), "{no}");
        }
    }

    #[test]
    fn predicate_types() {
        assert_eq!(
            kind_of_predicate("https://sigstore.dev/cosign/sign/v1"),
            ReferrerKind::Signature
        );
        assert_eq!(
            kind_of_predicate("https://slsa.dev/provenance/v1"),
            ReferrerKind::Attestation
        );
        assert_eq!(kind_of_bundle(b"{not json"), ReferrerKind::Attestation);
    }
}
