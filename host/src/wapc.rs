//! The waPC imports (module `wapc`), the WASI preview1 imports, and the per-store state they use.
//!
//! Every pointer and length a guest hands over is checked against its memory; a bad one fails the
//! call with a [`GuestFault`] (which the instance turns into a [`crate::HostError`]), never a panic.

use std::fmt;

use wasmtime::{
    Caller, Engine, Extern, Linker, Memory, ResourceLimiter, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

use crate::{Capabilities, Limits};

/// The import module of the waPC functions.
const WAPC: &str = "wapc";

/// Longest single `__console_log` message kept, in bytes.
const MAX_LOG_MESSAGE: usize = 64 * 1024;

/// Everything a store holds for one policy instance.
pub(crate) struct WapcState {
    wasi: WasiP1Ctx,
    pub(crate) limiter: PolicyLimiter,
    caps: Box<dyn Capabilities>,
    /// The guest's exported `memory`, once instantiated.
    pub(crate) memory: Option<Memory>,
    /// The current call's operation name and payload, handed out by `__guest_request`.
    pub(crate) operation: String,
    pub(crate) payload: Vec<u8>,
    /// What the guest answered during the current call.
    pub(crate) guest_response: Option<Vec<u8>>,
    pub(crate) guest_error: Option<Vec<u8>>,
    /// The answer to the guest's last host call.
    host_response: Option<Vec<u8>>,
    host_error: Option<Vec<u8>>,
    /// `__console_log` messages, bounded by `max_response_bytes` in total.
    pub(crate) logs: Vec<String>,
    log_bytes: usize,
    logs_dropped: bool,
    max_response_bytes: usize,
}

impl fmt::Debug for WapcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WapcState")
            .field("operation", &self.operation)
            .field("payload_len", &self.payload.len())
            .field("logs", &self.logs.len())
            .finish_non_exhaustive()
    }
}

impl WapcState {
    pub(crate) fn new(limits: &Limits, caps: Box<dyn Capabilities>) -> Self {
        // No environment, arguments, preopened directories or inherited stdio.
        let wasi = WasiCtxBuilder::new().build_p1();
        Self {
            wasi,
            limiter: PolicyLimiter::new(limits.max_memory_bytes),
            caps,
            memory: None,
            operation: String::new(),
            payload: Vec::new(),
            guest_response: None,
            guest_error: None,
            host_response: None,
            host_error: None,
            logs: Vec::new(),
            log_bytes: 0,
            logs_dropped: false,
            max_response_bytes: limits.max_response_bytes,
        }
    }

    /// Forgets what the previous call left behind.
    pub(crate) fn begin_call(&mut self, operation: &str) {
        self.operation.clear();
        self.operation.push_str(operation);
        self.guest_response = None;
        self.guest_error = None;
        self.host_response = None;
        self.host_error = None;
        self.limiter.denied = None;
    }

    pub(crate) fn take_logs(&mut self) -> Vec<String> {
        self.log_bytes = 0;
        self.logs_dropped = false;
        std::mem::take(&mut self.logs)
    }

    pub(crate) fn push_log(&mut self, bytes: &[u8]) {
        if self.log_bytes.saturating_add(bytes.len()) > self.max_response_bytes {
            if !self.logs_dropped {
                self.logs_dropped = true;
                self.logs
                    .push("[custody-host: log limit reached, further messages dropped]".into());
            }
            return;
        }
        self.log_bytes = self.log_bytes.saturating_add(bytes.len());
        let kept = bytes.get(..MAX_LOG_MESSAGE).unwrap_or(bytes);
        let mut message = String::from_utf8_lossy(kept).into_owned();
        if kept.len() < bytes.len() {
            message.push_str(" [truncated]");
        }
        self.logs.push(message);
    }
}

/// Applies [`Limits::max_memory_bytes`] through wasmtime's [`StoreLimits`], and turns a refused
/// memory growth into a trap carrying [`MemoryLimitHit`] so the host can tell it apart.
pub(crate) struct PolicyLimiter {
    inner: StoreLimits,
    max_memory_bytes: usize,
    /// The size last refused, in bytes.
    pub(crate) denied: Option<usize>,
}

