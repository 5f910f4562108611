//! The engine and its limits.

use std::fmt;

use wasmtime::{Config, Engine, Linker, OptLevel};

use crate::wapc::{self, WapcState};
use crate::HostError;

/// Resource limits applied to every policy instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) a single call may use; refilled before each call.
    pub fuel: u64,
    /// The largest linear memory a guest may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// The largest answer (or error message) a guest may hand back, in bytes.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    /// Enough fuel for a policy to walk a 10 MB request, 256 MiB of memory, 64 MiB answers.
    fn default() -> Self {
        Self {
            fuel: 20_000_000_000,
            max_memory_bytes: 256 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A configured wasmtime engine plus the linker that provides the waPC and WASI imports.
///
/// Create one per process and share it: compiling and instantiating reuse it.
pub struct Host {
    engine: Engine,
    limits: Limits,
    linker: Linker<WapcState>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// An engine with fuel metering and optimised Cranelift code, and the waPC + WASI linker.
    pub fn new(limits: Limits) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine {
            message: format!("{e:#}"),
        })?;
        let linker = wapc::linker(&engine).map_err(|e| HostError::Engine {
            message: format!("cannot define the host functions: {e:#}"),
        })?;
        Ok(Self {
            engine,
            limits,
            linker,
        })
    }

    /// The wasmtime engine (for precompiling, or checking that bytes are valid wasm).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks that `bytes` are a valid WebAssembly module for this engine, whatever its ABI.
    pub fn validate_module(&self, name: &str, bytes: &[u8]) -> Result<(), HostError> {
        wasmtime::Module::validate(&self.engine, bytes).map_err(|e| HostError::Compile {
            module: name.to_owned(),
            message: format!("{e:#}"),
        })
    }

    pub(crate) fn linker(&self) -> &Linker<WapcState> {
        &self.linker
    }
}
