//! Who must have signed, and where their attestations are found: the shared vocabulary of
//! custody's Sigstore policies (verify-slsa, and the CLI's `attestations export`).
//!
//! - **Signed by whom**: [`Attestor`]s (keyless identities or public keys) with a count for N of M
//!   ([`Attestors`]), counted by distinct signers ([`distinct_vouchers`]); the trusted root
//!   ([`TrustRoot`]).
//! - **Found where**: the attestations ConfigMap layout ([`AttestationsConfigMap`], its name,
//!   label and limits) and the pod annotation ([`ATTESTATIONS_ANNOTATION`]); [`find_bundles`] reads
//!   both through the host.
//! - **Once per request**: [`RequestCache`] reads each digest's sources and verifies each bundle
//!   once, within a budget.
//!
//! It builds on the SDK (image references, settings, host capabilities) and on `custody-sigstore`
//! (the verifier); the clock is the host's ([`Host::now_unix`]).

use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use custody_sdk::host::{Host, ResourceRequest};
use custody_sdk::image::{Digest, DigestAlgorithm};
use custody_sdk::settings::NamespaceName;
use custody_sdk::SettingsError;
use custody_sigstore::{self as sigstore, Bundle, Matcher, Policy, TrustedRoot};

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
        (None, Some(p), None) if !p.is_empty() => {
            Matcher::prefix(p).map_err(|e| format!("{what}Prefix: {}", e.message()))
        }
        (None, None, Some(r)) => {
            Matcher::regex(&r).map_err(|e| format!("{what}RegExp: {}", e.message()))
        }
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
                    Policy::Identity { .. } | Policy::Certificate(_) => String::new(),
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

impl Attestor {
    /// Whether `other` is the same attestor written again: the same public key, or the same
    /// issuer and subject matchers.
    fn same_as(&self, other: &Attestor) -> bool {
        match (&self.policy, &other.policy) {
            (Policy::Key { spki: a, .. }, Policy::Key { spki: b, .. }) => a == b,
            (Policy::Identity { .. }, Policy::Identity { .. }) => self.label == other.label,
            _ => false,
        }
    }
}

