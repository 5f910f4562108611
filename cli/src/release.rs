//! Per-policy versions: each policy crate under `policies/` carries its own SemVer, and what says
//! the version elsewhere must agree with it — metadata.yml's `io.kubewarden.policy.version` and
//! `com.github.release.tag` (`<policy>/v<version>`), the newest CHANGELOG.md entry, and that
//! entry's `Built with:` line (the workspace crates the policy depends on, directly or not, with
//! their versions). Cargo's own view of the workspace (`cargo metadata --no-deps`) gives the
//! versions and the dependency graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use semver::Version;
use serde::Deserialize;
use serde_json::Value;

use crate::changelog::Changelog;
use crate::input;

pub const VERSION_ANNOTATION: &str = "io.kubewarden.policy.version";
pub const RELEASE_TAG_ANNOTATION: &str = "com.github.release.tag";

/// One policy, read from its directory `policies/<name>/`.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    /// The crate's version (Cargo.toml).
    pub version: Version,
    /// metadata.yml.
    pub metadata: Value,
    pub readme: String,
    pub changelog: Changelog,
    /// The workspace crates the policy is built with (its normal dependencies, transitively).
    pub built_with: BTreeMap<String, Version>,
}

impl Policy {
    /// `<policy>/v<version>`: the release tag.
    pub fn release_tag(&self) -> String {
        format!("{}/v{}", self.name, self.version)
    }

    /// A string annotation of metadata.yml.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.get("annotations")?.get(key)?.as_str()
    }

    /// A string annotation that must be there.
    pub fn required_annotation(&self, key: &str) -> Result<&str> {
        self.annotation(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| anyhow!("{}: metadata.yml has no annotation `{key}`", self.name))
    }

    /// Where the version's disagreements with the crate's version are, one line each (empty:
    /// all agree).
    pub fn version_drift(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let name = &self.name;
        let version = &self.version;
        let expected_tag = self.release_tag();
        match self.annotation(VERSION_ANNOTATION) {
            Some(v) if v == version.to_string() => {}
            found => problems.push(format!(
                "{name}: metadata.yml's {VERSION_ANNOTATION} is {}, Cargo.toml's version is {version}",
                describe(found)
            )),
        }
        match self.annotation(RELEASE_TAG_ANNOTATION) {
            Some(tag) if tag == expected_tag => {}
            found => problems.push(format!(
                "{name}: metadata.yml's {RELEASE_TAG_ANNOTATION} is {}, expected {expected_tag}",
                describe(found)
            )),
        }
        if let Some(entry) = self.changelog.current() {
            if &entry.version != version {
                problems.push(format!(
                    "{name}: CHANGELOG.md's newest entry is {}, Cargo.toml's version is {version}",
                    entry.version
                ));
            } else if entry.built_with != self.built_with {
                problems.push(format!(
                    "{name}: CHANGELOG.md says {version} is built with {}, but it depends on {}",
                    list(&entry.built_with),
                    list(&self.built_with)
                ));
            }
        }
        problems
    }
}

fn describe(found: Option<&str>) -> String {
    found.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"))
}

/// `custody-sdk 0.1.0, custody-sigstore 0.1.0` (as the changelog's `Built with:` line says it).
pub fn list(crates: &BTreeMap<String, Version>) -> String {
    if crates.is_empty() {
        return "no workspace crate".to_owned();
    }
    crates
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `cargo metadata --no-deps` says of a workspace member.
#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    version: Version,
    manifest_path: PathBuf,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    name: String,
    /// null: a normal dependency; "dev" or "build" otherwise.
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

/// The workspace's crates (from Cargo), by name.
fn workspace_packages(root: &Path) -> Result<BTreeMap<String, Package>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .output()
        .with_context(|| format!("cannot run {}", cargo.to_string_lossy()))?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("cannot read cargo metadata's output")?;
    Ok(metadata
        .packages
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect())
}

