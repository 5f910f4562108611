//! `custody check`: evaluate plain Kubernetes manifests against a set of policies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use custody_host::{
    json_patch, module_abi, Abi, Cluster, Host, PolicyInstance, PolicyModule, ValidationResponse,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::input;
use crate::oci::{self, HostCalls, RegistryArgs};

/// Exit status when the inputs could not be read (YAML error, unreadable or invalid module, ...).
pub const EXIT_INPUT_ERROR: u8 = 2;
/// Exit status when something was denied or could not be evaluated.
const EXIT_DENIED: u8 = 1;

/// Check Kubernetes manifests against policies, as if each object were created.
///
/// Every document of every manifest (multi-document YAML; `kind: List` items count one by one)
/// becomes a CREATE AdmissionRequest (dry run, user `custody-check`, namespace `default` unless
/// set) and is evaluated by each policy whose metadata `rules` match its group, version, resource
/// and the CREATE operation (a policy without rules gets everything). A denial message with
/// several lines gives one row per line.
///
/// Host capabilities, as in `custody eval`: the policies' `oci` calls (v1/manifest_digest,
/// v1/oci_manifest, v1/oci_manifest_config, v2/verify of cosign signatures) are answered from the
/// images' registries (plain HTTP to loopback registries only, unless --plain-http or
/// --no-plain-http; credentials from the docker config); every other call fails. With
/// --capabilities FILE every call is answered from that script instead (offline). One registry
/// client and one verification cache (successes, 60 s) serve every policy.
///
/// Exit status: 0 everything allowed; 1 something was denied or could not be evaluated; 2 an
/// input could not be read (YAML error, invalid module, ...) or a policy rejected its settings
/// (then nothing is evaluated).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A policy module (.wasm) or a directory of them (every *.wasm, sorted); repeatable.
    /// A policy's name is its file stem (without `.gatekeeper`). From a directory, only the
    /// modules of the --abi build are taken.
    #[arg(
        long = "policies",
        short = 'p',
        value_name = "DIR|WASM",
        required = true
    )]
    policies: Vec<PathBuf>,
    /// Settings for one policy, JSON or YAML (default: `{}`); repeatable.
    #[arg(long = "settings", short = 's', value_name = "POLICY=FILE", value_parser = parse_settings_flag)]
    settings: Vec<(String, PathBuf)>,
    /// Which build of the policies to run: waPC modules (kubewarden) or OPA-ABI modules in
    /// Gatekeeper's contract (gatekeeper, which cannot mutate: a tag to pin is a denial).
    #[arg(long, value_enum, default_value = "kubewarden")]
    abi: input::AbiFlag,
    /// Print the policies' log messages on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Scripted answers for host capability calls, instead of the registries (offline): a JSON
    /// list of `{"namespace", "operation", "request", "response" | "error"}`; a call without an
    /// answer fails.
    #[arg(long, value_name = "JSON")]
    capabilities: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Kubernetes manifests (YAML, `---` between documents).
    #[arg(value_name = "MANIFEST", required = true)]
    manifests: Vec<PathBuf>,
}

fn parse_settings_flag(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("expected POLICY=FILE, got `{value}`")),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Read everything first: an unreadable input stops the run before any evaluation.
    let mut resources = Vec::new();
    for manifest in &args.manifests {
        resources.extend(read_manifest(manifest)?);
    }
    let script = args
        .capabilities
        .as_deref()
        .map(oci::read_script)
        .transpose()?;
    let host_calls = HostCalls::new(script, Cluster::default(), &args.registry)?;
    let outcome = check(&args, resources, &host_calls);
    host_calls.print_notes();
    outcome
}

