//! ArtifactHub's package metadata (`artifacthub-pkg.yml`) and repository metadata
//! (`artifacthub-repo.yml`) for Kubewarden policy packages, checked as ArtifactHub documents them
//! (artifacthub/hub `docs/metadata/artifacthub-pkg.yml`, `docs/metadata/artifacthub-repo.yml`,
//! `docs/kubewarden_policies_repositories.md`, `docs/kubewarden_annotations.md`):
//!
//! - only the documented fields, each of its type (ArtifactHub reads the file strictly: an unknown
//!   or mistyped field makes the whole package fail to index);
//! - required: `version` (SemVer 2), `name` (letters, digits and dashes), `displayName`,
//!   `createdAt` (RFC 3339), `description`;
//! - `containersImages`: valid image references; for Kubewarden an image named `policy` is
//!   required, and the only other allowed is `policy-alternative-location`;
//! - `changes`: kinds added, changed, deprecated, removed, fixed or security, with a description;
//!   links and maintainers with their required fields (a maintainer's email);
//! - `annotations`: strings only (`kubewarden/mutation: false` unquoted is a boolean, refused);
//!   Kubewarden's `kubewarden/mutation` ("true"/"false"), `kubewarden/resources`,
//!   `kubewarden/rules` (a YAML list of admission rules) and, when given,
//!   `kubewarden/contextAwareResources` (a YAML list of `apiVersion`/`kind`), which Kubewarden's
//!   policy catalog reads.
//!
//! Each problem is one line naming the field (`containersImages[0].image: ...`).

use custody_sdk::image::ImageRef;
use serde_json::{Map, Value};

/// The fields of ArtifactHub's package metadata file.
const PACKAGE_FIELDS: [&str; 30] = [
    "version",
    "name",
    "alternativeName",
    "category",
    "displayName",
    "createdAt",
    "description",
    "logoPath",
    "logoURL",
    "digest",
    "license",
    "homeURL",
    "appVersion",
    "publisherID",
    "containersImages",
    "operator",
    "deprecated",
    "keywords",
    "links",
    "readme",
    "install",
    "changes",
    "containsSecurityUpdates",
    "prerelease",
    "maintainers",
    "provider",
    "ignore",
    "recommendations",
    "screenshots",
    "annotations",
];

const CATEGORIES: [&str; 9] = [
    "ai-machine-learning",
    "database",
    "integration-delivery",
    "monitoring-logging",
    "networking",
    "security",
    "storage",
    "streaming-messaging",
    "skip-prediction",
];

pub const CHANGE_KINDS: [&str; 6] = [
    "added",
    "changed",
    "deprecated",
    "removed",
    "fixed",
    "security",
];

/// The image Kubewarden packages must list, and the one other name allowed.
pub const POLICY_IMAGE: &str = "policy";
const POLICY_IMAGE_ALTERNATIVE: &str = "policy-alternative-location";

pub const MUTATION: &str = "kubewarden/mutation";
pub const RESOURCES: &str = "kubewarden/resources";
pub const RULES: &str = "kubewarden/rules";
pub const CONTEXT_AWARE: &str = "kubewarden/contextAwareResources";

