//! `custody artifacthub`: the ArtifactHub package of each policy's current version,
//! `artifacthub/<policy>/<version>/{artifacthub-pkg.yml,README.md}`, generated from the policy's
//! metadata.yml, README.md and CHANGELOG.md and the repository's `artifacthub-repo.yml`, after
//! checking that the policy's versions agree (see `release`). `--check` writes nothing and fails
//! when a file is missing or stale, when versions drift, or when any package under `artifacthub/`
//! (older versions too) breaks ArtifactHub's spec (see `artifacthub_spec`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use custody_sdk::image::ImageRef;
use serde::Serialize;
use serde_json::Value;

use crate::artifacthub_spec::{self, CONTEXT_AWARE, MUTATION, POLICY_IMAGE, RESOURCES, RULES};
use crate::changelog::Entry;
use crate::release::{self, Policy};

/// Exit status when the packages could not be generated, or `--check` found a problem.
pub const EXIT_FAILURE: u8 = 1;

pub const FOLDER: &str = "artifacthub";
pub const REPOSITORY_FILE: &str = "artifacthub-repo.yml";
pub const PACKAGE_FILE: &str = "artifacthub-pkg.yml";
pub const README_FILE: &str = "README.md";
/// The repositoryID that stands until a maintainer fills in the one ArtifactHub assigns.
pub const PLACEHOLDER_REPOSITORY_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The domain of a placeholder email (RFC 2606: never a real address).
pub const PLACEHOLDER_EMAIL_DOMAIN: &str = ".invalid";
/// Where Kubewarden's controller is on ArtifactHub (what a policy needs to run).
const CONTROLLER_PACKAGE: &str =
    "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller";
/// The issuer of GitHub Actions' OIDC tokens (the release workflow signs keylessly with one).
const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The release workflow, which signs what it publishes.
const RELEASE_WORKFLOW: &str = ".github/workflows/release.yml";

/// Generate the ArtifactHub packages of every policy's current version.
///
/// For each policy under policies/: checks that Cargo.toml's version, metadata.yml's
/// io.kubewarden.policy.version and com.github.release.tag (<policy>/v<version>), and the
/// newest CHANGELOG.md entry and its `Built with:` line (the workspace crates the policy
/// depends on, with their versions) agree; then writes
/// artifacthub/<policy>/<version>/artifacthub-pkg.yml and README.md. Every package under
/// artifacthub/ and artifacthub/artifacthub-repo.yml are then checked against ArtifactHub's
/// package spec (Kubewarden kind).
///
/// --check: write nothing; fail (exit 1) when a generated file is missing or differs from
/// what would be generated, or on any of the problems above.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Compare with the committed files instead of writing them.
    #[arg(long)]
    check: bool,
    /// The workspace root (holding Cargo.toml, policies/ and artifacthub/).
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root = &args.root;
    let folder = root.join(FOLDER);
    let repository = read_yaml(&folder.join(REPOSITORY_FILE))?;
    let mut problems: Vec<String> = artifacthub_spec::validate_repository(&repository)
        .into_iter()
        .map(|p| format!("{FOLDER}/{REPOSITORY_FILE}: {p}"))
        .collect();
    let maintainers = maintainers(&repository)?;
    if repository.get("repositoryID").and_then(Value::as_str) == Some(PLACEHOLDER_REPOSITORY_ID) {
        eprintln!(
            "note: {FOLDER}/{REPOSITORY_FILE}'s repositoryID is still the placeholder: put the ID \
             ArtifactHub assigns when the repository is added there"
        );
    }
    if maintainers
        .iter()
        .any(|m| m.email.ends_with(PLACEHOLDER_EMAIL_DOMAIN))
    {
        eprintln!(
            "note: {FOLDER}/{REPOSITORY_FILE}'s owners have a placeholder ({PLACEHOLDER_EMAIL_DOMAIN}) \
             email: put the owners' real addresses"
        );
    }

    let policies = release::policies(root)?;
    problems.extend(policies.iter().flat_map(Policy::version_drift));
    if !problems.is_empty() {
        return Ok(report(&problems));
    }

    let mut written = 0;
    for policy in &policies {
        for (path, content) in package_files(policy, &maintainers)? {
            let full = root.join(&path);
            let current = std::fs::read_to_string(&full).ok();
            if current.as_deref() == Some(content.as_str()) {
                continue;
            }
            if args.check {
                problems.push(format!(
                    "{}: {}; run `make artifacthub`",
                    path.display(),
                    if current.is_some() {
                        "stale"
                    } else {
                        "missing"
                    }
                ));
            } else {
                if let Some(dir) = full.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                std::fs::write(&full, content)
                    .with_context(|| format!("cannot write {}", full.display()))?;
                println!("wrote {}", path.display());
                written += 1;
            }
        }
    }
    problems.extend(check_folder(&folder, &policies)?);
    if !problems.is_empty() {
        return Ok(report(&problems));
    }
    let verb = if args.check { "checked" } else { "up to date" };
    println!(
        "artifacthub: {} package(s) {verb}{}",
        policies.len(),
        if written > 0 {
            format!(", {written} files written")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn report(problems: &[String]) -> ExitCode {
    for problem in problems {
        eprintln!("{problem}");
    }
    eprintln!("artifacthub: {} problem(s)", problems.len());
    ExitCode::from(EXIT_FAILURE)
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))
}

