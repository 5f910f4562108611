//! The Gatekeeper-mode builds (`dist/<policy>.gatekeeper.wasm`, OPA wasm ABI) against the waPC
//! builds on every fixture, in three hosts: ours (driven like Kubewarden's engine: an evaluation
//! context per call), the `opa-wasm` crate and the OPA npm SDK under Node.js (both take the ABI
//! 1.2 `opa_eval` path).

use std::path::Path;
use std::process::Command;

use custody_host::{Abi, GatekeeperViolation, HostError, Limits, NoCapabilities, PolicyInstance};
use custody_host_tests::{
    fixtures, gatekeeper, gatekeeper_native, module_path, policies, repo_root, Fixture, Loaded,
};
use serde_json::{json, Value};

/// What the Gatekeeper build answers where the waPC build would have asked the host to resolve a
/// tag: that mode has no host capabilities, so the tag is denied (fail closed).
const NO_CAPABILITY: &str = "host capability oci/v1/manifest_digest is not available";

/// Our host's Gatekeeper evaluation of every fixture of `policy`, on one warm instance.
fn ours(policy: &str, cases: &[Fixture]) -> Vec<Vec<GatekeeperViolation>> {
    let mut instance = Loaded::policy(&gatekeeper(policy)).instance(Box::new(NoCapabilities));
    cases
        .iter()
        .map(|f| {
            instance
                .gatekeeper(&f.request, &f.expected.settings)
                .unwrap_or_else(|e| panic!("{policy}/{}: {e}", f.name))
        })
        .collect()
}

/// A result set as the hosts answer it: `[{"result": [violations]}]`.
fn result_set(violations: &[GatekeeperViolation]) -> Value {
    json!([{ "result": violations }])
}

#[test]
fn both_builds_agree_on_every_fixture() {
    for &policy in policies() {
        let cases = fixtures(policy);
        let wapc = Loaded::policy(policy);
        for (f, violations) in cases.iter().zip(ours(policy, &cases)) {
            let name = format!("{policy}/{}", f.name);
            let input = serde_json::to_vec(&f.gatekeeper_input()).expect("input");
            assert_eq!(
                violations,
                gatekeeper_native(policy, &input),
                "{name}: wasm and native"
            );

            let response = wapc
                .instance(Box::new(f.capabilities()))
                .validate(&f.request, &f.expected.settings)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let wapc_lines: Vec<&str> = response
                .message
                .as_deref()
                .map(|m| m.lines().collect())
                .unwrap_or_default();
            let msgs: Vec<&str> = violations.iter().map(|v| v.msg.as_str()).collect();
            if f.expected.capabilities.is_none() {
                // The same verdict and the same messages, one violation per line (settings are
                // the constraint's parameters here, and the path of a malformed field starts at
                // `review`, where the waPC payload has `request`).
                assert_eq!(response.accepted, violations.is_empty(), "{name}");
                let msgs: Vec<String> = msgs
                    .iter()
                    .map(|m| {
                        m.replace(": review.", ": request.")
                            .replace("invalid parameters: ", "invalid settings: ")
                    })
                    .collect();
                assert_eq!(msgs, wapc_lines, "{name}");
            } else {
                // Tags the waPC build resolves through the host are denied here.
                assert!(!violations.is_empty(), "{name}: must fail closed");
                for msg in &msgs {
                    assert!(
                        wapc_lines.contains(msg) || msg.contains(NO_CAPABILITY),
                        "{name}: unexpected {msg:?}"
                    );
                }
            }
            for v in &violations {
                let details = v.details.as_ref().unwrap_or(&Value::Null);
                if v.msg.starts_with("container ") {
                    // A container violation names the container in `details` too.
                    let location = details["location"].as_str().unwrap_or_default();
                    assert!(
                        v.msg.contains(&format!("({location}): ")) && !location.is_empty(),
                        "{name}: {v:?}"
                    );
                    assert!(details["container"].is_string(), "{name}: {v:?}");
                }
            }
        }
    }
}

#[test]
fn the_opa_wasm_crate_runs_every_fixture() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    for &policy in policies() {
        let cases = fixtures(policy);
        let expected = ours(policy, &cases);
        let bytes = std::fs::read(module_path(&gatekeeper(policy))).expect("module");
        runtime.block_on(async {
            let engine = wasmtime::Engine::default();
            let module = wasmtime::Module::new(&engine, &bytes).expect("compile");
            let mut store = wasmtime::Store::new(&engine, ());
            let runtime = opa_wasm::Runtime::new(&mut store, &module)
                .await
                .unwrap_or_else(|e| panic!("{policy}: opa-wasm cannot load the module: {e:#}"));
            assert_eq!(runtime.default_entrypoint(), Some("custody/violation"));
            let loaded = runtime.without_data(&mut store).await.expect("data");
            for (f, want) in cases.iter().zip(&expected) {
                let got: Value = loaded
                    .evaluate(&mut store, "custody/violation", &f.gatekeeper_input())
                    .await
                    .unwrap_or_else(|e| panic!("{policy}/{}: {e:#}", f.name));
                assert_eq!(got, result_set(want), "{policy}/{}", f.name);
            }
        });
    }
}

