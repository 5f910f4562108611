//! The SDK's Sigstore verifier compiled to wasm (the `sigstore-verify` probe, a waPC module) and
//! run in the wasmtime host, on every case of the sigstore-conformance `bundle-verify` suite:
//! each case must be classified right, and get exactly the answer the same verifier gives natively.

use custody_host::{HostError, Limits, NoCapabilities};
use custody_host_tests::sigstore_cases::{self, Case};
use custody_host_tests::{probe_path, sigstore_probe_request, Loaded};
use serde_json::Value;

fn probe() -> Loaded {
    Loaded::from_path(&probe_path("sigstore-verify"), Limits::default())
}

fn verify_in_wasm(
    instance: &mut custody_host::PolicyInstance,
    case: &Case,
    now: i64,
) -> Result<Value, HostError> {
    let answer = instance.call("verify", &sigstore_probe_request(case, now))?;
    Ok(serde_json::from_slice(&answer).unwrap_or_else(|e| panic!("{}: answer: {e}", case.name)))
}

#[test]
fn conformance_suite_in_wasm_matches_native() {
    let loaded = probe();
    // One warm instance for every case, as a host keeps it: answers must not depend on earlier
    // calls, and no case may trap (a trap poisons the instance and fails the next case too).
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let now = sigstore_cases::now();
    let cases = sigstore_cases::cases();

    let mut right = 0;
    let mut wrong = Vec::new();
    let mut differ = Vec::new();
    for case in &cases {
        let wasm = verify_in_wasm(&mut instance, case, now)
            .unwrap_or_else(|e| panic!("{}: the probe failed: {e}", case.name));
        let native = sigstore_verify_probe::answer(case.verify_native(now));
        let verified = wasm["ok"] == Value::Bool(true);
        let ok = verified != case.must_fail;
        let outcome = if verified {
            "verified".to_string()
        } else {
            format!("{}: {}", wasm["kind"], wasm["error"])
        };
        println!(
            "{} {}: {outcome}",
            if ok { "ok  " } else { "MISS" },
            case.name
        );
        if ok {
            right += 1;
        } else {
            wrong.push(format!("{}: {outcome}", case.name));
        }
        if wasm != native {
            differ.push(format!("{}: wasm {wasm}, native {native}", case.name));
        }
    }
    println!(
        "\nin wasm: {right} of {} classified right; {} answers differ from native",
        cases.len(),
        differ.len()
    );
    assert!(wrong.is_empty(), "misclassified in wasm: {wrong:#?}");
    assert!(differ.is_empty(), "wasm and native differ: {differ:#?}");
}

#[test]
fn happy_path_answer_carries_time_and_identity() {
    let loaded = probe();
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let case = Case::read(&sigstore_cases::suite().join("happy-path-v0.3"));
    let answer = verify_in_wasm(&mut instance, &case, sigstore_cases::now()).expect("verify");
    assert_eq!(answer["ok"], true, "{answer}");
    assert!(answer["signing_time"]["secs"].as_i64().unwrap_or(0) > 1_600_000_000);
    assert_eq!(answer["identity"]["issuer"], sigstore_cases::DEFAULT_ISSUER);
    assert!(
        answer["identity"]["sans"]
            .as_array()
            .is_some_and(|sans| sans.iter().any(|s| s == sigstore_cases::DEFAULT_IDENTITY)),
        "{answer}"
    );
    // Before the log entry was made, the same bundle is refused.
    let early = verify_in_wasm(&mut instance, &case, 1_600_000_000).expect("verify");
    assert_eq!(early["ok"], false, "{early}");
    assert_eq!(early["kind"], "invalid", "{early}");
}

#[test]
fn unreadable_requests_and_unknown_operations_are_wapc_errors() {
    let loaded = probe();
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    for (operation, payload) in [
        ("verify", &b"not json"[..]),
        ("verify", br#"{"bundle": "{}"}"#),
        (
            "verify",
            br#"{"bundle": "{}", "artifact": "!!", "policy": {"key_pem": ""}, "now": 0}"#,
        ),
        ("validate", b"{}"),
    ] {
        let error = instance
            .call(operation, payload)
            .expect_err("must be a waPC error");
        assert!(
            matches!(error, HostError::GuestError { .. }),
            "{operation}: {error}"
        );
    }
    // The instance is still usable after errors.
    assert!(!instance.is_poisoned());
}
