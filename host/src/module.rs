//! Compiled policy modules: ABI detection and Kubewarden metadata.

use std::fmt;
use std::path::Path;

use wasmparser::{Parser, Payload};

use crate::{CacheOutcome, Host, HostError};

/// Name of the custom section where `kwctl annotate` stores a policy's metadata as JSON.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The calling convention a policy module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abi {
    /// waPC (`__guest_call`), Kubewarden's `kubewarden-wapc` execution mode.
    Wapc,
    /// The OPA wasm ABI (`opa_*` exports), Kubewarden's `opa` / `gatekeeper` modes.
    Opa,
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wapc => "waPC",
            Self::Opa => "OPA",
        })
    }
}

/// A compiled policy module, ready to be instantiated any number of times.
#[derive(Debug, Clone)]
pub struct PolicyModule {
    module: wasmtime::Module,
    abi: Abi,
    metadata: Option<serde_json::Value>,
    name: String,
    cached: Option<CacheOutcome>,
}

impl PolicyModule {
    /// Reads and compiles a module; its name is the file stem.
    pub fn from_file(host: &Host, path: &Path) -> Result<Self, HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::from_bytes(host, &name, &bytes)
    }

    /// Compiles a module from its binary encoding (or takes it from the host's module cache:
    /// [`Host::with_module_cache`]).
    pub fn from_bytes(host: &Host, name: &str, bytes: &[u8]) -> Result<Self, HostError> {
        let compile = || wasmtime::Module::new(host.engine(), bytes);
        let (module, cached) = match host.module_cache() {
            Some(cache) => cache
                .module(host.engine(), bytes, compile)
                .map(|(module, outcome)| (module, Some(outcome))),
            None => compile().map(|module| (module, None)),
        }
        .map_err(|e| HostError::Compile {
            module: name.to_owned(),
            message: format!("{e:#}"),
        })?;
        let abi = abi_of(module.exports().map(|export| export.name())).ok_or_else(|| {
            HostError::NotAPolicy {
                module: name.to_owned(),
            }
        })?;
        let metadata = read_metadata(bytes).map_err(|message| HostError::Metadata {
            module: name.to_owned(),
            message,
        })?;
        Ok(Self {
            module,
            abi,
            metadata,
            name: name.to_owned(),
            cached,
        })
    }

    /// Whether the module came from the host's module cache (`None`: the host has no cache).
    pub fn cache_outcome(&self) -> Option<CacheOutcome> {
        self.cached
    }

    /// The module's ABI, detected from its exports.
    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// The module's Kubewarden metadata (`io.kubewarden.metadata` custom section), if annotated.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.metadata.as_ref()
    }

    /// The module's name (file stem, or the name given to [`PolicyModule::from_bytes`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compiled wasmtime module.
    pub fn module(&self) -> &wasmtime::Module {
        &self.module
    }
}

/// The ABI of a module from its exports' names: any `opa_*` export means OPA; otherwise
/// `__guest_call` means waPC.
fn abi_of<'a>(exports: impl IntoIterator<Item = &'a str>) -> Option<Abi> {
    let mut wapc = false;
    for name in exports {
        if name.starts_with("opa_") {
            return Some(Abi::Opa);
        }
        if name == "__guest_call" {
            wapc = true;
        }
    }
    wapc.then_some(Abi::Wapc)
}

/// The ABI of the module whose binary encoding is `bytes`, read from its export section without
/// compiling it; `None` if it is not a policy (or not a module that parses).
pub fn module_abi(bytes: &[u8]) -> Option<Abi> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ExportSection(exports) = payload.ok()? {
            let names: Vec<&str> = exports
                .into_iter()
                .map(|export| export.map(|e| e.name))
                .collect::<Result<_, _>>()
                .ok()?;
            return abi_of(names);
        }
    }
    None
}

/// Reads the JSON of the `io.kubewarden.metadata` custom section from a wasm binary.
///
/// `Ok(None)` when there is no such section; if there are several, the last one wins.
pub fn read_metadata(bytes: &[u8]) -> Result<Option<serde_json::Value>, String> {
    let mut found = None;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::CustomSection(section) if section.name() == METADATA_SECTION => {
                let value = serde_json::from_slice(section.data())
                    .map_err(|e| format!("not valid JSON: {e}"))?;
                found = Some(value);
            }
            _ => {}
        }
    }
    Ok(found)
}