fn check(args: &Args, resources: Vec<Resource>, host_calls: &HostCalls) -> Result<ExitCode> {
    let host = input::cached_host()?;
    let mut policies = load_policies(&host, &args.policies, args.abi, host_calls)?;
    apply_settings(&mut policies, &args.settings)?;
    // Settings a policy rejects are an input error: the run stops before any evaluation, so that
    // no resource a policy did not check is reported (or counted) as allowed.
    let mut settings_error = false;
    for policy in &mut policies {
        if let Err(message) = policy.check_settings(args.verbose) {
            eprintln!("policy {}: {message}", policy.name);
            settings_error = true;
        }
    }
    if settings_error {
        eprintln!("custody check: nothing was evaluated: fix the settings above");
        return Ok(ExitCode::from(EXIT_INPUT_ERROR));
    }

    let mut table = Table::default();
    let mut totals = Totals::default();
    for resource in &resources {
        let mut outcome = Outcome::Allowed;
        let mut evaluated = false;
        for policy in &mut policies {
            if !policy.applies_to(resource) {
                continue;
            }
            evaluated = true;
            let verdict = policy.evaluate(&host, resource, args.verbose);
            outcome = outcome.max(verdict.outcome());
            verdict.rows(resource, &policy.name, &mut table);
        }
        if !evaluated {
            table.push(resource, "-", "skipped", "not evaluated: no policy applies");
        }
        match outcome {
            Outcome::Allowed => totals.allowed += 1,
            Outcome::Denied => totals.denied += 1,
            Outcome::Failed => totals.failed += 1,
        }
    }

    table.print();
    let mut summary = format!(
        "{} resources, {} policies: {} allowed, {} denied",
        resources.len(),
        policies.len(),
        totals.allowed,
        totals.denied
    );
    if totals.failed > 0 {
        summary.push_str(&format!(", {} failed", totals.failed));
    }
    println!("{summary}");
    if totals.denied > 0 || totals.failed > 0 {
        Ok(ExitCode::from(EXIT_DENIED))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Default)]
struct Totals {
    allowed: usize,
    denied: usize,
    failed: usize,
}

/// A resource's overall result: the worst of its policies' verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Allowed,
    Denied,
    Failed,
}

// ---------------------------------------------------------------------------------------------
// Manifests

/// One Kubernetes object from a manifest, as an admission request.
#[derive(Debug)]
struct Resource {
    /// `Kind/namespace/name`.
    label: String,
    /// `file:docN` (plus `.items[i]` inside a List).
    origin: String,
    group: String,
    version: String,
    resource: String,
    request: Value,
}

fn read_manifest(path: &Path) -> Result<Vec<Resource>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let mut resources = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let number = index + 1;
        let value = Value::deserialize(document)
            .with_context(|| format!("{file}: document {number} is not valid YAML"))?;
        let origin = format!("{file}:doc{number}");
        match value {
            Value::Null => {}
            Value::Object(ref object)
                if object.get("kind").and_then(Value::as_str) == Some("List") =>
            {
                let Some(items) = object.get("items").and_then(Value::as_array) else {
                    bail!("{origin}: a List needs an `items` sequence");
                };
                for (item_index, item) in items.iter().enumerate() {
                    let origin = format!("{origin}.items[{item_index}]");
                    let count = resources.len() + 1;
                    resources.push(to_resource(item.clone(), origin, count)?);
                }
            }
            value => {
                let count = resources.len() + 1;
                resources.push(to_resource(value, origin, count)?);
            }
        }
    }
    Ok(resources)
}

fn to_resource(object: Value, origin: String, count: usize) -> Result<Resource> {
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        bail!("{origin}: not a Kubernetes object (it needs string `apiVersion` and `kind` fields)");
    };
    let metadata = object.get("metadata");
    let meta = |field: &str| {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = meta("name")
        .or_else(|| meta("generateName"))
        .unwrap_or_default();
    let namespace = meta("namespace").unwrap_or_else(|| "default".to_owned());
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (String::new(), api_version.clone()),
    };
    let resource = plural(&kind);
    let label = format!(
        "{kind}/{namespace}/{}",
        if name.is_empty() { "<unnamed>" } else { &name }
    );
    let kind_ref = json!({"group": group, "version": version, "kind": kind});
    let resource_ref = json!({"group": group, "version": version, "resource": resource});
    let request = json!({
        "uid": format!("custody-check-{count}"),
        "kind": kind_ref,
        "resource": resource_ref,
        "requestKind": kind_ref,
        "requestResource": resource_ref,
        "name": name,
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "custody-check"},
        "object": object,
        "oldObject": null,
        "dryRun": true,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    });
    Ok(Resource {
        label,
        origin,
        group,
        version,
        resource,
        request,
    })
}

