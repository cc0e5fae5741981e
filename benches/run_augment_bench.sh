#!/usr/bin/env bash
# Side-by-side, same run, single thread: voxload's Rotate (any angle) + Rescale + Elastic
# (P 1, linear image, nearest mask) against batchgenerators' SpatialTransform (rotation +
# scaling + elastic deformation, order_data=1, order_seg=0, border_mode_data='constant'), a
# (8, 256, 256) output with one uint16 mask, per-sample ms, and the ratio.
#
# Usage: bash benches/run_augment_bench.sh [peer samples]   (default 20)
# The peer runs in a throwaway virtual environment (${VOXLOAD_AUG_VENV:-/tmp/voxload-aug-venv}),
# created or reused here with batchgenerators pinned. If it cannot be set up, the script says
# so and exits non-zero instead of printing voxload's figure alone.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VOXLOAD_AUG_VENV:-/tmp/voxload-aug-venv}"
pin="0.25.5"
samples="${1:-20}"
fail() { echo "run_augment_bench.sh: $*: the batchgenerators comparison cannot run" >&2; exit 1; }

# Single thread for numpy/scipy (and anything else that would spawn workers).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1 RAYON_NUM_THREADS=1

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "cannot create a virtualenv at $venv"
fi
have=$("$venv/bin/python" -c "import numpy, scipy, skimage, importlib.metadata as m; print(m.version('batchgenerators'))" \
  2>/dev/null || true)
if [ "$have" != "$pin" ]; then
  echo "installing batchgenerators==$pin, numpy, scipy, scikit-image into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "batchgenerators==$pin" numpy scipy scikit-image >&2 \
    || fail "pip could not install batchgenerators==$pin into $venv"
fi
"$venv/bin/python" -c "import batchgenerators.transforms.spatial_transforms" \
  || fail "batchgenerators installed but does not import"
versions=$("$venv/bin/python" -c "import importlib.metadata as m, sys; print('python', sys.version.split()[0], *(f'{p} {m.version(p)}' for p in ('batchgenerators', 'numpy', 'scipy', 'scikit-image')))")

echo "== load: $(uptime)"
echo "== voxload (cargo bench --bench augment -- Spatial)"
if ! out=$(cargo bench --quiet --bench augment -- Spatial 2>&1); then
  echo "$out" | tail -20 >&2
  echo "run_augment_bench.sh: the voxload bench failed; no comparison" >&2
  exit 1
fi
table=$(echo "$out" | grep '^| Spatial' || true)
echo "$table"
vox_ms=$(echo "$table" | awk -F'|' '$3 ~ /8x256x256/ { gsub(/ /, "", $4); print $4 }')
[ -n "$vox_ms" ] || { echo "run_augment_bench.sh: no voxload figure for 8x256x256" >&2; exit 1; }

echo "== batchgenerators SpatialTransform ($versions)"
peer=$("$venv/bin/python" benches/peer/batchgenerators_augment.py --samples "$samples")
echo "$peer"
peer_ms=$(echo "$peer" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')

echo "== load: $(uptime)"
awk -v v="$vox_ms" -v p="$peer_ms" 'BEGIN {
  printf "(8,256,256) + u16 mask, single thread, per sample (medians): voxload %.3f ms, batchgenerators %.1f ms: voxload is %.1fx faster (target >= 20x)\n", v, p, p / v
}'
