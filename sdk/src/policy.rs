//! The evaluation pipeline every policy shares, independent of the ABI: read the request, apply the
//! common settings, find the images, ask the rule about each, and build the answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::host::Host;
use crate::image::ImageRef;
use crate::rule::{Check, Image, ImagePatch, Rule, Verdict, Violation};
use crate::settings::Settings;
use crate::workload::{PodSpecPath, WorkloadView};

/// How many violations a denial message lists before it summarises the rest.
pub const MAX_LISTED_VIOLATIONS: usize = 50;

/// The answer to `validate`, in Kubewarden's wire format (snake_case; unknown fields ignored when
/// read). The host reads it with this same type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// Whether the request is allowed.
    pub accepted: bool,
    /// Why not (custody's policies put one violation per line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP code to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The object to admit instead of the one requested, for mutations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutated_object: Option<Value>,
    /// Annotations for the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl ValidationResponse {
    fn accept(mutated_object: Option<Value>) -> Self {
        ValidationResponse {
            accepted: true,
            mutated_object,
            ..Self::default()
        }
    }

    fn reject(message: String) -> Self {
        ValidationResponse {
            accepted: false,
            message: Some(message),
            ..Self::default()
        }
    }
}

/// The answer to `validate_settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    /// Whether the settings are valid.
    pub valid: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    request: RequestView,
    #[serde(default)]
    settings: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestView {
    kind: GroupVersionKind,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    object: Option<WorkloadView>,
}

#[derive(Debug, Deserialize)]
struct GroupVersionKind {
    #[serde(default)]
    group: String,
    kind: String,
}

/// Reads the `validate` payload; on failure, says where in the document it went wrong.
fn parse_payload(bytes: &[u8]) -> Result<Payload, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let bare = message.strip_suffix(&position).unwrap_or(&message);
        match json_path_at(bytes, e.line(), e.column()) {
            Some(path) if e.is_data() => format!("{path}: {bare}"),
            _ => message,
        }
    })
}

