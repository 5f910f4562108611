//! The `custody` binary against a real registry (Debian's docker-registry on loopback): `eval` and
//! `check` answer a policy's `oci` host calls from it (a small WAT policy that makes one call and
//! logs the answer), `--capabilities` answers them offline instead, and `attestations export`
//! exports cosign signatures (signed by the reference signer, Python's `cryptography`) with the
//! attestations.

use std::collections::BTreeMap;
use std::path::Path;

use custody_sdk::host::VerifyRequest;
use custody_sigstore::cosign::SimpleSigning;
use custody_sigstore::{verify, Artifact, Bundle, Policy, TrustedRoot};
use custody_test_support::cosign::{generate_key, sign_and_push, KeyKind, SignatureLayer};
use custody_test_support::cosign_layout::{read_cosign_layout, slsa_github_generator_layout};
use custody_test_support::registry::Registry;
use serde_json::{json, Value};

mod common;

use common::{custody, path, stderr, stdout, wat_string, TestResult};

const REPO: &str = "acme/app";

/// A waPC policy whose `validate` makes one host call (`kubewarden`, `namespace`, `operation`,
/// `payload`), logs the answer (or the host's error) and accepts (or denies); its settings are
/// always valid.
fn host_call_policy(namespace: &str, operation: &str, payload: &str, file: &Path) -> TestResult {
    let strings = [
        "kubewarden",
        namespace,
        operation,
        payload,
        r#"{"accepted":true}"#,
        r#"{"accepted":false,"message":"the host call failed"}"#,
        "\"v1\"",
        r#"{"valid":true}"#,
    ];
    let mut data = String::new();
    let mut at = Vec::new();
    let mut offset = 8192;
    for text in strings {
        data.push_str(&format!(
            "(data (i32.const {offset}) \"{}\")\n",
            wat_string(text)
        ));
        at.push((offset, text.len()));
        offset += text.len() + 16;
    }
    if offset >= 65536 {
        return Err("the policy's strings are too long".into());
    }
    let s = |i: usize| at[i];
    let wat = format!(
        r#"(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 32)
  {data}
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32)
    (call $request (i32.const 4096) (i32.const 65536))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $response (i32.const {v1}) (i32.const {v1_len})) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $response (i32.const {valid}) (i32.const {valid_len})) (return (i32.const 1))))
    (if (call $host_call (i32.const {binding}) (i32.const {binding_len})
                         (i32.const {namespace}) (i32.const {namespace_len})
                         (i32.const {operation}) (i32.const {operation_len})
                         (i32.const {payload}) (i32.const {payload_len}))
      (then
        (local.set $n (call $response_len))
        (call $host_response (i32.const 131072))
        (call $log (i32.const 131072) (local.get $n))
        (call $response (i32.const {accept}) (i32.const {accept_len})))
      (else
        (local.set $n (call $error_len))
        (call $host_error (i32.const 131072))
        (call $log (i32.const 131072) (local.get $n))
        (call $response (i32.const {deny}) (i32.const {deny_len}))))
    (i32.const 1)))"#,
        binding = s(0).0,
        binding_len = s(0).1,
        namespace = s(1).0,
        namespace_len = s(1).1,
        operation = s(2).0,
        operation_len = s(2).1,
        payload = s(3).0,
        payload_len = s(3).1,
        accept = s(4).0,
        accept_len = s(4).1,
        deny = s(5).0,
        deny_len = s(5).1,
        v1 = s(6).0,
        v1_len = s(6).1,
        valid = s(7).0,
        valid_len = s(7).1,
    );
    std::fs::write(file, wat::parse_str(wat)?)?;
    Ok(())
}

/// A CREATE request for a pod running `image`, written to `file`.
fn pod_request(image: &str, file: &Path) -> TestResult {
    let request = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                   "spec": {"containers": [{"name": "app", "image": image}]}}});
    std::fs::write(file, request.to_string())?;
    Ok(())
}

/// `custody eval --verbose` of `policy` on a pod request: the answer, and the policy's log.
fn eval(
    dir: &Path,
    policy: &Path,
    extra: &[&str],
) -> Result<(Value, String), Box<dyn std::error::Error>> {
    let request = dir.join("request.json");
    pod_request("nginx", &request)?;
    let mut args = vec![
        "eval",
        "--verbose",
        "--policy",
        path(policy)?,
        "--request",
        path(&request)?,
    ];
    args.extend_from_slice(extra);
    let output = custody(&args)?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    Ok((serde_json::from_str(&stdout(&output))?, stderr(&output)))
}

