//! Who must have signed, as custody's Sigstore policies take it in their settings (feature
//! `sigstore`): attestors (keyless identities or public keys) with a count for N of M, the trusted
//! root, where attestations are found, and the clock.

use std::borrow::Cow;
use std::collections::BTreeMap;
#[cfg(not(feature = "gatekeeper"))]
use std::sync::OnceLock;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::host::{get_resource, Host, ResourceRequest};
use crate::image::{Digest, DigestAlgorithm};
use crate::settings::NamespaceName;
use crate::sigstore::{self, Bundle, Matcher, Policy, TrustedRoot};

/// One attestor: `{"keyless": {...}}` or `{"publicKey": "<PEM>"}`, checked and compiled when
/// deserialised.
#[derive(Debug, Clone)]
pub struct Attestor {
    /// What a bundle is verified against.
    pub policy: Policy,
    /// How messages name it: `keyless subject "..." (issuer "...")` or `public key <fingerprint>`.
    pub label: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum AttestorSpec {
    Keyless(KeylessSpec),
    PublicKey(String),
}

/// A Fulcio identity: the OIDC issuer and the certificate subject (SAN), each given exactly (`x`),
/// by prefix (`xPrefix`) or by regular expression over the whole value (`xRegExp`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeylessSpec {
    issuer: Option<String>,
    issuer_prefix: Option<String>,
    issuer_reg_exp: Option<String>,
    subject: Option<String>,
    subject_prefix: Option<String>,
    subject_reg_exp: Option<String>,
}

/// Exactly one of the three ways to give `what`.
fn matcher(
    what: &str,
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
) -> Result<Matcher, String> {
    match (exact, prefix, regex) {
        (Some(e), None, None) if !e.is_empty() => Ok(Matcher::Exact(e)),
        (None, Some(p), None) if !p.is_empty() => Ok(Matcher::Prefix(p)),
        (None, None, Some(r)) => Matcher::regex(&r).map_err(|e| format!("{what}RegExp: {e}")),
        (None, None, None) => Err(format!(
            "a keyless attestor needs `{what}`, `{what}Prefix` or `{what}RegExp`"
        )),
        (Some(_), None, None) | (None, Some(_), None) => Err(format!("`{what}` is empty")),
        _ => Err(format!(
            "give only one of `{what}`, `{what}Prefix` and `{what}RegExp`"
        )),
    }
}

impl<'de> Deserialize<'de> for Attestor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match AttestorSpec::deserialize(deserializer)? {
            AttestorSpec::Keyless(k) => {
                let issuer = matcher("issuer", k.issuer, k.issuer_prefix, k.issuer_reg_exp)
                    .map_err(D::Error::custom)?;
                let subject = matcher("subject", k.subject, k.subject_prefix, k.subject_reg_exp)
                    .map_err(D::Error::custom)?;
                Ok(Attestor {
                    label: format!("keyless subject {subject} (issuer {issuer})"),
                    policy: Policy::Identity { issuer, subject },
                })
            }
            AttestorSpec::PublicKey(pem) => {
                let policy = Policy::key_from_pem(&pem)
                    .map_err(|e| D::Error::custom(format!("publicKey: {e}")))?;
                let fingerprint = match &policy {
                    Policy::Key { spki, .. } => sigstore::hex(&sigstore::sha256(spki)),
                    Policy::Identity { .. } => String::new(),
                };
                Ok(Attestor {
                    label: format!(
                        "public key sha256:{}",
                        fingerprint.get(..16).unwrap_or(&fingerprint)
                    ),
                    policy,
                })
            }
        }
    }
}

/// Attestors (`entries`) and how many of them must vouch (`count`; all when absent).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestors {
    /// The attestors.
    pub entries: Vec<Attestor>,
    /// How many must vouch, 1 to `attestors.len()`; `None` means all.
    #[serde(default)]
    pub count: Option<usize>,
}

impl Attestors {
    /// How many must vouch.
    pub fn required(&self) -> usize {
        self.count.unwrap_or(self.entries.len())
    }

