//! verify-slsa: every image must carry a signed SLSA provenance attestation, verified inside the
//! module (Sigstore bundle: signature, certificate chain, transparency log), whose in-toto subject
//! is the image's digest, signed by the configured attestors, and whose provenance meets the
//! configured conditions (builder, build type, source repository and ref).
//!
//! Attestations come from the cluster (a ConfigMap per image digest, read through the host's
//! `kubernetes` capability, or Gatekeeper's `data.inventory`) and from the pod's
//! `custody.dev/attestations` annotation. A tag is resolved through the host and the image pinned
//! to the digest that was verified.
#![deny(unsafe_code)] // `export_policy!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod provenance;

use custody_attestors::{Attestors, Candidate, Found, RequestCache, TrustRoot, Unmatched};
use custody_sdk::host::manifest_digest;
use custody_sdk::settings::{ImagePatterns, NamespaceName};
use custody_sdk::{Check, Digest, Host, Image, PolicySettings, Rule, SettingsError};
use custody_sigstore::{Bundle, Content, Identity, Policy, Prefix, TrustedRoot};
use serde::Deserialize;
use wildmatch::WildMatch;

use provenance::{Provenance, SLSA_V0_2, SLSA_V1};

/// The policy's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifySlsaSettings {
    /// Which images need what; an image is checked against every entry whose patterns match it.
    #[serde(default)]
    pub images: Vec<ImageRule>,
    /// What happens to an image no entry matches (default: deny).
    #[serde(default)]
    pub unmatched_images: Unmatched,
    /// The namespace of the attestation ConfigMaps (default `custody-attestations`).
    #[serde(default)]
    pub attestations_namespace: Option<NamespaceName>,
    /// A Sigstore `trusted_root.json` document; default: the public-good root embedded in the
    /// module.
    #[serde(default)]
    pub trusted_root: TrustRoot,
}

/// One entry of `images`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageRule {
    /// The images it applies to (`ghcr.io/myorg/*`).
    pub patterns: ImagePatterns,
    /// Who must have signed the provenance, and how many of them.
    pub attestors: Attestors,
    /// The predicate types accepted (default: SLSA provenance v0.2 and v1).
    #[serde(default)]
    pub predicate_types: Vec<String>,
    /// What the provenance must say.
    #[serde(default)]
    pub conditions: Conditions,
}

/// What the provenance must say; absent conditions are not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Conditions {
    /// The builder id, exactly.
    #[serde(default)]
    pub builder_id: Option<String>,
    /// The builder id starts with this, at a boundary (it ends with `/` or `@`, or is a URL's
    /// scheme and host: see [`Prefix`]).
    #[serde(default)]
    pub builder_id_prefix: Option<Prefix>,
    /// The build type, exactly.
    #[serde(default)]
    pub build_type: Option<String>,
    /// The source repository (`https://github.com/myorg/app`): the provenance's and, for a
    /// keyless signature, the certificate's source repository extension when it has one.
    #[serde(default)]
    pub source_repository: Option<String>,
    /// The source ref matches one of these (`refs/heads/main`, `refs/tags/v*`); checked on the
    /// provenance and on the certificate's source ref extension when it has one.
    #[serde(default)]
    pub source_refs: Vec<RefPattern>,
    /// The build trigger (`push`, `workflow_dispatch`, ...) recorded in a keyless signature's
    /// certificate is one of these.
    #[serde(default)]
    pub build_triggers: Vec<String>,
}

/// A ref pattern: `*` any run of characters, `?` one.
#[derive(Debug)]
pub struct RefPattern(String, WildMatch);

impl<'de> Deserialize<'de> for RefPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Err(serde::de::Error::custom("a ref pattern cannot be empty"));
        }
        let pattern = WildMatch::new(&text);
        Ok(RefPattern(text, pattern))
    }
}

impl PolicySettings for VerifySlsaSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        for (i, rule) in self.images.iter().enumerate() {
            let field = format!("images[{i}]");
            custody_attestors::check_entry(&field, &rule.patterns, &rule.attestors)?;
            for (j, t) in rule.predicate_types.iter().enumerate() {
                if t != SLSA_V0_2 && t != SLSA_V1 {
                    return Err(SettingsError::new(
                        format!("{field}.predicateTypes[{j}]"),
                        format!("{t:?} is not supported: custody reads {SLSA_V0_2} and {SLSA_V1}"),
                    ));
                }
            }
            let c = &rule.conditions;
            if c.builder_id.is_some() && c.builder_id_prefix.is_some() {
                return Err(SettingsError::new(
                    format!("{field}.conditions"),
                    "give `builderId` or `builderIdPrefix`, not both",
                ));
            }
            let key_only = rule
                .attestors
                .entries
                .iter()
                .all(|a| !matches!(a.policy, Policy::Identity { .. }));
            if !c.build_triggers.is_empty() && key_only {
                return Err(SettingsError::new(
                    format!("{field}.conditions.buildTriggers"),
                    "the build trigger is read from a keyless signature's certificate, and this entry has only public keys",
                ));
            }
        }
        Ok(())
    }
}

