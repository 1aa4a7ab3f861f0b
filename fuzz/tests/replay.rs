//! Replays every committed seed (`seeds/<target>/`) and every local corpus file
//! (`corpus/<target>/`, present after a fuzzing campaign) through the target bodies, on stable
//! and without the libFuzzer runtime. Each target is one test; a failing input is named with
//! the panic message, and all failures of a target are reported together.
//!
//! `regressions/<target>/` holds inputs that broke a property of a crate not yet fixed; the
//! ignored `regressions` test replays them (`scripts/fuzz-replay.sh --include-ignored`). Once
//! the crate is fixed, move them into `seeds/<target>/`.
//!
//! `TCM_FUZZ_DESCRIBE=<absolute path>` prints a `connection` input as its decoded operations.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs(dirs: &[&str], target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                files.push(e.path());
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let files = inputs(&["seeds", "corpus"], target);
    assert!(
        !files.is_empty(),
        "no seeds for {target}: run scripts/fuzz-seeds.py"
    );
    run_all(target, &files);
}

fn run_all(target: &str, files: &[PathBuf]) {
    let (_, run) = tcm_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("known target");
    let mut failures = Vec::new();
    for f in files {
        // A running campaign may remove corpus files as it goes.
        let Ok(data) = fs::read(f) else { continue };
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", f.display()));
        }
    }
    println!("{target}: {} inputs replayed", files.len());
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn server_frame() {
    replay("server_frame");
}

#[test]
fn connection() {
    replay("connection");
}

#[test]
fn jsonrpc() {
    replay("jsonrpc");
}

#[test]
fn testserver_frame() {
    replay("testserver_frame");
}

/// Inputs that broke a property of a crate; empty while every known failure is fixed. Inputs
/// whose crate is fixed move to `seeds/`.
#[test]
#[ignore = "holds inputs that still fail, if any"]
fn regressions() {
    for (target, _) in tcm_fuzz::TARGETS {
        let files = inputs(&["regressions"], target);
        if !files.is_empty() {
            run_all(target, &files);
        }
    }
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = tcm_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["server_frame", "connection", "jsonrpc", "testserver_frame"]
    );
}

#[test]
fn describe_connection_input() {
    if let Ok(path) = std::env::var("TCM_FUZZ_DESCRIBE") {
        let data = fs::read(&path).expect("readable input");
        print!("{}", tcm_fuzz::connection::describe(&data));
    }
}
