#!/usr/bin/env bash
# Creates (or reuses) the virtual environment of the Python benchmarks and prints its python on
# the last line. It holds monai and psutil (pinned) and, once run_python_bench.sh has installed
# it, the voxload package of this checkout.
#
# torch, numpy and zarr-python come from one of two places:
# - a virtual environment that already has them (VOXLOAD_PYBENCH_BASE, default target/test-venv,
#   the one scripts/test.sh makes) with the same Python version: its site-packages folder is
#   written to $venv/voxload-bench-base-site, and benches/python/common.py appends it to
#   sys.path at start-up. That base is only read, never installed into (pip here never sees it,
#   so it can neither upgrade nor remove anything there), and a second 5 GB torch is avoided;
# - otherwise PyPI: torch, numpy and zarr==3.1.6 are installed into the bench venv itself.
#
# Usage: bash benches/python/setup_venv.sh   (venv: ${VOXLOAD_PYBENCH_VENV:-target/bench-venv})
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${VOXLOAD_PYBENCH_VENV:-target/bench-venv}"
base="${VOXLOAD_PYBENCH_BASE:-target/test-venv}"
monai_pin="1.6.1"
psutil_pin="7.2.2"
zarr_pin="3.1.6"
fail() { echo "setup_venv.sh: $*" >&2; exit 1; }
pip() { "$venv/bin/python" -m pip --quiet --disable-pip-version-check "$@"; }

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "cannot create a virtualenv at $venv"
fi
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# torch, numpy, zarr: the base's (if it has them and the same Python), else our own.
marker="$venv/voxload-bench-base-site"
rm -f "$marker"
if ! "$venv/bin/python" -c "import torch, numpy, zarr" 2>/dev/null; then
  if [ -x "$base/bin/python" ] \
    && [ "$(py_version "$base/bin/python")" = "$(py_version "$venv/bin/python")" ] \
    && "$base/bin/python" -c "import torch, numpy, zarr, importlib.metadata as m; assert m.version('zarr') == '$zarr_pin'" 2>/dev/null; then
    purelib "$base/bin/python" > "$marker"
    echo "using torch, numpy and zarr from $base (read only)" >&2
  else
    echo "installing torch, numpy and zarr==$zarr_pin into $venv (large download)" >&2
    pip install torch numpy "zarr==$zarr_pin" >&2 || fail "pip could not install torch, numpy and zarr"
  fi
fi

# monai and psutil: into the bench venv. --no-deps: monai needs only torch>=2.8 and numpy, which
# are there already (checked below), and pip must not try to install a torch of its own.
have=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('monai'), m.version('psutil'))" 2>/dev/null || true)
if [ "$have" != "$monai_pin $psutil_pin" ]; then
  echo "installing monai==$monai_pin and psutil==$psutil_pin into $venv" >&2
  pip install --no-deps "monai==$monai_pin" "psutil==$psutil_pin" >&2 \
    || fail "pip could not install monai==$monai_pin and psutil==$psutil_pin: the MONAI peer comparison cannot run"
fi
"$venv/bin/python" - <<'PY' || fail "the bench venv's packages do not import"
import sys
sys.path.insert(0, "benches/python")
import common  # noqa: F401  (adds the base's site-packages)
import monai, numpy, psutil, torch, zarr
print(f"bench venv: torch {torch.__version__}, numpy {numpy.__version__}, zarr {zarr.__version__}, "
      f"monai {monai.__version__}, psutil {psutil.__version__}", file=sys.stderr)
PY
echo "$venv/bin/python"
