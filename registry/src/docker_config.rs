//! Registry credentials from the docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), found as docker finds them, by the `docker_credential` crate: the
//! registry's credential helper (`credHelpers`), its `auths` entry (`auth`, base64 of
//! `user:password`, or `username` and `password`, or `identitytoken`), else the credential store
//! (`credsStore`). A helper is the program `docker-credential-<name>` on PATH, run as `get` with
//! the registry on its standard input.
//!
//! This module picks which name of the registry to ask for (the config's own spelling of it:
//! any case, with or without `https://`, Docker Hub's aliases), leaves out the empty values
//! docker ignores, and turns the answer into a [`Lookup`]. No config file, no credentials for the
//! registry, or a helper that has none for it: anonymous. An unreadable or malformed config, a
//! helper that cannot be run or fails: an error, not anonymous access. An identity token (an
//! OAuth2 refresh token) cannot be used (the OCI client has no refresh-token exchange):
//! anonymous, with a note.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde::Deserialize;
use serde_json::Value;

/// The name docker uses for Docker Hub in the config and with credential helpers.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// What a helper prints (exit status 1) when it holds nothing for a registry, as the
/// docker-credential-helpers programs do.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

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
    /// None: access it anonymously. `note` says why, when the user may want to know (the
    /// credentials are an identity token, which cannot be used).
    Anonymous { note: Option<String> },
}

/// The parts of the config that say which names it knows registries by. `docker_credential`
/// reads the same fields (and fails on the same wrong types).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: Option<BTreeMap<String, AuthEntry>>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl AuthEntry {
    /// Whether it holds credentials (`docker login` with a credential store leaves `{}`).
    fn has_credentials(&self) -> bool {
        [&self.auth, &self.username, &self.identitytoken]
            .iter()
            .any(|field| field.as_deref().is_some_and(|value| !value.is_empty()))
    }
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

/// [`lookup`] in the text of a docker config file (credential helpers are run).
pub fn lookup_in(config: &str, registry: &str) -> Result<Lookup> {
    let mut document: Value = serde_json::from_str(config).context("not a docker config file")?;
    let parsed = ConfigFile::deserialize(&document).context("not a docker config file")?;
    drop_empty_values(&mut document);
    let text = serde_json::to_vec(&document).context("not a docker config file")?;

    let server = server_name(&parsed, registry);
    let helper = parsed
        .cred_helpers
        .as_ref()
        .and_then(|helpers| helpers.get(&server))
        .map(|helper| (helper.as_str(), "credHelpers"))
        .filter(|(helper, _)| !helper.is_empty())
        .or_else(|| {
            let store = parsed.creds_store.as_deref().filter(|s| !s.is_empty())?;
            Some((store, "credsStore"))
        });
    let lookup = match docker_credential::get_credential_from_reader(text.as_slice(), &server) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            if username.is_empty() {
                return Err(anyhow!(
                    "credentials for {registry}: the user name is empty"
                ));
            }
            Lookup::Found(Credentials { username, password })
        }
        Ok(DockerCredential::IdentityToken(_)) => Lookup::Anonymous {
            note: Some(format!(
                "the docker config holds an identity token for {registry} (an OAuth2 refresh \
                 token, as `az acr login` leaves); custody cannot exchange it for a registry \
                 token: accessing the registry anonymously (`docker login` with a user name and \
                 password or access token gives usable credentials)"
            )),
        },
        Err(CredentialRetrievalError::NoCredentialConfigured) => Lookup::Anonymous { note: None },
        Err(CredentialRetrievalError::HelperFailure { stdout, .. })
            if stdout.trim() == HELPER_NOT_FOUND =>
        {
            Lookup::Anonymous { note: None }
        }
        Err(error) => return Err(explain(error, registry, &server, helper)),
    };
    Ok(lookup)
}