/// The lower-case plural resource name of a kind.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.as_str() {
        "pod"
        | "deployment"
        | "replicaset"
        | "statefulset"
        | "daemonset"
        | "replicationcontroller"
        | "job"
        | "cronjob" => format!("{lower}s"),
        "ingress" => "ingresses".to_owned(),
        "endpoints" => lower,
        _ if lower.ends_with("policy") => format!("{}ies", lower.trim_end_matches('y')),
        _ => format!("{lower}s"),
    }
}

// ---------------------------------------------------------------------------------------------
// Policies

struct Policy {
    name: String,
    path: PathBuf,
    module: PolicyModule,
    instance: Option<PolicyInstance>,
    settings: Value,
    host_calls: HostCalls,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn load_policies(
    host: &Host,
    paths: &[PathBuf],
    abi: input::AbiFlag,
    host_calls: &HostCalls,
) -> Result<Vec<Policy>> {
    let mut policies: Vec<Policy> = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {}", path.display()))?
            {
                let entry_path = entry
                    .with_context(|| format!("cannot read directory {}", path.display()))?
                    .path();
                if entry_path.extension().is_some_and(|e| e == "wasm") && entry_path.is_file() {
                    found.push(entry_path);
                }
            }
            found.sort();
            let before = policies.len();
            for file in found {
                // A module of the other build is recognised from its exports, not compiled (one
                // that is not a policy at all is loaded, to say why).
                let bytes = std::fs::read(&file)
                    .with_context(|| format!("cannot read policy {}", file.display()))?;
                if module_abi(&bytes).is_some_and(|found| found != abi.abi()) {
                    continue;
                }
                let module = input::load_policy(host, &file)?;
                if module.abi() == abi.abi() {
                    add_policy(host, &mut policies, file, module, host_calls)?;
                }
            }
            if policies.len() == before {
                bail!(
                    "no {} policy module (*.wasm) in directory {}",
                    abi.abi(),
                    path.display()
                );
            }
        } else {
            let module = input::load_policy(host, path)?;
            input::expect_abi(&module, path, abi)?;
            add_policy(host, &mut policies, path.clone(), module, host_calls)?;
        }
    }
    Ok(policies)
}

fn add_policy(
    host: &Host,
    policies: &mut Vec<Policy>,
    path: PathBuf,
    module: PolicyModule,
    host_calls: &HostCalls,
) -> Result<()> {
    let stem = module.name();
    let name = stem.strip_suffix(".gatekeeper").unwrap_or(stem).to_owned();
    if let Some(other) = policies.iter().find(|p| p.name == name) {
        bail!(
            "two policies are named {name}: {} and {}",
            other.path.display(),
            path.display()
        );
    }
    let instance = PolicyInstance::new(host, &module, host_calls.boxed())
        .with_context(|| format!("cannot start policy {}", path.display()))?;
    policies.push(Policy {
        name,
        path,
        module,
        instance: Some(instance),
        settings: Value::Object(serde_json::Map::new()),
        host_calls: host_calls.clone(),
    });
    Ok(())
}

fn apply_settings(policies: &mut [Policy], settings: &[(String, PathBuf)]) -> Result<()> {
    for (name, file) in settings {
        let Some(policy) = policies.iter_mut().find(|p| &p.name == name) else {
            let known: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "--settings {name}={}: there is no policy named {name} (policies: {})",
                file.display(),
                known.join(", ")
            );
        };
        policy.settings = input::read_settings(file)?;
    }
    Ok(())
}

/// What one policy said about one resource.
enum Verdict {
    Allowed(ValidationResponse),
    Mutated(ValidationResponse, Vec<Value>),
    Denied(ValidationResponse),
    Failed(String),
}