/// Attestors (`entries`) and how many of them must vouch (`count`; all when absent).
///
/// N of M means N distinct attestors, each vouched for by a different signer: a signer (one
/// public key, or one certificate identity: OIDC issuer and subject) vouches for one attestor at
/// most, however many of the entries it matches and however many signatures it made. With
/// `count: 2` and the entries `subjectPrefix: https://github.com/myorg/` and
/// `subjectRegExp: https://github\.com/myorg/app/.*`, one signature by `myorg/app`'s workflow
/// satisfies either entry but not both: a second signer is needed. The same key or identity
/// listed twice is refused when the settings load.
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

    /// Checks the count against the list, and that no attestor is listed twice; `field` is where
    /// they sit (`images[0].attestors`).
    pub fn check(&self, field: &str) -> Result<(), SettingsError> {
        if self.entries.is_empty() {
            return Err(SettingsError::new(
                format!("{field}.entries"),
                "at least one attestor is needed",
            ));
        }
        for (i, a) in self.entries.iter().enumerate() {
            if let Some(j) = self
                .entries
                .get(..i)
                .and_then(|before| before.iter().position(|b| b.same_as(a)))
            {
                return Err(SettingsError::new(
                    format!("{field}.entries[{i}]"),
                    format!(
                        "the same attestor as entries[{j}] ({}): each attestor counts once",
                        a.label
                    ),
                ));
            }
        }
        match self.count {
            Some(n) if n == 0 || n > self.entries.len() => Err(SettingsError::new(
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
/// public-good instance's root embedded in the module, parsed when first needed. Settings are read
/// for each request, so the embedded root is parsed at most once per request, in every build;
/// nothing outlives the request (OPA-ABI hosts reset the heap between evaluations, and Kubewarden
/// gives every admission a fresh instance).
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    configured: Option<TrustedRoot>,
    public_good: OnceCell<Result<TrustedRoot, String>>,
}

impl<'de> Deserialize<'de> for TrustRoot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let text = serde_json::to_vec(&value).map_err(D::Error::custom)?;
        let root = TrustedRoot::from_json(&text).map_err(D::Error::custom)?;
        Ok(TrustRoot {
            configured: Some(root),
            public_good: OnceCell::new(),
        })
    }
}

impl TrustRoot {
    /// The root to verify with.
    pub fn get(&self) -> Result<&TrustedRoot, String> {
        if let Some(root) = &self.configured {
            return Ok(root);
        }
        self.public_good
            .get_or_init(|| TrustedRoot::public_good().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| format!("the embedded public-good trusted root: {e}"))
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

/// At most this many distinct bundles are examined for one image (each may cost signature
/// checks); an image with more is denied, naming the bound. Byte-identical copies count once.
pub const MAX_BUNDLES_PER_IMAGE: usize = 16;

/// What was found for an image digest: the distinct bundles, and where nothing was found (for
/// the message when there is no bundle at all).
#[derive(Debug, Default)]
pub struct Sources {
    /// The bundles, byte-identical copies dropped.
    pub found: Vec<Found>,
    /// Where there was nothing.
    pub looked: Vec<String>,
}

/// Every bundle for `digest`: from the pod's [`ATTESTATIONS_ANNOTATION`] and from the ConfigMap
/// `namespace`/`sha256-<hex>` read through the host. An error when there are more than
/// [`MAX_BUNDLES_PER_IMAGE`] distinct ones.
pub fn find_bundles(
    host: &mut (impl Host + ?Sized),
    namespace: &str,
    digest: &Digest,
    pod_annotations: &BTreeMap<String, String>,
) -> Result<Sources, String> {
    // Bundle texts (or why an item is not one) by source, read before any is parsed.
    let mut texts: Vec<(String, Result<String, String>)> = Vec::new();
    let mut looked = Vec::new();

    match pod_annotations.get(ATTESTATIONS_ANNOTATION) {
        None => looked.push(format!("no annotation {ATTESTATIONS_ANNOTATION}")),
        Some(text) => {
            let source = format!("annotation {ATTESTATIONS_ANNOTATION}");
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        texts.push((format!("{source}[{i}]"), value_text(item)));
                    }
                }
                Ok(item @ Value::Object(_)) => texts.push((source, value_text(&item))),
                Ok(_) => texts.push((source, Err("not a JSON list of Sigstore bundles".into()))),
                Err(e) => texts.push((source, Err(format!("not JSON: {e}")))),
            }
        }
    }

    let name = config_map_name(digest);
    let request = ResourceRequest {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: name.clone(),
        namespace: Some(namespace.to_owned()),
        disable_cache: false,
    };
    match host.get_resource(&request) {
        Err(e) => looked.push(format!("ConfigMap {namespace}/{name}: {e}")),
        Ok(object) => match object.get("data").and_then(Value::as_object) {
            Some(data) if !data.is_empty() => {
                for (key, value) in data {
                    let text = match value.as_str() {
                        Some(text) => Ok(text.to_owned()),
                        None => Err("not a string".into()),
                    };
                    texts.push((format!("ConfigMap {namespace}/{name} key {key}"), text));
                }
            }
            _ => looked.push(format!("ConfigMap {namespace}/{name}: no data")),
        },
    }

    let mut seen = std::collections::BTreeSet::new();
    texts.retain(|(_, text)| match text {
        Ok(text) => seen.insert(sigstore::sha256(text.as_bytes())),
        Err(_) => true,
    });
    if texts.len() > MAX_BUNDLES_PER_IMAGE {
        return Err(format!(
            "{} attestations found for {digest}, more than the {MAX_BUNDLES_PER_IMAGE} examined for one image",
            texts.len()
        ));
    }
    let found = texts
        .into_iter()
        .map(|(source, text)| Found {
            source,
            bundle: text.and_then(|t| Bundle::from_json(t.as_bytes()).map_err(|e| e.to_string())),
        })
        .collect();
    Ok(Sources { found, looked })
}

fn value_text(value: &Value) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

/// Who made a verified signature, for counting N of M: a public key (its DER
/// SubjectPublicKeyInfo), or a certificate identity (OIDC issuer and subject alternative names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signer {
    /// A key.
    Key(Vec<u8>),
    /// A Fulcio certificate's identity.
    Identity {
        /// The OIDC issuer.
        issuer: Option<String>,
        /// The subject alternative names.
        sans: Vec<String>,
    },
}

