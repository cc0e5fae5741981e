"""Arrays written by other tools, read through voxload.open: Zarr v2 (zarr-python, every
compressor and layout v2 users meet), OME-Zarr image groups (the ome-zarr package, NGFF 0.4 and
0.5). The oracle is always the writer's own read of the whole array, padded by numpy.pad."""

import json

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

import voxload
from pad_oracle import PADS, padded_window

SHAPE = (9, 21, 17)
CHUNKS = (4, 8, 5)


def volume(dtype):
    z, y, x = np.indices(SHAPE)
    v = z * 1009 + y * 31 + x * 7 + 3
    if dtype == "float32":
        return (v * 0.25).astype(np.float32)
    if np.dtype(dtype).itemsize >= 4:
        return (v * 40503 + 11).astype(dtype)
    return (v % (int(np.iinfo(dtype).max) + 1)).astype(dtype)


# name -> (dtype, create_array keyword arguments)
V2_ARRAYS = {
    "raw_u8": ("uint8", dict(compressors=None)),
    "raw_u16": ("uint16", dict(compressors=None)),
    "raw_f32": ("float32", dict(compressors=None)),
    "blosc_lz4_u16": ("uint16", dict(compressors=numcodecs.Blosc(cname="lz4", shuffle=1))),
    "blosc_zstd_u64": ("uint64", dict(compressors=numcodecs.Blosc(cname="zstd", shuffle=2))),
    "zstd_u32": ("uint32", dict(compressors=numcodecs.Zstd(level=3))),
    "gzip_u8": ("uint8", dict(compressors=numcodecs.GZip(level=5))),
    "zlib_u16": ("uint16", dict(compressors=numcodecs.Zlib(level=1))),
    "lz4_u16": ("uint16", dict(compressors=numcodecs.LZ4(acceleration=1))),
    "slash_u16": ("uint16", dict(compressors=None, chunk_key_encoding={"name": "v2", "separator": "/"})),
    "order_f_u16": ("uint16", dict(compressors=None, order="F")),
    "big_endian_u16": (">u2", dict(compressors=None)),
}


@pytest.fixture(scope="module")
def v2_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("v2") / "em.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    for name, (dtype, kwargs) in V2_ARRAYS.items():
        a = root.create_array(name, shape=SHAPE, chunks=CHUNKS, dtype=dtype, **kwargs)
        a[...] = volume(np.dtype(dtype).newbyteorder("=").name)
    # Fill value 7, only two chunks written: the absent ones read as 7.
    sparse = root.create_array("fill7_u16", shape=SHAPE, chunks=CHUNKS, dtype="uint16",
                               compressors=None, fill_value=7)
    sparse[0:4, 0:8, 0:5] = 1
    sparse[4:8, 8:16, 10:15] = 2
    nested = root.create_group("group")
    n = nested.create_array("inner", shape=SHAPE, chunks=CHUNKS, dtype="uint8", compressors=None)
    n[...] = volume("uint8")
    return path


def test_v2_store_lists_every_array(v2_store):
    s = voxload.open(v2_store)
    assert s.array_names() == sorted(list(V2_ARRAYS) + ["fill7_u16", "group/inner"])
    for name, (dtype, _) in V2_ARRAYS.items():
        a = s[name]
        assert a.shape == SHAPE and a.chunks == CHUNKS
        assert a.dtype == np.dtype(dtype).newbyteorder("="), name


@pytest.mark.parametrize("name", sorted(list(V2_ARRAYS) + ["fill7_u16", "group/inner"]))
@pytest.mark.parametrize("pad", sorted(PADS))
def test_v2_windows_equal_numpy_pad_of_zarr_python(v2_store, name, pad):
    whole = zarr.open_array(str(v2_store / name), mode="r")[...]
    whole = whole.astype(whole.dtype.newbyteorder("="))
    array = voxload.open(v2_store)[name]
    for start, shape in [((0, 0, 0), SHAPE), ((-3, -5, -4), (6, 12, 9)), ((5, 15, 12), (8, 11, 9)),
                         ((-2, 3, 14), (13, 5, 6))]:
        got = array.read(start, shape, pad=pad)
        want = padded_window(whole, start, shape, pad)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {start} {shape} {pad}")


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[st.integers(-12, 20)] * 3), st.tuples(*[st.integers(1, 24)] * 3),
       st.sampled_from(["blosc_lz4_u16", "raw_u16", "slash_u16", "order_f_u16", "fill7_u16"]),
       st.sampled_from(sorted(PADS)))
def test_v2_any_window(v2_store, start, shape, name, pad):
    whole = zarr.open_array(str(v2_store / name), mode="r")[...]
    got = voxload.open(v2_store)[name].read(start, shape, pad=pad)
    np.testing.assert_array_equal(got, padded_window(whole, start, shape, pad))


def info_blocks(path):
    """`voxload info`'s output, one block of lines per array, by array name."""
    import os, subprocess
    out = subprocess.run([os.environ.get("VOXLOAD_BIN", "voxload"), "info", str(path)],
                         capture_output=True, text=True, check=True).stdout
    blocks, name = {}, None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            name = line.split(":")[0].strip()
            blocks[name] = []
        elif name is not None:
            blocks[name].append(line.strip())
    return blocks


