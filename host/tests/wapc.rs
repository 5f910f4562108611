//! The host against small hand-written waPC guests (WAT).

use custody_host::{
    Abi, Host, HostError, Limits, NoCapabilities, PolicyInstance, PolicyModule, RecordedCall,
    ScriptedCall, ScriptedCapabilities, SettingsValidation,
};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn host() -> Result<Host, HostError> {
    Host::new(Limits::default())
}

fn module(
    host: &Host,
    name: &str,
    wat_text: &str,
) -> Result<PolicyModule, Box<dyn std::error::Error>> {
    let bytes = wat::parse_str(wat_text)?;
    Ok(PolicyModule::from_bytes(host, name, &bytes)?)
}

fn instance(
    host: &Host,
    name: &str,
    wat_text: &str,
) -> Result<PolicyInstance, Box<dyn std::error::Error>> {
    let module = module(host, name, wat_text)?;
    Ok(PolicyInstance::new(
        host,
        &module,
        Box::new(NoCapabilities),
    )?)
}

/// Logs the operation name and the payload, then answers the payload.
const ECHO: &str = r#"
(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $need i32)
    ;; make room for the operation and the payload at address 1024
    (local.set $need (i32.add (i32.const 1024) (i32.add (local.get $op_len) (local.get $len))))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.sub (i32.add (i32.shr_u (local.get $need) (i32.const 16)) (i32.const 1)) (memory.size))))))
    (call $request (i32.const 1024) (i32.add (i32.const 1024) (local.get $op_len)))
    (call $log (i32.const 1024) (local.get $op_len))
    (call $log (i32.add (i32.const 1024) (local.get $op_len)) (local.get $len))
    (call $response (i32.add (i32.const 1024) (local.get $op_len)) (local.get $len))
    (i32.const 1)))
"#;

/// A waPC guest whose `__guest_call` body is `body` (result i32 left on the stack).
fn guest(body: &str) -> String {
    format!(
        r#"
(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "boom")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    {body}))
"#
    )
}

