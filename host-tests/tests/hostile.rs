//! Hostile and odd input to the release modules: always a clear answer, never a trap, never an allow
//! by accident. Each case runs in wasm and natively.

use custody_host::NoCapabilities;
use custody_host_tests::{policies, test_settings, validate_native, Loaded, NativeHost};
use serde_json::{json, Value};

fn request(kind: (&str, &str), object: Value) -> Value {
    json!({
        "uid": "hostile", "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
        "operation": "CREATE", "namespace": "default", "object": object
    })
}

fn pod(containers: Vec<Value>) -> Value {
    request(("", "Pod"), json!({"spec": {"containers": containers}}))
}

/// What each policy is sent: its own `validate` payload.
type Payloads<'a> = &'a dyn Fn(&str) -> Vec<u8>;

/// Runs the payload made for each policy through its waPC build (no host capabilities: a policy
/// that needs one must deny, saying so) and natively (the same capabilities, none); returns
/// (policy, accepted, message).
fn run(payload: Payloads) -> Vec<(&'static str, bool, String)> {
    policies()
        .iter()
        .map(|&policy| {
            let payload = payload(policy);
            let loaded = Loaded::policy(policy);
            let mut instance = loaded.instance(Box::new(NoCapabilities));
            let wasm = instance
                .validate_raw(&payload)
                .unwrap_or_else(|e| panic!("{policy}: the host reported {e}"));
            let native = validate_native(policy, &payload, &mut NativeHost(NoCapabilities));
            assert_eq!(wasm.accepted, native.accepted, "{policy}");
            assert_eq!(wasm.message, native.message, "{policy}");
            (policy, wasm.accepted, wasm.message.unwrap_or_default())
        })
        .collect()
}

/// The same bytes for every policy.
fn raw(bytes: &[u8]) -> impl Fn(&str) -> Vec<u8> + '_ {
    move |_| bytes.to_vec()
}

/// `request` with each policy's test settings (`policies/<policy>/fixtures/settings.json`).
fn payload(request: Value) -> impl Fn(&str) -> Vec<u8> {
    move |policy| {
        serde_json::to_vec(&json!({"request": request, "settings": test_settings(policy)}))
            .expect("json")
    }
}

fn all_denied_with(payload: Payloads, needle: &str) {
    for (policy, accepted, message) in run(payload) {
        assert!(!accepted, "{policy} allowed it");
        assert!(
            message.contains(needle),
            "{policy}: {message:?} should contain {needle:?}"
        );
    }
}

#[test]
fn invalid_json() {
    all_denied_with(
        &raw(b"{\"request\": "),
        "cannot read the admission request: EOF while parsing",
    );
    all_denied_with(&raw(b""), "cannot read the admission request");
    all_denied_with(
        &raw(&[0xff, 0xfe, 0x00]),
        "cannot read the admission request",
    );
    all_denied_with(&raw(b"[]"), "cannot read the admission request");
}

#[test]
fn wrong_types() {
    all_denied_with(
        &payload(request(
            ("", "Pod"),
            json!({"spec": {"containers": "nginx"}}),
        )),
        "request.object.spec.containers: invalid type: string \"nginx\", expected a sequence",
    );
    all_denied_with(
        &payload(json!({"uid": 1, "kind": "Pod", "object": {}})),
        "request.kind: invalid type: string \"Pod\"",
    );
    all_denied_with(
        &payload(request(("", "Pod"), json!([1, 2]))),
        "request.object[0]: invalid type: integer `1`, expected struct MetadataView",
    );
    all_denied_with(
        &raw(&serde_json::to_vec(
            &json!({"request": request(("", "Pod"), json!({})), "settings": "strict"}),
        )
        .expect("json")),
        "invalid settings: settings must be an object, got a string",
    );
}

#[test]
fn missing_kind_or_object() {
    all_denied_with(
        &payload(json!({"uid": "x", "operation": "CREATE"})),
        "request: missing field `kind`",
    );
    all_denied_with(
        &payload(
            json!({"uid": "x", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE"}),
        ),
        "the admission request has no object to check",
    );
}

#[test]
fn unknown_kinds_are_denied() {
    all_denied_with(
        &payload(request(
            ("example.com", "Deployment"),
            json!({"spec": {"template": {}}}),
        )),
        "kind example.com/Deployment is not a workload custody knows how to read",
    );
    all_denied_with(
        &payload(request(("", "Secret"), json!({"data": {}}))),
        "kind core/Secret is not a workload",
    );
}

#[test]
fn ten_thousand_containers() {
    let containers = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("ghcr.io/acme/app{i}:latest")}))
        .collect();
    let results = run(&payload(pod(containers)));
    for (policy, accepted, message) in results {
        assert!(!accepted, "{policy}");
        let lines: Vec<&str> = message.lines().collect();
        // 50 listed violations and a summary of the rest keep the answer bounded.
        assert_eq!(lines.len(), 51, "{policy}");
        assert_eq!(lines[50], "... and 9950 more violations", "{policy}");
        assert!(lines[0].starts_with(
            "container \"c0\" (spec.containers[0]): image \"ghcr.io/acme/app0:latest\""
        ));
    }
}

