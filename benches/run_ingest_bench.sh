#!/usr/bin/env bash
# The ingest benchmark of BENCHMARKS.md: a 1 GiB uint8 volume (256 slices of 2048 x 2048, 2 x 2
# tiles of 1024 per slice) as PNG and as LZW TIFF, ingested into raw chunks (32, 256, 256) with
# 1 and 2 threads, beside the decode-only rate of the same files (same decoder, same threads),
# peak RSS, and a Python ingest (Pillow + zarr-python 3, 2 threads) of the same PNG files.
# Usage: benches/run_ingest_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${BENCH_DIR:-target/bench-data}"
mkdir -p "$dir"
cargo build --release --quiet
vox=target/release/voxload
ing=target/release/ingest
for fmt in png tiff; do
  [ -f "$dir/tiles-$fmt/tiles.json" ] || "$vox" synth "$dir/tiles-$fmt" --volume 256,2048,2048 --tiles "$fmt" --tile 1024 >&2
done
peer_python="$(bash benches/peer/setup_venv.sh | tail -n 1)"
"$peer_python" -c "import PIL, zarr" 2>/dev/null || "$peer_python" -m pip install --quiet "zarr==3.1.6" pillow

echo "| input | threads | decode-only MB/s | ingest MB/s | ingest / decode | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for fmt in png tiff; do
  for threads in 1 2; do
    find "$dir/tiles-$fmt" -type f -exec cat {} + > /dev/null
    dec=$("$vox" bench decode "$dir/tiles-$fmt/tiles.json" --threads "$threads" --json)
    rm -rf "$dir/ingest-out.zarr"
    start=$(date +%s.%N)
    rss=$( { /usr/bin/time -f "%M" "$ing" "$dir/tiles-$fmt/tiles.json" "$dir/ingest-out.zarr" \
              --chunk 32,256,256 --threads "$threads" --quiet; } 2>&1 | tail -n 1)
    end=$(date +%s.%N)
    python3 - "$fmt" "$threads" "$dec" "$start" "$end" "$rss" <<'PY'
import json, sys
fmt, threads, dec, start, end, rss = sys.argv[1:]
dec = json.loads(dec)
secs = float(end) - float(start)
ing = 256 * 2048 * 2048 / secs
print(f"| {fmt} | {threads} | {dec['bytes_per_s']/1e6:.0f} | {ing/1e6:.0f} | {100*ing/dec['bytes_per_s']:.0f} % | {int(rss)/1024:.0f} |")
PY
  done
done
rm -rf "$dir/ingest-out.zarr"
find "$dir/tiles-png" -type f -exec cat {} + > /dev/null
py=$("$peer_python" benches/peer/python_ingest.py "$dir/tiles-png/tiles.json" "$dir/python-out.zarr" --threads 2)
rm -rf "$dir/python-out.zarr"
python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(f\"\nPython (Pillow + zarr-python {d['zarr']}, 2 threads), same PNG files: {d['bytes_per_s']/1e6:.0f} MB/s\")" "$py"
