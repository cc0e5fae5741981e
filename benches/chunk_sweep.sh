#!/usr/bin/env bash
# How the chunk shape changes read speed: writes a 1 GiB uint8 store (256 x 2048 x 2048) per
# chunk shape and measures random interior windows on one thread with `voxload bench read`.
# This is the measurement behind voxload's default chunk shape (BENCHMARKS.md).
# Usage: benches/chunk_sweep.sh [SECONDS] [CHUNK ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-3}"; shift || true
chunks=("$@")
[ ${#chunks[@]} -gt 0 ] || chunks=(32,256,256 16,512,512 32,128,128 8,256,1024 16,256,1024 32,256,1024 8,512,2048)
cargo build --release --quiet
vox=target/release/voxload
dir="${BENCH_DIR:-target/bench-data}/sweep.zarr"
echo "| chunk | MiB per chunk | (8,256,256) GB/s | % of memcpy | (32,320,320) GB/s | % of memcpy |"
echo "|---|---|---|---|---|---|"
for c in "${chunks[@]}"; do
  rm -rf "$dir"
  "$vox" synth "$dir" --volume 256,2048,2048 --chunk "$c" >/dev/null
  row="| $c | $(python3 -c "import math; print(math.prod(map(int, '$c'.split(','))) / 2**20)")"
  for w in 8,256,256 32,320,320; do
    row="$row | $("$vox" bench read "$dir/image" --shape "$w" --seconds "$secs" --json | python3 -c "
import json, sys; d = json.load(sys.stdin)
print(f\"{d['bytes_per_s'] / 1e9:.2f} | {100 * d['ratio_to_memcpy']:.0f} %\")")"
  done
  echo "$row |"
done
rm -rf "$dir"