impl Signer {
    /// The signer of a bundle `attestor` verified.
    pub fn of(verified: &sigstore::Verified, attestor: &Attestor) -> Signer {
        match (&verified.identity, &attestor.policy) {
            (Some(id), _) => Signer::Identity {
                issuer: id.issuer.clone(),
                sans: id.sans.clone(),
            },
            (None, Policy::Key { spki, .. }) => Signer::Key(spki.clone()),
            (None, Policy::Certificate(c)) => Signer::Key(c.spki().to_vec()),
            (None, Policy::Identity { .. }) => Signer::Identity {
                issuer: None,
                sans: Vec::new(),
            },
        }
    }
}

/// How many attestors are vouched for by distinct signers: the size of a maximum matching
/// between attestors and signers, `signers[i]` being those that vouched for attestor `i`.
pub fn distinct_vouchers(signers: &[Vec<Signer>]) -> usize {
    // Kuhn's augmenting paths; the sizes are small (attestors and signers in the tens at most).
    fn augment(
        a: usize,
        signers: &[Vec<Signer>],
        owner: &mut BTreeMap<Signer, usize>,
        visited: &mut std::collections::BTreeSet<Signer>,
    ) -> bool {
        for s in signers.get(a).into_iter().flatten() {
            if !visited.insert(s.clone()) {
                continue;
            }
            let free = match owner.get(s) {
                None => true,
                Some(&other) => augment(other, signers, owner, visited),
            };
            if free {
                owner.insert(s.clone(), a);
                return true;
            }
        }
        false
    }
    let mut owner = BTreeMap::new();
    (0..signers.len())
        .filter(|&a| augment(a, signers, &mut owner, &mut Default::default()))
        .count()
}

/// At most this many full verifications (signature, log entries, certificate chain) in one
/// request; past it the image being checked is denied, naming the bound.
pub const MAX_VERIFICATIONS_PER_REQUEST: usize = 32;

/// A verification's inputs within a request: the image digest, the bundle's place among the
/// digest's [`Sources`], and the key of a key attestor (`None`: a certificate, whatever identity).
type VerificationId = (String, usize, Option<Vec<u8>>);

/// What one admission request has already found and verified, so that each image digest's
/// sources are read once and each (digest, bundle, signing key) is verified once however many
/// containers, attestors and `images` entries ask; and the request's verification budget.
#[derive(Debug, Default)]
pub struct RequestCache {
    sources: BTreeMap<String, std::rc::Rc<Result<Sources, String>>>,
    verified: BTreeMap<VerificationId, Result<sigstore::Verified, sigstore::Error>>,
    verifications: usize,
}

/// Why a bundle does not vouch for an attestor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// The verifier refused it.
    Refused(sigstore::Error),
    /// The request used up [`MAX_VERIFICATIONS_PER_REQUEST`].
    Budget,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyFailure::Refused(e) => e.fmt(f),
            VerifyFailure::Budget => write!(
                f,
                "this request needs more than {MAX_VERIFICATIONS_PER_REQUEST} signature verifications, the most custody does for one request (split the workload, or attach fewer attestations)"
            ),
        }
    }
}

impl RequestCache {
    /// [`find_bundles`] for `digest`, once per request.
    pub fn sources(
        &mut self,
        host: &mut (impl Host + ?Sized),
        namespace: &str,
        digest: &Digest,
        pod_annotations: &BTreeMap<String, String>,
    ) -> std::rc::Rc<Result<Sources, String>> {
        self.sources
            .entry(digest.to_string())
            .or_insert_with(|| {
                std::rc::Rc::new(find_bundles(host, namespace, digest, pod_annotations))
            })
            .clone()
    }

