//! Registry access for the commands that reach registries (`attestations export`, `eval`,
//! `check`): the flags, and the host capabilities that answer a policy's `oci` calls from them.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use custody_host::{Capabilities, Cluster, NoCapabilities, ScriptedCapabilities};
use custody_registry::{Options, PlainHttp, RegistryCapabilities};

/// How to reach registries.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP (no TLS) to every registry, not only to loopback ones (a registry without
    /// TLS, e.g. in-cluster). Credentials from the docker config are then sent unencrypted.
    #[arg(long, conflicts_with = "no_plain_http")]
    plain_http: bool,
    /// Speak HTTPS to every registry, loopback ones too (by default, loopback registries —
    /// localhost, 127.0.0.0/8, ::1 — are spoken to in plain HTTP, as local test registries are).
    #[arg(long)]
    no_plain_http: bool,
    /// Deadline of each registry request, in seconds.
    #[arg(long, alias = "timeout", value_name = "SECONDS", default_value = "30", value_parser = clap::value_parser!(u64).range(1..=3600))]
    registry_timeout: u64,
}

impl RegistryArgs {
    /// The client options the flags say.
    pub fn options(&self) -> Options {
        Options {
            plain_http: match (self.plain_http, self.no_plain_http) {
                (true, _) => PlainHttp::Always,
                (false, true) => PlainHttp::Never,
                (false, false) => PlainHttp::Loopback,
            },
            timeout: Duration::from_secs(self.registry_timeout),
        }
    }
}

/// What answers a policy's host calls: a script (`--capabilities`), or the registries for `oci`
/// calls and the `--cluster` objects (if any) for `kubernetes` calls. Clones share one registry
/// client and verification cache.
#[derive(Debug, Clone)]
pub enum HostCalls {
    /// Scripted answers (offline), and the cluster objects.
    Scripted(ScriptedCapabilities),
    /// The registries, and the cluster objects.
    Registry(RegistryCapabilities),
}

impl HostCalls {
    /// `scripted` answers when given (then no registry is contacted), else the registries as
    /// `registry` says; `kubernetes` calls from `cluster` either way.
    pub fn new(
        scripted: Option<ScriptedCapabilities>,
        cluster: Cluster,
        registry: &RegistryArgs,
    ) -> Result<Self> {
        if let Some(script) = scripted {
            return Ok(HostCalls::Scripted(script.with_cluster(cluster)));
        }
        let inner: Box<dyn Capabilities> = if cluster.is_empty() {
            Box::new(NoCapabilities)
        } else {
            Box::new(
                ScriptedCapabilities::new(Vec::new())
                    .map_err(anyhow::Error::msg)?
                    .with_cluster(cluster),
            )
        };
        Ok(HostCalls::Registry(RegistryCapabilities::new(
            registry.options(),
            None,
            inner,
        )))
    }

    /// The capabilities of one policy instance.
    pub fn boxed(&self) -> Box<dyn Capabilities> {
        match self {
            HostCalls::Scripted(script) => Box::new(script.clone()),
            HostCalls::Registry(registry) => Box::new(registry.clone()),
        }
    }

    /// Prints the notes about registry credentials on stderr.
    pub fn print_notes(&self) {
        if let HostCalls::Registry(registry) = self {
            for note in registry.take_notes() {
                eprintln!("note: {note}");
            }
        }
    }
}

/// Reads a `--capabilities` script.
pub fn read_script(path: &Path) -> Result<ScriptedCapabilities> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ScriptedCapabilities::from_json(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("invalid capabilities file {}", path.display()))
}
