//! Images signed in cosign's legacy layout by an implementation we did not write: the reference
//! signer `test-support/tools/cosign_sign.py` (Python's standard library and `cryptography`, run by
//! Debian's interpreter, [`PYTHON`], in isolated mode, so that Debian's python3-cryptography is
//! the one used; `make test-setup` installs it). It makes key pairs ([`generate_key`]) and the
//! signature manifest cosign pushes at `sha256-<image hex>.sig` ([`sign_layout`]), which
//! [`sign_and_push`] pushes into a test [`Registry`]; [`fetch_signatures`] reads it back with the
//! harness's own HTTP client.
//!
//! Bounded: each run of the script has [`SCRIPT_TIMEOUT`], after which it is killed. Every
//! failure panics with the script's stderr: these are test helpers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::registry::Registry;

/// Debian's Python, whose `cryptography` is the python3-cryptography package.
pub const PYTHON: &str = "/usr/bin/python3";
/// How long one run of the script may take (an RSA key pair included).
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// The media type of a cosign signature layer (the simple-signing payload).
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of the signature manifest's config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The reference signer, `test-support/tools/cosign_sign.py`.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/cosign_sign.py")
}

/// The tag cosign signs `image_digest` (`sha256:<hex>`) at: `sha256-<hex>.sig`.
pub fn signature_tag(image_digest: &str) -> String {
    format!("{}.sig", image_digest.replacen(':', "-", 1))
}

/// A key type cosign signs with, and how: ECDSA P-256 (SHA-256) and P-384 (SHA-384), DER
/// signatures; Ed25519 over the payload itself; RSA 2048 PKCS#1 v1.5 with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

impl KeyKind {
    /// Every kind.
    pub const ALL: [KeyKind; 4] = [KeyKind::P256, KeyKind::P384, KeyKind::Ed25519, KeyKind::Rsa];

    /// The script's name of the kind (`keygen --type`).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::P256 => "p256",
            KeyKind::P384 => "p384",
            KeyKind::Ed25519 => "ed25519",
            KeyKind::Rsa => "rsa",
        }
    }
}

/// A key pair made by the script, in a temporary directory deleted on drop.
#[derive(Debug)]
pub struct CosignKey {
    /// Its type.
    pub kind: KeyKind,
    /// The private key file (PKCS#8 PEM, unencrypted).
    pub private_key: PathBuf,
    /// The public key file (SubjectPublicKeyInfo PEM).
    pub public_key: PathBuf,
    /// The public key file's text.
    pub public_pem: String,
    _dir: TempDir,
}

/// A fresh key pair of `kind`.
pub fn generate_key(kind: KeyKind) -> CosignKey {
    let dir = TempDir::new("key");
    let prefix = dir.path().join(kind.name());
    let out = run_script(&[
        "keygen".as_ref(),
        "--type".as_ref(),
        kind.name().as_ref(),
        "--out".as_ref(),
        prefix.as_os_str(),
    ])
    .unwrap_or_else(|e| panic!("keygen {}: {e}", kind.name()));
    assert!(out.is_empty(), "keygen printed {out:?}");
    let private_key = prefix.with_extension("key");
    let public_key = prefix.with_extension("pub");
    let public_pem =
        fs::read_to_string(&public_key).unwrap_or_else(|e| panic!("{}: {e}", public_key.display()));
    CosignKey {
        kind,
        private_key,
        public_key,
        public_pem,
        _dir: dir,
    }
}

/// How a layer is broken after it is signed (the layout stays consistent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The last byte of the payload's docker reference is changed: still JSON, same digest.
    Payload,
    /// The low bit of the signature's last byte is flipped.
    Signature,
}

/// One signature layer to make.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// The private key file it is signed with (its type picks the algorithm).
    pub key: PathBuf,
    /// The payload's `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// The digest it signs (`critical.image.docker-manifest-digest`); `None`: the image's.
    pub digest: Option<String>,
    /// The payload's `optional` (`None`: null).
    pub annotations: Option<Value>,
    /// Broken after signing.
    pub tamper: Option<Tamper>,
}

