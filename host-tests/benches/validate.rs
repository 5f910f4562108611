//! Warm `validate` latency of the release modules in the wasmtime host, beside native evaluation of
//! the same rule in the same run, and cold compile + instantiate time.
//!
//! `make bench` (or `cargo bench -p custody-host-tests --bench validate`) after `make modules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use custody_host::{Limits, NoCapabilities, PolicyInstance, PolicyModule};
use custody_host_tests::bench::{simple_requests, Admission};
use custody_host_tests::{module_path, Loaded};
use custody_sdk::NoHost;
use serde_json::json;

/// The policies benchmarked here, which allow the benchmark requests with no settings and no host;
/// verify-slsa, which needs attestations, has its own benchmark (`benches/verify_slsa.rs`).
const POLICIES: [&str; 2] = ["require-digest", "ban-latest"];

/// The simple rules' requests as `validate` payloads (settings `{}`).
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    simple_requests()
        .into_iter()
        .map(|(name, request)| (name, Admission::plain(name, request, json!({})).payload()))
        .collect()
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
