//! Settings: the part every policy shares, and the error that names the field at fault.
//!
//! A policy's settings object holds the common keys (`exemptNamespaces`, `exemptImages`) beside the
//! policy's own keys. Unknown keys are errors, so a misspelt setting never silently weakens a policy.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use wildmatch::WildMatch;

use crate::image::{
    canonical_domain, looks_like_domain, validate_tag, DigestAlgorithm, ImageRef, DEFAULT_DOMAIN,
};

/// A settings error: the field at fault (`exemptImages[2]`, `pinTags`, or empty for the whole
/// object) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The field at fault, as a path (`bannedTags[1]`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SettingsError {
    /// `field: message` (or the message alone for the settings as a whole), without the
    /// `invalid settings:` prefix.
    pub(crate) fn detail(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }

    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: {}", self.detail())
    }
}

impl std::error::Error for SettingsError {}

/// A policy's own settings: typed (with `#[serde(deny_unknown_fields)]`) and checked beyond their
/// types by [`PolicySettings::validate`].
pub trait PolicySettings: DeserializeOwned + Default {
    /// Checks what types cannot express (cross-field rules, ranges, names). Types that check
    /// themselves when deserialised (patterns, algorithms) need nothing here.
    fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// An image pattern such as `ghcr.io/myorg/*`, matched against the canonical reference
/// (`docker.io/library/nginx:1.25`) and against its name alone (`docker.io/library/nginx`). `*`
/// matches any run of characters (`/` included), `?` one character. Checked when deserialised.
///
/// A pattern is written in the canonical form it matches (see [`crate::image`]): a pattern that
/// could never match because it spells a registry or path otherwise (`GHCR.IO/org/*`,
/// `ghcr.io:443/org/*`, `docker.io/nginx`, `bitnami/*`) is refused, and the error gives the
/// canonical spelling. So `ghcr.io/org/*` matches `GHCR.IO:443/org/app` too, and no pattern
/// silently matches nothing because of how it was spelt.
#[derive(Debug, Clone)]
pub struct ImagePattern(WildMatch);

impl ImagePattern {
    /// Checks and compiles a pattern.
    pub fn new(pattern: &str) -> Result<Self, String> {
        check_pattern(pattern)?;
        Ok(ImagePattern(WildMatch::new(pattern)))
    }
}

impl<'de> Deserialize<'de> for ImagePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ImagePattern::new(&text).map_err(D::Error::custom)
    }
}

/// A list of [`ImagePattern`]s; matches when any of them does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct ImagePatterns(Vec<ImagePattern>);

impl ImagePatterns {
    /// Whether any pattern matches the image.
    pub fn matches(&self, image: &ImageRef) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let full = image.to_string();
        let name = image.name();
        self.0
            .iter()
            .any(|ImagePattern(p)| p.matches(&full) || p.matches(&name))
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A namespace name (a DNS-1123 label), checked when deserialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceName(String);

impl NamespaceName {
    /// Checks a namespace name.
    pub fn new(name: &str) -> Result<Self, String> {
        check_namespace(name)?;
        Ok(NamespaceName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for NamespaceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        check_namespace(&text).map_err(D::Error::custom)?;
        Ok(NamespaceName(text))
    }
}

/// An image tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), checked when deserialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        validate_tag(&text).map_err(D::Error::custom)?;
        Ok(Tag(text))
    }
}

impl<'de> Deserialize<'de> for DigestAlgorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DigestAlgorithm::from_name(&text).ok_or_else(|| {
            D::Error::custom(format!(
                "unsupported digest algorithm {text:?}, expected sha256, sha384 or sha512"
            ))
        })
    }
}

const MAX_PATTERN_LEN: usize = 512;

fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("pattern must not be empty".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "pattern is {} characters long, at most {MAX_PATTERN_LEN} allowed",
            pattern.len()
        ));
    }
    if pattern.contains('*') && pattern.chars().all(|c| c == '*' || c == '?') {
        return Err(format!(
            "pattern {pattern:?} matches every image; remove the policy instead"
        ));
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "*?._-/:@[]".contains(*c)))
    {
        return Err(format!(
            "pattern {pattern:?} has the character {c:?}, which no image reference contains"
        ));
    }
    let canonical = canonical_pattern(pattern)?;
    if canonical != pattern {
        return Err(format!(
            "pattern {pattern:?} would never match: images are matched in canonical form \
             (host and path in lower case, no default port :443, Docker Hub names in full as \
             docker.io/...); write {canonical:?}"
        ));
    }
    Ok(())
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The canonical spelling of a pattern (already checked for its characters): the pattern itself
/// when it is canonical; an error when it can never match whatever its spelling.
///
/// What a pattern's literal characters can match is known from where they stand:
///
/// * before its last `/`: only a registry host or a repository path (tags and digests have no
///   `/`), both lower-case in canonical form;
/// * after its last `/`, up to the first `:`, `@` or wildcard: only the last path component;
/// * a registry part (before the first `/`) without wildcards: exactly the image's canonical
///   domain, so it is canonicalised like one, or names Docker Hub repositories without their
///   `docker.io/` if it does not read as a registry (`bitnami/*`); after `docker.io/`, a
///   literal `:` or `@` before any `/` ends a single-component name (`library/` is missing);
/// * a pattern without wildcards: exactly a canonical reference, so it must parse as an image
///   reference whose canonical form is itself (`docker.io/nginx` is `docker.io/library/nginx`).
fn canonical_pattern(pattern: &str) -> Result<String, String> {
    let canonical = match pattern.split_once('/') {
        None => lower_component_prefix(pattern),
        Some((domain, rest)) => {
            let rest = match rest.rsplit_once('/') {
                Some((path, last)) => format!(
                    "{}/{}",
                    path.to_ascii_lowercase(),
                    lower_component_prefix(last)
                ),
                None => lower_component_prefix(rest),
            };
            if has_wildcard(domain) {
                format!("{}/{rest}", canonical_wild_domain(domain))
            } else if domain.is_empty() {
                format!("/{rest}")
            } else if !domain.starts_with('[') && !looks_like_domain(domain) {
                format!("{DEFAULT_DOMAIN}/{domain}/{rest}")
            } else {
                let domain = canonical_domain(domain)
                    .map_err(|e| format!("pattern {pattern:?} would never match: {e}"))?;
                // Docker Hub paths have a '/': `docker.io/nginx:*` means `library/nginx`.
                let literal = rest.split(['*', '?']).next().unwrap_or_default();
                if domain == DEFAULT_DOMAIN
                    && literal.contains([':', '@'])
                    && !literal.contains('/')
                {
                    format!("{domain}/library/{rest}")
                } else {
                    format!("{domain}/{rest}")
                }
            }
        }
    };
    if has_wildcard(&canonical) {
        return Ok(canonical);
    }
    ImageRef::parse(&canonical)
        .map(|reference| reference.to_string())
        .map_err(|e| {
            format!(
                "pattern {pattern:?} would never match: without wildcards it is an image \
                 reference, and {e}"
            )
        })
}

/// `s` with its start, up to the first `:`, `@` or wildcard, in lower case.
fn lower_component_prefix(s: &str) -> String {
    let end = s.find([':', '@', '*', '?']).unwrap_or(s.len());
    let (prefix, suffix) = s.split_at(end);
    format!("{}{suffix}", prefix.to_ascii_lowercase())
}

/// A registry part with wildcards, as far as its literal text can be judged: lower case, and a
/// literal port (a `:` then digits up to the `/`, which can only be the image's port) without
/// leading zeros, and without `443` after a host with a literal `.` or `]`, which never has it.
fn canonical_wild_domain(domain: &str) -> String {
    let domain = domain.to_ascii_lowercase();
    let Some((host, port)) = domain.rsplit_once(':') else {
        return domain;
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return domain;
    }
    match port.trim_start_matches('0') {
        "" => domain,
        "443" if host.contains(['.', ']']) => host.to_owned(),
        port => format!("{host}:{port}"),
    }
}

/// Settings every policy has.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommonSettings {
    /// Namespaces whose requests are allowed without checks.
    pub exempt_namespaces: Vec<NamespaceName>,
    /// Images that are allowed without checks.
    pub exempt_images: ImagePatterns,
}

impl CommonSettings {
    /// Whether `namespace` is exempt.
    pub fn namespace_is_exempt(&self, namespace: &str) -> bool {
        self.exempt_namespaces.iter().any(|n| n.0 == namespace)
    }
}

/// The common settings and the policy's own, parsed and checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings<S> {
    /// Shared by every policy.
    pub common: CommonSettings,
    /// The policy's own.
    pub policy: S,
}

