//! `custody scaffold`: the manifests that deploy a released policy in Kubewarden, like `kwctl
//! scaffold manifest`, with the module pinned by digest and every setting commented.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use custody_sdk::{Digest, DigestAlgorithm, ImageRef};
use serde_json::{json, Value};

use crate::annotate::{check_metadata, gatekeeper_metadata};
use crate::input;
use crate::oci::RegistryArgs;

/// Exit status when the manifests could not be made.
pub const EXIT_FAILURE: u8 = 1;

/// Where a policy's settings, with a comment on each, are kept (beside its metadata.yml).
pub const SETTINGS_EXAMPLE: &str = "settings.example.yml";
/// The settings key naming the namespace of the ConfigMaps a context-aware policy reads.
const ATTESTATIONS_NAMESPACE_SETTING: &str = "attestationsNamespace";
const VERSION_ANNOTATION: &str = "io.kubewarden.policy.version";
const OCI_URL_ANNOTATION: &str = "io.kubewarden.policy.ociUrl";
const TITLE_ANNOTATION: &str = "io.kubewarden.policy.title";
/// Copied onto the ClusterAdmissionPolicy, as `kwctl scaffold manifest` does.
const POLICY_ANNOTATIONS: [&str; 2] = [
    "io.kubewarden.policy.severity",
    "io.kubewarden.policy.category",
];
/// Kubewarden's module reference scheme for OCI registries.
const REGISTRY_SCHEME: &str = "registry://";

/// Print the manifests that deploy a policy in Kubewarden (multi-document YAML on stdout).
///
/// A `ClusterAdmissionPolicy` (policies.kubewarden.io/v1) built from the policy's metadata.yml
/// (rules, mutating, backgroundAudit, contextAwareResources; severity and category annotations),
/// its module pinned by digest (`registry://<repository>@sha256:<hex>`), and its settings from
/// the policy's settings.example.yml, every setting commented with its meaning and default.
/// Policies that read cluster objects (contextAwareResources) also get the Role and RoleBinding
/// that let the policy server's service account read them in the attestations namespace.
///
/// --gatekeeper prints the Gatekeeper-mode build's instead (artifact `<ociUrl>-gatekeeper`,
/// `mutating: false`), and for context-aware policies also Gatekeeper's sync `Config` for hosts
/// fed from Gatekeeper's replicated data. Deploy one build or the other, not both.
///
/// The module: `<ociUrl>:v<version>` from metadata.yml (or --image); a tag is resolved to its
/// manifest digest in the registry (credentials from the docker config; plain HTTP to loopback
/// registries only, unless --plain-http), a digest in --image or --digest is used as given.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy: a directory under ./policies (`ban-latest`) or the path of a policy directory
    /// (holding metadata.yml and settings.example.yml).
    #[arg(value_name = "POLICY")]
    policy: String,
    /// The Gatekeeper-mode build (OPA wasm ABI, Kubewarden's `gatekeeper` execution mode).
    #[arg(long)]
    gatekeeper: bool,
    /// The artifact, `REPOSITORY:TAG` or `REPOSITORY@sha256:<hex>` (a `registry://` prefix is
    /// allowed). Default: `<ociUrl>:v<version>` from metadata.yml, `<ociUrl>-gatekeeper:v<version>`
    /// with --gatekeeper.
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// The module's manifest digest, instead of resolving the tag in the registry.
    #[arg(long, value_name = "sha256:HEX")]
    digest: Option<String>,
    /// The PolicyServer that runs the policy.
    #[arg(long, value_name = "NAME", default_value = "default")]
    policy_server: String,
    /// The namespace the policy server runs in (for the RoleBinding of context-aware policies).
    #[arg(long, value_name = "NAMESPACE", default_value = "kubewarden")]
    policy_server_namespace: String,
    /// The policy server's service account (for the RoleBinding of context-aware policies).
    #[arg(long, value_name = "NAME", default_value = "policy-server")]
    service_account: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let module = module_reference(&args, &policy)?;
    print!("{}", manifests(&args, &policy, &module)?);
    Ok(ExitCode::SUCCESS)
}

/// A policy's directory, as scaffold reads it.
struct Policy {
    dir: PathBuf,
    /// metadata.yml, checked as `custody annotate` checks it.
    metadata: Value,
    /// settings.example.yml, as written (comments kept).
    settings_text: String,
    /// settings.example.yml, parsed.
    settings: Value,
}