/// Collects problems, each prefixed with the field's path.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, path: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{path}: {message}"));
    }

    /// `value` as a mapping with only `allowed` keys (each unknown key is a problem).
    fn mapping<'a>(
        &mut self,
        path: &str,
        value: &'a Value,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Value::Object(map) = value else {
            self.add(path, format!("must be a mapping, got {}", kind(value)));
            return None;
        };
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.add(
                &join(path, key),
                format!("unknown field (allowed: {})", allowed.join(", ")),
            );
        }
        Some(map)
    }

    /// The list at `map[key]`, if present and a list.
    fn list<'a>(
        &mut self,
        path: &str,
        map: &'a Map<String, Value>,
        key: &str,
    ) -> Option<&'a Vec<Value>> {
        match map.get(key)? {
            Value::Array(items) => Some(items),
            other => {
                self.add(
                    &join(path, key),
                    format!("must be a list, got {}", kind(other)),
                );
                None
            }
        }
    }

    /// The string at `map[key]`: a problem if present and not a string, or required and absent or
    /// blank.
    fn string<'a>(
        &mut self,
        path: &str,
        map: &'a Map<String, Value>,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        let field = join(path, key);
        match map.get(key) {
            None if required => {
                self.add(&field, "required");
                None
            }
            None => None,
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                self.add(&field, "required, must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.add(&field, format!("must be a string, got {}", kind(other)));
                None
            }
        }
    }

    fn boolean(&mut self, path: &str, map: &Map<String, Value>, key: &str) {
        if let Some(value) = map.get(key).filter(|v| !v.is_boolean()) {
            self.add(
                &join(path, key),
                format!("must be true or false, got {}", kind(value)),
            );
        }
    }

    fn url(&mut self, path: &str, map: &Map<String, Value>, key: &str, required: bool) {
        if let Some(url) = self.string(path, map, key, required) {
            if !is_http_url(url) {
                self.add(&join(path, key), format!("`{url}` is not an http(s) URL"));
            }
        }
    }

    /// A list of mappings, each checked by `check`.
    fn each(
        &mut self,
        path: &str,
        map: &Map<String, Value>,
        key: &str,
        allowed: &[&str],
        mut check: impl FnMut(&mut Problems, &str, &Map<String, Value>),
    ) {
        if let Some(items) = self.list(path, map, key) {
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{}[{index}]", join(path, key));
                if let Some(fields) = self.mapping(&item_path, item, allowed) {
                    check(self, &item_path, fields);
                }
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `http://` or `https://`, a host, no whitespace.
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !url.chars().any(char::is_whitespace)
    })
}

