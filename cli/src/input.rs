//! Reading input files, shared by the subcommands.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use custody_host::{Abi, Cluster, Host, Limits, ModuleCache, PolicyModule};
use serde::Deserialize;
use serde_json::Value;

/// Reads one JSON or YAML document: `.json` as JSON, `.yaml`/`.yml` as YAML, anything else as
/// JSON if it parses, else YAML.
pub fn read_document(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display())),
        Some("yaml" | "yml") => parse_yaml(path, &text),
        _ => match serde_json::from_str(&text) {
            Ok(value) => Ok(value),
            Err(_) => parse_yaml(path, &text),
        },
    }
}

fn parse_yaml(path: &Path, text: &str) -> Result<Value> {
    serde_yaml_ng::from_str(text).with_context(|| format!("{} is not valid YAML", path.display()))
}

/// The cluster objects in `paths`: every document of each file (multi-document YAML or JSON; a
/// `kind: List` is unpacked).
pub fn read_cluster(paths: &[std::path::PathBuf]) -> Result<Cluster> {
    let mut objects = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document).with_context(|| {
                format!(
                    "{}: document {} is not valid YAML",
                    path.display(),
                    index + 1
                )
            })?;
            if !value.is_null() {
                objects.push(value);
            }
        }
    }
    Cluster::new(objects)
        .map_err(anyhow::Error::msg)
        .context("invalid cluster objects")
}

/// The host with default limits.
pub fn host() -> Result<Host> {
    Host::new(Limits::default()).context("cannot start the wasm host")
}

/// The host with default limits and the user's module cache (`$CUSTODY_CACHE_DIR`,
/// `$XDG_CACHE_HOME/custody` or `~/.cache/custody`; `CUSTODY_CACHE_DIR=off`: none), so that
/// modules run again are not compiled again.
pub fn cached_host() -> Result<Host> {
    let host = host()?;
    Ok(match ModuleCache::user() {
        Some(cache) => host.with_module_cache(cache),
        None => host,
    })
}

/// Compiles a policy module.
pub fn load_policy(host: &Host, path: &Path) -> Result<PolicyModule> {
    PolicyModule::from_file(host, path)
        .with_context(|| format!("cannot load policy {}", path.display()))
}

/// The `--abi` flag: which build of a policy to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AbiFlag {
    /// waPC modules (Kubewarden's `kubewarden-wapc` mode).
    Kubewarden,
    /// OPA-ABI modules in Gatekeeper's contract (Kubewarden's `gatekeeper` mode, OPA wasm SDKs).
    Gatekeeper,
}

impl AbiFlag {
    /// The host ABI this flag selects.
    pub fn abi(self) -> Abi {
        match self {
            Self::Kubewarden => Abi::Wapc,
            Self::Gatekeeper => Abi::Opa,
        }
    }
}

/// Fails unless `module` is of the ABI `--abi` asked for.
pub fn expect_abi(module: &PolicyModule, path: &Path, wanted: AbiFlag) -> Result<()> {
    if module.abi() != wanted.abi() {
        bail!(
            "{} is a {} module, and --abi {} runs {} modules",
            path.display(),
            module.abi(),
            wanted
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default(),
            wanted.abi()
        );
    }
    Ok(())
}

/// Makes guest-controlled text safe to print on a terminal: control characters (escape sequences,
/// carriage returns, ...) are shown escaped.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a `--settings`-style file; it must hold a JSON object (or be empty, meaning `{}`).
pub fn read_settings(path: &Path) -> Result<Value> {
    let settings = read_document(path)?;
    match settings {
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        Value::Object(_) => Ok(settings),
        _ => bail!("{}: settings must be a mapping", path.display()),
    }
}
