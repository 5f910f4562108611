//! Publishing: OCI artifacts pushed (a policy module, a cosign signature manifest, an SBOM) and
//! policy modules pulled back, checked to be what Kubewarden's tooling writes.
//!
//! A policy module is an OCI image manifest whose config has media type
//! [`WASM_CONFIG_MEDIA_TYPE`] and whose one layer, [`WASM_LAYER_MEDIA_TYPE`], is the module.
//! Manifests are pushed as the exact bytes built here, so the digest printed is the digest of
//! what was sent (and the registry's answer is checked against it).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use oci_client::manifest::{OciDescriptor, OCI_IMAGE_MEDIA_TYPE};
use oci_client::Reference;
use serde_json::{json, Map, Value};
use sha2::Digest as _;

use crate::oci::{hex, parse_reference, Client, Inner};

/// The config media type of a Wasm OCI artifact (its body is `{}`).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
/// The media type of the one layer of a Wasm OCI artifact: the module.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The config media type of cosign's signature and SBOM manifests.
pub const OCI_IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The layer media type of a CycloneDX SBOM in JSON, as `cosign attach sbom` writes it.
pub const CYCLONEDX_JSON_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
/// The largest policy module pulled.
pub const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// A blob of an artifact: its media type, bytes and annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its descriptor's annotations (none: no `annotations` field).
    pub annotations: BTreeMap<String, String>,
}

impl Blob {
    /// A blob without annotations.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.to_owned(),
            data,
            annotations: BTreeMap::new(),
        }
    }

    /// `sha256:<hex>` of its bytes.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex(&sha2::Sha256::digest(&self.data)))
    }

    fn descriptor(&self) -> Value {
        let mut descriptor = json!({
            "mediaType": self.media_type,
            "digest": self.digest(),
            "size": self.data.len(),
        });
        if !self.annotations.is_empty() {
            descriptor["annotations"] = json!(self.annotations);
        }
        descriptor
    }
}

/// An OCI image manifest to push: config, layers and the manifest's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The config blob.
    pub config: Blob,
    /// The layers, in order.
    pub layers: Vec<Blob>,
    /// The manifest's annotations (none: no `annotations` field).
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// A policy module as Kubewarden's tooling pushes it: config `{}` of
    /// [`WASM_CONFIG_MEDIA_TYPE`], the module as the one [`WASM_LAYER_MEDIA_TYPE`] layer, and
    /// `annotations` on the manifest.
    pub fn policy_module(module: Vec<u8>, annotations: BTreeMap<String, String>) -> Self {
        Artifact {
            config: Blob::new(WASM_CONFIG_MEDIA_TYPE, b"{}".to_vec()),
            layers: vec![Blob::new(WASM_LAYER_MEDIA_TYPE, module)],
            annotations,
        }
    }

    /// A manifest as cosign pushes at an image's `sha256-<hex>.sig` and `.sbom` tags: `layers`
    /// on go-containerregistry's config of an empty image (one `diff_ids` entry and one empty
    /// history entry per layer, media type `application/vnd.oci.image.config.v1+json`).
    pub fn cosign(layers: Vec<Blob>) -> Self {
        const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
        let diff_ids: Vec<String> = layers.iter().map(Blob::digest).collect();
        let history: Vec<Value> = layers
            .iter()
            .map(|_| json!({"created": ZERO_TIME}))
            .collect();
        // go-containerregistry's field order (empty fields omitted), as cosign writes it.
        let config = format!(
            r#"{{"architecture":"","created":"{ZERO_TIME}","history":{},"os":"","rootfs":{{"type":"layers","diff_ids":{}}},"config":{{}}}}"#,
            Value::from(history),
            json!(diff_ids),
        );
        Artifact {
            config: Blob::new(OCI_IMAGE_CONFIG_MEDIA_TYPE, config.into_bytes()),
            layers,
            annotations: BTreeMap::new(),
        }
    }

    /// The manifest's bytes (OCI image manifest, schemaVersion 2): what is pushed and hashed.
    pub fn manifest(&self) -> Vec<u8> {
        let mut manifest = Map::new();
        manifest.insert("schemaVersion".into(), json!(2));
        manifest.insert("mediaType".into(), json!(OCI_IMAGE_MEDIA_TYPE));
        manifest.insert("config".into(), self.config.descriptor());
        manifest.insert(
            "layers".into(),
            Value::Array(self.layers.iter().map(Blob::descriptor).collect()),
        );
        if !self.annotations.is_empty() {
            manifest.insert("annotations".into(), json!(self.annotations));
        }
        // A `Map` of serde_json keeps its keys sorted: the bytes are the same on every run.
        serde_json::to_vec(&Value::Object(manifest)).unwrap_or_default()
    }
}

