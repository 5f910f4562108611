//! What the CLI's test binaries share: the repository, a fresh directory per test, and running
//! the `custody` binary (without a docker config: anonymous registry access).
#![allow(dead_code)] // each test binary uses its part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// A fresh, empty directory for one test of `suite`.
pub fn workdir(suite: &str, test: &str) -> Result<PathBuf, std::io::Error> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The module `dist/<name>` as `make modules` built it; an error saying so when it is missing.
pub fn dist(name: &str) -> Result<PathBuf, String> {
    let path = repo_root().join("dist").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build the modules first (`make modules`)",
            path.display()
        ))
    }
}

/// A docker config directory that does not exist: no credentials.
pub fn no_docker_config() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-docker-config")
}

/// Runs `custody args` without a docker config.
pub fn custody(args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env("DOCKER_CONFIG", no_docker_config())
        .output()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `path` as UTF-8, for command lines.
pub fn path(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// A WAT data string holding exactly `text`'s bytes.
pub fn wat_string(text: &str) -> String {
    text.bytes().map(|b| format!("\\{b:02x}")).collect()
}