impl PolicyLimiter {
    fn new(max_memory_bytes: usize) -> Self {
        Self {
            inner: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .build(),
            max_memory_bytes,
            denied: None,
        }
    }
}

impl ResourceLimiter for PolicyLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.inner.memory_growing(current, desired, maximum)? {
            Ok(true)
        } else {
            self.denied = Some(desired);
            Err(MemoryLimitHit {
                requested_bytes: desired,
                limit_bytes: self.max_memory_bytes,
            }
            .into())
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The trap raised when a guest's memory would exceed the host's limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryLimitHit {
    pub(crate) requested_bytes: usize,
    pub(crate) limit_bytes: usize,
}

impl fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory growth to {} bytes refused: the limit is {} bytes",
            self.requested_bytes, self.limit_bytes
        )
    }
}

impl std::error::Error for MemoryLimitHit {}

/// A protocol violation by the guest, detected in a host function.
#[derive(Debug)]
pub(crate) enum GuestFault {
    /// The module exports no `memory`.
    NoMemory,
    /// A pointer + length pair outside the guest's memory.
    OutOfBounds {
        what: &'static str,
        ptr: usize,
        len: usize,
        memory_len: usize,
    },
    /// A name that should be UTF-8 is not.
    NotUtf8 { what: &'static str },
    /// An answer larger than the host accepts.
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    /// An OPA-ABI guest called `opa_abort` with this message.
    Aborted(String),
    /// An OPA-ABI guest broke the protocol (a missing export, an unparseable answer, ...).
    Protocol(String),
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => f.write_str("the module exports no `memory`"),
            Self::OutOfBounds {
                what,
                ptr,
                len,
                memory_len,
            } => write!(
                f,
                "{what}: {len} bytes at address {ptr} lie outside the guest memory of {memory_len} bytes"
            ),
            Self::NotUtf8 { what } => write!(f, "{what} is not UTF-8"),
            Self::TooLarge { what, len, limit } => {
                write!(f, "{what} is {len} bytes, over the limit of {limit} bytes")
            }
            Self::Aborted(message) => write!(f, "opa_abort: {message}"),
            Self::Protocol(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for GuestFault {}

/// Reinterprets a wasm32 address or length (an `i32` on the ABI) as unsigned.
fn unsigned(value: i32) -> usize {
    value as u32 as usize
}

fn guest_slice<'m>(
    memory: &'m [u8],
    ptr: i32,
    len: usize,
    what: &'static str,
) -> Result<&'m [u8], GuestFault> {
    let start = unsigned(ptr);
    start
        .checked_add(len)
        .and_then(|end| memory.get(start..end))
        .ok_or(GuestFault::OutOfBounds {
            what,
            ptr: start,
            len,
            memory_len: memory.len(),
        })
}

fn write_guest(
    memory: &mut [u8],
    ptr: i32,
    bytes: &[u8],
    what: &'static str,
) -> Result<(), GuestFault> {
    let start = unsigned(ptr);
    let memory_len = memory.len();
    let target = start
        .checked_add(bytes.len())
        .and_then(|end| memory.get_mut(start..end))
        .ok_or(GuestFault::OutOfBounds {
            what,
            ptr: start,
            len: bytes.len(),
            memory_len,
        })?;
    target.copy_from_slice(bytes);
    Ok(())
}

fn guest_str<'m>(
    memory: &'m [u8],
    ptr: i32,
    len: i32,
    what: &'static str,
) -> Result<&'m str, GuestFault> {
    std::str::from_utf8(guest_slice(memory, ptr, unsigned(len), what)?)
        .map_err(|_| GuestFault::NotUtf8 { what })
}

/// The guest's memory and the store state, borrowed together.
pub(crate) fn memory_and_state<'a>(
    caller: &'a mut Caller<'_, WapcState>,
) -> Result<(&'a mut [u8], &'a mut WapcState), GuestFault> {
    let memory = match caller.data().memory {
        Some(memory) => memory,
        None => caller
            .get_export("memory")
            .and_then(Extern::into_memory)
            .ok_or(GuestFault::NoMemory)?,
    };
    Ok(memory.data_and_store_mut(caller))
}

