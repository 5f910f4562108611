//! A blocking client for OCI registries: oci-client on a current-thread tokio runtime, one session
//! (client, credentials, scheme) per registry, every call under a deadline and every manifest and
//! blob bounded by [`MAX_BLOB_BYTES`] and checked against its digest.
//!
//! Blobs are refused by their declared size before they are downloaded, and cut off while
//! downloading; a blob whose bytes do not hash to its digest is refused.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use serde_json::Value;
use sha2::Digest as _;

use crate::docker_config::{self, Lookup};

/// At most this many layers in a cosign `.att` or `.sig` manifest, and this many Sigstore bundle
/// referrers.
pub const MAX_ITEMS: usize = 100;
/// The largest manifest or blob read.
pub const MAX_BLOB_BYTES: u64 = 4 * 1024 * 1024;
/// The default deadline of each request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every manifest media type (image manifests and indexes, OCI and Docker).
pub(crate) const ANY_MANIFEST: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];
/// Image manifest media types (OCI and Docker).
pub(crate) const IMAGE_MANIFEST: [&str; 2] = [OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE];

/// Where plain HTTP (no TLS) is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlainHttp {
    /// Nowhere: HTTPS to every registry, loopback ones too.
    Never,
    /// To loopback registries only ([`is_loopback`]: `localhost`, `127.0.0.0/8`, `::1`, any
    /// port); HTTPS to every other.
    #[default]
    Loopback,
    /// To every registry (credentials from the docker config then go unencrypted).
    Always,
}

impl PlainHttp {
    /// Whether `registry` (host and port, as in an image reference) is spoken to in plain HTTP.
    pub fn applies_to(self, registry: &str) -> bool {
        match self {
            PlainHttp::Never => false,
            PlainHttp::Loopback => is_loopback(registry),
            PlainHttp::Always => true,
        }
    }
}

/// Whether `registry` (`host`, `host:port`, `[v6]:port`) is this machine: `localhost`, an address
/// of `127.0.0.0/8`, or `::1`.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => match registry.rsplit_once(':') {
            // A bare IPv6 address has several colons and no port.
            Some((host, _)) if !host.contains(':') => host,
            _ => registry,
        },
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How to reach registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where plain HTTP is spoken.
    pub plain_http: PlainHttp,
    /// Deadline of each request.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plain_http: PlainHttp::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Whether a manifest is an image manifest or an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest (OCI, or Docker v2 schema 2).
    Image,
    /// An image index (OCI), or a Docker manifest list.
    Index,
}

/// A manifest as the registry served it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Its digest (`sha256:...`).
    pub digest: String,
    /// Image manifest or index.
    pub kind: ManifestKind,
    /// Its JSON.
    pub json: Value,
}

/// An image manifest, its digest and its config (JSON), as Kubewarden's `oci_manifest_config`
/// answers them.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestAndConfig {
    /// The image manifest (for an index: its entry for this platform).
    pub manifest: Value,
    /// The image manifest's digest.
    pub digest: String,
    /// The config blob's JSON.
    pub config: Value,
}

