//! The `custody` binary end to end, with small policies written in WAT.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;

use common::{custody, dist, path, stderr, stdout, wat_string, TestResult};

/// A toy waPC policy: `validate` answers `deny` when the payload contains `needle`, else `accept`;
/// `validate_settings` refuses settings containing "invalid"; `protocol_version` answers "v1".
struct Toy<'a> {
    accept: &'a str,
    deny: &'a str,
    needle: &'a str,
    metadata: Option<Value>,
}

impl Toy<'_> {
    fn wat(&self) -> String {
        let strings = [
            "\"v1\"",
            r#"{"valid":true}"#,
            r#"{"valid":false,"message":"setting \"invalid\" is not allowed"}"#,
            self.accept,
            self.deny,
            self.needle,
            "invalid",
            "validating",
        ];
        let mut data = String::new();
        let mut at = Vec::new();
        let mut offset = 16;
        for text in strings {
            data.push_str(&format!(
                "(data (i32.const {offset}) \"{}\")\n",
                wat_string(text)
            ));
            at.push((offset, text.len()));
            offset += text.len() + 16;
        }
        assert!(offset < 4096, "toy strings too long");
        let s = |i: usize| at[i];
        let custom = self
            .metadata
            .as_ref()
            .map(|m| {
                format!(
                    "(@custom \"io.kubewarden.metadata\" \"{}\")",
                    wat_string(&m.to_string())
                )
            })
            .unwrap_or_default();
        format!(
            r#"(module
  {custom}
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  {data}
  (func $contains (param $ptr i32) (param $len i32) (param $needle i32) (param $nlen i32) (result i32)
    (local $i i32) (local $j i32)
    (if (i32.gt_u (local.get $nlen) (local.get $len)) (then (return (i32.const 0))))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (local.get $i) (i32.sub (local.get $len) (local.get $nlen))))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nlen)) (then (return (i32.const 1))))
            (br_if $mismatch (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $ptr) (local.get $i)) (local.get $j)))
              (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.const 8192) (local.get $len)))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.sub (i32.add (i32.shr_u (local.get $need) (i32.const 16)) (i32.const 1)) (memory.size))))))
    (call $request (i32.const 4096) (i32.const 8192))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $response (i32.const {v1}) (i32.const {v1_len})) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then
        (if (call $contains (i32.const 8192) (local.get $len) (i32.const {invalid}) (i32.const {invalid_len}))
          (then (call $response (i32.const {refuse}) (i32.const {refuse_len})))
          (else (call $response (i32.const {valid}) (i32.const {valid_len}))))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 8))
      (then
        (call $log (i32.const {log}) (i32.const {log_len}))
        (if (call $contains (i32.const 8192) (local.get $len) (i32.const {needle}) (i32.const {needle_len}))
          (then (call $response (i32.const {deny}) (i32.const {deny_len})))
          (else (call $response (i32.const {accept}) (i32.const {accept_len}))))
        (return (i32.const 1))))
    (call $error (i32.const 4096) (local.get $op_len))
    (i32.const 0)))
"#,
            v1 = s(0).0,
            v1_len = s(0).1,
            valid = s(1).0,
            valid_len = s(1).1,
            refuse = s(2).0,
            refuse_len = s(2).1,
            accept = s(3).0,
            accept_len = s(3).1,
            deny = s(4).0,
            deny_len = s(4).1,
            needle = s(5).0,
            needle_len = s(5).1,
            invalid = s(6).0,
            invalid_len = s(6).1,
            log = s(7).0,
            log_len = s(7).1,
        )
    }

    fn write(&self, path: &Path) -> TestResult {
        std::fs::write(path, wat::parse_str(self.wat())?)?;
        Ok(())
    }
}

const DENY_LATEST: &str = r#"{"accepted":false,"message":"container \"app\" (spec.containers[0]): image \"nginx:latest\" uses the latest tag\ncontainer \"side\" (spec.containers[1]): image \"busybox:latest\" uses the latest tag","code":400}"#;

fn ban_latest(metadata: Option<Value>) -> Toy<'static> {
    Toy {
        accept: r#"{"accepted":true}"#,
        deny: DENY_LATEST,
        needle: ":latest",
        metadata,
    }
}

fn workload_rules() -> Value {
    json!({"rules": [
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE", "UPDATE"]},
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"], "operations": ["*"]}
    ], "mutating": false})
}

fn pod(image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn request(object: Value) -> Value {
    json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "resource": {"group": "", "version": "v1", "resource": "pods"},
           "operation": "CREATE", "object": object})
}