const EXEMPT_NAMESPACES: &str = "exemptNamespaces";
const EXEMPT_IMAGES: &str = "exemptImages";

impl<S: PolicySettings> Settings<S> {
    /// Parses and checks a settings value (`null` means all defaults).
    pub fn from_value(value: Value) -> Result<Self, SettingsError> {
        let mut map = match value {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(SettingsError::new(
                    "",
                    format!("settings must be an object, got {}", type_name(&other)),
                ))
            }
        };
        let exempt_namespaces = take_field(&mut map, EXEMPT_NAMESPACES)?;
        let exempt_images = take_field(&mut map, EXEMPT_IMAGES)?;
        let policy: S = deserialize_located("", Value::Object(map))?;
        policy.validate()?;
        Ok(Settings {
            common: CommonSettings {
                exempt_namespaces,
                exempt_images,
            },
            policy,
        })
    }

    /// Parses and checks settings JSON.
    pub fn from_slice(json: &[u8]) -> Result<Self, SettingsError> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|e| SettingsError::new("", format!("settings are not valid JSON: {e}")))?;
        Self::from_value(value)
    }
}

/// Removes `key` from `map` and deserialises it (missing or `null` gives the default).
fn take_field<T: DeserializeOwned + Default>(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<T, SettingsError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => deserialize_located(key, v),
    }
}

