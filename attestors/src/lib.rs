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
use custody_sdk::settings::{ImagePatterns, NamespaceName};
use custody_sdk::Check;
use custody_sdk::SettingsError;
use custody_sigstore::{self as sigstore, Bundle, Matcher, Policy, TrustedRoot};

/// One attestor, checked and compiled when deserialised: exactly one of
///
/// - `keyless`: a Fulcio certificate identity, issuer and subject each given exactly, by prefix
///   or by regular expression ([`KeylessSpec`]);
/// - `githubActions`: `{owner, repository?}`, a keyless identity of GitHub Actions' OIDC issuer
///   whose subject is a workflow of that owner (and repository);
/// - `publicKey`: a PEM public key;
/// - `certificate`: `{certificate, certificateChain?}`, PEM: signed with the certificate's key,
///   the certificate issued by the chain (issuer first, root last);
///
/// and, for `publicKey` and `certificate`, `requireRekorBundle` (default `true`): the signature
/// must carry a transparency log entry that verifies (a certificate must then be valid at its
/// time; without one, at the current time). Keyless identities always need the log: a Fulcio
/// certificate lives ten minutes, and only the log proves it was valid when the signature was
/// made.
#[derive(Debug, Clone)]
pub struct Attestor {
    /// What a bundle is verified against.
    pub policy: Policy,
    /// How messages name it: `keyless subject "..." (issuer "...")`, `public key sha256:<16 hex>`,
    /// `GitHub Actions owner/repo`, `certificate sha256:<16 hex>`.
    pub label: String,
    /// The attestor as configured, for a host that verifies it (Kubewarden's `oci/v2/verify`).
    pub spec: AttestorKind,
}

