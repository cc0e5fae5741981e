"""voxload.Loader: the same batches as `voxload sample`, for any number of workers; zero-copy
arrays whose buffers return to the pool; threads joined on break, close and Ctrl-C."""

import _thread
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import voxload
from conftest import voxload_bin


def take(loader):
    out = []
    for batch in loader:
        out.append({k: (v.copy() if k != "info" else v) for k, v in batch.items()})
    return out


def test_batches_have_the_documented_shapes_and_types(dataset):
    _, config = dataset
    loader = voxload.Loader(config, seed=1, samples=6)
    assert len(loader) == 2
    batches = take(loader)
    assert len(batches) == 2
    for b in batches:
        assert b["image"].dtype == np.float32 and b["image"].shape == (3, 1, 4, 24, 24)
        assert b["label"].dtype == np.uint16 and b["label"].shape == (3, 1, 4, 24, 24)
        assert [set(i) >= {"index", "volume", "start", "shape", "rejections", "forced", "transforms"}
                for i in b["info"]] == [True] * 3
    assert [i["index"] for b in batches for i in b["info"]] == list(range(6))


def test_batches_equal_voxload_sample_and_any_worker_count(dataset, tmp_path):
    d, config = dataset
    out = tmp_path / "samples"
    subprocess.run([voxload_bin(), "sample", "--config", str(d / "cfg.json"), "--count", "6",
                    "--seed", "5", "--out", str(out)], check=True, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    runs = {w: take(voxload.Loader(str(d / "cfg.json"), seed=5, samples=6, workers=w)) for w in (1, 2, 4)}
    for w in (2, 4):
        for a, b in zip(runs[1], runs[w]):
            for key in ("image", "label"):
                assert a[key].tobytes() == b[key].tobytes(), f"{w} workers differ in {key}"
    samples = [s for b in runs[1] for s in b["info"]]
    assert samples == manifest["samples"]
    for b in runs[1]:
        for i, info in enumerate(b["info"]):
            for key in ("image", "label"):
                cli = np.load(out / f"{info['index']:06d}_{key}.npy")
                assert b[key][i, 0].tobytes() == cli.tobytes(), f"sample {info['index']} {key}"
    # Seeds and epochs change the stream.
    other = take(voxload.Loader(config, seed=6, samples=6))
    assert other[0]["image"].tobytes() != runs[1][0]["image"].tobytes()
    later = take(voxload.Loader(config, seed=5, epoch=1, samples=6))
    assert later[0]["image"].tobytes() != runs[1][0]["image"].tobytes()


def test_arrays_are_the_batch_buffers_and_are_reused(dataset):
    _, config = dataset
    with voxload.Loader(config, samples=60, workers=1, prefetch=1) as loader:
        addresses = []
        for batch in loader:
            image = batch["image"]
            base = image
            while isinstance(base, np.ndarray) and base.base is not None:
                base = base.base
            assert isinstance(base, voxload.BatchBuffer), type(base)
            assert not image.flags.owndata
            addresses.append(image.__array_interface__["data"][0])
            del batch, image, base
    # Dropped batches' buffers come back: far fewer distinct buffers than batches.
    assert len(set(addresses)) < len(addresses) // 2, addresses


def task_count():
    return len(os.listdir("/proc/self/task"))


def test_break_close_and_drop_join_the_threads(dataset):
    _, config = dataset
    before = task_count()
    for i in range(100):
        loader = voxload.Loader(config, workers=2)
        for batch in loader:
            break
        if i % 2:
            loader.close()
        del loader, batch
    time.sleep(0.2)
    assert task_count() <= before + 1, (before, task_count())


def test_ctrl_c_stops_an_endless_loader_promptly(dataset):
    _, config = dataset
    before = task_count()
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        with voxload.Loader(config, workers=2) as loader:
            for _ in loader:
                pass
    timer.join()
    assert time.monotonic() - started < 30
    time.sleep(0.2)
    assert task_count() <= before + 1, (before, task_count())


def test_config_errors_name_the_key(dataset):
    _, config = dataset
    bad = json.loads(json.dumps(config))
    bad["SOLVER"]["SAMPLES_PER_BATCH"] = -3
    with pytest.raises(ValueError) as e:
        voxload.Loader(bad)
    assert isinstance(e.value, voxload.Error) and "SAMPLES_PER_BATCH" in str(e.value)
    with pytest.raises(ValueError, match="mode"):
        voxload.Loader(config, mode="val")
    with pytest.raises(FileNotFoundError):
        voxload.Loader("/nonexistent/cfg.yaml")


def test_grid_mode_is_the_finite_grid_of_each_rank(dataset):
    """PyTC's test mode: the ranks' blocks are disjoint and together the whole grid; train mode
    is endless unless a sample count is given; the statistics count what was made."""
    _, config = dataset
    whole = voxload.Loader(config, mode="grid")
    starts = [tuple(i["start"]) for b in whole for i in b["info"]]
    assert len(starts) == len(set(starts)) > 0
    parts = []
    for rank in range(2):
        loader = voxload.Loader(config, mode="grid", rank=rank, world_size=2)
        n = len(loader)
        batches = take(loader)
        assert len(batches) == n
        parts.append([tuple(i["start"]) for b in batches for i in b["info"]])
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(starts)
    for batch in voxload.Loader(config, mode="grid", samples=3):
        assert batch["info"][0]["transforms"] == []
    endless = voxload.Loader(config)
    with pytest.raises(TypeError, match="endless"):
        len(endless)
    next(endless)
    stats = endless.stats()
    assert stats["samples"] >= 3, stats
