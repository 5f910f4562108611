//! Admission latency of verify-signature verifying in the module (`source: cluster`), on the real
//! cosign signatures of 2021: a key signature (ECDSA P-256, no log entry) and a keyless one
//! (the certificate and its 2021 Fulcio CA, a Rekor `rekord` entry), one image each, the
//! signature in the pod annotation. Measured the way Kubewarden's policy server runs a policy — a
//! fresh instance for every admission — and on a warm instance, in both builds, beside the rule
//! natively in the same run (the baseline of the ratios).
//!
//! `cargo bench -p custody-host-tests --bench verify_signature` after `make modules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use custody_host::NoCapabilities;
use custody_host::ScriptedCapabilities;
use custody_host_tests::bench::verify_signature_cases;
use custody_host_tests::{gatekeeper, module_path, Loaded, NativeHost};
use serde_json::json;

fn latency(c: &mut Criterion) {
    for module in ["verify-signature", "verify-signature.gatekeeper"] {
        let size = std::fs::metadata(module_path(module))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!("{module}: {size} bytes");
    }
    let wapc = Loaded::policy("verify-signature");
    let gk = Loaded::policy(&gatekeeper("verify-signature"));
    let caps = || ScriptedCapabilities::new(Vec::new()).expect("script");
    for (name, request, settings) in verify_signature_cases() {
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
            .expect("payload");
        let mut warm_wapc = wapc.bare_instance(Box::new(caps()));
        let answer = warm_wapc.validate(&request, &settings).expect("validate");
        assert!(
            answer.accepted,
            "{name}: the benchmark pod must be allowed: {answer:?}"
        );
        let mut warm_gk = gk.bare_instance(Box::new(NoCapabilities));
        let violations = warm_gk.gatekeeper(&request, &settings).expect("gatekeeper");
        assert!(violations.is_empty(), "{name}: {violations:?}");

        let mut group = c.benchmark_group(format!("verify-signature/{name}"));
        group.sample_size(20);
        group.bench_function("native (baseline)", |b| {
            b.iter(|| {
                custody_sdk::policy::validate::<verify_signature::VerifySignature>(
                    black_box(&payload),
                    &mut NativeHost(caps()),
                )
            })
        });
        group.bench_function("wasm waPC, fresh instance", |b| {
            b.iter(|| {
                wapc.bare_instance(Box::new(caps()))
                    .validate(black_box(&request), &settings)
                    .expect("validate")
            })
        });
        group.bench_function("wasm waPC, warm", |b| {
            b.iter(|| {
                warm_wapc
                    .validate(black_box(&request), &settings)
                    .expect("validate")
            })
        });
        group.bench_function("wasm Gatekeeper, fresh instance", |b| {
            b.iter(|| {
                gk.bare_instance(Box::new(NoCapabilities))
                    .gatekeeper(black_box(&request), &settings)
                    .expect("gatekeeper")
            })
        });
        group.bench_function("wasm Gatekeeper, warm", |b| {
            b.iter(|| {
                warm_gk
                    .gatekeeper(black_box(&request), &settings)
                    .expect("gatekeeper")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, latency);
criterion_main!(benches);
