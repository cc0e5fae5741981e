"""Opens a Zarr v3 group written by voxload with zarr-python 3 and checks every array named
`<anything>_<dtype>` (dtype one of uint8, uint16, uint32, uint64, float32), at any depth and with
any 3-d shape and chunking, against the fixture formula (tests/fixtures/make_zarr_python.py):
n = z*10007 + y*101 + x*7 + 3, as uint8 n % 256, uint16 n % 65536, uint32 n, uint64 n + 2**40,
float32 n * 0.125. An array named `fill7_uint8` holds the formula in [0:7, 0:13, 0:11] and 7
elsewhere.

Usage: python check_store.py STORE
Exit 0 printing `ok: N arrays checked`; 1 on a mismatch (or no array to check); 2 when zarr or
numpy cannot be imported.
"""

import sys

try:
    import numpy as np
    import zarr
except ImportError as e:
    print(f"check_store.py needs zarr-python 3 and numpy (pip install -r tests/requirements.txt): {e}")
    sys.exit(2)

DTYPES = ("uint8", "uint16", "uint32", "uint64", "float32")


def formula(dtype, shape):
    """The formula values for `dtype` over a grid of `shape` (indices z, y, x)."""
    z, y, x = np.meshgrid(*(np.arange(s, dtype=np.int64) for s in shape), indexing="ij")
    n = z * 10007 + y * 101 + x * 7 + 3
    return {
        "uint8": lambda: (n % 256).astype(np.uint8),
        "uint16": lambda: (n % 65536).astype(np.uint16),
        "uint32": lambda: n.astype(np.uint32),
        "uint64": lambda: (n + 2**40).astype(np.uint64),
        "float32": lambda: (n * 0.125).astype(np.float32),
    }[dtype]()


def expected(name, dtype, shape):
    want = formula(dtype, shape)
    if name == "fill7_uint8":
        region = np.s_[0:7, 0:13, 0:11]
        fill = np.full(shape, 7, dtype=np.uint8)
        fill[region] = want[region]
        want = fill
    return want


def check(path, array):
    """Returns an error message for `array`, or None when it matches."""
    name = path.rsplit("/", 1)[-1]
    dtype = name.rsplit("_", 1)[-1]
    if str(array.dtype) != dtype:
        return f"{path}: dtype {array.dtype}, expected {dtype}"
    if array.ndim != 3:
        return f"{path}: {array.ndim} dimensions, expected 3"
    got = array[...]
    want = expected(name, dtype, array.shape)
    if not np.array_equal(got, want):
        bad = tuple(int(i) for i in np.argwhere(got != want)[0])
        return f"{path}: first mismatch at {bad}: expected {want[bad]}, got {got[bad]}"
    return None


def main(store):
    group = zarr.open_group(store, mode="r", zarr_format=3)
    checked = 0
    for path, node in sorted(group.members(max_depth=None), key=lambda m: m[0]):
        if not isinstance(node, zarr.Array) or path.rsplit("_", 1)[-1] not in DTYPES:
            continue
        error = check(path, node)
        if error:
            print(error)
            return 1
        checked += 1
    if checked == 0:
        print(f"{store}: no array named <name>_<dtype> to check")
        return 1
    print(f"ok: {checked} arrays checked")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
