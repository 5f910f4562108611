//! Fetching an image's attestations from an OCI registry (oci-client): the cosign attestation tag
//! `sha256-<hex>.att` and OCI 1.1 referrers that hold Sigstore bundles.
//!
//! Bounded: every request has a deadline, at most [`MAX_ITEMS`] attestation layers and bundle
//! referrers are read, and a manifest or blob may be at most [`MAX_BLOB_BYTES`] (blobs are
//! refused by their declared size before they are downloaded, and cut off while downloading).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::docker_config::{self, Lookup};

/// At most this many attestation layers in the `.att` manifest, and this many Sigstore bundle
/// referrers.
pub const MAX_ITEMS: usize = 100;
/// The largest manifest or blob read.
pub const MAX_BLOB_BYTES: u64 = 4 * 1024 * 1024;
/// Media type of a cosign attestation layer (a DSSE envelope).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

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

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Deadline of each request.
    pub timeout: Duration,
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

/// One OCI 1.1 referrer holding a Sigstore bundle.
#[derive(Debug, Clone)]
pub struct BundleReferrer {
    /// The referrer manifest's digest.
    pub manifest_digest: String,
    /// The bundle layer blob, as stored.
    pub bundle: Vec<u8>,
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
    /// Referrers holding Sigstore bundles.
    pub referrers: Vec<BundleReferrer>,
    /// Where we looked and what was there, for messages.
    pub looked: Vec<String>,
}