#[derive(Debug, Clone, Serialize)]
pub struct Maintainer {
    name: String,
    email: String,
}

/// The packages' maintainers: the repository's owners (artifacthub-repo.yml).
fn maintainers(repository: &Value) -> Result<Vec<Maintainer>> {
    let owners = repository
        .get("owners")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            anyhow!("{FOLDER}/{REPOSITORY_FILE} lists no owners (the packages' maintainers)")
        })?;
    owners
        .iter()
        .map(|owner| {
            let field = |key: &str| {
                owner
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("{FOLDER}/{REPOSITORY_FILE}: an owner has no {key}"))
            };
            Ok(Maintainer {
                name: field("name")?,
                email: field("email")?,
            })
        })
        .collect()
}

/// artifacthub-pkg.yml, in ArtifactHub's field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    version: String,
    name: String,
    display_name: String,
    created_at: String,
    description: String,
    license: String,
    #[serde(rename = "homeURL")]
    home_url: String,
    category: &'static str,
    containers_images: Vec<Image>,
    keywords: Vec<String>,
    links: Vec<Link>,
    install: String,
    changes: Vec<Change>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    contains_security_updates: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    prerelease: bool,
    maintainers: Vec<Maintainer>,
    provider: Provider,
    recommendations: Vec<Recommendation>,
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
struct Image {
    name: &'static str,
    image: String,
}

#[derive(Debug, Serialize)]
struct Link {
    name: &'static str,
    url: String,
}

#[derive(Debug, Serialize)]
struct Change {
    kind: String,
    description: String,
}

#[derive(Debug, Serialize)]
struct Provider {
    name: String,
}

#[derive(Debug, Serialize)]
struct Recommendation {
    url: &'static str,
}

/// What a policy's release is called and where it is.
struct Release<'a> {
    policy: &'a Policy,
    entry: &'a Entry,
    tag: String,
    /// The repository's home (`io.kubewarden.policy.url`, a GitHub repository).
    home: &'a str,
    /// `<ociUrl>:v<version>` and `<ociUrl>-gatekeeper:v<version>`.
    image: String,
    gatekeeper_image: String,
}

impl<'a> Release<'a> {
    fn new(policy: &'a Policy) -> Result<Self> {
        let entry = policy.changelog.entry(&policy.version).ok_or_else(|| {
            anyhow!(
                "{}: CHANGELOG.md has no entry for {}",
                policy.name,
                policy.version
            )
        })?;
        let oci = policy.required_annotation("io.kubewarden.policy.ociUrl")?;
        let home = policy
            .required_annotation("io.kubewarden.policy.url")?
            .trim_end_matches('/');
        Ok(Release {
            policy,
            entry,
            tag: policy.release_tag(),
            home,
            image: format!("{oci}:v{}", policy.version),
            gatekeeper_image: format!("{oci}-gatekeeper:v{}", policy.version),
        })
    }

    /// A file of the repository (a path from its root) at the release tag.
    fn file_url(&self, path: &str) -> String {
        format!("{}/blob/{}/{path}", self.home, self.tag)
    }
}

