//! Warm admission latency of verify-slsa on real slsa-github-generator provenance: a Pod whose
//! images each have one attestation ConfigMap, verified inside the module (waPC build: the
//! ConfigMap through the `kubernetes` capability; Gatekeeper build: from `data.inventory`), beside
//! the same rule natively in the same run (the baseline of the ratios) and ban-latest's waPC build
//! on the same Pod (a policy that verifies nothing).
//!
//! `bounds`: the worst case each work bound allows (the hardening issue), the same way: the most
//! distinct attestations for one image, the most log entries in one attestation, the most
//! verifications in one request, thousands of containers of one image, and a request over a bound
//! (refused before any signature check).
//!
//! `cargo bench -p custody-host-tests --bench verify_slsa` after `make modules`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use custody_attestors::{MAX_BUNDLES_PER_IMAGE, MAX_VERIFICATIONS_PER_REQUEST};
use custody_host::{Cluster, Limits, NoCapabilities, PolicyInstance, ScriptedCapabilities};
use custody_host_tests::slsa::{
    self, annotation, layouts, pod_request, variants, with_repeated_log_entry,
};
use custody_host_tests::{gatekeeper, module_path, Loaded, NativeHost};
use custody_sigstore::MAX_TLOG_ENTRIES;
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
    let mut wapc_instance = wapc.bare_instance(Box::new(caps()));
    let mut gk_instance = gk.bare_instance(Box::new(NoCapabilities));
    gk_instance.set_data(&cluster.data()).expect("data");
    let mut floor_instance = floor.bare_instance(Box::new(NoCapabilities));

    // Fuel (roughly, wasm instructions) per admission, on a separate metered host.
    let metered = Loaded::from_path(
        &module_path("verify-slsa"),
        Limits {
            fuel: Some(u64::MAX / 2),
            ..Limits::default()
        },
    );
    let mut counting = metered.bare_instance(Box::new(caps()));

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
        both_builds_and_native(
            &mut group,
            (&payload, &caps),
            (&request, &settings),
            &mut wapc_instance,
            &mut gk_instance,
        );
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

/// Benchmarks one request natively (the baseline: the `validate` payload, host answers made by
/// `caps`), then in the waPC and the Gatekeeper instance.
fn both_builds_and_native(
    group: &mut BenchmarkGroup<'_, WallTime>,
    (payload, caps): (&[u8], &dyn Fn() -> ScriptedCapabilities),
    (request, settings): (&Value, &Value),
    wapc: &mut PolicyInstance,
    gk: &mut PolicyInstance,
) {
    group.bench_function("native (baseline)", |b| {
        b.iter(|| {
            custody_sdk::policy::validate::<verify_slsa::VerifySlsa>(
                black_box(payload),
                &mut NativeHost(caps()),
            )
        })
    });
    group.bench_function("wasm waPC", |b| {
        b.iter(|| {
            wapc.validate(black_box(request), settings)
                .expect("validate")
        })
    });
    group.bench_function("wasm Gatekeeper", |b| {
        b.iter(|| {
            gk.gatekeeper(black_box(request), settings)
                .expect("gatekeeper")
        })
    });
}

/// The worst case of each bound, in both builds beside the native rule.
fn bounds(c: &mut Criterion) {
    let layouts = layouts();
    let settings = slsa::settings();
    let per_image = MAX_BUNDLES_PER_IMAGE;
    let in_budget = (MAX_VERIFICATIONS_PER_REQUEST / per_image).min(layouts.len());
    let first = &layouts[0];
    let image = first.image();
    let real = first.bundle();
    // (name, request, cluster objects, allowed, verifications it makes)
    let cases: Vec<(String, Value, Vec<Value>, bool)> = vec![
        (
            format!("{per_image} attestations for one image"),
            pod_request(&[&image], json!({})),
            vec![first.config_map_of(NAMESPACE, &variants(&real, per_image))],
            true,
        ),
        (
            format!(
                "{} images x {per_image} attestations (the request budget)",
                in_budget
            ),
            pod_request(
                &layouts
                    .iter()
                    .take(in_budget)
                    .map(|l| l.image())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                json!({}),
            ),
            layouts
                .iter()
                .map(|l| l.config_map_of(NAMESPACE, &variants(&l.bundle(), per_image)))
                .collect(),
            true,
        ),
        (
            format!("{MAX_TLOG_ENTRIES} log entries in one attestation"),
            pod_request(
                &[&image],
                annotation(&[with_repeated_log_entry(&real, MAX_TLOG_ENTRIES)]),
            ),
            Vec::new(),
            true,
        ),
        (
            "2000 containers of one image".to_owned(),
            pod_request(&vec![image.as_str(); 2000], json!({})),
            vec![first.config_map(NAMESPACE)],
            true,
        ),
        (
            format!("{} attestations (over the bound: refused)", per_image + 1),
            pod_request(&[&image], json!({})),
            vec![first.config_map_of(NAMESPACE, &variants(&real, per_image + 1))],
            false,
        ),
    ];
    for (name, request, objects, allowed) in cases {
        let cluster = Cluster::new(objects).expect("cluster");
        let caps = || {
            ScriptedCapabilities::new(Vec::new())
                .expect("script")
                .with_cluster(cluster.clone())
        };
        let mut wapc = Loaded::policy("verify-slsa").bare_instance(Box::new(caps()));
        let mut gk =
            Loaded::policy(&gatekeeper("verify-slsa")).bare_instance(Box::new(NoCapabilities));
        gk.set_data(&cluster.data()).expect("data");
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
            .expect("payload");
        let answer = wapc.validate(&request, &settings).expect("validate");
        assert_eq!(answer.accepted, allowed, "{name}: {answer:?}");
        let violations = gk.gatekeeper(&request, &settings).expect("gatekeeper");
        assert_eq!(violations.is_empty(), allowed, "{name}: {violations:?}");

        let mut group = c.benchmark_group(format!("verify-slsa bounds/{name}"));
        group.sample_size(10);
        both_builds_and_native(
            &mut group,
            (&payload, &caps),
            (&request, &settings),
            &mut wapc,
            &mut gk,
        );
        group.finish();
    }
}

criterion_group!(benches, warm, bounds);
criterion_main!(benches);
