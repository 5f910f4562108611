//! `custody eval`: run one policy on one admission request, like `kwctl run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use custody_host::{json_patch, Abi, PolicyInstance, ValidationResponse};
use serde_json::Value;

use crate::input;
use crate::oci::{self, HostCalls, RegistryArgs};

/// Exit status when the policy could not be run.
pub const EXIT_HOST_ERROR: u8 = 1;
/// Exit status when the policy rejected its settings.
const EXIT_SETTINGS_REJECTED: u8 = 2;

/// Evaluate one admission request with a policy and print its answer as JSON.
///
/// Prints the policy's ValidationResponse (`accepted`, `message`, `code`, `mutated_object`,
/// `audit_annotations`, `warnings`, as the policy gave them) as pretty JSON on stdout. When the
/// policy mutates, a `patch` field is added: the RFC 6902 operations turning the request's
/// `object` into `mutated_object`, as Kubewarden sends them to the API server.
///
/// The settings are first checked with the policy's `validate_settings`.
///
/// Gatekeeper-mode modules (OPA ABI; --abi gatekeeper, or detected from the module) get
/// `{"review": <request>, "parameters": <settings>}`; there is no separate settings check in that
/// mode (invalid parameters are a violation), and the output adds the Gatekeeper `violations`
/// (`msg`, `details`) to the same ValidationResponse fields.
///
/// Host capabilities, like `kwctl run`: the `oci` calls (v1/manifest_digest, v1/oci_manifest,
/// v1/oci_manifest_config, v2/verify) are answered from the image's registry: v2/verify verifies
/// the image's cosign signatures (tag sha256-<hex>.sig) natively, every key or identity of the
/// request must have signed (keyless: Sigstore's public-good instance), successful answers are
/// kept 60 s. Plain HTTP to loopback registries (localhost, 127.0.0.0/8, ::1) only, unless
/// --plain-http (every registry) or --no-plain-http (none); credentials from the docker config, as
/// `custody attestations export --help` says. The `kubernetes` calls are answered from --cluster.
/// With --capabilities FILE every call is answered from that script instead (offline; no
/// registry is contacted).
///
/// Exit status: 0 the policy answered (accepted or not); 1 the policy could not be run (host
/// error, unreadable input); 2 the policy rejected the settings (message on stderr).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy module (.wasm).
    #[arg(long, value_name = "WASM")]
    policy: PathBuf,
    /// The request: an AdmissionRequest or a whole AdmissionReview, JSON or YAML.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// The policy settings, JSON or YAML (default: `{}`).
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// Scripted answers for host capability calls, instead of the registries (offline): a JSON
    /// list of `{"namespace", "operation", "request", "response" | "error"}`; a call without an
    /// answer fails (default: `oci` calls are answered from the registries).
    #[arg(long, value_name = "JSON")]
    capabilities: Option<PathBuf>,
    /// Kubernetes objects standing in for the cluster (YAML or JSON, several documents, `kind:
    /// List`; repeatable), e.g. the ConfigMap `custody attestations export` prints: they answer
    /// the `kubernetes` capabilities (get_resource, list_resources_*) of waPC modules, and are
    /// Gatekeeper's `data.inventory` for OPA-ABI modules.
    #[arg(long, value_name = "FILE")]
    cluster: Vec<PathBuf>,
    /// The module's ABI (default: detected from the module); an error if the module is not of it.
    #[arg(long, value_enum)]
    abi: Option<input::AbiFlag>,
    /// Print the policy's log messages on stderr.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let request = read_request(&args.request)?;
    let settings = match &args.settings {
        Some(path) => input::read_settings(path)?,
        None => Value::Object(serde_json::Map::new()),
    };
    let cluster = input::read_cluster(&args.cluster)?;
    let script = args
        .capabilities
        .as_deref()
        .map(oci::read_script)
        .transpose()?;
    let host_calls = HostCalls::new(script, cluster.clone(), &args.registry)?;
    let outcome = evaluate(&args, &request, &settings, &cluster, &host_calls);
    host_calls.print_notes();
    outcome
}

fn evaluate(
    args: &Args,
    request: &Value,
    settings: &Value,
    cluster: &custody_host::Cluster,
    host_calls: &HostCalls,
) -> Result<ExitCode> {
    let capabilities = host_calls.boxed();

    let host = input::cached_host()?;
    let module = input::load_policy(&host, &args.policy)?;
    if let Some(abi) = args.abi {
        input::expect_abi(&module, &args.policy, abi)?;
    }
    let mut policy = PolicyInstance::new(&host, &module, capabilities)
        .with_context(|| format!("cannot start policy {}", args.policy.display()))?;
    if module.abi() == Abi::Opa {
        if !cluster.is_empty() {
            policy
                .set_data(&cluster.data())
                .context("cannot give the module its data document")?;
        }
        let violations = policy.gatekeeper(request, settings);
        print_logs(&mut policy, args.verbose);
        let violations = violations.context("cannot evaluate the request")?;
        let mut output = serde_json::to_value(ValidationResponse::from_gatekeeper(&violations))
            .context("cannot encode the response")?;
        if let Value::Object(fields) = &mut output {
            fields.insert(
                "violations".to_owned(),
                serde_json::to_value(&violations).context("cannot encode the violations")?,
            );
        }
        return print_json(&output);
    }

    let validation = policy.validate_settings(settings);
    print_logs(&mut policy, args.verbose);
    let validation = validation.context("cannot validate the settings")?;
    if !validation.valid {
        eprintln!(
            "the policy rejected its settings: {}",
            input::printable(validation.message.as_deref().unwrap_or("(no message)"))
        );
        return Ok(ExitCode::from(EXIT_SETTINGS_REJECTED));
    }

    let response = policy.validate(request, settings);
    print_logs(&mut policy, args.verbose);
    let response = response.context("cannot evaluate the request")?;

    let mut output = serde_json::to_value(&response).context("cannot encode the response")?;
    if let (Some(mutated), Value::Object(fields)) = (&response.mutated_object, &mut output) {
        let original = request.get("object").unwrap_or(&Value::Null);
        fields.insert(
            "patch".to_owned(),
            Value::Array(json_patch(original, mutated)),
        );
    }
    print_json(&output)
}

fn print_json(output: &Value) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, output).context("cannot write the response")?;
    writeln!(stdout).context("cannot write the response")?;
    Ok(ExitCode::SUCCESS)
}

/// A bare AdmissionRequest, or the `request` of an AdmissionReview.
fn read_request(path: &Path) -> Result<Value> {
    let document = input::read_document(path)?;
    if !document.is_object() {
        bail!("{}: the request must be a mapping", path.display());
    }
    if document.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
        return match document.get("request") {
            Some(request @ Value::Object(_)) => Ok(request.clone()),
            _ => bail!(
                "{}: this AdmissionReview has no `request` mapping",
                path.display()
            ),
        };
    }
    Ok(document)
}

fn print_logs(policy: &mut PolicyInstance, verbose: bool) {
    let logs = policy.take_logs();
    if verbose {
        for line in logs {
            eprintln!("[policy log] {}", input::printable(&line));
        }
    }
}
