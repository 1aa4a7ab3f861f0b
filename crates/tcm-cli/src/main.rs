//! `tcm`: a command-line client for the Triton Client Manager, and a local reference server.

mod cli;
mod commands;
mod failure;
mod inputs;
mod latency;
mod onnx;
mod output;
mod progress;
mod tensor_file;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tcm: error: {failure}");
            failure.exit_code()
        }
    }
}
