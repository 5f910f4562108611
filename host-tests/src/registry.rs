//! The test registry (the harness lives in `custody-test-support`, shared with the registry
//! client's own tests), and the `custody` binary the end-to-end tests run against it.

use std::path::PathBuf;

pub use custody_test_support::registry::*;

/// The `custody` binary the tests run: `<target dir>/release/custody` (`$CARGO_TARGET_DIR`,
/// relative to the repository root, or `target/`), built by `make test` before the tests. Panics,
/// saying what to run, if it is missing.
pub fn custody_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| crate::repo_root().join(dir))
        .unwrap_or_else(|| crate::repo_root().join("target"));
    let path = target.join("release").join("custody");
    assert!(
        path.is_file(),
        "{} is missing: build it first (`make test` does; or `cargo build --release -p custody-cli`)",
        path.display()
    );
    path
}
