//! Registry credentials from the docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths.<registry>.auth`, base64 of `user:password`, as `docker login`
//! writes it without a credential store. Credential helpers (`credsStore`, `credHelpers`) are not
//! run: a registry whose credentials live in one is accessed anonymously, with a note.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use serde::Deserialize;

/// A user name and password for HTTP basic authentication (or a registry's token exchange).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the docker config says about one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Credentials for it.
    Found(Credentials),
    /// None: access it anonymously. `note` says why, when the user may want to know (a
    /// credential helper holds them).
    Anonymous { note: Option<String> },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// Where the docker config is: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn config_path(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match docker_config.filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => home
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker").join("config.json")),
    }
}

/// The credentials for `registry` (as written in the image reference: `ghcr.io`,
/// `127.0.0.1:5000`, `docker.io`) from the docker config of this environment. No file: anonymous.
pub fn lookup(registry: &str) -> Result<Lookup> {
    let Some(path) = config_path(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    else {
        return Ok(Lookup::Anonymous { note: None });
    };
    lookup_in_file(&path, registry)
}

/// [`lookup`] in the file at `path` (missing: anonymous).
pub fn lookup_in_file(path: &Path, registry: &str) -> Result<Lookup> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Lookup::Anonymous { note: None })
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    lookup_in(&text, registry).with_context(|| format!("docker config {}", path.display()))
}

/// [`lookup`] in the text of a docker config file.
pub fn lookup_in(config: &str, registry: &str) -> Result<Lookup> {
    let config: ConfigFile = serde_json::from_str(config).context("not a docker config file")?;
    let wanted = host_of(registry);
    for (key, entry) in &config.auths {
        if !same_registry(&host_of(key), &wanted) {
            continue;
        }
        let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
            // `docker login` with a credential store leaves an empty entry.
            continue;
        };
        return decode_auth(auth)
            .map(Lookup::Found)
            .with_context(|| format!("auths.\"{key}\".auth"));
    }
    let helper = config
        .cred_helpers
        .iter()
        .find(|(key, _)| same_registry(&host_of(key), &wanted))
        .map(|(_, helper)| helper.clone())
        .or(config.creds_store);
    Ok(Lookup::Anonymous {
        note: helper.map(|helper| {
            format!(
                "the docker config has no `auth` for {registry}; its credential helper \
                 (docker-credential-{helper}) is not supported: accessing the registry anonymously"
            )
        }),
    })
}

/// `user:password` from base64.
fn decode_auth(auth: &str) -> Result<Credentials> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| anyhow!("not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("not UTF-8 once decoded"))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| anyhow!("not `user:password` once decoded"))?;
    if username.is_empty() {
        return Err(anyhow!("the user name is empty"));
    }
    Ok(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// The registry host (and port) of an `auths` key or a reference's registry: without a scheme
/// or path (`https://index.docker.io/v1/` → `index.docker.io`), lower case.
fn host_of(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or_default();
    host.to_ascii_lowercase()
}

/// Docker Hub goes by several names.
fn same_registry(a: &str, b: &str) -> bool {
    const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    a == b || (DOCKER_HUB.contains(&a) && DOCKER_HUB.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn found(user: &str, password: &str) -> Lookup {
        Lookup::Found(Credentials {
            username: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn config_path_prefers_docker_config() {
        assert_eq!(
            config_path(Some("/etc/dc".into()), Some("/home/u".into())),
            Some(PathBuf::from("/etc/dc/config.json"))
        );
        assert_eq!(
            config_path(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(
            config_path(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(config_path(None, None), None);
    }

    #[test]
    fn finds_auth_by_registry_host() -> Result<()> {
        let config = format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "{}"}},
                "https://registry.example:5000": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"auth": "{}"}}
            }}}}"#,
            b64("octocat:ghp_secret"),
            b64("ci:pass:with:colons"),
            b64("local:x"),
        );
        assert_eq!(
            lookup_in(&config, "ghcr.io")?,
            found("octocat", "ghp_secret")
        );
        assert_eq!(
            lookup_in(&config, "GHCR.io")?,
            found("octocat", "ghp_secret")
        );
        assert_eq!(
            lookup_in(&config, "registry.example:5000")?,
            found("ci", "pass:with:colons")
        );
        assert_eq!(lookup_in(&config, "127.0.0.1:5000")?, found("local", "x"));
        // Another port is another registry.
        assert_eq!(
            lookup_in(&config, "127.0.0.1:5001")?,
            Lookup::Anonymous { note: None }
        );
        assert_eq!(
            lookup_in(&config, "quay.io")?,
            Lookup::Anonymous { note: None }
        );
        Ok(())
    }

    #[test]
    fn docker_hub_aliases() -> Result<()> {
        let config = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("hubuser:hubpass")
        );
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                lookup_in(&config, name)?,
                found("hubuser", "hubpass"),
                "{name}"
            );
        }
        Ok(())
    }

    #[test]
    fn credential_helpers_are_not_run() -> Result<()> {
        let config = r#"{"auths": {"ghcr.io": {}}, "credsStore": "desktop",
                          "credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"}}"#;
        let Lookup::Anonymous { note: Some(note) } = lookup_in(config, "ghcr.io")? else {
            panic!("expected anonymous access with a note");
        };
        assert!(note.contains("docker-credential-desktop"), "{note}");
        let Lookup::Anonymous { note: Some(note) } =
            lookup_in(config, "123.dkr.ecr.us-east-1.amazonaws.com")?
        else {
            panic!("expected anonymous access with a note");
        };
        assert!(note.contains("docker-credential-ecr-login"), "{note}");
        // No helper, no entry: anonymous, nothing to say.
        assert_eq!(
            lookup_in(r#"{"auths": {}}"#, "ghcr.io")?,
            Lookup::Anonymous { note: None }
        );
        assert_eq!(
            lookup_in("{}", "ghcr.io")?,
            Lookup::Anonymous { note: None }
        );
        Ok(())
    }

    #[test]
    fn malformed_entries_are_errors() {
        let cases = [
            (
                r#"{"auths": {"ghcr.io": {"auth": "%%%"}}}"#.to_owned(),
                "not base64",
            ),
            (
                format!(
                    r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
                    b64("nocolon")
                ),
                "user:password",
            ),
            (
                format!(
                    r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
                    b64(":pw")
                ),
                "user name is empty",
            ),
            ("not json".to_owned(), "not a docker config file"),
            (r#"{"auths": []}"#.to_owned(), "not a docker config file"),
        ];
        for (config, expected) in cases {
            let error = match lookup_in(&config, "ghcr.io") {
                Ok(lookup) => panic!("{config}: expected an error, got {lookup:?}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(error.contains(expected), "{config}: {error}");
        }
    }

    #[test]
    fn missing_file_is_anonymous_and_password_is_not_printed() -> Result<()> {
        let missing = Path::new("/nonexistent/custody/config.json");
        assert_eq!(
            lookup_in_file(missing, "ghcr.io")?,
            Lookup::Anonymous { note: None }
        );
        let shown = format!("{:?}", found("u", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        Ok(())
    }
}
