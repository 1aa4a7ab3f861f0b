#!/usr/bin/env bash
# Creates the Python virtual environment used by the conformance tests of
# crates/tcm-testserver: <repo>/.venv with the official TCM Python SDK.
# Idempotent: an existing environment with the SDK installed is left as is.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
sdk="tcm-client==2.0.0"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi

if ! "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("tcm-client") == "2.0.0"' 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check "$sdk"
fi

echo "python env ready: $venv/bin/python"
