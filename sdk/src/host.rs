//! Host capabilities and host facts: what a policy may ask of the host that runs it (Kubewarden's
//! binding `kubewarden`, and the clock). The ABI layer provides the host of a module (waPC:
//! `__host_call` and the WASI clock; OPA ABI: [`InventoryHost`], with no clock); natively the caller
//! supplies its own implementation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::image::{Digest, ImageRef};

/// Something that answers host capability calls: `namespace` (`oci`, `kubernetes`, ...),
/// `operation` (`v1/manifest_digest`, ...) and a JSON payload; the answer is JSON too.
pub trait Host {
    /// Performs one call. The error is the host's message.
    fn call(&mut self, namespace: &str, operation: &str, payload: &[u8])
        -> Result<Vec<u8>, String>;

    /// The wall clock, Unix seconds; `None` where the host gives none (OPA-ABI hosts). Code that
    /// needs the time asks here, never the system: what a module may know comes from its host.
    fn now_unix(&self) -> Option<i64>;

    /// `kubernetes` / `get_resource`: one cluster object (see [`GET_RESOURCE`]); an object that
    /// does not exist is an error too (hosts answer the API server's 404 as one). Through
    /// [`call`](Host::call) and the answer's JSON text, unless the host holds the objects itself
    /// ([`InventoryHost`] lends them as they are: nothing is serialised, read again or copied).
    fn get_resource(&mut self, request: &ResourceRequest) -> Result<Cow<'_, Value>, HostError> {
        let answer = call_json(self, GET_RESOURCE, request)?;
        serde_json::from_slice(&answer)
            .map(Cow::Owned)
            .map_err(|e| HostError::malformed(GET_RESOURCE, e))
    }
}

/// Why a host capability gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The host refused or failed the call (the capability is not available, the object does not
    /// exist, the registry could not be reached): its message, as it gave it.
    Failed(String),
    /// The host answered, but not with what the capability returns.
    MalformedAnswer {
        /// The capability, `namespace/operation`.
        capability: String,
        /// What is wrong with the answer.
        detail: String,
    },
}

