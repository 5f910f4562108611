//! Test support shared by custody's crates (tests only, never a policy module):
//!
//! - [`cosign`]: images signed in cosign's `.sig` layout by a reference signer we did not write
//!   (Python's `cryptography`, `tools/cosign_sign.py`), pushed into a test [`registry`];
//! - [`cosign_layout`]: cosign-saved OCI layouts (the real slsa-github-generator images in
//!   `shared/testdata`);
//! - [`registry`]: a real OCI registry (Debian's docker-registry on loopback) and what to push
//!   into it;
//! - [`requests`]: admission requests;
//! - [`sigstore_cases`]: the sigstore-conformance `bundle-verify` cases, decided in one place for
//!   the native suite and the wasm one;
//! - [`test_log`]: a private transparency log made with real cryptography.
//!
//! Test data is found beside the repository: `shared/` is next to the repository root.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod cosign;
pub mod cosign_layout;
pub mod registry;
pub mod requests;
pub mod sigstore_cases;
pub mod test_log;
