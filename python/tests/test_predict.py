"""voxload.PredictionWriter: identity models blend back to the image (read by zarr-python),
DDP ranks writing one array equal one process byte for byte, 2D, uint8, and typed errors."""

import json
import os
import pathlib

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import zarr
from torch.utils.data import DataLoader

import voxload
from voxload.torch import VolumeDataset


def grid_config(dataset, **inference):
    d, config = dataset
    config = json.loads(json.dumps(config))
    config["INFERENCE"] = {"STRIDE": [3, 12, 10], **inference}
    # Identity models give back the image in [0, 1] (PyTC's MATCH_ACT sigmoid: no (x - 0.5) / 0.5).
    config["DATASET"]["MATCH_ACT"] = "sigmoid"
    return d, config


def identity(loader, writer):
    for batch in loader:
        writer.add(batch, batch["image"])


def read(path):
    return zarr.open_array(str(path), mode="r")[...]


def test_identity_model_blends_back_to_the_image(dataset, tmp_path):
    d, config = grid_config(dataset)
    image = read(d / "em.zarr" / "raw")
    loader = voxload.Loader(config, mode="grid")
    with voxload.PredictionWriter(tmp_path / "out.zarr", "pred", loader) as writer:
        identity(loader, writer)
    out = read(tmp_path / "out.zarr" / "pred")
    assert out.shape == (1,) + image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[0], image / 255.0, rtol=1e-6, atol=1e-6)
    assert writer.added == sum(len(b["info"]) for b in voxload.Loader(config, mode="grid"))
    meta = json.loads((tmp_path / "out.zarr" / "pred" / "zarr.json").read_text())
    assert meta["attributes"]["voxload"]["status"] == "complete"


def test_uint8_torch_tensors_and_channels(dataset, tmp_path):
    d, config = grid_config(dataset)
    image = read(d / "em.zarr" / "raw")
    ds = VolumeDataset(config, mode="grid")
    writer = voxload.PredictionWriter(tmp_path / "o.zarr", "pred", ds, channels=2, dtype=np.uint8,
                                      blending="bump", codec="zstd")
    for batch in DataLoader(ds, batch_size=None):
        x = batch["image"].requires_grad_(True)
        writer.add(batch, torch.cat([x, 1 - x], dim=1))
    assert writer.close() is True
    out = read(tmp_path / "o.zarr" / "pred")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], image)
    np.testing.assert_array_equal(out[1], 255 - image)


def test_2d_predictions_and_do_singly(dataset, tmp_path):
    d, config = grid_config(dataset, STRIDE=[12, 10], DO_SINGLY=True)
    config["DATASET"]["DO_2D"] = True
    config["MODEL"]["INPUT_SIZE"] = [24, 24]
    image = read(d / "em.zarr" / "raw")
    loader = voxload.Loader(config, mode="grid")
    writer = voxload.PredictionWriter(tmp_path / "o.zarr", "pred", loader, dtype="uint8")
    for batch in loader:
        assert batch["image"].ndim == 4
        writer.add(batch, batch["image"])
    writer.close()
    np.testing.assert_array_equal(read(tmp_path / "o.zarr" / "pred" / "0000")[0], image)


def test_do_singly_visits_the_volumes_from_start_index_by_step(dataset, tmp_path):
    d, config = grid_config(dataset, DO_SINGLY=True, DO_SINGLY_START_INDEX=1, DO_SINGLY_STEP=-2)
    image = read(d / "em.zarr" / "raw")
    # Four volumes (the same arrays, listed four times, as PyTC lists several files).
    config["DATASET"]["IMAGE_NAME"] = "@".join(["raw"] * 4)
    del config["DATASET"]["LABEL_NAME"]
    loader = voxload.Loader(config, mode="grid")
    visited = {i["volume"] for b in voxload.Loader(config, mode="grid") for i in b["info"]}
    assert visited == {1, 3}
    with voxload.PredictionWriter(tmp_path / "o.zarr", "pred", loader) as writer:
        identity(loader, writer)
    written = sorted(p.name for p in (tmp_path / "o.zarr" / "pred").iterdir() if p.is_dir())
    assert written == ["0001", "0003"]
    for name in written:
        np.testing.assert_allclose(read(tmp_path / "o.zarr" / "pred" / name)[0], image / 255.0,
                                   atol=1e-6)