/// `local@domain.tld`, no whitespace.
pub fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|label| !label.is_empty())
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// RFC 3339 (`2026-11-27T00:00:00Z`, `2026-11-27T12:00:00.5+02:00`), the layout ArtifactHub
/// parses `createdAt` with.
pub fn is_rfc3339(text: &str) -> bool {
    text.as_bytes().get(10).is_some_and(|b| *b == b'T')
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// An SPDX license identifier or expression (`Apache-2.0`, `MIT OR Apache-2.0`): identifiers of
/// letters, digits, `.`, `-` and `+`, joined by AND, OR or WITH, parentheses allowed.
fn is_spdx_expression(text: &str) -> bool {
    let mut expect_id = true;
    let mut words = 0;
    for word in text
        .split_whitespace()
        .map(|w| w.trim_start_matches('(').trim_end_matches(')'))
    {
        words += 1;
        let operator = matches!(word, "AND" | "OR" | "WITH");
        if operator == expect_id {
            return false;
        }
        if !operator
            && (word.is_empty()
                || !word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
        {
            return false;
        }
        expect_id = operator;
    }
    words > 0 && !expect_id
}

/// The problems of an `artifacthub-pkg.yml` for a Kubewarden policy (empty: valid).
pub fn validate_package(document: &Value) -> Vec<String> {
    let mut p = Problems::default();
    let Some(map) = p.mapping("", document, &PACKAGE_FIELDS) else {
        return p.0;
    };
    if let Some(version) = p.string("", map, "version", true) {
        if let Err(error) = semver::Version::parse(version) {
            p.add(
                "version",
                format!("`{version}` is not a SemVer 2 version: {error}"),
            );
        }
    }
    let name = p.string("", map, "name", true);
    if let Some(name) = name {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            p.add(
                "name",
                format!("`{name}`: only letters, digits and dashes are allowed"),
            );
        }
    }
    if let (Some(alternative), Some(name)) = (p.string("", map, "alternativeName", false), name) {
        if !name.contains(alternative) && !alternative.contains(name) {
            p.add(
                "alternativeName",
                "must be a part of the name or contain it",
            );
        }
    }
    if let Some(category) = p.string("", map, "category", false) {
        if !CATEGORIES.contains(&category) {
            p.add(
                "category",
                format!("`{category}` is not one of {}", CATEGORIES.join(", ")),
            );
        }
    }
    p.string("", map, "displayName", true);
    if let Some(created) = p.string("", map, "createdAt", true) {
        if !is_rfc3339(created) {
            p.add(
                "createdAt",
                format!("`{created}` is not an RFC 3339 date and time"),
            );
        }
    }
    p.string("", map, "description", true);
    for key in [
        "logoPath",
        "digest",
        "appVersion",
        "publisherID",
        "readme",
        "install",
    ] {
        p.string("", map, key, false);
    }
    if let Some(license) = p.string("", map, "license", false) {
        if !is_spdx_expression(license) {
            p.add("license", format!("`{license}` is not an SPDX identifier"));
        }
    }
    p.url("", map, "homeURL", false);
    p.url("", map, "logoURL", false);
    for key in [
        "operator",
        "deprecated",
        "containsSecurityUpdates",
        "prerelease",
    ] {
        p.boolean("", map, key);
    }
    for key in ["keywords", "ignore"] {
        if let Some(items) = p.list("", map, key) {
            for (index, item) in items.iter().enumerate() {
                if item.as_str().is_none_or(|s| s.trim().is_empty()) {
                    p.add(&format!("{key}[{index}]"), "must be a non-empty string");
                }
            }
        }
    }
    p.each("", map, "links", &["name", "url"], |p, path, link| {
        p.string(path, link, "name", true);
        p.url(path, link, "url", true);
    });
    check_images(&mut p, map);
    check_changes(&mut p, map);
    p.each("", map, "maintainers", &["name", "email"], |p, path, m| {
        p.string(path, m, "name", true);
        if let Some(email) = p.string(path, m, "email", true) {
            if !is_email(email) {
                p.add(
                    &join(path, "email"),
                    format!("`{email}` is not an email address"),
                );
            }
        }
    });
    if let Some(provider) = map.get("provider") {
        if let Some(fields) = p.mapping("provider", provider, &["name"]) {
            p.string("provider", fields, "name", true);
        }
    }
    p.each("", map, "recommendations", &["url"], |p, path, r| {
        p.url(path, r, "url", true);
    });
    p.each("", map, "screenshots", &["title", "url"], |p, path, s| {
        p.string(path, s, "title", true);
        p.url(path, s, "url", true);
    });
    check_annotations(&mut p, map);
    p.0
}

fn check_images(p: &mut Problems, map: &Map<String, Value>) {
    let mut names = Vec::new();
    p.each(
        "",
        map,
        "containersImages",
        &["name", "image", "whitelisted", "platforms"],
        |p, path, image| {
            names.push(
                p.string(path, image, "name", false)
                    .unwrap_or_default()
                    .to_owned(),
            );
            if let Some(reference) = p.string(path, image, "image", true) {
                if let Err(error) = ImageRef::parse(reference) {
                    p.add(
                        &join(path, "image"),
                        format!("`{reference}` is not an image reference: {error}"),
                    );
                }
            }
            p.boolean(path, image, "whitelisted");
            if let Some(platforms) = p.list(path, image, "platforms") {
                if !platforms.iter().all(Value::is_string) {
                    p.add(&join(path, "platforms"), "must be a list of strings");
                }
            }
        },
    );
    if !names.iter().any(|n| n == POLICY_IMAGE) {
        p.add(
            "containersImages",
            format!("a Kubewarden package must list an image named `{POLICY_IMAGE}`"),
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    if names.len() > 2 || (names.len() == 2 && sorted != [POLICY_IMAGE, POLICY_IMAGE_ALTERNATIVE]) {
        p.add(
            "containersImages",
            format!("only the images `{POLICY_IMAGE}` and `{POLICY_IMAGE_ALTERNATIVE}` may be listed, got {names:?}"),
        );
    }
}

fn check_changes(p: &mut Problems, map: &Map<String, Value>) {
    let Some(changes) = p.list("", map, "changes") else {
        return;
    };
    for (index, change) in changes.iter().enumerate() {
        let path = format!("changes[{index}]");
        if let Value::String(description) = change {
            // ArtifactHub also takes a plain description.
            if description.trim().is_empty() {
                p.add(&path, "must not be empty");
            }
            continue;
        }
        let Some(fields) = p.mapping(&path, change, &["kind", "description", "links"]) else {
            continue;
        };
        if let Some(kind) = p.string(&path, fields, "kind", false) {
            if !CHANGE_KINDS.contains(&kind.to_ascii_lowercase().as_str()) {
                p.add(
                    &join(&path, "kind"),
                    format!("`{kind}` is not one of {}", CHANGE_KINDS.join(", ")),
                );
            }
        }
        p.string(&path, fields, "description", true);
        p.each(&path, fields, "links", &["name", "url"], |p, path, link| {
            p.string(path, link, "name", true);
            p.url(path, link, "url", true);
        });
    }
}

fn check_annotations(p: &mut Problems, map: &Map<String, Value>) {
    let Some(value) = map.get("annotations") else {
        p.add(
            "annotations",
            format!("required for a Kubewarden policy ({MUTATION}, {RESOURCES}, {RULES})"),
        );
        return;
    };
    let Value::Object(annotations) = value else {
        p.add(
            "annotations",
            format!("must be a mapping, got {}", kind(value)),
        );
        return;
    };
    // (Kubewarden's own annotations are checked below, each once.)
    let known = [MUTATION, RESOURCES, RULES, CONTEXT_AWARE];
    for (key, value) in annotations
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
    {
        if !value.is_string() {
            p.add(
                &format!("annotations.{key}"),
                format!("must be a string (quote it), got {}", kind(value)),
            );
        }
    }
    let path = "annotations";
    if let Some(mutation) = p.string(path, annotations, MUTATION, true) {
        if !matches!(mutation, "true" | "false") {
            p.add(
                &join(path, MUTATION),
                format!("must be \"true\" or \"false\", got `{mutation}`"),
            );
        }
    }
    p.string(path, annotations, RESOURCES, true);
    if let Some(rules) = p.string(path, annotations, RULES, true) {
        check_embedded_list(p, &join(path, RULES), rules, |p, path, rule| {
            if let Some(fields) = p.mapping(
                path,
                rule,
                &[
                    "apiGroups",
                    "apiVersions",
                    "resources",
                    "operations",
                    "scope",
                ],
            ) {
                for key in ["apiGroups", "apiVersions", "resources", "operations"] {
                    match fields.get(key) {
                        Some(Value::Array(items))
                            if !items.is_empty() && items.iter().all(Value::is_string) => {}
                        _ => p.add(&join(path, key), "must be a non-empty list of strings"),
                    }
                }
            }
        });
    }
    if let Some(resources) = p.string(path, annotations, CONTEXT_AWARE, false) {
        check_embedded_list(p, &join(path, CONTEXT_AWARE), resources, |p, path, r| {
            if let Some(fields) = p.mapping(path, r, &["apiVersion", "kind"]) {
                p.string(path, fields, "apiVersion", true);
                p.string(path, fields, "kind", true);
            }
        });
    }
}

/// An annotation holding a YAML list, each item checked by `check`.
fn check_embedded_list(
    p: &mut Problems,
    path: &str,
    text: &str,
    mut check: impl FnMut(&mut Problems, &str, &Value),
) {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Array(items)) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                check(p, &format!("{path}[{index}]"), item);
            }
        }
        Ok(other) => p.add(
            path,
            format!("must be a non-empty YAML list, got {}", kind(&other)),
        ),
        Err(error) => p.add(path, format!("is not YAML: {error}")),
    }
}