#[test]
fn the_opa_npm_sdk_runs_every_fixture() {
    let js = repo_root().join("host-tests").join("js");
    assert!(
        js.join("node_modules/@open-policy-agent/opa-wasm").is_dir(),
        "the OPA npm SDK is not installed: run `make setup` (npm ci in {})",
        js.display()
    );
    let scratch = std::env::temp_dir().join(format!("custody-npm-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    for &policy in policies() {
        let cases = fixtures(policy);
        let expected = ours(policy, &cases);
        let inputs: Vec<Value> = cases.iter().map(Fixture::gatekeeper_input).collect();
        let inputs_path = scratch.join(format!("{policy}.json"));
        std::fs::write(&inputs_path, serde_json::to_vec(&inputs).expect("inputs")).expect("write");
        let output = node(
            &js.join("evaluate.js"),
            &module_path(&gatekeeper(policy)),
            &inputs_path,
        );
        assert_eq!(output["entrypoints"], json!({"custody/violation": 0}));
        assert_eq!(output["minorVersion"], 2);
        let results = output["results"].as_array().expect("results");
        assert_eq!(results.len(), cases.len(), "{policy}");
        for ((f, want), got) in cases.iter().zip(&expected).zip(results) {
            assert_eq!(*got, result_set(want), "{policy}/{}", f.name);
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
}

/// Runs the npm SDK script (bounded: one process per policy) and reads its JSON output.
fn node(script: &Path, module: &Path, inputs: &Path) -> Value {
    let output = Command::new("node")
        .arg(script)
        .arg(module)
        .arg(inputs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (install Node.js: `make setup`): {e}"));
    assert!(
        output.status.success(),
        "node {}: {}\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node printed JSON")
}

#[test]
fn the_modules_speak_the_abi_hosts_expect() {
    for &policy in policies() {
        let loaded = Loaded::policy(&gatekeeper(policy));
        assert_eq!(loaded.module.abi(), Abi::Opa);
        let module = loaded.module.module();
        let imports: Vec<(String, String)> = module
            .imports()
            .map(|i| (i.module().to_owned(), i.name().to_owned()))
            .collect();
        for (module_name, name) in &imports {
            assert!(
                module_name == "env" && (name == "memory" || name == "opa_abort"),
                "{policy}: unexpected import {module_name}.{name}"
            );
        }
        let memory = module
            .imports()
            .find_map(|i| i.ty().memory().cloned())
            .expect("env.memory is imported");
        assert!(
            memory.minimum() <= 5,
            "{policy}: asks {} pages",
            memory.minimum()
        );
        assert_eq!(memory.maximum(), None, "{policy}: must be allowed to grow");
        for export in [
            "eval",
            "opa_eval",
            "builtins",
            "entrypoints",
            "opa_eval_ctx_new",
            "opa_eval_ctx_set_input",
            "opa_eval_ctx_set_data",
            "opa_eval_ctx_set_entrypoint",
            "opa_eval_ctx_get_result",
            "opa_malloc",
            "opa_free",
            "opa_json_parse",
            "opa_json_dump",
            "opa_heap_ptr_get",
            "opa_heap_ptr_set",
            "opa_wasm_abi_version",
            "opa_wasm_abi_minor_version",
        ] {
            assert!(module.get_export(export).is_some(), "{policy}: no {export}");
        }
        let instance = loaded.instance(Box::new(NoCapabilities));
        assert_eq!(instance.opa_abi_minor_version(), Some(2));
        assert_eq!(
            instance.entrypoints(),
            vec![("custody/violation".to_owned(), 0)]
        );

        let meta = loaded.module.metadata().expect("metadata");
        assert_eq!(meta["executionMode"], "gatekeeper", "{policy}");
        assert_eq!(meta["mutating"], false, "{policy}");
        assert!(meta.get("hostCapabilities").is_none(), "{policy}");
        assert!(meta.get("protocolVersion").is_none(), "{policy}");
    }
}

#[test]
fn bad_input_is_a_violation_never_an_allow() {
    let loaded = Loaded::policy(&gatekeeper("ban-latest"));
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let pod = |containers: Value| {
        json!({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
               "object": {"spec": {"containers": containers}}})
    };
    fn run(instance: &mut PolicyInstance, review: &Value, parameters: &Value) -> Vec<String> {
        let violations = instance.gatekeeper(review, parameters).expect("evaluates");
        violations.into_iter().map(|v| v.msg).collect()
    }

    assert_eq!(
        run(
            &mut instance,
            &pod(json!([{"name": "a", "image": "nginx:1.27"}])),
            &json!({"bannedTags": "x"})
        ),
        ["invalid parameters: bannedTags: invalid type: string \"x\", expected a sequence"]
    );
    assert_eq!(
        run(
            &mut instance,
            &pod(json!([{"name": "a", "image": "nginx:1.27"}])),
            &json!({"nope": 1})
        ),
        ["invalid parameters: nope: unknown field `nope`, expected `bannedTags` or `strict`"]
    );
    assert_eq!(
        run(&mut instance, &pod(json!([{"name": "a", "image": 7}])), &json!({})),
        ["cannot read the admission request: review.object.spec.containers[0].image: invalid type: integer `7`, expected a string"]
    );
    assert_eq!(
        run(&mut instance, &json!("not a review"), &json!({})),
        ["cannot read the admission request: review: invalid type: string \"not a review\", expected struct RequestView"]
    );
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx"}))
        .collect();
    let answer = run(&mut instance, &pod(Value::Array(many)), &json!({}));
    assert_eq!(answer.len(), 51, "50 listed and one counting the rest");
    assert_eq!(
        answer.last().map(String::as_str),
        Some("... and 9950 more violations")
    );
    // 100 000 nested arrays: parameters are read as a JSON value, where serde_json's recursion
    // limit refuses them; skipped data (metadata) is skipped without recursion, and the
    // containers are still read.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut first_msg = |input: String| -> String {
        let answer = instance
            .evaluate_raw(0, input.as_bytes())
            .expect("evaluates");
        let answer: Value = serde_json::from_slice(&answer).expect("JSON");
        answer[0]["result"][0]["msg"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let msg = first_msg(format!(
        r#"{{"review": {{"kind": {{"kind": "Pod"}}, "object": {{}}}}, "parameters": {{"x": {deep}}}}}"#
    ));
    assert!(msg.contains("recursion limit exceeded"), "{msg}");
    let msg = first_msg(format!(
        r#"{{"review": {{"kind": {{"kind": "Pod"}}, "object": {{"metadata": {{"labels": {deep}}},
            "spec": {{"containers": [{{"name": "a", "image": "nginx"}}]}}}}}}}}"#
    ));
    assert!(
        msg.starts_with("container \"a\" (spec.containers[0]): image \"nginx\""),
        "{msg}"
    );
    // 10 MB in one annotation: memory grows for it, and the next call still works.
    let big = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "object": {"metadata": {"annotations": {"a": "x".repeat(10 << 20)}},
                   "spec": {"containers": [{"name": "a", "image": "nginx:latest"}]}}});
    assert_eq!(run(&mut instance, &big, &json!({})).len(), 1);
    assert!(run(
        &mut instance,
        &pod(json!([{"name": "a", "image": "nginx:1.27"}])),
        &json!({})
    )
    .is_empty());

    // No input at all.
    let answer = instance.evaluate_raw(0, b"null").expect("evaluates");
    let answer: Value = serde_json::from_slice(&answer).expect("JSON");
    assert!(answer[0]["result"][0]["msg"]
        .as_str()
        .is_some_and(|m| m.starts_with("cannot read the admission request")));
}

