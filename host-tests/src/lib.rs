//! Shared by the host tests and the benchmarks: where the built modules and the fixtures are, and
//! how to run a policy both in wasm (through `custody-host`) and natively (the same rule, linked in).
//!
//! The modules under test are the release modules `make` builds into `dist/` (or `$CUSTODY_DIST`):
//! the very files that are published; and test probes, modules that are not policies, which
//! `make modules` builds into `<target dir>/probes/` ([`probe_path`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use custody_host::{
    Capabilities, Host, Limits, PolicyInstance, PolicyModule, ScriptedCapabilities,
};
use custody_sdk::policy::{GatekeeperViolation, ValidationResponse};
use serde::Deserialize;
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The built module `dist/<name>.wasm` (`name`: a policy, or [`gatekeeper`] of one). Panics, saying what to run, if it is missing:
/// a test that cannot find its module must fail, not skip.
pub fn module_path(policy: &str) -> PathBuf {
    let dist = std::env::var_os("CUSTODY_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("dist"));
    let path = dist.join(format!("{policy}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the modules first (`make modules`)",
        path.display()
    );
    path
}

/// The test probe `<target dir>/probes/<name>.wasm`, where the target directory is
/// `$CARGO_TARGET_DIR` (relative: to the repository root) or `target/`. Panics, saying what to
/// run, if it is missing.
pub fn probe_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| repo_root().join(dir))
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("probes").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the modules first (`make modules`)",
        path.display()
    );
    path
}

/// cosign-saved OCI layouts (the slsa-github-generator images), read as the SDK's tests read
/// them (the same file).
pub use custody_test_support::cosign_layout;
/// A real OCI registry for tests (Debian's docker-registry on loopback) and what to push into it.
pub mod registry;
/// The sigstore-conformance `bundle-verify` cases, read as the SDK's native conformance test reads
/// them (the same file).
pub use custody_test_support::sigstore_cases;
pub mod slsa;

/// The `verify` request of the Sigstore probe (`probes/sigstore-verify`) for a conformance case.
/// Panics if the case's bundle or trusted root is not UTF-8 text (the request carries them as
/// JSON strings).
pub fn sigstore_probe_request(case: &sigstore_cases::Case, now: i64) -> Vec<u8> {
    use base64::Engine as _;
    let text = |what: &str, bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .unwrap_or_else(|e| panic!("{}: {what} is not UTF-8: {e}", case.name))
    };
    let policy = match &case.policy {
        sigstore_cases::CasePolicy::Identity { issuer, subject } => {
            serde_json::json!({"issuer": issuer, "subject": subject})
        }
        sigstore_cases::CasePolicy::Key { pem } => serde_json::json!({"key_pem": pem}),
    };
    serde_json::to_vec(&serde_json::json!({
        "bundle": text("bundle", &case.bundle),
        "artifact": base64::engine::general_purpose::STANDARD.encode(&case.artifact),
        "policy": policy,
        "trusted_root": case.trusted_root.as_deref().map(|t| text("trusted root", t)),
        "now": now,
    }))
    .unwrap_or_default()
}

/// The policies custody ships.
pub const POLICIES: [&str; 2] = ["require-digest", "ban-latest"];

/// The module name of a policy's Gatekeeper-mode build (`dist/<policy>.gatekeeper.wasm`).
pub fn gatekeeper(policy: &str) -> String {
    format!("{policy}.gatekeeper")
}

/// What a fixture must get (from `policies/<policy>/fixtures/expected.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    /// Settings to evaluate with.
    pub settings: Value,
    /// The verdict.
    pub accepted: bool,
    /// The exact message, a line each (empty: no message).
    #[serde(default)]
    pub message_lines: Option<Vec<String>>,
    /// Each message line starts with these, in order.
    #[serde(default)]
    pub message_prefixes: Option<Vec<String>>,
    /// The RFC 6902 patch the mutation amounts to.
    #[serde(default)]
    pub patch: Option<Vec<Value>>,
    /// Scripted host capability answers.
    #[serde(default)]
    pub capabilities: Option<Value>,
}

/// One fixture: an admission request and what it must get.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File name.
    pub name: String,
    /// The AdmissionRequest.
    pub request: Value,
    /// Expectations.
    pub expected: Expected,
}

impl Fixture {
    /// The `validate` payload.
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "request": self.request,
            "settings": self.expected.settings,
        }))
        .unwrap_or_default()
    }

    /// The Gatekeeper-mode input: `{"review": <request>, "parameters": <settings>}`.
    pub fn gatekeeper_input(&self) -> Value {
        serde_json::json!({
            "review": self.request,
            "parameters": self.expected.settings,
        })
    }

    /// The scripted capabilities this fixture needs.
    pub fn capabilities(&self) -> ScriptedCapabilities {
        let script = self
            .expected
            .capabilities
            .clone()
            .unwrap_or(Value::Array(vec![]));
        serde_json::from_value(script)
            .map_err(|e| e.to_string())
            .and_then(ScriptedCapabilities::new)
            .unwrap_or_else(|e| panic!("{}: capabilities: {e}", self.name))
    }
}

