"""The peer of benches/predict.rs: PyTC-style gaussian blending in numpy.

Accumulates `prediction * ww` and `ww` into whole-volume float32 arrays window by window, then
divides (as PyTorch Connectomics' inference does), for `(1, 8, 256, 256)` float32 predictions at
stride (4, 128, 128) over the same grid as voxload's benchmark (no padding). Output stays in
memory (no file is written). Prints one JSON object with --json.

Usage: python numpy_blend.py [--volume D,H,W] [--json]
"""

import argparse
import json
import math
import time

import numpy as np

WINDOW = (8, 256, 256)
STRIDE = (4, 128, 128)


def grid_starts(length, window, stride):
    """voxload's / PyTC's grid: i * stride for i < 1 + ceil((D - d) / stride), last clamped."""
    if length <= window:
        return [0]
    count = 1 + math.ceil((length - window) / stride)
    return [min(i * stride, length - window) for i in range(count)]


def blend_gaussian(sz, sigma=0.2, mu=0.0):
    """PyTC's gaussian blending matrix (sigma 0.2 on linspace(-1, 1), plus 1e-4)."""
    zz, yy, xx = np.meshgrid(
        *(np.linspace(-1, 1, n, dtype=np.float32) for n in sz), indexing="ij"
    )
    dd = np.sqrt(zz * zz + yy * yy + xx * xx)
    return (1e-4 + np.exp(-((dd - mu) ** 2 / (2.0 * sigma**2)))).astype(np.float32)


def prediction():
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in WINDOW), indexing="ij")
    p = 0.5 + 0.4 * np.sin((z * 3 + y) * 0.05) * np.cos(x * 0.03)
    return p[np.newaxis].astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--volume", default="64,1024,1024")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    volume = tuple(int(v) for v in args.volume.split(","))
    ww = blend_gaussian(WINDOW)
    pred = prediction()
    starts = [grid_starts(volume[a], WINDOW[a], STRIDE[a]) for a in range(3)]
    positions = [(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]]
    t = time.perf_counter()
    result = np.zeros((1,) + volume, dtype=np.float32)
    weight = np.zeros(volume, dtype=np.float32)
    for z, y, x in positions:
        sl = (slice(z, z + WINDOW[0]), slice(y, y + WINDOW[1]), slice(x, x + WINDOW[2]))
        result[(slice(None),) + sl] += pred * ww[np.newaxis]
        weight[sl] += ww
    result /= weight[np.newaxis]
    secs = time.perf_counter() - t
    n = len(positions)
    window_bytes = 4 * WINDOW[0] * WINDOW[1] * WINDOW[2]
    if args.json:
        print(json.dumps({"volume": volume, "windows": n, "seconds": secs,
                          "items_per_s": n / secs, "bytes_per_s": n * window_bytes / secs,
                          "numpy": np.__version__}))
    else:
        print(f"numpy blend {volume}: {n} windows in {secs:.2f} s, {n / secs:.0f} windows/s, "
              f"{n * window_bytes / secs / 1e6:.0f} MB/s of predictions")


if __name__ == "__main__":
    main()