#[test]
fn abi_is_detected_from_exports() -> TestResult {
    let host = host()?;
    assert_eq!(module(&host, "echo", ECHO)?.abi(), Abi::Wapc);

    let opa = r#"(module (memory (export "memory") 1)
        (func (export "opa_eval_ctx_new") (result i32) (i32.const 0))
        (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#;
    let opa = module(&host, "opa", opa)?;
    assert_eq!(opa.abi(), Abi::Opa);
    // An OPA-ABI module must declare its ABI version.
    let refused = PolicyInstance::new(&host, &opa, Box::new(NoCapabilities));
    assert!(
        matches!(refused, Err(HostError::Instantiate { ref message, .. })
            if message.contains("opa_wasm_abi_version")),
        "{refused:?}"
    );

    let neither = wat::parse_str(r#"(module (func (export "run")))"#)?;
    let error = PolicyModule::from_bytes(&host, "plain", &neither);
    assert!(matches!(error, Err(HostError::NotAPolicy { ref module }) if module == "plain"));

    let garbage = PolicyModule::from_bytes(&host, "garbage", b"\0asm\x01\0\0\0\x05");
    assert!(matches!(garbage, Err(HostError::Compile { .. })));
    Ok(())
}

#[test]
fn metadata_is_read_from_the_custom_section() -> TestResult {
    let host = host()?;
    let annotated = r#"(module
        (@custom "io.kubewarden.metadata" "{\"rules\":[{\"apiGroups\":[\"\"]}],\"mutating\":false}")
        (memory (export "memory") 1)
        (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#;
    let module = module(&host, "annotated", annotated)?;
    assert_eq!(
        module.metadata(),
        Some(&json!({"rules": [{"apiGroups": [""]}], "mutating": false}))
    );
    assert!(self::module(&host, "echo", ECHO)?.metadata().is_none());

    let broken = annotated.replace("\\\"mutating", "mutating");
    let error = self::module(&host, "broken", &broken);
    assert!(error.is_err_and(|e| e.to_string().contains("io.kubewarden.metadata")));
    Ok(())
}

#[test]
fn echo_guest_round_trips_payloads_and_logs() -> TestResult {
    let host = host()?;
    let mut policy = instance(&host, "echo", ECHO)?;

    assert_eq!(policy.call("anything", b"hello")?, b"hello");
    assert_eq!(policy.logs(), ["anything", "hello"]);

    let big = vec![b'x'; 3 * 65536 + 17];
    assert_eq!(policy.call("big", &big)?, big);

    let answer =
        policy.validate_raw(br#"{"accepted":false,"message":"no","code":403,"extra":1}"#)?;
    assert!(!answer.accepted);
    assert_eq!(answer.message.as_deref(), Some("no"));
    assert_eq!(answer.code, Some(403));

    let settings = policy.validate_settings(&json!({"valid": true}))?;
    assert_eq!(
        settings,
        SettingsValidation {
            valid: true,
            message: None
        }
    );

    // `validate` sends {"request", "settings"}: the echo is not a ValidationResponse.
    policy.take_logs();
    let error = policy.validate(&json!({"uid": "1"}), &json!({"a": 1}));
    assert!(
        matches!(error, Err(HostError::BadResponse { ref operation, .. }) if operation == "validate")
    );
    let sent: serde_json::Value =
        serde_json::from_str(policy.logs().get(1).ok_or("no payload logged")?)?;
    assert_eq!(sent, json!({"request": {"uid": "1"}, "settings": {"a": 1}}));

    // A bad answer does not poison the instance.
    assert!(!policy.is_poisoned());
    assert!(policy.validate_raw(b"not json").is_err());
    assert_eq!(policy.call("again", b"ok")?, b"ok");
    Ok(())
}

#[test]
fn protocol_version_is_a_json_string() -> TestResult {
    let host = host()?;
    let answer_v1 = guest(
        r#"(call $response (i32.const 100) (i32.const 4)) (i32.const 1))
  (data (i32.const 100) "\"v1\"""#,
    );
    let mut policy = instance(&host, "v1", &answer_v1)?;
    assert_eq!(policy.protocol_version()?, "v1");
    Ok(())
}

#[test]
fn guest_errors_are_reported_without_poisoning() -> TestResult {
    let host = host()?;
    let mut policy = instance(
        &host,
        "failing",
        &guest("(call $error (i32.const 0) (i32.const 4)) (i32.const 0)"),
    )?;
    let error = policy.call("validate", b"{}");
    assert!(
        matches!(error, Err(HostError::GuestError { ref operation, ref message })
        if operation == "validate" && message == "boom")
    );
    assert!(!policy.is_poisoned());

    let mut silent = instance(&host, "silent", &guest("(i32.const 1)"))?;
    let error = silent.call("validate", b"{}");
    assert!(matches!(error, Err(HostError::BadResponse { .. })));
    Ok(())
}

#[test]
fn an_infinite_loop_is_stopped_by_fuel_and_poisons_the_instance() -> TestResult {
    let host = Host::new(Limits {
        fuel: Some(1_000_000),
        ..Limits::default()
    })?;
    let mut policy = instance(
        &host,
        "loop",
        &guest("(loop $forever (br $forever)) (i32.const 1)"),
    )?;
    let error = policy.call("validate", b"{}");
    match error {
        Err(HostError::FuelExhausted { operation, budget }) => {
            assert_eq!(operation, "validate");
            assert_eq!(budget, 1_000_000);
        }
        other => return Err(format!("expected FuelExhausted, got {other:?}").into()),
    }
    assert!(policy.is_poisoned());
    let later = policy.call("validate_settings", b"{}");
    assert!(
        matches!(later, Err(HostError::Poisoned { ref operation, .. }) if operation == "validate_settings")
    );
    Ok(())
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() -> TestResult {
    let host = Host::new(Limits {
        timeout: std::time::Duration::from_millis(50),
        ..Limits::default()
    })?;
    let mut policy = instance(
        &host,
        "loop",
        &guest("(loop $forever (br $forever)) (i32.const 1)"),
    )?;
    match policy.call("validate", b"{}") {
        Err(HostError::Timeout { operation, timeout }) => {
            assert_eq!(operation, "validate");
            assert_eq!(timeout, std::time::Duration::from_millis(50));
        }
        other => return Err(format!("expected Timeout, got {other:?}").into()),
    }
    assert!(policy.is_poisoned());
    Ok(())
}

#[test]
fn memory_growth_past_the_cap_is_a_memory_limit_error() -> TestResult {
    let host = Host::new(Limits {
        max_memory_bytes: 4 * 65536,
        ..Limits::default()
    })?;
    // Growing by 2 pages (to 3) is fine, to 9 is not.
    let mut policy = instance(
        &host,
        "greedy",
        &guest(
            r#"(if (i32.eq (memory.grow (local.get $len)) (i32.const -1)) (then (unreachable)))
            (i32.const 1)"#,
        ),
    )?;
    // `len` is only used as a page count here: the guest never reads the payload.
    let grow_by_2 = policy.call("grow", &[0; 2]);
    assert!(
        matches!(grow_by_2, Err(HostError::BadResponse { .. })),
        "{grow_by_2:?}"
    );
    let grow_by_6 = policy.call("grow", &[0; 6]);
    match grow_by_6 {
        Err(HostError::MemoryLimit {
            operation,
            requested_bytes,
            limit_bytes,
        }) => {
            assert_eq!(operation, "grow");
            assert_eq!(requested_bytes, 9 * 65536);
            assert_eq!(limit_bytes, 4 * 65536);
        }
        other => return Err(format!("expected MemoryLimit, got {other:?}").into()),
    }

    // A module whose initial memory is over the cap cannot even be instantiated.
    let huge = guest("(i32.const 1)").replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 100)",
    );
    let error = instance(&host, "huge", &huge);
    assert!(error.is_err_and(|e| e.to_string().contains("limit")));
    Ok(())
}

#[test]
fn out_of_bounds_pointers_are_errors_not_panics() -> TestResult {
    let host = host()?;
    let cases = [
        (
            "response",
            "(call $response (i32.const 65000) (i32.const 1000)) (i32.const 1)",
        ),
        (
            "response_wraps",
            "(call $response (i32.const -1) (i32.const 16)) (i32.const 1)",
        ),
        (
            "error",
            "(call $error (i32.const 70000) (i32.const 1)) (i32.const 0)",
        ),
        (
            "request",
            "(call $request (i32.const 65535) (i32.const 0)) (i32.const 1)",
        ),
    ];
    for (name, body) in cases {
        let mut policy = instance(&host, name, &guest(body))?;
        let error = policy.call("validate", b"{}");
        assert!(
            matches!(error, Err(HostError::GuestMemory { ref operation, .. }) if operation == "validate"),
            "{name}: {error:?}"
        );
    }

    let mut liar = instance(
        &host,
        "liar",
        &guest("(call $response (i32.const 0) (i32.const -1)) (i32.const 1)"),
    )?;
    let error = liar.call("validate", b"{}");
    assert!(
        matches!(
            error,
            Err(HostError::ResponseTooLarge {
                len: 4_294_967_295,
                ..
            })
        ),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn modules_without_memory_or_with_unknown_imports_are_clear_errors() -> TestResult {
    let host = host()?;
    let no_memory = r#"(module
        (import "wapc" "__guest_response" (func $response (param i32 i32)))
        (func (export "__guest_call") (param i32 i32) (result i32)
          (call $response (i32.const 0) (i32.const 0)) (i32.const 1)))"#;
    let mut policy = instance(&host, "no-memory", no_memory)?;
    let error = policy.call("validate", b"{}");
    assert!(
        matches!(error, Err(HostError::GuestMemory { .. })),
        "{error:?}"
    );

    let unknown = r#"(module
        (import "env" "mystery" (func))
        (memory (export "memory") 1)
        (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#;
    let error = instance(&host, "unknown", unknown);
    let message = error.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("env::mystery"), "{message}");
    Ok(())
}

#[test]
fn wasi_imports_are_provided_and_start_runs_first() -> TestResult {
    let host = host()?;
    // `_start` fills byte 200 with randomness and exits 0; `wapc_init` stores a marker; the call
    // answers the marker: all three ran, in order.
    let wasi = r#"(module
        (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
        (import "wapc" "__guest_response" (func $response (param i32 i32)))
        (memory (export "memory") 1)
        (func (export "_start")
          (drop (call $random (i32.const 200) (i32.const 8)))
          (drop (call $env_sizes (i32.const 300) (i32.const 304)))
          (i32.store8 (i32.const 100) (i32.const 115))
          (call $exit (i32.const 0)))
        (func (export "wapc_init")
          (if (i32.eq (i32.load8_u (i32.const 100)) (i32.const 115))
            (then (i32.store8 (i32.const 101) (i32.const 105)))))
        (func (export "__guest_call") (param i32 i32) (result i32)
          (call $response (i32.const 100) (i32.const 2))
          (i32.const 1))
        (func (export "env_count") (result i32) (i32.load (i32.const 300))))"#;
    let mut policy = instance(&host, "wasi", wasi)?;
    assert_eq!(policy.call("validate", b"")?, b"si");
    Ok(())
}

/// Asks `oci/v1/manifest_digest` for "ghcr.io/a/b:1" on `binding`, answers the host's response or
/// error.
fn host_calling_guest(binding: &str) -> String {
    format!(
        r#"(module
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{binding}")
  (data (i32.const 32) "oci")
  (data (i32.const 48) "v1/manifest_digest")
  (data (i32.const 80) "\"ghcr.io/a/b:1\"")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (if (result i32) (call $host_call
          (i32.const 0) (i32.const {len})
          (i32.const 32) (i32.const 3)
          (i32.const 48) (i32.const 18)
          (i32.const 80) (i32.const 15))
      (then
        (call $host_response (i32.const 4096))
        (call $response (i32.const 4096) (call $response_len))
        (i32.const 1))
      (else
        (call $host_error (i32.const 4096))
        (call $error (i32.const 4096) (call $error_len))
        (i32.const 0)))))"#,
        len = binding.len()
    )
}

#[test]
fn host_calls_are_answered_by_scripted_capabilities() -> TestResult {
    let host = host()?;
    let module = module(&host, "digest", &host_calling_guest("kubewarden"))?;
    let script = ScriptedCapabilities::from_json(
        r#"[{"namespace":"oci","operation":"v1/manifest_digest","request":"ghcr.io/a/b:1",
             "response":{"digest":"sha256:abc"}},
            {"namespace":"oci","operation":"v1/manifest_digest","request":"ghcr.io/x/y:2",
             "error":"registry unreachable"}]"#,
    )?;
    let record = script.clone();
    let mut policy = PolicyInstance::new(&host, &module, Box::new(script))?;
    let answer: serde_json::Value = serde_json::from_slice(&policy.call("validate", b"{}")?)?;
    assert_eq!(answer, json!({"digest": "sha256:abc"}));
    assert_eq!(
        record.calls(),
        vec![RecordedCall {
            binding: "kubewarden".into(),
            namespace: "oci".into(),
            operation: "v1/manifest_digest".into(),
            request: json!("ghcr.io/a/b:1"),
        }]
    );

    // Unmatched request: the guest gets an error naming the capability and the request.
    let other = ScriptedCapabilities::new(vec![ScriptedCall {
        binding: None,
        namespace: "oci".into(),
        operation: "v1/manifest_digest".into(),
        request: json!("ghcr.io/other:1"),
        response: Some(json!({"digest": "sha256:0"})),
        error: None,
    }])?;
    let mut policy = PolicyInstance::new(&host, &module, Box::new(other))?;
    match policy.call("validate", b"{}") {
        Err(HostError::GuestError { message, .. }) => {
            assert!(message.contains("oci/v1/manifest_digest"), "{message}");
            assert!(message.contains("ghcr.io/a/b:1"), "{message}");
        }
        other => return Err(format!("expected GuestError, got {other:?}").into()),
    }

    // NoCapabilities refuses.
    let mut policy = PolicyInstance::new(&host, &module, Box::new(NoCapabilities))?;
    match policy.call("validate", b"{}") {
        Err(HostError::GuestError { message, .. }) => assert_eq!(
            message,
            "host capability oci/v1/manifest_digest is not available in this host"
        ),
        other => return Err(format!("expected GuestError, got {other:?}").into()),
    }

    // Another binding is refused.
    let module = self::module(&host, "elsewhere", &host_calling_guest("elsewhere"))?;
    let script = ScriptedCapabilities::from_json(
        r#"[{"namespace":"oci","operation":"v1/manifest_digest","request":"ghcr.io/a/b:1","response":{}}]"#,
    )?;
    let mut policy = PolicyInstance::new(&host, &module, Box::new(script))?;
    match policy.call("validate", b"{}") {
        Err(HostError::GuestError { message, .. }) => {
            assert_eq!(message, "binding elsewhere is not supported")
        }
        other => return Err(format!("expected GuestError, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn scripts_need_exactly_one_of_response_and_error() {
    let both = r#"[{"namespace":"oci","operation":"x","request":1,"response":2,"error":"e"}]"#;
    assert!(ScriptedCapabilities::from_json(both).is_err());
    let neither = r#"[{"namespace":"oci","operation":"x","request":1}]"#;
    assert!(ScriptedCapabilities::from_json(neither).is_err());
    let null_response = r#"[{"namespace":"oci","operation":"x","request":1,"response":null}]"#;
    assert!(ScriptedCapabilities::from_json(null_response).is_ok());
}

#[test]
fn host_types_can_cross_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Host>();
    send_sync::<PolicyModule>();
    send::<PolicyInstance>();
    send_sync::<ScriptedCapabilities>();
    send_sync::<HostError>();
}