impl ImageRule {
    fn accepts_predicate(&self, predicate_type: &str) -> bool {
        if self.predicate_types.is_empty() {
            predicate_type == SLSA_V0_2 || predicate_type == SLSA_V1
        } else {
            self.predicate_types.iter().any(|t| t == predicate_type)
        }
    }
}

/// The rule.
#[derive(Debug)]
pub enum VerifySlsa {}

impl Rule for VerifySlsa {
    type Settings = VerifySlsaSettings;
    type State = RequestCache;

    fn check<H: Host + ?Sized>(
        settings: &VerifySlsaSettings,
        cache: &mut RequestCache,
        image: &Image<'_>,
        host: &mut H,
    ) -> Check {
        let reference = &image.reference;
        let written = reference.original();
        let rules: Vec<&ImageRule> = settings
            .images
            .iter()
            .filter(|r| r.patterns.matches(reference))
            .collect();
        if rules.is_empty() {
            return settings.unmatched_images.verdict(written);
        }
        let (digest, resolved) = match reference.digest() {
            Some(digest) => (digest.clone(), false),
            None => match manifest_digest(host, reference) {
                Ok(digest) => (digest, true),
                Err(e) => {
                    return Check::Deny(format!(
                        "image {written:?} is not pinned to a digest and its tag could not be resolved: {e}"
                    ))
                }
            },
        };
        if digest.sha256_bytes().is_none() {
            return Check::Deny(format!(
                "image {written:?}: attestations name sha256 digests, and the image is {digest}"
            ));
        }
        let root = match settings.trusted_root.get() {
            Ok(root) => root,
            Err(e) => return Check::Deny(format!("image {written:?}: {e}")),
        };
        let sources = cache.sources(
            host,
            custody_attestors::namespace(settings.attestations_namespace.as_ref()),
            &digest,
            image.pod_annotations,
        );
        let sources = match sources.as_ref() {
            Ok(sources) => sources,
            Err(e) => return Check::Deny(format!("image {written:?}: {e}")),
        };
        if sources.found.is_empty() {
            return Check::Deny(format!(
                "image {written:?}: no attestation found for {digest} ({})",
                sources.looked.join("; ")
            ));
        }
        for rule in rules {
            if let Err(reason) = check_rule(
                rule,
                &sources.found,
                &digest,
                (root, host.now_unix()),
                cache,
            ) {
                return Check::Deny(format!("image {written:?} ({digest}): {reason}"));
            }
        }
        if resolved {
            Check::Pin(digest)
        } else {
            Check::Allow
        }
    }
}

/// How far an attestation got before its content failed: the furthest one explains a denial
/// best when no attestation reached the attestors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Unreadable,
    Statement,
    PredicateType,
    Conditions,
}

/// Checks one `images` entry: at least `count` attestors must each vouch, through an attestation
/// that names the image and meets the conditions, each by a different signer.
fn check_rule(
    rule: &ImageRule,
    found: &[Found],
    digest: &Digest,
    trust: (&TrustedRoot, Option<i64>),
    cache: &mut RequestCache,
) -> Result<(), String> {
    // What each attestation says, checked before any cryptography (cheap, and the same for every
    // attestor). Nothing read here is trusted until its signature verifies.
    let mut failures: Vec<(Stage, String)> = Vec::new();
    let mut candidates = Vec::new();
    for (slot, f) in found.iter().enumerate() {
        match statement(rule, f, digest.encoded()) {
            Ok(bundle) => candidates.push(Candidate {
                slot,
                source: &f.source,
                bundle,
            }),
            Err((stage, reason)) => failures.push((stage, format!("{}: {reason}", f.source))),
        }
    }
    let tally = custody_attestors::tally(
        &rule.attestors,
        &candidates,
        digest,
        trust,
        cache,
        |verified| match &verified.identity {
            Some(id) => check_certificate(&rule.conditions, id),
            None => Ok(()),
        },
        |e| custody_attestors::describe(e, "attestation"),
    )?;
    if tally.passed() {
        return Ok(());
    }
    let mut message = tally.explain("no valid SLSA provenance");
    if tally.failures.is_empty() {
        if let Some((_, reason)) = failures.iter().max_by_key(|(stage, _)| *stage) {
            message.push_str(&format!("; {reason}"));
        }
    }
    if found.len() > 1 {
        message.push_str(&format!(" ({} attestations examined)", found.len()));
    }
    Err(message)
}

