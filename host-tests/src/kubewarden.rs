//! Wire compatibility with Kubewarden's own Rust types (`kubewarden-policy-sdk`, natively: never in
//! a policy module). The harness checks with these every request it sends to a module and every
//! answer a module (or the rule natively) gives, so that every suite holds to them:
//!
//! - an answer to `validate` must read as Kubewarden's `ValidationResponse`, an answer to
//!   `validate_settings` as its `SettingsValidationResponse`, losing nothing: each member of the
//!   answer comes back unchanged when the typed answer is written again;
//! - a `validate` payload must read as Kubewarden's `ValidationRequest<serde_json::Value>` (the type
//!   a policy written with its SDK reads), and writing it again must give back every member of the
//!   request with the same value (field names in Kubewarden's spelling). Two exceptions, where
//!   Kubewarden's type cannot hold the value: `resource` and `requestResource`, whose `resource`
//!   member it has no field for (its `GroupVersionResource` names it `kind`), are compared by group
//!   and version; `userInfo.groups`, a set there, is compared without order.
//!
//! Raw payloads (the hostile suite's malformed JSON, wrong types, missing members) are sent on
//! purpose without this check: they are not requests any Kubernetes API server makes.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::response::ValidationResponse as KwValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse as KwSettingsValidationResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Checks a module's answer to the waPC `operation` (`validate`, `validate_settings`; other
/// operations are not Kubewarden's and are not checked). Panics, saying what differs.
pub fn check_answer(operation: &str, answer: &[u8]) {
    match operation {
        "validate" => check_typed::<KwValidationResponse>("ValidationResponse", answer),
        "validate_settings" => {
            check_typed::<KwSettingsValidationResponse>("SettingsValidationResponse", answer)
        }
        _ => {}
    }
}

/// Checks a `validate` answer the rule gave natively (the SDK's own response type, written as the
/// module writes it).
pub fn check_native_answer(answer: &custody_sdk::policy::ValidationResponse) {
    let text = serde_json::to_vec(answer).unwrap_or_else(|e| panic!("native answer: {e}"));
    check_answer("validate", &text);
}

/// `answer` reads as `T` and every member of it survives writing `T` again.
fn check_typed<T: DeserializeOwned + Serialize>(type_name: &str, answer: &[u8]) {
    let shown = || {
        String::from_utf8_lossy(answer)
            .chars()
            .take(500)
            .collect::<String>()
    };
    let typed: T = serde_json::from_slice(answer).unwrap_or_else(|e| {
        panic!(
            "the answer is not a Kubewarden {type_name}: {e}\n{}",
            shown()
        )
    });
    let original: Value = serde_json::from_slice(answer)
        .unwrap_or_else(|e| panic!("the answer is not JSON: {e}\n{}", shown()));
    let again = serde_json::to_value(&typed).unwrap_or_else(|e| panic!("{type_name}: {e}"));
    let Value::Object(members) = &original else {
        panic!("the answer is not a JSON object: {}", shown());
    };
    for (key, value) in members {
        assert_eq!(
            again.get(key),
            Some(value),
            "member {key:?} of the answer is lost or changed in Kubewarden's {type_name}"
        );
    }
}

/// Checks a `validate` payload (`{"request": <AdmissionRequest>, "settings": ...}`) against
/// Kubewarden's `ValidationRequest<serde_json::Value>`. Panics, saying what differs.
pub fn check_request(payload: &Value) {
    let typed: ValidationRequest<Value> =
        serde_json::from_value(payload.clone()).unwrap_or_else(|e| {
            panic!("the payload is not a Kubewarden ValidationRequest: {e}\n{payload}")
        });
    let again = serde_json::to_value(&typed).unwrap_or_else(|e| panic!("ValidationRequest: {e}"));
    assert_eq!(
        again.get("settings"),
        Some(payload.get("settings").unwrap_or(&Value::Null)),
        "settings"
    );
    let Some(Value::Object(members)) = payload.get("request") else {
        panic!("the payload has no request object");
    };
    let request = again.get("request").unwrap_or(&Value::Null);
    for (key, value) in members {
        let got = request.get(snake_case(key)).unwrap_or(&Value::Null);
        match key.as_str() {
            // Kubewarden's `GroupVersionResource` has no `resource` field.
            "resource" | "requestResource" => {
                for member in ["group", "version"] {
                    assert_eq!(
                        got.get(member).unwrap_or(&Value::Null),
                        value.get(member).unwrap_or(&Value::Null),
                        "request.{key}.{member}"
                    );
                }
            }
            "userInfo" => assert_eq!(
                unordered_groups(got),
                unordered_groups(value),
                "request.userInfo"
            ),
            _ => assert_eq!(got, value, "request.{key} differs in Kubewarden's type"),
        }
    }
}

/// `userInfo` with its groups sorted (a set in Kubewarden's type) and Kubewarden's defaults for
/// the members it writes when absent.
fn unordered_groups(user_info: &Value) -> Value {
    let mut user = user_info.clone();
    if let Some(Value::Array(groups)) = user.get_mut("groups") {
        groups.sort_by_key(ToString::to_string);
    }
    if let Value::Object(map) = &mut user {
        map.retain(|_, v| !is_empty(v));
    }
    user
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `requestKind` → `request_kind`: how Kubewarden's type writes a member it reads in camelCase.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
