"""Volumes in the files PyTC's tutorials use — `.h5` datasets and multi-page `.tif` stacks —
named straight in a config: the loader's samples equal those of the same data ingested into a
Zarr store, and `voxload.open` lists and reads them as h5py and tifffile do."""

import h5py
import numpy as np
import pytest
import tifffile

import voxload

SHAPE = (20, 72, 66)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, size=SHAPE, dtype=np.uint8)
    label = np.zeros(SHAPE, np.uint16)
    label[4:15, 10:50, 8:40] = 3
    label[2:9, 40:70, 30:60] = 9
    with h5py.File(d / "im.h5", "w") as f:
        f.create_dataset("main", data=image, chunks=(4, 32, 32), compression="gzip", shuffle=True)
    tifffile.imwrite(d / "seg.tif", label)
    with h5py.File(d / "two.h5", "w") as f:
        f.create_dataset("raw", data=image)
        f.create_group("seg").create_dataset("ids", data=label)
    return d, image, label


def config(input_path, image, label):
    return {
        "SYSTEM": {"NUM_CPUS": 2},
        "DATASET": {"INPUT_PATH": str(input_path), "IMAGE_NAME": image, "LABEL_NAME": label},
        "MODEL": {"INPUT_SIZE": [8, 32, 32], "OUTPUT_SIZE": [8, 32, 32], "TARGET_OPT": ["0"]},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
    }


def batches(cfg, n=3):
    return list(voxload.Loader(cfg, mode="train", seed=4, samples=2 * n))


def test_config_naming_h5_and_tif_trains_as_the_ingested_store(files, tmp_path):
    d, image, label = files
    direct = batches(config(d, "im.h5", "seg.tif"))
    store = tmp_path / "s.zarr"
    voxload.ingest(d / "im.h5", store, array="image", chunk=(4, 32, 32), progress=False)
    voxload.ingest(d / "seg.tif", store, array="label", label=True, chunk=(4, 32, 32),
                   progress=False)
    ingested = batches(config(store, "image", "label"))
    assert len(direct) == len(ingested) == 3
    for a, b in zip(direct, ingested):
        for key in ("image", "label", "target_0"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert [i["start"] for i in a["info"]] == [i["start"] for i in b["info"]]


def test_open_lists_h5_datasets_and_reads_them_as_h5py(files):
    d, image, label = files
    s = voxload.open(d / "two.h5")
    assert s.array_names() == ["raw", "seg/ids"]
    np.testing.assert_array_equal(s["seg/ids"][:, :, :], label)
    got = s["raw"].read((-3, -5, 60), (8, 12, 10), pad="symmetric")
    want = np.pad(image, [(3, 0), (5, 0), (0, 4)], mode="symmetric")[0:8, 0:12, 60:70]
    np.testing.assert_array_equal(got, want)
    one = voxload.open(d / "two.h5" / "seg" / "ids")
    assert one.array_names() == [""]
    np.testing.assert_array_equal(one[""][0:3, 10:20, 5:9], label[0:3, 10:20, 5:9])
    t = voxload.open(d / "seg.tif")
    assert t.array_names() == [""]
    assert t[""].shape == SHAPE and t[""].dtype == np.uint16
    np.testing.assert_array_equal(t[""][2:9, 40:70, 30:60], label[2:9, 40:70, 30:60])


def test_bad_files_name_the_file(files, tmp_path):
    d, _, _ = files
    with pytest.raises(voxload.Error, match="two.h5.*seg"):
        voxload.open(d / "two.h5" / "seg")[""]
    cut = tmp_path / "cut.h5"
    cut.write_bytes((d / "im.h5").read_bytes()[:2000])
    with pytest.raises(voxload.Error, match="cut.h5"):
        voxload.open(cut)
    ragged = tmp_path / "ragged.tif"
    tifffile.imwrite(ragged, np.zeros((2, 10, 10), np.uint8))
    tifffile.imwrite(ragged, np.zeros((1, 12, 10), np.uint8), append=True)
    with pytest.raises(voxload.Error, match="ragged.tif.*page 2"):
        voxload.open(ragged)[""]
