"""Checks one window written by `voxload window` against numpy: the whole array is read with
zarr-python, padded with np.pad far enough to contain the window, and sliced.

Usage: python check_window.py STORE ARRAY START SHAPE MODE NPY
START like -4,0,3; SHAPE like 8,20,20; MODE constant, constant:V, reflect, symmetric or edge.
Exit 0 on success, 1 on a difference, 2 when zarr or numpy cannot be imported.
"""

import sys

try:
    import numpy as np
    import zarr
except ImportError as e:
    print(f"check_window.py needs zarr-python 3 and numpy: {e}")
    sys.exit(2)


def expected(volume, start, shape, mode):
    pads = []
    for s, n, d in zip(start, shape, volume.shape):
        pads.append((max(0, -s), max(0, s + n - d)))
    if mode.startswith("constant"):
        value = float(mode.split(":", 1)[1]) if ":" in mode else 0
        padded = np.pad(volume, pads, mode="constant", constant_values=value)
    else:
        padded = np.pad(volume, pads, mode=mode)
    index = tuple(slice(s + p[0], s + p[0] + n) for s, n, p in zip(start, shape, pads))
    return padded[index]


def main(store, array, start, shape, mode, npy):
    start = [int(v) for v in start.split(",")]
    shape = [int(v) for v in shape.split(",")]
    volume = zarr.open_array(store=store, path=array, mode="r")[...]
    want = expected(volume, start, shape, mode)
    got = np.load(npy)
    if got.dtype != want.dtype or got.shape != want.shape:
        print(f"got {got.dtype}{got.shape}, expected {want.dtype}{want.shape}")
        return 1
    if not np.array_equal(got, want):
        bad = tuple(int(i) for i in np.argwhere(got != want)[0])
        print(f"first difference at {bad}: expected {want[bad]}, got {got[bad]}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