#[test]
fn eval_a_bare_request() -> TestResult {
    let dir = common::workdir("custody-cli", "eval_bare")?;
    let policy = dir.join("ban-latest.wasm");
    ban_latest(None).write(&policy)?;
    let request_file = dir.join("request.json");
    std::fs::write(&request_file, request(pod("nginx:latest")).to_string())?;

    let output = custody(&[
        "eval",
        "--policy",
        path(&policy)?,
        "--request",
        path(&request_file)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output))?;
    assert_eq!(answer["accepted"], json!(false));
    assert_eq!(answer["code"], json!(400));
    assert!(answer["message"]
        .as_str()
        .is_some_and(|m| m.contains("nginx:latest")));
    assert!(answer.get("patch").is_none());
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // --verbose shows the guest's log on stderr, stdout stays pure JSON.
    let output = custody(&[
        "eval",
        "--verbose",
        "--policy",
        path(&policy)?,
        "--request",
        path(&request_file)?,
    ])?;
    assert!(
        stderr(&output).contains("validating"),
        "{}",
        stderr(&output)
    );
    serde_json::from_str::<Value>(&stdout(&output))?;
    Ok(())
}

#[test]
fn eval_an_admission_review_in_yaml_with_settings() -> TestResult {
    let dir = common::workdir("custody-cli", "eval_review")?;
    let policy = dir.join("ban-latest.wasm");
    ban_latest(None).write(&policy)?;
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "request": request(pod("nginx:1.25"))});
    let review_file = dir.join("review.yaml");
    std::fs::write(&review_file, serde_yaml_ng::to_string(&review)?)?;
    let settings = dir.join("settings.yaml");
    std::fs::write(&settings, "allowedRegistries:\n  - ghcr.io\n")?;

    let output = custody(&[
        "eval",
        "--policy",
        path(&policy)?,
        "--request",
        path(&review_file)?,
        "--settings",
        path(&settings)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output))?;
    assert_eq!(answer, json!({"accepted": true}));

    // Settings the policy refuses: exit 2, the reason on stderr.
    std::fs::write(&settings, "mode: invalid\n")?;
    let output = custody(&[
        "eval",
        "--policy",
        path(&policy)?,
        "--request",
        path(&review_file)?,
        "--settings",
        path(&settings)?,
    ])?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("setting \"invalid\" is not allowed"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
    Ok(())
}

