"""DATASET.PAD_SIZE in PyTC's six-value form `[z0, z1, y0, y1, x0, x1]` (its `get_padsize`:
each axis padded by its own amount before and after). PyTC pads the whole volume with numpy.pad
and samples the padded volume; here the oracle is exactly that: numpy.pad of the volume read by
zarr-python, training starts uniform over the padded volume, the grid PyTC's test grid over it,
and the prediction cropped back by the same sides."""

import numpy as np
import pytest
import zarr

import voxload
from pytc_grid import pytc_grid

# z: 1 before, 3 after; y: none before, 5 after; x: 4 before, 2 after.
SIX = [1, 3, 0, 5, 4, 2]
WIDTHS = [(1, 3), (0, 5), (4, 2)]
SHAPE = (6, 20, 18)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("pad6")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    label = rng.integers(0, 4, SHAPE, dtype=np.uint16)
    root.create_array("raw", data=image, chunks=(3, 8, 8), compressors=None)
    root.create_array("seg", data=label, chunks=(3, 8, 8), compressors=None)
    return d


def config(d, input_size, pad=SIX, mode="reflect", **inference):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "PAD_SIZE": pad, "PAD_MODE": mode},
        "MODEL": {"INPUT_SIZE": input_size},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 4},
        "INFERENCE": {"STRIDE": [2, 6, 5], **inference},
    }


def stored(d, name):
    return zarr.open_array(str(d / "em.zarr" / name), mode="r")[...]


def window(padded, start, shape):
    """The window at `start` (volume coordinates) of the volume padded by WIDTHS."""
    sl = tuple(slice(s + w[0], s + w[0] + n) for s, w, n in zip(start, WIDTHS, shape))
    out = padded[sl]
    assert out.shape == tuple(shape), f"window {start} leaves the padded volume"
    return out


@pytest.mark.parametrize("mode", ["reflect", "constant", "symmetric", "edge"])
def test_training_windows_are_numpy_pad_windows_over_the_whole_padded_range(store, mode):
    d = store
    size = [4, 16, 16]
    image = np.pad(stored(d, "raw"), WIDTHS, mode=mode)
    label = np.pad(stored(d, "seg"), WIDTHS, mode=mode)
    starts = []
    for batch in voxload.Loader(config(d, size, mode=mode), samples=400, seed=3):
        for i, info in enumerate(batch["info"]):
            start = info["start"]
            want = window(image, start, size).astype(np.float32)
            np.testing.assert_allclose(batch["image"][i, 0], (want / 255 - 0.5) / 0.5, atol=1e-6)
            np.testing.assert_array_equal(batch["label"][i, 0], window(label, start, size))
            starts.append(start)
    starts = np.array(starts)
    # Uniform over the padded volume: every start from -before to n + after - size is possible,
    # and the extremes are reached within 400 draws (4, 10 and 9 positions per axis).
    first = [-w[0] for w in WIDTHS]
    last = [n + w[1] - s for n, w, s in zip(SHAPE, WIDTHS, size)]
    assert starts.min(axis=0).tolist() == first
    assert starts.max(axis=0).tolist() == last


def test_the_grid_walks_pytcs_test_grid_and_the_writer_crops_each_side(store, tmp_path):
    d = store
    size = [4, 12, 10]
    image = np.pad(stored(d, "raw"), WIDTHS, mode="reflect")
    loader = voxload.Loader(config(d, size), mode="grid")
    seen = set()
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        for batch in loader:
            for i, info in enumerate(batch["info"]):
                want = window(image, info["start"], size).astype(np.float32)
                np.testing.assert_allclose(batch["image"][i, 0], (want / 255 - 0.5) / 0.5,
                                           atol=1e-6)
                seen.add(tuple(s + w[0] for s, w in zip(info["start"], WIDTHS)))
            writer.add(batch, batch["image"] * 0.5 + 0.5)
    z, y, x = pytc_grid(image.shape, size, [2, 6, 5])
    assert seen == {(a, b, c) for a in z for b in y for c in x}
    out = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...]
    # The identity model's output, cropped by each side's padding, is the volume itself.
    assert out.shape == (1,) + SHAPE
    np.testing.assert_allclose(out[0], stored(d, "raw") / 255, atol=1e-6)


def test_without_unpad_the_output_is_the_padded_volume(store, tmp_path):
    d = store
    size = [4, 12, 10]
    loader = voxload.Loader(config(d, size, UNPAD=False), mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        for batch in loader:
            writer.add(batch, batch["image"] * 0.5 + 0.5)
    out = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...]
    padded = np.pad(stored(d, "raw"), WIDTHS, mode="reflect")
    assert out.shape == (1,) + padded.shape
    np.testing.assert_allclose(out[0], padded / 255, atol=1e-6)


def test_six_equal_pairs_are_the_three_value_form(store):
    d = store
    a = voxload.Loader(config(d, [4, 16, 16], pad=[1, 1, 5, 5, 2, 2]), samples=8, seed=9)
    b = voxload.Loader(config(d, [4, 16, 16], pad=[1, 5, 2]), samples=8, seed=9)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["image"], y["image"])
        assert [i["start"] for i in x["info"]] == [i["start"] for i in y["info"]]


@pytest.mark.parametrize("pad", [[1, 2, 3, 4], [1, 2, -1, 2, 3, 5], [1, 2, 3, 4, 5, 6, 7]])
def test_malformed_pad_sizes_name_the_key(store, pad):
    with pytest.raises(voxload.ValueError, match="DATASET.PAD_SIZE"):
        voxload.Loader(config(store, [4, 16, 16], pad=pad), samples=1)
