//! `tcm`: a command-line client for the Triton Client Manager, and a local reference server.

mod cli;
mod commands;
mod failure;
mod inputs;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tcm: error: {failure}");
            failure.exit_code()
        }
    }
}