/// The path (`request.object.spec.containers[0].image`) of the value at a serde_json error position.
///
/// Only ever run on the error path. (`serde_path_to_error` does this too, but it doubles every
/// deserializer in the module: +51 KB of wasm, measured; this scanner is a few hundred bytes.)
fn json_path_at(bytes: &[u8], line: usize, column: usize) -> Option<String> {
    enum Frame {
        Object {
            key: Option<String>,
            expect_key: bool,
        },
        Array {
            index: usize,
        },
    }
    // serde_json counts lines from 1 and columns from 1 within the line.
    let mut offset = 0;
    for _ in 1..line {
        offset += bytes.get(offset..)?.iter().position(|&b| b == b'\n')? + 1;
    }
    let end = (offset + column).min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        let b = *bytes.get(i)?;
        match b {
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes.get(i) != Some(&b'"') {
                    i += if bytes.get(i) == Some(&b'\\') { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, expect_key }) = stack.last_mut() {
                    if *expect_key {
                        *key = Some(String::from_utf8_lossy(bytes.get(start..i)?).into_owned());
                    }
                }
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    (!path.is_empty()).then_some(path)
}

/// Decides on a `validate` payload (`{"request": <AdmissionRequest>, "settings": {...}}`).
pub fn evaluate<R: Rule>(payload: &[u8], host: &mut dyn Host) -> Result<Verdict, String> {
    let payload =
        parse_payload(payload).map_err(|e| format!("cannot read the admission request: {e}"))?;
    let settings =
        Settings::<R::Settings>::from_value(payload.settings).map_err(|e| e.to_string())?;
    let request = payload.request;

    let Some(object) = request.object else {
        return match request.operation.as_deref() {
            Some("DELETE" | "CONNECT") => Ok(Verdict::Allow),
            _ => Err("the admission request has no object to check".into()),
        };
    };
    let Some(path) = PodSpecPath::for_kind(&request.kind.group, &request.kind.kind) else {
        let group = if request.kind.group.is_empty() {
            "core"
        } else {
            &request.kind.group
        };
        return Err(format!(
            "kind {group}/{} is not a workload custody knows how to read; \
             it checks Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, \
             ReplicationController, Job and CronJob",
            request.kind.kind
        ));
    };
    if let Some(ns) = &request.namespace {
        if settings.common.namespace_is_exempt(ns) {
            return Ok(Verdict::Allow);
        }
    }

    let mut violations = Vec::new();
    let mut patches = Vec::new();
    for container in object.containers(path) {
        let Some(text) = &container.image else {
            violations.push(Violation::container(&container, "has no image"));
            continue;
        };
        let reference = match ImageRef::parse(text) {
            Ok(r) => r,
            Err(e) => {
                violations.push(Violation::container(
                    &container,
                    format!("image {text:?} is not a valid image reference: {e}"),
                ));
                continue;
            }
        };
        if settings.common.exempt_images.matches(&reference) {
            continue;
        }
        let image = Image {
            container: &container,
            reference,
        };
        match R::check(&settings.policy, &image, host) {
            Check::Allow => {}
            Check::Deny(message) => violations.push(Violation::container(&container, message)),
            Check::Pin(digest) => patches.push(ImagePatch {
                pointer: container.location.image_pointer(),
                image: format!("{text}@{digest}"),
            }),
        }
    }
    Ok(if !violations.is_empty() {
        Verdict::Deny(violations)
    } else if !patches.is_empty() {
        Verdict::Mutate(patches)
    } else {
        Verdict::Allow
    })
}

/// Joins violations into one message, a line each, listing at most [`MAX_LISTED_VIOLATIONS`].
pub fn denial_message(violations: &[Violation]) -> String {
    let mut lines: Vec<String> = violations
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(ToString::to_string)
        .collect();
    if violations.len() > MAX_LISTED_VIOLATIONS {
        lines.push(format!(
            "... and {} more violations",
            violations.len() - MAX_LISTED_VIOLATIONS
        ));
    }
    lines.join("\n")
}

/// Applies image patches to the request's object, read again from the payload as a whole.
fn mutated_object(payload: &[u8], patches: &[ImagePatch]) -> Result<Value, String> {
    #[derive(Deserialize)]
    struct Whole {
        request: WholeRequest,
    }
    #[derive(Deserialize)]
    struct WholeRequest {
        object: Value,
    }
    let whole: Whole = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let mut object = whole.request.object;
    for patch in patches {
        let field = object
            .pointer_mut(&patch.pointer)
            .ok_or_else(|| format!("the object has no field {}", patch.pointer))?;
        *field = Value::String(patch.image.clone());
    }
    Ok(object)
}

/// `validate`: the whole answer for a payload.
pub fn validate<R: Rule>(payload: &[u8], host: &mut dyn Host) -> ValidationResponse {
    match evaluate::<R>(payload, host) {
        Ok(Verdict::Allow) => ValidationResponse::accept(None),
        Ok(Verdict::Deny(violations)) => ValidationResponse::reject(denial_message(&violations)),
        Ok(Verdict::Mutate(patches)) => match mutated_object(payload, &patches) {
            Ok(object) => ValidationResponse::accept(Some(object)),
            Err(e) => ValidationResponse::reject(format!("cannot pin the images: {e}")),
        },
        Err(message) => ValidationResponse::reject(message),
    }
}

/// `validate_settings`: whether raw settings JSON is valid for the rule.
pub fn validate_settings<R: Rule>(settings: &[u8]) -> SettingsValidation {
    match Settings::<R::Settings>::from_slice(settings) {
        Ok(_) => SettingsValidation {
            valid: true,
            message: None,
        },
        Err(e) => SettingsValidation {
            valid: false,
            message: Some(e.to_string()),
        },
    }
}

/// [`validate`], serialised.
pub fn validate_json<R: Rule>(payload: &[u8], host: &mut dyn Host) -> Vec<u8> {
    to_json(&validate::<R>(payload, host))
}

/// [`validate_settings`], serialised.
pub fn validate_settings_json<R: Rule>(settings: &[u8]) -> Vec<u8> {
    to_json(&validate_settings::<R>(settings))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail; answer a rejection if it ever does.
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"accepted":false,"valid":false,"message":"internal error: cannot serialise the answer"}"#
            .to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(json: &str) -> String {
        match parse_payload(json.as_bytes()) {
            Ok(_) => "parsed".into(),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            located(r#"{"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "a"}, {"name": "b", "image": 42}]}}}}"#),
            "request.object.spec.containers[1].image: invalid type: integer `42`, expected a string"
        );
        assert_eq!(
            located("{\"request\":\n {\"kind\": \"Pod\"}}"),
            "request.kind: invalid type: string \"Pod\", expected struct GroupVersionKind"
        );
        assert_eq!(
            located(
                r#"{"request": {"kind": {"kind": "Pod"}, "object": {"metadata": {"a\"b": [1, {"x": 1}]}, "spec": {"containers": {}}}}}"#
            ),
            "request.object.spec.containers: invalid type: map, expected a sequence"
        );
        // Syntax errors keep serde_json's position.
        assert_eq!(
            located("{\"request\": "),
            "EOF while parsing a value at line 1 column 12"
        );
    }
}
