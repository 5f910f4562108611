//! `custody-profile`: where a fresh instance's time goes, counted in wasm instructions (fuel:
//! exact and repeatable, unlike times on a shared machine), memory pages and page faults.
//!
//! - the simple rules (ban-latest, require-digest) on a Deployment with 10 + 2 realistic
//!   containers: the first `validate` of a fresh instance beside a warm one;
//! - verify-slsa admitting a Pod with one attested image (the real slsa-github-generator
//!   provenance in the pod annotation, the settings of the tests), fresh and warm;
//! - the stages of its Sigstore verification one at a time, in the Sigstore probe
//!   (`host-tests/probes/sigstore-verify`, whose operations run one stage each).
//!
//! Wall times (median of a few runs) are printed beside, as an indication only.
//!
//! Usage, after `make modules`: `cargo run --release -p custody-profile -- [--dist DIR]
//! [--probe FILE]` (defaults: `dist/` and `$CARGO_TARGET_DIR/probes/sigstore-verify.wasm`). Built
//! with the CLI's dependencies, so that it does not build wasmtime a second time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use custody_host::{Host, Limits, NoCapabilities, PolicyInstance, PolicyModule};
use custody_test_support::cosign_layout::{
    digest_beside, read_cosign_layout, slsa_github_generator_layout,
};
use serde_json::{json, Value};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::Certificate;

const RUNS: usize = 15;
const IMAGE_NAME: &str =
    "ghcr.io/slsa-framework/example-package.verifier-e2e.all.tag.main.default.slsa3";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GENERATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/";

fn main() -> Result<(), String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dist = repo.join("dist");
    let mut probe = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
        .join("probes/sigstore-verify.wasm");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--dist" => dist = value.into(),
            "--probe" => probe = value.into(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    simple_rules(&dist)?;
    println!();
    verify_slsa(&dist, &probe)
}

/// A compiled module and its host: metered (fuel) or not.
struct Loaded {
    host: Host,
    module: PolicyModule,
}

impl Loaded {
    fn new(path: &Path, metered: bool) -> Result<Self, String> {
        let limits = Limits {
            fuel: metered.then_some(u64::MAX / 2),
            ..Limits::default()
        };
        let host = Host::new(limits).map_err(|e| e.to_string())?;
        let module =
            PolicyModule::from_file(&host, path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { host, module })
    }

    fn instance(&self) -> PolicyInstance {
        PolicyInstance::new(&self.host, &self.module, Box::new(NoCapabilities))
            .unwrap_or_else(|e| panic!("instantiate: {e}"))
    }
}

fn validate(instance: &mut PolicyInstance, request: &Value, settings: &Value) -> bool {
    instance
        .validate(request, settings)
        .unwrap_or_else(|e| panic!("validate: {e}"))
        .accepted
}

/// This process's minor page faults so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

