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
    parse_answer, Abi, Capabilities, Host, HostError, Limits, PolicyInstance, PolicyModule,
    ScriptedCapabilities, SettingsValidation,
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

/// Images signed in cosign's layout by a reference signer we did not write (Python's
/// `cryptography`), pushed into a test registry and read back (shared with the registry client's
/// tests).
pub use custody_test_support::cosign;
/// cosign-saved OCI layouts (the slsa-github-generator images), read as the SDK's tests read
/// them (the same file).
pub use custody_test_support::cosign_layout;
/// The benchmarks' requests.
pub mod bench;
/// Kubewarden's own request and response types, which every request and answer is checked
/// against.
pub mod kubewarden;
pub mod real_signatures;
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

/// The policies custody ships: every directory under `policies/` holding a `Cargo.toml`, sorted,
/// read once per test binary. The suites iterate this, so a new policy is in every suite the day its
/// directory appears; [`host_test_coverage`] then says what it still lacks.
pub fn policies() -> &'static [&'static str] {
    static POLICIES: OnceLock<Vec<&'static str>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let dir = repo_root().join("policies");
        let mut names: Vec<&'static str> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| &*e.file_name().to_string_lossy().into_owned().leak())
            .collect();
        names.sort_unstable();
        assert!(!names.is_empty(), "no policy under {}", dir.display());
        names
    })
}

/// The fewest fixtures (`policies/<policy>/fixtures/*.json`, listed in `expected.json`) a policy
/// must have.
pub const MIN_FIXTURES: usize = 20;

/// What a policy needs for the host-test suites to run it, checked by the `coverage` test for
/// every directory [`policies`] finds. A policy has host tests when:
///
/// 1. the native dispatch knows it: [`validate_native`] and [`gatekeeper_native`] evaluate its rule
///    (the crate is a dependency of this one and has an arm in [`native_validator`] and
///    [`native_gatekeeper`]), for the wasm-versus-native parity every suite checks;
/// 2. it has default test settings, `policies/<policy>/fixtures/settings.json` (a JSON object that
///    its `validate_settings` accepts: checked in the ABI-shape suite), which the suites that are
///    not about settings (hostile input, captured requests) evaluate with;
/// 3. it has at least [`MIN_FIXTURES`] fixtures, each listed in `fixtures/expected.json` with its
///    verdict, and every listed one present ([`fixtures`] checks the two agree).
///
/// The built modules themselves (`dist/<policy>.wasm`, `dist/<policy>.gatekeeper.wasm`) are not
/// checked here: every suite fails without them ([`module_path`]).
///
/// Returns what is missing, one line each (empty: covered).
pub fn host_test_coverage(policy: &str) -> Vec<String> {
    let mut missing = Vec::new();
    if native_validator(policy).is_none() {
        missing.push(format!("{policy}: validate_native has no arm for it"));
    }
    if native_gatekeeper(policy).is_none() {
        missing.push(format!("{policy}: gatekeeper_native has no arm for it"));
    }
    let dir = repo_root().join("policies").join(policy).join("fixtures");
    match fs::read(dir.join("settings.json")).map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(Value::Object(_))) => {}
        Ok(Ok(other)) => missing.push(format!(
            "{policy}: fixtures/settings.json is not a JSON object: {other}"
        )),
        Ok(Err(e)) => missing.push(format!("{policy}: fixtures/settings.json: {e}")),
        Err(e) => missing.push(format!("{policy}: fixtures/settings.json: {e}")),
    }
    match fs::read(dir.join("expected.json"))
        .map(|b| serde_json::from_slice::<BTreeMap<String, Value>>(&b))
    {
        Ok(Ok(listed)) if listed.len() >= MIN_FIXTURES => {}
        Ok(Ok(listed)) => missing.push(format!(
            "{policy}: fixtures/expected.json lists {} fixtures, fewer than {MIN_FIXTURES}",
            listed.len()
        )),
        Ok(Err(e)) => missing.push(format!("{policy}: fixtures/expected.json: {e}")),
        Err(e) => missing.push(format!("{policy}: fixtures/expected.json: {e}")),
    }
    missing
}

