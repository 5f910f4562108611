//! Host capabilities: what a guest's `__host_call` reaches.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::Cluster;

/// The only binding Kubewarden's host answers.
pub const KUBEWARDEN_BINDING: &str = "kubewarden";

/// Answers host capability calls (Kubewarden binding `kubewarden`: namespaces `oci`, `crypto`,
/// `kubernetes`, `net`).
///
/// `Ok` bytes are handed to the guest through `__host_response`, `Err` text through `__host_error`.
pub trait Capabilities: Send {
    /// Answers one call. `payload` is what the guest sent (JSON for every Kubewarden capability).
    fn call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String>;
}

impl<C: Capabilities + ?Sized> Capabilities for Box<C> {
    fn call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        (**self).call(binding, namespace, operation, payload)
    }
}

/// Refuses every host call.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCapabilities;

impl Capabilities for NoCapabilities {
    fn call(
        &mut self,
        _binding: &str,
        namespace: &str,
        operation: &str,
        _payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        Err(format!(
            "host capability {namespace}/{operation} is not available in this host"
        ))
    }
}

/// One scripted answer: when the guest asks `namespace`/`operation` with exactly `request`
/// (compared as JSON values), answer `response` — or fail with `error`.
///
/// Calls on a binding other than `kubewarden` are refused unless an entry names that binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// The binding; `None` means `kubewarden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    /// E.g. `oci`.
    pub namespace: String,
    /// E.g. `v1/manifest_digest`.
    pub operation: String,
    /// The request the guest must send.
    pub request: Value,
    /// The answer (serialized as JSON for the guest). Exactly one of `response` and `error`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub response: Option<Value>,
    /// The error to answer instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Makes `"response": null` distinct from an absent `response`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A host call a [`ScriptedCapabilities`] received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedCall {
    /// The binding the guest named.
    pub binding: String,
    /// The namespace.
    pub namespace: String,
    /// The operation.
    pub operation: String,
    /// The payload, parsed as JSON (a JSON string holding the raw text if it was not JSON).
    pub request: Value,
}

/// Answers host calls from a fixed script, and records what it was asked.
///
/// Clones share the record, so a test can keep a clone and inspect [`calls`](Self::calls) after
/// handing the original to a [`crate::PolicyInstance`].
#[derive(Debug, Clone, Default)]
pub struct ScriptedCapabilities {
    script: Arc<Vec<ScriptedCall>>,
    calls: Arc<Mutex<Vec<RecordedCall>>>,
    cluster: Option<Arc<Cluster>>,
}

impl ScriptedCapabilities {
    /// A script from its entries; entries with both or neither of `response` / `error` are refused.
    pub fn new(script: Vec<ScriptedCall>) -> Result<Self, String> {
        for (index, entry) in script.iter().enumerate() {
            match (&entry.response, &entry.error) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "scripted call #{index} ({}/{}) has both `response` and `error`",
                        entry.namespace, entry.operation
                    ))
                }
                (None, None) => {
                    return Err(format!(
                        "scripted call #{index} ({}/{}) has neither `response` nor `error`",
                        entry.namespace, entry.operation
                    ))
                }
                _ => {}
            }
        }
        Ok(Self {
            script: Arc::new(script),
            calls: Arc::default(),
            cluster: None,
        })
    }

    /// Answers the `kubernetes` calls the script does not from `cluster`'s objects.
    pub fn with_cluster(mut self, cluster: Cluster) -> Self {
        self.cluster = Some(Arc::new(cluster));
        self
    }

    /// A script from JSON text: a list of `{binding?, namespace, operation, request,
    /// response | error}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let script: Vec<ScriptedCall> =
            serde_json::from_str(text).map_err(|e| format!("invalid capability script: {e}"))?;
        Self::new(script)
    }

    /// The script.
    pub fn script(&self) -> &[ScriptedCall] {
        &self.script
    }

    /// The calls received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.record().clone()
    }

    fn record(&self) -> MutexGuard<'_, Vec<RecordedCall>> {
        // A panic elsewhere while holding the lock leaves the list intact: keep using it.
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Capabilities for ScriptedCapabilities {
    fn call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let request = serde_json::from_slice::<Value>(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        self.record().push(RecordedCall {
            binding: binding.to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            request: request.clone(),
        });
        let entry = self.script.iter().find(|entry| {
            entry.binding.as_deref().unwrap_or(KUBEWARDEN_BINDING) == binding
                && entry.namespace == namespace
                && entry.operation == operation
                && entry.request == request
        });
        match entry {
            Some(ScriptedCall {
                response: Some(response),
                ..
            }) => serde_json::to_vec(response).map_err(|e| e.to_string()),
            Some(ScriptedCall {
                error: Some(error), ..
            }) => Err(error.clone()),
            _ if binding != KUBEWARDEN_BINDING => {
                Err(format!("binding {binding} is not supported"))
            }
            _ => match &self.cluster {
                Some(cluster) if namespace == "kubernetes" => cluster.answer(operation, payload),
                _ => Err(format!(
                    "no scripted answer for host capability {namespace}/{operation} with request {}",
                    Shorten(&request)
                )),
            },
        }
    }
}

/// Displays a JSON value, cut at a readable length.
struct Shorten<'a>(&'a Value);

impl fmt::Display for Shorten<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 500;
        let text = self.0.to_string();
        match text.char_indices().nth(MAX) {
            Some((cut, _)) => write!(f, "{}...", text.get(..cut).unwrap_or_default()),
            None => f.write_str(&text),
        }
    }
}