/// The median wall time and minor page faults of `RUNS` calls of `f`.
fn measure(mut f: impl FnMut()) -> (Duration, u64) {
    let (times, faults): (Vec<_>, Vec<_>) = (0..RUNS)
        .map(|_| {
            let faults = minor_faults();
            let start = Instant::now();
            f();
            (start.elapsed(), minor_faults() - faults)
        })
        .unzip();
    (median(times), median(faults))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn pages(instance: &PolicyInstance) -> usize {
    instance.memory_size() / 65536
}

fn realistic_container(name: &str, i: usize) -> Value {
    let digest = "sha256:4d4e8a3f0c0b8f3b9d4bbd1d5c6a1f2e9b7c3a5d8e6f1a2b3c4d5e6f7a8b9c0d";
    json!({
        "name": format!("{name}-{i}"),
        "image": format!("ghcr.io/acme/{name}-{i}:1.{i}.0@{digest}"),
        "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "production"}, {"name": "INDEX", "value": i.to_string()}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                            "allowPrivilegeEscalation": false},
    })
}

/// ban-latest and require-digest on a Deployment with 10 + 2 realistic containers.
fn simple_rules(dist: &Path) -> Result<(), String> {
    let containers: Vec<Value> = (0..10).map(|i| realistic_container("app", i)).collect();
    let init: Vec<Value> = (0..2).map(|i| realistic_container("init", i)).collect();
    let request = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "name": "web", "namespace": "team-a", "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": containers, "initContainers": init}}}},
        "oldObject": null, "dryRun": false,
    });
    let settings = json!({});
    println!("| policy (Deployment, 10 + 2 containers) | size | fuel: first validate (fresh) / warm | memory pages: instantiated / after | page faults: instantiate / first validate / warm | time: instantiate / first validate / warm (median of {RUNS}) |");
    println!("|---|---|---|---|---|---|");
    for policy in ["ban-latest", "require-digest"] {
        let path = dist.join(format!("{policy}.wasm"));
        let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        let counting = Loaded::new(&path, true)?;
        let mut instance = counting.instance();
        let before = pages(&instance);
        validate(&mut instance, &request, &settings);
        let first = instance.last_fuel_used();
        validate(&mut instance, &request, &settings);
        let warm = instance.last_fuel_used();
        let after = pages(&instance);

        let plain = Loaded::new(&path, false)?;
        let (instantiate, instantiate_faults) = measure(|| drop(plain.instance()));
        let mut fresh: Vec<PolicyInstance> = (0..RUNS).map(|_| plain.instance()).collect();
        let mut fresh = fresh.iter_mut();
        let (first_time, first_faults) = measure(|| {
            let instance = fresh.next().expect("one per run");
            validate(instance, &request, &settings);
        });
        let mut warm_instance = plain.instance();
        validate(&mut warm_instance, &request, &settings);
        let (warm_time, warm_faults) = measure(|| {
            validate(&mut warm_instance, &request, &settings);
        });
        println!(
            "| {policy} | {size} | {first} / {warm} | {before} / {after} | {instantiate_faults} / {first_faults} / {warm_faults} | {} / {} / {} |",
            us(instantiate), us(first_time), us(warm_time)
        );
    }
    Ok(())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .expect("base64")
}

