//! What a Kubewarden policy answers (snake_case on the wire; unknown fields ignored).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The answer to `validate_settings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SettingsValidation {
    /// Whether the settings are acceptable.
    pub valid: bool,
    /// Why not, usually.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to `validate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValidationResponse {
    /// Whether the request is admitted.
    pub accepted: bool,
    /// Why not (our policies put one violation per line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP code to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The object as the policy wants it (mutating policies); see [`crate::json_patch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutated_object: Option<serde_json::Value>,
    /// Annotations for the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}
