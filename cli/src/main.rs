//! `custody`: run Kubewarden admission policies locally, waPC modules and Gatekeeper-mode (OPA wasm
//! ABI) modules (`--abi gatekeeper`, or detected from the module).

mod annotate;
mod artifacthub;
mod artifacthub_spec;
mod attestations;
mod changelog;
mod check;
mod eval;
mod input;
mod oci;
mod publish;
mod release;
mod scaffold;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run custody / Kubewarden admission policies (waPC or Gatekeeper-mode wasm modules) locally.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The top-level help's closing section.
const AFTER_HELP: &str = "\
Registries: `eval` and `check` answer a policy's `oci` host calls (manifest digest, manifest,
manifest and config, v2/verify of cosign signatures) from the image's registry, like `kwctl run`
(offline: --capabilities FILE). Plain HTTP to loopback registries only (--plain-http: every
registry; --no-plain-http: none). Registry credentials: the docker config's, as docker finds them
(`auths`, credential helpers).

Compiled modules: `eval` and `check` keep them in the user's cache directory, keyed by the
module's SHA-256 and the engine's configuration, and check every entry before use
($CUSTODY_CACHE_DIR, else $XDG_CACHE_HOME/custody, else ~/.cache/custody; CUSTODY_CACHE_DIR=off
turns the cache off).

Attestations and signatures (for the verify-slsa policy):
  custody attestations export [--plain-http] [--namespace NS] [--output yaml|json] IMAGE
    fetches IMAGE's attestations and signatures from its registry (cosign sha256-<hex>.att and
    .sig, OCI 1.1 referrers holding Sigstore bundles) and prints the ConfigMap to apply in the
    cluster. See `custody attestations export --help`.";

#[derive(Debug, Subcommand)]
enum Command {
    Eval(eval::Args),
    Check(check::Args),
    Annotate(annotate::Args),
    Attestations(attestations::Args),
    Push(publish::PushArgs),
    Pull(publish::PullArgs),
    Sign(publish::SignArgs),
    GenerateKeyPair(publish::KeyPairArgs),
    Artifacthub(artifacthub::Args),
    Scaffold(scaffold::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each command picks its own exit status for "could not do the job" (see its --help).
    let (outcome, failure) = match cli.command {
        Command::Eval(args) => (eval::run(args), eval::EXIT_HOST_ERROR),
        Command::Check(args) => (check::run(args), check::EXIT_INPUT_ERROR),
        Command::Annotate(args) => (annotate::run(args), annotate::EXIT_FAILURE),
        Command::Attestations(args) => (attestations::run(args), attestations::EXIT_FAILURE),
        Command::Push(args) => (publish::push(args), publish::EXIT_FAILURE),
        Command::Pull(args) => (publish::pull(args), publish::EXIT_FAILURE),
        Command::Sign(args) => (publish::sign(args), publish::EXIT_FAILURE),
        Command::GenerateKeyPair(args) => (publish::generate_key_pair(args), publish::EXIT_FAILURE),
        Command::Artifacthub(args) => (artifacthub::run(args), artifacthub::EXIT_FAILURE),
        Command::Scaffold(args) => (scaffold::run(args), scaffold::EXIT_FAILURE),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(failure)
        }
    }
}