def _rank_main(rank, world, config, out, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        ds = VolumeDataset(config, mode="grid")
        writer = voxload.PredictionWriter(out, "pred", ds, channels=2)
        for batch in DataLoader(ds, batch_size=None):
            x = batch["image"]
            writer.add(batch, torch.cat([torch.sin(x * 7.0), x * x], dim=1))
        complete = writer.close()
        dist.barrier()
        with open(os.path.join(os.path.dirname(out), f"{rank}.json"), "w") as f:
            json.dump({"complete": complete}, f)
    finally:
        dist.destroy_process_group()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chunk_files(array):
    root = pathlib.Path(array)
    return sorted((str(p.relative_to(root)), p.read_bytes()) for p in (root / "c").rglob("*") if p.is_file())


def test_ddp_ranks_writing_one_array_equal_one_process_byte_for_byte(dataset, tmp_path):
    _, config = grid_config(dataset)
    one = tmp_path / "one.zarr"
    loader = voxload.Loader(config, mode="grid")
    writer = voxload.PredictionWriter(one, "pred", loader, channels=2)
    for batch in loader:
        x = torch.from_numpy(batch["image"])
        writer.add(batch, torch.cat([torch.sin(x * 7.0), x * x], dim=1))
    writer.close()
    shared = tmp_path / "shared.zarr"
    mp.spawn(_rank_main, args=(2, config, str(shared), _free_port()), nprocs=2, join=True)
    done = [json.loads((tmp_path / f"{r}.json").read_text())["complete"] for r in range(2)]
    assert sorted(done) == [False, True]  # the last rank to close completed the array
    a, b = read(one / "pred"), read(shared / "pred")
    assert a.tobytes() == b.tobytes()
    assert chunk_files(one / "pred") == chunk_files(shared / "pred")
    assert not (shared / "pred" / ".voxload-parts").exists()


def test_errors_are_typed_and_name_the_problem(dataset, tmp_path):
    _, config = grid_config(dataset)
    with pytest.raises(voxload.ValueError, match="grid"):
        voxload.PredictionWriter(tmp_path / "o.zarr", "p", voxload.Loader(config, samples=3))
    with pytest.raises(voxload.ValueError, match="array name|name"):
        voxload.PredictionWriter(tmp_path / "o.zarr", "../x", voxload.Loader(config, mode="grid"))
    loader = voxload.Loader(config, mode="grid")
    writer = voxload.PredictionWriter(tmp_path / "o.zarr", "p", loader, channels=2)
    batch = next(iter(loader))
    with pytest.raises(voxload.ValueError, match="shape"):
        writer.add(batch, batch["image"])  # one channel, not two
    # Grid batches hold INFERENCE.SAMPLES_PER_BATCH windows (PyTC's default 4).
    with pytest.raises(voxload.ValueError, match="B = 4"):
        writer.add(batch, np.zeros((2, 2, 4, 24, 24), np.float32))
    with pytest.raises(voxload.ValueError, match="info"):
        writer.add({"image": batch["image"]}, batch["image"])
    writer.add(batch, np.repeat(batch["image"], 2, axis=1))
    with pytest.raises(voxload.ValueError, match="already added"):
        writer.add(batch, np.repeat(batch["image"], 2, axis=1))
    with pytest.raises(voxload.Error, match="never added"):
        writer.close()
    # The array stays in-progress, and a second writer without overwrite is refused.
    meta = json.loads((tmp_path / "o.zarr" / "p" / "zarr.json").read_text())
    assert meta["attributes"]["voxload"]["status"] == "in-progress"
