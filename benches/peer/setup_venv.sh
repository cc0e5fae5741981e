#!/usr/bin/env bash
# Creates (or reuses) a throwaway virtual environment with tensorstore and numpy for the peer
# comparison, and prints its python on the last line.
set -euo pipefail
venv="${VOXLOAD_PEER_VENV:-/tmp/voxload-peer-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import tensorstore, numpy" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "tensorstore==0.1.86" numpy \
    || { echo "cannot install tensorstore into $venv: the peer comparison cannot run" >&2; exit 1; }
fi
echo "$venv/bin/python"