/// An attestor as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestorKind {
    /// A keyless identity.
    Keyless {
        /// The issuer matcher.
        issuer: Matcher,
        /// The subject matcher.
        subject: Matcher,
    },
    /// A GitHub Actions workflow identity.
    GithubActions {
        /// The repository owner (user or organisation).
        owner: String,
        /// The repository, when only one is trusted.
        repository: Option<String>,
    },
    /// A public key.
    PublicKey {
        /// Its PEM text.
        pem: String,
        /// Whether a transparency log entry is required.
        require_rekor_bundle: bool,
    },
    /// A certificate and its chain.
    Certificate {
        /// The certificate's PEM text.
        certificate: String,
        /// The chain, one PEM text per certificate, issuer first.
        chain: Vec<String>,
        /// Whether a transparency log entry is required.
        require_rekor_bundle: bool,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttestorSpec {
    keyless: Option<KeylessSpec>,
    github_actions: Option<GithubActionsSpec>,
    public_key: Option<String>,
    certificate: Option<CertificateSpec>,
    require_rekor_bundle: Option<bool>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GithubActionsSpec {
    owner: String,
    repository: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateSpec {
    certificate: String,
    #[serde(default)]
    certificate_chain: Vec<String>,
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

/// The short fingerprint messages name a key or certificate by.
fn fingerprint(der: &[u8]) -> String {
    let hex = sigstore::hex(&sigstore::sha256(der));
    format!("sha256:{}", hex.get(..16).unwrap_or(&hex))
}

impl AttestorSpec {
    fn compile(self) -> Result<Attestor, String> {
        let kinds = [
            self.keyless.is_some(),
            self.github_actions.is_some(),
            self.public_key.is_some(),
            self.certificate.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(
                "an attestor is exactly one of `keyless`, `githubActions`, `publicKey` and `certificate`"
                    .into(),
            );
        }
        let keyless_rekor = || {
            if self.require_rekor_bundle.is_some() {
                Err("`requireRekorBundle` is for `publicKey` and `certificate` attestors: a keyless signature always needs its transparency log entry".to_owned())
            } else {
                Ok(())
            }
        };
        let require_rekor_bundle = self.require_rekor_bundle.unwrap_or(true);
        if let Some(k) = self.keyless {
            keyless_rekor()?;
            let issuer = matcher("issuer", k.issuer, k.issuer_prefix, k.issuer_reg_exp)?;
            let subject = matcher("subject", k.subject, k.subject_prefix, k.subject_reg_exp)?;
            return Ok(Attestor {
                label: format!("keyless subject {subject} (issuer {issuer})"),
                policy: Policy::Identity {
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                },
                spec: AttestorKind::Keyless { issuer, subject },
            });
        }
        if let Some(g) = self.github_actions {
            keyless_rekor()?;
            let policy = Policy::github_actions(&g.owner, g.repository.as_deref())
                .map_err(|e| format!("githubActions.{}", e.message()))?;
            let path = match &g.repository {
                Some(r) => format!("{}/{r}", g.owner),
                None => format!("{}/*", g.owner),
            };
            return Ok(Attestor {
                label: format!("GitHub Actions {path}"),
                policy,
                spec: AttestorKind::GithubActions {
                    owner: g.owner,
                    repository: g.repository,
                },
            });
        }
        if let Some(pem) = self.public_key {
            let policy = Policy::public_key_from_pem(&pem, require_rekor_bundle)
                .map_err(|e| format!("publicKey: {e}"))?;
            let label = match &policy {
                Policy::Key { spki, .. } => format!("public key {}", fingerprint(spki)),
                _ => "public key".into(),
            };
            return Ok(Attestor {
                label,
                policy,
                spec: AttestorKind::PublicKey {
                    pem,
                    require_rekor_bundle,
                },
            });
        }
        let Some(c) = self.certificate else {
            return Err("an attestor needs a kind".into());
        };
        let chain: Vec<&[u8]> = c.certificate_chain.iter().map(|p| p.as_bytes()).collect();
        let policy =
            Policy::certificate_from_pem(c.certificate.as_bytes(), &chain, require_rekor_bundle)
                .map_err(|e| format!("certificate: {e}"))?;
        Ok(Attestor {
            label: format!("certificate {}", fingerprint(policy_der(&policy))),
            policy,
            spec: AttestorKind::Certificate {
                certificate: c.certificate,
                chain: c.certificate_chain,
                require_rekor_bundle,
            },
        })
    }
}

/// The DER that identifies a key or certificate policy's signer.
fn policy_der(policy: &Policy) -> &[u8] {
    match policy {
        Policy::Key { spki, .. } => spki,
        Policy::Certificate(c) => c.certificate(),
        _ => &[],
    }
}

impl<'de> Deserialize<'de> for Attestor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AttestorSpec::deserialize(deserializer)?
            .compile()
            .map_err(D::Error::custom)
    }
}

impl Attestor {
    /// Whether `other` is the same attestor written again: the same key or certificate, or the
    /// same issuer and subject matchers.
    fn same_as(&self, other: &Attestor) -> bool {
        match (&self.policy, &other.policy) {
            (Policy::Identity { .. }, Policy::Identity { .. }) => self.label == other.label,
            (a, b) => !policy_der(a).is_empty() && policy_der(a) == policy_der(b),
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
            // A configured certificate is its own signer, whatever names it holds.
            (_, policy @ Policy::Certificate(_)) => Signer::Key(policy_der(policy).to_vec()),
            (Some(id), _) => Signer::Identity {
                issuer: id.issuer.clone(),
                sans: id.sans.clone(),
            },
            (None, Policy::Identity { .. }) => Signer::Identity {
                issuer: None,
                sans: Vec::new(),
            },
            (None, policy) => Signer::Key(policy_der(policy).to_vec()),
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
    /// the digest; for a bundle that carries its signed message, a cosign image signature, the
    /// message, whose naming of the digest the caller checks). The signer is matched first, at no cost; the verification proper is done once
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
        // The same key or certificate may be required with and without a log entry by two
        // entries of `images`: the requirement is part of the verification's identity.
        let key = match &attestor.policy {
            Policy::Identity { .. } => None,
            policy => {
                let mut key = policy_der(policy).to_vec();
                key.push(u8::from(policy.requires_tlog()));
                Some(key)
            }
        };
        let id = (digest.to_string(), slot, key);
        if let Some(done) = self.verified.get(&id) {
            return done.clone().map_err(VerifyFailure::Refused);
        }
        if self.verifications >= MAX_VERIFICATIONS_PER_REQUEST {
            return Err(VerifyFailure::Budget);
        }
        self.verifications += 1;
        let artifact = match bundle.message() {
            Some(message) => sigstore::Artifact::Bytes(message),
            None => sigstore::Artifact::Sha256(digest_bytes),
        };
        let outcome = sigstore::verify(bundle, artifact, &attestor.policy, root, now_unix);
        self.verified.insert(id, outcome.clone());
        outcome.map_err(VerifyFailure::Refused)
    }
}

/// What happens to an image that matches no entry of `images`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Unmatched {
    /// Denied (the default: an image nobody vouched for does not run).
    #[default]
    Deny,
    /// Allowed without checks.
    Allow,
}

impl Unmatched {
    /// The verdict on an image no entry of `images` matched (`written` as the workload has it).
    pub fn verdict(self, written: &str) -> Check {
        match self {
            Unmatched::Allow => Check::Allow,
            Unmatched::Deny => Check::Deny(format!(
                "image {written:?} matches no entry of `images` (unmatchedImages: deny)"
            )),
        }
    }
}

/// Checks what every `images` entry has (at `field`, `images[0]`): at least one pattern, and
/// its attestors ([`Attestors::check`]).
pub fn check_entry(
    field: &str,
    patterns: &ImagePatterns,
    attestors: &Attestors,
) -> Result<(), SettingsError> {
    if patterns.is_empty() {
        return Err(SettingsError::new(
            format!("{field}.patterns"),
            "at least one image pattern is needed",
        ));
    }
    attestors.check(&format!("{field}.attestors"))
}

/// The namespace of the attestation ConfigMaps: the `attestationsNamespace` setting, else
/// [`DEFAULT_NAMESPACE`].
pub fn namespace(setting: Option<&NamespaceName>) -> &str {
    setting.map_or(DEFAULT_NAMESPACE, NamespaceName::as_str)
}

/// A verification failure, said plainly: an identity mismatch as such (`identity mismatch: …`),
/// and every other failed check (signature, certificate, log entry, timestamp) as an invalid
/// signature; `what` names the thing verified (`attestation`, `signature`) for the malformed and
/// unsupported cases.
pub fn describe(error: &sigstore::Error, what: &str) -> String {
    match error {
        sigstore::Error::Identity(_) => error.message().into_owned(),
        sigstore::Error::Malformed(m) => format!("malformed {what}: {m}"),
        sigstore::Error::Unsupported(m) => format!("unsupported {what}: {m}"),
        _ => format!("signature invalid: {}", error.message()),
    }
}

/// A bundle that may vouch for an image: its place among the digest's [`Sources`] (`slot`), where
/// it came from, and the bundle (whose content the policy has already checked).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its index in [`Sources::found`].
    pub slot: usize,
    /// Where it came from ([`Found::source`]).
    pub source: &'a str,
    /// The bundle.
    pub bundle: &'a Bundle,
}

/// What the attestors of one `images` entry made of an image's candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Attestors vouched for by distinct signers.
    pub vouched: usize,
    /// How many must vouch.
    pub required: usize,
    /// How many attestors are configured.
    pub total: usize,
    /// Attestors with at least one signer (more than `vouched` when signers are shared).
    pub matched: usize,
    /// For each attestor nobody vouched for, its label and the furthest failure.
    pub failures: Vec<(String, String)>,
}

