//! Kubewarden's `oci` host capabilities answered from real registries, as Kubewarden's host
//! answers them; every other call goes to an inner [`Capabilities`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use custody_host::Capabilities;
use custody_sdk::host::VerifyRequest;
use custody_sigstore::TrustedRoot;
use serde_json::json;

use crate::oci::{Client, Options};

/// How long a successful `v2/verify` answer is kept (failures are never kept), as Kubewarden's
/// host does.
pub const VERIFY_CACHE_TTL: Duration = Duration::from_secs(60);

/// The binding Kubewarden's host answers.
const KUBEWARDEN: &str = "kubewarden";

/// Kubewarden's `oci` host capabilities (binding `kubewarden`) answered from the registries
/// themselves, like `kwctl run`:
///
/// - `v1/manifest_digest` (a JSON string, the image) → `{"digest"}`;
/// - `v1/oci_manifest` → the manifest or index JSON, as the registry serves it;
/// - `v1/oci_manifest_config` → `{"manifest", "digest", "config"}`: the image manifest (for an
///   index, its entry for this machine's OS and architecture), its digest and its config's JSON;
/// - `v2/verify` (a [`VerifyRequest`]) → `{"is_trusted": true, "digest"}`, the image's cosign
///   signatures (tag `sha256-<hex>.sig`) verified natively, every key or identity of the request
///   having signed (all of); else an error naming each signer without a valid signature and why.
///   Successful answers are kept [`VERIFY_CACHE_TTL`] (keyed by the request), failures never.
///
/// Every other call (namespace `kubernetes`, ...) goes to `inner`. The registry client, and the
/// public-good trusted root when none was given, are made on the first `oci` call. Clones share
/// the client, the cache and `inner`, so that several policy instances can share one. The clock is
/// the system's. Blocking: not for use from inside a tokio runtime.
#[derive(Clone)]
pub struct RegistryCapabilities {
    state: Arc<Mutex<State>>,
    inner: Arc<Mutex<Box<dyn Capabilities>>>,
}

struct State {
    options: Options,
    client: Option<Client>,
    trusted_root: Option<TrustedRoot>,
    cache: HashMap<String, (Instant, Vec<u8>)>,
}

impl std::fmt::Debug for RegistryCapabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("RegistryCapabilities")
            .field("options", &state.options)
            .field("cached_verifications", &state.cache.len())
            .finish_non_exhaustive()
    }
}

