//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8.2, installed by
//! `make setup`), started on a free loopback port with its storage in a temporary directory, and
//! stopped when the [`Registry`] is dropped. Content goes in with our own plain HTTP client (std
//! only, so that it shares no code with the client under test): OCI image layouts
//! ([`Registry::push_oci_layout`], cosign-saved layouts tagged as cosign tags them), small images,
//! Sigstore bundle referrers (with the referrers tag schema index, since distribution 2.8 has no
//! referrers API).
//!
//! Bounded: the registry must answer `GET /v2/` within [`START_TIMEOUT`], every request has
//! [`REQUEST_TIMEOUT`], and only 127.0.0.1 is ever contacted.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest as _;

/// Debian's distribution registry.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
/// How long the registry may take to answer `GET /v2/` after it is started.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect, read and write deadline of each request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// OCI media types.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// cosign v3's Sigstore bundle media type (layer and artifact type of a bundle referrer).
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The user of a registry started with [`Registry::start_with_auth`].
pub const TEST_USER: &str = "custody";
/// Its password.
pub const TEST_PASSWORD: &str = "custody-test-password";
/// `TEST_PASSWORD`, bcrypt-hashed (cost 4) for the registry's htpasswd file.
const TEST_PASSWORD_BCRYPT: &str = "$2b$04$4QfX984W8kfpjDDKGKzLxeunsnwCy3T7gwcvJ.176HnSody5UTN/6";

/// Every manifest media type, for `Accept`.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer decoded).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What [`Registry::push_oci_layout`] pushed.
#[derive(Debug, Clone)]
pub struct PushedLayout {
    /// The image's manifest digest: the `index.json` entry of kind
    /// `dev.cosignproject.cosign/image` or `.../imageIndex`, or the only entry.
    pub image_digest: String,
    /// Every tag set, e.g. `v1` and `sha256-<hex>.att`.
    pub tags: Vec<String>,
    /// Every manifest pushed (children before the indexes that list them).
    pub manifests: Vec<String>,
    /// How many blobs were uploaded.
    pub blobs: usize,
}

/// A running `docker-registry`, stopped (and its storage deleted) on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    root: PathBuf,
    addr: SocketAddr,
    /// `Authorization` of our own requests, when the registry wants credentials.
    authorization: Option<String>,
}

impl Registry {
    /// Starts a registry on a free port of 127.0.0.1 and waits until it answers `GET /v2/`.
    /// Panics if `/usr/bin/docker-registry` is missing (saying to run `make setup`), or if it does
    /// not come up in time (with its log).
    pub fn start() -> Registry {
        Self::start_with(false)
    }

    /// [`Registry::start`], with HTTP basic authentication: only [`TEST_USER`] with
    /// [`TEST_PASSWORD`] may pull or push (this harness's own requests send them).
    pub fn start_with_auth() -> Registry {
        Self::start_with(true)
    }

