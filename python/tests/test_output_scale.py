"""PyTC's INFERENCE.OUTPUT_SCALE: in test mode every window's prediction is resized by
skimage.transform.resize(order=1, anti_aliasing=True, preserve_range=True) before it is
blended into an output of the scaled padded volume, which is then cropped by the scaled
padding. Checked against that recipe written out with scikit-image and numpy."""

import json
import subprocess

import numpy as np
import pytest
import zarr
from skimage.transform import resize

import voxload
from conftest import voxload_bin

PAD = [1, 4, 4]
WINDOW = [4, 16, 16]
STRIDE = [2, 8, 8]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("outscale")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (6, 37, 30), dtype=np.uint8)
    root.create_array("raw", data=image, chunks=(6, 16, 16), compressors=None)
    return d


def config(d, scale, blending="gaussian", unpad=True):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "PAD_SIZE": PAD,
                    "MATCH_ACT": "sigmoid"},
        "MODEL": {"INPUT_SIZE": WINDOW},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 3},
        "INFERENCE": {"STRIDE": STRIDE, "OUTPUT_SCALE": scale, "BLENDING": blending,
                      "UNPAD": unpad},
    }


def model(image):
    """A two-channel stand-in for a network: the image and its square."""
    return np.concatenate([image, image * image], axis=1)


def blend_matrix(size, blending):
    if blending == "constant":
        return np.ones(size, np.float32)
    if blending == "bump":  # PyTC's bump, t = 1.5
        axes = np.meshgrid(*[np.linspace(0, 1, n + 2, dtype=np.float32)[1:-1] for n in size],
                           indexing="ij")
        dd = -sum((a * (1 - a)) ** -1.5 for a in axes)
        return (1e-4 + np.exp(dd - dd.max())).astype(np.float32)
    axes = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in size], indexing="ij")
    dist2 = sum(a * a for a in axes)
    return (1e-4 + np.exp(-dist2 / (2 * 0.2 ** 2))).astype(np.float32)


def pytc_output(windows, shape, scale, blending, unpad):
    """PyTC's test(): resize each window's prediction, add it at floor(start * scale) into the
    scaled padded volume with the blending weight, normalise, crop floor(pad * scale)."""
    padded = np.array(shape) + 2 * np.array(PAD)
    size = np.ceil(padded * np.array(scale)).astype(int)
    window = np.ceil(np.array(WINDOW) * np.array(scale)).astype(int)
    ww = blend_matrix(tuple(window), blending)
    out = np.zeros((2, *size), np.float64)
    weight = np.zeros(tuple(size), np.float64)
    for start, pred in windows:
        resized = resize(pred, (2, *window), order=1, preserve_range=True, anti_aliasing=True)
        st = (np.array(start) + np.array(PAD)) * np.array(scale)
        st = st.astype(int)
        sl = tuple(slice(s, min(s + n, m)) for s, n, m in zip(st, window, size))
        cut = tuple(slice(0, x.stop - x.start) for x in sl)
        out[(slice(None),) + sl] += resized[(slice(None),) + cut] * ww[cut]
        weight[sl] += ww[cut]
    with np.errstate(invalid="ignore"):  # voxels no window reaches lie in the cropped pad
        out /= weight
    crop = (np.array(PAD) * np.array(scale)).astype(int) * unpad
    return out[(slice(None),) + tuple(slice(c, n - c) for c, n in zip(crop, size))]


@pytest.mark.parametrize("scale,blending,unpad", [([1.0, 0.5, 0.5], "gaussian", True),
                                                  ([1.0, 2.0, 2.0], "gaussian", True),
                                                  ([0.5, 0.75, 1.5], "constant", True),
                                                  ([1.0, 0.5, 0.5], "gaussian", False),
                                                  ([1.0, 1.0, 1.0], "bump", False)])
def test_scaled_predictions_blend_as_pytc_resizes_them(store, tmp_path, scale, blending, unpad):
    loader = voxload.Loader(config(store, scale, blending, unpad), mode="test")
    windows = []
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader, channels=2) as writer:
        for batch in loader:
            pred = model(batch["image"])
            writer.add(batch, pred)
            windows += [(info["start"], pred[i]) for i, info in enumerate(batch["info"])]
    got = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...]
    want = pytc_output(windows, (6, 37, 30), scale, blending, unpad)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_a_scale_that_merges_windows_is_an_error(store, tmp_path):
    loader = voxload.Loader(config(store, [1.0, 0.1, 0.5]), mode="test")
    with pytest.raises(voxload.Error, match="scale times the stride"):
        voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader)


def test_the_scale_is_read_and_training_batches_do_not_change_with_it(store, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config(store, [1.0, 0.5, 0.5])))
    for mode in ["train", "test"]:
        out = subprocess.run([voxload_bin(), "config", "--config", str(path), "--mode", mode,
                              "--json"], check=True, capture_output=True, text=True).stdout
        merged = json.loads(out)
        assert merged["INFERENCE"]["OUTPUT_SCALE"] == [1.0, 0.5, 0.5]
    summary = subprocess.run([voxload_bin(), "config", "--config", str(path), "--mode", "test"],
                             check=True, capture_output=True, text=True).stdout
    assert "each window resized by [1.0, 0.5, 0.5] before blending" in summary
    # Training batches do not change with it.
    a = next(iter(voxload.Loader(config(store, [1.0, 0.5, 0.5]), samples=3, seed=1)))
    b = next(iter(voxload.Loader(config(store, [1.0, 1.0, 1.0]), samples=3, seed=1)))
    np.testing.assert_array_equal(a["image"], b["image"])
