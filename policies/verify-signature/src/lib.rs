//! verify-signature: every image must carry a valid cosign signature from the configured
//! attestors (public keys, certificates, keyless identities, GitHub Actions workflows; N of M),
//! over a payload that names the image's digest and carries the required annotations.
//!
//! Two sources of truth, chosen per `images` entry:
//! - `host`: Kubewarden's host capability `oci/v2/verify`, one call per attestor (the host
//!   verifies all of a call's signers; one call each lets `count` ask any N of them); the digest
//!   the host verified is the one pinned;
//! - `cluster`: signatures exported into the cluster (the ConfigMap per image digest, or the pod's
//!   `custody.dev/attestations` annotation, as for verify-slsa), verified inside the module:
//!   cosign's simple-signing signatures (tag `sha256-<hex>.sig`) and cosign v3 signature bundles.
//!
//! The default source is `host` where the build can call its host (Kubewarden's waPC mode), and
//! `cluster` in the Gatekeeper build, which has no other.
#![deny(unsafe_code)] // `export_policy!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;

use custody_attestors::{
    Attestor, AttestorKind, Attestors, Candidate, Found, RequestCache, TrustRoot, Unmatched,
};
use custody_sdk::abi::host_capabilities;
use custody_sdk::host::{self, manifest_digest, KeylessInfo, KeylessPrefixInfo, VerifyRequest};
use custody_sdk::settings::{ImagePatterns, NamespaceName};
use custody_sdk::{Check, Digest, Host, Image, PolicySettings, Rule, SettingsError};
use custody_sigstore::cosign::{SimpleSigning, COSIGN_SIGN_PREDICATE};
use custody_sigstore::{Bundle, Content, Matcher};
use serde::Deserialize;

/// The policy's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifySignatureSettings {
    /// Which images need whose signatures; an image is checked against every entry whose
    /// patterns match it.
    #[serde(default)]
    pub images: Vec<ImageRule>,
    /// What happens to an image no entry matches (default: deny).
    #[serde(default)]
    pub unmatched_images: Unmatched,
    /// The namespace of the signature ConfigMaps, for `source: cluster` (default
    /// `custody-attestations`).
    #[serde(default)]
    pub attestations_namespace: Option<NamespaceName>,
    /// A Sigstore `trusted_root.json` for `source: cluster`; default: the public-good root
    /// embedded in the module. (In `source: host`, Kubewarden's host uses its own.)
    #[serde(default)]
    pub trusted_root: TrustRoot,
}

/// One entry of `images`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageRule {
    /// The images it applies to (`ghcr.io/myorg/*`).
    pub patterns: ImagePatterns,
    /// Who must have signed, and how many of them.
    pub attestors: Attestors,
    /// Where signatures are verified: `host` or `cluster` (default: `host` where the build has
    /// host capabilities, else `cluster`).
    #[serde(default)]
    pub source: Option<Source>,
    /// Annotations the signature's payload must carry, each with this value.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Whether an image given by tag is pinned, by mutation, to the digest whose signatures
    /// were verified (default `true`; `false` for GitOps controllers that fight mutations).
    #[serde(default = "yes")]
    pub mutate: bool,
}

fn yes() -> bool {
    true
}

/// Where an entry's signatures are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Kubewarden's host capability `oci/v2/verify`, against the registry.
    Host,
    /// Inside the module, from the signatures exported into the cluster.
    Cluster,
}

impl ImageRule {
    /// The entry's source, defaulted for this build.
    pub fn source(&self) -> Source {
        self.source.unwrap_or(if host_capabilities() {
            Source::Host
        } else {
            Source::Cluster
        })
    }
}