def test_v2_raw_arrays_are_memory_mapped_and_compressed_ones_decoded(v2_store):
    blocks = info_blocks(v2_store)
    encoding = {n: next(l for l in b if l.startswith("encoding")) for n, b in blocks.items()}
    for name in ("raw_u8", "raw_u16", "raw_f32", "slash_u16", "fill7_u16", "group/inner"):
        assert "memory-mapped" in encoding[name], (name, encoding[name])
    for name, codec in [("blosc_lz4_u16", "blosc"), ("zstd_u32", "zstd"), ("gzip_u8", "gzip"),
                        ("lz4_u16", "lz4"),
                        ("order_f_u16", "transpose"), ("big_endian_u16", "big-endian")]:
        assert "decoded" in encoding[name] and codec in encoding[name], (name, encoding[name])


def test_v2_errors_name_the_array_and_the_codec(tmp_path):
    bad = tmp_path / "bad.zarr"
    root = zarr.open_group(str(bad), mode="w", zarr_format=2)
    root.create_array("a", shape=SHAPE, chunks=CHUNKS, dtype="uint8", compressors=None)
    meta_path = bad / "a" / ".zarray"
    meta = json.loads(meta_path.read_text())
    meta["compressor"] = {"id": "lzma", "preset": 1}  # numcodecs has it; zarrs does not
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(voxload.Error) as e:
        voxload.open(bad)["a"]
    assert "lzma" in str(e.value) and "a" in str(e.value)
    # A truncated raw chunk is reported with its file, never read as garbage.
    root.create_array("b", shape=SHAPE, chunks=CHUNKS, dtype="uint16", compressors=None)[...] = 1
    chunk = bad / "b" / "0.0.0"
    chunk.write_bytes(chunk.read_bytes()[:10])
    with pytest.raises(voxload.Error) as e:
        voxload.open(bad)["b"].read((0, 0, 0), (2, 2, 2))
    assert "0.0.0" in str(e.value)


# --- OME-Zarr -------------------------------------------------------------------------------