    /// Checks the count against the list; `field` is where they sit (`images[0].attestors`).
    pub fn check(&self, field: &str) -> Result<(), crate::SettingsError> {
        if self.entries.is_empty() {
            return Err(crate::SettingsError::new(
                format!("{field}.entries"),
                "at least one attestor is needed",
            ));
        }
        match self.count {
            Some(n) if n == 0 || n > self.entries.len() => Err(crate::SettingsError::new(
                format!("{field}.count"),
                format!(
                    "must be between 1 and the number of entries ({}), got {n}",
                    self.entries.len()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The trusted root setting: a Sigstore `trusted_root.json` document, or (absent) the Sigstore
/// public-good instance's root embedded in the module.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot(Option<TrustedRoot>);

impl<'de> Deserialize<'de> for TrustRoot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let text = serde_json::to_vec(&value).map_err(D::Error::custom)?;
        TrustedRoot::from_json(&text)
            .map(|root| TrustRoot(Some(root)))
            .map_err(D::Error::custom)
    }
}

impl TrustRoot {
    /// The root to verify with.
    pub fn get(&self) -> Result<Cow<'_, TrustedRoot>, String> {
        match &self.0 {
            Some(root) => Ok(Cow::Borrowed(root)),
            None => {
                public_good().map_err(|e| format!("the embedded public-good trusted root: {e}"))
            }
        }
    }
}

/// The embedded public-good root, parsed once per module instance.
#[cfg(not(feature = "gatekeeper"))]
fn public_good() -> Result<Cow<'static, TrustedRoot>, String> {
    static PUBLIC_GOOD: OnceLock<Result<TrustedRoot, String>> = OnceLock::new();
    PUBLIC_GOOD
        .get_or_init(|| TrustedRoot::public_good().map_err(|e| e.to_string()))
        .as_ref()
        .map(Cow::Borrowed)
        .map_err(Clone::clone)
}

/// The embedded public-good root, parsed for each evaluation: OPA-ABI hosts reset the heap
/// between evaluations, so nothing allocated may outlive one (no caches in statics).
#[cfg(feature = "gatekeeper")]
fn public_good() -> Result<Cow<'static, TrustedRoot>, String> {
    TrustedRoot::public_good()
        .map(Cow::Owned)
        .map_err(|e| e.to_string())
}

/// The wall clock, Unix seconds; `None` where there is none (wasm32-unknown-unknown, the
/// Gatekeeper-mode build: OPA-ABI hosts give no clock).
pub fn now_unix() -> Option<i64> {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        None
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    }
}

/// The workload annotation that may carry attestations for its images: a JSON list of Sigstore
/// bundles (or one bundle).
pub const ATTESTATIONS_ANNOTATION: &str = "custody.dev/attestations";

/// The name of the ConfigMap holding an image's attestations: its digest with `-` for `:`.
pub fn config_map_name(digest: &Digest) -> String {
    digest.to_string().replace(':', "-")
}

/// Where attestation ConfigMaps live unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "custody-attestations";
/// Kubernetes refuses a ConfigMap whose data (keys and values) exceeds 1 MiB.
pub const MAX_CONFIG_MAP_DATA_BYTES: usize = 1024 * 1024;
/// The label that marks an attestations ConfigMap, and the version of its layout.
pub const ATTESTATIONS_LABEL: (&str, &str) = ("custody.dev/attestations", "v1");
/// The annotation naming the image the attestations were exported from.
pub const IMAGE_ANNOTATION: &str = "custody.dev/image";

/// The ConfigMap holding an image's attestations, as `custody attestations export` prints it and
/// verify-slsa reads it: named after the digest, one data key per Sigstore bundle (JSON text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationsConfigMap {
    api_version: &'static str,
    kind: &'static str,
    metadata: ConfigMapMetadata,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct ConfigMapMetadata {
    name: String,
    namespace: String,
    labels: BTreeMap<&'static str, &'static str>,
    annotations: BTreeMap<&'static str, String>,
}

