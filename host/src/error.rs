//! The host's error type.

use std::fmt;
use std::path::PathBuf;

use crate::Abi;

/// Everything that can go wrong while loading or running a policy.
///
/// Each variant that happens while the guest runs names the operation (`validate`,
/// `validate_settings`, `wapc_init`, ...) it happened in.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// The wasmtime engine could not be configured.
    Engine {
        /// What wasmtime said.
        message: String,
    },
    /// A module file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly module.
    Compile {
        /// The module's name.
        module: String,
        /// What the compiler said.
        message: String,
    },
    /// The module exports neither the waPC (`__guest_call`) nor the OPA (`opa_*`) ABI.
    NotAPolicy {
        /// The module's name.
        module: String,
    },
    /// The `io.kubewarden.metadata` custom section is not valid JSON.
    Metadata {
        /// The module's name.
        module: String,
        /// What is wrong with it.
        message: String,
    },
    /// The module imports a function this host does not provide.
    UnknownImport {
        /// The module's name.
        module: String,
        /// The import's module (e.g. `wapc`, `wasi_snapshot_preview1`, `env`).
        import_module: String,
        /// The import's field name.
        import_name: String,
    },
    /// The module could not be instantiated for another reason (import type mismatch, missing
    /// or mistyped `__guest_call` export, ...).
    Instantiate {
        /// The module's name.
        module: String,
        /// What went wrong.
        message: String,
    },
    /// The guest ran past its deadline.
    Timeout {
        /// The operation that was running.
        operation: String,
        /// The deadline it had.
        timeout: std::time::Duration,
    },
    /// The guest used up its fuel (instruction budget).
    FuelExhausted {
        /// The operation that was running.
        operation: String,
        /// The budget it had.
        budget: u64,
    },
    /// The guest tried to grow its memory beyond the host's limit.
    MemoryLimit {
        /// The operation that was running.
        operation: String,
        /// The size the guest asked for, in bytes.
        requested_bytes: usize,
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// The guest trapped (unreachable, out-of-bounds access of its own memory, stack overflow, ...).
    Trap {
        /// The operation that was running.
        operation: String,
        /// The trap.
        message: String,
    },
    /// The guest reported an error (`__guest_error`, or `__guest_call` returned 0).
    GuestError {
        /// The operation that was running.
        operation: String,
        /// The guest's message.
        message: String,
    },
    /// The guest handed the host a pointer or length outside its memory, or has no exported memory.
    GuestMemory {
        /// The operation that was running.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// The guest made a malformed host call (e.g. a binding name that is not UTF-8).
    HostCall {
        /// The operation that was running.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// The guest's answer is larger than [`crate::Limits::max_response_bytes`].
    ResponseTooLarge {
        /// The operation that was running.
        operation: String,
        /// The answer's size in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The operation name or payload does not fit the 32-bit waPC interface.
    PayloadTooLarge {
        /// The operation.
        operation: String,
        /// The payload's size in bytes.
        len: usize,
    },
    /// The guest's answer could not be understood.
    BadResponse {
        /// The operation that was running.
        operation: String,
        /// What was wrong (e.g. the JSON parse error).
        message: String,
    },
    /// The operation belongs to the other ABI (e.g. `validate_settings`, a waPC operation, asked
    /// of an OPA-ABI module).
    NotForAbi {
        /// The operation.
        operation: String,
        /// The module's ABI.
        abi: Abi,
    },
    /// An earlier call trapped, leaving the guest in an unknown state: this instance refuses
    /// further calls. Create a new [`crate::PolicyInstance`].
    Poisoned {
        /// The operation that was refused.
        operation: String,
        /// The error that poisoned the instance.
        cause: String,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Engine { message } => write!(f, "cannot configure the wasm engine: {message}"),
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Compile { module, message } => {
                write!(f, "module {module} is not valid WebAssembly: {message}")
            }
            Self::NotAPolicy { module } => write!(
                f,
                "module {module} is not a policy: it exports neither `__guest_call` (waPC) nor `opa_*` functions (OPA)"
            ),
            Self::Metadata { module, message } => write!(
                f,
                "module {module} has an invalid `io.kubewarden.metadata` section: {message}"
            ),
            Self::UnknownImport {
                module,
                import_module,
                import_name,
            } => write!(
                f,
                "module {module} imports `{import_module}::{import_name}`, which this host does not provide"
            ),
            Self::Instantiate { module, message } => {
                write!(f, "cannot instantiate module {module}: {message}")
            }
            Self::Timeout { operation, timeout } => write!(
                f,
                "the policy ran past its deadline of {timeout:?} during {operation}"
            ),
            Self::FuelExhausted { operation, budget } => write!(
                f,
                "the policy exceeded its instruction budget of {budget} units during {operation}"
            ),
            Self::MemoryLimit {
                operation,
                requested_bytes,
                limit_bytes,
            } => write!(
                f,
                "the policy tried to grow its memory to {requested_bytes} bytes during {operation}, over the limit of {limit_bytes} bytes"
            ),
            Self::Trap { operation, message } => {
                write!(f, "the policy trapped during {operation}: {message}")
            }
            Self::GuestError { operation, message } => {
                write!(f, "the policy reported an error during {operation}: {message}")
            }
            Self::GuestMemory { operation, message } => write!(
                f,
                "the policy passed an invalid memory reference during {operation}: {message}"
            ),
            Self::HostCall { operation, message } => {
                write!(f, "the policy made a malformed host call during {operation}: {message}")
            }
            Self::ResponseTooLarge {
                operation,
                len,
                limit,
            } => write!(
                f,
                "the policy's answer to {operation} is {len} bytes, over the limit of {limit} bytes"
            ),
            Self::PayloadTooLarge { operation, len } => write!(
                f,
                "the payload for {operation} is {len} bytes, too large for the waPC interface"
            ),
            Self::BadResponse { operation, message } => {
                write!(f, "the policy's answer to {operation} is malformed: {message}")
            }
            Self::NotForAbi { operation, abi } => match abi {
                Abi::Opa => write!(
                    f,
                    "{operation} is a waPC operation; this module uses the OPA ABI (Gatekeeper mode), where parameters are checked during evaluation"
                ),
                Abi::Wapc => write!(
                    f,
                    "{operation} is an OPA ABI operation; this module uses waPC"
                ),
            },
            Self::Poisoned { operation, cause } => write!(
                f,
                "cannot run {operation}: the policy instance is unusable after an earlier failure ({cause}); create a new instance"
            ),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl HostError {
    /// The operation this error happened in, when it happened while the guest ran.
    pub fn operation(&self) -> Option<&str> {
        match self {
            Self::FuelExhausted { operation, .. }
            | Self::Timeout { operation, .. }
            | Self::MemoryLimit { operation, .. }
            | Self::Trap { operation, .. }
            | Self::GuestError { operation, .. }
            | Self::GuestMemory { operation, .. }
            | Self::HostCall { operation, .. }
            | Self::ResponseTooLarge { operation, .. }
            | Self::PayloadTooLarge { operation, .. }
            | Self::BadResponse { operation, .. }
            | Self::NotForAbi { operation, .. }
            | Self::Poisoned { operation, .. } => Some(operation),
            _ => None,
        }
    }
}