/// A blocking OCI registry client: a current-thread tokio runtime and one session per registry
/// (its credentials looked up once, in the docker config: [`docker_config::lookup`]). Not for use
/// from inside a tokio runtime.
pub struct Client {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) inner: Inner,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .field(
                "registries",
                &self.inner.sessions.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client; nothing is contacted until asked.
    pub fn new(options: Options) -> Result<Self> {
        // reqwest is built without a default crypto provider (see Cargo.toml): ring's. Installing
        // fails only when one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        Ok(Client {
            runtime,
            inner: Inner {
                options,
                sessions: HashMap::new(),
                notes: Vec::new(),
            },
        })
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// What the user may want to know about credentials (an identity token that cannot be used),
    /// once per registry; taken, so each is given once.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.inner.notes)
    }

    /// The digest of the manifest (or index) `image` points at (a tag is resolved; a digest must
    /// be there, and is answered as given).
    pub fn manifest_digest(&mut self, image: &str) -> Result<String> {
        let reference = parse_reference(image)?;
        self.runtime.block_on(self.inner.resolve(&reference))
    }

    /// The manifest or index `image` points at, as served.
    pub fn manifest(&mut self, image: &str) -> Result<Manifest> {
        let reference = parse_reference(image)?;
        let whole = reference.whole();
        self.runtime
            .block_on(self.inner.manifest(&reference, &ANY_MANIFEST))?
            .ok_or_else(|| anyhow!("image {whole} not found"))
    }

    /// The image manifest `image` points at (for an index, its entry for this platform, as
    /// Kubewarden's host picks it: the OS and architecture this runs on), its digest and its
    /// config.
    pub fn manifest_and_config(&mut self, image: &str) -> Result<ManifestAndConfig> {
        let reference = parse_reference(image)?;
        self.runtime
            .block_on(self.inner.manifest_and_config(&reference))
    }
}

/// `image` as an oci-client reference (no registry: docker.io; no tag: latest).
pub(crate) fn parse_reference(image: &str) -> Result<Reference> {
    image
        .parse()
        .map_err(|e| anyhow!("{image:?} is not an image reference: {e}"))
}

/// One registry: its client (scheme decided once) and credentials.
pub(crate) struct Session {
    pub(crate) client: oci_client::Client,
    pub(crate) auth: RegistryAuth,
    plain_http: bool,
}

/// The async side of [`Client`].
pub(crate) struct Inner {
    pub(crate) options: Options,
    sessions: HashMap<String, Arc<Session>>,
    notes: Vec<String>,
}

