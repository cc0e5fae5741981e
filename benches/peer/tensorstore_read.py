"""Random-window read rate of tensorstore on a voxload (Zarr v3) store: the peer figure that
BENCHMARKS.md sets beside `voxload bench read`.

tensorstore (driver zarr3, kvstore file) is opened with its cache pool at 0 bytes and one
data-copy and one file-I/O thread, so it reads on one thread without a chunk cache, like
`voxload bench read`. Windows are drawn as voxload's `WindowStream` draws them (same rules, not
the same random sequence): interior windows lie wholly inside the volume; with --straddle one
random axis hangs out of the volume by 1..size/2 voxels on the low or high side.

tensorstore has no padding. For a straddling window it reads only the window's intersection
with the volume (`.read().result()`) and copies it into a numpy array of the full window shape
whose voxels outside the volume are set to 0 (where voxload pads); that copy and zeroing are
counted in its time. Interior windows are one `.read().result()` each, returned as a fresh
numpy array. Bytes per second count the full window (shape x itemsize) for both placements, as
voxload does.

glibc's malloc is told (mallopt) to keep freed memory instead of returning it to the kernel:
tensorstore allocates a buffer per chunk read (2 MiB for (32, 256, 256) uint8 chunks), and with
glibc's defaults a run either reuses heap memory or page-faults every buffer anew, which made
the same run 0.4 or 1.0 GB/s by chance. This gives tensorstore its steady, faster figure.

Usage: python tensorstore_read.py --store S.zarr --array image --shape 8,256,256
       [--seconds 5] [--straddle] [--seed 0] [--json]
"""

import argparse
import ctypes
import ctypes.util
import importlib.metadata
import json
import time

import numpy as np
import tensorstore as ts

VERSION = importlib.metadata.version("tensorstore")


def keep_freed_memory():
    """mallopt: M_MMAP_THRESHOLD (-3) at its 32 MiB maximum, M_TRIM_THRESHOLD (-1) at 1 GiB."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(-3, 32 << 20)
        libc.mallopt(-1, 1 << 30)
    except (OSError, AttributeError):
        pass  # not glibc: leave the allocator as it is


def window_starts(volume, shape, straddle, rng):
    """Yields window start corners (may be negative or run past the volume with straddle)."""
    while True:
        start = [int(rng.integers(0, max(v - s, 0) + 1)) for v, s in zip(volume, shape)]
        if straddle:
            axis = int(rng.integers(0, len(shape)))
            over = int(rng.integers(1, max(shape[axis] // 2, 1) + 1))
            low = rng.random() < 0.5
            start[axis] = -over if low else volume[axis] - shape[axis] + over
        yield start


def read_window(array, volume, start, out, straddle):
    """One `.read().result()` of the window at `start` (of `out.shape`). Interior: the fresh
    array tensorstore returns. Straddle: the part inside the volume, copied into `out` with the
    voxels outside the volume set to zero."""
    lo = [max(s, 0) for s in start]
    hi = [min(s + n, v) for s, n, v in zip(start, out.shape, volume)]
    part = array[tuple(slice(l, h) for l, h in zip(lo, hi))].read().result()
    if not straddle:
        return part
    inside = [slice(l - s, h - s) for l, h, s in zip(lo, hi, start)]
    for axis, keep in enumerate(inside):  # zero the slabs outside the volume
        for cut in (slice(0, keep.start), slice(keep.stop, None)):
            out[(slice(None),) * axis + (cut,)] = 0
    out[tuple(inside)] = part
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", required=True, help="directory of a Zarr v3 group")
    p.add_argument("--array", default="image", help="array name inside the group")
    p.add_argument("--shape", default="8,256,256", help="window shape D,H,W")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds (after 1 s warm-up)")
    p.add_argument("--straddle", action="store_true", help="windows cross a volume face")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args()
    keep_freed_memory()
    shape = [int(v) for v in a.shape.split(",")]

    array = ts.open({
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": f"{a.store.rstrip('/')}/{a.array}/"},
        "context": {
            "cache_pool": {"total_bytes_limit": 0},
            "data_copy_concurrency": {"limit": 1},
            "file_io_concurrency": {"limit": 1},
        },
    }, read=True).result()
    volume = list(array.shape)
    if len(shape) != len(volume):
        p.error(f"--shape has {len(shape)} axes, the array has {len(volume)}")
    out = np.zeros(shape, dtype=array.dtype.numpy_dtype)
    starts = window_starts(volume, shape, a.straddle, np.random.default_rng(a.seed))

    def run(limit):
        count, t0 = 0, time.perf_counter()
        while count == 0 or time.perf_counter() - t0 < limit:
            read_window(array, volume, next(starts), out, a.straddle)
            count += 1
        return count, time.perf_counter() - t0

    run(1.0)  # warm-up
    count, seconds = run(a.seconds)
    nbytes = count * int(np.prod(shape)) * out.itemsize
    result = {
        "tool": "tensorstore",
        "tensorstore_version": VERSION,
        "windows": count,
        "seconds": seconds,
        "items_per_s": count / seconds,
        "bytes_per_s": nbytes / seconds,
        "window": shape,
        "placement": "straddle" if a.straddle else "interior",
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"tensorstore {VERSION} {result['placement']} {a.shape}: {count} windows in "
              f"{seconds:.2f} s, {result['items_per_s']:.0f} windows/s, "
              f"{result['bytes_per_s'] / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