impl HostError {
    fn malformed((namespace, operation): (&str, &str), detail: impl fmt::Display) -> Self {
        HostError::MalformedAnswer {
            capability: format!("{namespace}/{operation}"),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Failed(message) => f.write_str(message),
            HostError::MalformedAnswer { capability, detail } => {
                write!(
                    f,
                    "the host's answer to {capability} is malformed: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for HostError {}

/// Calls `capability` with `payload` serialised as JSON.
fn call_json<H: Host + ?Sized, T: serde::Serialize>(
    host: &mut H,
    (namespace, operation): (&str, &str),
    payload: &T,
) -> Result<Vec<u8>, HostError> {
    let payload = serde_json::to_vec(payload).map_err(|e| HostError::Failed(e.to_string()))?;
    host.call(namespace, operation, &payload)
        .map_err(HostError::Failed)
}

/// A host without capabilities or clock: every call fails (the native evaluation of rules that
/// need none).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHost;

impl Host for NoHost {
    fn call(&mut self, namespace: &str, operation: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!(
            "host capability {namespace}/{operation} is not available"
        ))
    }

    fn now_unix(&self) -> Option<i64> {
        None
    }
}

/// `oci` / `v1/manifest_digest`: the digest of the manifest (or index) a reference points at now.
pub(crate) const MANIFEST_DIGEST: (&str, &str) = ("oci", "v1/manifest_digest");

/// Resolves `image` to the digest of its manifest through the host, checking the answer.
pub fn manifest_digest(
    host: &mut (impl Host + ?Sized),
    image: &ImageRef,
) -> Result<Digest, HostError> {
    #[derive(Deserialize)]
    struct Answer {
        digest: String,
    }
    let answer = call_json(host, MANIFEST_DIGEST, &image.to_string())?;
    let answer: Answer =
        serde_json::from_slice(&answer).map_err(|e| HostError::malformed(MANIFEST_DIGEST, e))?;
    Digest::parse(&answer.digest)
        .map_err(|e| HostError::malformed(MANIFEST_DIGEST, format!("a bad digest: {e}")))
}

/// `oci` / `v2/verify`: Kubewarden's image signature verification (cosign's `sha256-<hex>.sig`
/// layout, verified by the host). Every key or identity of one request must have signed (all of);
/// a policy wanting any of, or N of M, makes one call per signer and counts.
pub const VERIFY: (&str, &str) = ("oci", "v2/verify");

/// What `oci/v2/verify` checks, as Kubewarden's host reads it (internally tagged by `type`;
/// `annotations`, when given, must all be in the signature's payload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum VerifyRequest {
    /// Signed by every one of these public keys (PEM).
    SigstorePubKeyVerify {
        image: String,
        pub_keys: Vec<String>,
        annotations: Option<BTreeMap<String, String>>,
    },
    /// Signed with a Fulcio certificate of each of these identities (exact issuer and subject).
    SigstoreKeylessVerify {
        image: String,
        keyless: Vec<KeylessInfo>,
        annotations: Option<BTreeMap<String, String>>,
    },
    /// Signed with a Fulcio certificate whose subject URL starts with `url_prefix`, for each.
    SigstoreKeylessPrefixVerify {
        image: String,
        keyless_prefix: Vec<KeylessPrefixInfo>,
        annotations: Option<BTreeMap<String, String>>,
    },
    /// Signed by a GitHub Actions workflow of `owner` (and `repo`, when given).
    SigstoreGithubActionsVerify {
        image: String,
        owner: String,
        repo: Option<String>,
        annotations: Option<BTreeMap<String, String>>,
    },
    /// Signed with the key of `certificate` (PEM bytes), which `certificate_chain` (PEM bytes,
    /// each) must have issued; `require_rekor_bundle`: the signature must carry a Rekor bundle,
    /// and the certificate be valid at its integrated time.
    SigstoreCertificateVerify {
        image: String,
        certificate: Vec<u8>,
        certificate_chain: Option<Vec<Vec<u8>>>,
        require_rekor_bundle: bool,
        annotations: Option<BTreeMap<String, String>>,
    },
}

impl VerifyRequest {
    /// The image the request is about.
    pub fn image(&self) -> &str {
        match self {
            VerifyRequest::SigstorePubKeyVerify { image, .. }
            | VerifyRequest::SigstoreKeylessVerify { image, .. }
            | VerifyRequest::SigstoreKeylessPrefixVerify { image, .. }
            | VerifyRequest::SigstoreGithubActionsVerify { image, .. }
            | VerifyRequest::SigstoreCertificateVerify { image, .. } => image,
        }
    }

    /// The annotations the signature's payload must carry.
    pub fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            VerifyRequest::SigstorePubKeyVerify { annotations, .. }
            | VerifyRequest::SigstoreKeylessVerify { annotations, .. }
            | VerifyRequest::SigstoreKeylessPrefixVerify { annotations, .. }
            | VerifyRequest::SigstoreGithubActionsVerify { annotations, .. }
            | VerifyRequest::SigstoreCertificateVerify { annotations, .. } => annotations.as_ref(),
        }
    }
}

/// An exact keyless identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct KeylessInfo {
    /// The OIDC issuer.
    pub issuer: String,
    /// The certificate subject (email or URI).
    pub subject: String,
}

/// A keyless identity by subject URL prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct KeylessPrefixInfo {
    /// The OIDC issuer.
    pub issuer: String,
    /// The subject URL's prefix.
    pub url_prefix: String,
}

/// The answer to `oci/v2/verify`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct VerifyAnswer {
    /// Whether every signer of the request signed.
    pub is_trusted: bool,
    /// The digest of the image that was verified (`sha256:...`).
    pub digest: String,
}

/// Asks the host to verify `request`; `Ok` is the host's answer, trusted or not (the digest
/// checked to be one), `Err` a failed call (the host answers a signature it could not find or
/// verify as an error, too).
pub fn verify(
    host: &mut (impl Host + ?Sized),
    request: &VerifyRequest,
) -> Result<(bool, Digest), HostError> {
    let answer = call_json(host, VERIFY, request)?;
    let answer: VerifyAnswer =
        serde_json::from_slice(&answer).map_err(|e| HostError::malformed(VERIFY, e))?;
    let digest = Digest::parse(&answer.digest)
        .map_err(|e| HostError::malformed(VERIFY, format!("a bad digest: {e}")))?;
    Ok((answer.is_trusted, digest))
}

/// `kubernetes` / `get_resource`: one object of the cluster (Kubewarden's context-aware
/// capability; the policy's metadata must list the kind in `contextAwareResources`). In Gatekeeper
/// mode the SDK answers it from `data.inventory`.
pub(crate) const GET_RESOURCE: (&str, &str) = ("kubernetes", "get_resource");

/// Which object [`get_resource`] reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ResourceRequest {
    /// `v1` for the core group, else `group/version`.
    pub api_version: String,
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Its namespace (`None` for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Ask the host not to answer from its cache.
    #[serde(default)]
    pub disable_cache: bool,
}