impl Policy {
    /// Runs `validate_settings`; a rejection stops the run. (Gatekeeper-mode
    /// modules have no such check: invalid parameters are a violation of every request.)
    fn check_settings(&mut self, verbose: bool) -> Result<(), String> {
        let Some(instance) = self.instance.as_mut() else {
            return Err("the policy could not be started".to_owned());
        };
        if instance.abi() == Abi::Opa {
            return Ok(());
        }
        let answer = instance.validate_settings(&self.settings);
        print_logs(&self.name, instance, verbose);
        match answer {
            Ok(answer) if answer.valid => Ok(()),
            Ok(answer) => Err(format!(
                "settings rejected: {}",
                input::printable(answer.message.as_deref().unwrap_or("(no message)"))
            )),
            Err(error) => Err(format!("cannot validate the settings: {error}")),
        }
    }

    fn applies_to(&self, resource: &Resource) -> bool {
        rules_select(self.module.metadata(), resource)
    }

    fn evaluate(&mut self, host: &Host, resource: &Resource, verbose: bool) -> Verdict {
        // A trap poisons an instance: start a fresh one for the next resource.
        if self
            .instance
            .as_ref()
            .is_none_or(PolicyInstance::is_poisoned)
        {
            match PolicyInstance::new(host, &self.module, self.host_calls.boxed()) {
                Ok(instance) => self.instance = Some(instance),
                Err(error) => return Verdict::Failed(error.to_string()),
            }
        }
        let Some(instance) = self.instance.as_mut() else {
            return Verdict::Failed("the policy could not be started".to_owned());
        };
        let answer = instance.validate(&resource.request, &self.settings);
        print_logs(&self.name, instance, verbose);
        match answer {
            Err(error) => Verdict::Failed(error.to_string()),
            Ok(answer) if !answer.accepted => Verdict::Denied(answer),
            Ok(answer) => match &answer.mutated_object {
                Some(mutated) => {
                    let original = resource.request.get("object").unwrap_or(&Value::Null);
                    let patch = json_patch(original, mutated);
                    if patch.is_empty() {
                        Verdict::Allowed(answer)
                    } else {
                        Verdict::Mutated(answer, patch)
                    }
                }
                None => Verdict::Allowed(answer),
            },
        }
    }
}

/// Whether a module's metadata rules select the CREATE of `resource`, like the API server's
/// webhook matching. No metadata or no `rules` means every resource.
fn rules_select(metadata: Option<&Value>, resource: &Resource) -> bool {
    let Some(rules) = metadata
        .and_then(|m| m.get("rules"))
        .and_then(Value::as_array)
    else {
        return true;
    };
    rules.iter().any(|rule| {
        let list = |field: &str| -> Vec<&str> {
            rule.get(field)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let has = |field: &str, wanted: &str| {
            list(field)
                .iter()
                .any(|item| *item == "*" || *item == wanted)
        };
        has("apiGroups", &resource.group)
            && has("apiVersions", &resource.version)
            && has("operations", "CREATE")
            && list("resources").iter().any(|item| {
                // "pods", "pods/*", "*", "*/*": the resource part must match, and the
                // subresource part must be empty or "*" (a CREATE of the main resource).
                let (name, sub) = item.split_once('/').unwrap_or((item, ""));
                (name == "*" || name == resource.resource) && (sub.is_empty() || sub == "*")
            })
    })
}

impl Verdict {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Allowed(_) | Self::Mutated(..) => Outcome::Allowed,
            Self::Denied(_) => Outcome::Denied,
            Self::Failed(_) => Outcome::Failed,
        }
    }

    /// One row per message line, patch operation or warning.
    fn rows(&self, resource: &Resource, policy: &str, table: &mut Table) {
        let mut details: Vec<String> = Vec::new();
        let verdict = match self {
            Self::Allowed(_) => "allowed",
            Self::Mutated(_, patch) => {
                for op in patch {
                    let field = |name: &str| op.get(name).and_then(Value::as_str).unwrap_or("");
                    details.push(format!("{} {}", field("op"), field("path")));
                }
                "mutated"
            }
            Self::Denied(answer) => {
                let message = answer.message.as_deref().unwrap_or("").trim();
                if message.is_empty() {
                    details.push("(no message)".to_owned());
                } else {
                    details.extend(
                        message
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(str::to_owned),
                    );
                }
                "DENIED"
            }
            Self::Failed(error) => {
                details.extend(error.lines().map(str::to_owned));
                "ERROR"
            }
        };
        if let Self::Allowed(answer) | Self::Mutated(answer, _) | Self::Denied(answer) = self {
            for warning in answer.warnings.iter().flatten() {
                details.push(format!("warning: {warning}"));
            }
        }
        if details.is_empty() {
            details.push(String::new());
        }
        for detail in details {
            table.push(resource, policy, verdict, &detail);
        }
    }
}

