"""Shared fixtures: a small labelled store written by zarr-python and its configuration."""

import json
import os

import numpy as np
import pytest
import zarr


def voxload_bin():
    """The `voxload` binary of this checkout (scripts/test.sh sets VOXLOAD_BIN)."""
    path = os.environ.get("VOXLOAD_BIN", "")
    assert os.path.exists(path), f"set VOXLOAD_BIN to the voxload binary (got {path!r}); scripts/test.sh does"
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A store (image uint8, label uint16) written by zarr-python and a PyTC-style config."""
    d = tmp_path_factory.mktemp("d")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    z, y, x = np.indices((20, 80, 80))
    image = root.create_array("raw", shape=(20, 80, 80), chunks=(8, 32, 32), dtype="uint8", compressors=None)
    image[...] = ((z * 5 + y * 3 + x) % 253).astype(np.uint8)
    label = root.create_array("seg", shape=(20, 80, 80), chunks=(8, 32, 32), dtype="uint16", compressors=None)
    label[...] = ((z // 5) * 9 + (y // 20) * 3 + x // 30).astype(np.uint16)
    config = {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "PAD_SIZE": [2, 8, 8]},
        "MODEL": {"INPUT_SIZE": [4, 24, 24]},
        "INFERENCE": {"STRIDE": [4, 24, 24]},
        "AUGMENTOR": {"ENABLED": True},
        "SOLVER": {"SAMPLES_PER_BATCH": 3},
    }
    (d / "cfg.json").write_text(json.dumps(config))
    return d, config
