//! Warm evaluation of ban-latest in Gatekeeper's contract, all in one run on the same requests:
//! - the waPC build in our host (the baseline: `validate`),
//! - the Gatekeeper build (OPA ABI) in our host (an evaluation context per call, as Kubewarden's
//!   engine drives it) and in the `opa-wasm` crate (the ABI 1.2 `opa_eval` path),
//! - `regorus` (a Rego interpreter) evaluating the Gatekeeper library's `K8sBanLatestImage` Rego.
//!
//! The requests are Pods, the only kind that Rego reads (`spec.containers`), and both rules agree
//! on them: all tagged (allowed), and all `:latest` (one violation per container).
//!
//! `cargo bench -p custody-host-tests --bench gatekeeper` after `make modules` (`make bench` runs it).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use custody_host::NoCapabilities;
use custody_host_tests::{gatekeeper, module_path, realistic_container, Loaded};
use serde_json::value::RawValue;
use serde_json::{json, Value};

const POLICY: &str = "ban-latest";

/// The seed's `K8sBanLatestImage` rule, as written (Rego v0 syntax).
const REGO: &str = r#"package k8sbanlatestimage

violation[{"msg": msg}] { container := input.review.object.spec.containers[_]; endswith(container.image, ":latest"); msg := sprintf("Image %v uses :latest tag — pin to a specific version", [container.image]) }
violation[{"msg": msg}] { container := input.review.object.spec.containers[_]; not contains(container.image, ":"); msg := sprintf("Image %v has no tag — pin to a specific version", [container.image]) }
"#;

fn container(i: usize, tag: &str) -> Value {
    realistic_container("app", i, &format!("ghcr.io/acme/app-{i}:{tag}"))
}

fn pod(containers: Vec<Value>) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "web", "namespace": "team-a", "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
                   "spec": {"containers": containers, "restartPolicy": "Always"}},
        "oldObject": null, "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}

/// (name, request, violations both rules must find)
fn requests() -> Vec<(&'static str, Value, usize)> {
    vec![
        ("pod-1", pod(vec![container(0, "1.0.0")]), 0),
        (
            "pod-10",
            pod((0..10).map(|i| container(i, "1.0.0")).collect()),
            0,
        ),
        (
            "pod-10-latest",
            pod((0..10).map(|i| container(i, "latest")).collect()),
            10,
        ),
    ]
}

fn rego_engine() -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine
        .add_policy("k8sbanlatestimage.rego".into(), REGO.into())
        .expect("the Rego policy parses");
    engine
}

/// regorus: parse the input, evaluate the rule; the number of violations.
fn rego_violations(engine: &mut regorus::Engine, input: &str) -> usize {
    engine.set_input_json(input).expect("input");
    let result = engine
        .eval_rule("data.k8sbanlatestimage.violation".into())
        .expect("evaluates");
    result.as_set().map(|set| set.len()).unwrap_or(0)
}

fn violations_in(result_set: &[u8]) -> usize {
    let value: Value = serde_json::from_slice(result_set).expect("result set");
    value[0]["result"].as_array().map_or(usize::MAX, Vec::len)
}

fn warm(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    let opa_bytes = std::fs::read(module_path(&gatekeeper(POLICY))).expect("module");
    for (name, request, expected) in requests() {
        let wapc_payload =
            serde_json::to_vec(&json!({"request": request, "settings": {}})).expect("payload");
        let input =
            serde_json::to_string(&json!({"review": request, "parameters": {}})).expect("input");
        eprintln!(
            "{name}: {} bytes of waPC payload, {} of Gatekeeper input",
            wapc_payload.len(),
            input.len()
        );
        let mut group = c.benchmark_group(format!("gatekeeper/{name}"));

        let mut wapc = Loaded::policy(POLICY).bare_instance(Box::new(NoCapabilities));
        let answer = wapc.validate_raw(&wapc_payload).expect("validate");
        assert_eq!(answer.accepted, expected == 0, "{name}: waPC");
        group.bench_function(BenchmarkId::new("wapc-ours", POLICY), |b| {
            b.iter(|| {
                wapc.validate_raw(black_box(&wapc_payload))
                    .expect("validate")
            })
        });

        let mut opa = Loaded::policy(&gatekeeper(POLICY)).bare_instance(Box::new(NoCapabilities));
        let answer = opa.evaluate_raw(0, input.as_bytes()).expect("eval");
        assert_eq!(violations_in(&answer), expected, "{name}: OPA, ours");
        group.bench_function(BenchmarkId::new("opa-ours", POLICY), |b| {
            b.iter(|| {
                opa.evaluate_raw(0, black_box(input.as_bytes()))
                    .expect("eval")
            })
        });

        // The opa-wasm crate serialises its input: hand it pre-serialised JSON. Its API is
        // async; each evaluation is one `block_on` of a current-thread runtime.
        let raw: Box<RawValue> = RawValue::from_string(input.clone()).expect("raw");
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &opa_bytes).expect("compile");
        let mut store = wasmtime::Store::new(&engine, ());
        let policy = runtime.block_on(async {
            opa_wasm::Runtime::new(&mut store, &module)
                .await
                .expect("load")
                .without_data(&mut store)
                .await
                .expect("data")
        });
        let mut evaluate = || -> Value {
            runtime
                .block_on(policy.evaluate(&mut store, "custody/violation", black_box(&raw)))
                .expect("eval")
        };
        assert_eq!(
            evaluate()[0]["result"].as_array().map(Vec::len),
            Some(expected),
            "{name}: opa-wasm"
        );
        group.bench_function(BenchmarkId::new("opa-wasm-crate", POLICY), |b| {
            b.iter(&mut evaluate)
        });

        let mut engine = rego_engine();
        assert_eq!(
            rego_violations(&mut engine, &input),
            expected,
            "{name}: regorus"
        );
        group.bench_function(BenchmarkId::new("regorus", "K8sBanLatestImage"), |b| {
            b.iter(|| rego_violations(&mut engine, black_box(&input)))
        });
        group.finish();
    }
}

criterion_group!(benches, warm);
criterion_main!(benches);