#[test]
fn eval_adds_a_patch_for_mutations() -> TestResult {
    let dir = common::workdir("custody-cli", "eval_mutation")?;
    let mutated =
        pod("nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let accept = json!({"accepted": true, "mutated_object": mutated}).to_string();
    let policy = dir.join("pin.wasm");
    Toy {
        accept: &accept,
        deny: "{}",
        needle: "never-present",
        metadata: None,
    }
    .write(&policy)?;
    let request_file = dir.join("request.json");
    std::fs::write(&request_file, request(pod("nginx:1.25")).to_string())?;

    let output = custody(&[
        "eval",
        "--policy",
        path(&policy)?,
        "--request",
        path(&request_file)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output))?;
    assert_eq!(answer["mutated_object"], mutated);
    assert_eq!(
        answer["patch"],
        json!([{"op": "replace", "path": "/spec/containers/0/image",
                "value": "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"}])
    );
    Ok(())
}

#[test]
fn eval_fails_clearly_on_host_errors() -> TestResult {
    let dir = common::workdir("custody-cli", "eval_errors")?;
    let not_wasm = dir.join("broken.wasm");
    std::fs::write(&not_wasm, b"definitely not wasm")?;
    let request_file = dir.join("request.json");
    std::fs::write(&request_file, request(pod("nginx")).to_string())?;
    let output = custody(&[
        "eval",
        "--policy",
        path(&not_wasm)?,
        "--request",
        path(&request_file)?,
    ])?;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("broken"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    Ok(())
}

#[test]
fn check_multi_document_manifests() -> TestResult {
    let dir = common::workdir("custody-cli", "check_multi")?;
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    ban_latest(Some(workload_rules())).write(&policies.join("ban-latest.wasm"))?;
    // Applies to everything, never denies.
    Toy {
        accept: r#"{"accepted":true,"warnings":["looked at it"]}"#,
        deny: "{}",
        needle: "never-present",
        metadata: None,
    }
    .write(&policies.join("audit.wasm"))?;
    std::fs::write(policies.join("notes.txt"), "not a policy")?;

    let manifest = dir.join("app.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  containers:
    - name: app
      image: nginx:latest
    - name: side
      image: busybox:latest
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: good
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx:1.25
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
    data:
      image: "nginx:latest"
"#,
    )?;

    let output = custody(&["check", "--policies", path(&policies)?, path(&manifest)?])?;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", stderr(&output));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.first().copied().unwrap_or_default();
    assert!(header.starts_with("RESOURCE"), "{text}");
    for column in ["POLICY", "VERDICT", "DETAIL"] {
        assert!(header.contains(column), "{text}");
    }
    let rows = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // One row per denial line: each offending container gets its own row.
    assert_eq!(rows("DENIED"), 2, "{text}");
    assert!(
        lines.iter().any(|l| l.contains("Pod/default/bad")
            && l.contains("app.yaml:doc1")
            && l.contains("ban-latest")
            && l.contains("DENIED")
            && l.contains("container \"app\"")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DENIED") && l.contains("container \"side\"")),
        "{text}"
    );
    // The empty document is skipped; the Deployment is document 3.
    assert!(
        lines.iter().any(|l| l.contains("Deployment/shop/good (")
            && l.contains("app.yaml:doc3")
            && l.contains("ban-latest")
            && l.contains("allowed")),
        "{text}"
    );
    // The ConfigMap is outside ban-latest's rules, but audit (no rules) sees it.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ConfigMap/default/settings")
                && l.contains("doc4.items[0]")
                && l.contains("audit")
                && l.contains("warning: looked at it")),
        "{text}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("ConfigMap") && l.contains("ban-latest")),
        "{text}"
    );
    // Columns are aligned: VERDICT starts at the same place on every row.
    let verdict_column = header.find("VERDICT").ok_or("no VERDICT column")?;
    let table_rows = lines
        .get(1..lines.len().saturating_sub(1))
        .unwrap_or_default();
    assert_eq!(table_rows.len(), 6, "{text}");
    for line in table_rows {
        let verdict = line.get(verdict_column..).unwrap_or_default();
        assert!(
            verdict.starts_with("allowed") || verdict.starts_with("DENIED"),
            "{text}"
        );
    }
    assert_eq!(
        lines.last().copied(),
        Some("3 resources, 2 policies: 2 allowed, 1 denied"),
        "{text}"
    );

    // With only the policy that does not apply to ConfigMaps.
    let configmap = dir.join("cm.yaml");
    std::fs::write(
        &configmap,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    )?;
    let output = custody(&[
        "check",
        "-p",
        path(&policies.join("ban-latest.wasm"))?,
        path(&configmap)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("not evaluated: no policy applies"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("1 resources, 1 policies: 1 allowed, 0 denied"));
    Ok(())
}

#[test]
fn check_settings_and_input_errors() -> TestResult {
    let dir = common::workdir("custody-cli", "check_errors")?;
    let policy = dir.join("ban-latest.wasm");
    ban_latest(None).write(&policy)?;
    let manifest = dir.join("pod.yaml");
    std::fs::write(&manifest, serde_yaml_ng::to_string(&pod("nginx:1.25"))?)?;

    let output = custody(&["check", "--policies", path(&policy)?, path(&manifest)?])?;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("Pod/shop/web"));

    // Settings refused by the policy: an input error (exit 2), and nothing is evaluated, so no
    // resource is reported or counted as allowed.
    let settings = dir.join("settings.json");
    std::fs::write(&settings, r#"{"mode": "invalid"}"#)?;
    let flag = format!("ban-latest={}", path(&settings)?);
    let output = custody(&[
        "check",
        "-p",
        path(&policy)?,
        "--settings",
        &flag,
        path(&manifest)?,
    ])?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not allowed")
            && stderr(&output).contains("nothing was evaluated"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stdout(&output).contains("allowed") && !stdout(&output).contains("Pod/shop/web"),
        "{}",
        stdout(&output)
    );

    // Settings for a policy that is not there.
    let flag = format!("nope={}", path(&settings)?);
    let output = custody(&[
        "check",
        "-p",
        path(&policy)?,
        "--settings",
        &flag,
        path(&manifest)?,
    ])?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no policy named nope"),
        "{}",
        stderr(&output)
    );

    // A YAML error names the file and the document.
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "apiVersion: v1\nkind: Pod\n---\nkind: [unclosed\n")?;
    let output = custody(&["check", "-p", path(&policy)?, path(&broken)?])?;
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("broken.yaml") && message.contains("document 2"),
        "{message}"
    );
    assert!(stdout(&output).is_empty());
    Ok(())
}