/// The default test settings of `policy` (`policies/<policy>/fixtures/settings.json`). Panics if
/// there are none (see [`host_test_coverage`]).
pub fn test_settings(policy: &str) -> Value {
    let path = repo_root()
        .join("policies")
        .join(policy)
        .join("fixtures")
        .join("settings.json");
    let text = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `validate` payload of `request` with `settings`, checked against Kubewarden's
/// `ValidationRequest` ([`kubewarden::check_request`]).
pub fn validate_payload(request: &Value, settings: &Value) -> Vec<u8> {
    let payload = serde_json::json!({"request": request, "settings": settings});
    kubewarden::check_request(&payload);
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// A real AdmissionRequest captured from a cluster (`shared/testdata/admission-reviews`).
#[derive(Debug, Clone)]
pub struct Captured {
    /// File name.
    pub name: String,
    /// The AdmissionRequest, as a policy's `request` receives it.
    pub request: Value,
}

/// Every captured AdmissionRequest in `shared/testdata/admission-reviews` (beside the repository),
/// by file name. Panics if there are none.
pub fn captured_requests() -> Vec<Captured> {
    let dir = repo_root().join("../shared/testdata/admission-reviews");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no captured request in {}",
        dir.display()
    );
    names
        .into_iter()
        .map(|name| {
            let text = fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let request = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            Captured { name, request }
        })
        .collect()
}

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
        validate_payload(&self.request, &self.expected.settings)
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

/// Every fixture of `policy` (every `policies/<policy>/fixtures/*.json` but `expected.json` and
/// `settings.json`), each request checked against Kubewarden's `ValidationRequest`. Panics if a
/// fixture file has no expectation or the other way round.
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
        .filter(|n| n.ends_with(".json") && n != "expected.json" && n != "settings.json")
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
            kubewarden::check_request(
                &serde_json::json!({"request": request, "settings": expected.settings}),
            );
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

    /// A fresh instance answering host calls with `caps`, whose requests and answers are checked
    /// against Kubewarden's types ([`Instance`]).
    pub fn instance(&self, caps: Box<dyn Capabilities>) -> Instance {
        Instance(self.bare_instance(caps))
    }

    /// A fresh instance answering host calls with `caps`, unchecked: the benchmarks time the host
    /// alone.
    pub fn bare_instance(&self, caps: Box<dyn Capabilities>) -> PolicyInstance {
        PolicyInstance::new(&self.host, &self.module, caps)
            .unwrap_or_else(|e| panic!("instantiate: {e}"))
    }
}

/// A policy instance as the tests drive it: the host's [`PolicyInstance`] (every method of which
/// it offers), except that what it sends and gets back is checked against Kubewarden's own types
/// ([`kubewarden`]): every waPC answer to `validate` and `validate_settings` (whichever method
/// asked: [`call`](Self::call), [`validate`](Self::validate), [`validate_raw`](Self::validate_raw),
/// [`validate_settings`](Self::validate_settings)) and every request given as a JSON value
/// ([`validate`](Self::validate), [`gatekeeper`](Self::gatekeeper)). Raw payloads are sent as
/// they are (the hostile suite's are not requests on purpose).
#[derive(Debug)]
pub struct Instance(pub PolicyInstance);

impl std::ops::Deref for Instance {
    type Target = PolicyInstance;

    fn deref(&self) -> &PolicyInstance {
        &self.0
    }
}

impl std::ops::DerefMut for Instance {
    fn deref_mut(&mut self) -> &mut PolicyInstance {
        &mut self.0
    }
}

