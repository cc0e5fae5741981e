#!/usr/bin/env bash
# The prediction-blending benchmark of BENCHMARKS.md, side by side with numpy in the same run.
#
# voxload: PredictionWriter over a (64, 1024, 1024) volume (VOXLOAD_PREDICT_VOLUME), (1, 8, 256,
# 256) float32 predictions at stride (4, 128, 128), gaussian, one thread, written as a raw
# float32 Zarr array. numpy: PyTC's accumulate-into-full-arrays-then-divide on the same grid, in
# memory (benches/peer/numpy_blend.py, run with the venv of benches/peer/setup_venv.sh).
# Each side runs RUNS times (default 3); the best run of each is compared.
# Usage: benches/run_predict_bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
volume="${VOXLOAD_PREDICT_VOLUME:-64,1024,1024}"
peer_python="$(bash benches/peer/setup_venv.sh | tail -n 1)"
cargo bench --bench predict --no-run --quiet 2>/dev/null
best() { python3 -c "import json,sys; r=[json.loads(l) for l in sys.stdin if l.startswith('{')]; print(json.dumps(max(r, key=lambda o: o['items_per_s'])))"; }
v=$(for _ in $(seq "$runs"); do VOXLOAD_PREDICT_VOLUME="$volume" cargo bench --bench predict --quiet -- --json 2>/dev/null; done | best)
n=$(for _ in $(seq "$runs"); do "$peer_python" benches/peer/numpy_blend.py --volume "$volume" --json; done | best)
python3 - "$v" "$n" <<'PY'
import json, sys
v, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| | windows/s | MB/s of predictions |")
print(f"|---|---|---|")
print(f"| voxload PredictionWriter (1 thread, chunks written raw) | {v['items_per_s']:.0f} | {v['bytes_per_s'] / 1e6:.0f} |")
print(f"| numpy {n['numpy']} (in memory, nothing written) | {n['items_per_s']:.0f} | {n['bytes_per_s'] / 1e6:.0f} |")
print(f"ratio voxload / numpy: {v['items_per_s'] / n['items_per_s']:.2f}x; writer held at most "
      f"{v['writer_peak_bytes'] / 2**20:.0f} MiB (numpy: {2 * 4 * v['volume'][0] * v['volume'][1] * v['volume'][2] / 2**20:.0f} MiB of result + weight)")
PY
