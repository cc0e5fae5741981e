#!/usr/bin/env bash
# Creates (or reuses) a throwaway virtual environment with tensorstore and numpy for the peer
# comparison, and prints its python on the last line.
# Usage: bash benches/peer/setup_venv.sh        (venv: ${VOXLOAD_PEER_VENV:-/tmp/voxload-peer-venv})
set -euo pipefail
venv="${VOXLOAD_PEER_VENV:-/tmp/voxload-peer-venv}"
pin="0.1.86"
fail() { echo "setup_venv.sh: $*: the tensorstore peer comparison cannot run" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "cannot create a virtualenv at $venv"
fi
have=$("$venv/bin/python" -c "import numpy, tensorstore, importlib.metadata as m; print(m.version('tensorstore'))" \
  2>/dev/null || true)
if [ "$have" != "$pin" ]; then
  echo "installing tensorstore==$pin and numpy into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "tensorstore==$pin" numpy >&2 \
    || fail "pip could not install tensorstore==$pin and numpy into $venv"
  "$venv/bin/python" -c "import numpy, tensorstore" || fail "tensorstore installed but does not import"
fi
echo "$venv/bin/python"