impl SignatureLayer {
    /// A layer signing the image with `key` for `docker_reference`, without annotations.
    pub fn new(key: &CosignKey, docker_reference: &str) -> SignatureLayer {
        SignatureLayer {
            key: key.private_key.clone(),
            docker_reference: docker_reference.to_owned(),
            digest: None,
            annotations: None,
            tamper: None,
        }
    }

    /// Signs `digest` instead of the image's.
    pub fn digest(mut self, digest: &str) -> SignatureLayer {
        self.digest = Some(digest.to_owned());
        self
    }

    /// With the payload's `optional` set to `annotations`.
    pub fn annotations(mut self, annotations: Value) -> SignatureLayer {
        self.annotations = Some(annotations);
        self
    }

    /// Broken after signing.
    pub fn tamper(mut self, tamper: Tamper) -> SignatureLayer {
        self.tamper = Some(tamper);
        self
    }

    fn spec(&self) -> Value {
        let mut spec = json!({
            "key": self.key,
            "docker_reference": self.docker_reference,
            "annotations": self.annotations,
        });
        if let Some(digest) = &self.digest {
            spec["digest"] = json!(digest);
        }
        if let Some(tamper) = self.tamper {
            spec["tamper"] = json!(match tamper {
                Tamper::Payload => "payload",
                Tamper::Signature => "signature",
            });
        }
        spec
    }
}

/// Writes the signature manifest of `image_digest` holding `layers` (in order) as an OCI image
/// layout at `out` (which must not exist, or be empty); returns the manifest's digest, or the
/// script's error (its stderr).
pub fn try_sign_layout(
    image_digest: &str,
    layers: &[SignatureLayer],
    out: &Path,
) -> Result<String, String> {
    let spec = json!({
        "image_digest": image_digest,
        "layers": layers.iter().map(SignatureLayer::spec).collect::<Vec<_>>(),
    });
    let dir = TempDir::new("spec");
    let spec_path = dir.path().join("spec.json");
    fs::write(&spec_path, spec.to_string()).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let printed = run_script(&[
        "sign".as_ref(),
        "--spec".as_ref(),
        spec_path.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])?;
    let digest = printed.trim();
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "the script printed {printed:?}, not a manifest digest"
        ));
    }
    Ok(digest.to_owned())
}

/// [`try_sign_layout`]; panics with the script's error.
pub fn sign_layout(image_digest: &str, layers: &[SignatureLayer], out: &Path) -> String {
    try_sign_layout(image_digest, layers, out)
        .unwrap_or_else(|e| panic!("signing {image_digest}: {e}"))
}

/// Signs `image_digest` with `layers` (in order) and pushes the signature manifest into `repo`
/// of `registry` at [`signature_tag`], replacing any there; returns the manifest's digest. The
/// image itself need not be in the registry.
pub fn sign_and_push(
    registry: &Registry,
    repo: &str,
    image_digest: &str,
    layers: &[SignatureLayer],
) -> String {
    let dir = TempDir::new("layout");
    let layout = dir.path().join("layout");
    let digest = sign_layout(image_digest, layers, &layout);
    // The layout's one manifest is pushed and tagged as given.
    let tag = signature_tag(image_digest);
    let pushed = registry.push_oci_layout(&layout, repo, &tag);
    assert_eq!(pushed.image_digest, digest, "the pushed signature manifest");
    assert_eq!(pushed.tags, [tag], "the signature manifest's tags");
    digest
}

/// A signature manifest as read back from a registry.
#[derive(Debug, Clone)]
pub struct FetchedSignatures {
    /// Its digest (of the bytes served).
    pub digest: String,
    /// The Content-Type it was served with.
    pub content_type: String,
    /// The manifest.
    pub manifest: Value,
    /// Its config blob, parsed.
    pub config: Value,
    /// Its layers, in order.
    pub layers: Vec<FetchedLayer>,
}

/// One layer of a signature manifest.
#[derive(Debug, Clone)]
pub struct FetchedLayer {
    /// Its descriptor in the manifest.
    pub descriptor: Value,
    /// The blob: the simple-signing payload.
    pub payload: Vec<u8>,
}

