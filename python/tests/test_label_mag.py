"""DATASET.LABEL_MAG: PyTC divides the label at load, `(label / mag).astype(float32)`, and
computes its targets from that. voxload returns the divided label and computes the targets from
the ids, which gives the same targets for every option that depends only on which voxels share
an id; options that read id values are refused."""

import numpy as np
import pytest
import zarr

import voxload


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("mag")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    rng = np.random.default_rng(4)
    root.create_array("raw", data=rng.integers(0, 256, (8, 40, 40), dtype=np.uint8),
                      chunks=(4, 16, 16), compressors=None)
    z, y, x = np.indices((8, 40, 40))
    label = ((y // 10) * 4 + x // 10 + 1) * 3 * (z % 3 != 0)
    root.create_array("seg", data=label.astype(np.uint16), chunks=(4, 16, 16), compressors=None)
    return d, label


def config(d, **dataset):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "PAD_SIZE": [1, 4, 4], "REDUCE_LABEL": False, **dataset},
        "MODEL": {"INPUT_SIZE": [4, 16, 16], "TARGET_OPT": ["0", "4-1-1", "2"],
                  "WEIGHT_OPT": [["1"], ["0"], ["0"]]},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
    }


def test_the_label_is_divided_as_pytc_divides_it_and_the_targets_are_pytcs(store):
    d, label = store
    padded = np.pad(label, [(1, 1), (4, 4), (4, 4)], mode="reflect")
    divided = voxload.Loader(config(d, LABEL_MAG=7), samples=6, seed=5)
    plain = voxload.Loader(config(d), samples=6, seed=5)
    for got, ids in zip(divided, plain):
        assert got["label"].dtype == np.float32
        for i, info in enumerate(got["info"]):
            z, y, x = (s + p for s, p in zip(info["start"], (1, 4, 4)))
            window = padded[z:z + 4, y:y + 16, x:x + 16]
            np.testing.assert_array_equal(got["label"][i, 0], (window / 7).astype(np.float32))
        # Binary, boundary and affinity targets and their weights depend only on which voxels
        # share an id: the same as from the undivided label.
        for key in ids:
            if key.startswith(("target_", "weight_")):
                np.testing.assert_array_equal(got[key], ids[key], err_msg=key)


@pytest.mark.parametrize("target", ["9", "1", "0-3-6"])
def test_targets_that_read_id_values_are_refused(store, target):
    d, _ = store
    cfg = config(d, LABEL_MAG=255)
    cfg["MODEL"].update({"TARGET_OPT": [target], "WEIGHT_OPT": [["0"]]})
    with pytest.raises(voxload.ValueError, match="LABEL_MAG"):
        voxload.Loader(cfg, samples=1)
