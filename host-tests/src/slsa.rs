//! The real slsa-github-generator images in `../shared/testdata` (OCI image layouts saved by
//! cosign: the image index and its attestation manifest) and what the verify-slsa tests build
//! from them; and [`run`], which evaluates verify-slsa in either build and checks the answer
//! against the rule evaluated natively.

use std::path::PathBuf;

use custody_attestors::AttestationsConfigMap;
use custody_host::{Capabilities, Cluster, NoCapabilities, ScriptedCall, ScriptedCapabilities};
use custody_sdk::settings::NamespaceName;
use custody_sdk::Digest;
use custody_sigstore::cosign::attestation_bundle;
use serde_json::{json, Value};

use crate::cosign_layout::{
    digest_beside, read_cosign_layout, slsa_github_generator_layout, SLSA_GITHUB_GENERATOR_VERSIONS,
};
use crate::{gatekeeper, Loaded, NativeHost};

/// The policy these tests run.
pub const POLICY: &str = "verify-slsa";

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
    /// The generator version that made it: `v1.10.0`, `v2.1.0`, `v1.9.0`.
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
        read_cosign_layout(&self.dir)
            .attestations
            .iter()
            .enumerate()
            .map(|(n, layer)| {
                let bundle = attestation_bundle(&layer.envelope, &layer.annotations)
                    .unwrap_or_else(|e| panic!("{}: layer {n}: {e}", self.version));
                (format!("att-{n}.sigstore.json"), bundle)
            })
            .collect()
    }

    /// The ConfigMap `custody attestations export` makes for it, in `namespace`.
    pub fn config_map(&self, namespace: &str) -> Value {
        self.config_map_with(namespace, self.bundles())
    }

    /// Its first attestation's bundle.
    pub fn bundle(&self) -> Value {
        self.bundles().remove(0).1
    }

    /// A ConfigMap named as `custody attestations export` names it, holding other `bundles`
    /// (keys `att-<n>.sigstore.json`).
    pub fn config_map_of(&self, namespace: &str, bundles: &[Value]) -> Value {
        let keyed = bundles
            .iter()
            .enumerate()
            .map(|(n, b)| (format!("att-{n}.sigstore.json"), b.clone()))
            .collect();
        self.config_map_with(namespace, keyed)
    }

    fn config_map_with(&self, namespace: &str, bundles: Vec<(String, Value)>) -> Value {
        let data = bundles
            .into_iter()
            .map(|(key, bundle)| (key, bundle.to_string()))
            .collect();
        let namespace = NamespaceName::new(namespace).expect("a namespace");
        let config_map = AttestationsConfigMap::new(&self.digest, &namespace, &self.image(), data)
            .expect("a ConfigMap");
        serde_json::to_value(config_map).expect("JSON")
    }
}

/// `n` distinct copies of a bundle: the same attestation, each with an extra member (which the
/// reader ignores), so that no two are byte-identical and each is verified on its own.
pub fn variants(bundle: &Value, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut b = bundle.clone();
            b["x-variant"] = json!(i);
            b
        })
        .collect()
}

/// `bundle` with its (first) transparency log entry repeated `n` times.
pub fn with_repeated_log_entry(bundle: &Value, n: usize) -> Value {
    let mut b = bundle.clone();
    let entry = b["verificationMaterial"]["tlogEntries"][0].clone();
    b["verificationMaterial"]["tlogEntries"] = Value::from(vec![entry; n]);
    b
}

/// Pod annotations carrying `bundles` in `custody.dev/attestations`.
pub fn annotation(bundles: &[Value]) -> Value {
    json!({ custody_attestors::ATTESTATIONS_ANNOTATION: Value::from(bundles.to_vec()).to_string() })
}

