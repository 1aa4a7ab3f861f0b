#!/usr/bin/env bash
# Creates the Python virtual environments used by the conformance tests:
# - <repo>/.venv with the official TCM Python SDK (crates/tcm-testserver);
# - <repo>/.venv-afnio with the afnio client of the Tellurio JSON-RPC dialect
#   (crates/tcm-rpc-testserver). afnio pins websockets 15 and the SDK websockets 16, so the two
#   cannot share an environment. afnio's dependencies are plain wheels (no torch or CUDA).
# Idempotent: an existing environment with its package installed is left as is.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ensure_venv DIR DIST VERSION: DIR holds a venv with DIST==VERSION installed.
ensure_venv() {
    local venv="$1" dist="$2" version="$3"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('$dist') == '$version'" 2>/dev/null; then
        "$venv/bin/pip" install -q --disable-pip-version-check "$dist==$version"
    fi
    echo "python env ready: $venv/bin/python ($dist $version)"
}

ensure_venv "$repo/.venv" tcm-client 2.0.0
ensure_venv "$repo/.venv-afnio" afnio 0.3.7