/// Copies a guest answer out, refusing one over the limit.
fn read_answer(
    caller: &mut Caller<'_, WapcState>,
    ptr: i32,
    len: i32,
    what: &'static str,
) -> Result<Vec<u8>, GuestFault> {
    let (memory, state) = memory_and_state(caller)?;
    let len = unsigned(len);
    if len > state.max_response_bytes {
        return Err(GuestFault::TooLarge {
            what,
            len,
            limit: state.max_response_bytes,
        });
    }
    Ok(guest_slice(memory, ptr, len, what)?.to_vec())
}

fn len_for_guest(bytes: Option<&Vec<u8>>, what: &'static str) -> Result<i32, GuestFault> {
    let len = bytes.map_or(0, Vec::len);
    i32::try_from(len).map_err(|_| GuestFault::TooLarge {
        what,
        len,
        limit: i32::MAX as usize,
    })
}

/// Builds the linker once per [`crate::Host`]: WASI preview1 plus the waPC imports.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<WapcState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut WapcState| &mut state.wasi)?;

    linker.func_wrap(
        WAPC,
        "__guest_request",
        |mut caller: Caller<'_, WapcState>, op_ptr: i32, ptr: i32| -> wasmtime::Result<()> {
            let (memory, state) = memory_and_state(&mut caller)?;
            write_guest(memory, op_ptr, state.operation.as_bytes(), "operation name")?;
            write_guest(memory, ptr, &state.payload, "request payload")?;
            Ok(())
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__guest_response",
        |mut caller: Caller<'_, WapcState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let answer = read_answer(&mut caller, ptr, len, "guest response")?;
            caller.data_mut().guest_response = Some(answer);
            Ok(())
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__guest_error",
        |mut caller: Caller<'_, WapcState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let answer = read_answer(&mut caller, ptr, len, "guest error")?;
            caller.data_mut().guest_error = Some(answer);
            Ok(())
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__console_log",
        |mut caller: Caller<'_, WapcState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let (memory, state) = memory_and_state(&mut caller)?;
            let message = guest_slice(memory, ptr, unsigned(len), "log message")?;
            state.push_log(message);
            Ok(())
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__host_call",
        |mut caller: Caller<'_, WapcState>,
         binding_ptr: i32,
         binding_len: i32,
         namespace_ptr: i32,
         namespace_len: i32,
         operation_ptr: i32,
         operation_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let (memory, state) = memory_and_state(&mut caller)?;
            let binding = guest_str(memory, binding_ptr, binding_len, "host call binding")?;
            let namespace = guest_str(memory, namespace_ptr, namespace_len, "host call namespace")?;
            let operation = guest_str(memory, operation_ptr, operation_len, "host call operation")?;
            let payload = guest_slice(memory, ptr, unsigned(len), "host call payload")?;
            state.host_response = None;
            state.host_error = None;
            match state.caps.call(binding, namespace, operation, payload) {
                Ok(answer) => {
                    state.host_response = Some(answer);
                    Ok(1)
                }
                Err(error) => {
                    state.host_error = Some(error.into_bytes());
                    Ok(0)
                }
            }
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__host_response_len",
        |caller: Caller<'_, WapcState>| -> wasmtime::Result<i32> {
            Ok(len_for_guest(
                caller.data().host_response.as_ref(),
                "host response",
            )?)
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__host_response",
        |mut caller: Caller<'_, WapcState>, ptr: i32| -> wasmtime::Result<()> {
            let (memory, state) = memory_and_state(&mut caller)?;
            if let Some(answer) = &state.host_response {
                write_guest(memory, ptr, answer, "host response")?;
            }
            Ok(())
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__host_error_len",
        |caller: Caller<'_, WapcState>| -> wasmtime::Result<i32> {
            Ok(len_for_guest(
                caller.data().host_error.as_ref(),
                "host error",
            )?)
        },
    )?;

    linker.func_wrap(
        WAPC,
        "__host_error",
        |mut caller: Caller<'_, WapcState>, ptr: i32| -> wasmtime::Result<()> {
            let (memory, state) = memory_and_state(&mut caller)?;
            if let Some(error) = &state.host_error {
                write_guest(memory, ptr, error, "host error")?;
            }
            Ok(())
        },
    )?;

    Ok(linker)
}