/// The workspace crates `name` is built with: its normal dependencies within the workspace and
/// theirs, with their versions.
fn built_with(packages: &BTreeMap<String, Package>, name: &str) -> BTreeMap<String, Version> {
    let mut found = BTreeMap::new();
    let mut queue = vec![name.to_owned()];
    let mut visited = BTreeSet::new();
    while let Some(next) = queue.pop() {
        if !visited.insert(next.clone()) {
            continue;
        }
        let Some(package) = packages.get(&next) else {
            continue;
        };
        for dependency in package.dependencies.iter().filter(|d| d.kind.is_none()) {
            if let Some(shared) = packages.get(&dependency.name) {
                found.insert(shared.name.clone(), shared.version.clone());
                queue.push(shared.name.clone());
            }
        }
    }
    found
}

/// Every policy of the workspace at `root`: each directory under `policies/`, which must be a
/// workspace crate of the same name with metadata.yml, README.md and CHANGELOG.md.
pub fn policies(root: &Path) -> Result<Vec<Policy>> {
    let packages = workspace_packages(root)?;
    let policies_dir = root.join("policies");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&policies_dir)
        .with_context(|| format!("cannot list {}", policies_dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", policies_dir.display()))?;
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    let mut policies = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let package = packages.get(&name).ok_or_else(|| {
            anyhow!(
                "policies/{name} is not a workspace crate called {name} (see Cargo.toml's members)"
            )
        })?;
        let manifest = std::fs::canonicalize(dir.join("Cargo.toml"))
            .with_context(|| format!("policies/{name} has no Cargo.toml"))?;
        if std::fs::canonicalize(&package.manifest_path).ok().as_ref() != Some(&manifest) {
            bail!(
                "the workspace crate {name} is at {}, not policies/{name}",
                package.manifest_path.display()
            );
        }
        let read = |file: &str| -> Result<String> {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        };
        let changelog = Changelog::parse(&read("CHANGELOG.md")?)
            .with_context(|| format!("policies/{name}/CHANGELOG.md"))?;
        let metadata = input::read_document(&dir.join("metadata.yml"))?;
        policies.push(Policy {
            built_with: built_with(&packages, &name),
            version: package.version.clone(),
            readme: read("README.md")?,
            metadata,
            changelog,
            name,
        });
    }
    if policies.is_empty() {
        bail!("no policy under {}", policies_dir.display());
    }
    Ok(policies)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    /// A policy whose versions all agree: 0.2.0, built with custody-sdk 0.1.0.
    pub fn policy() -> Result<Policy> {
        Ok(Policy {
            name: "ban-latest".to_owned(),
            version: Version::new(0, 2, 0),
            metadata: json!({
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                           "operations": ["CREATE", "UPDATE"]}],
                "mutating": false,
                "contextAwareResources": [],
                "annotations": {
                    "io.kubewarden.policy.version": "0.2.0",
                    "com.github.release.tag": "ban-latest/v0.2.0",
                    "io.kubewarden.policy.title": "ban-latest",
                    "io.kubewarden.policy.description": "Deny latest",
                    "io.kubewarden.policy.author": "custody maintainers",
                    "io.kubewarden.policy.url": "https://github.com/custody-policies/custody",
                    "io.kubewarden.policy.source":
                        "https://github.com/custody-policies/custody/tree/main/policies/ban-latest",
                    "io.kubewarden.policy.ociUrl": "ghcr.io/custody-policies/policies/ban-latest",
                    "io.kubewarden.policy.license": "Apache-2.0",
                    "io.artifacthub.displayName": "Ban latest image tag",
                    "io.artifacthub.resources": "Pod",
                    "io.artifacthub.keywords": "supply chain, image, tag",
                }
            }),
            readme: "# ban-latest\n\nSee [verify-slsa](../verify-slsa/README.md#settings) and \
                     [the layout](../../README.md), [docs](https://example.com/x) and \
                     [below](#settings).\n"
                .to_owned(),
            changelog: Changelog::parse(
                "# Changelog\n\n## [0.2.0] - 2026-12-01\n\nBuilt with: custody-sdk 0.1.0.\n\n\
                 ### Added\n\n- Banned tags.\n\n### Security\n\n- A fix.\n\n\
                 ## [0.1.0] - 2026-11-27\n\nBuilt with: custody-sdk 0.1.0.\n\n\
                 ### Added\n\n- First release.\n",
            )?,
            built_with: BTreeMap::from([("custody-sdk".to_owned(), Version::new(0, 1, 0))]),
        })
    }

    fn set_annotation(policy: &mut Policy, key: &str, value: &str) {
        if let Some(map) = policy.metadata["annotations"].as_object_mut() {
            map.insert(key.to_owned(), json!(value));
        }
    }

    #[test]
    fn agreeing_versions_have_no_drift() -> Result<()> {
        assert_eq!(policy()?.version_drift(), Vec::<String>::new());
        Ok(())
    }

    #[test]
    fn each_drift_is_reported() -> Result<()> {
        let drift = |change: &dyn Fn(&mut Policy)| -> Result<Vec<String>> {
            let mut p = policy()?;
            change(&mut p);
            Ok(p.version_drift())
        };
        // The crate moved on alone: metadata, tag and changelog all disagree.
        let cargo = drift(&|p| p.version = Version::new(0, 3, 0))?;
        assert_eq!(cargo.len(), 3, "{cargo:?}");
        assert!(cargo[0].contains("io.kubewarden.policy.version is `0.2.0`"));
        assert!(cargo[1].contains("expected ban-latest/v0.3.0"));
        assert!(cargo[2].contains("newest entry is 0.2.0"));

        let metadata = drift(&|p| set_annotation(p, VERSION_ANNOTATION, "0.1.0"))?;
        assert_eq!(metadata.len(), 1, "{metadata:?}");
        assert!(metadata[0].contains("Cargo.toml's version is 0.2.0"));

        let tag = drift(&|p| set_annotation(p, RELEASE_TAG_ANNOTATION, "v0.2.0"))?;
        assert_eq!(tag.len(), 1);
        assert!(tag[0].contains("`v0.2.0`, expected ban-latest/v0.2.0"));

        let missing = drift(&|p| {
            if let Some(map) = p.metadata["annotations"].as_object_mut() {
                map.remove(RELEASE_TAG_ANNOTATION);
            }
        })?;
        assert!(missing[0].contains("com.github.release.tag is missing"));

        // The SDK moved to 0.2.0 (or the policy gained a dependency) and the changelog says not.
        let sdk = drift(&|p| {
            p.built_with
                .insert("custody-sdk".to_owned(), Version::new(0, 2, 0));
        })?;
        assert_eq!(sdk.len(), 1);
        assert!(
            sdk[0].contains("built with custody-sdk 0.1.0, but it depends on custody-sdk 0.2.0"),
            "{sdk:?}"
        );
        let added = drift(&|p| {
            p.built_with
                .insert("custody-sigstore".to_owned(), Version::new(0, 1, 0));
        })?;
        assert!(added[0].contains("custody-sdk 0.1.0, custody-sigstore 0.1.0"));
        Ok(())
    }

    #[test]
    fn built_with_follows_normal_dependencies_within_the_workspace() {
        let package = |name: &str, version: &str, deps: &[(&str, Option<&str>)]| Package {
            name: name.to_owned(),
            version: Version::parse(version).unwrap_or_else(|_| Version::new(0, 0, 0)),
            manifest_path: PathBuf::new(),
            dependencies: deps
                .iter()
                .map(|(n, k)| Dependency {
                    name: (*n).to_owned(),
                    kind: k.map(str::to_owned),
                })
                .collect(),
        };
        let packages: BTreeMap<String, Package> = [
            package(
                "verify-slsa",
                "0.1.0",
                &[
                    ("custody-attestors", None),
                    ("serde", None),
                    ("custody-test-support", Some("dev")),
                ],
            ),
            package(
                "custody-attestors",
                "0.3.0",
                &[("custody-sdk", None), ("custody-sigstore", None)],
            ),
            package(
                "custody-sigstore",
                "0.2.0",
                &[("custody-test-support", Some("dev"))],
            ),
            package("custody-sdk", "0.1.1", &[]),
            package("custody-test-support", "0.1.0", &[]),
        ]
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
        assert_eq!(
            list(&built_with(&packages, "verify-slsa")),
            "custody-attestors 0.3.0, custody-sdk 0.1.1, custody-sigstore 0.2.0"
        );
        assert_eq!(
            list(&built_with(&packages, "custody-sdk")),
            "no workspace crate"
        );
    }
}