/// `error` (asking for `registry` as `server`) as a message that says which part of the config or
/// which helper failed.
fn explain(
    error: CredentialRetrievalError,
    registry: &str,
    server: &str,
    helper: Option<(&str, &str)>,
) -> anyhow::Error {
    let helper_name = || match helper {
        Some((name, field)) => format!("docker-credential-{name} (its {field})"),
        None => "the credential helper".to_owned(),
    };
    let what = match error {
        CredentialRetrievalError::HelperCommunicationError => format!(
            "could not run {}: is it installed and on PATH?",
            helper_name()
        ),
        CredentialRetrievalError::MalformedHelperResponse => format!(
            "{} did not answer with JSON holding `Username` and `Secret`",
            helper_name()
        ),
        CredentialRetrievalError::HelperFailure { stdout, stderr, .. } => {
            let output = [stderr.trim(), stdout.trim()]
                .into_iter()
                .filter(|text| !text.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            format!("{} failed: {output}", helper_name())
        }
        CredentialRetrievalError::CredentialDecodingError => {
            format!("auths.\"{server}\".auth is not base64 of `user:password`")
        }
        CredentialRetrievalError::CredentialMismatchError => format!(
            "auths.\"{server}\": `auth` and `username`/`password` name different credentials"
        ),
        CredentialRetrievalError::NoCredentialConfigured
        | CredentialRetrievalError::ConfigNotFound
        | CredentialRetrievalError::ConfigReadError => error.to_string(),
    };
    anyhow!("credentials for {registry}: {what}")
}

/// Leaves out what docker ignores but `docker_credential` would act on: an empty `auth` (no
/// credentials, not a malformed one) and an empty `credsStore` (no store, not a program called
/// `docker-credential-`).
fn drop_empty_values(document: &mut Value) {
    let Some(config) = document.as_object_mut() else {
        return;
    };
    if config.get("credsStore").and_then(Value::as_str) == Some("") {
        config.remove("credsStore");
    }
    if let Some(Value::Object(auths)) = config.get_mut("auths") {
        for entry in auths.values_mut() {
            if let Some(entry) = entry.as_object_mut() {
                if entry.get("auth").and_then(Value::as_str) == Some("") {
                    entry.remove("auth");
                }
            }
        }
    }
}

/// The name to ask `docker_credential` for `registry` by: the config's own spelling of it (a
/// `credHelpers` key first, then an `auths` key holding credentials, then any `auths` key),
/// else the name docker would store it under (Docker Hub: `https://index.docker.io/v1/`).
fn server_name(config: &ConfigFile, registry: &str) -> String {
    let wanted = host_of(registry);
    let names = |key: &&String| same_registry(&host_of(key), &wanted);
    if let Some(key) = config
        .cred_helpers
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(names)
    {
        return key.clone();
    }
    let auths: Vec<(&String, &AuthEntry)> = config
        .auths
        .iter()
        .flatten()
        .filter(|(key, _)| names(key))
        .collect();
    if let Some((key, _)) = auths
        .iter()
        .find(|(_, entry)| entry.has_credentials())
        .or_else(|| auths.first())
    {
        return (*key).clone();
    }
    if is_docker_hub(&wanted) {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        wanted
    }
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

fn is_docker_hub(host: &str) -> bool {
    ["docker.io", "index.docker.io", "registry-1.docker.io"].contains(&host)
}

/// Docker Hub goes by several names.
fn same_registry(a: &str, b: &str) -> bool {
    a == b || (is_docker_hub(a) && is_docker_hub(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn found(user: &str, password: &str) -> Lookup {
        Lookup::Found(Credentials {
            username: user.into(),
            password: password.into(),
        })
    }

    const ANONYMOUS: Lookup = Lookup::Anonymous { note: None };

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
                "127.0.0.1:5000": {{"auth": "{}"}},
                "Upper.Example": {{"username": "up", "password": "per"}}
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
        // `username` and `password` instead of `auth`.
        assert_eq!(lookup_in(&config, "upper.example")?, found("up", "per"));
        // Another port is another registry.
        assert_eq!(lookup_in(&config, "127.0.0.1:5001")?, ANONYMOUS);
        assert_eq!(lookup_in(&config, "quay.io")?, ANONYMOUS);
        Ok(())
    }

    #[test]
    fn docker_hub_aliases() -> Result<()> {
        for key in [DOCKER_HUB_SERVER, "docker.io", "index.docker.io"] {
            let config = format!(
                r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#,
                b64("hubuser:hubpass")
            );
            for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
                assert_eq!(
                    lookup_in(&config, name)?,
                    found("hubuser", "hubpass"),
                    "{key} {name}"
                );
            }
        }
        // An empty entry (left by `docker login` with a credential store) does not hide an
        // alias that holds credentials.
        let config = format!(
            r#"{{"auths": {{"docker.io": {{}}, "{DOCKER_HUB_SERVER}": {{"auth": "{}"}}}}}}"#,
            b64("hubuser:hubpass")
        );
        assert_eq!(
            lookup_in(&config, "docker.io")?,
            found("hubuser", "hubpass")
        );
        Ok(())
    }

    #[test]
    fn what_docker_ignores_is_anonymous() -> Result<()> {
        for config in [
            "{}",
            r#"{"auths": {}}"#,
            r#"{"auths": null, "credHelpers": null}"#,
            r#"{"auths": {"ghcr.io": {}}}"#,
            r#"{"auths": {"ghcr.io": {"auth": ""}}}"#,
            r#"{"auths": {"ghcr.io": {"auth": ""}}, "credsStore": ""}"#,
            r#"{"credHelpers": {"ghcr.io": ""}}"#,
            r#"{"credHelpers": {"quay.io": "custody-absent"}}"#,
        ] {
            assert_eq!(lookup_in(config, "ghcr.io")?, ANONYMOUS, "{config}");
        }
        Ok(())
    }

    #[test]
    fn identity_tokens_are_not_used() -> Result<()> {
        let config = r#"{"auths": {"example.azurecr.io": {"identitytoken": "tok-4f9a"}}}"#;
        let Lookup::Anonymous { note: Some(note) } = lookup_in(config, "example.azurecr.io")?
        else {
            panic!("expected anonymous access with a note");
        };
        assert!(
            note.contains("identity token for example.azurecr.io"),
            "{note}"
        );
        assert!(!note.contains("tok-4f9a"), "{note}");
        Ok(())
    }

    #[test]
    fn a_helper_that_cannot_be_run_is_an_error() {
        for (config, field) in [
            (r#"{"credsStore": "custody-absent"}"#, "credsStore"),
            (
                r#"{"credHelpers": {"ghcr.io": "custody-absent"}}"#,
                "credHelpers",
            ),
        ] {
            let error = match lookup_in(config, "ghcr.io") {
                Ok(lookup) => panic!("{config}: expected an error, got {lookup:?}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                error.contains("ghcr.io")
                    && error.contains("docker-credential-custody-absent")
                    && error.contains(field),
                "{config}: {error}"
            );
        }
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
            (
                format!(
                    r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "username": "b", "password": "c"}}}}}}"#,
                    b64("a:c")
                ),
                "different credentials",
            ),
            ("not json".to_owned(), "not a docker config file"),
            (r#"{"auths": []}"#.to_owned(), "not a docker config file"),
            (
                r#"{"credHelpers": {"ghcr.io": 1}}"#.to_owned(),
                "not a docker config file",
            ),
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
        assert_eq!(lookup_in_file(missing, "ghcr.io")?, ANONYMOUS);
        let shown = format!("{:?}", found("u", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        Ok(())
    }

    /// Tests that change the process's environment (PATH, DOCKER_CONFIG) hold this.
    static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Sets environment variables, and puts the old values back when dropped.
    struct SetEnv(Vec<(&'static str, Option<OsString>)>);

    impl SetEnv {
        fn new(vars: &[(&'static str, OsString)]) -> Self {
            let saved = vars
                .iter()
                .map(|(name, value)| {
                    let old = std::env::var_os(name);
                    std::env::set_var(name, value);
                    (*name, old)
                })
                .collect();
            SetEnv(saved)
        }
    }

    impl Drop for SetEnv {
        fn drop(&mut self) {
            for (name, old) in self.0.drain(..) {
                match old {
                    Some(value) => std::env::set_var(name, value),
                    None => std::env::remove_var(name),
                }
            }
        }
    }

    /// A credential helper that answers for a few servers, as the docker-credential-helpers
    /// programs do.
    const HELPER: &str = r#"#!/bin/sh
[ "$1" = get ] || { echo "unexpected command: $1" >&2; exit 2; }
server=$(cat)
case "$server" in
  127.0.0.1:5000)
    printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\n' "$server" ;;
  https://index.docker.io/v1/)
    printf '{"ServerURL":"%s","Username":"hub-user","Secret":"hub-secret"}\n' "$server" ;;
  tokens.example)
    printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-token"}\n' "$server" ;;
  garbled.example)
    echo "not json" ;;
  broken.example)
    echo "keychain locked" >&2; exit 1 ;;
  *)
    echo "credentials not found in native keychain"; exit 1 ;;
esac
"#;

    #[cfg(unix)]
    #[test]
    fn credential_helpers_are_run() -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;

        let _lock = ENVIRONMENT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir =
            std::env::temp_dir().join(format!("custody-docker-config-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let helper = dir.join("docker-credential-custodytest");
        std::fs::write(&helper, HELPER)?;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755))?;
        let mut path = vec![dir.clone()];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let _env = SetEnv::new(&[
            ("PATH", std::env::join_paths(path)?),
            ("DOCKER_CONFIG", dir.clone().into_os_string()),
        ]);
        let config = dir.join("config.json");

        // A registry's own helper.
        std::fs::write(
            &config,
            r#"{"auths": {"127.0.0.1:5000": {}},
                "credHelpers": {"127.0.0.1:5000": "custodytest"}}"#,
        )?;
        assert_eq!(
            lookup("127.0.0.1:5000")?,
            found("helper-user", "helper-secret")
        );
        assert_eq!(lookup("quay.io")?, ANONYMOUS);

        // The credential store: asked for every registry, Docker Hub by docker's name for it.
        std::fs::write(&config, r#"{"credsStore": "custodytest"}"#)?;
        assert_eq!(
            lookup("127.0.0.1:5000")?,
            found("helper-user", "helper-secret")
        );
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(lookup(hub)?, found("hub-user", "hub-secret"), "{hub}");
        }
        // Nothing stored for it.
        assert_eq!(lookup("quay.io")?, ANONYMOUS);
        // `<token>`: an identity token.
        let Lookup::Anonymous { note: Some(note) } = lookup("tokens.example")? else {
            panic!("an identity token: expected anonymous access with a note");
        };
        assert!(note.contains("identity token"), "{note}");
        // A helper that fails or answers nonsense: an error naming the registry, the helper and
        // the config.
        for (registry, expected) in [
            ("broken.example", "keychain locked"),
            ("garbled.example", "did not answer with JSON"),
        ] {
            let error = match lookup(registry) {
                Ok(lookup) => panic!("{registry}: expected an error, got {lookup:?}"),
                Err(e) => format!("{e:#}"),
            };
            for part in [
                registry,
                expected,
                "docker-credential-custodytest (its credsStore)",
                &config.display().to_string(),
            ] {
                assert!(error.contains(part), "{registry}: {part:?} not in {error}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
