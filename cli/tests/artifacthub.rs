//! `custody artifacthub`: the committed ArtifactHub packages and the policies' versions agree
//! (this is the check `make test` runs), and, on a small workspace of its own, what the check
//! catches: a version that drifts, a stale or missing package, a package of an unknown version.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn custody(root: &Path, args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .arg("artifacthub")
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The workspace's own policies: every policy's versions agree, and every committed package is
/// what `make artifacthub` generates now and valid by ArtifactHub's spec.
#[test]
fn the_committed_packages_are_up_to_date() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?;
    let output = custody(root, &["--check"])?;
    assert!(
        output.status.success(),
        "custody artifacthub --check failed (run `make artifacthub` after changing a policy's \
         metadata, README or CHANGELOG; keep the versions in step):\n{}",
        stderr(&output)
    );
    Ok(())
}

const METADATA: &str = r#"rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
mutating: false
contextAwareResources: []
annotations:
  io.kubewarden.policy.title: toy
  io.kubewarden.policy.version: 1.0.0
  io.kubewarden.policy.description: A toy policy
  io.kubewarden.policy.author: toy makers
  io.kubewarden.policy.url: https://github.com/example/toys
  io.kubewarden.policy.ociUrl: ghcr.io/example/policies/toy
  io.kubewarden.policy.license: MIT
  io.artifacthub.displayName: Toy
  io.artifacthub.resources: Pod
  io.artifacthub.keywords: toy, example
  com.github.release.tag: toy/v1.0.0
"#;

const CHANGELOG: &str = "# Changelog

## [1.0.0] - 2026-11-20

Built with: custody-sdk 0.3.1.

### Added

- Everything.
";

/// A workspace with one policy, `toy` 1.0.0, built with custody-sdk 0.3.1.
fn toy_workspace(test: &str) -> Result<PathBuf, std::io::Error> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("custody-artifacthub")
        .join(test);
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let files = [
        (
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"sdk\", \"policies/toy\"]\n",
        ),
        (
            "sdk/Cargo.toml",
            "[package]\nname = \"custody-sdk\"\nversion = \"0.3.1\"\nedition = \"2021\"\n",
        ),
        ("sdk/src/lib.rs", ""),
        (
            "policies/toy/Cargo.toml",
            "[package]\nname = \"toy\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\ncustody-sdk = { path = \"../../sdk\" }\n",
        ),
        ("policies/toy/src/lib.rs", ""),
        ("policies/toy/metadata.yml", METADATA),
        (
            "policies/toy/README.md",
            "# toy\n\nSee [the SDK](../../sdk/src/lib.rs).\n",
        ),
        ("policies/toy/CHANGELOG.md", CHANGELOG),
        (
            "artifacthub/artifacthub-repo.yml",
            "repositoryID: 4c9b8a1e-1d2f-4e3a-9b8c-7d6e5f4a3b2c\n\
             owners:\n  - name: toy makers\n    email: toys@example.org\n",
        ),
    ];
    for (path, content) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(root)
}

fn edit(path: &Path, from: &str, to: &str) -> TestResult {
    let text = std::fs::read_to_string(path)?;
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to))?;
    Ok(())
}