fn verify_request(image: &str, pem: &str) -> String {
    serde_json::to_string(&VerifyRequest::SigstorePubKeyVerify {
        image: image.to_owned(),
        pub_keys: vec![pem.to_owned()],
        annotations: None,
    })
    .unwrap_or_default()
}

#[test]
fn eval_answers_oci_calls_from_the_registry() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image(REPO, "v1", "an image");
    let image = registry.image(REPO, "v1");
    let dir = common::workdir("custody-cli-registry", "eval_oci")?;
    let policy = dir.join("digest.wasm");
    host_call_policy(
        "oci",
        "v1/manifest_digest",
        &json!(image).to_string(),
        &policy,
    )?;
    let (answer, log) = eval(&dir, &policy, &[])?;
    assert_eq!(answer["accepted"], json!(true), "{log}");
    assert!(
        log.contains(&format!(r#"{{"digest":"{digest}"}}"#)),
        "{log}"
    );

    // --no-plain-http: HTTPS even to loopback, which this registry does not speak.
    let (answer, log) = eval(
        &dir,
        &policy,
        &["--no-plain-http", "--registry-timeout", "5"],
    )?;
    assert_eq!(answer["accepted"], json!(false), "{log}");
    assert!(log.contains("no HTTPS answer"), "{log}");
    Ok(())
}

#[test]
fn eval_verifies_cosign_signatures() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image(REPO, "v1", "a signed image");
    let image = registry.image(REPO, "v1");
    let key = generate_key(KeyKind::P256);
    let dir = common::workdir("custody-cli-registry", "eval_verify")?;
    let policy = dir.join("verify.wasm");
    host_call_policy(
        "oci",
        "v2/verify",
        &verify_request(&image, &key.public_pem),
        &policy,
    )?;

    // Not signed yet.
    let (answer, log) = eval(&dir, &policy, &[])?;
    assert_eq!(answer["accepted"], json!(false), "{log}");
    assert!(log.contains("no valid signature by pub_keys[0]"), "{log}");

    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(
            &key,
            &format!("{}/{REPO}", registry.host()),
        )],
    );
    let (answer, log) = eval(&dir, &policy, &[])?;
    assert_eq!(answer["accepted"], json!(true), "{log}");
    assert!(
        log.contains(&format!(r#"{{"is_trusted":true,"digest":"{digest}"}}"#)),
        "{log}"
    );
    Ok(())
}

#[test]
fn capabilities_answer_offline_instead() -> TestResult {
    // Nothing listens on port 9 of loopback: a registry call would fail.
    let image = "127.0.0.1:9/acme/app:v1";
    let dir = common::workdir("custody-cli-registry", "eval_scripted")?;
    let policy = dir.join("digest.wasm");
    host_call_policy(
        "oci",
        "v1/manifest_digest",
        &json!(image).to_string(),
        &policy,
    )?;
    let script = dir.join("capabilities.json");
    std::fs::write(
        &script,
        json!([{"namespace": "oci", "operation": "v1/manifest_digest", "request": image,
                "response": {"digest": "sha256:scripted"}}])
        .to_string(),
    )?;
    let (answer, log) = eval(&dir, &policy, &["--capabilities", path(&script)?])?;
    assert_eq!(answer["accepted"], json!(true), "{log}");
    assert!(log.contains(r#"{"digest":"sha256:scripted"}"#), "{log}");

    // `check` takes a script too.
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec: {}\n",
    )?;
    let output = custody(&[
        "check",
        "--capabilities",
        path(&script)?,
        "-p",
        path(&policy)?,
        path(&manifest)?,
    ])?;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    Ok(())
}

#[test]
fn check_answers_oci_calls_from_the_registry() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image(REPO, "v1", "checked image");
    let key = generate_key(KeyKind::Ed25519);
    let dir = common::workdir("custody-cli-registry", "check_verify")?;
    let policy = dir.join("verify.wasm");
    host_call_policy(
        "oci",
        "v2/verify",
        &verify_request(&registry.image(REPO, "v1"), &key.public_pem),
        &policy,
    )?;
    let manifest = dir.join("pods.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec: {}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec: {}\n",
    )?;
    let (policy, manifest) = (path(&policy)?, path(&manifest)?);
    let run = || custody(&["check", "--verbose", "-p", policy, manifest]);
    let output = run()?;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("0 allowed, 2 denied"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("no valid signature"),
        "{}",
        stderr(&output)
    );

    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[SignatureLayer::new(&key, "acme/app")],
    );
    let output = run()?;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("2 allowed, 0 denied"),
        "{}",
        stdout(&output)
    );
    Ok(())
}

