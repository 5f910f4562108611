//! The SDK's Sigstore verifier compiled to wasm (the `sigstore-verify` probe, a waPC module) and
//! run in the wasmtime host, on every case of the sigstore-conformance `bundle-verify` suite:
//! each case must be classified right, and get exactly the answer the same verifier gives natively.

use custody_host::{HostError, Limits, NoCapabilities};
use custody_host_tests::cosign_layout;
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
    assert_eq!(early["kind"], "transparency-log", "{early}");
    assert!(
        early["error"].as_str().is_some_and(
            |e| e.starts_with("tlog entry: integrated time") && e.contains("is in the future")
        ),
        "{early}"
    );
}

const GENERATOR_WORKFLOW: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";
const GENERATOR_REGEX: &str = r"https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/generator_container_slsa3\.yml@refs/tags/v\d+\.\d+\.\d+";

/// Real SLSA provenance (slsa-github-generator, saved by cosign), converted to bundles natively
/// and verified in wasm by the image digest alone, without a clock, with identity patterns: the
/// same answers as natively, with the certificate's build extensions.
#[test]
fn slsa_provenance_verifies_in_wasm_by_digest() {
    let loaded = probe();
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    for version in cosign_layout::SLSA_GITHUB_GENERATOR_VERSIONS {
        let layout = cosign_layout::read_cosign_layout(
            &cosign_layout::slsa_github_generator_layout(version),
        );
        let layer = &layout.attestations[0];
        let bundle =
            custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
                .expect("bundle");
        let digest = layout
            .image_digest
            .trim_start_matches("sha256:")
            .to_string();
        let request = |subject: Value, digest: &str| {
            serde_json::to_vec(&serde_json::json!({
                "bundle": bundle.to_string(),
                "artifact_sha256": digest,
                "policy": {
                    "issuer": "https://token.actions.githubusercontent.com",
                    "subject": subject,
                },
                "now": null,
            }))
            .expect("request")
        };
        let call = |instance: &mut custody_host::PolicyInstance, request: &[u8]| {
            let wasm = instance.call("verify", request).expect("verify");
            let native = sigstore_verify_probe::handle("verify", request).expect("verify natively");
            assert_eq!(wasm, native, "{version}: wasm and native differ");
            serde_json::from_slice::<Value>(&wasm).expect("answer")
        };

        let regex = serde_json::json!({ "regex": GENERATOR_REGEX });
        let answer = call(&mut instance, &request(regex, &digest));
        assert_eq!(answer["ok"], true, "{version}: {answer}");
        let id = &answer["identity"];
        assert_eq!(
            id["source_repository_uri"],
            "https://github.com/slsa-framework/example-package"
        );
        assert_eq!(id["runner_environment"], "github-hosted");
        assert!(
            id["build_signer_uri"]
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("@refs/tags/{version}"))),
            "{answer}"
        );

        let prefix =
            serde_json::json!({"prefix": "https://github.com/slsa-framework/example-package/"});
        let answer = call(&mut instance, &request(prefix, &digest));
        assert_eq!(answer["kind"], "identity", "{version}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("identity mismatch: certificate subject")),
            "{answer}"
        );

        let exact = Value::from(format!("{GENERATOR_WORKFLOW}@refs/tags/{version}"));
        let other = format!("{}0", &digest[..63]);
        let other = if other == digest {
            format!("{}1", &digest[..63])
        } else {
            other
        };
        let answer = call(&mut instance, &request(exact, &other));
        assert_eq!(answer["kind"], "signature", "{version}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a subject")),
            "{answer}"
        );
    }
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
        (
            "verify",
            br#"{"bundle": "{}", "artifact_sha256": "00", "policy": {"key_pem": ""}}"#,
        ),
        (
            "verify",
            br#"{"bundle": "{}", "artifact": "", "artifact_sha256": "00", "policy": {"key_pem": ""}}"#,
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
