"""`ingest --pyramid` and `voxload pyramid`: OME-Zarr images whose levels equal a reference
downsampling computed here with numpy, whose metadata the `ome-zarr` reader and the NGFF
models (`ome-zarr-models`) accept, and which voxload reads back by level."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import voxload

BIN = Path(os.environ.get("VOXLOAD_BIN", "voxload"))
INGEST = BIN.with_name("ingest")


def run(*args):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def reference_levels(volume, voxel, levels, label):
    """Level k from level k - 1: y and x halved, z too once the voxel is finer in z than in y;
    partial blocks at the far faces reduce what they hold; mean rounded half up for images,
    most frequent non-zero id (first met in C order on ties) for labels."""
    out, scale = [volume], list(voxel)
    for _ in range(levels):
        prev = out[-1]
        f = (2 if scale[0] < scale[1] else 1, 2, 2)
        shape = tuple(-(-n // k) for n, k in zip(prev.shape, f))
        level = np.zeros(shape, prev.dtype)
        for z in range(shape[0]):
            for y in range(shape[1]):
                for x in range(shape[2]):
                    block = prev[z * f[0]:(z + 1) * f[0], y * f[1]:(y + 1) * f[1],
                                 x * f[2]:(x + 1) * f[2]].ravel()
                    if label:
                        best, count = 0, 0
                        for v in block:
                            if v != 0 and (block == v).sum() > count:
                                best, count = v, (block == v).sum()
                        level[z, y, x] = best
                    else:
                        level[z, y, x] = np.floor(block.astype(np.float64).mean() + 0.5)
        out.append(level)
        scale = [s * k for s, k in zip(scale, f)]
    return out


@pytest.fixture(scope="module")
def image_volume():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(5, 37, 43), dtype=np.uint8)


def test_ingest_pyramid_levels_equal_the_reference_and_validate(tmp_path, image_volume):
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, image_volume)
    store = tmp_path / "em.zarr"
    run(INGEST, stack, store, "--array", "raw", "--pyramid", "3", "--voxel-size", "30,8,8",
        "--chunk", "2,16,16", "--quiet")
    want = reference_levels(image_volume, (30, 8, 8), 3, label=False)
    for k, level in enumerate(want):
        got = zarr.open_array(str(store / "raw" / str(k)), mode="r")[...]
        np.testing.assert_array_equal(got, level, err_msg=f"level {k}")
    # The image group reads as level 0; levels by path.
    s = voxload.open(store)
    np.testing.assert_array_equal(s["raw"].read((0, 0, 0), image_volume.shape), image_volume)
    np.testing.assert_array_equal(s["raw/2"].read((0, 0, 0), want[2].shape), want[2])
    # The NGFF 0.5 models accept the metadata, with the scales the voxel size implies.
    import ome_zarr_models
    model = ome_zarr_models.open_ome_zarr(zarr.open_group(str(store / "raw"), mode="r"))
    datasets = model.attributes.ome.multiscales[0].datasets
    scales = [d.coordinateTransformations[0].scale for d in datasets]
    assert scales == [[30, 8, 8], [30, 16, 16], [30, 32, 32], [60, 64, 64]], scales
    # The ome-zarr package's reader finds the image and its levels.
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    nodes = list(Reader(parse_url(str(store / "raw")))())
    assert nodes and len(nodes[0].data) == 4
    np.testing.assert_array_equal(np.asarray(nodes[0].data[3]), want[3])


def test_label_pyramid_keeps_the_most_frequent_id(tmp_path):
    rng = np.random.default_rng(9)
    seg = rng.choice(np.array([0, 0, 0, 3, 7, 1 << 40], dtype=np.uint64), size=(4, 21, 19))
    store = tmp_path / "seg.zarr"
    voxload_store = zarr.open_group(str(store), mode="w")
    voxload_store.create_array("seg", shape=seg.shape, chunks=(2, 8, 8), dtype="uint64",
                               compressors=None)[...] = seg
    run(BIN, "pyramid", store / "seg", "--levels", "2", "--label", "--voxel-size", "8,8,8",
        "--quiet")
    want = reference_levels(seg, (8, 8, 8), 2, label=True)
    for k, level in enumerate(want):
        got = zarr.open_array(str(store / "seg" / str(k)), mode="r")[...]
        np.testing.assert_array_equal(got, level, err_msg=f"level {k}")
    attrs = json.loads((store / "seg" / "zarr.json").read_text())["attributes"]["ome"]
    assert [d["path"] for d in attrs["multiscales"][0]["datasets"]] == ["0", "1", "2"]


def test_voxel_size_without_pyramid_is_recorded_on_the_plain_array(tmp_path, image_volume):
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, image_volume)
    store = tmp_path / "em.zarr"
    run(INGEST, stack, store, "--voxel-size", "40,4,4", "--unit", "nanometer", "--quiet")
    attrs = json.loads((store / "image" / "zarr.json").read_text())["attributes"]
    assert attrs["voxel_size"] == [40.0, 4.0, 4.0] and attrs["unit"] == "nanometer"
    np.testing.assert_array_equal(voxload.open(store)["image"].read((0, 0, 0), image_volume.shape),
                                  image_volume)