impl Inner {
    /// The session of `reference`'s registry, made on first use.
    pub(crate) async fn session(&mut self, reference: &Reference) -> Result<Arc<Session>> {
        let registry = reference.registry();
        if let Some(session) = self.sessions.get(registry) {
            return Ok(session.clone());
        }
        let auth = match docker_config::lookup(registry)? {
            Lookup::Found(credentials) => {
                RegistryAuth::Basic(credentials.username, credentials.password)
            }
            Lookup::Anonymous { note } => {
                self.notes.extend(note);
                RegistryAuth::Anonymous
            }
        };
        let plain_http = self.options.plain_http.applies_to(registry);
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            read_timeout: Some(self.options.timeout),
            connect_timeout: Some(self.options.timeout),
            // An index is an image here: never pick a platform's manifest behind our back.
            platform_resolver: None,
            user_agent: concat!("custody/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client =
            oci_client::Client::try_from(config).context("setting up the registry client")?;
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let session = Arc::new(Session {
            client,
            auth,
            plain_http,
        });
        self.sessions.insert(registry.to_owned(), session.clone());
        Ok(session)
    }

    /// Runs one registry call under the deadline.
    pub(crate) async fn call<T>(
        &self,
        what: impl std::fmt::Display,
        call: impl Future<Output = Result<T, OciDistributionError>>,
    ) -> Result<T, CallError> {
        let timeout = self.options.timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Registry(what.to_string(), error)),
            Err(_) => Err(CallError::Timeout(what.to_string(), timeout)),
        }
    }

    /// The manifest digest of `reference`: resolved from the tag, or checked to exist. Only sha256
    /// digests are accepted.
    pub(crate) async fn resolve(&mut self, reference: &Reference) -> Result<String> {
        let session = self.session(reference).await?;
        let whole = reference.whole();
        let digest = self
            .call(
                format!("resolving {whole}"),
                session
                    .client
                    .fetch_manifest_digest(reference, &session.auth),
            )
            .await
            .map_err(|e| session.explain(e, reference, || format!("image {whole} not found")))?;
        if crate::sha256_hex(&digest).is_none() {
            bail!("{whole}: the registry gave the digest {digest:?}; only sha256 is supported");
        }
        if let Some(given) = reference.digest() {
            if given != digest {
                bail!("{whole}: the registry answered for {digest}, not {given}");
            }
        }
        Ok(digest)
    }

    /// A manifest of one of `accept`'s media types; `None` when there is none at that reference.
    pub(crate) async fn manifest(
        &mut self,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<Option<Manifest>> {
        let session = self.session(reference).await?;
        let whole = reference.whole();
        let pulled = self
            .call(
                format!("fetching the manifest {whole}"),
                session
                    .client
                    .pull_manifest_raw(reference, &session.auth, accept),
            )
            .await;
        let (body, digest) = match pulled {
            Ok(pulled) => pulled,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(session.explain(error, reference, String::new)),
        };
        if body.len() as u64 > MAX_BLOB_BYTES {
            bail!(
                "the manifest {whole} is {} bytes, more than the {MAX_BLOB_BYTES} read",
                body.len()
            );
        }
        let json: Value = serde_json::from_slice(&body)
            .with_context(|| format!("the manifest {whole} is not JSON"))?;
        let kind = manifest_kind(&json)
            .ok_or_else(|| anyhow!("{whole} is not an image manifest or index"))?;
        Ok(Some(Manifest { digest, kind, json }))
    }

    /// An image manifest (OCI or Docker v2), parsed; `None` when there is none at that reference.
    pub(crate) async fn image_manifest(
        &mut self,
        reference: &Reference,
    ) -> Result<Option<(OciImageManifest, String)>> {
        let whole = reference.whole();
        let Some(manifest) = self.manifest(reference, &IMAGE_MANIFEST).await? else {
            return Ok(None);
        };
        if manifest.kind != ManifestKind::Image {
            bail!("{whole} is an image index, not an image manifest");
        }
        let parsed = serde_json::from_value(manifest.json)
            .with_context(|| format!("the manifest {whole} is not an OCI image manifest"))?;
        Ok(Some((parsed, manifest.digest)))
    }

    async fn manifest_and_config(&mut self, reference: &Reference) -> Result<ManifestAndConfig> {
        let whole = reference.whole();
        let manifest = self
            .manifest(reference, &ANY_MANIFEST)
            .await?
            .ok_or_else(|| anyhow!("image {whole} not found"))?;
        let manifest = match manifest.kind {
            ManifestKind::Image => manifest,
            ManifestKind::Index => {
                let (os, architecture) = platform();
                let entry = manifest
                    .json
                    .get("manifests")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|entry| {
                        let platform = entry.get("platform");
                        let field =
                            |name| platform.and_then(|p| p.get(name)).and_then(Value::as_str);
                        field("os") == Some(os) && field("architecture") == Some(architecture)
                    })
                    .and_then(|entry| entry.get("digest"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        anyhow!(
                            "{whole}: the image index {} has no manifest for {os}/{architecture}",
                            manifest.digest
                        )
                    })?;
                let child = reference.clone_with_digest(entry.to_owned());
                let child = self
                    .manifest(&child, &IMAGE_MANIFEST)
                    .await?
                    .ok_or_else(|| {
                        anyhow!("{whole}: the manifest {entry} of its index is missing")
                    })?;
                if child.kind != ManifestKind::Image {
                    bail!("{whole}: the entry {entry} of its index is not an image manifest");
                }
                child
            }
        };
        let parsed: OciImageManifest = serde_json::from_value(manifest.json.clone())
            .with_context(|| format!("the manifest {whole} is not an OCI image manifest"))?;
        let image = reference.clone_with_digest(manifest.digest.clone());
        let config = self
            .blob(&image, &parsed.config)
            .await
            .with_context(|| format!("{whole}: its config"))?;
        let config = serde_json::from_slice(&config)
            .with_context(|| format!("{whole}: its config is not JSON"))?;
        Ok(ManifestAndConfig {
            manifest: manifest.json,
            digest: manifest.digest,
            config,
        })
    }

    /// A blob of `image`'s repository, checked against its digest, at most [`MAX_BLOB_BYTES`].
    pub(crate) async fn blob(
        &mut self,
        image: &Reference,
        layer: &OciDescriptor,
    ) -> Result<Vec<u8>> {
        self.blob_at_most(image, layer, MAX_BLOB_BYTES).await
    }

    /// A blob of `image`'s repository, checked against its digest, at most `max` bytes.
    pub(crate) async fn blob_at_most(
        &mut self,
        image: &Reference,
        layer: &OciDescriptor,
        max: u64,
    ) -> Result<Vec<u8>> {
        let session = self.session(image).await?;
        let digest = &layer.digest;
        let Some(expected) = crate::sha256_hex(digest) else {
            bail!("the blob {digest} is not named by a sha256 digest");
        };
        let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if declared > max {
            bail!("the blob {digest} is {declared} bytes, more than the {max} read");
        }
        let read = async {
            let mut stream = session
                .client
                .pull_blob_stream(image, layer)
                .await
                .map_err(|e| e.to_string())?;
            let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
            // Each chunk is checked as it comes.
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > declared {
                    return Err(format!(
                        "longer than the {declared} bytes its descriptor says"
                    ));
                }
            }
            if (bytes.len() as u64) < declared {
                return Err(format!(
                    "{} bytes, shorter than the {declared} its descriptor says",
                    bytes.len()
                ));
            }
            Ok(bytes)
        };
        let bytes = match tokio::time::timeout(self.options.timeout, read).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => bail!("fetching the blob {digest}: {error}"),
            Err(_) => bail!(
                "fetching the blob {digest}: no complete answer within {} s",
                self.options.timeout.as_secs_f64()
            ),
        };
        let actual = hex(&sha2::Sha256::digest(&bytes));
        if actual != expected {
            bail!("the blob {digest} fetched hashes to sha256:{actual}");
        }
        Ok(bytes)
    }

    /// The layers of the cosign manifest at tag `tag` (`sha256-<hex>.sig`, `.att`) of `image`'s
    /// repository whose media type is `media_type`: blob and annotations, by layer index. `None`
    /// when there is no such tag; more than [`MAX_ITEMS`] layers are refused.
    pub(crate) async fn cosign_layers(
        &mut self,
        image: &Reference,
        tag: &str,
        media_type: &str,
    ) -> Result<Option<(usize, Vec<Layer>)>> {
        let tagged = Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            tag.to_owned(),
        );
        let Some((manifest, _)) = self.image_manifest(&tagged).await? else {
            return Ok(None);
        };
        if manifest.layers.len() > MAX_ITEMS {
            bail!(
                "{}:{tag} has {} layers, more than the {MAX_ITEMS} read",
                image.repository(),
                manifest.layers.len()
            );
        }
        let mut layers = Vec::new();
        for (index, layer) in manifest.layers.iter().enumerate() {
            if layer.media_type != media_type {
                continue;
            }
            let blob = self
                .blob(image, layer)
                .await
                .with_context(|| format!("{tag}, layer {index}"))?;
            layers.push(Layer {
                index,
                blob,
                annotations: layer.annotations.clone().unwrap_or_default(),
            });
        }
        Ok(Some((manifest.layers.len(), layers)))
    }
}

