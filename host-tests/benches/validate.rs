//! Warm `validate` latency of the release modules in the wasmtime host, beside native evaluation of
//! the same rule in the same run, and cold compile + instantiate time.
//!
//! `make bench` (or `cargo bench -p custody-host-tests --bench validate`) after `make modules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use custody_host::{Limits, NoCapabilities, PolicyInstance, PolicyModule};
use custody_host_tests::{module_path, realistic_container, Loaded};
use custody_sdk::NoHost;
use serde_json::{json, Value};

/// The policies benchmarked here, which allow the benchmark requests with no settings and no host;
/// verify-slsa, which needs attestations, has its own benchmark (`benches/verify_slsa.rs`).
const POLICIES: [&str; 2] = ["require-digest", "ban-latest"];

const DIGEST: &str = "sha256:4d4e8a3f0c0b8f3b9d4bbd1d5c6a1f2e9b7c3a5d8e6f1a2b3c4d5e6f7a8b9c0d";

fn container(name: &str, i: usize) -> Value {
    realistic_container(
        name,
        i,
        &format!("ghcr.io/acme/{name}-{i}:1.{i}.0@{DIGEST}"),
    )
}

fn payload(kind: (&str, &str), object: Value) -> Vec<u8> {
    let (group, kind) = kind;
    serde_json::to_vec(&json!({
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
            "name": "web", "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        },
        "settings": {}
    }))
    .expect("payload")
}

fn metadata() -> Value {
    json!({"name": "web", "namespace": "team-a", "labels": {"app": "web", "tier": "frontend"},
           "annotations": {"team": "payments"}})
}

fn bare(name: &str, i: usize) -> Value {
    json!({"name": format!("{name}-{i}"), "image": format!("ghcr.io/acme/{name}-{i}:1.{i}.0@{DIGEST}")})
}

/// A Pod with one container, and a Deployment with 10 containers and 2 init containers: realistic
/// containers (ports, env, resources, security context; 5 KB in all), and bare ones (name and
/// image only; 2 KB) to show how much of the cost is reading JSON.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let pod = payload(
        ("", "Pod"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata(),
               "spec": {"containers": [container("app", 0)], "restartPolicy": "Always"}}),
    );
    let containers: Vec<Value> = (0..10).map(|i| container("app", i)).collect();
    let init: Vec<Value> = (0..2).map(|i| container("init", i)).collect();
    let deployment = payload(
        ("apps", "Deployment"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(),
               "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": containers, "initContainers": init}}}}),
    );
    let containers: Vec<Value> = (0..10).map(|i| bare("app", i)).collect();
    let init: Vec<Value> = (0..2).map(|i| bare("init", i)).collect();
    let bare_deployment = payload(
        ("apps", "Deployment"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": containers, "initContainers": init}}}}),
    );
    vec![
        ("pod-1", pod),
        ("deployment-10+2", deployment),
        ("deployment-10+2-bare", bare_deployment),
    ]
}

fn native(policy: &str, payload: &[u8]) -> Vec<u8> {
    match policy {
        "require-digest" => custody_sdk::policy::validate_json::<require_digest::RequireDigest>(
            payload,
            &mut NoHost,
        ),
        _ => custody_sdk::policy::validate_json::<ban_latest::BanLatest>(payload, &mut NoHost),
    }
}

fn warm(c: &mut Criterion) {
    for (name, payload) in requests() {
        eprintln!("{name}: {} bytes of validate payload", payload.len());
        let mut group = c.benchmark_group(format!("validate/{name}"));
        for policy in POLICIES {
            let loaded = Loaded::policy(policy);
            let mut instance = loaded.bare_instance(Box::new(NoCapabilities));
            let answer = instance.validate_raw(&payload).expect("validate");
            assert!(answer.accepted, "{policy} must allow the benchmark request");
            // Fuel counts wasm instructions: a noise-free companion to the timings. It is
            // measured on a separate, metered host; the timed one runs unmetered, as by default.
            let metered = Loaded::with_limits(
                policy,
                Limits {
                    fuel: Some(u64::MAX / 2),
                    ..Limits::default()
                },
            );
            let mut counting = metered.bare_instance(Box::new(NoCapabilities));
            counting.validate_raw(&payload).expect("validate");
            eprintln!(
                "{name} {policy}: {} units of fuel a call",
                counting.last_fuel_used()
            );
            group.bench_with_input(BenchmarkId::new("wasm", policy), &payload, |b, p| {
                b.iter(|| instance.validate_raw(black_box(p)).expect("validate"))
            });
            group.bench_with_input(BenchmarkId::new("native", policy), &payload, |b, p| {
                b.iter(|| native(policy, black_box(p)))
            });
        }
        group.finish();
    }
}

fn cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold");
    group.sample_size(10);
    for policy in POLICIES {
        let path = module_path(policy);
        let bytes = std::fs::read(&path).expect("module");
        eprintln!("{policy}: {} bytes ({})", bytes.len(), path.display());
        let loaded = Loaded::policy(policy);
        group.bench_function(BenchmarkId::new("compile+instantiate", policy), |b| {
            b.iter(|| {
                let module = PolicyModule::from_bytes(&loaded.host, policy, black_box(&bytes))
                    .expect("compile");
                PolicyInstance::new(&loaded.host, &module, Box::new(NoCapabilities))
                    .expect("instantiate")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, warm, cold);
criterion_main!(benches);
