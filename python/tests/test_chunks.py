"""PyTC's TileDataset limits on the chunk schedule in training: DATA_COORD_RANGE (chunks cut
from a region of the volume) and DATA_CHUNK_IND / CHUNK_IND_SPLIT (only some chunks visited).
Every training window must lie in one of the allowed chunks, as PyTC's get_range_axis places
them (written out here with numpy), grown by PAD_SIZE; and every allowed chunk is visited."""

import numpy as np
import pytest
import zarr

import voxload

PAD = [1, 4, 4]
NUM = [1, 2, 2]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("chunks")
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    root.create_array("raw", data=np.zeros((12, 96, 96), np.uint8), chunks=(12, 48, 48),
                      compressors=None)
    root.create_array("raw2", data=np.zeros((10, 64, 120), np.uint8), chunks=(10, 64, 60),
                      compressors=None)
    return d


def config(d, **dataset):
    return {
        "DATASET": {"INPUT_PATH": str(d / "em.zarr"), "IMAGE_NAME": "raw", "PAD_SIZE": PAD,
                    "DO_CHUNK_TITLE": 1, "DATA_CHUNK_NUM": NUM, "DATA_CHUNK_ITER": 2,
                    **dataset},
        "MODEL": {"INPUT_SIZE": [4, 16, 16]},
        "AUGMENTOR": {"ENABLED": False},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
    }


def pytc_chunk(chunk_id, coord_range, stride=True):
    """PyTC's updatechunk + get_range_axis for one chunk id, padded as loadchunk pads it."""
    step = 2 if stride else 1
    pos = [chunk_id // (NUM[1] * NUM[2]), (chunk_id // NUM[2]) % NUM[1], chunk_id % NUM[2]]
    lo, hi = [], []
    for a in range(3):
        l, r = coord_range[2 * a], coord_range[2 * a + 1]
        steps = np.array([pos[a], pos[a] + step])
        b = np.floor(steps / (NUM[a] + step - 1) * (r - l)).astype(int) + l
        lo.append(b[0] - PAD[a])
        hi.append(b[1] + PAD[a])
    return lo, hi


def windows(cfg, n=48, volumes=False):
    out = []
    for batch in voxload.Loader(cfg, samples=n, seed=3):
        out += [((i["volume"],) if volumes else ()) + (i["start"], i["shape"])
                for i in batch["info"]]
    return out


def inside(start, shape, box):
    lo, hi = box
    return all(s >= a and s + n <= b for s, n, a, b in zip(start, shape, lo, hi))


@pytest.mark.parametrize("dataset,allowed,coord", [
    ({"DATA_CHUNK_IND": [3]}, [3], [0, 12, 0, 96, 0, 96]),
    ({"DATA_CHUNK_IND": [0, 2, 3], "CHUNK_IND_SPLIT": "1-2"}, [2, 3], [0, 12, 0, 96, 0, 96]),
    ({"DATA_COORD_RANGE": [2, 10, 10, 80, 30, 96]}, [0, 1, 2, 3], [2, 10, 10, 80, 30, 96]),
    ({"DATA_COORD_RANGE": [[2, 10, 10, 80, 30, 96]], "CHUNK_IND_SPLIT": [0, 2]}, [0, 1],
     [2, 10, 10, 80, 30, 96]),
])
def test_training_windows_stay_in_the_allowed_chunks(store, dataset, allowed, coord):
    boxes = {c: pytc_chunk(c, coord) for c in allowed}
    seen = set()
    for start, shape in windows(config(store, **dataset)):
        owners = [c for c, box in boxes.items() if inside(start, shape, box)]
        assert owners, (start, shape, boxes)
        seen.update(owners)
    assert seen == set(allowed)


def test_without_limits_the_schedule_is_unchanged(store):
    plain = windows(config(store))
    listed = windows(config(store, DATA_CHUNK_IND=[0, 1, 2, 3]))
    assert plain == listed


def test_several_volumes_visit_the_same_chunk_of_each(store):
    """PyTC's TileDataset over several volumes loads the same chunk id of every volume."""
    cfg = config(store, IMAGE_NAME="raw@raw2", DATA_CHUNK_IND=[3])
    shapes = {0: (12, 96, 96), 1: (10, 64, 120)}
    boxes = {v: pytc_chunk(3, [0, s[0], 0, s[1], 0, s[2]]) for v, s in shapes.items()}
    seen = set()
    for volume, start, shape in windows(cfg, n=64, volumes=True):
        assert inside(start, shape, boxes[volume]), (volume, start, boxes[volume])
        seen.add(volume)
    assert seen == {0, 1}
