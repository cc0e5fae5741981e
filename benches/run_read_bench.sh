#!/usr/bin/env bash
# The read benchmark of BENCHMARKS.md, side by side with tensorstore in the same run.
#
# Writes 1 GiB uint8 stores (256 x 2048 x 2048) under ${BENCH_DIR:-target/bench-data} once, then
# for each store and window measures `voxload bench read` (1 thread, with this machine's memcpy
# bandwidth for copies of the same size from a 1 GiB buffer) and tensorstore (cache pool 0, one
# data-copy and one file-I/O thread) on the same store and windows. Prints a Markdown table.
# Usage: benches/run_read_bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
dir="${BENCH_DIR:-target/bench-data}"
mkdir -p "$dir"
cargo build --release --quiet
vox=target/release/voxload
peer_python="$(bash benches/peer/setup_venv.sh | tail -n 1)"

make_store() { # name, extra synth args
  local name="$1"; shift
  if ! "$vox" info "$dir/$name.zarr" 2>/dev/null | grep -q complete; then
    "$vox" synth "$dir/$name.zarr" --volume 256,2048,2048 "$@" >&2
  fi
}
make_store raw-32x256x256 --chunk 32,256,256
make_store raw-16x256x1024 --chunk 16,256,1024
make_store sharded-16x256x1024 --chunk 16,256,1024 --shard 32,512,2048
make_store zstd-16x256x1024 --chunk 16,256,1024 --codec zstd:3

field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
echo "| store | window | placement | voxload GB/s | windows/s | memcpy GB/s | % of memcpy | tensorstore GB/s | x tensorstore |"
echo "|---|---|---|---|---|---|---|---|---|"
for store in raw-32x256x256 raw-16x256x1024 sharded-16x256x1024 zstd-16x256x1024; do
  for window in 8,256,256 32,320,320; do
    for placement in interior straddle; do
      flag=""; [ "$placement" = straddle ] && flag="--straddle"
      v=$("$vox" bench read "$dir/$store.zarr/image" --shape "$window" --seconds "$secs" --json $flag)
      # voxload bench read warms the page cache itself; do the same for tensorstore.
      find "$dir/$store.zarr" -type f -exec cat {} + > /dev/null
      t=$("$peer_python" benches/peer/tensorstore_read.py --store "$dir/$store.zarr" --array image \
            --shape "$window" --seconds "$secs" --json $flag)
      python3 - "$store" "$window" "$placement" "$v" "$t" <<'PY'
import json, sys
store, window, placement, v, t = sys.argv[1:]
v, t = json.loads(v), json.loads(t)
print(f"| {store} | {window} | {placement} | {v['bytes_per_s']/1e9:.2f} | {v['items_per_s']:.0f} | "
      f"{v['memcpy_bytes_per_s']/1e9:.1f} | {100*v['ratio_to_memcpy']:.0f} % | "
      f"{t['bytes_per_s']/1e9:.2f} | {v['bytes_per_s']/t['bytes_per_s']:.0f}x |")
PY
    done
  done
done