/// Fetches the attestations of `image` (a reference: a tag is resolved to the manifest digest, a
/// digest is used as given).
pub fn fetch(image: &str, options: &Options) -> Result<Found> {
    let reference: Reference = image
        .parse()
        .map_err(|e| anyhow!("{image:?} is not an image reference: {e}"))?;
    let auth = match docker_config::lookup(reference.registry())? {
        Lookup::Found(credentials) => {
            RegistryAuth::Basic(credentials.username, credentials.password)
        }
        Lookup::Anonymous { note } => {
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            RegistryAuth::Anonymous
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(Fetcher::new(auth, options)?.fetch(&reference))
}

struct Fetcher {
    client: Client,
    auth: RegistryAuth,
    timeout: Duration,
    plain_http: bool,
}

impl Fetcher {
    fn new(auth: RegistryAuth, options: &Options) -> Result<Self> {
        // reqwest is built without a default crypto provider (see Cargo.toml): ring's. Installing
        // fails only when one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol: if options.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            read_timeout: Some(options.timeout),
            connect_timeout: Some(options.timeout),
            // An index is an image here: never pick a platform's manifest.
            platform_resolver: None,
            user_agent: concat!("custody/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).context("setting up the registry client")?;
        Ok(Fetcher {
            client,
            auth,
            timeout: options.timeout,
            plain_http: options.plain_http,
        })
    }

    /// Runs one registry call under the deadline.
    async fn call<T>(
        &self,
        what: impl std::fmt::Display,
        call: impl Future<Output = Result<T, OciDistributionError>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Registry(what.to_string(), error)),
            Err(_) => Err(CallError::Timeout(what.to_string(), self.timeout)),
        }
    }

    async fn fetch(&self, reference: &Reference) -> Result<Found> {
        let registry = reference.registry().to_owned();
        let repository = reference.repository().to_owned();
        let whole = reference.whole();
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;

        // The manifest digest: resolved from the tag, or checked to exist.
        let digest = self
            .call(
                format!("resolving {whole}"),
                self.client.fetch_manifest_digest(reference, &self.auth),
            )
            .await
            .map_err(|e| {
                let https_failed = !self.plain_http
                    && matches!(e, CallError::Registry(_, OciDistributionError::RequestError(_)));
                let error = e.into_anyhow(|| format!("image {whole} not found"));
                if https_failed {
                    error.context(format!(
                        "no HTTPS answer from {registry} (a registry without TLS needs --plain-http)"
                    ))
                } else {
                    error
                }
            })?;
        let Ok(parsed) = crate::attestations::sha256_digest(&digest) else {
            bail!("{whole}: the registry gave the digest {digest:?}; only sha256 is supported");
        };
        let hex = parsed.encoded();
        if let Some(given) = reference.digest() {
            if given != digest {
                bail!("{whole}: the registry answered for {digest}, not {given}");
            }
        }
        let image = Reference::with_digest(registry.clone(), repository.clone(), digest.clone());
        let mut looked = Vec::new();

        // Cosign: the attestation manifest at the tag sha256-<hex>.att.
        let att_tag = format!("sha256-{hex}.att");
        let att_ref = Reference::with_tag(registry.clone(), repository.clone(), att_tag.clone());
        let mut attestations = Vec::new();
        match self.manifest(&att_ref).await? {
            None => looked.push(format!("the cosign attestation tag {att_tag}: not found")),
            Some(manifest) => {
                if manifest.layers.len() > MAX_ITEMS {
                    bail!(
                        "{repository}:{att_tag} has {} layers, more than the {MAX_ITEMS} read",
                        manifest.layers.len()
                    );
                }
                for (index, layer) in manifest.layers.iter().enumerate() {
                    if layer.media_type != DSSE_MEDIA_TYPE {
                        continue;
                    }
                    let envelope = self
                        .blob(&image, layer)
                        .await
                        .with_context(|| format!("{att_tag}, layer {index}"))?;
                    attestations.push(AttLayer {
                        index,
                        envelope,
                        annotations: layer.annotations.clone().unwrap_or_default(),
                    });
                }
                looked.push(format!(
                    "the cosign attestation tag {att_tag}: {} layer(s), {} of them {DSSE_MEDIA_TYPE}",
                    manifest.layers.len(),
                    attestations.len()
                ));
            }
        }

        // OCI 1.1 referrers (oci-client falls back to the referrers tag sha256-<hex> when the
        // registry has no referrers API).
        let index = self
            .call(
                format!("listing the referrers of {digest}"),
                self.client.pull_referrers(&image, None),
            )
            .await
            .map_err(|e| e.into_anyhow(String::new))?;
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
            "OCI referrers of {digest} (referrers API, or the tag sha256-{hex} where the registry \
             has none): {} referrer(s), {} with a Sigstore bundle artifact type",
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
            let referrer_ref =
                Reference::with_digest(registry.clone(), repository.clone(), entry.digest.clone());
            let manifest = self.manifest(&referrer_ref).await?.ok_or_else(|| {
                anyhow!(
                    "referrer {} of {digest} is listed but not in the registry",
                    entry.digest
                )
            })?;
            let bundle = self
                .referrer_bundle(&image, &digest, &entry.digest, &manifest)
                .await?;
            referrers.push(BundleReferrer {
                manifest_digest: entry.digest.clone(),
                bundle,
            });
        }

        Ok(Found {
            repository: format!("{registry}/{repository}"),
            digest,
            attestations,
            referrers,
            looked,
        })
    }

    /// An image manifest (OCI or Docker v2); `None` when there is none at that reference.
    async fn manifest(&self, reference: &Reference) -> Result<Option<OciImageManifest>> {
        let whole = reference.whole();
        let pulled = self
            .call(
                format!("fetching the manifest {whole}"),
                self.client.pull_manifest_raw(
                    reference,
                    &self.auth,
                    &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE],
                ),
            )
            .await;
        let (body, _digest) = match pulled {
            Ok(pulled) => pulled,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error.into_anyhow(String::new)),
        };
        if body.len() as u64 > MAX_BLOB_BYTES {
            bail!(
                "the manifest {whole} is {} bytes, more than the {MAX_BLOB_BYTES} read",
                body.len()
            );
        }
        serde_json::from_slice(&body)
            .map(Some)
            .with_context(|| format!("the manifest {whole} is not an OCI image manifest"))
    }

    /// A blob of `image`'s repository, checked against its digest, at most [`MAX_BLOB_BYTES`].
    async fn blob(&self, image: &Reference, layer: &OciDescriptor) -> Result<Vec<u8>> {
        let digest = &layer.digest;
        let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if declared > MAX_BLOB_BYTES {
            bail!("the blob {digest} is {declared} bytes, more than the {MAX_BLOB_BYTES} read");
        }
        let read = async {
            let mut stream = self
                .client
                .pull_blob_stream(image, layer)
                .await
                .map_err(CallError::from_oci)?;
            let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
            // Each chunk is checked as it comes; the stream checks the digest at its end.
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| CallError::Other(e.to_string()))?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > declared {
                    return Err(CallError::Other(format!(
                        "longer than the {declared} bytes its descriptor says"
                    )));
                }
            }
            if (bytes.len() as u64) < declared {
                return Err(CallError::Other(format!(
                    "{} bytes, shorter than the {declared} its descriptor says",
                    bytes.len()
                )));
            }
            Ok(bytes)
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(error)) => Err(anyhow!("fetching the blob {digest}: {error}")),
            Err(_) => Err(anyhow!(
                "fetching the blob {digest}: no complete answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    /// The Sigstore bundle a referrer manifest holds: its one bundle layer, as stored.
    async fn referrer_bundle(
        &self,
        image: &Reference,
        digest: &str,
        referrer: &str,
        manifest: &OciImageManifest,
    ) -> Result<Vec<u8>> {
        if let Some(subject) = &manifest.subject {
            if subject.digest != digest {
                bail!(
                    "referrer {referrer} is listed for {digest} but its subject is {}",
                    subject.digest
                );
            }
        } else {
            bail!("referrer {referrer} of {digest} has no subject");
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
        let bundle = self
            .blob(image, layer)
            .await
            .with_context(|| format!("referrer {referrer}"))?;
        Ok(bundle)
    }
}

/// A registry call that failed.
#[derive(Debug)]
enum CallError {
    Registry(String, OciDistributionError),
    Timeout(String, Duration),
    Other(String),
}

impl CallError {
    fn from_oci(error: OciDistributionError) -> Self {
        CallError::Other(error.to_string())
    }

    /// The registry says there is no such manifest (or repository).
    fn is_not_found(&self) -> bool {
        match self {
            CallError::Registry(_, OciDistributionError::RegistryError { envelope, .. }) => {
                envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                })
            }
            CallError::Registry(_, OciDistributionError::ServerError { code: 404, .. }) => true,
            CallError::Registry(_, OciDistributionError::ImageManifestNotFoundError(_)) => true,
            _ => false,
        }
    }

    /// As an error; `not_found` is the message for a "not found" answer (empty: the usual one).
    fn into_anyhow(self, not_found: impl FnOnce() -> String) -> anyhow::Error {
        if self.is_not_found() {
            let message = not_found();
            if !message.is_empty() {
                return anyhow!("{message}");
            }
        }
        match self {
            CallError::Registry(what, OciDistributionError::UnauthorizedError { url }) => anyhow!(
                "{what}: the registry refused access ({url}): no valid credentials for it in the \
                 docker config (`docker login` to it, or configure its credential helper)"
            ),
            CallError::Registry(what, error @ OciDistributionError::RequestError(_)) => {
                // The cause (connection refused, TLS...) is in the source chain.
                anyhow::Error::new(error).context(what)
            }
            CallError::Registry(what, error) => anyhow!("{what}: {error}"),
            CallError::Timeout(what, timeout) => {
                anyhow!("{what}: no answer within {} s", timeout.as_secs_f64())
            }
            CallError::Other(message) => anyhow!("{message}"),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Registry(what, error) => write!(f, "{what}: {error}"),
            CallError::Timeout(what, timeout) => {
                write!(f, "{what}: no answer within {} s", timeout.as_secs_f64())
            }
            CallError::Other(message) => f.write_str(message),
        }
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
}
