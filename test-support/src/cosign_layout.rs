//! Reading cosign's attestations from an OCI image layout saved by `cosign save` (as in
//! `shared/testdata/slsa-github-generator/<version>/container_workflow_dispatch/`): `index.json`
//! lists the image (annotation `kind: dev.cosignproject.cosign/image` or `.../imageIndex`) and the
//! attestation manifest (`kind: dev.cosignproject.cosign/atts`), whose layers are DSSE envelopes
//! with their cosign annotations. Included by path by the SDK's tests and usable by the host tests
//! and the policy tests, which read the same layouts.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The slsa-github-generator container workflow layouts in `shared/testdata`, by version.
pub const SLSA_GITHUB_GENERATOR_VERSIONS: [&str; 3] = ["v1.10.0", "v2.1.0", "v1.9.0"];

/// The layout directory of one slsa-github-generator version
/// (`shared/testdata/slsa-github-generator/<version>/container_workflow_dispatch`). Both crates
/// that include this file (`sdk/`, `host-tests/`) are one level below the repository root, which
/// is next to `shared/`.
pub fn slsa_github_generator_layout(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/slsa-github-generator")
        .join(version)
        .join("container_workflow_dispatch")
}

/// One attestation layer: the DSSE envelope (the layer blob) and the layer's annotations.
#[derive(Debug, Clone)]
pub struct AttestationLayer {
    /// The layer's media type (`application/vnd.dsse.envelope.v1+json`).
    pub media_type: String,
    /// The blob: a DSSE envelope, JSON.
    pub envelope: Vec<u8>,
    /// The layer's annotations (`dev.sigstore.cosign/certificate`, `.../chain`, `.../bundle`,
    /// `predicateType`...).
    pub annotations: BTreeMap<String, String>,
}

/// A cosign-saved layout: the image digest and its attestation layers.
#[derive(Debug, Clone)]
pub struct CosignLayout {
    /// `sha256:<hex>` of the image (manifest or index) the attestations are about.
    pub image_digest: String,
    /// The layers of the `atts` manifest, in order.
    pub attestations: Vec<AttestationLayer>,
}

impl CosignLayout {
    /// The image digest's 32 bytes.
    pub fn image_sha256(&self) -> [u8; 32] {
        sha256_bytes(&self.image_digest)
    }
}

/// The 32 bytes of a `sha256:<64 hex>` digest. Panics on anything else.
pub fn sha256_bytes(digest: &str) -> [u8; 32] {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    assert_eq!(hex.len(), 64, "not a sha256 digest: {digest}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .unwrap_or_else(|e| panic!("not a sha256 digest: {digest}: {e}"));
    }
    out
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("blob digest {digest} is not sha256"));
    let path = dir.join("blobs/sha256").join(hex);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Reads a layout saved by `cosign save`: the image from `index.json` (the manifest whose `kind`
/// annotation is `dev.cosignproject.cosign/image` or `.../imageIndex`) and every layer of the
/// `dev.cosignproject.cosign/atts` manifest. Panics if the layout is missing or malformed: the
/// test data is broken.
pub fn read_cosign_layout(dir: &Path) -> CosignLayout {
    let index = json(
        &std::fs::read(dir.join("index.json"))
            .unwrap_or_else(|e| panic!("{}/index.json: {e}", dir.display())),
        "index.json",
    );
    let manifests = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: index.json has no manifests", dir.display()));
    let kind = |m: &Value| m["annotations"]["kind"].as_str().unwrap_or("").to_string();
    let digest = |m: &Value| m["digest"].as_str().unwrap_or("").to_string();
    let image_digest = manifests
        .iter()
        .find(|m| {
            matches!(
                kind(m).as_str(),
                "dev.cosignproject.cosign/image" | "dev.cosignproject.cosign/imageIndex"
            )
        })
        .map(digest)
        .unwrap_or_else(|| panic!("{}: no image in index.json", dir.display()));
    let mut attestations = Vec::new();
    for atts in manifests
        .iter()
        .filter(|m| kind(m) == "dev.cosignproject.cosign/atts")
    {
        let manifest = json(&blob(dir, &digest(atts)), "atts manifest");
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            let annotations = layer["annotations"]
                .as_object()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            attestations.push(AttestationLayer {
                media_type: layer["mediaType"].as_str().unwrap_or("").to_string(),
                envelope: blob(dir, layer["digest"].as_str().unwrap_or("")),
                annotations,
            });
        }
    }
    CosignLayout {
        image_digest,
        attestations,
    }
}

/// The image digest written beside a layout (`<layout>.digest`), trimmed.
pub fn digest_beside(dir: &Path) -> String {
    let mut path = dir.as_os_str().to_owned();
    path.push(".digest");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()))
        .trim()
        .to_string()
}
