"""PyTC's DATASET.ENSURE_MIN_SIZE: a volume that is smaller than the sample once padded is
resized up to it, padding included, as PyTC's `_resize2target` does with
`skimage.transform.resize` (order 3 for the image, 0 for the label), and sampled without any
further padding. Checked window by window against scikit-image on the whole padded volume, in
training and grid modes, and as the config command reports it."""

import json
import subprocess

import numpy as np
import pytest
import zarr
from skimage.transform import resize

import voxload
from conftest import voxload_bin

PAD = [1, 4, 4]
# PyTC's six-value form: (before, after) pairs of z, y, x.
SIX = [0, 2, 3, 1, 4, 0]


def widths(pad):
    """numpy.pad widths of a PAD_SIZE, as PyTC's get_padsize reads it."""
    if len(pad) == 6:
        return [(pad[0], pad[1]), (pad[2], pad[3]), (pad[4], pad[5])]
    return [(p, p) for p in pad]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("minsize")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    rng = np.random.default_rng(5)
    z, y, x = np.indices((3, 30, 26))
    image = 127 + 60 * np.sin(y / 4.0) * np.cos(x / 6.0) + rng.normal(0, 15, (3, 30, 26))
    image = np.clip(image, 0, 255).astype(np.uint8)
    label = (z * 16 + (y // 8) * 4 + x // 7 + 1).astype(np.uint16)
    root.create_array("raw", data=image, chunks=(3, 16, 16), compressors=None)
    root.create_array("seg", data=label, chunks=(3, 16, 16), compressors=None)
    return d, image, label


def config(d, input_size, pad=PAD, **dataset):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "PAD_SIZE": pad, "MATCH_ACT": "sigmoid", "ENSURE_MIN_SIZE": True,
                    **dataset},
        "MODEL": {"INPUT_SIZE": input_size, "TARGET_OPT": ["0"], "WEIGHT_OPT": [["0"]]},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
        "INFERENCE": {"STRIDE": [2, 10, 10]},
    }


def pytc_volume(volume, target, order, pad=PAD):
    """PyTC's _pad then _resize2target."""
    padded = np.pad(volume, widths(pad), mode="reflect")
    if all(s >= t for s, t in zip(padded.shape, target)):
        return padded
    size = tuple(max(s, t) for s, t in zip(padded.shape, target))
    return resize(padded, size, order=order, anti_aliasing=False,
                  preserve_range=True).astype(volume.dtype)


def crop(volume, start, shape, pad=PAD):
    """The window at `start` in voxload's frame: the resized grid's corner is at minus the
    padding before each axis."""
    sl = tuple(slice(s + w[0], s + w[0] + n) for s, w, n in zip(start, widths(pad), shape))
    out = volume[sl]
    assert out.shape == tuple(shape), "the window leaves the resized grid"
    return out


def assert_image_close(got, want):
    # Order 3 truncates as skimage does; where skimage's value lands within rounding of an
    # integer voxload may be one level above it (see voxload::store::zoom::resize).
    diff = np.abs(got * 255 - want.astype(np.float64))
    assert diff.max() <= 1 + 1e-3
    assert (diff > 1e-3).mean() < 0.05


@pytest.mark.parametrize("pad", [PAD, SIX])
@pytest.mark.parametrize("input_size", [[8, 24, 40], [4, 20, 20]])
def test_training_windows_equal_skimage_resize_of_the_padded_volume(store, input_size, pad):
    d, image, label = store
    want_image = pytc_volume(image, input_size, 3, pad)
    want_label = pytc_volume(label, input_size, 0, pad)
    loader = voxload.Loader(config(d, input_size, pad), samples=8, seed=2)
    starts = set()
    for batch in loader:
        for i, info in enumerate(batch["info"]):
            starts.add(tuple(info["start"]))
            assert_image_close(batch["image"][i, 0],
                               crop(want_image, info["start"], input_size, pad))
            np.testing.assert_array_equal(
                batch["label"][i, 0], crop(want_label, info["start"], input_size, pad))
    assert len(starts) > 1


def test_grid_walks_the_resized_grid_and_the_output_is_cropped_by_the_pad(store, tmp_path):
    d, image, _ = store
    input_size = [8, 24, 40]
    want = pytc_volume(image, input_size, 3)
    loader = voxload.Loader(config(d, input_size), mode="grid")
    seen = 0
    with voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader) as writer:
        for batch in loader:
            for i, info in enumerate(batch["info"]):
                assert_image_close(batch["image"][i, 0], crop(want, info["start"], input_size))
                seen += 1
            writer.add(batch, batch["image"])
    # PyTC's grid over the resized volume (8, 38, 40) with stride (2, 10, 10): one window in z
    # and x, ceil((38 - 24) / 10) + 1 = 3 in y.
    assert seen == 3
    out = zarr.open_array(str(tmp_path / "o.zarr" / "p"), mode="r")[...]
    unpadded = want[PAD[0]:-PAD[0], PAD[1]:-PAD[1], PAD[2]:-PAD[2]]
    assert out.shape == (1,) + unpadded.shape
    assert_image_close(out[0], unpadded)


def test_a_volume_large_enough_is_read_as_it_is(store):
    d, image, label = store
    on = voxload.Loader(config(d, [2, 16, 16]), samples=4, seed=1)
    off = voxload.Loader(config(d, [2, 16, 16], ENSURE_MIN_SIZE=False), samples=4, seed=1)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])


def test_augmented_training_resizes_to_the_augmentors_sample(store):
    d, _, _ = store
    cfg = config(d, [8, 24, 24])
    cfg["AUGMENTOR"] = {"ENABLED": True}
    batch = next(iter(voxload.Loader(cfg, samples=2, seed=0)))
    assert batch["image"].shape == (2, 1, 8, 24, 24)
    assert np.isfinite(batch["image"]).all()


def test_the_config_command_reports_the_key_as_used(store, tmp_path):
    d, _, _ = store
    (tmp_path / "base.yaml").write_text(
        "DATASET:\n"
        f"  INPUT_PATH: {d / 'em.zarr'}\n"
        "  IMAGE_NAME: raw\n"
        "  DROP_CHANNEL: False\n"
        "  ENSURE_MIN_SIZE: True\n")
    for mode in ["train", "test"]:
        out = subprocess.run([voxload_bin(), "config", "--config", str(tmp_path / "base.yaml"),
                              "--mode", mode, "--json"],
                             check=True, capture_output=True, text=True).stdout
        merged = json.loads(out)
        assert merged["DATASET"]["ENSURE_MIN_SIZE"] is True
        assert "DATASET.ENSURE_MIN_SIZE" not in merged["VOXLOAD"]["unused"]
        summary = subprocess.run([voxload_bin(), "config", "--config", str(tmp_path / "base.yaml"),
                                  "--mode", mode], check=True, capture_output=True, text=True).stdout
        assert "resized up to it (ENSURE_MIN_SIZE)" in summary
