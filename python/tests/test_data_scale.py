"""PyTC's DATA_SCALE / IMAGE_SCALE / LABEL_SCALE: the volumes are read as scipy.ndimage.zoom
resamples them at load (cubic for the image, nearest for the label), padded afterwards — here
checked window by window against scipy on the whole volume, in training and grid modes."""

import json

import numpy as np
import pytest
import zarr
from scipy import ndimage

import voxload


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    rng = np.random.default_rng(3)
    z, y, x = np.indices((10, 60, 52))
    image = (127 + 60 * np.sin(y / 5.0) * np.cos(x / 7.0) + rng.normal(0, 20, (10, 60, 52)))
    image = np.clip(image, 0, 255).astype(np.uint8)
    label = ((z // 3) * 16 + (y // 12) * 4 + x // 13).astype(np.uint16)
    root.create_array("raw", data=image, chunks=(5, 32, 32), compressors=None)
    root.create_array("seg", data=label, chunks=(5, 32, 32), compressors=None)
    return d, image, label


def config(d, scale, **dataset):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "PAD_SIZE": [1, 6, 6], "MATCH_ACT": "sigmoid", "DATA_SCALE": scale, **dataset},
        "MODEL": {"INPUT_SIZE": [4, 20, 20], "TARGET_OPT": ["0"], "WEIGHT_OPT": [["0"]]},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
        "INFERENCE": {"STRIDE": [2, 10, 10]},
    }


def window(volume, pad, start, shape):
    padded = np.pad(volume, [(p, p) for p in pad], mode="reflect")
    sl = tuple(slice(s + p, s + p + n) for s, p, n in zip(start, pad, shape))
    return padded[sl]


@pytest.mark.parametrize("scale", [[1.0, 0.5, 0.5], [1.0, 2.0, 2.0], [1.0, 1.5, 0.7]])
def test_training_windows_equal_scipy_zoom_then_pad(store, scale):
    d, image, label = store
    zoomed = ndimage.zoom(image, scale, order=3)
    zoomed_label = ndimage.zoom(label, scale, order=0)
    loader = voxload.Loader(config(d, scale), samples=6, seed=4)
    for batch in loader:
        for i, info in enumerate(batch["info"]):
            want = window(zoomed, [1, 6, 6], info["start"], info["shape"]) / np.float32(255)
            np.testing.assert_allclose(batch["image"][i, 0], want, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(
                batch["label"][i, 0], window(zoomed_label, [1, 6, 6], info["start"], info["shape"]))
            np.testing.assert_array_equal(batch["target_0"][i, 0], batch["label"][i, 0] > 0)


def test_grid_covers_the_zoomed_volume_and_per_array_scales(store, tmp_path):
    d, image, _ = store
    cfg = config(d, [1.0, 0.5, 0.5])
    zoomed = ndimage.zoom(image, [1.0, 0.5, 0.5], order=3)
    loader = voxload.Loader(cfg, mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        for batch in loader:
            writer.add(batch, batch["image"])
    out = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...]
    assert out.shape == (1,) + zoomed.shape
    np.testing.assert_allclose(out[0], zoomed / 255.0, atol=1e-6)
    # A label scale of its own: the label is zoomed by it (here back to the image's grid).
    bad = config(d, [1.0, 0.5, 0.5], LABEL_SCALE=[1.0, 1.0, 1.0])
    with pytest.raises(voxload.Error, match="shape"):
        next(iter(voxload.Loader(bad, samples=1)))
    with pytest.raises(ValueError, match="DATA_SCALE"):
        voxload.Loader(config(d, [1.0, 0.0, 0.5]), samples=1)
