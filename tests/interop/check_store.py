"""Opens a Zarr v3 group written by voxload with zarr-python 3 and checks every array named
`<anything>_<dtype>` against the fixture formula (see tests/fixtures/make_zarr_python.py).

Usage: python check_store.py STORE. Exit 0 on success, 1 on a mismatch, 2 when zarr or numpy
cannot be imported.
"""

import sys

try:
    import numpy as np
    import zarr
except ImportError as e:
    print(f"check_store.py needs zarr-python 3 and numpy: {e}")
    sys.exit(2)

DTYPES = ("uint8", "uint16", "uint32", "uint64", "float32")


def formula(dtype, shape):
    z, y, x = np.meshgrid(*(np.arange(s, dtype=np.int64) for s in shape), indexing="ij")
    n = z * 10007 + y * 101 + x * 7 + 3
    return {
        "uint8": lambda: (n % 256).astype(np.uint8),
        "uint16": lambda: (n % 65536).astype(np.uint16),
        "uint32": lambda: n.astype(np.uint32),
        "uint64": lambda: (n + 2**40).astype(np.uint64),
        "float32": lambda: (n * 0.125).astype(np.float32),
    }[dtype]()


def main(store):
    group = zarr.open_group(store, mode="r")
    checked = 0
    for name in sorted(group.array_keys()):
        dtype = name.rsplit("_", 1)[-1]
        if dtype not in DTYPES:
            continue
        array = group[name]
        if str(array.dtype) != dtype:
            print(f"{name}: dtype {array.dtype}, expected {dtype}")
            return 1
        got = array[...]
        want = formula(dtype, array.shape)
        if not np.array_equal(got, want):
            bad = tuple(int(i) for i in np.argwhere(got != want)[0])
            print(f"{name}: first mismatch at {bad}: expected {want[bad]}, got {got[bad]}")
            return 1
        checked += 1
    if checked == 0:
        print(f"{store}: no arrays named <name>_<dtype> to check")
        return 1
    print(f"ok: {checked} arrays checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