#[test]
fn protocol_misuse_is_refused() {
    let loaded = Loaded::policy(&gatekeeper("ban-latest"));
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    // Text that is not JSON: `opa_json_parse` answers 0, the host says so.
    let error = instance.evaluate_raw(0, b"{not json").expect_err("refused");
    assert!(
        matches!(&error, HostError::BadResponse { message, .. } if message.contains("opa_json_parse")),
        "{error}"
    );
    // An entrypoint the module does not have: the guest aborts through `opa_abort`.
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let error = instance.evaluate_raw(7, b"{}").expect_err("refused");
    assert!(
        matches!(&error, HostError::GuestError { message, .. } if message.contains("no entrypoint 7")),
        "{error}"
    );
    // waPC operations are not this ABI's.
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let error = instance.validate_settings(&json!({})).expect_err("refused");
    assert!(matches!(error, HostError::NotForAbi { abi: Abi::Opa, .. }));
}

#[test]
fn the_heap_is_reset_between_evaluations() {
    let loaded = Loaded::with_limits(&gatekeeper("require-digest"), Limits::default());
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let request = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE", "object": {"spec": {"containers": [
            {"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "redis"}]}}});
    instance.gatekeeper(&request, &json!({})).expect("first");
    let after_first = instance.memory_size();
    for _ in 0..500 {
        let violations = instance.gatekeeper(&request, &json!({})).expect("warm");
        assert_eq!(violations.len(), 2);
    }
    assert_eq!(instance.memory_size(), after_first, "memory must not grow");
}
