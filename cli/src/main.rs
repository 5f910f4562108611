//! `custody`: run Kubewarden (waPC) admission policies locally.

mod annotate;
mod check;
mod eval;
mod input;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run custody / Kubewarden admission policies (WebAssembly modules) locally.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Eval(eval::Args),
    Check(check::Args),
    Annotate(annotate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each command picks its own exit status for "could not do the job" (see its --help).
    let (outcome, failure) = match cli.command {
        Command::Eval(args) => (eval::run(args), eval::EXIT_HOST_ERROR),
        Command::Check(args) => (check::run(args), check::EXIT_INPUT_ERROR),
        Command::Annotate(args) => (annotate::run(args), annotate::EXIT_FAILURE),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(failure)
        }
    }
}