impl Policy {
    /// `name` is a directory under `./policies`, or the path of a policy directory.
    fn load(name: &str) -> Result<Policy> {
        let dir = find_policy(name)?;
        let metadata_path = dir.join("metadata.yml");
        let metadata = input::read_document(&metadata_path)?;
        check_metadata(&metadata)
            .with_context(|| format!("invalid metadata in {}", metadata_path.display()))?;
        let settings_path = dir.join(SETTINGS_EXAMPLE);
        let settings_text = std::fs::read_to_string(&settings_path).with_context(|| {
            format!(
                "cannot read {} (each policy keeps its settings, commented, there)",
                settings_path.display()
            )
        })?;
        let settings = match serde_yaml_ng::from_str::<Value>(&settings_text)
            .with_context(|| format!("{} is not valid YAML", settings_path.display()))?
        {
            Value::Null => Value::Object(serde_json::Map::new()),
            settings @ Value::Object(_) => settings,
            _ => bail!("{}: settings must be a mapping", settings_path.display()),
        };
        Ok(Policy {
            dir,
            metadata,
            settings_text,
            settings,
        })
    }

    /// A string annotation of metadata.yml.
    fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    fn required_annotation(&self, key: &str) -> Result<&str> {
        self.annotation(key).ok_or_else(|| {
            anyhow!(
                "{}: metadata.yml has no `{key}` annotation",
                self.dir.display()
            )
        })
    }

    /// The policy's name: its title annotation, else its directory's name.
    fn name(&self) -> String {
        self.annotation(TITLE_ANNOTATION).map_or_else(
            || {
                self.dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            },
            str::to_owned,
        )
    }
}

/// The policy directory `name` means: a path holding metadata.yml, or `policies/<name>`.
fn find_policy(name: &str) -> Result<PathBuf> {
    let as_path = Path::new(name);
    if as_path.join("metadata.yml").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let known = Path::new("policies");
    let is_plain_name = !name.is_empty() && as_path.components().count() == 1;
    if is_plain_name && known.join(name).join("metadata.yml").is_file() {
        return Ok(known.join(name));
    }
    let mut names: Vec<String> = std::fs::read_dir(known)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("metadata.yml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("unknown policy {name:?}: no {name}/metadata.yml, and no ./policies directory (run from the custody repository, or give a policy directory)");
    }
    bail!(
        "unknown policy {name:?}: no {name}/metadata.yml nor policies/{name}/metadata.yml (policies: {})",
        names.join(", ")
    )
}

/// The module, pinned: the repository and tag it was resolved from (if any), and its digest.
#[derive(Debug)]
struct Module {
    /// `domain/path`, canonical.
    repository: String,
    /// The tag the digest was resolved from, or was given with.
    tag: Option<String>,
    /// `sha256:<hex>`.
    digest: Digest,
}

impl Module {
    /// Kubewarden's reference: `registry://<repository>@sha256:<hex>`.
    fn reference(&self) -> String {
        format!("{REGISTRY_SCHEME}{}@{}", self.repository, self.digest)
    }
}

/// A `--digest` or a reference's digest: sha256 only (what Kubewarden and the registries pin).
fn sha256_digest(text: &str, what: &str) -> Result<Digest> {
    let digest =
        Digest::parse(text).map_err(|e| anyhow!("{what} {text:?} is not a digest: {e}"))?;
    if digest.algorithm() != DigestAlgorithm::Sha256 {
        bail!(
            "{what} {text:?}: only sha256 digests are supported (registries and Kubewarden pin modules by sha256)"
        );
    }
    Ok(digest)
}

