//! Warm admission latency of verify-slsa on real slsa-github-generator provenance: a Pod whose
//! images each have one attestation ConfigMap, verified inside the module (waPC build: the
//! ConfigMap through the `kubernetes` capability; Gatekeeper build: from `data.inventory`), beside
//! the same rule natively in the same run (the baseline of the ratios) and ban-latest's waPC build
//! on the same Pod (a policy that verifies nothing).
//!
//! `cargo bench -p custody-host-tests --bench verify_slsa` after `make modules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use custody_host::{Cluster, Limits, NoCapabilities, ScriptedCapabilities};
use custody_host_tests::slsa::{self, layouts, pod_request};
use custody_host_tests::{gatekeeper, module_path, Loaded, NativeHost};
use serde_json::{json, Value};

const NAMESPACE: &str = "custody-attestations";

fn warm(c: &mut Criterion) {
    for policy in ["verify-slsa", "verify-slsa.gatekeeper"] {
        let size = std::fs::metadata(module_path(policy))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!("{policy}: {size} bytes");
    }
    let layouts = layouts();
    let cluster = Cluster::new(layouts.iter().map(|l| l.config_map(NAMESPACE))).expect("cluster");
    let settings = slsa::settings();
    let caps = || {
        ScriptedCapabilities::new(Vec::new())
            .expect("script")
            .with_cluster(cluster.clone())
    };

    let wapc = Loaded::policy("verify-slsa");
    let gk = Loaded::policy(&gatekeeper("verify-slsa"));
    let floor = Loaded::policy("ban-latest");
    let mut wapc_instance = wapc.instance(Box::new(caps()));
    let mut gk_instance = gk.instance(Box::new(NoCapabilities));
    gk_instance.set_data(&cluster.data()).expect("data");
    let mut floor_instance = floor.instance(Box::new(NoCapabilities));

    // Fuel (roughly, wasm instructions) per admission, on a separate metered host.
    let metered = Loaded::from_path(
        &module_path("verify-slsa"),
        Limits {
            fuel: Some(u64::MAX / 2),
            ..Limits::default()
        },
    );
    let mut counting = metered.instance(Box::new(caps()));

    for n in [1, 2] {
        let images: Vec<String> = layouts.iter().take(n).map(|l| l.image()).collect();
        let refs: Vec<&str> = images.iter().map(String::as_str).collect();
        let request = pod_request(&refs, json!({}));
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
            .expect("payload");

        let answer = wapc_instance
            .validate(&request, &settings)
            .expect("validate");
        assert!(
            answer.accepted,
            "the benchmark Pod must be allowed: {answer:?}"
        );
        let violations = gk_instance
            .gatekeeper(&request, &settings)
            .expect("gatekeeper");
        assert!(violations.is_empty(), "{violations:?}");
        counting.validate(&request, &settings).expect("validate");
        eprintln!(
            "pod-{n}: {} units of fuel an admission",
            counting.last_fuel_used()
        );

        let mut group = c.benchmark_group(format!("verify-slsa/pod-{n}"));
        group.sample_size(20);
        group.bench_function("native (baseline)", |b| {
            b.iter(|| {
                custody_sdk::policy::validate::<verify_slsa::VerifySlsa>(
                    black_box(&payload),
                    &mut NativeHost(caps()),
                )
            })
        });
        group.bench_function("wasm waPC", |b| {
            b.iter(|| {
                wapc_instance
                    .validate(black_box(&request), &settings)
                    .expect("validate")
            })
        });
        group.bench_function("wasm Gatekeeper", |b| {
            b.iter(|| {
                gk_instance
                    .gatekeeper(black_box(&request), &settings)
                    .expect("gatekeeper")
            })
        });
        let floor_settings = Value::Object(serde_json::Map::new());
        group.bench_function("ban-latest waPC (no verification)", |b| {
            b.iter(|| {
                floor_instance
                    .validate(black_box(&request), &floor_settings)
                    .expect("validate")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, warm);
criterion_main!(benches);