/// The generated files of `policy`'s current version, by path from the workspace root.
pub fn package_files(
    policy: &Policy,
    maintainers: &[Maintainer],
) -> Result<Vec<(PathBuf, String)>> {
    let release = Release::new(policy)?;
    let dir = Path::new(FOLDER)
        .join(&policy.name)
        .join(policy.version.to_string());
    let package = package(&release, maintainers)?;
    let yaml = serde_yaml_ng::to_string(&package).context("cannot encode artifacthub-pkg.yml")?;
    // The generator's output must pass the same checks as any package.
    let problems = artifacthub_spec::validate_package(&serde_yaml_ng::from_str(&yaml)?);
    if !problems.is_empty() {
        bail!(
            "{}: the generated {PACKAGE_FILE} is not valid:\n  {}",
            policy.name,
            problems.join("\n  ")
        );
    }
    let header = format!(
        "# Generated by `custody artifacthub` (`make artifacthub`) from policies/{name}/metadata.yml,\n\
         # README.md and CHANGELOG.md and {FOLDER}/{REPOSITORY_FILE}: do not edit, regenerate.\n",
        name = policy.name
    );
    Ok(vec![
        (dir.join(PACKAGE_FILE), header + &yaml),
        (dir.join(README_FILE), readme(&release)),
    ])
}

fn package(release: &Release<'_>, maintainers: &[Maintainer]) -> Result<Package> {
    let policy = release.policy;
    let entry = release.entry;
    let annotation = |key| policy.required_annotation(key).map(str::to_owned);
    let mutating = policy
        .metadata
        .get("mutating")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            anyhow!(
                "{}: metadata.yml's `mutating` must be true or false",
                policy.name
            )
        })?;
    let rules = policy
        .metadata
        .get("rules")
        .ok_or_else(|| anyhow!("{}: metadata.yml has no `rules`", policy.name))?;
    let mut annotations = BTreeMap::from([
        (MUTATION, mutating.to_string()),
        (RESOURCES, annotation("io.artifacthub.resources")?),
        (RULES, serde_yaml_ng::to_string(rules)?),
    ]);
    // Present only for context-aware policies (Kubewarden's catalog marks a policy context-aware
    // when the annotation is there).
    if let Some(resources) = policy
        .metadata
        .get("contextAwareResources")
        .filter(|r| r.as_array().is_some_and(|r| !r.is_empty()))
    {
        annotations.insert(CONTEXT_AWARE, serde_yaml_ng::to_string(resources)?);
    }
    Ok(Package {
        version: policy.version.to_string(),
        name: policy.name.clone(),
        display_name: annotation("io.artifacthub.displayName")?,
        created_at: format!("{}T00:00:00Z", entry.date.format("%Y-%m-%d")),
        description: annotation("io.kubewarden.policy.description")?,
        license: annotation("io.kubewarden.policy.license")?,
        home_url: release.home.to_owned(),
        category: "security",
        containers_images: vec![Image {
            name: POLICY_IMAGE,
            image: release.image.clone(),
        }],
        keywords: annotation("io.artifacthub.keywords")?
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        links: vec![
            Link {
                name: "source",
                url: format!(
                    "{}/tree/{}/policies/{}",
                    release.home, release.tag, policy.name
                ),
            },
            Link {
                name: "changelog",
                url: release.file_url(&format!("policies/{}/CHANGELOG.md", policy.name)),
            },
            Link {
                name: "release",
                url: format!("{}/releases/tag/{}", release.home, release.tag),
            },
        ],
        install: install(release),
        changes: entry
            .changes
            .iter()
            .map(|c| Change {
                kind: c.kind.to_ascii_lowercase(),
                description: c.description.clone(),
            })
            .collect(),
        contains_security_updates: entry.has_security_fixes(),
        prerelease: !policy.version.pre.is_empty(),
        maintainers: maintainers.to_vec(),
        provider: Provider {
            name: annotation("io.kubewarden.policy.author")?,
        },
        recommendations: vec![Recommendation {
            url: CONTROLLER_PACKAGE,
        }],
        annotations,
    })
}

