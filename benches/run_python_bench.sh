#!/usr/bin/env bash
# The Python benchmarks (BENCHMARKS.md, "Python and PyTorch (issue 15)") in one command: builds
# the release `voxload` binary, makes or reuses the bench venv (benches/python/setup_venv.sh)
# and installs this checkout's Python package into it (`pip install ./python`, as a user
# would), writes the bench store once (benches/python/make_data.py), then runs, one after the
# other, in alternating rounds:
#   1. benches/python/loader_overhead.py: `voxload bench loader` against Python loops over
#      voxload.torch.VolumeDataset and voxload.Loader (Python's overhead);
#   2. benches/python/peer_monai.py: a PyTorch DataLoader (2 worker processes) over zarr-python
#      + MONAI against the VolumeDataset loop (samples/s and memory of all processes).
# Each prints a Markdown table; the raw figures go to target/bench-data/python/*.json.
#
# Usage: bash benches/run_python_bench.sh              (about 7 minutes on the 2-core VM)
#   VOXLOAD_PYBENCH_ROUNDS, VOXLOAD_PYBENCH_SECONDS            overhead part: rounds (default 9),
#                                                              seconds per case and round (6)
#   VOXLOAD_PYBENCH_PEER_ROUNDS, VOXLOAD_PYBENCH_PEER_SECONDS  MONAI part: 3 rounds of 20 s
#   VOXLOAD_PYBENCH_VENV, VOXLOAD_PYBENCH_BASE: see setup_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${VOXLOAD_PYBENCH_ROUNDS:-9}"
seconds="${VOXLOAD_PYBENCH_SECONDS:-6}"
peer_rounds="${VOXLOAD_PYBENCH_PEER_ROUNDS:-3}"
peer_seconds="${VOXLOAD_PYBENCH_PEER_SECONDS:-20}"

echo "building target/release/voxload" >&2
cargo build --release -p voxload-cli --quiet
bin="$PWD/target/release/voxload"
py="$(bash benches/python/setup_venv.sh | tail -n 1)"
echo "installing ./python into $(dirname "$(dirname "$py")") (maturin, release)" >&2
"$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
# The loader's foreground index of the label is built once and kept here, not per process.
export VOXLOAD_CACHE_DIR="${VOXLOAD_CACHE_DIR:-$PWD/target/bench-data/python/cache}"
"$py" benches/python/make_data.py --voxload "$bin"
echo
"$py" benches/python/loader_overhead.py --voxload "$bin" --rounds "$rounds" --seconds "$seconds"
echo
"$py" benches/python/peer_monai.py --voxload "$bin" --rounds "$peer_rounds" --seconds "$peer_seconds"