impl AttestationsConfigMap {
    /// The ConfigMap of `digest`'s attestations (`data`: key to bundle JSON) in `namespace`;
    /// `image` says where they came from. Refused for a digest other than sha256 (what in-toto
    /// subjects name) and when Kubernetes would refuse it for its size.
    pub fn new(
        digest: &Digest,
        namespace: &NamespaceName,
        image: &str,
        data: BTreeMap<String, String>,
    ) -> Result<Self, String> {
        if digest.algorithm() != DigestAlgorithm::Sha256 {
            return Err(format!(
                "{digest}: attestations are filed under sha256 digests"
            ));
        }
        let size = data_size(&data);
        if size > MAX_CONFIG_MAP_DATA_BYTES {
            let sizes: Vec<String> = data
                .iter()
                .map(|(key, value)| format!("{key} {} bytes", value.len()))
                .collect();
            return Err(format!(
                "the attestations of {image} are {size} bytes, more than the \
                 {MAX_CONFIG_MAP_DATA_BYTES} bytes (1 MiB) a ConfigMap may hold: {}",
                sizes.join(", ")
            ));
        }
        Ok(AttestationsConfigMap {
            api_version: "v1",
            kind: "ConfigMap",
            metadata: ConfigMapMetadata {
                name: config_map_name(digest),
                namespace: namespace.as_str().to_owned(),
                labels: BTreeMap::from([
                    ("app.kubernetes.io/managed-by", "custody"),
                    ATTESTATIONS_LABEL,
                ]),
                annotations: BTreeMap::from([(IMAGE_ANNOTATION, image.to_owned())]),
            },
            data,
        })
    }
}

/// The size Kubernetes counts against a ConfigMap's 1 MiB: every key and value, in bytes.
pub fn data_size(data: &BTreeMap<String, String>) -> usize {
    data.iter()
        .map(|(key, value)| key.len() + value.len())
        .sum()
}

/// A Sigstore bundle found for an image, with where it came from.
#[derive(Debug)]
pub struct Found {
    /// `ConfigMap custody-attestations/sha256-... key att-0.sigstore.json`, `annotation
    /// custody.dev/attestations [0]`.
    pub source: String,
    /// The bundle, or why it could not be read.
    pub bundle: Result<Bundle, String>,
}

/// Every bundle for `digest`: from the pod's [`ATTESTATIONS_ANNOTATION`] and from the ConfigMap
/// `namespace`/`sha256-<hex>` read through the host. The second value says where nothing was
/// found (for the message when there is no bundle at all).
pub fn find_bundles(
    host: &mut dyn Host,
    namespace: &str,
    digest: &Digest,
    pod_annotations: &BTreeMap<String, String>,
) -> (Vec<Found>, Vec<String>) {
    let mut found = Vec::new();
    let mut looked = Vec::new();

    match pod_annotations.get(ATTESTATIONS_ANNOTATION) {
        None => looked.push(format!("no annotation {ATTESTATIONS_ANNOTATION}")),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    found.push(Found {
                        source: format!("annotation {ATTESTATIONS_ANNOTATION}[{i}]"),
                        bundle: bundle_from_value(item),
                    });
                }
            }
            Ok(item @ Value::Object(_)) => found.push(Found {
                source: format!("annotation {ATTESTATIONS_ANNOTATION}"),
                bundle: bundle_from_value(&item),
            }),
            Ok(_) => found.push(Found {
                source: format!("annotation {ATTESTATIONS_ANNOTATION}"),
                bundle: Err("not a JSON list of Sigstore bundles".into()),
            }),
            Err(e) => found.push(Found {
                source: format!("annotation {ATTESTATIONS_ANNOTATION}"),
                bundle: Err(format!("not JSON: {e}")),
            }),
        },
    }

    let name = config_map_name(digest);
    let request = ResourceRequest {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: name.clone(),
        namespace: Some(namespace.to_owned()),
        disable_cache: false,
    };
    match get_resource(host, &request) {
        Err(e) => looked.push(format!("ConfigMap {namespace}/{name}: {e}")),
        Ok(object) => {
            let data = object.get("data").and_then(Value::as_object);
            match data {
                Some(data) if !data.is_empty() => {
                    for (key, value) in data {
                        let bundle = match value.as_str() {
                            Some(text) => {
                                Bundle::from_json(text.as_bytes()).map_err(|e| e.to_string())
                            }
                            None => Err("not a string".into()),
                        };
                        found.push(Found {
                            source: format!("ConfigMap {namespace}/{name} key {key}"),
                            bundle,
                        });
                    }
                }
                _ => looked.push(format!("ConfigMap {namespace}/{name}: no data")),
            }
        }
    }
    (found, looked)
}

fn bundle_from_value(value: &Value) -> Result<Bundle, String> {
    let text = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    Bundle::from_json(&text).map_err(|e| e.to_string())
}