/// The INSTALL text: pull, scaffold and apply with kwctl and kubectl; the Gatekeeper-mode build;
/// the signature and the SBOM.
fn install(release: &Release<'_>) -> String {
    let name = &release.policy.name;
    let image = &release.image;
    format!(
        "Pull the policy with [kwctl](https://github.com/kubewarden/kwctl), generate a \
         `ClusterAdmissionPolicy` (tune its settings: see the README) and apply it:\n\
         \n\
         ```console\n\
         kwctl pull registry://{image}\n\
         kwctl scaffold manifest --type ClusterAdmissionPolicy registry://{image} > {name}.yaml\n\
         kubectl apply -f {name}.yaml\n\
         ```\n\
         \n\
         The Gatekeeper-mode build of the same version (OPA wasm ABI, `executionMode: gatekeeper`) \
         is `registry://{gatekeeper}`.\n\
         \n\
         Both are signed keylessly by the release workflow, and carry a CycloneDX SBOM (at \
         cosign's `sha256-<digest>.sbom` tag). To check the signature:\n\
         \n\
         ```console\n\
         cosign verify \\\n  \
           --certificate-identity {home}/{RELEASE_WORKFLOW}@refs/tags/{tag} \\\n  \
           --certificate-oidc-issuer {GITHUB_ACTIONS_ISSUER} \\\n  \
           {image}\n\
         ```\n",
        gatekeeper = release.gatekeeper_image,
        home = release.home,
        tag = release.tag,
    )
}

/// The package's README: the policy's README (its relative links made absolute, to the files at
/// the release tag), then what the release is.
fn readme(release: &Release<'_>) -> String {
    let policy = release.policy;
    let entry = release.entry;
    let mut text = format!(
        "<!-- Generated by `custody artifacthub` from policies/{}/README.md and CHANGELOG.md: do \
         not edit, regenerate. -->\n\n",
        policy.name
    );
    text.push_str(&absolute_links(&policy.readme, |target| {
        release.file_url(&normalize(&format!("policies/{}/{target}", policy.name)))
    }));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n## Release {version}\n\n\
         - Release tag `{tag}`, {date}.\n\
         - Module (waPC): `registry://{image}`\n\
         - Module (Gatekeeper mode): `registry://{gatekeeper}`\n\
         - Built with {built_with}.\n\
         - Signed keylessly by the release workflow, with a CycloneDX SBOM attached (cosign's \
           `sha256-<digest>.sbom` tag).\n\n\
         ### Changes\n\n",
        version = policy.version,
        tag = release.tag,
        date = entry.date.format("%Y-%m-%d"),
        image = release.image,
        gatekeeper = release.gatekeeper_image,
        built_with = release::list(&entry.built_with),
    ));
    for change in &entry.changes {
        text.push_str(&format!("- {}: {}\n", change.kind, change.description));
    }
    text
}

/// `text` with each relative Markdown link target (`](path)`, not a URL, an absolute path or an
/// anchor) replaced by `absolute(path)`.
fn absolute_links(text: &str, absolute: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        let (before, after) = rest.split_at(start + 2);
        out.push_str(before);
        let end = after.find(')').unwrap_or(after.len());
        let (target, tail) = after.split_at(end);
        let relative = !target.is_empty()
            && !target.starts_with('#')
            && !target.starts_with('/')
            && !target.contains("://")
            && !target.starts_with("mailto:");
        if relative {
            out.push_str(&absolute(target));
        } else {
            out.push_str(target);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A path with `.` and `..` resolved (`policies/a/../b/./c.md#x` → `policies/b/c.md#x`); a `..`
/// past the start is kept.
fn normalize(target: &str) -> String {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, format!("#{anchor}")),
        None => (target, String::new()),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("{}{anchor}", parts.join("/"))
}

/// Every package under artifacthub/: a folder per policy, a folder per version of it (one its
/// changelog has), each package valid and naming that policy and version.
fn check_folder(folder: &Path, policies: &[Policy]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let by_name: BTreeMap<&str, &Policy> = policies.iter().map(|p| (p.name.as_str(), p)).collect();
    for policy_dir in subdirectories(folder)? {
        let name = file_name(&policy_dir);
        let Some(policy) = by_name.get(name.as_str()) else {
            problems.push(format!(
                "{FOLDER}/{name}: not a policy (no policies/{name})"
            ));
            continue;
        };
        for version_dir in subdirectories(&policy_dir)? {
            let version = file_name(&version_dir);
            let shown = format!("{FOLDER}/{name}/{version}");
            let known = semver::Version::parse(&version)
                .ok()
                .is_some_and(|v| policy.changelog.entry(&v).is_some());
            if !known {
                problems.push(format!(
                    "{shown}: policies/{name}/CHANGELOG.md has no version {version}"
                ));
            }
            let path = version_dir.join(PACKAGE_FILE);
            let document = match read_yaml(&path) {
                Ok(document) => document,
                Err(error) => {
                    problems.push(format!("{shown}/{PACKAGE_FILE}: {error:#}"));
                    continue;
                }
            };
            problems.extend(
                artifacthub_spec::validate_package(&document)
                    .into_iter()
                    .map(|p| format!("{shown}/{PACKAGE_FILE}: {p}")),
            );
            let tag = format!("v{version}");
            let images = document.get("containersImages").and_then(Value::as_array);
            let policy_image = images
                .into_iter()
                .flatten()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(POLICY_IMAGE))
                .and_then(|i| i.get("image")?.as_str());
            if let Some(image) = policy_image {
                let image_tag = ImageRef::parse(image)
                    .ok()
                    .and_then(|r| r.tag().map(str::to_owned));
                if image_tag.as_deref() != Some(tag.as_str()) {
                    problems.push(format!(
                        "{shown}/{PACKAGE_FILE}: the `{POLICY_IMAGE}` image {image} is not tagged {tag}"
                    ));
                }
            }
            for (key, expected) in [("name", &name), ("version", &version)] {
                let found = document.get(key).and_then(Value::as_str);
                if found.is_some_and(|f| f != expected) {
                    problems.push(format!(
                        "{shown}/{PACKAGE_FILE}: {key} is `{}`, the folder says {expected}",
                        found.unwrap_or_default()
                    ));
                }
            }
            if !version_dir.join(README_FILE).is_file() {
                problems.push(format!("{shown}: no {README_FILE}"));
            }
        }
    }
    Ok(problems)
}

fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::tests::policy;

    fn owners() -> Vec<Maintainer> {
        vec![Maintainer {
            name: "custody maintainers".to_owned(),
            email: "maintainers@example.org".to_owned(),
        }]
    }

    fn generated() -> Result<(Value, String, String)> {
        let files = package_files(&policy()?, &owners())?;
        let [(pkg_path, pkg), (readme_path, readme)] = files.as_slice() else {
            bail!("expected two files, got {}", files.len());
        };
        assert_eq!(
            pkg_path,
            Path::new("artifacthub/ban-latest/0.2.0/artifacthub-pkg.yml")
        );
        assert_eq!(
            readme_path,
            Path::new("artifacthub/ban-latest/0.2.0/README.md")
        );
        Ok((serde_yaml_ng::from_str(pkg)?, pkg.clone(), readme.clone()))
    }

    #[test]
    fn the_package_says_what_the_policy_metadata_and_changelog_say() -> Result<()> {
        let (package, text, _) = generated()?;
        assert!(text.starts_with("# Generated by `custody artifacthub`"));
        assert_eq!(
            artifacthub_spec::validate_package(&package),
            Vec::<String>::new()
        );
        assert_eq!(package["version"], "0.2.0");
        assert_eq!(package["name"], "ban-latest");
        assert_eq!(package["displayName"], "Ban latest image tag");
        // The changelog entry's date: the same on every run.
        assert_eq!(package["createdAt"], "2026-12-01T00:00:00Z");
        assert_eq!(package["license"], "Apache-2.0");
        assert_eq!(
            package["containersImages"],
            serde_json::json!([{"name": "policy",
                "image": "ghcr.io/custody-policies/policies/ban-latest:v0.2.0"}])
        );
        assert_eq!(
            package["keywords"],
            serde_json::json!(["supply chain", "image", "tag"])
        );
        assert_eq!(
            package["changes"],
            serde_json::json!([{"kind": "added", "description": "Banned tags."},
                               {"kind": "security", "description": "A fix."}])
        );
        assert_eq!(package["containsSecurityUpdates"], true);
        assert!(package.get("prerelease").is_none());
        assert_eq!(package["provider"]["name"], "custody maintainers");
        assert_eq!(
            package["maintainers"][0]["email"],
            "maintainers@example.org"
        );
        assert_eq!(
            package["links"][1]["url"],
            "https://github.com/custody-policies/custody/blob/ban-latest/v0.2.0/policies/ban-latest/CHANGELOG.md"
        );
        let annotations = &package["annotations"];
        assert_eq!(annotations[MUTATION], "false");
        assert_eq!(annotations[RESOURCES], "Pod");
        let rules: Value =
            serde_yaml_ng::from_str(annotations[RULES].as_str().unwrap_or_default())?;
        assert_eq!(rules, policy()?.metadata["rules"]);
        // Not context-aware: no such annotation at all.
        assert!(annotations.get(CONTEXT_AWARE).is_none());
        let install = package["install"].as_str().unwrap_or_default();
        assert!(install
            .contains("kwctl pull registry://ghcr.io/custody-policies/policies/ban-latest:v0.2.0"));
        assert!(install
            .contains("registry://ghcr.io/custody-policies/policies/ban-latest-gatekeeper:v0.2.0"));
        assert!(install.contains(
            "--certificate-identity https://github.com/custody-policies/custody/.github/workflows/release.yml@refs/tags/ban-latest/v0.2.0"
        ));
        Ok(())
    }

    #[test]
    fn context_aware_policies_say_which_resources_they_read() -> Result<()> {
        let mut p = policy()?;
        p.metadata["contextAwareResources"] =
            serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap"}]);
        p.metadata["mutating"] = serde_json::json!(true);
        let files = package_files(&p, &owners())?;
        let package: Value = serde_yaml_ng::from_str(&files[0].1)?;
        assert_eq!(package["annotations"][MUTATION], "true");
        let resources: Value = serde_yaml_ng::from_str(
            package["annotations"][CONTEXT_AWARE]
                .as_str()
                .unwrap_or_default(),
        )?;
        assert_eq!(resources, p.metadata["contextAwareResources"]);
        Ok(())
    }

    #[test]
    fn a_prerelease_is_marked() -> Result<()> {
        let mut p = policy()?;
        p.version = semver::Version::parse("0.3.0-rc.1")?;
        p.changelog = crate::changelog::Changelog::parse(
            "## [0.3.0-rc.1] - 2026-12-02\n\nBuilt with: custody-sdk 0.1.0.\n\n### Changed\n\n- X.\n",
        )?;
        let files = package_files(&p, &owners())?;
        let package: Value = serde_yaml_ng::from_str(&files[0].1)?;
        assert_eq!(package["prerelease"], true);
        assert!(package.get("containsSecurityUpdates").is_none());
        Ok(())
    }

    #[test]
    fn missing_metadata_is_an_error_not_an_invalid_package() -> Result<()> {
        let mut p = policy()?;
        if let Some(map) = p.metadata["annotations"].as_object_mut() {
            map.remove("io.kubewarden.policy.ociUrl");
        }
        let error = package_files(&p, &owners()).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("io.kubewarden.policy.ociUrl")));
        // An ociUrl that makes no image reference: the generated package fails the spec check.
        let mut p = policy()?;
        p.metadata["annotations"]["io.kubewarden.policy.ociUrl"] =
            serde_json::json!("ghcr.io/Bad Name");
        let error = package_files(&p, &owners()).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("containersImages[0].image")));
        Ok(())
    }

    #[test]
    fn the_readme_links_to_files_at_the_release_tag() -> Result<()> {
        let (_, _, readme) = generated()?;
        let base = "https://github.com/custody-policies/custody/blob/ban-latest/v0.2.0";
        assert!(readme.contains(&format!(
            "[verify-slsa]({base}/policies/verify-slsa/README.md#settings)"
        )));
        assert!(readme.contains(&format!("[the layout]({base}/README.md)")));
        assert!(readme.contains("[docs](https://example.com/x)"));
        assert!(readme.contains("[below](#settings)"));
        assert!(readme.contains("- Built with custody-sdk 0.1.0."));
        assert!(readme.contains("- Security: A fix."));
        Ok(())
    }

    #[test]
    fn relative_links_are_resolved() {
        let url = |path: &str| format!("https://h/{}", normalize(&format!("policies/p/{path}")));
        assert_eq!(
            absolute_links(
                "[a](../x/README.md#s) [b](./c.md) [c](d/../e.md) [d](#s) [e](https://x/y) \
                 [f](../../../up)",
                url
            ),
            "[a](https://h/policies/x/README.md#s) [b](https://h/policies/p/c.md) \
             [c](https://h/policies/p/e.md) [d](#s) [e](https://x/y) [f](https://h/../up)"
        );
    }
}