/// The module reference: --image (or the default artifact) with --digest, its own digest, or the
/// digest its tag resolves to.
fn module_reference(args: &Args, policy: &Policy) -> Result<Module> {
    let image = match &args.image {
        Some(image) => image
            .strip_prefix(REGISTRY_SCHEME)
            .unwrap_or(image)
            .to_owned(),
        None => {
            let version = policy.required_annotation(VERSION_ANNOTATION)?;
            let url = policy.required_annotation(OCI_URL_ANNOTATION)?;
            let suffix = if args.gatekeeper { "-gatekeeper" } else { "" };
            format!("{url}{suffix}:v{version}")
        }
    };
    let parsed = ImageRef::parse(&image)
        .map_err(|e| anyhow!("--image {image:?} is not an image reference: {e}"))?;
    let repository = parsed.name();
    let tag = parsed.tag().map(str::to_owned);
    let given = parsed
        .digest()
        .map(|d| sha256_digest(&d.to_string(), "the digest of --image"))
        .transpose()?;
    let flag = args
        .digest
        .as_deref()
        .map(|d| sha256_digest(d, "--digest"))
        .transpose()?;
    let digest = match (given, flag) {
        (Some(given), Some(flag)) if given != flag => {
            bail!("--image {image} names the digest {given}, and --digest says {flag}")
        }
        (Some(digest), _) | (None, Some(digest)) => digest,
        (None, None) => {
            let Some(tag) = &tag else {
                bail!("--image {image} has neither a tag nor a digest: give REPOSITORY:TAG or REPOSITORY@sha256:<hex>");
            };
            resolve(&args.registry, &format!("{repository}:{tag}"))?
        }
    };
    Ok(Module {
        repository,
        tag,
        digest,
    })
}

/// The manifest digest `image`'s tag points at, from its registry.
fn resolve(registry: &RegistryArgs, image: &str) -> Result<Digest> {
    let mut client = custody_registry::Client::new(registry.options())?;
    let answer = client.manifest_digest(image);
    for note in client.take_notes() {
        eprintln!("note: {note}");
    }
    let digest = answer.with_context(|| {
        format!(
            "cannot resolve {image} to a digest (is it published? or give --digest sha256:<hex>)"
        )
    })?;
    sha256_digest(&digest, &format!("the registry's digest for {image}"))
}

/// The manifests, as YAML text.
fn manifests(args: &Args, policy: &Policy, module: &Module) -> Result<String> {
    let mut metadata = policy.metadata.clone();
    if args.gatekeeper {
        gatekeeper_metadata(&mut metadata)?;
    }
    let field = |key: &str| metadata.get(key).cloned().unwrap_or(Value::Null);
    let context_aware: Vec<Value> = field("contextAwareResources")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let base = policy.name();
    let name = if args.gatekeeper {
        format!("{base}-gatekeeper")
    } else {
        base.clone()
    };
    let mut annotations = serde_json::Map::new();
    for key in POLICY_ANNOTATIONS {
        if let Some(value) = policy.annotation(key) {
            annotations.insert(key.to_owned(), Value::from(value));
        }
    }
    let pinned_from = match &module.tag {
        Some(tag) => format!("{}:{tag}", module.repository),
        None => module.repository.clone(),
    };
    let build = if args.gatekeeper {
        "the Gatekeeper-mode build (OPA wasm ABI; Kubewarden reads `executionMode: gatekeeper` from its metadata and passes `settings` as the Gatekeeper `parameters`)"
    } else {
        "the waPC build (Kubewarden's `kubewarden-wapc` execution mode)"
    };

    let mut out = String::new();
    writeln!(out, "# {base}, {build}.")?;
    writeln!(
        out,
        "# Made by `custody scaffold` from {}: review the settings, then `kubectl apply -f`.",
        policy.dir.display()
    )?;
    writeln!(out, "apiVersion: policies.kubewarden.io/v1")?;
    writeln!(out, "kind: ClusterAdmissionPolicy")?;
    writeln!(out, "metadata:")?;
    writeln!(
        out,
        "{}",
        yaml_field("name", &Value::from(name.as_str()), 2)?
    )?;
    if !annotations.is_empty() {
        writeln!(
            out,
            "{}",
            yaml_field("annotations", &Value::Object(annotations), 2)?
        )?;
    }
    writeln!(out, "spec:")?;
    writeln!(
        out,
        "  # The PolicyServer that runs it (`default`: the one the kubewarden-defaults chart installs)."
    )?;
    writeln!(
        out,
        "{}",
        yaml_field("policyServer", &Value::from(args.policy_server.as_str()), 2)?
    )?;
    writeln!(out, "  # protect: requests it rejects are rejected; monitor: they are only logged and reported.")?;
    writeln!(out, "  # monitor -> protect may be changed in place; protect -> monitor needs the policy recreated.")?;
    writeln!(out, "  mode: protect")?;
    writeln!(
        out,
        "  # {pinned_from}, pinned by its manifest digest: what runs cannot change under the tag."
    )?;
    writeln!(
        out,
        "{}",
        yaml_field("module", &Value::from(module.reference()), 2)?
    )?;
    writeln!(
        out,
        "  # The requests it sees (from metadata.yml). Operations: CREATE, UPDATE, DELETE, CONNECT."
    )?;
    writeln!(out, "{}", yaml_field("rules", &field("rules"), 2)?)?;
    if args.gatekeeper {
        writeln!(
            out,
            "  # false: a Gatekeeper-mode module cannot mutate (where the waPC build would pin a tag, it denies)."
        )?;
    } else {
        writeln!(
            out,
            "  # Whether Kubewarden lets it change the objects it admits (metadata.yml; tag pinning needs true)."
        )?;
    }
    writeln!(out, "{}", yaml_field("mutating", &field("mutating"), 2)?)?;
    writeln!(
        out,
        "  # Whether the audit scanner also evaluates the resources already in the cluster (default true)."
    )?;
    let background_audit = match field("backgroundAudit") {
        Value::Null => Value::Bool(true),
        value => value,
    };
    writeln!(
        out,
        "{}",
        yaml_field("backgroundAudit", &background_audit, 2)?
    )?;
    let namespace = attestations_namespace(policy);
    if !context_aware.is_empty() {
        writeln!(out, "  # The Kubernetes objects it may read while it evaluates, with the policy server's service")?;
        writeln!(
            out,
            "  # account (see the Role below): the ConfigMaps in {namespace}."
        )?;
        if args.gatekeeper {
            writeln!(
                out,
                "  # Kubewarden's gatekeeper mode gives them to the module as `data.inventory`."
            )?;
        }
        writeln!(
            out,
            "{}",
            yaml_field(
                "contextAwareResources",
                &Value::Array(context_aware.clone()),
                2
            )?
        )?;
    }
    writeln!(
        out,
        "  # failurePolicy: Fail       # Fail (default): a policy error rejects the request; Ignore: admits it"
    )?;
    writeln!(
        out,
        "  # timeoutSeconds: 10        # 1 to 30 (default 10): then failurePolicy applies"
    )?;
    writeln!(
        out,
        "  # namespaceSelector: {{}}    # a label selector over namespaces (default: every namespace)"
    )?;
    writeln!(
        out,
        "  # Every setting of {base}, with its meaning and default ({SETTINGS_EXAMPLE}):"
    )?;
    if policy.settings.as_object().is_some_and(|s| s.is_empty()) {
        writeln!(out, "  settings: {{}}")?;
    } else {
        writeln!(out, "  settings:")?;
    }
    for line in policy.settings_text.lines() {
        if line.trim().is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, "    {line}")?;
        }
    }

    if !context_aware.is_empty() {
        out.push_str(&rbac(args, &base, &namespace, &context_aware)?);
        if args.gatekeeper {
            out.push_str(&gatekeeper_sync(&context_aware)?);
        }
    }
    Ok(out)
}