/// A policy module pulled from a registry.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledModule {
    /// The manifest's digest (`sha256:...`).
    pub digest: String,
    /// The manifest.
    pub manifest: Value,
    /// The module's bytes (checked against the layer's digest).
    pub module: Vec<u8>,
}

impl Client {
    /// Pushes `artifact` to `reference` (a tag, or a digest, which must then be the manifest's):
    /// the blobs the repository does not have, then the manifest. Returns the manifest's digest.
    pub fn push(&mut self, reference: &str, artifact: &Artifact) -> Result<String> {
        let reference = parse_reference(reference)?;
        self.runtime.block_on(self.inner.push(&reference, artifact))
    }

    /// The image manifest at `reference` as pushed by [`Client::push`] (`None` when there is
    /// none): its config and layers read back, each checked against its digest. For appending to
    /// cosign's `.sig` manifests.
    pub fn pull_artifact(&mut self, reference: &str) -> Result<Option<(String, Artifact)>> {
        let reference = parse_reference(reference)?;
        self.runtime.block_on(self.inner.pull_artifact(&reference))
    }

    /// The policy module at `reference`: refused unless the manifest is an OCI image manifest
    /// with a [`WASM_CONFIG_MEDIA_TYPE`] config and exactly one [`WASM_LAYER_MEDIA_TYPE`] layer
    /// holding a WebAssembly module of at most [`MAX_MODULE_BYTES`]; every byte is checked against
    /// its digest, and a digest in `reference` against the manifest's.
    pub fn pull_module(&mut self, reference: &str) -> Result<PulledModule> {
        let reference = parse_reference(reference)?;
        self.runtime.block_on(self.inner.pull_module(&reference))
    }
}

impl Inner {
    async fn push(&mut self, reference: &Reference, artifact: &Artifact) -> Result<String> {
        let session = self.session(reference).await?;
        let whole = reference.whole();
        for blob in std::iter::once(&artifact.config).chain(&artifact.layers) {
            let digest = blob.digest();
            let exists = self
                .call(
                    format!("looking up the blob {digest} in {whole}"),
                    session.client.blob_exists(reference, &digest),
                )
                .await
                .map_err(|e| session.explain(e, reference, String::new))?;
            if !exists {
                self.call(
                    format!("pushing the blob {digest} to {whole}"),
                    session
                        .client
                        .push_blob(reference, blob.data.clone(), &digest),
                )
                .await
                .map_err(|e| session.explain(e, reference, String::new))?;
            }
        }
        let manifest = artifact.manifest();
        let digest = format!("sha256:{}", hex(&sha2::Sha256::digest(&manifest)));
        if let Some(given) = reference.digest() {
            if given != digest {
                bail!("{whole}: the manifest to push is {digest}, not {given}");
            }
        }
        let content_type = OCI_IMAGE_MEDIA_TYPE
            .parse()
            .map_err(|_| anyhow!("the manifest media type is not a header value"))?;
        self.call(
            format!("pushing the manifest of {whole}"),
            session
                .client
                .push_manifest_raw(reference, manifest, content_type),
        )
        .await
        .map_err(|e| session.explain(e, reference, String::new))?;
        // The registry must now serve that manifest under that name.
        let served = self.resolve(reference).await?;
        if served != digest {
            bail!("{whole}: pushed the manifest {digest}, but the registry serves {served}");
        }
        Ok(digest)
    }

    async fn pull_artifact(&mut self, reference: &Reference) -> Result<Option<(String, Artifact)>> {
        let Some((manifest, digest)) = self.image_manifest(reference).await? else {
            return Ok(None);
        };
        let image = reference.clone_with_digest(digest.clone());
        let read = |descriptor: &OciDescriptor, data: Vec<u8>| Blob {
            media_type: descriptor.media_type.clone(),
            data,
            annotations: descriptor.annotations.clone().unwrap_or_default(),
        };
        let config = self.blob(&image, &manifest.config).await?;
        let config = read(&manifest.config, config);
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            let data = self.blob(&image, layer).await?;
            layers.push(read(layer, data));
        }
        let artifact = Artifact {
            config,
            layers,
            annotations: manifest.annotations.unwrap_or_default(),
        };
        Ok(Some((digest, artifact)))
    }

    async fn pull_module(&mut self, reference: &Reference) -> Result<PulledModule> {
        let whole = reference.whole();
        let manifest = self
            .manifest(reference, &[OCI_IMAGE_MEDIA_TYPE])
            .await?
            .ok_or_else(|| anyhow!("{whole} not found"))?;
        let layer = policy_layer(&manifest.json)
            .with_context(|| format!("{whole} ({}) is not a policy module", manifest.digest))?;
        let image = reference.clone_with_digest(manifest.digest.clone());
        let module = self
            .blob_at_most(&image, &layer, MAX_MODULE_BYTES)
            .await
            .with_context(|| format!("{whole}: its module layer"))?;
        if !module.starts_with(b"\0asm") {
            bail!("{whole}: its module layer is not a WebAssembly module");
        }
        Ok(PulledModule {
            digest: manifest.digest,
            manifest: manifest.json,
            module,
        })
    }
}