fn verify_slsa(dist: &Path, probe: &Path) -> Result<(), String> {
    let dir = slsa_github_generator_layout("v1.10.0");
    let layout = read_cosign_layout(&dir);
    let layer = layout.attestations.first().ok_or("no attestation")?;
    let bundle = custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
        .map_err(|e| e.to_string())?;
    let digest = digest_beside(&dir);
    let image = format!("{IMAGE_NAME}@{digest}");
    let settings = json!({
        "images": [{
            "patterns": [format!("{IMAGE_NAME}*")],
            "attestors": {"entries": [{"keyless": {
                "issuer": GITHUB_ISSUER, "subjectPrefix": GENERATOR}}]},
            "conditions": {
                "builderIdPrefix": GENERATOR,
                "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
                "sourceRepository": "https://github.com/slsa-framework/example-package",
                "sourceRefs": ["refs/tags/v*", "refs/heads/main"],
            },
        }],
    });
    let request = json!({
        "uid": "verify-slsa-profile",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE", "namespace": "default",
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "app", "namespace": "default", "annotations": {
                       "custody.dev/attestations": Value::from(vec![bundle.clone()]).to_string()}},
                   "spec": {"containers": [{"name": "c0", "image": image}]}},
    });

    println!("| verify-slsa, one attested image (v1.10.0), stage | wasm instructions (fuel) | wasm time (median of {RUNS}) |");
    println!("|---|---|---|");
    let path = dist.join("verify-slsa.wasm");
    let counting = Loaded::new(&path, true)?;
    let plain = Loaded::new(&path, false)?;
    let mut instance = counting.instance();
    let before = pages(&instance);
    if !validate(&mut instance, &request, &settings) {
        return Err("verify-slsa denied the profile's Pod".into());
    }
    let fresh = instance.last_fuel_used();
    validate(&mut instance, &request, &settings);
    let warm = instance.last_fuel_used();
    let after = pages(&instance);
    let mut fresh_instances: Vec<PolicyInstance> = (0..RUNS).map(|_| plain.instance()).collect();
    let mut fresh_instances = fresh_instances.iter_mut();
    let (fresh_time, fresh_faults) = measure(|| {
        validate(
            fresh_instances.next().expect("one per run"),
            &request,
            &settings,
        );
    });
    let mut warm_instance = plain.instance();
    let (warm_time, warm_faults) = measure(|| {
        validate(&mut warm_instance, &request, &settings);
    });
    println!(
        "| admission, first validate of a fresh instance ({fresh_faults} page faults) | {fresh} | {} |",
        ms(fresh_time)
    );
    println!(
        "| admission, warm instance ({warm_faults} page faults) | {warm} | {} |",
        ms(warm_time)
    );
    println!("| memory: {before} pages instantiated, {after} after two admissions | | |");

    let probe_counting = Loaded::new(probe, true)?;
    let probe_plain = Loaded::new(probe, false)?;
    let mut counting = probe_counting.instance();
    let mut timing = probe_plain.instance();
    let mut stage = |what: &str, operation: &str, payload: &[u8]| -> u64 {
        let mut fuel = || {
            counting
                .call(operation, payload)
                .unwrap_or_else(|e| panic!("{operation}: {e}"));
            counting.last_fuel_used()
        };
        // The first call of an operation also pays for the allocator's first use: count a
        // second one.
        fuel();
        let first = fuel();
        let (time, _) = measure(|| {
            timing
                .call(operation, payload)
                .unwrap_or_else(|e| panic!("{operation}: {e}"));
        });
        println!("| {what} | {first} | {} |", ms(time));
        first
    };

    let material = &bundle["verificationMaterial"];
    let leaf_der = unb64(
        material
            .get("certificate")
            .map(|c| &c["rawBytes"])
            .unwrap_or_else(|| &material["x509CertificateChain"]["certificates"][0]["rawBytes"]),
    );
    let leaf = Certificate::from_der(&leaf_der).map_err(|e| e.to_string())?;
    let tbs = leaf.tbs_certificate();
    let leaf_spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let root = custody_sigstore::TrustedRoot::public_good().map_err(|e| e.to_string())?;
    let issuer = root
        .certificate_authorities
        .iter()
        .filter_map(|ca| Certificate::from_der(ca.certificates.first()?).ok())
        .find(|ca| ca.tbs_certificate().subject() == tbs.issuer())
        .ok_or("the leaf's issuer is not in the trusted root")?;
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let env = &bundle["dsseEnvelope"];
    let pae = custody_sigstore::pae(
        env["payloadType"].as_str().ok_or("payloadType")?,
        &unb64(&env["payload"]),
    );
    let check = |spki: &[u8], message: &[u8], signature: &[u8]| {
        serde_json::to_vec(&json!({
            "spki": b64(spki), "message": b64(message), "signature": b64(signature)}))
        .expect("JSON")
    };
    let p256 = check(&leaf_spki, &pae, &unb64(&env["signatures"][0]["sig"]));
    let p384 = check(
        &issuer_spki,
        &tbs.to_der().map_err(|e| e.to_string())?,
        leaf.signature().raw_bytes(),
    );
    let bundle_text = bundle.to_string();
    let verify = serde_json::to_vec(&json!({
        "bundle": bundle_text,
        "artifact_sha256": digest.trim_start_matches("sha256:"),
        "policy": {"issuer": GITHUB_ISSUER, "subject": {"prefix": GENERATOR}},
        "now": 1_800_000_000i64,
    }))
    .map_err(|e| e.to_string())?;

    println!("| Sigstore probe: | | |");
    let noop = stage("a call that does nothing", "noop", b"");
    stage(
        "the whole Sigstore verification (`verify`)",
        "verify",
        &verify,
    );
    stage(
        "parse the embedded public-good trusted root",
        "trusted_root",
        b"",
    );
    stage("parse the bundle (JSON)", "bundle", bundle_text.as_bytes());
    stage("parse the leaf certificate (DER)", "certificate", &leaf_der);
    let key256 = stage("read a P-256 key (request in base64)", "public_key", &p256);
    let sig256 = stage(
        "the same + one ECDSA P-256 check (the DSSE signature)",
        "signature",
        &p256,
    );
    let key384 = stage("read a P-384 key (request in base64)", "public_key", &p384);
    let sig384 = stage(
        "the same + one ECDSA P-384 check (the leaf by Fulcio's intermediate)",
        "signature",
        &p384,
    );
    println!();
    println!(
        "a call: {noop}; one P-256 check: {} instructions; one P-384 check: {} instructions",
        sig256 - key256,
        sig384 - key384
    );
    Ok(())
}