#[test]
fn annotate_round_trip() -> TestResult {
    let dir = common::workdir("custody-cli", "annotate")?;
    let plain = dir.join("plain.wasm");
    ban_latest(None).write(&plain)?;
    let metadata = dir.join("metadata.yml");
    std::fs::write(
        &metadata,
        r#"rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
mutating: false
executionMode: kubewarden-wapc
annotations:
  io.kubewarden.policy.title: ban-latest
"#,
    )?;
    let readme = dir.join("README.md");
    std::fs::write(&readme, "# ban-latest\n\nRefuses `:latest`.\n")?;
    let annotated = dir.join("annotated.wasm");

    let output = custody(&[
        "annotate",
        "--metadata",
        path(&metadata)?,
        "--readme",
        path(&readme)?,
        "--output",
        path(&annotated)?,
        path(&plain)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bytes = std::fs::read(&annotated)?;
    let written = custody_host::read_metadata(&bytes)?;
    assert_eq!(
        written,
        Some(json!({
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
            "mutating": false,
            "executionMode": "kubewarden-wapc",
            "protocolVersion": "v1",
            "annotations": {
                "io.kubewarden.policy.title": "ban-latest",
                "io.kubewarden.policy.usage": "# ban-latest\n\nRefuses `:latest`.\n"
            }
        }))
    );

    // Annotating again replaces the section instead of adding one.
    let again = dir.join("again.wasm");
    let output = custody(&[
        "annotate",
        "--metadata",
        path(&metadata)?,
        "--output",
        path(&again)?,
        path(&annotated)?,
    ])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again_bytes = std::fs::read(&again)?;
    let section_name = b"io.kubewarden.metadata";
    assert_eq!(
        again_bytes
            .windows(section_name.len())
            .filter(|w| w == section_name)
            .count(),
        1
    );
    let again_metadata = custody_host::read_metadata(&again_bytes)?.unwrap_or_default();
    assert!(again_metadata["annotations"]
        .get("io.kubewarden.policy.usage")
        .is_none());

    // The rules are used by check: a Deployment is outside them.
    let manifest = dir.join("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n",
    )?;
    let output = custody(&["check", "-p", path(&annotated)?, path(&manifest)?])?;
    assert!(
        stdout(&output).contains("not evaluated: no policy applies"),
        "{}",
        stdout(&output)
    );

    // Invalid metadata names the field.
    std::fs::write(&metadata, "rules: []\nmutating: false\n")?;
    let output = custody(&[
        "annotate",
        "--metadata",
        path(&metadata)?,
        "--output",
        path(&again)?,
        path(&plain)?,
    ])?;
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("`rules`"), "{}", stderr(&output));
    std::fs::write(&metadata, "rules: [{apiGroups: [''], apiVersions: [v1], resources: [pods], operations: [CREATE]}]\nmutating: maybe\n")?;
    let output = custody(&[
        "annotate",
        "--metadata",
        path(&metadata)?,
        "--output",
        path(&again)?,
        path(&plain)?,
    ])?;
    assert!(
        stderr(&output).contains("`mutating`"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

#[test]
fn gatekeeper_builds_run_with_abi_gatekeeper() -> TestResult {
    let dir = common::workdir("custody-cli", "gatekeeper")?;
    let gatekeeper = dist("ban-latest.gatekeeper.wasm")?;
    let wapc = dist("ban-latest.wasm")?;
    let request_file = dir.join("request.json");
    std::fs::write(&request_file, request(pod("nginx:latest")).to_string())?;

    for abi in [Some("gatekeeper"), None] {
        let mut args = vec![
            "eval",
            "--policy",
            path(&gatekeeper)?,
            "--request",
            path(&request_file)?,
        ];
        args.extend(abi.map(|abi| ["--abi", abi]).into_iter().flatten());
        let output = custody(&args)?;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let answer: Value = serde_json::from_str(&stdout(&output))?;
        assert_eq!(answer["accepted"], json!(false));
        assert_eq!(
            answer["violations"][0]["details"],
            json!({"container": "app", "location": "spec.containers[0]", "image": "nginx:latest"})
        );
        assert_eq!(answer["message"], answer["violations"][0]["msg"]);
    }

    // The flag must match the module.
    let output = custody(&[
        "eval",
        "--abi",
        "gatekeeper",
        "--policy",
        path(&wapc)?,
        "--request",
        path(&request_file)?,
    ])?;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("ban-latest.wasm is a waPC module, and --abi gatekeeper runs OPA modules"),
        "{}",
        stderr(&output)
    );

    // check picks the build the flag names from a directory holding both.
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    std::fs::copy(&gatekeeper, policies.join("ban-latest.gatekeeper.wasm"))?;
    std::fs::copy(&wapc, policies.join("ban-latest.wasm"))?;
    let manifest = dir.join("pod.yaml");
    std::fs::write(&manifest, serde_json::to_string(&pod("nginx:latest"))?)?;
    for abi in ["gatekeeper", "kubewarden"] {
        let output = custody(&[
            "check",
            "--abi",
            abi,
            "--policies",
            path(&policies)?,
            path(&manifest)?,
        ])?;
        assert_eq!(output.status.code(), Some(1), "{abi}: {}", stderr(&output));
        let out = stdout(&output);
        assert!(
            out.contains("1 resources, 1 policies: 0 allowed, 1 denied"),
            "{abi}: {out}"
        );
        assert!(out.contains("ban-latest  DENIED"), "{abi}: {out}");
    }
    Ok(())
}

fn custody_with_cache(args: &[&str], cache: &str) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env("CUSTODY_CACHE_DIR", cache)
        .output()
}

/// The `.cwasm` entries under a cache directory.
fn cache_entries(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for engine in std::fs::read_dir(dir)? {
        for entry in std::fs::read_dir(engine?.path())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "cwasm") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[test]
fn check_caches_compiled_modules_and_stops_on_rejected_settings() -> TestResult {
    let dir = common::workdir("custody-cli", "module_cache")?;
    let cache = dir.join("cache");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    for name in [
        "ban-latest.wasm",
        "ban-latest.gatekeeper.wasm",
        "require-digest.wasm",
        "require-digest.gatekeeper.wasm",
    ] {
        std::fs::copy(dist(name)?, policies.join(name))?;
    }
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        serde_yaml_ng::to_string(&pod(
            "ghcr.io/acme/web:1.0@sha256:4d4e8a3f0c0b8f3b9d4bbd1d5c6a1f2e9b7c3a5d8e6f1a2b3c4d5e6f7a8b9c0d",
        ))?,
    )?;
    let args = ["check", "-p", path(&policies)?, path(&manifest)?];

    // Cold: the two waPC modules are compiled and cached; the Gatekeeper builds in the directory
    // are recognised without compiling them.
    let cold = custody_with_cache(&args, path(&cache)?)?;
    assert_eq!(cold.status.code(), Some(0), "{}", stderr(&cold));
    assert!(stdout(&cold).contains("1 resources, 2 policies: 1 allowed, 0 denied"));
    let entries = cache_entries(&cache)?;
    assert_eq!(entries.len(), 2, "{entries:?}");
    // Warm: the same answer, from the same entries.
    let before: Vec<Vec<u8>> = entries
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let warm = custody_with_cache(&args, path(&cache)?)?;
    assert_eq!(warm.status.code(), Some(0), "{}", stderr(&warm));
    assert_eq!(stdout(&warm), stdout(&cold));
    assert_eq!(cache_entries(&cache)?, entries);
    let after: Vec<Vec<u8>> = entries
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    assert!(before == after, "a warm run rewrote an entry");
    // A corrupted entry: the same answer (the module is compiled again).
    std::fs::write(&entries[0], b"not a compiled module")?;
    let repaired = custody_with_cache(&args, path(&cache)?)?;
    assert_eq!(stdout(&repaired), stdout(&cold), "{}", stderr(&repaired));
    // The Gatekeeper builds have their own entries.
    let mut gatekeeper_args = args.to_vec();
    gatekeeper_args.splice(1..1, ["--abi", "gatekeeper"]);
    let output = custody_with_cache(&gatekeeper_args, path(&cache)?)?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(cache_entries(&cache)?.len(), 4);
    // No cache: nothing written.
    let off = custody_with_cache(&args, "off")?;
    assert_eq!(stdout(&off), stdout(&cold));
    assert_eq!(cache_entries(&cache)?.len(), 4);

    // A release policy that rejects its settings stops the gate: the input-error status, and no
    // resource reported, let alone as allowed, by it or by the other policy.
    let settings = dir.join("settings.json");
    std::fs::write(&settings, r#"{"bannedTags": "latest"}"#)?;
    let flag = format!("ban-latest={}", path(&settings)?);
    let mut rejected_args = args.to_vec();
    rejected_args.splice(1..1, ["--settings", flag.as_str()]);
    let output = custody_with_cache(&rejected_args, path(&cache)?)?;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("policy ban-latest: settings rejected")
            && stderr(&output).contains("nothing was evaluated"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    Ok(())
}
