//! The release policy modules, run through the waPC protocol in the wasmtime host exactly as
//! Kubewarden runs them, checked against every fixture and against the same rule evaluated natively.

use custody_host::{json_patch, NoCapabilities, SettingsValidation};
use custody_host_tests::{
    fixtures, policies, test_settings, validate_native, Fixture, Loaded, NativeHost,
};
use serde_json::{json, Value};

fn check_response(
    policy: &str,
    f: &Fixture,
    accepted: bool,
    message: Option<&str>,
    mutated: Option<&Value>,
) {
    let name = format!("{policy}/{}", f.name);
    assert_eq!(
        accepted, f.expected.accepted,
        "{name}: accepted (message: {message:?})"
    );
    let lines: Vec<&str> = message.map(|m| m.lines().collect()).unwrap_or_default();
    if let Some(expected) = &f.expected.message_lines {
        assert_eq!(lines, *expected, "{name}: message");
    }
    if let Some(prefixes) = &f.expected.message_prefixes {
        assert_eq!(lines.len(), prefixes.len(), "{name}: {lines:#?}");
        for (line, prefix) in lines.iter().zip(prefixes) {
            assert!(
                line.starts_with(prefix.as_str()),
                "{name}: {line:?} should start with {prefix:?}"
            );
        }
    }
    if !accepted {
        assert!(!lines.is_empty(), "{name}: a denial must say why");
    }
    let patch = mutated.map(|m| json_patch(&f.request["object"], m));
    assert_eq!(patch, f.expected.patch, "{name}: patch");
}

#[test]
fn every_fixture_in_wasm() {
    for &policy in policies() {
        let loaded = Loaded::policy(policy);
        let cases = fixtures(policy);
        assert!(cases.len() >= 20, "{policy}: only {} fixtures", cases.len());
        for f in &cases {
            let caps = f.capabilities();
            let mut instance = loaded.instance(Box::new(caps.clone()));
            let response = instance
                .validate(&f.request, &f.expected.settings)
                .unwrap_or_else(|e| panic!("{policy}/{}: {e}", f.name));
            check_response(
                policy,
                f,
                response.accepted,
                response.message.as_deref(),
                response.mutated_object.as_ref(),
            );
        }
    }
}

#[test]
fn every_fixture_natively_gets_the_same_answer() {
    for &policy in policies() {
        let loaded = Loaded::policy(policy);
        let mut instance = loaded.instance(Box::new(NoCapabilities));
        for f in fixtures(policy) {
            let native = validate_native(policy, &f.payload(), &mut NativeHost(f.capabilities()));
            check_response(
                policy,
                &f,
                native.accepted,
                native.message.as_deref(),
                native.mutated_object.as_ref(),
            );
            if f.expected.capabilities.is_none() {
                // One warm instance for all fixtures: answers do not depend on earlier calls.
                let wasm = instance.validate_raw(&f.payload()).expect("validate");
                assert_eq!(
                    (wasm.accepted, wasm.message, wasm.mutated_object),
                    (native.accepted, native.message, native.mutated_object),
                    "{policy}/{}: wasm and native differ",
                    f.name
                );
            }
        }
    }
}

