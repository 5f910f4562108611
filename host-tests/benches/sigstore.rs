//! Warm Sigstore bundle verification latency: the SDK's verifier compiled to wasm (the
//! `sigstore-verify` probe) in the wasmtime host, beside the same probe handler natively in the
//! same run, on the conformance suite's happy-path v0.3 bundle (public-good root, identity policy).
//!
//! Both sides do the same work per call: read the JSON request, decode the artifact, parse the
//! embedded public-good trusted root and the bundle, verify. `native/verify-only` is the verifier
//! alone on pre-parsed inputs, to show what the parsing costs.
//!
//! `bounds`: the worst case of the per-bundle bounds (the hardening issue): a Rekor v2 bundle
//! (timed by RFC 3161 timestamps) with its timestamp repeated up to `MAX_TIMESTAMPS`, beside the
//! bundle as it is, in wasm and natively.
//!
//! `cargo bench -p custody-host-tests --bench sigstore` after `make modules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use custody_host::{Limits, NoCapabilities};
use custody_host_tests::sigstore_cases::{self, Case};
use custody_host_tests::{probe_path, sigstore_probe_request, Loaded};
use custody_sigstore::{verify, Artifact, Bundle, Policy, TrustedRoot, MAX_TIMESTAMPS};

fn warm(c: &mut Criterion) {
    let path = probe_path("sigstore-verify");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("probe: {size} bytes ({})", path.display());

    let case = Case::read(&sigstore_cases::suite().join("happy-path-v0.3"));
    let now = sigstore_cases::now();
    let request = sigstore_probe_request(&case, now);
    eprintln!("happy-path-v0.3: {} bytes of verify request", request.len());

    let loaded = Loaded::from_path(&path, Limits::default());
    let mut instance = loaded.bare_instance(Box::new(NoCapabilities));
    let wasm = instance.call("verify", &request).expect("verify in wasm");
    let native = sigstore_verify_probe::handle("verify", &request).expect("verify natively");
    assert_eq!(wasm, native, "wasm and native must answer the same");
    let answer: serde_json::Value = serde_json::from_slice(&wasm).expect("answer");
    assert_eq!(
        answer["ok"], true,
        "the benchmark bundle must verify: {answer}"
    );

    // Fuel (roughly, wasm instructions) per call, on a separate metered host.
    let metered = Loaded::from_path(
        &path,
        Limits {
            fuel: Some(u64::MAX / 2),
            ..Limits::default()
        },
    );
    let mut counting = metered.bare_instance(Box::new(NoCapabilities));
    counting.call("verify", &request).expect("verify");
    eprintln!("{} units of fuel a call", counting.last_fuel_used());

    let bundle = Bundle::from_json(&case.bundle).expect("bundle");
    let trust = TrustedRoot::public_good().expect("root");
    let policy = Policy::identity(
        sigstore_cases::DEFAULT_ISSUER,
        sigstore_cases::DEFAULT_IDENTITY,
    );

    let mut group = c.benchmark_group("sigstore-verify/happy-path-v0.3");
    group.bench_function("wasm", |b| {
        b.iter(|| {
            instance
                .call("verify", black_box(&request))
                .expect("verify")
        })
    });
    group.bench_function("native", |b| {
        b.iter(|| sigstore_verify_probe::handle("verify", black_box(&request)).expect("verify"))
    });
    group.bench_function("native/verify-only", |b| {
        b.iter(|| {
            verify(
                &bundle,
                Artifact::Bytes(black_box(&case.artifact)),
                &policy,
                &trust,
                Some(now),
            )
            .expect("verify")
        })
    });
    group.finish();
}

/// A bundle carrying up to [`MAX_TIMESTAMPS`] RFC 3161 timestamps: each is verified (its CMS
/// signature and the TSA's chain), the certificate chain once per distinct time.
fn bounds(c: &mut Criterion) {
    let path = probe_path("sigstore-verify");
    let loaded = Loaded::from_path(&path, Limits::default());
    let mut instance = loaded.bare_instance(Box::new(NoCapabilities));
    let now = sigstore_cases::now();
    let mut group = c.benchmark_group("sigstore-verify/rekor2-timestamps");
    group.sample_size(20);
    for n in [1, MAX_TIMESTAMPS] {
        let mut case =
            Case::read(&sigstore_cases::suite().join("rekor2-timestamp-with-embedded-cert"));
        let mut bundle: serde_json::Value = serde_json::from_slice(&case.bundle).expect("bundle");
        let timestamps =
            &mut bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        let one = timestamps[0].clone();
        *timestamps = serde_json::Value::from(vec![one; n]);
        case.bundle = serde_json::to_vec(&bundle).expect("JSON");
        let request = sigstore_probe_request(&case, now);
        let wasm = instance.call("verify", &request).expect("verify in wasm");
        let native = sigstore_verify_probe::handle("verify", &request).expect("verify natively");
        assert_eq!(wasm, native, "wasm and native must answer the same");
        let answer: serde_json::Value = serde_json::from_slice(&wasm).expect("answer");
        assert_eq!(answer["ok"], true, "{n} timestamps must verify: {answer}");
        group.bench_function(format!("{n} timestamps, native (baseline)"), |b| {
            b.iter(|| sigstore_verify_probe::handle("verify", black_box(&request)).expect("verify"))
        });
        group.bench_function(format!("{n} timestamps, wasm"), |b| {
            b.iter(|| {
                instance
                    .call("verify", black_box(&request))
                    .expect("verify")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, warm, bounds);
criterion_main!(benches);
