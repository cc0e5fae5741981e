#!/usr/bin/env bash
# Runs voxload's whole test suite on a fresh machine: installs the Python packages the
# interoperability tests use (zarr-python 3, numpy) into a private virtual environment, then
# runs every Rust test of the workspace (and the fault-injection trials in a build that has
# the hooks). The interoperability tests fail (never skip) without them.
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
# Caches (the loader's foreground indexes) go inside the build folder, not the user's home.
export VOXLOAD_CACHE_DIR="${VOXLOAD_CACHE_DIR:-$PWD/target/test-cache}"
# Every crate of the workspace: the library's tests, then the command-line tools' (which run the
# binaries).
cargo test --workspace "$@"
# The crash and full-disk trials need the write-fault hooks, which only a build with the
# `fault-injection` feature has.
cargo test -p voxload-cli --features fault-injection --test cli -- resume::