/// The namespace of the objects a context-aware policy reads: the settings' attestations
/// namespace, else custody's default.
fn attestations_namespace(policy: &Policy) -> String {
    policy
        .settings
        .get(ATTESTATIONS_NAMESPACE_SETTING)
        .and_then(Value::as_str)
        .unwrap_or(custody_attestors::DEFAULT_NAMESPACE)
        .to_owned()
}

/// The Role letting the policy server read the context-aware resources in `namespace`, and its
/// RoleBinding to the policy server's service account.
fn rbac(args: &Args, policy: &str, namespace: &str, resources: &[Value]) -> Result<String> {
    let mut rules = Vec::new();
    for resource in resources {
        let (group, _version, kind) = group_version_kind(resource)?;
        rules.push(json!({
            "apiGroups": [group],
            "resources": [resource_name(&kind)],
            "verbs": ["get", "list", "watch"],
        }));
    }
    let role_name = format!("custody-{policy}-reader");
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": role_name, "namespace": namespace},
        "rules": rules,
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role_name, "namespace": namespace},
        "subjects": [{
            "kind": "ServiceAccount",
            "name": args.service_account,
            "namespace": args.policy_server_namespace,
        }],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
    });
    let mut out = String::new();
    writeln!(out, "---")?;
    writeln!(
        out,
        "# {policy} reads these objects in {namespace} through the policy server, whose service account"
    )?;
    writeln!(
        out,
        "# needs to be allowed to (Kubewarden's default: `{}` in `{}`, the kubewarden-defaults",
        args.service_account, args.policy_server_namespace
    )?;
    writeln!(out, "# chart's policyServer.serviceAccountName; --service-account and --policy-server-namespace")?;
    writeln!(
        out,
        "# name another). The namespace must exist: kubectl create namespace {namespace}"
    )?;
    out.push_str(&serde_yaml_ng::to_string(&role)?);
    writeln!(out, "---")?;
    out.push_str(&serde_yaml_ng::to_string(&binding)?);
    Ok(out)
}

