"""voxload.open / Store / Array against independent oracles: zarr-python reads the same store,
numpy.pad pads it, numpy slices it."""

import os
import threading

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

import voxload
from pad_oracle import PADS, padded_window

DTYPES = ["uint8", "uint16", "uint32", "uint64", "float32"]
SHAPE = (9, 20, 17)
CHUNKS = (4, 8, 5)


def volume(dtype):
    z, y, x = np.indices(SHAPE)
    v = z * 10007 + y * 101 + x * 7 + 3
    if dtype == "float32":
        return (v * 0.125).astype(np.float32)
    return (v % (int(np.iinfo(dtype).max) + 1)).astype(dtype) if dtype in ("uint8", "uint16") else v.astype(dtype)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A Zarr v3 store written by zarr-python: one raw array per dtype, and a zstd one."""
    path = tmp_path_factory.mktemp("s") / "em.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    for dtype in DTYPES:
        a = root.create_array(dtype, shape=SHAPE, chunks=CHUNKS, dtype=dtype, compressors=None)
        a[...] = volume(dtype)
    z = root.create_array("zstd_u16", shape=SHAPE, chunks=CHUNKS, dtype="uint16")
    z[...] = volume("uint16")
    return path


def oracle(path, name, start, shape, pad):
    """The window as numpy would give it: zarr-python's read of the whole volume, padded by
    numpy.pad far enough to hold the window, then cut."""
    return padded_window(zarr.open_array(str(path / name), mode="r")[...], start, shape, pad)


def test_metadata(store):
    s = voxload.open(store)
    assert s.array_names() == sorted(DTYPES + ["zstd_u16"])
    for dtype in DTYPES:
        a = s[dtype]
        assert a.shape == SHAPE
        assert a.dtype == np.dtype(dtype)
        assert a.chunks == CHUNKS
        assert len(a) == SHAPE[0]
    assert "uint8" in s and "nope" not in s
    # A path naming an array opens its store.
    assert voxload.open(str(store / "uint8")).array_names() == s.array_names()


@pytest.mark.parametrize("dtype", DTYPES + ["zstd_u16"])
@pytest.mark.parametrize("pad", list(PADS))
@pytest.mark.parametrize(
    "start,shape",
    [
        ((0, 0, 0), SHAPE),  # the whole volume
        ((2, 3, 4), (3, 5, 6)),  # inside
        ((-2, -3, -4), (5, 8, 9)),  # across the low faces
        ((7, 15, 12), (5, 9, 9)),  # across the high faces
        ((-8, 5, 16), (20, 3, 4)),  # deeper than the volume, both z faces
        ((-30, 100, -50), (2, 3, 4)),  # far outside
    ],
)
def test_windows_equal_numpy_pad_over_zarr_python(store, dtype, pad, start, shape):
    a = voxload.open(store)[dtype]
    got = a.read(start, shape, pad=pad)
    want = oracle(store, dtype, start, shape, pad)
    assert got.dtype == want.dtype
    assert got.shape == tuple(shape)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(
    start=st.tuples(*[st.integers(-25, 30)] * 3),
    shape=st.tuples(*[st.integers(0, 24)] * 3),
    pad=st.sampled_from(list(PADS)),
)
def test_random_windows_equal_numpy_pad(store, start, shape, pad):
    got = voxload.open(store)["uint16"].read(start, shape, pad=pad)
    np.testing.assert_array_equal(got, oracle(store, "uint16", start, shape, pad))


INDICES = [
    np.s_[:, :, :],
    np.s_[...],
    np.s_[2:5],
    np.s_[2:5, -6:, 1:-1],
    np.s_[-3:, ..., :4],
    np.s_[4],
    np.s_[4, 3],
    np.s_[-1, :, -2],
    np.s_[1:1, :, :],
    np.s_[5:2],
    np.s_[:, 100:, :],
    np.s_[-100:3],
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_slicing_equals_numpy(store, index):
    a = voxload.open(store)["float32"]
    want = volume("float32")[index]
    got = a[index]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_bad_indices_are_clear_errors(store):
    a = voxload.open(store)["uint8"]
    with pytest.raises(IndexError, match="out of bounds"):
        a[9]
    with pytest.raises(ValueError, match="step"):
        a[::2]
    with pytest.raises(ValueError, match="too many indices"):
        a[1, 2, 3, 4]


def test_errors_are_typed_and_name_what_is_wrong(store, tmp_path):
    s = voxload.open(store)
    with pytest.raises(KeyError) as e:
        s["nope"]
    assert isinstance(e.value, voxload.ArrayKeyError) and isinstance(e.value, voxload.Error)
    assert "nope" in str(e.value) and "uint16" in str(e.value)
    missing = tmp_path / "missing.zarr"
    with pytest.raises(FileNotFoundError) as e:
        voxload.open(missing)
    assert isinstance(e.value, voxload.Error) and "missing.zarr" in str(e.value)
    with pytest.raises(ValueError) as e:
        s["uint8"].read((0, 0, 0), (1, 1, 1), pad="wrap")
    assert isinstance(e.value, voxload.Error) and "wrap" in str(e.value)
    with pytest.raises(ValueError, match="too large|cannot allocate"):
        s["uint8"].read((0, 0, 0), (2**40, 2**20, 1))


def test_reads_release_the_gil(store):
    """Several Python threads read at once and get exactly what one thread gets."""
    a = voxload.open(store)["uint32"]
    want = a.read((-3, -3, -3), (12, 24, 20), pad="symmetric")
    results = []

    def work():
        results.append(all(np.array_equal(a.read((-3, -3, -3), (12, 24, 20), pad="symmetric"), want)
                           for _ in range(50)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4


def test_the_package_is_the_installed_extension():
    assert voxload.__version__
    assert os.path.basename(voxload.__file__) == "__init__.py"
