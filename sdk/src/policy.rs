//! The evaluation pipeline every policy shares, independent of the ABI: read the request, apply the
//! common settings, find the images, ask the rule about each, and build the answer.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::host::Host;
use crate::image::ImageRef;
use crate::rule::{Check, ContainerId, Image, ImagePatch, Rule, Verdict, Violation};
use crate::settings::{Settings, SettingsError};
use crate::workload::{PodSpecPath, WorkloadView};

/// How many violations a denial message lists before it summarises the rest.
const MAX_LISTED_VIOLATIONS: usize = 50;

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

    /// The answer for Gatekeeper violations, as Kubewarden's `gatekeeper` mode gives it: allowed
    /// when there are none, else rejected with their messages a line each.
    pub fn from_gatekeeper(violations: &[GatekeeperViolation]) -> Self {
        if violations.is_empty() {
            return Self::accept(None);
        }
        let lines: Vec<&str> = violations.iter().map(|v| v.msg.as_str()).collect();
        Self::reject(lines.join("\n"))
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

/// Why a request gets no verdict from the rule: it is denied with this error as its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// The payload (or Gatekeeper input) is not the JSON document it must be.
    Unreadable {
        /// Where in the document the value at fault is (`request.object.spec.containers[1].image`),
        /// when the text is JSON but a value has the wrong shape.
        path: Option<String>,
        /// What is wrong (for a syntax error, with serde_json's line and column).
        detail: String,
    },
    /// The settings (waPC) are invalid.
    Settings(SettingsError),
    /// The constraint's parameters (Gatekeeper mode) are invalid.
    Parameters(SettingsError),
    /// The request's kind is not a workload custody reads.
    UnknownKind {
        /// The API group, empty for the core group.
        group: String,
        /// The kind.
        kind: String,
    },
    /// The request has no object, and its operation needs one.
    NoObject,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unreadable {
                path: Some(path),
                detail,
            } => write!(f, "cannot read the admission request: {path}: {detail}"),
            RequestError::Unreadable { path: None, detail } => {
                write!(f, "cannot read the admission request: {detail}")
            }
            RequestError::Settings(e) => e.fmt(f),
            RequestError::Parameters(e) => write!(f, "invalid parameters: {}", e.detail()),
            RequestError::UnknownKind { group, kind } => {
                let group = if group.is_empty() { "core" } else { group };
                write!(
                    f,
                    "kind {group}/{kind} is not a workload custody knows how to read; \
                     it checks Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, \
                     ReplicationController, Job and CronJob"
                )
            }
            RequestError::NoObject => f.write_str("the admission request has no object to check"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Reads a JSON document; on failure, says where in the document it went wrong.
fn parse_located<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RequestError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        match json_path_at(bytes, e.line(), e.column()) {
            Some(path) if e.is_data() => RequestError::Unreadable {
                path: Some(path),
                detail: message
                    .strip_suffix(&position)
                    .unwrap_or(&message)
                    .to_owned(),
            },
            _ => RequestError::Unreadable {
                path: None,
                detail: message,
            },
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
pub(crate) fn evaluate<R: Rule>(
    payload: &[u8],
    host: &mut (impl Host + ?Sized),
) -> Result<Verdict, RequestError> {
    let payload: Payload = parse_located(payload)?;
    let settings =
        Settings::<R::Settings>::from_value(payload.settings).map_err(RequestError::Settings)?;
    decide::<R>(payload.request, &settings, host)
}

/// The decision on a request read and settings checked, whatever the ABI.
fn decide<R: Rule>(
    request: RequestView,
    settings: &Settings<R::Settings>,
    host: &mut (impl Host + ?Sized),
) -> Result<Verdict, RequestError> {
    let Some(mut object) = request.object else {
        return match request.operation.as_deref() {
            Some("DELETE" | "CONNECT") => Ok(Verdict::Allow),
            _ => Err(RequestError::NoObject),
        };
    };
    let Some(path) = PodSpecPath::for_kind(&request.kind.group, &request.kind.kind) else {
        return Err(RequestError::UnknownKind {
            group: request.kind.group,
            kind: request.kind.kind,
        });
    };
    if let Some(ns) = &request.namespace {
        if settings.common.namespace_is_exempt(ns) {
            return Ok(Verdict::Allow);
        }
    }

    let pod_annotations = object.take_pod_annotations(path);
    let mut violations = Vec::new();
    let mut patches = Vec::new();
    let mut state = R::State::default();
    // An image written the same way in several containers is judged once: the judgement depends
    // only on the image, the settings and the pod's annotations.
    let mut judged: BTreeMap<String, Check> = BTreeMap::new();
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
        let check = match judged.get(text) {
            Some(check) => check.clone(),
            None => {
                let image = Image {
                    reference,
                    pod_annotations: &pod_annotations,
                };
                let check = R::check(&settings.policy, &mut state, &image, host);
                judged.insert(text.clone(), check.clone());
                check
            }
        };
        match check {
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

/// The violations an answer lists: the first [`MAX_LISTED_VIOLATIONS`], then one that counts the
/// rest.
fn listed(mut violations: Vec<Violation>) -> Vec<Violation> {
    let more = violations.len().saturating_sub(MAX_LISTED_VIOLATIONS);
    violations.truncate(MAX_LISTED_VIOLATIONS);
    if more > 0 {
        violations.push(Violation::request(format!(
            "... and {more} more violations"
        )));
    }
    violations
}

/// Joins violations into one message, a line each, listing at most [`MAX_LISTED_VIOLATIONS`].
fn denial_message(violations: Vec<Violation>) -> String {
    listed(violations)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
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
pub fn validate<R: Rule>(payload: &[u8], host: &mut (impl Host + ?Sized)) -> ValidationResponse {
    match evaluate::<R>(payload, host) {
        Ok(Verdict::Allow) => ValidationResponse::accept(None),
        Ok(Verdict::Deny(violations)) => ValidationResponse::reject(denial_message(violations)),
        Ok(Verdict::Mutate(patches)) => match mutated_object(payload, &patches) {
            Ok(object) => ValidationResponse::accept(Some(object)),
            Err(e) => ValidationResponse::reject(format!("cannot pin the images: {e}")),
        },
        Err(error) => ValidationResponse::reject(error.to_string()),
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
pub fn validate_json<R: Rule>(payload: &[u8], host: &mut (impl Host + ?Sized)) -> Vec<u8> {
    to_json(
        &validate::<R>(payload, host),
        br#"{"accepted":false,"message":"internal error: cannot serialise the answer"}"#,
    )
}

/// [`validate_settings`], serialised.
pub fn validate_settings_json<R: Rule>(settings: &[u8]) -> Vec<u8> {
    to_json(
        &validate_settings::<R>(settings),
        br#"{"valid":false,"message":"internal error: cannot serialise the answer"}"#,
    )
}

/// Serialises an answer. These plain structs cannot fail to serialise; if one ever did, the
/// fallback (a denial) is answered instead.
fn to_json<T: Serialize>(value: &T, fallback: &[u8]) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| fallback.to_vec())
}

// Gatekeeper mode: the same decision, in Gatekeeper's contract.

/// Gatekeeper's input document: the admission request under `review`, the constraint's
/// `parameters` (custody's settings).
#[derive(Debug, Deserialize)]
struct GatekeeperInput {
    review: RequestView,
    #[serde(default)]
    parameters: Value,
}

/// One Gatekeeper violation: `{"msg": "...", "details": {...}}`. custody puts the container
/// (`container`, `location`, `image`) in `details`; hosts read any object there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatekeeperViolation {
    /// The message: the same line the waPC build puts in its denial.
    pub msg: String,
    /// Structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl From<Violation> for GatekeeperViolation {
    fn from(violation: Violation) -> Self {
        GatekeeperViolation {
            msg: violation.to_string(),
            details: violation
                .container
                .and_then(|c: ContainerId| serde_json::to_value(c).ok()),
        }
    }
}

/// One element of the result set an OPA-wasm entrypoint returns: `{"result": <value>}`; for
/// custody's entrypoint the value is the set of violations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatekeeperResult {
    /// The violations; empty when the request is allowed.
    pub result: Vec<GatekeeperViolation>,
}

/// Gatekeeper mode: the violations for an input document (`{"review": .., "parameters": ..}`),
/// one per offending container, at most 50 and one counting the rest; none
/// means allowed. Unreadable input and invalid parameters are violations too: this mode has no
/// separate settings check, and an error must not allow.
pub fn gatekeeper<R: Rule>(
    input: &[u8],
    host: &mut (impl Host + ?Sized),
) -> Vec<GatekeeperViolation> {
    let violations = match crate::abi::as_gatekeeper(|| gatekeeper_verdict::<R>(input, host)) {
        Ok(Verdict::Allow) => Vec::new(),
        Ok(Verdict::Deny(violations)) => violations,
        Ok(Verdict::Mutate(patches)) => patches
            .into_iter()
            .map(|patch| {
                Violation::request(format!(
                    "{} must be pinned as {:?}, and Gatekeeper mode cannot mutate",
                    patch.pointer, patch.image
                ))
            })
            .collect(),
        Err(error) => vec![Violation::request(error.to_string())],
    };
    listed(violations).into_iter().map(Into::into).collect()
}

fn gatekeeper_verdict<R: Rule>(
    input: &[u8],
    host: &mut (impl Host + ?Sized),
) -> Result<Verdict, RequestError> {
    let input: GatekeeperInput = parse_located(input)?;
    let settings =
        Settings::<R::Settings>::from_value(input.parameters).map_err(RequestError::Parameters)?;
    decide::<R>(input.review, &settings, host)
}

/// [`gatekeeper`] as the entrypoint's result set, serialised: `[{"result": [...]}]`.
pub fn gatekeeper_json<R: Rule>(input: &[u8], host: &mut (impl Host + ?Sized)) -> Vec<u8> {
    let result = [GatekeeperResult {
        result: gatekeeper::<R>(input, host),
    }];
    to_json(
        &result,
        br#"[{"result":[{"msg":"internal error: cannot serialise the answer"}]}]"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(json: &str) -> String {
        match parse_located::<Payload>(json.as_bytes()) {
            Ok(_) => "parsed".into(),
            Err(e) => e
                .to_string()
                .trim_start_matches("cannot read the admission request: ")
                .to_owned(),
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

    /// A rule that allows everything, with settings of its own that may be invalid.
    struct AllowAll;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoSettings {}

    impl crate::settings::PolicySettings for NoSettings {}

    impl Rule for AllowAll {
        type Settings = NoSettings;
        type State = ();
        fn check<H: Host + ?Sized>(_: &NoSettings, _: &mut (), _: &Image<'_>, _: &mut H) -> Check {
            Check::Allow
        }
    }

    /// Callers branch on the variant; the message is the one users read.
    #[test]
    fn request_errors_are_typed() {
        let run = |payload: serde_json::Value| {
            evaluate::<AllowAll>(payload.to_string().as_bytes(), &mut crate::NoHost)
        };
        let pod = serde_json::json!({"spec": {"containers": []}});
        let e = run(serde_json::json!({"request": {"kind": {"group": "batch", "kind": "Frob"}, "object": pod}}))
            .unwrap_err();
        assert_eq!(
            e,
            RequestError::UnknownKind {
                group: "batch".into(),
                kind: "Frob".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with("kind batch/Frob is not a workload"),
            "{e}"
        );
        let e =
            run(serde_json::json!({"request": {"kind": {"kind": "Pod"}, "operation": "CREATE"}}))
                .unwrap_err();
        assert_eq!(e, RequestError::NoObject);
        let e = run(serde_json::json!({"request": {"kind": {"kind": "Pod"}, "object": pod}, "settings": {"bogus": 1}}))
            .unwrap_err();
        assert!(
            matches!(&e, RequestError::Settings(s) if s.field == "bogus"),
            "{e:?}"
        );
        let e = run(serde_json::json!({"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "a", "image": 1}]}}}}))
            .unwrap_err();
        assert_eq!(
            e,
            RequestError::Unreadable {
                path: Some("request.object.spec.containers[0].image".into()),
                detail: "invalid type: integer `1`, expected a string".into()
            }
        );
    }
}
