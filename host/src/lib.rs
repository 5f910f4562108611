//! A wasmtime-based host for Kubewarden admission policies: waPC modules, and OPA-ABI modules in
//! Gatekeeper's contract.
//!
//! Load a module once ([`PolicyModule`]), instantiate it once ([`PolicyInstance`]) and make as many
//! warm calls as needed:
//!
//! ```no_run
//! use custody_host::{Host, Limits, NoCapabilities, PolicyInstance, PolicyModule};
//! # fn main() -> Result<(), custody_host::HostError> {
//! let host = Host::new(Limits::default())?;
//! let module = PolicyModule::from_file(&host, "policy.wasm".as_ref())?;
//! let mut policy = PolicyInstance::new(&host, &module, Box::new(NoCapabilities))?;
//! let settings = serde_json::json!({});
//! assert!(policy.validate_settings(&settings)?.valid);
//! let request = serde_json::json!({"uid": "1", "object": {}});
//! let answer = policy.validate(&request, &settings)?;
//! println!("accepted: {}", answer.accepted);
//! # Ok(()) }
//! ```
//!
//! Every module runs with an empty WASI preview1 context (no environment, arguments, preopened
//! directories or inherited stdio), a deadline renewed before each call (and a fuel budget if asked
//! for), and a memory cap.

mod cache;
mod capabilities;
mod cluster;
mod error;
mod host;
mod instance;
mod module;
mod opa;
mod patch;
mod wapc;

pub use cache::{engine_key, CacheOutcome, ModuleCache, CACHE_DIR_ENV};
pub use capabilities::{
    Capabilities, NoCapabilities, RecordedCall, ScriptedCall, ScriptedCapabilities,
};
pub use cluster::Cluster;
/// The answers, in Kubewarden's wire format: the SDK's own types.
pub use custody_sdk::policy::{
    GatekeeperResult, GatekeeperViolation, SettingsValidation, ValidationResponse,
};
pub use error::HostError;
pub use host::{Host, Limits, EPOCH_TICK};
pub use instance::{parse_answer, PolicyInstance, PolicyPre};
pub use module::{module_abi, read_metadata, Abi, PolicyModule, METADATA_SECTION};
pub use opa::MEMORY_PAGES as OPA_MEMORY_PAGES;
pub use patch::json_patch;
