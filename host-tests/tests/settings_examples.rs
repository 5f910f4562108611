//! Every policy's `settings.example.yml` (the commented settings `custody scaffold` puts in the
//! manifests it prints): the waPC build's `validate_settings` accepts it, the Gatekeeper build
//! finds no fault in it as parameters, it names every setting the policy has (each policy's own
//! fields, as its settings type lists them, and the common ones), and each setting has a comment.

use custody_host::NoCapabilities;
use custody_host_tests::{gatekeeper, policies, repo_root, Loaded};
use serde_json::{json, Value};

/// The common settings of every policy.
const COMMON: [&str; 2] = ["exemptNamespaces", "exemptImages"];

/// `policies/<policy>/settings.example.yml`: its text, and the settings it holds.
fn example(policy: &str) -> (String, Value) {
    let path = repo_root()
        .join("policies")
        .join(policy)
        .join("settings.example.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (every policy documents its settings there)",
            path.display()
        )
    });
    let settings: Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(settings.is_object(), "{}: not a mapping", path.display());
    (text, settings)
}

/// The policy's own fields, from its settings type: the names its "unknown field" error lists.
fn own_fields(policy: &str) -> Vec<String> {
    let mut instance = Loaded::policy(policy).instance(Box::new(NoCapabilities));
    let answer = instance
        .validate_settings(&json!({"custodyNoSuchSetting": 0}))
        .expect("validate_settings");
    let message = answer.message.unwrap_or_default();
    let (_, expected) = message
        .split_once("unknown field `custodyNoSuchSetting`, expected")
        .unwrap_or_else(|| panic!("{policy}: {message}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_settings_example_is_valid_in_both_builds() {
    for &policy in policies() {
        let (_, settings) = example(policy);
        let mut instance = Loaded::policy(policy).instance(Box::new(NoCapabilities));
        let answer = instance
            .validate_settings(&settings)
            .expect("validate_settings");
        assert!(answer.valid, "{policy}: {:?}", answer.message);

        // The Gatekeeper build has no settings call: invalid parameters are a violation.
        let mut instance = Loaded::policy(&gatekeeper(policy)).instance(Box::new(NoCapabilities));
        let review = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "default",
            "object": {"spec": {"containers": []}}});
        let violations = instance.gatekeeper(&review, &settings).expect("evaluates");
        assert!(
            violations
                .iter()
                .all(|v| !v.msg.starts_with("invalid parameters")),
            "{policy} (Gatekeeper build): {violations:?}"
        );
    }
}

#[test]
fn every_setting_is_in_the_example_with_a_comment() {
    for &policy in policies() {
        let (text, _) = example(policy);
        let lines: Vec<&str> = text.lines().collect();
        // Top-level keys (camelCase), set (`key:`) or shown commented out (`# key:`), each set
        // one right after a comment.
        let mut documented = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let key = line
                .strip_prefix("# ")
                .unwrap_or(line)
                .split_once(':')
                .map(|(key, _)| key)
                .filter(|key| {
                    key.starts_with(|c: char| c.is_ascii_lowercase())
                        && key.chars().all(|c| c.is_ascii_alphanumeric())
                });
            let Some(key) = key else { continue };
            if line.starts_with('#') {
                documented.push(key.to_owned());
                continue;
            }
            let previous = i.checked_sub(1).and_then(|p| lines.get(p)).copied();
            assert!(
                previous.is_some_and(|p| p.starts_with('#')),
                "{policy}: setting {key} has no comment above it"
            );
            documented.push(key.to_owned());
        }
        let fields = own_fields(policy);
        assert!(!fields.is_empty(), "{policy}");
        for field in fields.iter().map(String::as_str).chain(COMMON) {
            assert!(
                documented.iter().any(|d| d == field),
                "{policy}: settings.example.yml does not document `{field}`"
            );
        }
    }
}
