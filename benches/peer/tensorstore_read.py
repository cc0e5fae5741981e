"""Random-window read rate of tensorstore on a voxload (Zarr v3) store: the peer figure that
BENCHMARKS.md sets beside `voxload bench read`.

tensorstore is opened with its cache pool at 0 bytes and one data-copy and one file-I/O thread,
so it reads on one thread without a chunk cache, like `voxload bench read`. It has no padding:
for windows that straddle the volume (--straddle) it reads the intersection into a zeroed array
of the full window shape.

Usage: python tensorstore_read.py --store S.zarr --array image --shape 8,256,256
       [--seconds 5] [--straddle] [--seed 0] [--json]
"""

import argparse
import importlib.metadata
import json
import time

import numpy as np
import tensorstore as ts

VERSION = importlib.metadata.version("tensorstore")


def windows(volume, shape, straddle, rng):
    while True:
        start = [int(rng.integers(0, max(v - s, 0) + 1)) for v, s in zip(volume, shape)]
        if straddle:
            axis = int(rng.integers(0, 3))
            over = int(rng.integers(1, max(shape[axis] // 2, 1) + 1))
            start[axis] = -over if rng.random() < 0.5 else volume[axis] - shape[axis] + over
        yield start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--store", required=True)
    p.add_argument("--array", default="image")
    p.add_argument("--shape", default="8,256,256")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--straddle", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    shape = [int(v) for v in a.shape.split(",")]
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": f"{a.store}/{a.array}"},
        "context": {
            "cache_pool": {"total_bytes_limit": 0},
            "data_copy_concurrency": {"limit": 1},
            "file_io_concurrency": {"limit": 1},
        },
    }
    array = ts.open(spec, read=True).result()
    volume = list(array.shape)
    rng = np.random.default_rng(a.seed)
    out = np.zeros(shape, dtype=array.dtype.numpy_dtype)
    stream = windows(volume, shape, a.straddle, rng)

    def read(start):
        lo = [max(s, 0) for s in start]
        hi = [min(s + n, v) for s, n, v in zip(start, shape, volume)]
        part = array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].read().result()
        if a.straddle:
            out[...] = 0
            at = tuple(slice(l - s, h - s) for l, h, s in zip(lo, hi, start))
            out[at] = part
        return part

    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        read(next(stream))
    count, t0 = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - t0 < a.seconds:
        read(next(stream))
        count += 1
    seconds = time.perf_counter() - t0
    nbytes = count * int(np.prod(shape)) * out.itemsize
    result = {
        "tool": "tensorstore",
        "tensorstore_version": VERSION,
        "window": shape,
        "placement": "straddle" if a.straddle else "interior",
        "windows": count,
        "seconds": seconds,
        "items_per_s": count / seconds,
        "bytes_per_s": nbytes / seconds,
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"tensorstore {VERSION}: {result['items_per_s']:.0f} windows/s, "
              f"{result['bytes_per_s'] / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