/// Every saved image: v1.10.0, v2.1.0 and v1.9.0 (an `intoto` 0.0.1 log entry).
pub fn layouts() -> Vec<Layout> {
    SLSA_GITHUB_GENERATOR_VERSIONS
        .into_iter()
        .zip([
            "refs/tags/v13.0.30",
            "refs/heads/main",
            "refs/tags/v13.0.30",
        ])
        .map(|(version, source_ref)| {
            let dir = slsa_github_generator_layout(version);
            Layout {
                version,
                digest: Digest::parse(&digest_beside(&dir)).expect("a digest"),
                dir,
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

pub use custody_test_support::requests::pod_request;

/// What a build answered: allowed or not, the message lines, the mutated object.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Allowed (waPC) or no violation (Gatekeeper).
    pub accepted: bool,
    /// The message lines (waPC) or the violations' messages (Gatekeeper).
    pub lines: Vec<String>,
    /// The mutated object (waPC only).
    pub mutated: Option<Value>,
}

/// A build of the policy module.
#[derive(Debug, Clone, Copy)]
pub enum Build {
    /// Kubewarden's waPC ABI (`dist/verify-slsa.wasm`): the cluster through the host's
    /// `kubernetes` capability.
    Wapc,
    /// The OPA ABI (`dist/verify-slsa.gatekeeper.wasm`): the cluster in `data.inventory`.
    Gatekeeper,
}

/// Both builds.
pub const BUILDS: [Build; 2] = [Build::Wapc, Build::Gatekeeper];

/// Evaluates `request` with `settings` in `build`, the cluster holding `objects`; the waPC build
/// also gets `script` (e.g. a tag's digest). Checks the wasm answer against the native rule.
pub fn run(
    build: Build,
    settings: &Value,
    request: &Value,
    objects: &[Value],
    script: &[ScriptedCall],
) -> Outcome {
    run_policy(POLICY, build, settings, request, objects, &|| {
        Box::new(ScriptedCapabilities::new(script.to_vec()).expect("script"))
    })
}

/// Evaluates `request` with `settings` in `build` of `policy`, the cluster holding `objects`; the
/// waPC build's other host calls go to what `capabilities` makes (one for the module, one for the
/// native rule: a scripted host, or a real registry). Checks the wasm answer against the native
/// rule.
pub fn run_policy(
    policy: &str,
    build: Build,
    settings: &Value,
    request: &Value,
    objects: &[Value],
    capabilities: &dyn Fn() -> Box<dyn Capabilities>,
) -> Outcome {
    let cluster = Cluster::new(objects.iter().cloned()).expect("cluster");
    match build {
        Build::Wapc => {
            let caps = || Clustered(capabilities(), cluster.clone());
            let answer = Loaded::policy(policy)
                .instance(Box::new(caps()))
                .validate(request, settings)
                .expect("validate");
            let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
                .expect("payload");
            let native = crate::validate_native(policy, &payload, &mut NativeHost(caps()));
            assert_eq!(answer.accepted, native.accepted, "wasm and native");
            assert_eq!(answer.message, native.message, "wasm and native");
            Outcome {
                accepted: answer.accepted,
                lines: lines(answer.message.as_deref().unwrap_or_default()),
                mutated: answer.mutated_object,
            }
        }
        Build::Gatekeeper => {
            let mut instance =
                Loaded::policy(&gatekeeper(policy)).instance(Box::new(NoCapabilities));
            let data = cluster.data();
            instance.set_data(&data).expect("set_data");
            let violations = instance.gatekeeper(request, settings).expect("gatekeeper");
            let input = serde_json::to_vec(&json!({"review": request, "parameters": settings}))
                .expect("input");
            let data_text = serde_json::to_vec(&data).expect("data");
            let native = crate::native_gatekeeper(policy).expect("a native rule")(
                &input,
                &mut custody_sdk::host::InventoryHost::new(&data_text),
            );
            assert_eq!(violations, native, "wasm and native");
            Outcome {
                accepted: violations.is_empty(),
                lines: violations.into_iter().map(|v| v.msg).collect(),
                mutated: None,
            }
        }
    }
}

/// Host calls answered by `.0`, except `kubernetes` ones, answered from the cluster `.1`.
struct Clustered(Box<dyn Capabilities>, Cluster);

impl Capabilities for Clustered {
    fn call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if namespace == "kubernetes" {
            self.1.answer(operation, payload)
        } else {
            self.0.call(binding, namespace, operation, payload)
        }
    }
}

fn lines(message: &str) -> Vec<String> {
    message.lines().map(str::to_owned).collect()
}

/// The namespace the attestation ConfigMaps are in (verify-slsa's default).
pub const ATTESTATIONS_NAMESPACE: &str = "custody-attestations";

/// A Pod with the first `n` real images (at most as many as [`layouts`] has), and the cluster
/// holding the attestation ConfigMap of every image, in [`ATTESTATIONS_NAMESPACE`].
pub fn attested_pod(n: usize) -> (Value, Cluster) {
    let layouts = layouts();
    let cluster = Cluster::new(layouts.iter().map(|l| l.config_map(ATTESTATIONS_NAMESPACE)))
        .unwrap_or_else(|e| panic!("cluster: {e}"));
    let images: Vec<String> = layouts.iter().take(n).map(Layout::image).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    (pod_request(&refs, json!({})), cluster)
}