impl PolicySettings for VerifySignatureSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        for (i, rule) in self.images.iter().enumerate() {
            let field = format!("images[{i}]");
            custody_attestors::check_entry(&field, &rule.patterns, &rule.attestors)?;
            if let Some(key) = rule.annotations.keys().find(|k| k.is_empty()) {
                return Err(SettingsError::new(
                    format!("{field}.annotations"),
                    format!("an annotation name cannot be empty ({key:?})"),
                ));
            }
            if rule.source() == Source::Host {
                if !host_capabilities() {
                    return Err(SettingsError::new(
                        format!("{field}.source"),
                        "`host` needs Kubewarden's host capabilities, which this build (Gatekeeper mode) does not have: use `cluster`",
                    ));
                }
                for (j, attestor) in rule.attestors.entries.iter().enumerate() {
                    host_request(attestor, "", &rule.annotations).map_err(|e| {
                        SettingsError::new(format!("{field}.attestors.entries[{j}]"), e)
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// The `oci/v2/verify` request that verifies `attestor` for `image`, or why Kubewarden's host
/// cannot verify it as configured (checked when the settings load).
pub fn host_request(
    attestor: &Attestor,
    image: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<VerifyRequest, String> {
    let image = image.to_owned();
    let annotations = (!annotations.is_empty()).then(|| annotations.clone());
    Ok(match &attestor.spec {
        AttestorKind::PublicKey {
            pem,
            require_rekor_bundle,
        } => {
            if *require_rekor_bundle {
                return Err("Kubewarden's host does not require a Rekor bundle for a key signature: set `requireRekorBundle: false` to accept signatures without one, or use `source: cluster`".into());
            }
            VerifyRequest::SigstorePubKeyVerify {
                image,
                pub_keys: vec![pem.clone()],
                annotations,
            }
        }
        AttestorKind::Keyless { issuer, subject } => match (issuer, subject) {
            (Matcher::Exact(issuer), Matcher::Exact(subject)) => {
                VerifyRequest::SigstoreKeylessVerify {
                    image,
                    keyless: vec![KeylessInfo {
                        issuer: issuer.clone(),
                        subject: subject.clone(),
                    }],
                    annotations,
                }
            }
            (Matcher::Exact(issuer), Matcher::Prefix(prefix)) => {
                VerifyRequest::SigstoreKeylessPrefixVerify {
                    image,
                    keyless_prefix: vec![KeylessPrefixInfo {
                        issuer: issuer.clone(),
                        url_prefix: prefix.as_str().to_owned(),
                    }],
                    annotations,
                }
            }
            _ => return Err("Kubewarden's host matches a keyless identity by exact issuer, and exact subject or subject prefix: `issuerPrefix`, `issuerRegExp` and `subjectRegExp` need `source: cluster`".into()),
        },
        AttestorKind::GithubActions { owner, repository } => {
            VerifyRequest::SigstoreGithubActionsVerify {
                image,
                owner: owner.clone(),
                repo: repository.clone(),
                annotations,
            }
        }
        AttestorKind::Certificate {
            certificate,
            chain,
            require_rekor_bundle,
        } => VerifyRequest::SigstoreCertificateVerify {
            image,
            certificate: certificate.as_bytes().to_vec(),
            certificate_chain: (!chain.is_empty())
                .then(|| chain.iter().map(|c| c.as_bytes().to_vec()).collect()),
            require_rekor_bundle: *require_rekor_bundle,
            annotations,
        },
    })
}

/// What one admission request has learnt: the cluster sources and verifications
/// ([`RequestCache`]), and the host's answers (each request asked once, however many containers
/// name the image).
#[derive(Debug, Default)]
pub struct State {
    cache: RequestCache,
    host_answers: BTreeMap<String, Result<Digest, String>>,
}

/// The rule.
#[derive(Debug)]
pub enum VerifySignature {}

impl Rule for VerifySignature {
    type Settings = VerifySignatureSettings;
    type State = State;

    fn check<H: Host + ?Sized>(
        settings: &VerifySignatureSettings,
        state: &mut State,
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
        // The digest every entry verifies: the image's own, else the one the host verified or
        // resolved first; every later answer must agree (a tag moved meanwhile is denied).
        let mut digest: Option<Digest> = reference.digest().cloned();
        let pinned = digest.is_some();
        for rule in rules.iter().filter(|r| r.source() == Source::Host) {
            match check_host(rule, &reference.to_string(), state, host) {
                Ok(verified) => {
                    if let Err(e) = agree(&mut digest, verified) {
                        return Check::Deny(format!("image {written:?}: {e}"));
                    }
                }
                Err(e) => return Check::Deny(format!("image {written:?}: {e}")),
            }
        }
        if rules.iter().any(|r| r.source() == Source::Cluster) {
            let digest = match &digest {
                Some(d) => d.clone(),
                None => match manifest_digest(host, reference) {
                    Ok(d) => {
                        digest = Some(d.clone());
                        d
                    }
                    Err(e) => return Check::Deny(format!(
                        "image {written:?} is not pinned to a digest and its tag could not be resolved: {e}"
                    )),
                },
            };
            if let Err(e) = check_cluster(settings, &rules, &digest, image, state, host) {
                return Check::Deny(format!("image {written:?} ({digest}): {e}"));
            }
        }
        match digest {
            Some(d) if !pinned && rules.iter().all(|r| r.mutate) => Check::Pin(d),
            _ => Check::Allow,
        }
    }
}

/// Records `found` as the digest verified, or says how it differs from the one already known.
fn agree(known: &mut Option<Digest>, found: Digest) -> Result<(), String> {
    match known {
        Some(d) if *d != found => Err(format!(
            "the signatures verified are for {found}, but the image is {d} (was its tag moved?)"
        )),
        Some(_) => Ok(()),
        None => {
            *known = Some(found);
            Ok(())
        }
    }
}

/// `source: host`: one `oci/v2/verify` call per attestor; at least `count` must be trusted, all
/// for the same digest, which is returned.
fn check_host<H: Host + ?Sized>(
    rule: &ImageRule,
    image: &str,
    state: &mut State,
    host: &mut H,
) -> Result<Digest, String> {
    let mut digest = None;
    let mut trusted = 0;
    let mut failures = Vec::new();
    for attestor in &rule.attestors.entries {
        let answer = match host_request(attestor, image, &rule.annotations) {
            Err(e) => Err(e),
            Ok(request) => {
                let key = serde_json::to_string(&request).unwrap_or_default();
                state
                    .host_answers
                    .entry(key)
                    .or_insert_with(|| match host::verify(host, &request) {
                        Ok((true, d)) => Ok(d),
                        Ok((false, d)) => {
                            Err(format!("the host found no trusted signature for {d}"))
                        }
                        Err(e) => Err(e.to_string()),
                    })
                    .clone()
            }
        };
        match answer {
            Ok(d) => {
                agree(&mut digest, d)?;
                trusted += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", attestor.label)),
        }
    }
    let required = rule.attestors.required();
    match digest {
        Some(d) if trusted >= required => Ok(d),
        _ => {
            let total = rule.attestors.entries.len();
            let head = if total > 1 {
                format!("{trusted} of the {required} attestors required vouched ({total} configured, verified by the host)")
            } else {
                "no valid signature (verified by the host)".to_owned()
            };
            Err(std::iter::once(head)
                .chain(failures)
                .collect::<Vec<_>>()
                .join("; "))
        }
    }
}

/// `source: cluster`: every cluster entry's attestors must vouch through signatures found in
/// the cluster for `digest`.
fn check_cluster<H: Host + ?Sized>(
    settings: &VerifySignatureSettings,
    rules: &[&ImageRule],
    digest: &Digest,
    image: &Image<'_>,
    state: &mut State,
    host: &mut H,
) -> Result<(), String> {
    if digest.sha256_bytes().is_none() {
        return Err("signatures name sha256 digests".into());
    }
    let root = settings.trusted_root.get()?;
    let sources = state.cache.sources(
        host,
        custody_attestors::namespace(settings.attestations_namespace.as_ref()),
        digest,
        image.pod_annotations,
    );
    let sources = sources.as_ref().as_ref().map_err(Clone::clone)?;
    let now = host.now_unix();
    for rule in rules.iter().filter(|r| r.source() == Source::Cluster) {
        let mut failures = Vec::new();
        let mut candidates = Vec::new();
        for (slot, f) in sources.found.iter().enumerate() {
            match signature(rule, f, digest) {
                Ok(Some(bundle)) => candidates.push(Candidate {
                    slot,
                    source: &f.source,
                    bundle,
                }),
                Ok(None) => {}
                Err(reason) => failures.push(format!("{}: {reason}", f.source)),
            }
        }
        if candidates.is_empty() && failures.is_empty() {
            let looked = if sources.found.is_empty() {
                sources.looked.join("; ")
            } else {
                format!("{} attestations, no signature", sources.found.len())
            };
            return Err(format!("no signature found ({looked})"));
        }
        let tally = custody_attestors::tally(
            &rule.attestors,
            &candidates,
            digest,
            (root, now),
            &mut state.cache,
            |_| Ok(()),
            |e| custody_attestors::describe(e, "signature"),
        )?;
        if !tally.passed() {
            let mut message = tally.explain("no valid signature");
            if tally.failures.is_empty() {
                if let Some(reason) = failures.first() {
                    message.push_str(&format!("; {reason}"));
                }
            }
            return Err(message);
        }
    }
    Ok(())
}

/// Whether `found` is a signature of `digest` with the entry's annotations, read before any
/// cryptography: `Some` bundle to verify, `None` when it is not a signature at all (an
/// attestation beside the signatures), `Err` when it is one that cannot vouch. Nothing read
/// here is trusted until the bundle verifies.
fn signature<'a>(
    rule: &ImageRule,
    found: &'a Found,
    digest: &Digest,
) -> Result<Option<&'a Bundle>, String> {
    let bundle = found
        .bundle
        .as_ref()
        .map_err(|e| format!("unreadable bundle: {e}"))?;
    match &bundle.content {
        Content::MessageSignature { .. } => {
            let Some(message) = bundle.message() else {
                return Err("a message signature without its message (the simple-signing payload): export it with `custody attestations export`".into());
            };
            SimpleSigning::from_json(message)
                .map_err(|e| e.to_string())?
                .check_image(&digest.to_string(), &rule.annotations)?;
            Ok(Some(bundle))
        }
        Content::Dsse(envelope) => {
            let statement = envelope.statement().map_err(|e| e.to_string())?;
            let predicate_type = statement.get("predicateType").and_then(|t| t.as_str());
            if predicate_type != Some(COSIGN_SIGN_PREDICATE) {
                return Ok(None);
            }
            if !rule.annotations.is_empty() {
                return Err("a cosign v3 signature bundle records no annotations custody can check, and this entry requires some".into());
            }
            Ok(Some(bundle))
        }
    }
}

custody_sdk::export_policy!(VerifySignature);

#[cfg(test)]
mod tests {
    use super::*;
    use custody_sdk::policy::{gatekeeper, validate_settings};
    use custody_sdk::NoHost;
    use serde_json::{json, Value};

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE60I39eN4BmPl7xG9LS+sE4PdfSdF\nDUTkdO34st3FIG3WN3SCfdt7/UzyOzdKkLcal2hw5W7YOSU8E7BzK7cRgA==\n-----END PUBLIC KEY-----\n";

    fn settings_error(attestor: Value, source: Option<&str>) -> Option<String> {
        let mut entry = json!({"patterns": ["ghcr.io/*"], "attestors": {"entries": [attestor]}});
        if let Some(s) = source {
            entry["source"] = json!(s);
        }
        let settings = json!({ "images": [entry] }).to_string();
        validate_settings::<VerifySignature>(settings.as_bytes()).message
    }

    /// What the host cannot verify as configured is refused when the settings load, naming the
    /// attestor; the same attestor is fine in cluster mode.
    #[test]
    fn host_mode_refuses_what_kubewardens_host_cannot_check() {
        let cases = [
            (json!({"publicKey": PEM}), "does not require a Rekor bundle"),
            (
                json!({"keyless": {"issuerPrefix": "https://token.actions.githubusercontent.com", "subject": "x"}}),
                "`issuerPrefix`, `issuerRegExp` and `subjectRegExp` need `source: cluster`",
            ),
            (
                json!({"keyless": {"issuer": "https://a.example", "subjectRegExp": "https://a\\.example/.*"}}),
                "need `source: cluster`",
            ),
        ];
        for (attestor, want) in cases {
            let err = settings_error(attestor.clone(), None).unwrap_or_default();
            assert!(
                err.starts_with("invalid settings: images[0].attestors.entries[0]: ")
                    && err.contains(want),
                "{attestor}: {err}"
            );
            assert_eq!(settings_error(attestor, Some("cluster")), None);
        }
        let ok = json!({"publicKey": PEM, "requireRekorBundle": false});
        assert_eq!(settings_error(ok, Some("host")), None);
        let ok = json!({"keyless": {"issuer": "https://a.example", "subjectPrefix": "https://a.example/org/"}});
        assert_eq!(settings_error(ok, None), None);
    }

    #[test]
    fn attestor_kinds_are_checked() {
        let cases = [
            (
                json!({"publicKey": PEM, "keyless": {"issuer": "i", "subject": "s"}}),
                "an attestor is exactly one of",
            ),
            (json!({}), "an attestor is exactly one of"),
            (
                json!({"githubActions": {"owner": "my org"}}),
                "githubActions.owner: \"my org\" is not a GitHub owner name",
            ),
            (
                json!({"githubActions": {"owner": "o", "repository": ".."}}),
                "githubActions.repository",
            ),
            (
                json!({"githubActions": {"owner": "o"}, "requireRekorBundle": false}),
                "a keyless signature always needs its transparency log entry",
            ),
            (
                json!({"certificate": {"certificate": "not PEM"}}),
                "certificate: ",
            ),
            (
                json!({"publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
                "publicKey: ",
            ),
        ];
        for (attestor, want) in cases {
            let err = settings_error(attestor.clone(), Some("cluster")).unwrap_or_default();
            assert!(
                err.starts_with("invalid settings: images[0].attestors.entries[0]")
                    && err.contains(want),
                "{attestor}: {err}"
            );
        }
    }

    /// The Gatekeeper evaluation has no host: `source: host` is a violation there, and the
    /// default source is the cluster.
    #[test]
    fn gatekeeper_has_no_host_source() {
        let pinned = format!("ghcr.io/acme/app@sha256:{}", "a".repeat(64));
        let review = json!({
            "uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "namespace": "default",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": [{"name": "c", "image": pinned}]}},
        });
        let attestors = json!({"entries": [{"publicKey": PEM, "requireRekorBundle": false}]});
        let input = |source: Option<&str>| {
            let mut entry = json!({"patterns": ["ghcr.io/*"], "attestors": attestors});
            if let Some(s) = source {
                entry["source"] = json!(s);
            }
            json!({"review": review, "parameters": {"images": [entry]}}).to_string()
        };
        let host = gatekeeper::<VerifySignature>(input(Some("host")).as_bytes(), &mut NoHost);
        assert_eq!(host.len(), 1, "{host:?}");
        assert!(
            host[0]
                .msg
                .contains("images[0].source: `host` needs Kubewarden's host capabilities"),
            "{host:?}"
        );
        let default = gatekeeper::<VerifySignature>(input(None).as_bytes(), &mut NoHost);
        assert_eq!(default.len(), 1, "{default:?}");
        assert!(default[0].msg.contains("no signature found"), "{default:?}");
    }
}
