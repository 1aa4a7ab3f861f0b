#!/usr/bin/env bash
# The project's whole check, exactly as CI runs it: formatting, lints, docs, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The official Python SDK, for the reference server's conformance test and the benchmarks.
bash scripts/python-env.sh
export TCM_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace

# The fuzz crate (outside the workspace): formatting, lints, and every committed seed replayed
# through the fuzz targets' bodies on stable Rust.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --locked --all-targets -- -D warnings
bash scripts/fuzz-replay.sh