#[test]
fn generating_then_checking_a_workspace() -> TestResult {
    let root = toy_workspace("generate")?;
    // Nothing generated yet: both files are missing.
    let check = custody(&root, &["--check"])?;
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).contains("artifacthub/toy/1.0.0/artifacthub-pkg.yml: missing"));
    assert!(stderr(&check).contains("artifacthub/toy/1.0.0/README.md: missing"));

    let generate = custody(&root, &[])?;
    assert!(generate.status.success(), "{}", stderr(&generate));
    let package_path = root.join("artifacthub/toy/1.0.0/artifacthub-pkg.yml");
    let package = std::fs::read_to_string(&package_path)?;
    assert!(
        package.contains("createdAt: 2026-11-20T00:00:00Z"),
        "{package}"
    );
    assert!(package.contains("image: ghcr.io/example/policies/toy:v1.0.0"));
    assert!(package.contains("email: toys@example.org"));
    let readme = std::fs::read_to_string(root.join("artifacthub/toy/1.0.0/README.md"))?;
    assert!(readme
        .contains("[the SDK](https://github.com/example/toys/blob/toy/v1.0.0/sdk/src/lib.rs)"));
    assert!(readme.contains("Built with custody-sdk 0.3.1."));
    // Generating is deterministic: a second run writes nothing, the check passes.
    let again = custody(&root, &[])?;
    assert!(!String::from_utf8_lossy(&again.stdout).contains("wrote"));
    let check = custody(&root, &["--check"])?;
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("1 package(s) checked"));

    // A README change makes the package stale.
    edit(
        &root.join("policies/toy/README.md"),
        "# toy",
        "# toy policy",
    )?;
    let check = custody(&root, &["--check"])?;
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        stderr(&check).lines().next(),
        Some("artifacthub/toy/1.0.0/README.md: stale; run `make artifacthub`")
    );
    assert!(custody(&root, &[])?.status.success());

    // A hand edit to a generated package: stale, and invalid.
    edit(
        &package_path,
        "kubewarden/mutation: 'false'",
        "kubewarden/mutation: false",
    )?;
    let check = custody(&root, &["--check"])?;
    assert_eq!(check.status.code(), Some(1));
    let problems = stderr(&check);
    assert!(
        problems.contains("artifacthub-pkg.yml: stale"),
        "{problems}"
    );
    assert!(
        problems.contains("annotations.kubewarden/mutation: must be a string, got a boolean"),
        "{problems}"
    );
    assert!(custody(&root, &[])?.status.success());

    // A package for a version the changelog does not have.
    std::fs::create_dir_all(root.join("artifacthub/toy/0.9.0"))?;
    std::fs::copy(
        &package_path,
        root.join("artifacthub/toy/0.9.0/artifacthub-pkg.yml"),
    )?;
    let check = custody(&root, &["--check"])?;
    let problems = stderr(&check);
    assert!(
        problems.contains("artifacthub/toy/0.9.0: policies/toy/CHANGELOG.md has no version 0.9.0")
    );
    assert!(problems.contains(
        "artifacthub/toy/0.9.0/artifacthub-pkg.yml: version is `1.0.0`, the folder says 0.9.0"
    ));
    assert!(problems.contains("artifacthub/toy/0.9.0: no README.md"));
    assert!(problems.contains(
        "artifacthub/toy/0.9.0/artifacthub-pkg.yml: the `policy` image ghcr.io/example/policies/toy:v1.0.0 is not tagged v0.9.0"
    ));
    std::fs::remove_dir_all(root.join("artifacthub/toy/0.9.0"))?;
    assert!(custody(&root, &["--check"])?.status.success());
    Ok(())
}

#[test]
fn drifting_versions_are_refused_before_anything_is_written() -> TestResult {
    let root = toy_workspace("drift")?;
    // The crate moves to 1.1.0 alone.
    edit(
        &root.join("policies/toy/Cargo.toml"),
        "version = \"1.0.0\"",
        "version = \"1.1.0\"",
    )?;
    let output = custody(&root, &[])?;
    assert_eq!(output.status.code(), Some(1));
    let problems = stderr(&output);
    assert!(problems.contains("toy: metadata.yml's io.kubewarden.policy.version is `1.0.0`, Cargo.toml's version is 1.1.0"), "{problems}");
    assert!(problems.contains(
        "toy: metadata.yml's com.github.release.tag is `toy/v1.0.0`, expected toy/v1.1.0"
    ));
    assert!(problems
        .contains("toy: CHANGELOG.md's newest entry is 1.0.0, Cargo.toml's version is 1.1.0"));
    assert!(!root.join("artifacthub/toy").exists(), "nothing is written");

    // The SDK moves to 0.4.0: the changelog's `Built with:` no longer says what the policy is built with.
    let root = toy_workspace("drift-sdk")?;
    edit(&root.join("sdk/Cargo.toml"), "0.3.1", "0.4.0")?;
    let output = custody(&root, &["--check"])?;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(
        "toy: CHANGELOG.md says 1.0.0 is built with custody-sdk 0.3.1, but it depends on custody-sdk 0.4.0"
    ));

    // A malformed changelog is an error that names the file and the line.
    let root = toy_workspace("drift-changelog")?;
    edit(
        &root.join("policies/toy/CHANGELOG.md"),
        "### Added",
        "### New",
    )?;
    let output = custody(&root, &["--check"])?;
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("policies/toy/CHANGELOG.md"), "{error}");
    assert!(error.contains("unknown section `New`"), "{error}");
    Ok(())
}