/// One layer of a cosign manifest.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) index: usize,
    pub(crate) blob: Vec<u8>,
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Session {
    /// `error` as a message; `not_found` is the message for a "not found" answer (empty: the
    /// usual one). A connection that fails gets a hint about the scheme.
    pub(crate) fn explain(
        &self,
        error: CallError,
        reference: &Reference,
        not_found: impl FnOnce() -> String,
    ) -> anyhow::Error {
        let connection_failed = matches!(
            error,
            CallError::Registry(_, OciDistributionError::RequestError(_))
        );
        let error = error.into_anyhow(not_found);
        let registry = reference.registry();
        match (connection_failed, self.plain_http) {
            (false, _) => error,
            (true, false) if is_loopback(registry) => error.context(format!(
                "no HTTPS answer from {registry} (--no-plain-http: loopback registries are \
                 otherwise spoken to in plain HTTP)"
            )),
            (true, false) => error.context(format!(
                "no HTTPS answer from {registry} (a registry without TLS needs --plain-http)"
            )),
            (true, true) if is_loopback(registry) => error.context(format!(
                "no plain HTTP answer from {registry} (loopback registries are spoken to in \
                 plain HTTP; one with TLS needs --no-plain-http)"
            )),
            (true, true) => error.context(format!("no plain HTTP answer from {registry}")),
        }
    }
}