#[test]
fn pinning_asks_the_host_once_per_tagged_image() {
    let loaded = Loaded::policy("require-digest");
    let f = fixtures("require-digest")
        .into_iter()
        .find(|f| f.name == "deployment_create_pin-tags-mutates.json")
        .expect("fixture");
    let caps = f.capabilities();
    let mut instance = loaded.instance(Box::new(caps.clone()));
    instance
        .validate(&f.request, &f.expected.settings)
        .expect("validate");
    let calls = caps.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

#[test]
fn a_host_without_capabilities_denies_pinning() {
    let loaded = Loaded::policy("require-digest");
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let request = json!({
        "uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "namespace": "default",
        "object": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:1"}]}}
    });
    let response = instance
        .validate(&request, &json!({"pinTags": ["ghcr.io/acme/*"]}))
        .expect("validate");
    assert!(!response.accepted);
    let message = response.message.unwrap_or_default();
    assert!(
        message.contains("its tag could not be resolved: host capability oci/v1/manifest_digest"),
        "{message}"
    );
}

#[test]
fn protocol_version() {
    for &policy in policies() {
        let loaded = Loaded::policy(policy);
        let mut instance = loaded.instance(Box::new(NoCapabilities));
        assert_eq!(
            instance.protocol_version().expect("protocol_version"),
            "v1",
            "{policy}"
        );
    }
}

fn settings(policy: &str, value: Value) -> SettingsValidation {
    let loaded = Loaded::policy(policy);
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    instance
        .validate_settings(&value)
        .expect("validate_settings")
}

#[test]
fn validate_settings_accepts_good_settings() {
    for (policy, value) in [
        ("require-digest", json!({})),
        ("require-digest", Value::Null),
        (
            "require-digest",
            json!({"allowedAlgorithms": ["sha256", "sha512"], "pinTags": ["ghcr.io/acme/*"],
                   "exemptNamespaces": ["kube-system"], "exemptImages": ["registry.k8s.io/*"]}),
        ),
        ("ban-latest", json!({})),
        (
            "ban-latest",
            json!({"bannedTags": ["main", "dev", "_x.y-z"], "strict": true}),
        ),
    ] {
        let answer = settings(policy, value.clone());
        assert_eq!(
            answer,
            SettingsValidation {
                valid: true,
                message: None
            },
            "{policy} {value}"
        );
    }
}

#[test]
fn every_policy_accepts_its_test_settings() {
    for &policy in policies() {
        let value = test_settings(policy);
        assert_eq!(
            settings(policy, value.clone()),
            SettingsValidation {
                valid: true,
                message: None
            },
            "{policy}: fixtures/settings.json {value}"
        );
    }
}

#[test]
fn validate_settings_names_the_field_at_fault() {
    for (policy, value, message) in [
        ("require-digest", json!({"allowedAlgorithms": ["md5"]}),
         "invalid settings: allowedAlgorithms[0]: unsupported digest algorithm \"md5\", expected sha256, sha384 or sha512"),
        ("require-digest", json!({"pinTags": ["ghcr.io/ok/*", ""]}),
         "invalid settings: pinTags[1]: pattern must not be empty"),
        ("require-digest", json!({"pinTag": ["x"]}),
         "invalid settings: pinTag: unknown field `pinTag`, expected `allowedAlgorithms` or `pinTags`"),
        ("require-digest", json!({"exemptNamespaces": ["Kube_System"]}),
         "invalid settings: exemptNamespaces[0]: \"Kube_System\" is not a namespace name (lower-case letters, digits and '-', at most 63)"),
        ("ban-latest", json!({"strict": "yes"}),
         "invalid settings: strict: invalid type: string \"yes\", expected a boolean"),
        ("ban-latest", json!({"bannedTags": ["dev", ".bad"]}),
         "invalid settings: bannedTags[1]: invalid tag \".bad\": a tag must start with a letter, digit or '_', not '.'"),
        ("ban-latest", json!({"exemptImages": ["**"]}),
         "invalid settings: exemptImages[0]: pattern \"**\" matches every image; remove the policy instead"),
        ("ban-latest", json!([]), "invalid settings: settings must be an object, got an array"),
        ("verify-slsa", json!({"unmatchedImages": "maybe"}),
         "invalid settings: unmatchedImages: unknown variant `maybe`, expected `deny` or `allow`"),
    ] {
        let answer = settings(policy, value.clone());
        assert_eq!(
            answer,
            SettingsValidation { valid: false, message: Some(message.to_string()) },
            "{policy} {value}"
        );
    }
}

#[test]
fn validate_settings_rejects_malformed_json() {
    for &policy in policies() {
        let loaded = Loaded::policy(policy);
        let mut instance = loaded.instance(Box::new(NoCapabilities));
        let answer = instance
            .call("validate_settings", b"{not json")
            .expect("call");
        let answer: SettingsValidation = serde_json::from_slice(&answer).expect("answer");
        assert!(!answer.valid);
        assert!(answer
            .message
            .unwrap_or_default()
            .starts_with("invalid settings: settings are not valid JSON"));
    }
}

#[test]
fn unknown_operations_are_guest_errors() {
    let loaded = Loaded::policy("ban-latest");
    let mut instance = loaded.instance(Box::new(NoCapabilities));
    let err = instance.call("mutate", b"{}").expect_err("unknown op");
    assert!(
        err.to_string().contains("unknown operation \"mutate\""),
        "{err}"
    );
    // The instance is still usable afterwards.
    assert_eq!(instance.protocol_version().expect("protocol_version"), "v1");
}
