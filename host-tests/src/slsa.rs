//! The real slsa-github-generator images in `../shared/testdata` (OCI image layouts saved by
//! cosign: the image index and its attestation manifest) and what the verify-slsa tests build
//! from them.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use custody_sdk::attestors::config_map;
use custody_sdk::sigstore::cosign::attestation_bundle;
use custody_sdk::Digest;
use serde_json::{json, Value};

use crate::repo_root;

/// The image the provenance names (the subject's `name`).
pub const IMAGE_NAME: &str =
    "ghcr.io/slsa-framework/example-package.verifier-e2e.all.tag.main.default.slsa3";
/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The certificate subject of slsa-github-generator's container workflow, up to the version tag.
pub const GENERATOR_SUBJECT_PREFIX: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/";
/// The builder id prefix (the same workflow).
pub const BUILDER_PREFIX: &str = GENERATOR_SUBJECT_PREFIX;
/// The container build type.
pub const BUILD_TYPE: &str = "https://github.com/slsa-framework/slsa-github-generator/container@v1";
/// The source repository of both images.
pub const SOURCE_REPOSITORY: &str = "https://github.com/slsa-framework/example-package";

/// One saved image.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The generator version that made it: `v1.10.0`, `v2.1.0`.
    pub version: &'static str,
    /// The OCI layout directory.
    pub dir: PathBuf,
    /// The image's manifest (index) digest.
    pub digest: Digest,
    /// The ref the build ran on.
    pub source_ref: &'static str,
}

impl Layout {
    /// The image pinned to its digest.
    pub fn image(&self) -> String {
        format!("{IMAGE_NAME}@{}", self.digest)
    }

    /// The Sigstore bundles of its attestation layers, as `att-<n>.sigstore.json` keys.
    pub fn bundles(&self) -> Vec<(String, Value)> {
        let index: Value = read_json(&self.dir.join("index.json"));
        let atts = index["manifests"]
            .as_array()
            .expect("index.json manifests")
            .iter()
            .find(|m| m["annotations"]["kind"] == "dev.cosignproject.cosign/atts")
            .expect("an attestation manifest");
        let manifest = read_json(&self.blob(atts["digest"].as_str().expect("digest")));
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .enumerate()
            .map(|(n, layer)| {
                let envelope =
                    fs::read(self.blob(layer["digest"].as_str().expect("digest"))).expect("blob");
                let annotations: BTreeMap<String, String> =
                    serde_json::from_value(layer["annotations"].clone()).expect("annotations");
                let bundle = attestation_bundle(&envelope, &annotations)
                    .unwrap_or_else(|e| panic!("{}: layer {n}: {e}", self.version));
                (format!("att-{n}.sigstore.json"), bundle)
            })
            .collect()
    }

    /// The ConfigMap `custody attestations export` makes for it, in `namespace`.
    pub fn config_map(&self, namespace: &str) -> Value {
        config_map(namespace, &self.digest, &self.image(), &self.bundles())
    }

    fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir.join("blobs/sha256").join(hex)
    }
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Both saved images.
pub fn layouts() -> Vec<Layout> {
    [
        ("v1.10.0", "refs/tags/v13.0.30"),
        ("v2.1.0", "refs/heads/main"),
    ]
    .into_iter()
    .map(|(version, source_ref)| {
        let base = repo_root()
            .join("../shared/testdata/slsa-github-generator")
            .join(version);
        let digest = fs::read_to_string(base.join("container_workflow_dispatch.digest"))
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        Layout {
            version,
            dir: base.join("container_workflow_dispatch"),
            digest: Digest::parse(digest.trim()).expect("a digest"),
            source_ref,
        }
    })
    .collect()
}

/// Settings that the real images meet: keyless slsa-github-generator signer, its builder, the
/// container build type, the example-package repository.
pub fn settings() -> Value {
    json!({
        "images": [{
            "patterns": [format!("{IMAGE_NAME}*")],
            "attestors": {"entries": [{"keyless": {
                "issuer": GITHUB_ISSUER,
                "subjectPrefix": GENERATOR_SUBJECT_PREFIX,
            }}]},
            "conditions": {
                "builderIdPrefix": BUILDER_PREFIX,
                "buildType": BUILD_TYPE,
                "sourceRepository": SOURCE_REPOSITORY,
                "sourceRefs": ["refs/tags/v*", "refs/heads/main"],
            },
        }],
    })
}

/// A Pod CREATE request with one container per image.
pub fn pod_request(images: &[&str], annotations: Value) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({
        "uid": "verify-slsa-test",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "default",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default", "annotations": annotations},
            "spec": {"containers": containers},
        },
    })
}