    fn start_with(auth: bool) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).is_file(),
            "{REGISTRY_BINARY} is missing: these tests need Debian's docker-registry package; \
             run `make setup` (it installs it)"
        );
        // A port taken between our probe and the registry's bind makes it exit: try again.
        let mut last_error = String::new();
        for _ in 0..5 {
            match Self::try_start(auth) {
                Ok(registry) => return registry,
                Err(error) => last_error = error,
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    fn try_start(auth: bool) -> Result<Registry, String> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "custody-registry-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if root.exists() {
            fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        }
        fs::create_dir_all(root.join("data")).map_err(|e| format!("{}: {e}", root.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: {addr}\n  secret: custody-test-registry\n",
            data = root.join("data").display(),
        );
        let mut authorization = None;
        if auth {
            let htpasswd = root.join("htpasswd");
            fs::write(&htpasswd, format!("{TEST_USER}:{TEST_PASSWORD_BCRYPT}\n"))
                .map_err(|e| format!("{}: {e}", htpasswd.display()))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: custody-test\n    path: {}\n",
                htpasswd.display()
            ));
            use base64::Engine as _;
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{TEST_USER}:{TEST_PASSWORD}"));
            authorization = Some(format!("Basic {basic}"));
        }
        let config_path = root.join("config.yml");
        fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;
        let log_path = root.join("registry.log");
        let log =
            fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("{REGISTRY_BINARY}: {e}"))?;
        let mut registry = Registry {
            child,
            root,
            addr,
            authorization,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!("it exited ({status}): {}", registry.log_tail()));
            }
            if let Ok(response) = registry.request("GET", "/v2/", &[], &[]) {
                if response.status == 200 {
                    return Ok(registry);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer to GET /v2/ within {START_TIMEOUT:?}: {}",
                    registry.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of the registry's log, for messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.root.join("registry.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!("registry log: {}", &log[start..])
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// An image reference in this registry: `127.0.0.1:<port>/<repo>:<tag>` (or `@<digest>` when
    /// `reference` is a digest).
    pub fn image(&self, repo: &str, reference: &str) -> String {
        if reference.contains(':') {
            format!("{}/{repo}@{reference}", self.host())
        } else {
            format!("{}/{repo}:{reference}", self.host())
        }
    }

    /// One HTTP/1.1 request to the registry (`path` absolute, e.g. `/v2/`); the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, REQUEST_TIMEOUT)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(authorization) = &self.authorization {
            head.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw, method == "HEAD")
    }

    /// A request that must answer `expected`; panics otherwise (with the answer).
    fn expect(
        &self,
        expected: u16,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let response = self
            .request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(
            response.status,
            expected,
            "{method} {path}: {}\n{}",
            response.text(),
            self.log_tail()
        );
        response
    }

    /// `GET path`; panics if the request fails (any status is returned).
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[("Accept", ACCEPT_MANIFESTS)], &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Uploads a blob to `repo` (monolithic: POST, then PUT with the digest) unless it is there;
    /// returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let head = self
            .request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], &[])
            .unwrap_or_else(|e| panic!("HEAD blob {digest}: {e}"));
        if head.status == 200 {
            return digest;
        }
        let started = self.expect(202, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
        let location = started
            .header("location")
            .unwrap_or_else(|| panic!("upload of {digest}: no Location"));
        let mut path = location_path(location);
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&format!("digest={digest}"));
        let done = self.expect(
            201,
            "PUT",
            &path,
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        if let Some(answered) = done.header("docker-content-digest") {
            assert_eq!(answered, digest, "blob upload: digest");
        }
        digest
    }

    /// Puts a manifest of `media_type` at `reference` (a tag, or its digest); returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let digest = sha256_digest(bytes);
        let response = self.expect(
            201,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            bytes,
        );
        if let Some(answered) = response.header("docker-content-digest") {
            assert_eq!(answered, digest, "manifest {repo}:{reference}: digest");
        }
        digest
    }

    /// The manifest at `reference` (tag or digest): its media type (Content-Type) and bytes, or
    /// `None` if there is none.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<(String, Vec<u8>)> {
        let response = self.get(&format!("/v2/{repo}/manifests/{reference}"));
        match response.status {
            200 => Some((
                response
                    .header("content-type")
                    .unwrap_or_default()
                    .to_owned(),
                response.body,
            )),
            404 => None,
            other => panic!(
                "GET manifest {repo}:{reference}: {other} {}",
                response.text()
            ),
        }
    }

    /// Tags the manifest `digest` of `repo` as `tag`.
    pub fn tag(&self, repo: &str, digest: &str, tag: &str) {
        let (media_type, bytes) = self
            .manifest(repo, digest)
            .unwrap_or_else(|| panic!("{repo}@{digest}: no such manifest to tag"));
        self.push_manifest(repo, tag, &media_type, &bytes);
    }

    /// Loads an OCI image layout directory (`index.json`, `blobs/<alg>/<hex>`) into `repo`: every
    /// blob and manifest reachable from `index.json` (each checked against its digest and size),
    /// children before the indexes listing them. Tags, as `cosign save`'s layouts mean them:
    /// the image (kind `dev.cosignproject.cosign/image` or `.../imageIndex`, or the only entry)
    /// as `tag`; the attestations (`.../atts`) as `sha256-<image hex>.att`, signatures
    /// (`.../sigs`) as `.sig`, SBOMs (`.../sboms`) as `.sbom`; any entry with an
    /// `org.opencontainers.image.ref.name` annotation as that name.
    pub fn push_oci_layout(&self, dir: &Path, repo: &str, tag: &str) -> PushedLayout {
        let index: Value = read_json(&dir.join("index.json"));
        let entries = index["manifests"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no manifests", dir.display()))
            .clone();
        let mut pushed = PushedLayout {
            image_digest: String::new(),
            tags: Vec::new(),
            manifests: Vec::new(),
            blobs: 0,
        };
        for entry in &entries {
            self.push_descriptor(dir, repo, entry, &mut pushed);
        }

        let kind = |entry: &Value| entry["annotations"]["kind"].as_str().map(str::to_owned);
        let image = entries
            .iter()
            .find(|e| {
                matches!(
                    kind(e).as_deref(),
                    Some("dev.cosignproject.cosign/image" | "dev.cosignproject.cosign/imageIndex")
                )
            })
            .or(if entries.len() == 1 {
                entries.first()
            } else {
                None
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: which entry of index.json is the image? (no cosign image kind)",
                    dir.display()
                )
            });
        pushed.image_digest = descriptor_digest(image);
        let hex = pushed
            .image_digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("image digest {} is not sha256", pushed.image_digest))
            .to_owned();
        for entry in &entries {
            let digest = descriptor_digest(entry);
            let mut tags = Vec::new();
            match kind(entry).as_deref() {
                _ if digest == pushed.image_digest => tags.push(tag.to_owned()),
                Some("dev.cosignproject.cosign/atts") => tags.push(format!("sha256-{hex}.att")),
                Some("dev.cosignproject.cosign/sigs") => tags.push(format!("sha256-{hex}.sig")),
                Some("dev.cosignproject.cosign/sboms") => tags.push(format!("sha256-{hex}.sbom")),
                _ => {}
            }
            if let Some(name) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() {
                tags.push(name.to_owned());
            }
            for tag in tags {
                self.tag(repo, &digest, &tag);
                pushed.tags.push(tag);
            }
        }
        pushed
    }

    fn push_descriptor(
        &self,
        dir: &Path,
        repo: &str,
        descriptor: &Value,
        pushed: &mut PushedLayout,
    ) {
        let digest = descriptor_digest(descriptor);
        let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
        let bytes = read_blob(dir, descriptor);
        match media_type {
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                let index: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("index {digest}: {e}"));
                for child in index["manifests"].as_array().into_iter().flatten() {
                    self.push_descriptor(dir, repo, child, pushed);
                }
                self.push_manifest(repo, &digest, media_type, &bytes);
                pushed.manifests.push(digest);
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let manifest: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("manifest {digest}: {e}"));
                let children = std::iter::once(&manifest["config"])
                    .chain(manifest["layers"].as_array().into_iter().flatten());
                for child in children {
                    self.push_blob(repo, &read_blob(dir, child));
                    pushed.blobs += 1;
                }
                self.push_manifest(repo, &digest, media_type, &bytes);
                pushed.manifests.push(digest);
            }
            _ => {
                self.push_blob(repo, &bytes);
                pushed.blobs += 1;
            }
        }
    }

    /// Pushes a small single-layer image (OCI manifest; `content` is its one layer) as
    /// `repo:tag`; returns its manifest digest. Different `content`, different image.
    pub fn push_test_image(&self, repo: &str, tag: &str, content: &str) -> String {
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap_or_default();
        let layer = content.as_bytes();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.push_blob(repo, &config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": self.push_blob(repo, layer),
                "size": layer.len(),
            }],
        }))
        .unwrap_or_default();
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest)
    }

    /// Attaches a Sigstore bundle to the image `subject` (a manifest digest in `repo`) as cosign
    /// v3 does on an OCI 1.1 registry: a manifest with `artifactType` and one layer of
    /// [`SIGSTORE_BUNDLE_V03`], the empty config, and `subject` = the image. Distribution 2.8 has
    /// no referrers API, so, as a pusher must then, it also adds the referrer to the referrers
    /// tag schema index `sha256-<subject hex>` (created if missing). Returns the referrer
    /// manifest's digest.
    pub fn push_bundle_referrer(&self, repo: &str, subject: &str, bundle: &[u8]) -> String {
        self.push_bundle_referrer_annotated(repo, subject, bundle, &[])
    }

    /// [`Registry::push_bundle_referrer`], the referrer manifest (and its referrers index entry)
    /// also annotated with `annotations`, e.g. `dev.sigstore.bundle.predicateType` as cosign v3
    /// sets it.
    pub fn push_bundle_referrer_annotated(
        &self,
        repo: &str,
        subject: &str,
        bundle: &[u8],
        annotations: &[(&str, &str)],
    ) -> String {
        let (subject_type, subject_bytes) = self
            .manifest(repo, subject)
            .unwrap_or_else(|| panic!("{repo}@{subject}: no such manifest to refer to"));
        let empty = b"{}";
        let mut all = serde_json::Map::new();
        all.insert("dev.sigstore.bundle.content".into(), "dsse-envelope".into());
        all.insert(
            "org.opencontainers.image.created".into(),
            "2026-01-01T00:00:00Z".into(),
        );
        for (name, value) in annotations {
            all.insert((*name).to_owned(), (*value).into());
        }
        let annotations = Value::Object(all);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGSTORE_BUNDLE_V03,
            "config": {"mediaType": OCI_EMPTY, "digest": self.push_blob(repo, empty), "size": 2},
            "layers": [{
                "mediaType": SIGSTORE_BUNDLE_V03,
                "digest": self.push_blob(repo, bundle),
                "size": bundle.len(),
            }],
            "subject": {"mediaType": subject_type, "digest": subject, "size": subject_bytes.len()},
            "annotations": annotations,
        }))
        .unwrap_or_default();
        let digest = sha256_digest(&manifest);
        self.push_manifest(repo, &digest, OCI_MANIFEST, &manifest);

        let fallback_tag = subject.replacen(':', "-", 1);
        let mut index = match self.manifest(repo, &fallback_tag) {
            Some((_, bytes)) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{repo}:{fallback_tag}: {e}")),
            None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        };
        if let Some(list) = index["manifests"].as_array_mut() {
            list.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": manifest.len(),
                "artifactType": SIGSTORE_BUNDLE_V03,
                "annotations": annotations,
            }));
        }
        let index = serde_json::to_vec(&index).unwrap_or_default();
        self.push_manifest(repo, &fallback_tag, OCI_INDEX, &index);
        digest
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The path (and query) of a `Location` header, absolute URL or not.
fn location_path(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(at) => rest[at..].to_owned(),
            None => "/".to_owned(),
        },
        None => location.to_owned(),
    }
}

fn descriptor_digest(descriptor: &Value) -> String {
    descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor without digest: {descriptor}"))
        .to_owned()
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The blob a descriptor names, from the layout, checked against its digest and size.
fn read_blob(dir: &Path, descriptor: &Value) -> Vec<u8> {
    let digest = descriptor_digest(descriptor);
    let (algorithm, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("bad digest {digest}"));
    let path = dir.join("blobs").join(algorithm).join(hex);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(sha256_digest(&bytes), digest, "{}: digest", path.display());
    if let Some(size) = descriptor["size"].as_u64() {
        assert_eq!(bytes.len() as u64, size, "{}: size", path.display());
    }
    bytes
}

/// Parses a whole HTTP/1.1 response (the connection was closed after it).
fn parse_response(raw: &[u8], head_only: bool) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        decode_chunked(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(length) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest.get(..length)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