#[test]
fn help_documents_the_registry_flags() -> TestResult {
    for command in ["eval", "check"] {
        let output = custody(&[command, "--help"])?;
        let help = stdout(&output);
        for needle in [
            "--plain-http",
            "--no-plain-http",
            "--registry-timeout",
            "--capabilities",
            "v2/verify",
            "loopback",
        ] {
            assert!(help.contains(needle), "{command}: {needle:?} not in {help}");
        }
    }
    let output = custody(&["attestations", "export", "--help"])?;
    let help = stdout(&output);
    for needle in [
        "sig-<layer index>.sigstore.json",
        "signatures",
        "--no-plain-http",
    ] {
        assert!(help.contains(needle), "{needle:?} not in {help}");
    }
    Ok(())
}

/// The v1.10.0 slsa-github-generator attestation as a Sigstore bundle, restated as a cosign v3
/// image signature would be annotated (its predicate type is not checked by the export).
fn bundle_text() -> String {
    let layout = read_cosign_layout(&slsa_github_generator_layout("v1.10.0"));
    let layer = layout
        .attestations
        .first()
        .unwrap_or_else(|| panic!("no attestation"));
    custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string()
}

#[test]
fn export_includes_signatures() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image(REPO, "v1", "a signed image");
    let image = registry.image(REPO, "v1");
    let key = generate_key(KeyKind::P256);
    sign_and_push(
        &registry,
        REPO,
        &digest,
        &[
            SignatureLayer::new(&key, &format!("{}/{REPO}", registry.host())),
            SignatureLayer::new(&key, "mirror.example/app").annotations(json!({"env": "prod"})),
        ],
    );
    let bundle = bundle_text();
    let referrer = registry.push_bundle_referrer_annotated(
        REPO,
        &digest,
        bundle.as_bytes(),
        &[(
            "dev.sigstore.bundle.predicateType",
            "https://sigstore.dev/cosign/sign/v1",
        )],
    );

    let output = custody(&["attestations", "export", "--output", "json", &image])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let configmap: Value = serde_json::from_str(&stdout(&output))?;
    let data: BTreeMap<String, String> = serde_json::from_value(configmap["data"].clone())?;
    let referrer_key = format!(
        "referrer-{}.sigstore.json",
        referrer
            .strip_prefix("sha256:")
            .and_then(|h| h.get(..16))
            .unwrap_or_default()
    );
    assert_eq!(
        data.keys().cloned().collect::<Vec<_>>(),
        [
            referrer_key.clone(),
            "sig-0.sigstore.json".to_owned(),
            "sig-1.sigstore.json".to_owned()
        ]
    );
    assert_eq!(data[&referrer_key], bundle);
    // Each signature bundle verifies with the key for its payload, which names the image.
    let policy = Policy::public_key_from_pem(&key.public_pem, false)?;
    let root = TrustedRoot::public_good()?;
    for (key_name, annotations) in [
        ("sig-0.sigstore.json", BTreeMap::new()),
        (
            "sig-1.sigstore.json",
            BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        ),
    ] {
        let parsed = Bundle::from_json(data[key_name].as_bytes())?;
        let message = parsed.message().ok_or("no message")?;
        verify(&parsed, Artifact::Bytes(message), &policy, &root, None)?;
        let signed = SimpleSigning::from_json(message)?;
        assert_eq!(signed.docker_manifest_digest, digest);
        signed.check_annotations(&annotations)?;
    }

    // Neither attestations nor signatures: exit 1, saying where it looked.
    let bare = registry.push_test_image(REPO, "bare", "nothing attached");
    let output = custody(&["attestations", "export", &registry.image(REPO, "bare")])?;
    assert_eq!(output.status.code(), Some(1));
    let hex = bare.strip_prefix("sha256:").unwrap_or_default();
    for needle in [
        "no attestations or signatures found".to_owned(),
        format!("sha256-{hex}.att: not found"),
        format!("sha256-{hex}.sig: not found"),
    ] {
        assert!(
            stderr(&output).contains(&needle),
            "{needle:?}: {}",
            stderr(&output)
        );
    }
    Ok(())
}
