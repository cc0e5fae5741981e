#!/usr/bin/env bash
# Runs voxload's whole test suite on a fresh machine: installs what the interoperability and
# Python tests use (zarr-python 3, numpy, pytest, hypothesis, PyTorch) into a private virtual
# environment, runs every Rust test of the workspace (and the fault-injection trials in a build
# that has the hooks), then builds the Python package into that environment with
# `pip install ./python` and runs its tests. The interoperability tests fail (never skip)
# without their packages.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VOXLOAD_TEST_VENV:-target/test-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import zarr, numpy, pytest, hypothesis, torch, scipy, skimage, h5py, tifffile, imagecodecs, ome_zarr, ome_zarr_models, moto, boto3" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export VOXLOAD_PYTHON="$PWD/$venv/bin/python"
# The binary the Python tests compare against (built by the cargo tests below).
export VOXLOAD_BIN="$PWD/target/debug/voxload"
# Caches (the loader's foreground indexes) go inside the build folder, not the user's home.
export VOXLOAD_CACHE_DIR="${VOXLOAD_CACHE_DIR:-$PWD/target/test-cache}"
# Every crate of the workspace: the library's tests, then the command-line tools' (which run the
# binaries).
cargo test --workspace "$@"
# The crash and full-disk trials need the write-fault hooks, which only a build with the
# `fault-injection` feature has.
cargo test -p voxload-cli --features fault-injection --test cli -- resume::
# The Python package, built from this checkout (`pip install ./python`, as a user would), and
# its tests.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
"$venv/bin/python" -m pytest -q python/tests
