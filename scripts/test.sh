#!/usr/bin/env bash
# Runs voxload's whole test suite on a fresh machine: installs the Python packages the
# interoperability tests use (zarr-python 3, numpy) into a private virtual environment, then
# runs every Rust test. The interoperability tests fail (never skip) without them.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VOXLOAD_TEST_VENV:-target/test-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import zarr, numpy" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export VOXLOAD_PYTHON="$PWD/$venv/bin/python"
cargo test "$@"