#[test]
fn a_ten_megabyte_object() {
    let filler = "x".repeat(10 * 1024 * 1024);
    let request = request(
        ("apps", "Deployment"),
        json!({"metadata": {"annotations": {"big": filler}},
               "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}),
    );
    let results = run(&payload(request));
    for (policy, accepted, message) in results {
        assert!(!accepted, "{policy}");
        assert!(
            message.starts_with(
                "container \"app\" (spec.template.spec.containers[0]): image \"nginx\""
            ),
            "{policy}: {message}"
        );
    }
}

#[test]
fn huge_and_hostile_image_strings() {
    let long = format!("ghcr.io/{}:1", "a".repeat(100_000));
    let containers = vec![
        json!({"name": "long", "image": long}),
        json!({"name": "nul", "image": "nginx\u{0}:1"}),
        json!({"name": "unicode", "image": "nginx:1.0\u{202e}"}),
        json!({"name": "spaces", "image": " nginx:1.25"}),
    ];
    for (policy, accepted, message) in run(&payload(pod(containers))) {
        assert!(!accepted, "{policy}");
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 4, "{policy}: {message}");
        for line in lines {
            assert!(
                line.contains("is not a valid image reference"),
                "{policy}: {line}"
            );
        }
    }
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = nested(100_000);
    // Settings are read as a JSON value: serde_json's recursion limit refuses the nesting.
    let text = format!(
        r#"{{"request": {{"kind": {{"kind": "Pod"}}, "object": {{}}}}, "settings": {{"x": {deep}}}}}"#
    );
    all_denied_with(&raw(text.as_bytes()), "recursion limit exceeded at line 1");
    // Typed data stops at the first wrong type.
    let text = format!(
        r#"{{"request": {{"kind": {{"kind": "Pod"}}, "object": {{"spec": {{"containers": [{deep}]}}}}}}}}"#
    );
    all_denied_with(
        &raw(text.as_bytes()),
        "request.object.spec.containers[0][0]: invalid type: sequence, expected a string",
    );
    // Where it skips data, the skipping does not recurse: no overflow, and the containers are
    // still read.
    let text = format!(
        r#"{{"request": {{"kind": {{"kind": "Pod"}}, "object": {{"metadata": {{"labels": {deep}}},
            "spec": {{"containers": [{{"name": "a", "image": "nginx"}}]}}}}}}}}"#
    );
    all_denied_with(
        &raw(text.as_bytes()),
        "container \"a\" (spec.containers[0]): image \"nginx\"",
    );
}

#[test]
fn null_settings_and_missing_settings_mean_defaults() {
    let request = pod(vec![json!({"name": "a", "image": "nginx:1.25"})]);
    let without = serde_json::to_vec(&json!({"request": request})).expect("json");
    let results = run(&raw(&without));
    let accepted = |policy: &str| {
        results
            .iter()
            .find(|(p, _, _)| *p == policy)
            .map(|(_, accepted, _)| *accepted)
            .unwrap_or_else(|| panic!("{policy} did not run"))
    };
    assert!(!accepted("require-digest"), "require-digest denies a tag");
    assert!(accepted("ban-latest"), "ban-latest allows a version tag");
    // With no entry in `images`, verify-slsa trusts no one: every image is denied.
    assert!(
        !accepted("verify-slsa"),
        "verify-slsa denies an unmatched image"
    );
    assert_eq!(results.len(), policies().len());
}

#[test]
fn a_missing_host_capability_is_a_clear_denial() {
    // verify-slsa's test settings cover ghcr.io/acme/*: a tag there must be resolved through the
    // host (oci/v1/manifest_digest), a digest's attestations read from the cluster
    // (kubernetes/get_resource). Without either, each container is denied saying which.
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let tagged = "ghcr.io/acme/app:1.2.3";
    let pinned = format!("ghcr.io/acme/app@{digest}");
    let request = pod(vec![
        json!({"name": "tagged", "image": tagged}),
        json!({"name": "pinned", "image": pinned}),
    ]);
    for (policy, accepted, message) in run(&payload(request)) {
        let lines: Vec<&str> = message.lines().collect();
        match policy {
            "verify-slsa" => {
                assert!(!accepted);
                assert_eq!(lines.len(), 2, "{message}");
                assert_eq!(
                    lines[0],
                    format!(
                        "container \"tagged\" (spec.containers[0]): image \"{tagged}\" is not \
                         pinned to a digest and its tag could not be resolved: host capability \
                         oci/v1/manifest_digest is not available in this host"
                    )
                );
                assert!(
                    lines[1].starts_with(&format!(
                        "container \"pinned\" (spec.containers[1]): image \"{pinned}\": no \
                         attestation found for {digest} ("
                    )) && lines[1].contains(
                        "host capability kubernetes/get_resource is not available in this host"
                    ),
                    "{}",
                    lines[1]
                );
            }
            // No pinTags in its test settings: the tag is denied without asking the host.
            "require-digest" => {
                assert!(!accepted);
                assert_eq!(lines.len(), 1, "{message}");
                assert!(lines[0].starts_with("container \"tagged\""), "{message}");
            }
            "ban-latest" => assert!(accepted, "{message}"),
            // Its test settings verify in the module (`source: cluster`): the tag cannot be
            // resolved, and the cluster cannot be read.
            "verify-signature" => {
                assert!(!accepted);
                assert_eq!(lines.len(), 2, "{message}");
                assert!(
                    lines[0].ends_with(
                        "its tag could not be resolved: host capability oci/v1/manifest_digest \
                         is not available in this host"
                    ),
                    "{}",
                    lines[0]
                );
                assert!(
                    lines[1].starts_with(&format!(
                        "container \"pinned\" (spec.containers[1]): image \"{pinned}\" \
                         ({digest}): no signature found ("
                    )) && lines[1].contains(
                        "host capability kubernetes/get_resource is not available in this host"
                    ),
                    "{}",
                    lines[1]
                );
            }
            other => panic!("{other}: say here what it answers without host capabilities"),
        }
    }
}