def write_ome(path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image
    from ome_zarr.scale import Scaler

    data = volume("uint8")
    store = parse_url(str(path), mode="w", fmt=ome_format(version)).store
    root = zarr.group(store=store)
    write_image(data, root, axes=[{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
                scaler=Scaler(max_layer=2, method="nearest"),
                coordinate_transformations=[[{"type": "scale", "scale": [30.0, 8.0 * 2 ** i, 8.0 * 2 ** i]}]
                                            for i in range(3)],
                fmt=ome_format(version))
    return data


def ome_format(version):
    from ome_zarr import format as fmt
    return fmt.FormatV04() if version == "0.4" else fmt.FormatV05()


def ome_levels(path):
    """The level paths and scales as the metadata states them, read with zarr-python."""
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    multiscales = attrs["ome"]["multiscales"] if "ome" in attrs else attrs["multiscales"]
    datasets = multiscales[0]["datasets"]
    return [(d["path"], d["coordinateTransformations"][0]["scale"]) for d in datasets]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_image_opens_as_level_0_and_levels_by_path(tmp_path, version):
    path = tmp_path / "em.zarr"
    data = write_ome(path, version)
    levels = ome_levels(path)
    assert len(levels) == 3
    s = voxload.open(path)
    assert s.array_names() == sorted(p for p, _ in levels)
    # The image group (here the store's root) reads as its level 0; so does its address.
    np.testing.assert_array_equal(voxload.open(path)[""].read((0, 0, 0), SHAPE), data)
    for level, _ in levels:
        whole = zarr.open_array(str(path / level), mode="r")[...]
        shape = tuple(n + 4 for n in whole.shape)
        got = s[level].read((-2, -3, -3), shape, pad="reflect")
        np.testing.assert_array_equal(got, padded_window(whole, (-2, -3, -3), shape, "reflect"))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_group_inside_a_store_reads_as_level_0(tmp_path, version):
    path = tmp_path / "store.zarr"
    data = write_ome(path / "raw", version)
    loader_cfg = {
        "DATASET": {"INPUT_PATH": str(path), "IMAGE_NAME": "raw", "PAD_SIZE": [0, 0, 0]},
        "MODEL": {"INPUT_SIZE": [9, 21, 17]},
        "SOLVER": {"SAMPLES_PER_BATCH": 1},
        "INFERENCE": {"INPUT_SIZE": [9, 21, 17], "STRIDE": [9, 21, 17], "SAMPLES_PER_BATCH": 1},
    }
    batches = list(voxload.Loader(loader_cfg, mode="test"))
    assert len(batches) == 1
    got = batches[0]["image"][0, 0]
    # PyTC scales uint8 to [-1, 1] by (x / 255 - 0.5) / 0.5.
    want = ((data.astype(np.float32) / 255) - 0.5) / 0.5
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_voxload_info_lists_ome_levels_with_scale_and_unit(tmp_path):
    import os, subprocess
    path = tmp_path / "em.zarr"
    write_ome(path, "0.4")
    # Units as a writer that states them leaves them (this ome-zarr version drops the ones given).
    attrs_path = path / ".zattrs"
    attrs = json.loads(attrs_path.read_text())
    for axis in attrs["multiscales"][0]["axes"]:
        axis["unit"] = "nanometer"
    attrs_path.write_text(json.dumps(attrs))
    out = subprocess.run([os.environ.get("VOXLOAD_BIN", "voxload"), "info", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "OME-Zarr image (NGFF 0.4), 3 levels" in out, out
    assert "z (nanometer), y (nanometer), x (nanometer)" in out, out
    for level, scale in ome_levels(path):
        shown = "[" + ", ".join(f"{float(v):g}" for v in scale) + "]"
        assert f"level {level:<4} scale {shown}" in out, (shown, out)


def test_image_scale_level_picks_an_ome_level_and_errors_name_the_key(tmp_path):
    path = tmp_path / "store.zarr"
    write_ome(path / "raw", "0.5")
    levels = ome_levels(path / "raw")
    level1 = zarr.open_array(str(path / "raw" / levels[1][0]), mode="r")[...]
    d, h, w = level1.shape
    cfg = {
        "DATASET": {"INPUT_PATH": str(path), "IMAGE_NAME": "raw", "PAD_SIZE": [0, 0, 0],
                    "IMAGE_SCALE_LEVEL": 1},
        "MODEL": {"INPUT_SIZE": [d, h, w]},
        "INFERENCE": {"INPUT_SIZE": [d, h, w], "STRIDE": [d, h, w], "SAMPLES_PER_BATCH": 1},
    }
    (batch,) = list(voxload.Loader(cfg, mode="test"))
    np.testing.assert_allclose(batch["image"][0, 0], (level1.astype(np.float32) / 255 - 0.5) / 0.5,
                               atol=1e-6)
    cfg["DATASET"]["IMAGE_SCALE_LEVEL"] = 3
    with pytest.raises(voxload.Error, match="IMAGE_SCALE_LEVEL.*3 levels"):
        voxload.Loader(cfg, mode="test")
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").create_array("im", shape=SHAPE, dtype="uint8")
    cfg["DATASET"].update(INPUT_PATH=str(plain), IMAGE_NAME="im", IMAGE_SCALE_LEVEL=0)
    with pytest.raises(voxload.Error, match="IMAGE_SCALE_LEVEL.*not an OME-Zarr image group"):
        voxload.Loader(cfg, mode="test")


@pytest.mark.parametrize("name", ["raw_u16", "blosc_lz4_u16", "order_f_u16", "fill7_u16"])
def test_ingest_copies_a_v2_array_into_a_v3_store(v2_store, tmp_path, name):
    import os, subprocess
    from pathlib import Path
    ingest = Path(os.environ.get("VOXLOAD_BIN", "voxload")).with_name("ingest")
    out = tmp_path / "v3.zarr"
    done = subprocess.run([str(ingest), str(v2_store / name), str(out), "--array", "copy",
                           "--chunk", "4,16,16", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    want = zarr.open_array(str(v2_store / name), mode="r")[...]
    got = zarr.open_array(str(out / "copy"), mode="r", zarr_format=3)[...]
    np.testing.assert_array_equal(got, want)
    verify = subprocess.run([os.environ.get("VOXLOAD_BIN", "voxload"), "verify", str(out / "copy"),
                             "--source", str(v2_store / name)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("pad", ["reflect", "constant:7"])
def test_sharded_compressed_arrays_read_by_inner_chunk(tmp_path, pad):
    """zarr-python's sharded zstd arrays (shards of many inner chunks): every window equals
    numpy.pad of zarr-python's read, and voxload reports the inner-chunk grid."""
    path = tmp_path / "sh.zarr"
    a = zarr.open_group(str(path), mode="w").create_array(
        "sh", shape=(12, 40, 36), chunks=(2, 8, 8), shards=(4, 16, 24), dtype="uint16",
        compressors=zarr.codecs.ZstdCodec(level=3))
    data = volume("uint16")
    full = np.zeros((12, 40, 36), np.uint16)
    full[:9, :21, :17] = data
    full[9:, 30:, :] = 5
    a[...] = full
    arr = voxload.open(path)["sh"]
    assert arr.chunks == (4, 16, 24)
    rng = np.random.default_rng(3)
    for _ in range(25):
        start = tuple(int(v) for v in rng.integers(-6, 30, 3))
        shape = tuple(int(v) for v in rng.integers(1, 20, 3))
        np.testing.assert_array_equal(arr.read(start, shape, pad=pad),
                                      padded_window(full, start, shape, pad))


def test_ome_group_whose_level_0_is_missing_is_an_error_naming_it(tmp_path):
    import shutil
    path = tmp_path / "em.zarr"
    write_ome(path, "0.4")
    level0 = ome_levels(path)[0][0]
    shutil.rmtree(path / level0)
    with pytest.raises(voxload.Error, match=f"level 0 \\(`{level0}`\\) is missing"):
        voxload.open(path)[""]