/// The problems of an `artifacthub-repo.yml` (empty: valid).
pub fn validate_repository(document: &Value) -> Vec<String> {
    let mut p = Problems::default();
    let Some(map) = p.mapping("", document, &["repositoryID", "owners", "ignore"]) else {
        return p.0;
    };
    if let Some(id) = p.string("", map, "repositoryID", false) {
        if !is_uuid(id) {
            p.add("repositoryID", format!("`{id}` is not a UUID"));
        }
    }
    p.each("", map, "owners", &["name", "email"], |p, path, owner| {
        p.string(path, owner, "name", true);
        if let Some(email) = p.string(path, owner, "email", true) {
            if !is_email(email) {
                p.add(
                    &join(path, "email"),
                    format!("`{email}` is not an email address"),
                );
            }
        }
    });
    p.each("", map, "ignore", &["name", "version"], |p, path, entry| {
        p.string(path, entry, "name", true);
        p.string(path, entry, "version", false);
    });
    p.0
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A valid package, shaped as ArtifactHub's documentation and Kubewarden's own packages are.
    fn valid() -> Value {
        json!({
            "version": "1.2.0-rc.1+build.5",
            "name": "ban-latest",
            "displayName": "Ban latest image tag",
            "createdAt": "2026-11-27T00:00:00Z",
            "description": "Deny images tagged latest",
            "license": "Apache-2.0",
            "category": "security",
            "homeURL": "https://github.com/custody-policies/custody",
            "containersImages": [
                {"name": "policy", "image": "ghcr.io/custody-policies/policies/ban-latest:v1.2.0"},
                {"name": "policy-alternative-location",
                 "image": "registry.example:5000/policies/ban-latest:v1.2.0", "whitelisted": true}
            ],
            "keywords": ["supply chain", "image"],
            "links": [{"name": "source", "url": "https://github.com/custody-policies/custody"}],
            "install": "kwctl pull ...\n",
            "changes": [
                {"kind": "added", "description": "Banned tags",
                 "links": [{"name": "PR", "url": "https://github.com/x/y/pull/1"}]},
                {"kind": "Security", "description": "A fix"},
                "A plain description"
            ],
            "containsSecurityUpdates": true,
            "prerelease": true,
            "maintainers": [{"name": "custody maintainers", "email": "maintainers@example.org"}],
            "provider": {"name": "custody"},
            "recommendations": [{"url": "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller"}],
            "annotations": {
                "kubewarden/mutation": "false",
                "kubewarden/resources": "Pod, Deployment",
                "kubewarden/rules": "- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE, UPDATE]\n",
                "kubewarden/contextAwareResources": "- apiVersion: v1\n  kind: ConfigMap\n"
            }
        })
    }

    /// Sets (or, with `None`, removes) the field at a dotted path (`a.b`, list indexes as numbers).
    fn edit(mut document: Value, path: &str, value: Option<Value>) -> Value {
        let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
        let mut target = &mut document;
        for part in parent.split('.').filter(|s| !s.is_empty()) {
            target = match part.parse::<usize>() {
                Ok(index) => &mut target[index],
                Err(_) => &mut target[part],
            };
        }
        match (target, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(last.to_owned(), v);
            }
            (Value::Object(map), None) => {
                map.remove(last);
            }
            (Value::Array(items), Some(v)) => {
                if let Ok(index) = last.parse::<usize>() {
                    items[index] = v;
                }
            }
            (Value::Array(items), None) => {
                if let Ok(index) = last.parse::<usize>() {
                    items.remove(index);
                }
            }
            _ => {}
        }
        document
    }

    #[test]
    fn a_complete_package_is_valid() {
        assert_eq!(validate_package(&valid()), Vec::<String>::new());
        // Only the required fields, the policy image and the Kubewarden annotations.
        let minimal = json!({
            "version": "0.1.0", "name": "p", "displayName": "P",
            "createdAt": "2026-11-27T10:20:30.123+02:00", "description": "d",
            "containersImages": [{"name": "policy", "image": "ghcr.io/o/p:v0.1.0"}],
            "annotations": {"kubewarden/mutation": "true", "kubewarden/resources": "Pod",
                "kubewarden/rules": "- {apiGroups: [''], apiVersions: [v1], resources: [pods], operations: ['*']}"}
        });
        assert_eq!(validate_package(&minimal), Vec::<String>::new());
    }

    /// One broken rule a case: the problem must name the field and say why.
    #[test]
    fn each_rule_refuses_a_bad_file() {
        let cases: Vec<(&str, Option<Value>, &str)> = vec![
            (
                "homepage",
                Some(json!("https://x.org")),
                "homepage: unknown field",
            ),
            ("version", None, "version: required"),
            ("version", Some(json!("v1.2.0")), "not a SemVer 2 version"),
            ("version", Some(json!("1.2")), "not a SemVer 2 version"),
            (
                "version",
                Some(json!(1.2)),
                "version: must be a string, got a number",
            ),
            ("name", None, "name: required"),
            (
                "name",
                Some(json!("ban latest")),
                "only letters, digits and dashes",
            ),
            (
                "name",
                Some(json!("ban_latest")),
                "only letters, digits and dashes",
            ),
            ("alternativeName", Some(json!("other")), "part of the name"),
            ("category", Some(json!("policy")), "`policy` is not one of"),
            (
                "displayName",
                Some(json!("")),
                "displayName: required, must not be empty",
            ),
            ("createdAt", None, "createdAt: required"),
            ("createdAt", Some(json!("2026-11-27")), "not an RFC 3339"),
            (
                "createdAt",
                Some(json!("2026-11-27 00:00:00Z")),
                "not an RFC 3339",
            ),
            (
                "createdAt",
                Some(json!("2026-11-27T00:00:00")),
                "not an RFC 3339",
            ),
            ("description", None, "description: required"),
            ("license", Some(json!("Apache 2")), "not an SPDX identifier"),
            ("homeURL", Some(json!("github.com/x")), "not an http(s) URL"),
            (
                "prerelease",
                Some(json!("yes")),
                "prerelease: must be true or false",
            ),
            ("keywords", Some(json!("a, b")), "keywords: must be a list"),
            (
                "keywords",
                Some(json!(["a", 3])),
                "keywords[1]: must be a non-empty string",
            ),
            ("links.0.name", None, "links[0].name: required"),
            (
                "links.0.url",
                Some(json!("not a url")),
                "links[0].url: `not a url` is not an http(s) URL",
            ),
            (
                "links.0.title",
                Some(json!("x")),
                "links[0].title: unknown field",
            ),
            (
                "containersImages",
                None,
                "must list an image named `policy`",
            ),
            (
                "containersImages.0.name",
                Some(json!("wasm")),
                "must list an image named `policy`",
            ),
            (
                "containersImages.1.name",
                Some(json!("gatekeeper")),
                "only the images `policy` and `policy-alternative-location`",
            ),
            (
                "containersImages.0.image",
                Some(json!("ghcr.io/Org/p:v1")),
                "is not an image reference",
            ),
            (
                "containersImages.0.image",
                None,
                "containersImages[0].image: required",
            ),
            (
                "containersImages.1.whitelisted",
                Some(json!("true")),
                "whitelisted: must be true or false",
            ),
            (
                "changes.0.kind",
                Some(json!("improved")),
                "changes[0].kind: `improved` is not one of",
            ),
            (
                "changes.1.description",
                None,
                "changes[1].description: required",
            ),
            (
                "changes.0.links.0.url",
                None,
                "changes[0].links[0].url: required",
            ),
            ("changes.2", Some(json!(7)), "changes[2]: must be a mapping"),
            (
                "maintainers.0.email",
                None,
                "maintainers[0].email: required",
            ),
            (
                "maintainers.0.email",
                Some(json!("maintainers at example.org")),
                "is not an email address",
            ),
            (
                "provider",
                Some(json!("custody")),
                "provider: must be a mapping",
            ),
            (
                "recommendations.0.url",
                Some(json!("ftp://x")),
                "not an http(s) URL",
            ),
            ("annotations", None, "annotations: required"),
            (
                "annotations.kubewarden/mutation",
                Some(json!(false)),
                "annotations.kubewarden/mutation: must be a string, got a boolean",
            ),
            (
                "annotations.kubewarden/mutation",
                Some(json!("no")),
                "must be \"true\" or \"false\"",
            ),
            (
                "annotations.kubewarden/mutation",
                None,
                "annotations.kubewarden/mutation: required",
            ),
            (
                "annotations.kubewarden/resources",
                None,
                "annotations.kubewarden/resources: required",
            ),
            (
                "annotations.kubewarden/rules",
                None,
                "annotations.kubewarden/rules: required",
            ),
            (
                "annotations.kubewarden/rules",
                Some(json!("[]")),
                "must be a non-empty YAML list",
            ),
            (
                "annotations.kubewarden/rules",
                Some(json!("- apiGroups: ['']\n  resources: [pods]")),
                "kubewarden/rules[0].apiVersions: must be a non-empty list",
            ),
            (
                "annotations.kubewarden/rules",
                Some(json!("- [unclosed")),
                "is not YAML",
            ),
            (
                "annotations.kubewarden/contextAwareResources",
                Some(json!("- kind: ConfigMap")),
                "contextAwareResources[0].apiVersion: required",
            ),
            (
                "annotations.other",
                Some(json!(3)),
                "annotations.other: must be a string",
            ),
        ];
        for (path, value, expected) in cases {
            let problems = validate_package(&edit(valid(), path, value.clone()));
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{path} = {value:?}: expected a problem containing {expected:?}, got {problems:?}"
            );
        }
        assert_eq!(
            validate_package(&json!(["not", "a", "mapping"])),
            vec![": must be a mapping, got a list".to_owned()]
        );
    }

    /// What YAML typing does to unquoted values, as ArtifactHub's strict reader sees it.
    #[test]
    fn unquoted_yaml_values_are_caught() -> Result<(), serde_yaml_ng::Error> {
        let text = "version: 1.0\nname: p\ndisplayName: P\ncreatedAt: 2026-11-27T00:00:00Z\n\
                    description: d\ncontainersImages:\n- name: policy\n  image: ghcr.io/o/p:v1\n\
                    annotations:\n  kubewarden/mutation: false\n  kubewarden/resources: Pod\n  \
                    kubewarden/rules: \"- {apiGroups: [''], apiVersions: [v1], resources: [pods], operations: [CREATE]}\"\n";
        let problems = validate_package(&serde_yaml_ng::from_str(text)?);
        assert_eq!(
            problems,
            vec![
                "version: must be a string, got a number".to_owned(),
                "annotations.kubewarden/mutation: must be a string, got a boolean".to_owned(),
            ]
        );
        Ok(())
    }

    #[test]
    fn repository_files_are_checked() {
        let good = json!({
            "repositoryID": "0b4f6fd7-9d6c-4c9c-8a0e-3c3b2b1a0f00",
            "owners": [{"name": "custody", "email": "maintainers@example.org"}],
            "ignore": [{"name": "old-policy", "version": "^0\\."}]
        });
        assert_eq!(validate_repository(&good), Vec::<String>::new());
        let cases = [
            (
                edit(good.clone(), "repositoryID", Some(json!("FILL-ME-IN"))),
                "repositoryID: `FILL-ME-IN` is not a UUID",
            ),
            (
                edit(good.clone(), "owners.0.email", None),
                "owners[0].email: required",
            ),
            (
                edit(good.clone(), "owners.0.email", Some(json!("custody"))),
                "not an email address",
            ),
            (
                edit(good.clone(), "owners", Some(json!({"name": "x"}))),
                "owners: must be a list",
            ),
            (
                edit(good.clone(), "ignore.0.name", None),
                "ignore[0].name: required",
            ),
            (
                edit(good.clone(), "owner", Some(json!([]))),
                "owner: unknown field",
            ),
        ];
        for (document, expected) in cases {
            let problems = validate_repository(&document);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "expected {expected:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn formats() {
        assert!(is_http_url("https://github.com/x"));
        assert!(is_http_url("http://127.0.0.1:5000/v2/"));
        assert!(!is_http_url("https:///x"));
        assert!(!is_http_url("https://a b"));
        assert!(is_email("a.b@example.org"));
        assert!(!is_email("a@localhost"));
        assert!(!is_email("a@@example.org"));
        assert!(is_rfc3339("2026-11-27T00:00:00Z"));
        assert!(!is_rfc3339("2026-13-27T00:00:00Z"));
        assert!(is_spdx_expression("MIT OR Apache-2.0"));
        assert!(is_spdx_expression("(MIT OR Apache-2.0) AND BSD-3-Clause"));
        assert!(is_spdx_expression(
            "GPL-2.0-or-later WITH Classpath-exception-2.0"
        ));
        assert!(!is_spdx_expression("MIT OR"));
        assert!(!is_spdx_expression("AND MIT"));
        assert!(is_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_uuid("0000000-00000-0000-0000-000000000000"));
    }
}