/// Deserialises `value`, found at `field`; an error names the exact field (`pinTags[2]`).
fn deserialize_located<T: DeserializeOwned>(field: &str, value: Value) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (field.is_empty(), inner.as_str()) {
            (_, ".") => field.to_string(),
            (true, _) => inner,
            (false, _) if inner.starts_with('[') => format!("{field}{inner}"),
            (false, _) => format!("{field}.{inner}"),
        };
        SettingsError::new(path, e.into_inner().to_string())
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A namespace name is a DNS-1123 label.
fn check_namespace(ns: &str) -> Result<(), String> {
    let valid = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{ns:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Demo {
        #[serde(default)]
        limit: u8,
    }

    impl PolicySettings for Demo {
        fn validate(&self) -> Result<(), SettingsError> {
            if self.limit > 10 {
                return Err(SettingsError::new("limit", "must be at most 10"));
            }
            Ok(())
        }
    }

    fn err(v: Value) -> String {
        Settings::<Demo>::from_value(v).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let s = Settings::<Demo>::from_value(Value::Null).unwrap();
        assert!(s.common.exempt_namespaces.is_empty());
        assert!(s.common.exempt_images.is_empty());
        let s = Settings::<Demo>::from_value(json!({})).unwrap();
        assert_eq!(s.policy.limit, 0);
    }

    #[test]
    fn common_and_policy_fields() {
        let s = Settings::<Demo>::from_value(json!({
            "exemptNamespaces": ["kube-system"],
            "exemptImages": ["ghcr.io/myorg/*"],
            "limit": 3
        }))
        .unwrap();
        assert!(s.common.namespace_is_exempt("kube-system"));
        assert!(!s.common.namespace_is_exempt("default"));
        assert_eq!(s.policy.limit, 3);
        let img = ImageRef::parse("ghcr.io/myorg/app:1").unwrap();
        assert!(s.common.exempt_images.matches(&img));
        let other = ImageRef::parse("ghcr.io/other/app:1").unwrap();
        assert!(!s.common.exempt_images.matches(&other));
    }

    #[test]
    fn patterns_match_normalised_names() {
        let p: ImagePatterns = serde_json::from_value(json!(["docker.io/library/nginx"])).unwrap();
        assert!(p.matches(&ImageRef::parse("nginx:1.25").unwrap()));
        assert!(p.matches(&ImageRef::parse("nginx").unwrap()));
        assert!(!p.matches(&ImageRef::parse("nginx2").unwrap()));
        let p: ImagePatterns = serde_json::from_value(json!(["registry:5000/team/*"])).unwrap();
        let pinned = format!("registry:5000/team/app@sha256:{}", "a".repeat(64));
        assert!(p.matches(&ImageRef::parse(&pinned).unwrap()));
    }

    /// Hardening finding 1: a strict pattern for `ghcr.io/org/*` was dodged by spelling the
    /// registry differently (`GHCR.IO`, `Ghcr.io`, `ghcr.io:443`), which a runtime pulls alike.
    #[test]
    fn registry_spellings_do_not_dodge_a_pattern() {
        let strict: ImagePatterns = serde_json::from_value(json!(["ghcr.io/org/*"])).unwrap();
        let digest = format!("@sha256:{}", "a".repeat(64));
        let dodged = [
            "ghcr.io/org/app".to_owned(),
            "GHCR.IO/org/app".to_owned(),
            "Ghcr.io/org/app:1".to_owned(),
            "ghcr.io:443/org/app".to_owned(),
            format!("GHCR.IO:443/org/app{digest}"),
            "gHcR.iO:0443/org/team/app:v1".to_owned(),
        ]
        .into_iter()
        .filter(|spelling| !strict.matches(&ImageRef::parse(spelling).unwrap()))
        .collect::<Vec<_>>();
        assert!(
            dodged.is_empty(),
            "these spellings dodged ghcr.io/org/*: {dodged:?}"
        );
        let other = ImageRef::parse("GHCR.IO/other/app").unwrap();
        assert!(
            !strict.matches(&other),
            "another organisation still does not match"
        );
    }

    #[test]
    fn a_canonical_pattern_matches_every_spelling() {
        let pinned = format!("GHCR.IO:443/org/app:1@sha256:{}", "a".repeat(64));
        let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
            (
                "ghcr.io/org/*",
                vec![
                    "ghcr.io/org/app",
                    "GHCR.IO/org/app",
                    "Ghcr.io/org/app:1",
                    "ghcr.io:443/org/app",
                    &pinned,
                ],
                vec![
                    "ghcr.io:80/org/app",
                    "ghcr.io:8443/org/app",
                    "ghcr.io.evil.com/org/app",
                ],
            ),
            (
                "ghcr.io/org/app",
                vec!["GHCR.IO:0443/org/app:1", &pinned],
                vec!["ghcr.io/org/app2"],
            ),
            (
                "docker.io/library/nginx",
                vec![
                    "nginx",
                    "DOCKER.IO/nginx:1",
                    "docker.io:443/nginx",
                    "index.docker.io:443/nginx",
                    "Index.Docker.Io/library/nginx",
                ],
                vec!["registry-1.docker.io/library/nginx", "nginx2"],
            ),
            (
                "docker.io/library/nginx:1.*",
                vec!["DOCKER.IO/nginx:1.25"],
                vec!["nginx:2.0"],
            ),
            (
                "localhost:5000/*",
                vec!["LOCALHOST:5000/app", "localhost:05000/app"],
                vec!["localhost/app"],
            ),
            (
                "[::1]:5000/*",
                vec!["[0:0::1]:5000/app", "[::1]:5000/app"],
                vec!["[::2]:5000/app"],
            ),
            ("[2001:db8::1]/*", vec!["[2001:DB8::1]:443/app"], vec![]),
            (
                "myregistry:443/*",
                vec!["MyRegistry/app", "myregistry:443/app"],
                vec!["myregistry/app"],
            ),
            (
                "registry:80/*",
                vec!["REGISTRY:80/app", "registry:080/app"],
                vec!["Registry/app"],
            ),
            (
                "*.example.com/*",
                vec!["REGISTRY.EXAMPLE.COM:443/app"],
                vec!["registry.example.com:5000/app"],
            ),
        ];
        for (pattern, matching, other) in cases {
            let p: ImagePatterns = serde_json::from_value(json!([pattern])).unwrap();
            for image in matching {
                assert!(
                    p.matches(&ImageRef::parse(image).unwrap()),
                    "{pattern} must match {image}"
                );
            }
            for image in other {
                assert!(
                    !p.matches(&ImageRef::parse(image).unwrap()),
                    "{pattern} must not match {image}"
                );
            }
        }
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct WithPatterns {
        #[serde(default)]
        pin_tags: ImagePatterns,
    }

    impl PolicySettings for WithPatterns {}

    #[test]
    fn non_canonical_patterns_are_refused_with_the_canonical_spelling() {
        assert_eq!(
            err(json!({"exemptImages": ["ghcr.io/ok/*", "GHCR.IO/org/*"]})),
            "invalid settings: exemptImages[1]: pattern \"GHCR.IO/org/*\" would never match: images \
             are matched in canonical form (host and path in lower case, no default port :443, \
             Docker Hub names in full as docker.io/...); write \"ghcr.io/org/*\""
        );
        let policy_field =
            Settings::<WithPatterns>::from_value(json!({"pinTags": ["ghcr.io:443/org/*"]}))
                .unwrap_err();
        assert_eq!(policy_field.field, "pinTags[0]");
        assert!(
            policy_field.message.ends_with("write \"ghcr.io/org/*\""),
            "{policy_field}"
        );
        let written_right =
            Settings::<WithPatterns>::from_value(json!({"pinTags": ["ghcr.io/org/*"]})).unwrap();
        let image = ImageRef::parse("GHCR.IO:443/org/app:1").unwrap();
        assert!(written_right.policy.pin_tags.matches(&image));

        #[rustfmt::skip]
        let refused = [
            ("GHCR.IO/org/*", "ghcr.io/org/*"),
            ("Ghcr.io/org/app", "ghcr.io/org/app"),
            ("ghcr.io:443/org/*", "ghcr.io/org/*"),
            ("GHCR.IO:0443/org/app:V1", "ghcr.io/org/app:V1"),
            ("ghcr.io/Org/*", "ghcr.io/org/*"),
            ("ghcr.io/org/App*", "ghcr.io/org/app*"),
            ("ghcr.io/org/App:Dev", "ghcr.io/org/app:Dev"),
            ("registry:05000/*", "registry:5000/*"),
            ("LOCALHOST:5000/*", "localhost:5000/*"),
            ("localhost:443/*", "localhost/*"),
            ("MyRegistry/*", "myregistry:443/*"),
            ("[0:0::1]:5000/*", "[::1]:5000/*"),
            ("[2001:DB8::1]:443/*", "[2001:db8::1]/*"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("docker.io/nginx:*", "docker.io/library/nginx:*"),
            ("DOCKER.IO/bitnami/*", "docker.io/bitnami/*"),
            ("index.docker.io/library/*", "docker.io/library/*"),
            ("Index.Docker.Io:443/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("bitnami/*", "docker.io/bitnami/*"),
            ("library/nginx", "docker.io/library/nginx"),
            ("nginx", "docker.io/library/nginx"),
            ("*.EXAMPLE.COM/*", "*.example.com/*"),
            ("*.example.com:443/*", "*.example.com/*"),
            ("*:0443/*", "*:443/*"),
        ];
        for (pattern, canonical) in refused {
            let e = err(json!({"exemptImages": [pattern]}));
            assert!(
                e.starts_with(&format!(
                    "invalid settings: exemptImages[0]: pattern {pattern:?} would never match"
                )),
                "{e}"
            );
            assert!(
                e.ends_with(&format!("write {canonical:?}")),
                "{pattern}: {e}"
            );
            assert!(
                ImagePattern::new(canonical).is_ok(),
                "the suggestion {canonical} is accepted"
            );
        }

        #[rustfmt::skip]
        let never = [
            ("ghcr.io:70000/*", "a port is a number from 1 to 65535"),
            ("ghcr.io:0/*", "a port is a number from 1 to 65535"),
            ("my_registry.io/*", "invalid registry domain"),
            ("ghcr.io/org/app:", "without wildcards it is an image reference, and empty tag"),
            ("ghcr.io/org/a..b", "invalid path component"),
        ];
        for (pattern, reason) in never {
            let e = err(json!({"exemptImages": [pattern]}));
            assert!(e.starts_with("invalid settings: exemptImages[0]: "), "{e}");
            assert!(
                e.contains("would never match") && e.contains(reason),
                "{pattern}: {e}"
            );
        }

        // Canonical, or not decidable from the text: accepted as written.
        for pattern in [
            "ghcr.io/org/*",
            "ghcr.io/org/app:Dev*",
            "ghcr.io/org/*App",
            "registry:80/*",
            "myregistry:443/*",
            "*:443/*",
            "[::1]:5000/*",
            "docker.io/library/nginx",
            "docker.io/n*",
            "*nginx*",
            "nginx:*",
            "*/org/app",
        ] {
            assert!(ImagePattern::new(pattern).is_ok(), "{pattern} refused");
        }
    }

    /// The finding end to end: a strict entry for `ghcr.io/org/*` beside a lenient default
    /// (allow what matches nothing, pin what matches `pin`). Every spelling meets the strict rule;
    /// a pin resolves the canonical reference and rewrites the text as the author wrote it.
    #[test]
    fn the_pipeline_judges_every_spelling_by_the_canonical_pattern() {
        use crate::host::{Host, MANIFEST_DIGEST};
        use crate::policy::evaluate;
        use crate::rule::{Check, Image, Rule, Verdict};

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StrictSettings {
            strict: ImagePatterns,
            pin: ImagePatterns,
        }
        impl PolicySettings for StrictSettings {}
        enum StrictRule {}
        impl Rule for StrictRule {
            type Settings = StrictSettings;
            type State = ();
            fn check<H: Host + ?Sized>(
                settings: &StrictSettings,
                _state: &mut (),
                image: &Image<'_>,
                host: &mut H,
            ) -> Check {
                let reference = &image.reference;
                if settings.strict.matches(reference) {
                    Check::Deny(format!("{} meets the strict rule", reference.original()))
                } else if settings.pin.matches(reference) {
                    crate::host::manifest_digest(host, reference)
                        .map_or_else(|e| Check::Deny(e.to_string()), Check::Pin)
                } else {
                    Check::Allow
                }
            }
        }
        /// Answers `manifest_digest` with one digest, recording what it was asked.
        struct Registry(Vec<String>);
        impl Host for Registry {
            fn call(&mut self, ns: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
                assert_eq!((ns, op), MANIFEST_DIGEST);
                self.0.push(serde_json::from_slice(payload).unwrap());
                Ok(format!(r#"{{"digest": "sha256:{}"}}"#, "b".repeat(64)).into_bytes())
            }
            fn now_unix(&self) -> Option<i64> {
                None
            }
        }
        let request = |images: &[&str]| {
            let containers: Vec<Value> = images
                .iter()
                .enumerate()
                .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
                .collect();
            let payload = json!({
                "request": {"kind": {"kind": "Pod"}, "operation": "CREATE",
                            "object": {"spec": {"containers": containers}}},
                "settings": {"strict": ["ghcr.io/org/*"], "pin": ["quay.io/team/*"]}
            });
            serde_json::to_vec(&payload).unwrap()
        };

        let spellings = [
            "GHCR.IO/org/app",
            "Ghcr.io/org/app:1",
            "ghcr.io:443/org/app",
        ];
        for spelling in spellings {
            let verdict = evaluate::<StrictRule>(&request(&[spelling]), &mut Registry(vec![]));
            let Ok(Verdict::Deny(violations)) = verdict else {
                panic!("{spelling:?} dodged the strict rule: {verdict:?}");
            };
            assert!(
                violations[0].message.contains("meets the strict rule"),
                "{spelling}"
            );
        }

        let mut registry = Registry(vec![]);
        let verdict = evaluate::<StrictRule>(&request(&["QUAY.IO:443/team/app:1"]), &mut registry);
        let Ok(Verdict::Mutate(patches)) = verdict else {
            panic!("not pinned: {verdict:?}");
        };
        assert_eq!(
            registry.0,
            ["quay.io/team/app:1"],
            "the host resolves the canonical reference"
        );
        assert_eq!(
            patches[0].image,
            format!("QUAY.IO:443/team/app:1@sha256:{}", "b".repeat(64)),
            "the pod keeps its author's spelling"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(json!({"exemptNamespaces": ["ok", "Bad_NS"]})),
            "invalid settings: exemptNamespaces[1]: \"Bad_NS\" is not a namespace name (lower-case letters, digits and '-', at most 63)"
        );
        assert!(err(json!({"exemptNamespaces": "kube-system"}))
            .starts_with("invalid settings: exemptNamespaces: invalid type"));
        assert_eq!(
            err(json!({"exemptImages": [""]})),
            "invalid settings: exemptImages[0]: pattern must not be empty"
        );
        assert!(err(json!({"exemptImages": ["*"]})).contains("matches every image"));
        assert!(err(json!({"exemptImages": ["a b"]})).contains("exemptImages[0]"));
        assert!(err(json!({"exemptImages": ["x".repeat(600)]})).contains("at most 512"));
        assert!(err(json!({"limt": 3})).contains("unknown field `limt`"));
        assert_eq!(
            err(json!({"limit": 11})),
            "invalid settings: limit: must be at most 10"
        );
        assert!(err(json!({"limit": 300})).contains("invalid value"));
        assert_eq!(
            err(json!([1])),
            "invalid settings: settings must be an object, got an array"
        );
        assert!(Settings::<Demo>::from_slice(b"{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }
}