    /// Verifies bundle number `slot` of `digest`'s [`Sources`] for `attestor` (the artifact is
    /// the digest). The signer is matched first, at no cost; the verification proper is done once
    /// per (digest, bundle, key) and request: its outcome does not depend on which identity
    /// matched, so every identity attestor shares it.
    pub fn verify(
        &mut self,
        digest: &Digest,
        slot: usize,
        bundle: &Bundle,
        attestor: &Attestor,
        root: &TrustedRoot,
        now_unix: Option<i64>,
    ) -> Result<sigstore::Verified, VerifyFailure> {
        sigstore::check_signer(bundle, &attestor.policy).map_err(VerifyFailure::Refused)?;
        let digest_bytes = digest.sha256_bytes().ok_or_else(|| {
            VerifyFailure::Refused(sigstore::Error::Unsupported(format!(
                "{digest}: only sha256 digests are verified"
            )))
        })?;
        let key = match &attestor.policy {
            Policy::Key { spki, .. } => Some(spki.clone()),
            Policy::Certificate(c) => Some(c.certificate().to_vec()),
            Policy::Identity { .. } => None,
        };
        let id = (digest.to_string(), slot, key);
        if let Some(done) = self.verified.get(&id) {
            return done.clone().map_err(VerifyFailure::Refused);
        }
        if self.verifications >= MAX_VERIFICATIONS_PER_REQUEST {
            return Err(VerifyFailure::Budget);
        }
        self.verifications += 1;
        let outcome = sigstore::verify(
            bundle,
            sigstore::Artifact::Sha256(digest_bytes),
            &attestor.policy,
            root,
            now_unix,
        );
        self.verified.insert(id, outcome.clone());
        outcome.map_err(VerifyFailure::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Signer {
        Signer::Key(vec![n])
    }

    /// Hardening finding 2: one signer vouches for one attestor at most.
    #[test]
    fn distinct_vouchers_is_a_matching() {
        // Two attestors that both accept the one signature: one voucher, not two.
        assert_eq!(distinct_vouchers(&[vec![key(1)], vec![key(1)]]), 1);
        // Two signers, both acceptable to the first attestor, one to the second: two.
        assert_eq!(distinct_vouchers(&[vec![key(1), key(2)], vec![key(1)]]), 2);
        assert_eq!(distinct_vouchers(&[vec![key(1)], vec![key(1), key(2)]]), 2);
        // Nobody, and an attestor nobody vouched for.
        assert_eq!(distinct_vouchers(&[]), 0);
        assert_eq!(distinct_vouchers(&[vec![], vec![key(3)]]), 1);
        // Three attestors, three signers, needing augmenting paths.
        assert_eq!(
            distinct_vouchers(&[vec![key(1), key(2)], vec![key(1)], vec![key(2), key(3)]]),
            3
        );
    }

    #[test]
    fn the_same_attestor_twice_is_refused() {
        const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE60I39eN4BmPl7xG9LS+sE4PdfSdF\nDUTkdO34st3FIG3WN3SCfdt7/UzyOzdKkLcal2hw5W7YOSU8E7BzK7cRgA==\n-----END PUBLIC KEY-----\n";
        let attestors = |entries: serde_json::Value| -> Attestors {
            serde_json::from_value(serde_json::json!({ "entries": entries })).unwrap()
        };
        let twice = attestors(serde_json::json!([{"publicKey": PEM}, {"publicKey": PEM}]));
        let err = twice.check("images[0].attestors").unwrap_err();
        assert_eq!(err.field, "images[0].attestors.entries[1]");
        assert!(
            err.to_string().contains("the same attestor as entries[0]"),
            "{err}"
        );
        let keyless = serde_json::json!({"keyless": {"issuer": "https://a.example", "subjectPrefix": "https://github.com/o/"}});
        let err = attestors(serde_json::json!([keyless, keyless]))
            .check("x")
            .unwrap_err();
        assert_eq!(err.field, "x.entries[1]");
        // Different matchers that may match the same signer are allowed: N of M counts signers.
        let other = serde_json::json!({"keyless": {"issuer": "https://a.example", "subjectRegExp": "https://github\\.com/o/.*"}});
        attestors(serde_json::json!([keyless, other]))
            .check("x")
            .unwrap();
    }

    #[test]
    fn prefixes_and_regexes_are_checked_when_settings_load() {
        let keyless = |k: serde_json::Value| {
            serde_json::from_value::<Attestor>(serde_json::json!({ "keyless": k }))
                .unwrap_err()
                .to_string()
        };
        let err = keyless(
            serde_json::json!({"issuer": "https://a.example", "subjectPrefix": "https://github.com/myorg"}),
        );
        assert!(
            err.starts_with(
                "subjectPrefix: prefix \"https://github.com/myorg\" does not end at a boundary"
            ),
            "{err}"
        );
        let err = keyless(
            serde_json::json!({"issuer": "https://a.example", "subjectRegExp": "https://github\\.com/o/.*@refs/heads/main)|(.*"}),
        );
        assert!(
            err.starts_with("subjectRegExp: invalid regular expression"),
            "{err}"
        );
    }
}