/// Every fixture of `policy`. Panics if a fixture file has no expectation or the other way round.
pub fn fixtures(policy: &str) -> Vec<Fixture> {
    let dir = repo_root().join("policies").join(policy).join("fixtures");
    let expected: BTreeMap<String, Expected> = serde_json::from_slice(
        &fs::read(dir.join("expected.json")).unwrap_or_else(|e| panic!("{policy}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{policy}/fixtures/expected.json: {e}"));
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    files.sort();
    let listed: Vec<&String> = expected.keys().collect();
    assert_eq!(
        files.iter().collect::<Vec<_>>(),
        listed,
        "{policy}: every fixture needs an expectation and every expectation a fixture"
    );
    expected
        .into_iter()
        .map(|(name, expected)| {
            let request = serde_json::from_slice(
                &fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            Fixture {
                name,
                request,
                expected,
            }
        })
        .collect()
}

/// A compiled policy module, ready to instantiate.
pub struct Loaded {
    /// The host (engine and limits).
    pub host: Host,
    /// The module.
    pub module: PolicyModule,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded")
    }
}

impl Loaded {
    /// `dist/<policy>.wasm` with default limits, compiled once per test binary.
    pub fn policy(policy: &str) -> &'static Loaded {
        static CACHE: OnceLock<Mutex<BTreeMap<String, &'static Loaded>>> = OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .entry(policy.to_string())
            .or_insert_with(|| Box::leak(Box::new(Self::with_limits(policy, Limits::default()))))
    }

    /// Compiles `dist/<policy>.wasm` with the given limits.
    pub fn with_limits(policy: &str, limits: Limits) -> Loaded {
        Self::from_path(&module_path(policy), limits)
    }

    /// Compiles the module at `path` with the given limits.
    pub fn from_path(path: &Path, limits: Limits) -> Loaded {
        let host = Host::new(limits).unwrap_or_else(|e| panic!("host: {e}"));
        let module = PolicyModule::from_file(&host, path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Loaded { host, module }
    }

    /// A fresh instance answering host calls with `caps`.
    pub fn instance(&self, caps: Box<dyn Capabilities>) -> PolicyInstance {
        PolicyInstance::new(&self.host, &self.module, caps)
            .unwrap_or_else(|e| panic!("instantiate: {e}"))
    }
}

/// SDK host calls answered by scripted capabilities, for native evaluation.
#[derive(Debug)]
pub struct NativeHost(pub ScriptedCapabilities);

impl custody_sdk::Host for NativeHost {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.0.call("kubewarden", namespace, operation, payload)
    }

    fn now_unix(&self) -> Option<i64> {
        custody_sdk::host::system_clock()
    }
}

/// Evaluates `payload` natively with the same rule the module of `policy` holds.
pub fn validate_native(
    policy: &str,
    payload: &[u8],
    host: &mut dyn custody_sdk::Host,
) -> ValidationResponse {
    match policy {
        "require-digest" => {
            custody_sdk::policy::validate::<require_digest::RequireDigest>(payload, host)
        }
        "ban-latest" => custody_sdk::policy::validate::<ban_latest::BanLatest>(payload, host),
        other => panic!("unknown policy {other}"),
    }
}

/// Evaluates a Gatekeeper input natively with the same rule the Gatekeeper build of `policy` holds
/// (no host capabilities, as in that mode).
pub fn gatekeeper_native(policy: &str, input: &[u8]) -> Vec<GatekeeperViolation> {
    // As the OPA adapter does, with the `data` our host gives (`{}`).
    let host = &mut custody_sdk::host::InventoryHost::new(b"{}");
    match policy {
        "require-digest" => {
            custody_sdk::policy::gatekeeper::<require_digest::RequireDigest>(input, host)
        }
        "ban-latest" => custody_sdk::policy::gatekeeper::<ban_latest::BanLatest>(input, host),
        other => panic!("unknown policy {other}"),
    }
}

/// A container as real manifests have them (ports, env, resources, security context), for the
/// benchmarks: `name-i`, with `image`.
pub fn realistic_container(name: &str, i: usize, image: &str) -> Value {
    serde_json::json!({
        "name": format!("{name}-{i}"),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "production"}, {"name": "INDEX", "value": i.to_string()}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}
    })
}
