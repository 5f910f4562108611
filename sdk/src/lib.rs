//! The custody SDK: everything the policies share, so that a policy crate holds only its rule.
//!
//! - [`image`]: the OCI image reference grammar, keeping "no tag" distinct from `latest`;
//! - [`workload`]: every container of every workload kind, with its location;
//! - [`settings`]: common settings and errors that name the field;
//! - [`rule`]: the interface a policy implements, and verdicts;
//! - [`policy`]: the evaluation pipeline, the same natively and in wasm;
//! - [`host`]: host capabilities;
//! - [`abi`]: the waPC adapter and [`export_policy!`].
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod abi;
#[cfg(feature = "sigstore")]
pub mod attestors;
pub mod host;
pub mod image;
pub mod policy;
pub mod rule;
pub mod settings;
#[cfg(feature = "sigstore")]
pub mod sigstore;
pub mod workload;

pub use host::{Host, NoHost};
pub use image::{Digest, DigestAlgorithm, ImageRef, ReferenceError};
pub use rule::{Check, Image, Rule};
pub use settings::{PolicySettings, SettingsError};