impl Tally {
    /// Whether enough attestors vouched.
    pub fn passed(&self) -> bool {
        self.vouched >= self.required
    }

    /// Why not: `single` is the summary for a lone attestor (`no valid SLSA provenance`); the
    /// attestors' failures follow. The caller adds its own reasons when there are none.
    pub fn explain(&self, single: &str) -> String {
        let (vouched, required, total) = (self.vouched, self.required, self.total);
        let mut message = if total > 1 {
            format!("{vouched} of the {required} attestors required vouched ({total} configured)")
        } else {
            single.to_owned()
        };
        if self.matched > vouched {
            message.push_str(&format!(
                "; {} attestors matched, but only {vouched} distinct signers: a signer vouches for one attestor at most",
                self.matched
            ));
        }
        for (label, reason) in &self.failures {
            message.push_str(&format!("; {label}: {reason}"));
        }
        message
    }
}

/// Counts, for `attestors`, the candidates that vouch: each candidate is verified for each
/// attestor (once per request, through `cache`), then `accept` checks what the verification
/// established (a certificate's build extensions...). An attestor nobody vouched for keeps its
/// furthest failure: one `accept` refused over one the verifier refused (described by
/// `describe`). `Err` when the request's verification budget is spent.
#[allow(clippy::too_many_arguments)]
pub fn tally(
    attestors: &Attestors,
    candidates: &[Candidate<'_>],
    digest: &Digest,
    (root, now_unix): (&TrustedRoot, Option<i64>),
    cache: &mut RequestCache,
    mut accept: impl FnMut(&sigstore::Verified) -> Result<(), String>,
    describe: impl Fn(&sigstore::Error) -> String,
) -> Result<Tally, String> {
    let mut signers: Vec<Vec<Signer>> = Vec::new();
    let mut failures = Vec::new();
    for attestor in &attestors.entries {
        let mut best: Option<(u8, String)> = None;
        let mut vouching = Vec::new();
        for c in candidates {
            let (rank, reason) =
                match cache.verify(digest, c.slot, c.bundle, attestor, root, now_unix) {
                    Ok(verified) => match accept(&verified) {
                        Ok(()) => {
                            vouching.push(Signer::of(&verified, attestor));
                            continue;
                        }
                        Err(e) => (1, e),
                    },
                    Err(VerifyFailure::Budget) => return Err(VerifyFailure::Budget.to_string()),
                    Err(VerifyFailure::Refused(e)) => (0, describe(&e)),
                };
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, format!("{}: {reason}", c.source)));
            }
        }
        if vouching.is_empty() {
            if let Some((_, reason)) = best {
                failures.push((attestor.label.clone(), reason));
            }
        }
        signers.push(vouching);
    }
    Ok(Tally {
        vouched: distinct_vouchers(&signers),
        required: attestors.required(),
        total: attestors.entries.len(),
        matched: signers.iter().filter(|s| !s.is_empty()).count(),
        failures,
    })
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

    #[test]
    fn failures_are_described_by_their_stage() {
        use sigstore::{Error, IdentityMismatch};
        let cases = [
            (
                Error::from(IdentityMismatch::Subject {
                    expected: Matcher::exact("https://github.com/o/r"),
                    found: vec!["https://github.com/x/y".into()],
                }),
                r#"identity mismatch: certificate subject "https://github.com/x/y" does not match exact "https://github.com/o/r""#,
            ),
            (
                Error::from(IdentityMismatch::SignedWithKey),
                "identity mismatch: bundle is signed with a key, but no key was given (identity policy)",
            ),
            (
                Error::Signature("DSSE signature does not verify".into()),
                "signature invalid: DSSE signature does not verify",
            ),
            (
                Error::TransparencyLog("tlog entry: signed entry timestamp does not verify".into()),
                "signature invalid: tlog entry: signed entry timestamp does not verify",
            ),
            (
                Error::Certificate("certificate chain: the leaf is a CA certificate".into()),
                "signature invalid: certificate chain: the leaf is a CA certificate",
            ),
            (
                Error::Timestamp("RFC 3161 timestamp: status 2, not granted".into()),
                "signature invalid: RFC 3161 timestamp: status 2, not granted",
            ),
            (
                Error::Malformed("bundle: EOF".into()),
                "malformed attestation: bundle: EOF",
            ),
            (
                Error::Unsupported("tlog entry kind rekord 0.0.1".into()),
                "unsupported attestation: tlog entry kind rekord 0.0.1",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(describe(&error, "attestation"), want, "{error:?}");
        }
    }
}