/// The module layer of a policy module's manifest; an error naming what is wrong otherwise.
fn policy_layer(manifest: &Value) -> Result<OciDescriptor> {
    let media_type = manifest.get("mediaType").and_then(Value::as_str);
    if media_type != Some(OCI_IMAGE_MEDIA_TYPE) {
        bail!("its manifest's media type is {media_type:?}, not {OCI_IMAGE_MEDIA_TYPE}");
    }
    let config = manifest.get("config").and_then(|c| c.get("mediaType"));
    if config.and_then(Value::as_str) != Some(WASM_CONFIG_MEDIA_TYPE) {
        bail!(
            "its config's media type is {}, not {WASM_CONFIG_MEDIA_TYPE}",
            config.map_or("missing".into(), Value::to_string)
        );
    }
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("it has no layers"))?;
    let [layer] = layers.as_slice() else {
        bail!(
            "it has {} layers; a policy module has exactly one",
            layers.len()
        );
    };
    let layer: OciDescriptor =
        serde_json::from_value(layer.clone()).context("its layer is not a descriptor")?;
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        bail!(
            "its layer's media type is {:?}, not {WASM_LAYER_MEDIA_TYPE}",
            layer.media_type
        );
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_module_manifests_have_the_shape_kubewarden_writes() {
        let annotations =
            BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".into(), "1".into())]);
        let artifact = Artifact::policy_module(b"\0asm\x01\0\0\0".to_vec(), annotations);
        let manifest: Value = serde_json::from_slice(&artifact.manifest()).expect("json");
        assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["config"]["size"], 2);
        assert_eq!(manifest["layers"][0]["mediaType"], WASM_LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["size"], 8);
        assert_eq!(manifest["annotations"]["a"], "1");
        assert!(manifest["layers"][0].get("annotations").is_none());
        assert_eq!(artifact.manifest(), artifact.clone().manifest());
        assert!(policy_layer(&manifest).is_ok());
    }

    #[test]
    fn cosign_manifests_list_each_layer_in_their_config() {
        let layers = vec![
            Blob::new("text/plain", b"one".to_vec()),
            Blob::new("text/plain", b"two".to_vec()),
        ];
        let digests: Vec<String> = layers.iter().map(Blob::digest).collect();
        let artifact = Artifact::cosign(layers);
        let config: Value = serde_json::from_slice(&artifact.config.data).expect("config json");
        assert_eq!(config["rootfs"]["diff_ids"], json!(digests));
        assert_eq!(config["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(artifact.config.media_type, OCI_IMAGE_CONFIG_MEDIA_TYPE);
        let manifest: Value = serde_json::from_slice(&artifact.manifest()).expect("json");
        assert!(policy_layer(&manifest).is_err());
    }

    #[test]
    fn what_is_not_a_policy_module_is_named() {
        let good: Value = serde_json::from_slice(
            &Artifact::policy_module(b"\0asm".to_vec(), BTreeMap::new()).manifest(),
        )
        .expect("json");
        let mut cases = Vec::new();
        let mut docker = good.clone();
        docker["mediaType"] = json!("application/vnd.docker.distribution.manifest.v2+json");
        cases.push((docker, "manifest's media type"));
        let mut image = good.clone();
        image["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        cases.push((image, "config's media type"));
        let mut two = good.clone();
        two["layers"] = json!([good["layers"][0], good["layers"][0]]);
        cases.push((two, "2 layers"));
        let mut none = good.clone();
        none["layers"] = json!([]);
        cases.push((none, "0 layers"));
        let mut tar = good.clone();
        tar["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
        cases.push((tar, "layer's media type"));
        let mut missing = good;
        missing.as_object_mut().map(|m| m.remove("layers"));
        cases.push((missing, "no layers"));
        for (manifest, expected) in cases {
            let error = policy_layer(&manifest).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error} (wanted {expected})");
        }
    }
}
