//! `custody eval`: run one policy on one admission request, like `kwctl run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use custody_host::{
    json_patch, Abi, Capabilities, NoCapabilities, PolicyInstance, ScriptedCapabilities,
    ValidationResponse,
};
use serde_json::Value;

use crate::input;

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
    /// Answers for host capability calls: a JSON list of
    /// `{"namespace", "operation", "request", "response" | "error"}` (default: every call fails).
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
}

pub fn run(args: Args) -> Result<ExitCode> {
    let request = read_request(&args.request)?;
    let settings = match &args.settings {
        Some(path) => input::read_settings(path)?,
        None => Value::Object(serde_json::Map::new()),
    };
    let cluster = input::read_cluster(&args.cluster)?;
    let capabilities: Box<dyn Capabilities> = match (&args.capabilities, cluster.is_empty()) {
        (Some(path), _) => Box::new(read_capabilities(path)?.with_cluster(cluster.clone())),
        (None, false) => Box::new(
            ScriptedCapabilities::new(Vec::new())
                .map_err(anyhow::Error::msg)?
                .with_cluster(cluster.clone()),
        ),
        (None, true) => Box::new(NoCapabilities),
    };

    let host = input::host()?;
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
        let violations = policy.gatekeeper(&request, &settings);
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

    let validation = policy.validate_settings(&settings);
    print_logs(&mut policy, args.verbose);
    let validation = validation.context("cannot validate the settings")?;
    if !validation.valid {
        eprintln!(
            "the policy rejected its settings: {}",
            input::printable(validation.message.as_deref().unwrap_or("(no message)"))
        );
        return Ok(ExitCode::from(EXIT_SETTINGS_REJECTED));
    }

    let response = policy.validate(&request, &settings);
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

fn read_capabilities(path: &Path) -> Result<ScriptedCapabilities> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ScriptedCapabilities::from_json(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("invalid capabilities file {}", path.display()))
}

fn print_logs(policy: &mut PolicyInstance, verbose: bool) {
    let logs = policy.take_logs();
    if verbose {
        for line in logs {
            eprintln!("[policy log] {}", input::printable(&line));
        }
    }
}