fn print_logs(policy: &str, instance: &mut PolicyInstance, verbose: bool) {
    let logs = instance.take_logs();
    if verbose {
        for line in logs {
            eprintln!("[{policy}] {}", input::printable(&line));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output

#[derive(Debug, Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn push(&mut self, resource: &Resource, policy: &str, verdict: &str, detail: &str) {
        self.rows.push([
            input::printable(&format!("{} ({})", resource.label, resource.origin)),
            input::printable(policy),
            verdict.to_owned(),
            input::printable(detail),
        ]);
    }

    fn print(&self) {
        let header = ["RESOURCE", "POLICY", "VERDICT", "DETAIL"].map(str::to_owned);
        let mut widths: BTreeMap<usize, usize> = BTreeMap::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            for (column, cell) in row.iter().enumerate().take(3) {
                let width = widths.entry(column).or_default();
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                match widths.get(&column) {
                    Some(width) => {
                        line.push_str(cell);
                        let pad = width.saturating_sub(cell.chars().count()) + 2;
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    None => line.push_str(cell),
                }
            }
            println!("{}", line.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural("Pod"), "pods");
        assert_eq!(plural("CronJob"), "cronjobs");
        assert_eq!(plural("ReplicationController"), "replicationcontrollers");
        assert_eq!(plural("ConfigMap"), "configmaps");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Ingress"), "ingresses");
    }

    #[test]
    fn requests_are_built_from_objects() -> Result<()> {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}});
        let resource = to_resource(object.clone(), "f.yaml:doc1".into(), 3)?;
        assert_eq!(resource.label, "Deployment/default/web");
        assert_eq!(
            resource.request,
            json!({
                "uid": "custody-check-3",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "name": "web",
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "custody-check"},
                "object": object,
                "oldObject": null,
                "dryRun": true,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            })
        );
        assert!(to_resource(json!({"kind": "Pod"}), "f:doc2".into(), 1).is_err());
        Ok(())
    }

    #[test]
    fn rules_match_like_the_api_server() -> Result<()> {
        let pod = to_resource(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
            "f:doc1".into(),
            1,
        )?;
        let deployment = to_resource(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
            "f:doc2".into(),
            2,
        )?;
        let rule = |groups: Value, resources: Value, operations: Value| {
            json!({"rules": [{"apiGroups": groups, "apiVersions": ["v1"],
                "resources": resources, "operations": operations}]})
        };
        let pods = rule(json!([""]), json!(["pods"]), json!(["CREATE", "UPDATE"]));
        assert!(rules_select(Some(&pods), &pod));
        assert!(!rules_select(Some(&pods), &deployment));
        let any = rule(json!(["*"]), json!(["*"]), json!(["*"]));
        assert!(rules_select(Some(&any), &deployment));
        let all_sub = rule(json!(["apps"]), json!(["*/*"]), json!(["CREATE"]));
        assert!(rules_select(Some(&all_sub), &deployment));
        let only_scale = rule(
            json!(["apps"]),
            json!(["deployments/scale"]),
            json!(["CREATE"]),
        );
        assert!(!rules_select(Some(&only_scale), &deployment));
        let update_only = rule(json!([""]), json!(["pods"]), json!(["UPDATE"]));
        assert!(!rules_select(Some(&update_only), &pod));
        assert!(!rules_select(Some(&json!({"rules": []})), &pod));
        assert!(rules_select(None, &pod));
        assert!(rules_select(Some(&json!({"mutating": false})), &pod));
        Ok(())
    }

    #[test]
    fn settings_flags() {
        assert_eq!(
            parse_settings_flag("ban-latest=s.yaml"),
            Ok(("ban-latest".to_owned(), PathBuf::from("s.yaml")))
        );
        assert!(parse_settings_flag("no-equals").is_err());
        assert!(parse_settings_flag("=file").is_err());
    }
}