impl FetchedLayer {
    /// The signature: the base64 [`SIGNATURE_ANNOTATION`], decoded. Panics if there is none.
    pub fn signature(&self) -> Vec<u8> {
        let text = self.descriptor["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("layer without a signature: {}", self.descriptor));
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|e| panic!("signature annotation {text:?}: {e}"))
    }

    /// The payload, parsed.
    pub fn payload_json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("payload {}: {e}", String::from_utf8_lossy(&self.payload)))
    }
}

/// The signature manifest of `image_digest` in `repo` (at [`signature_tag`]) with its config and
/// layer blobs (each checked against its digest), or `None` if there is none.
pub fn fetch_signatures(
    registry: &Registry,
    repo: &str,
    image_digest: &str,
) -> Option<FetchedSignatures> {
    let (content_type, bytes) = registry.manifest(repo, &signature_tag(image_digest))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("signature manifest of {image_digest}: {e}"));
    let config = serde_json::from_slice(&blob(registry, repo, &manifest["config"]))
        .unwrap_or_else(|e| panic!("signature manifest config: {e}"));
    let layers = manifest["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("signature manifest without layers: {manifest}"))
        .iter()
        .map(|descriptor| FetchedLayer {
            descriptor: descriptor.clone(),
            payload: blob(registry, repo, descriptor),
        })
        .collect();
    Some(FetchedSignatures {
        digest: crate::registry::sha256_digest(&bytes),
        content_type,
        manifest,
        config,
        layers,
    })
}

/// The blob `descriptor` names, checked against its digest and size.
fn blob(registry: &Registry, repo: &str, descriptor: &Value) -> Vec<u8> {
    let digest = descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor without digest: {descriptor}"));
    let response = registry.get(&format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(
        response.status,
        200,
        "GET blob {digest}: {}",
        response.text()
    );
    assert_eq!(
        crate::registry::sha256_digest(&response.body),
        digest,
        "blob digest"
    );
    assert_eq!(
        Some(response.body.len() as u64),
        descriptor["size"].as_u64(),
        "blob {digest}: size"
    );
    response.body
}

/// Runs the reference signer with `args`: [`run_python`].
fn run_script(args: &[&std::ffi::OsStr]) -> Result<String, String> {
    run_python(&script_path(), args)
}

/// The reference verifier, `test-support/tools/cosign_verify.py`: verifies the key-based cosign
/// signatures of `repository@digest` in the loopback registry `registry` (`host:port`) with the
/// public key `public_key` (PEM file), with Python's `cryptography`. `Ok` with its report
/// (`verified N of M`) when at least one signature verifies; `Err` with its report otherwise.
pub fn reference_verify(
    registry: &str,
    repository: &str,
    digest: &str,
    public_key: &Path,
) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/cosign_verify.py");
    run_python(
        &script,
        &[
            "--registry".as_ref(),
            registry.as_ref(),
            "--repository".as_ref(),
            repository.as_ref(),
            "--digest".as_ref(),
            digest.as_ref(),
            "--key".as_ref(),
            public_key.as_os_str(),
        ],
    )
}

/// Runs the Python `script` with `args` under [`SCRIPT_TIMEOUT`]; its stdout, or an error with
/// its stdout and stderr.
fn run_python(script: &Path, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let dir = TempDir::new("run");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let create =
        |path: &Path| fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut child = Command::new(PYTHON)
        .arg("-I")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?)
        .spawn()
        .map_err(|e| {
            format!("{PYTHON}: {e} (Debian's python3 and python3-cryptography: `make test-setup`)")
        })?;
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} timed out after {SCRIPT_TIMEOUT:?}",
                    script.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{}: {e}", script.display())),
        }
    };
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{} {args:?}: {status}: {}{}",
            script.display(),
            stdout,
            stderr.trim_end()
        ))
    }
}

/// A temporary directory, deleted on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "custody-cosign-{what}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if path.exists() {
            let _ = fs::remove_dir_all(&path);
        }
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
