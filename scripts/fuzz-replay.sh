#!/usr/bin/env bash
# Replays the committed fuzz seeds (fuzz/seeds/<target>/), and any local corpus
# (fuzz/corpus/<target>/), through every fuzz target's body on stable Rust, without the
# libFuzzer runtime. Exits non-zero if any input panics. Extra arguments go to the test
# harness, e.g. `scripts/fuzz-replay.sh connection` replays one target.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --manifest-path fuzz/Cargo.toml --locked --test replay -- "$@"