impl Instance {
    /// [`PolicyInstance::call`], the answer checked.
    pub fn call(&mut self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, HostError> {
        let answer = self.0.call(operation, payload)?;
        kubewarden::check_answer(operation, &answer);
        Ok(answer)
    }

    /// [`PolicyInstance::validate_settings`], the answer checked.
    pub fn validate_settings(&mut self, settings: &Value) -> Result<SettingsValidation, HostError> {
        const OPERATION: &str = "validate_settings";
        if self.0.abi() != Abi::Wapc {
            return self.0.validate_settings(settings);
        }
        let payload = serde_json::to_vec(settings).map_err(|e| HostError::BadResponse {
            operation: OPERATION.to_owned(),
            message: format!("cannot serialize the payload: {e}"),
        })?;
        let answer = self.call(OPERATION, &payload)?;
        parse_answer(OPERATION, &answer)
    }

    /// [`PolicyInstance::validate`], the request and the answer checked.
    pub fn validate(
        &mut self,
        request: &Value,
        settings: &Value,
    ) -> Result<ValidationResponse, HostError> {
        let payload = validate_payload(request, settings);
        if self.0.abi() != Abi::Wapc {
            return self.0.validate(request, settings);
        }
        self.validate_raw(&payload)
    }

    /// [`PolicyInstance::validate_raw`], the answer checked.
    pub fn validate_raw(&mut self, payload: &[u8]) -> Result<ValidationResponse, HostError> {
        const OPERATION: &str = "validate";
        let answer = self.call(OPERATION, payload)?;
        parse_answer(OPERATION, &answer)
    }

    /// [`PolicyInstance::gatekeeper`], the request (the review) checked.
    pub fn gatekeeper(
        &mut self,
        request: &Value,
        parameters: &Value,
    ) -> Result<Vec<GatekeeperViolation>, HostError> {
        validate_payload(request, parameters);
        self.0.gatekeeper(request, parameters)
    }
}

/// SDK host calls answered by the host's capabilities (scripted ones by default), for native
/// evaluation: the same answers, word for word, as the module gets in the host.
#[derive(Debug)]
pub struct NativeHost<C = ScriptedCapabilities>(pub C);

impl<C: Capabilities> custody_sdk::Host for NativeHost<C> {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.0.call("kubewarden", namespace, operation, payload)
    }

    /// The OS clock, as a native host has one.
    fn now_unix(&self) -> Option<i64> {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    }
}

/// How a rule evaluates a `validate` payload natively.
pub type NativeValidator = fn(&[u8], &mut dyn custody_sdk::Host) -> ValidationResponse;
/// How a rule evaluates a Gatekeeper input natively.
pub type NativeGatekeeper = fn(&[u8], &mut dyn custody_sdk::Host) -> Vec<GatekeeperViolation>;

/// The native `validate` of `policy`'s rule, if this crate links it.
pub fn native_validator(policy: &str) -> Option<NativeValidator> {
    use custody_sdk::policy::validate;
    match policy {
        "require-digest" => {
            Some(|input, host| validate::<require_digest::RequireDigest>(input, host))
        }
        "ban-latest" => Some(|input, host| validate::<ban_latest::BanLatest>(input, host)),
        "verify-slsa" => Some(|input, host| validate::<verify_slsa::VerifySlsa>(input, host)),
        "verify-signature" => {
            Some(|input, host| validate::<verify_signature::VerifySignature>(input, host))
        }
        _ => None,
    }
}

/// The native Gatekeeper evaluation of `policy`'s rule, if this crate links it.
pub fn native_gatekeeper(policy: &str) -> Option<NativeGatekeeper> {
    use custody_sdk::policy::gatekeeper;
    match policy {
        "require-digest" => {
            Some(|input, host| gatekeeper::<require_digest::RequireDigest>(input, host))
        }
        "ban-latest" => Some(|input, host| gatekeeper::<ban_latest::BanLatest>(input, host)),
        "verify-slsa" => Some(|input, host| gatekeeper::<verify_slsa::VerifySlsa>(input, host)),
        "verify-signature" => {
            Some(|input, host| gatekeeper::<verify_signature::VerifySignature>(input, host))
        }
        _ => None,
    }
}

/// Evaluates `payload` natively with the same rule the module of `policy` holds; the answer is
/// checked against Kubewarden's `ValidationResponse`.
pub fn validate_native(
    policy: &str,
    payload: &[u8],
    host: &mut dyn custody_sdk::Host,
) -> ValidationResponse {
    let validate = native_validator(policy).unwrap_or_else(|| panic!("unknown policy {policy}"));
    let answer = validate(payload, host);
    kubewarden::check_native_answer(&answer);
    answer
}

/// Evaluates a Gatekeeper input natively with the same rule the Gatekeeper build of `policy` holds
/// (no host capabilities, as in that mode).
pub fn gatekeeper_native(policy: &str, input: &[u8]) -> Vec<GatekeeperViolation> {
    let gatekeeper = native_gatekeeper(policy).unwrap_or_else(|| panic!("unknown policy {policy}"));
    // As the OPA adapter does, with the `data` our host gives (`{}`).
    gatekeeper(input, &mut custody_sdk::host::InventoryHost::new(b"{}"))
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
