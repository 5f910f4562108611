//! The engine and its limits.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, OptLevel};

use crate::wapc::{self, WapcState};
use crate::{HostError, ModuleCache};

/// Resource limits applied to every policy instance.
///
/// A runaway guest is stopped by a wall-clock deadline (wasmtime epoch interruption: a ticker
/// thread advances the engine's epoch every [`EPOCH_TICK`]). Fuel metering is optional: it counts
/// instructions exactly, but it made warm `validate` calls slower in alternating benchmark runs
/// (52–94 µs against 49–62 µs with the deadline alone, on the 10-container Deployment), so it is
/// off unless asked for (tests that need determinism, instruction counts in the benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time a single call may take.
    pub timeout: Duration,
    /// Fuel (roughly, wasm instructions) a single call may use, refilled before each call; `None`
    /// turns fuel metering off.
    pub fuel: Option<u64>,
    /// The largest linear memory a guest may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// The largest answer (or error message) a guest may hand back, in bytes.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    /// A 5 s deadline (a 10 MB request takes well under a second), no fuel metering, 256 MiB of
    /// memory, 64 MiB answers.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            fuel: None,
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
    cache: Option<ModuleCache>,
    _ticker: Ticker,
}

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The thread that advances the engine's epoch; stopped and joined when the host is dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Self, HostError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("custody-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| HostError::Engine {
                message: format!("cannot start the epoch thread: {e}"),
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and ticks; it cannot have panicked in a way worth reporting.
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// An engine with epoch deadlines (and fuel metering if the limits ask for it), optimised
    /// Cranelift code, and the waPC + WASI linker.
    pub fn new(limits: Limits) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.consume_fuel(limits.fuel.is_some());
        config.cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine {
            message: format!("{e:#}"),
        })?;
        let linker = wapc::linker(&engine).map_err(|e| HostError::Engine {
            message: format!("cannot define the host functions: {e:#}"),
        })?;
        let ticker = Ticker::start(engine.clone())?;
        Ok(Self {
            engine,
            limits,
            linker,
            cache: None,
            _ticker: ticker,
        })
    }

    /// Compiled modules are kept in `cache` and taken from it ([`crate::PolicyModule::from_bytes`]).
    pub fn with_module_cache(mut self, cache: ModuleCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The module cache, if the host has one.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.cache.as_ref()
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

    /// The call deadline in epoch ticks (rounded up, plus one for the tick under way).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self
            .limits
            .timeout
            .as_nanos()
            .div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}