/// Image manifest or index, by its `mediaType` or, without one, by its fields; `None` for
/// anything else (other media types, not schema version 2).
fn manifest_kind(json: &Value) -> Option<ManifestKind> {
    if json.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return None;
    }
    match json.get("mediaType").and_then(Value::as_str) {
        Some(OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE) => Some(ManifestKind::Image),
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => {
            Some(ManifestKind::Index)
        }
        Some(_) => None,
        None if json.get("manifests").is_some() => Some(ManifestKind::Index),
        None if json.get("config").is_some() => Some(ManifestKind::Image),
        None => None,
    }
}

/// This machine's OS and architecture as OCI names them (Go's `GOOS`/`GOARCH`).
pub fn platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        arch => arch,
    };
    (os, architecture)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A registry call that failed.
#[derive(Debug)]
pub(crate) enum CallError {
    Registry(String, OciDistributionError),
    Timeout(String, Duration),
}

impl CallError {
    /// The registry says there is no such manifest (or repository).
    pub(crate) fn is_not_found(&self) -> bool {
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
    pub(crate) fn into_anyhow(self, not_found: impl FnOnce() -> String) -> anyhow::Error {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loopback_registries() {
        for yes in [
            "localhost",
            "localhost:5000",
            "LocalHost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "[::1]:5000",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback(yes), "{yes}");
            assert!(PlainHttp::Loopback.applies_to(yes), "{yes}");
            assert!(!PlainHttp::Never.applies_to(yes), "{yes}");
        }
        for no in [
            "ghcr.io",
            "docker.io",
            "localhost.example:5000",
            "127.0.0.1.nip.io:5000",
            "10.0.0.1:5000",
            "[::2]:5000",
            "[::1]x",
            "128.0.0.1",
            "",
        ] {
            assert!(!is_loopback(no), "{no}");
            assert!(!PlainHttp::Loopback.applies_to(no), "{no}");
            assert!(PlainHttp::Always.applies_to(no), "{no}");
        }
    }

    #[test]
    fn manifest_kinds() {
        let kind = |v: Value| manifest_kind(&v);
        assert_eq!(
            kind(json!({"schemaVersion": 2, "mediaType": OCI_IMAGE_MEDIA_TYPE, "config": {}})),
            Some(ManifestKind::Image)
        );
        assert_eq!(
            kind(json!({"schemaVersion": 2, "mediaType": IMAGE_MANIFEST_LIST_MEDIA_TYPE})),
            Some(ManifestKind::Index)
        );
        assert_eq!(
            kind(json!({"schemaVersion": 2, "manifests": []})),
            Some(ManifestKind::Index)
        );
        assert_eq!(
            kind(json!({"schemaVersion": 2, "config": {}, "layers": []})),
            Some(ManifestKind::Image)
        );
        assert_eq!(kind(json!({"schemaVersion": 1, "config": {}})), None);
        assert_eq!(
            kind(json!({"schemaVersion": 2, "mediaType": "application/json"})),
            None
        );
        assert_eq!(kind(json!([])), None);
    }

    #[test]
    fn platform_names() {
        let (os, architecture) = platform();
        assert!(!os.is_empty() && !architecture.is_empty());
        assert_ne!(architecture, "x86_64");
        assert_ne!(architecture, "aarch64");
    }
}