/// Answers [`GET_RESOURCE`] from a Gatekeeper `data` document: Gatekeeper replicates the cluster
/// objects it syncs into `data.inventory.namespace[<ns>][<apiVersion>][<kind>][<name>]` and, for
/// cluster-scoped kinds, `data.inventory.cluster[<apiVersion>][<kind>][<name>]`. Every other
/// capability fails: Gatekeeper-mode hosts have none (no registry, no network), and no clock.
#[derive(Debug)]
pub struct InventoryHost<'a> {
    data: &'a [u8],
    parsed: Option<serde_json::Value>,
}

impl<'a> InventoryHost<'a> {
    /// Over the `data` document's JSON text (read when first asked).
    pub fn new(data: &'a [u8]) -> Self {
        InventoryHost { data, parsed: None }
    }

    fn inventory(&mut self) -> Result<&serde_json::Value, String> {
        if self.parsed.is_none() {
            let data: serde_json::Value = if self.data.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(self.data)
                    .map_err(|e| format!("the host's data document is not JSON: {e}"))?
            };
            self.parsed = Some(data);
        }
        self.parsed
            .as_ref()
            .and_then(|d| d.get("inventory"))
            .ok_or_else(|| {
                "the host gave no data.inventory (configure Gatekeeper's sync, or the host's \
                 context-aware resources, to replicate the objects this policy reads)"
                    .to_owned()
            })
    }
}

impl InventoryHost<'_> {
    /// The object `request` names, in the inventory.
    fn lookup(&mut self, request: &ResourceRequest) -> Result<&Value, String> {
        let inventory = self.inventory()?;
        let scope = match &request.namespace {
            Some(ns) => inventory.get("namespace").and_then(|n| n.get(ns)),
            None => inventory.get("cluster"),
        };
        scope
            .and_then(|s| s.get(&request.api_version))
            .and_then(|v| v.get(&request.kind))
            .and_then(|k| k.get(&request.name))
            .ok_or_else(|| {
                let place = match &request.namespace {
                    Some(ns) => format!("data.inventory.namespace[{ns:?}]"),
                    None => "data.inventory.cluster".to_owned(),
                };
                format!(
                    "{} {:?} not found in {place}[{:?}][{:?}]",
                    request.kind, request.name, request.api_version, request.kind
                )
            })
    }
}

impl Host for InventoryHost<'_> {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if (namespace, operation) != GET_RESOURCE {
            return Err(format!(
                "host capability {namespace}/{operation} is not available in Gatekeeper mode"
            ));
        }
        let request: ResourceRequest =
            serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        serde_json::to_vec(self.lookup(&request)?).map_err(|e| e.to_string())
    }

    fn now_unix(&self) -> Option<i64> {
        None
    }

    fn get_resource(&mut self, request: &ResourceRequest) -> Result<Cow<'_, Value>, HostError> {
        self.lookup(request)
            .map(Cow::Borrowed)
            .map_err(HostError::Failed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(namespace: Option<&str>, name: &str) -> ResourceRequest {
        ResourceRequest {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: name.into(),
            namespace: namespace.map(Into::into),
            disable_cache: false,
        }
    }

    #[test]
    fn inventory_answers_get_resource() {
        let object = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        let data = json!({"inventory": {
            "namespace": {"att": {"v1": {"ConfigMap": {"sha256-ab": object}}}},
            "cluster": {"v1": {"Namespace": {"att": {"kind": "Namespace"}}}}
        }})
        .to_string();
        let mut host = InventoryHost::new(data.as_bytes());
        assert_eq!(
            host.get_resource(&request(Some("att"), "sha256-ab"))
                .unwrap()
                .into_owned(),
            object
        );
        let missing = host
            .get_resource(&request(Some("att"), "sha256-cd"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            r#"ConfigMap "sha256-cd" not found in data.inventory.namespace["att"]["v1"]["ConfigMap"]"#
        );
        let mut cluster = request(None, "att");
        cluster.kind = "Namespace".into();
        assert_eq!(
            host.get_resource(&cluster).unwrap().into_owned(),
            json!({"kind": "Namespace"})
        );
        let other = host
            .call("oci", "v1/manifest_digest", b"\"x\"")
            .unwrap_err();
        assert!(
            other.contains("not available in Gatekeeper mode"),
            "{other}"
        );
    }

    #[test]
    fn no_inventory_is_an_error_that_says_what_to_configure() {
        for data in ["", "{}", "null"] {
            let mut host = InventoryHost::new(data.as_bytes());
            let e = host
                .get_resource(&request(Some("att"), "x"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("no data.inventory"), "{data}: {e}");
        }
        let mut host = InventoryHost::new(b"{not json");
        let e = host
            .get_resource(&request(Some("att"), "x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
    }
}
