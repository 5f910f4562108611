//! The custody SDK: what every policy shares, so that a policy crate holds only its rule. It has no
//! cryptography: Sigstore verification is `custody-sigstore`, and who must have signed and where
//! attestations are found is `custody-attestors`.
//!
//! - [`image`]: the OCI image reference grammar, keeping "no tag" distinct from `latest`, and the
//!   canonical form patterns match;
//! - [`workload`]: every container of every workload kind, with its location (the host tests check
//!   its paths against the Kubernetes API types);
//! - [`settings`]: common settings and errors that name the field;
//! - [`rule`]: the interface a policy implements, and verdicts;
//! - [`policy`]: the evaluation pipeline (Kubewarden validation and Gatekeeper violations), the
//!   same natively and in wasm;
//! - [`host`]: host capabilities and facts (the clock), and the Gatekeeper inventory;
//! - [`abi`]: the ABI the target selects (waPC or the OPA wasm ABI), exported by
//!   [`export_policy!`].
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod abi;
pub mod host;
pub mod image;
pub mod policy;
pub mod rule;
pub mod settings;
pub mod workload;

pub use host::{Host, NoHost};
pub use image::{Digest, DigestAlgorithm, ImageRef, ReferenceError};
pub use rule::{Check, Image, Rule};
pub use settings::{PolicySettings, SettingsError};