impl RegistryCapabilities {
    /// Answers `oci` calls from the registries `options` reaches; keyless signatures are verified
    /// against `trusted_root` (`None`: Sigstore's public-good instance,
    /// [`TrustedRoot::public_good`]); every other call goes to `inner`.
    pub fn new(
        options: Options,
        trusted_root: Option<TrustedRoot>,
        inner: Box<dyn Capabilities>,
    ) -> Self {
        RegistryCapabilities {
            state: Arc::new(Mutex::new(State {
                options,
                client: None,
                trusted_root,
                cache: HashMap::new(),
            })),
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// What the user may want to know about registry credentials (an identity token that cannot
    /// be used), each note once.
    pub fn take_notes(&self) -> Vec<String> {
        self.state()
            .client
            .as_mut()
            .map(Client::take_notes)
            .unwrap_or_default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn oci(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut state = self.state();
        match operation {
            "v1/manifest_digest" => {
                let image = image_payload(operation, payload)?;
                let digest = state.client()?.manifest_digest(&image).map_err(text)?;
                to_json(&json!({ "digest": digest }))
            }
            "v1/oci_manifest" => {
                let image = image_payload(operation, payload)?;
                let manifest = state.client()?.manifest(&image).map_err(text)?;
                to_json(&manifest.json)
            }
            "v1/oci_manifest_config" => {
                let image = image_payload(operation, payload)?;
                let answer = state.client()?.manifest_and_config(&image).map_err(text)?;
                to_json(&json!({
                    "manifest": answer.manifest,
                    "digest": answer.digest,
                    "config": answer.config,
                }))
            }
            "v2/verify" => {
                let request: VerifyRequest = serde_json::from_slice(payload)
                    .map_err(|e| format!("invalid oci/v2/verify request: {e}"))?;
                state.verify(&request)
            }
            _ => Err(format!(
                "host capability oci/{operation} is not available in this host"
            )),
        }
    }
}

impl State {
    fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.is_none() {
            self.client = Some(Client::new(self.options.clone()).map_err(text)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| "no registry client".to_owned())
    }

    fn verify(&mut self, request: &VerifyRequest) -> Result<Vec<u8>, String> {
        let key = serde_json::to_string(request).map_err(|e| e.to_string())?;
        let now = Instant::now();
        self.cache
            .retain(|_, (at, _)| now.duration_since(*at) < VERIFY_CACHE_TTL);
        if let Some((_, answer)) = self.cache.get(&key) {
            return Ok(answer.clone());
        }
        if self.trusted_root.is_none() {
            let root = TrustedRoot::public_good()
                .map_err(|e| format!("the public-good trusted root: {e}"))?;
            self.trusted_root = Some(root);
        }
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_owned())?
            .as_secs();
        let unix_now = i64::try_from(unix_now).map_err(|e| e.to_string())?;
        self.client()?;
        let (Some(client), Some(trusted_root)) = (self.client.as_mut(), self.trusted_root.as_ref())
        else {
            return Err("no registry client".to_owned());
        };
        let answer = crate::verify::verify(client, trusted_root, request, unix_now)?;
        let answer = to_json(&answer)?;
        self.cache.insert(key, (Instant::now(), answer.clone()));
        Ok(answer)
    }
}

impl Capabilities for RegistryCapabilities {
    fn call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if binding == KUBEWARDEN && namespace == "oci" {
            return self.oci(operation, payload);
        }
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .call(binding, namespace, operation, payload)
    }
}

/// The image reference a `v1/...` request carries (a JSON string).
fn image_payload(operation: &str, payload: &[u8]) -> Result<String, String> {
    serde_json::from_slice(payload).map_err(|e| {
        format!("invalid oci/{operation} request: expected a JSON string, the image: {e}")
    })
}

fn to_json(value: &(impl serde::Serialize + ?Sized)) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

/// An error with its causes, on one line.
fn text(error: anyhow::Error) -> String {
    format!("{error:#}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_host::{NoCapabilities, ScriptedCapabilities};

    #[test]
    fn other_namespaces_go_to_the_inner_capabilities() {
        let script = r#"[{"namespace": "kubernetes", "operation": "get_resource",
                          "request": {"x": 1}, "response": {"kind": "ConfigMap"}}]"#;
        let inner = ScriptedCapabilities::from_json(script).unwrap_or_default();
        let mut caps = RegistryCapabilities::new(Options::default(), None, Box::new(inner));
        assert_eq!(
            caps.call("kubewarden", "kubernetes", "get_resource", br#"{"x": 1}"#),
            Ok(br#"{"kind":"ConfigMap"}"#.to_vec())
        );
        // Another binding's `oci` is not ours either.
        let other = caps.call("other", "oci", "v1/manifest_digest", br#""busybox""#);
        assert!(other.is_err_and(|e| e.contains("binding other")));
    }

    #[test]
    fn malformed_oci_requests_are_refused_without_the_network() {
        let mut caps =
            RegistryCapabilities::new(Options::default(), None, Box::new(NoCapabilities));
        let error =
            |op: &str, payload: &[u8]| match caps.clone().call("kubewarden", "oci", op, payload) {
                Ok(answer) => panic!("{op}: answered {}", String::from_utf8_lossy(&answer)),
                Err(e) => e,
            };
        for op in [
            "v1/manifest_digest",
            "v1/oci_manifest",
            "v1/oci_manifest_config",
        ] {
            let e = error(op, br#"{"image": "busybox"}"#);
            assert!(e.contains(op) && e.contains("JSON string"), "{e}");
        }
        let e = error(
            "v2/verify",
            br#"{"type": "SigstoreNoSuchVerify", "image": "x"}"#,
        );
        assert!(e.contains("invalid oci/v2/verify request"), "{e}");
        let e = error("v1/verify", b"{}");
        assert!(e.contains("oci/v1/verify is not available"), "{e}");
        let e = error("v1/manifest_digest", br#""NOT A REFERENCE""#);
        assert!(e.contains("not an image reference"), "{e}");
        // Nothing was cached, nothing needed the network.
        assert_eq!(caps.state().cache.len(), 0);
        assert!(caps.take_notes().is_empty());
        let _ = caps.call("kubewarden", "crypto", "v1/is_certificate_trusted", b"{}");
    }
}