/// The statement checks: a readable DSSE bundle, an in-toto statement naming the image, an
/// accepted predicate type, and the provenance conditions.
fn statement<'a>(
    rule: &ImageRule,
    found: &'a Found,
    hex: &str,
) -> Result<&'a Bundle, (Stage, String)> {
    let bundle = found
        .bundle
        .as_ref()
        .map_err(|e| (Stage::Unreadable, format!("unreadable bundle: {e}")))?;
    let Content::Dsse(envelope) = &bundle.content else {
        return Err((
            Stage::Unreadable,
            "the bundle holds a message signature, not an attestation (DSSE)".into(),
        ));
    };
    // The statement is read once per bundle and request, and shared with the verifier's subject
    // check (`DsseEnvelope::statement`).
    let statement = envelope
        .statement()
        .map_err(|e| (Stage::Statement, e.message().into_owned()))?;
    let provenance = provenance::read(statement, hex).map_err(|e| (Stage::Statement, e))?;
    if !rule.accepts_predicate(&provenance.predicate_type) {
        return Err((
            Stage::PredicateType,
            format!(
                "predicate type {:?} is not accepted",
                provenance.predicate_type
            ),
        ));
    }
    check_conditions(&rule.conditions, &provenance).map_err(|e| (Stage::Conditions, e))?;
    Ok(bundle)
}

fn check_conditions(c: &Conditions, p: &Provenance) -> Result<(), String> {
    let got = |v: &Option<String>| match v {
        Some(v) => format!("got {v:?}"),
        None => "the provenance has none".to_owned(),
    };
    if let Some(want) = &c.builder_id {
        if p.builder_id.as_ref() != Some(want) {
            return Err(format!(
                "condition builder.id not met: {}, want {want:?}",
                got(&p.builder_id)
            ));
        }
    }
    if let Some(prefix) = &c.builder_id_prefix {
        if !p.builder_id.as_deref().is_some_and(|b| prefix.matches(b)) {
            return Err(format!(
                "condition builder.id not met: {}, want a prefix {:?}",
                got(&p.builder_id),
                prefix.as_str()
            ));
        }
    }
    if let Some(want) = &c.build_type {
        if p.build_type.as_ref() != Some(want) {
            return Err(format!(
                "condition buildType not met: {}, want {want:?}",
                got(&p.build_type)
            ));
        }
    }
    if let Some(want) = &c.source_repository {
        if p.source_repository.as_ref() != Some(want) {
            return Err(format!(
                "condition sourceRepository not met: {}, want {want:?}",
                got(&p.source_repository)
            ));
        }
    }
    if !c.source_refs.is_empty() && !ref_matches(&c.source_refs, p.source_ref.as_deref()) {
        return Err(format!(
            "condition sourceRefs not met: {}, want one of {}",
            got(&p.source_ref),
            list(&c.source_refs)
        ));
    }
    Ok(())
}

fn ref_matches(patterns: &[RefPattern], value: Option<&str>) -> bool {
    value.is_some_and(|v| patterns.iter().any(|RefPattern(_, p)| p.matches(v)))
}

fn list(patterns: &[RefPattern]) -> String {
    patterns
        .iter()
        .map(|RefPattern(text, _)| format!("{text:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The source and trigger conditions, against what the signing certificate records (GitHub
/// Actions certificates carry the source repository, ref and trigger).
fn check_certificate(c: &Conditions, id: &Identity) -> Result<(), String> {
    if let (Some(want), Some(cert)) = (&c.source_repository, &id.source_repository_uri) {
        if cert != want {
            return Err(format!(
                "condition sourceRepository not met: the signing certificate names {cert:?}, want {want:?}"
            ));
        }
    }
    if let Some(cert) = &id.source_repository_ref {
        if !c.source_refs.is_empty() && !ref_matches(&c.source_refs, Some(cert)) {
            return Err(format!(
                "condition sourceRefs not met: the signing certificate names {cert:?}, want one of {}",
                list(&c.source_refs)
            ));
        }
    }
    if !c.build_triggers.is_empty() {
        match &id.build_trigger {
            Some(t) if c.build_triggers.iter().any(|w| w == t) => {}
            other => {
                return Err(format!(
                    "condition buildTriggers not met: {}, want one of {:?}",
                    other
                        .as_ref()
                        .map_or("the signing certificate records none".to_owned(), |t| {
                            format!("got {t:?}")
                        }),
                    c.build_triggers
                ))
            }
        }
    }
    Ok(())
}

custody_sdk::export_policy!(VerifySlsa);