/// Gatekeeper's sync `Config`: replicates the context-aware kinds into `data.inventory`.
fn gatekeeper_sync(resources: &[Value]) -> Result<String> {
    let mut sync = Vec::new();
    for resource in resources {
        let (group, version, kind) = group_version_kind(resource)?;
        sync.push(json!({"group": group, "version": version, "kind": kind}));
    }
    let config = json!({
        "apiVersion": "config.gatekeeper.sh/v1alpha1",
        "kind": "Config",
        "metadata": {"name": "config", "namespace": "gatekeeper-system"},
        "spec": {"sync": {"syncOnly": sync}},
    });
    let mut out = String::new();
    writeln!(out, "---")?;
    writeln!(out, "# For a host fed from a Gatekeeper installation's replicated data (Kubewarden's gatekeeper")?;
    writeln!(
        out,
        "# mode needs only contextAwareResources above): Gatekeeper replicates these kinds into"
    )?;
    writeln!(out, "# data.inventory. Gatekeeper reads one Config, named `config`, in its namespace: if you have")?;
    writeln!(
        out,
        "# one, add these entries to its syncOnly instead of replacing it."
    )?;
    out.push_str(&serde_yaml_ng::to_string(&config)?);
    Ok(out)
}

/// A context-aware resource's API group, version and kind (`apiVersion: v1` is the core group).
fn group_version_kind(resource: &Value) -> Result<(String, String, String)> {
    let text = |key: &str| {
        resource
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("contextAwareResources: {resource} has no `{key}`"))
    };
    let api_version = text("apiVersion")?;
    let kind = text("kind")?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Ok((group.to_owned(), version.to_owned(), kind.to_owned()))
}

/// The resource name (lower-case plural) of a kind, as RBAC rules name it: `ConfigMap` ->
/// `configmaps`, `Ingress` -> `ingresses`, `NetworkPolicy` -> `networkpolicies`.
fn resource_name(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// `key: value` at `indent` spaces: on one line for scalars and empty collections, else as a
/// block below the key.
fn yaml_field(key: &str, value: &Value, indent: usize) -> Result<String> {
    let pad = " ".repeat(indent);
    let text = serde_yaml_ng::to_string(value).context("cannot write YAML")?;
    let block = match value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        _ => false,
    };
    if !block {
        return Ok(format!("{pad}{key}: {}", text.trim_end()));
    }
    let mut out = format!("{pad}{key}:");
    for line in text.lines() {
        out.push('\n');
        out.push_str(&pad);
        out.push_str("  ");
        out.push_str(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_lower_case_plurals() {
        for (kind, name) in [
            ("ConfigMap", "configmaps"),
            ("Secret", "secrets"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("Namespace", "namespaces"),
        ] {
            assert_eq!(resource_name(kind), name, "{kind}");
        }
    }

    #[test]
    fn fields_are_written_as_yaml_that_reads_back() -> Result<()> {
        let rules = json!([{"apiGroups": [""], "resources": ["pods"]}]);
        let text = format!(
            "spec:\n{}\n{}\n{}\n",
            yaml_field("rules", &rules, 2)?,
            yaml_field("empty", &json!([]), 2)?,
            yaml_field("odd", &Value::from("a: b # c"), 2)?
        );
        let read: Value = serde_yaml_ng::from_str(&text)?;
        assert_eq!(
            read,
            json!({"spec": {"rules": rules, "empty": [], "odd": "a: b # c"}})
        );
        Ok(())
    }

    #[test]
    fn group_version_kind_reads_core_and_named_groups() -> Result<()> {
        assert_eq!(
            group_version_kind(&json!({"apiVersion": "v1", "kind": "ConfigMap"}))?,
            ("".into(), "v1".into(), "ConfigMap".into())
        );
        assert_eq!(
            group_version_kind(&json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"}))?,
            ("networking.k8s.io".into(), "v1".into(), "Ingress".into())
        );
        assert!(group_version_kind(&json!({"kind": "ConfigMap"})).is_err());
        Ok(())
    }
}
