"""Checks one window written by `voxload window` against numpy: the whole array is read with
zarr-python, padded with np.pad far enough on each side to contain the window, and sliced.
np.pad is the oracle (reflect and symmetric fold repeatedly when the pad exceeds the axis).

Usage: python check_window.py STORE ARRAY START SHAPE MODE NPY
START like -4,0,3; SHAPE like 8,20,20; MODE constant, constant:V, reflect, symmetric or edge.
Exit 0 printing `ok`; 1 on a difference; 2 on bad arguments or when zarr or numpy cannot be
imported.
"""

import sys

try:
    import numpy as np
    import zarr
except ImportError as e:
    print(f"check_window.py needs zarr-python 3 and numpy (pip install -r tests/requirements.txt): {e}")
    sys.exit(2)

MODES = ("constant", "reflect", "symmetric", "edge")


def parse_mode(mode, dtype):
    """Returns (np.pad mode, extra keyword arguments)."""
    name, _, value = mode.partition(":")
    if name not in MODES or (value and name != "constant"):
        raise ValueError(f"unknown mode {mode!r}")
    if name != "constant":
        return name, {}
    # Parse integers exactly (a uint64 fill may not survive a float round trip).
    number = float(value) if value and not np.issubdtype(dtype, np.integer) else int(value or 0)
    return name, {"constant_values": np.array(number, dtype=dtype)}


def expected(volume, start, shape, mode):
    pads = [(max(0, -s), max(0, s + n - d)) for s, n, d in zip(start, shape, volume.shape)]
    name, kwargs = parse_mode(mode, volume.dtype)
    padded = np.pad(volume, pads, mode=name, **kwargs)
    return padded[tuple(slice(s + p, s + p + n) for s, n, (p, _) in zip(start, shape, pads))]


def main(store, array, start, shape, mode, npy):
    start = [int(v) for v in start.split(",")]
    shape = [int(v) for v in shape.split(",")]
    volume = zarr.open_array(store=store, path=array, mode="r", zarr_format=3)[...]
    if len(start) != volume.ndim or len(shape) != volume.ndim:
        raise ValueError(f"START and SHAPE need {volume.ndim} values")
    want = expected(volume, start, shape, mode)
    got = np.load(npy)
    if got.dtype != want.dtype or got.shape != want.shape:
        print(f"got {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
        return 1
    if not np.array_equal(got, want):
        bad = tuple(int(i) for i in np.argwhere(got != want)[0])
        print(f"first difference at window index {bad}: expected {want[bad]}, got {got[bad]}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 7:
        print(__doc__)
        sys.exit(2)
    try:
        sys.exit(main(*sys.argv[1:]))
    except ValueError as e:
        print(f"check_window.py: {e}")
        sys.exit(2)
