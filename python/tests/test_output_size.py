"""Test mode's INFERENCE.OUTPUT_SIZE (which becomes MODEL.OUTPUT_SIZE there): a model whose
output is smaller than its input. PyTC's test() adds each output block at its window's first
voxel (not centred) with a blending weight of the block's size, then crops the padding. The
oracle here is that placement, done with numpy on the padded volume: with a model that returns
the first OUTPUT_SIZE voxels of its input, every voxel a block covers must come back as the
padded volume's value there, and a voxel no block covers has no weight: NaN, PyTC's 0 / 0."""

import numpy as np
import pytest
import zarr

import voxload
from pytc_grid import pytc_grid

PAD = [1, 2, 2]
INPUT = [4, 16, 16]
OUTPUT = [3, 10, 12]
STRIDE = [2, 8, 8]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("outsize")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    image = np.random.default_rng(8).integers(0, 256, (7, 30, 33), dtype=np.uint8)
    root.create_array("raw", data=image, chunks=(4, 16, 16), compressors=None)
    return d, image


def config(d, output=OUTPUT):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "PAD_SIZE": [2, 8, 8]},
        "MODEL": {"INPUT_SIZE": [8, 32, 32]},
        "INFERENCE": {"INPUT_SIZE": INPUT, "OUTPUT_SIZE": output, "STRIDE": STRIDE,
                      "PAD_SIZE": PAD},
    }


def pytc_placement(shape):
    """Which voxels of the padded volume PyTC's blocks cover (its test grid over the padded
    volume, each block at its window's start)."""
    covered = np.zeros(shape, dtype=bool)
    axes = pytc_grid(shape, INPUT, STRIDE)
    for z in axes[0]:
        for y in axes[1]:
            for x in axes[2]:
                covered[z:z + OUTPUT[0], y:y + OUTPUT[1], x:x + OUTPUT[2]] = True
    return covered


def test_output_blocks_land_at_their_windows_start_as_in_pytc(store, tmp_path):
    d, image = store
    loader = voxload.Loader(config(d), mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        for batch in loader:
            assert batch["image"].shape[2:] == tuple(INPUT)
            block = batch["image"][:, :, :OUTPUT[0], :OUTPUT[1], :OUTPUT[2]] * 0.5 + 0.5
            writer.add(batch, block)
    out = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...][0]
    padded = np.pad(image, [(p, p) for p in PAD], mode="reflect")
    covered = pytc_placement(padded.shape)
    crop = tuple(slice(p, n - p) for p, n in zip(PAD, padded.shape))
    want = np.where(covered, padded / 255, np.nan)[crop]
    assert out.shape == image.shape
    # Some voxels are not covered at all (blocks of 10 in y behind windows of 16 at stride 8
    # leave the last rows), so the check has both kinds.
    assert 0 < covered[crop].sum() < covered[crop].size
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_a_whole_window_prediction_is_refused_with_the_size_expected(store, tmp_path):
    d, _ = store
    loader = voxload.Loader(config(d), mode="grid")
    batches = list(loader)
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        with pytest.raises(voxload.ValueError, match="OUTPUT_SIZE"):
            writer.add(batches[0], batches[0]["image"])
        for b in batches:
            writer.add(b, b["image"][:, :, :OUTPUT[0], :OUTPUT[1], :OUTPUT[2]])


def test_an_output_larger_than_the_input_is_a_config_error(store):
    d, _ = store
    with pytest.raises(voxload.ValueError, match="MODEL.OUTPUT_SIZE"):
        voxload.Loader(config(d, output=[4, 16, 20]), mode="grid")


def test_the_config_reports_inference_output_size_as_used(store, tmp_path):
    import json
    import subprocess
    from conftest import voxload_bin
    d, _ = store
    (tmp_path / "c.json").write_text(json.dumps(config(d)))
    out = subprocess.run([voxload_bin(), "config", "--config", str(tmp_path / "c.json"),
                          "--mode", "test", "--json"], check=True, capture_output=True,
                         text=True).stdout
    merged = json.loads(out)
    assert merged["MODEL"]["OUTPUT_SIZE"] == OUTPUT
    assert "INFERENCE.OUTPUT_SIZE" not in merged["VOXLOAD"]["unused"]
