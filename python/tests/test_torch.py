"""voxload.torch: tensors sharing voxload's buffers, DataLoader with and without worker
processes, and torch.distributed ranks (two processes, gloo, CPU)."""

import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

import voxload
from voxload.torch import VolumeDataset



def test_tensors_share_the_batch_buffers(dataset):
    _, config = dataset
    ds = VolumeDataset(config, seed=2, samples=6)
    assert len(ds) == 2
    plain = [b for b in voxload.Loader(config, seed=2, samples=6)]
    for got, want in zip(DataLoader(ds, batch_size=None, num_workers=0), plain):
        assert got["image"].dtype == torch.float32 and got["image"].shape == (3, 1, 4, 24, 24)
        # uint16 labels become int32, which torch computes with; values unchanged.
        assert got["label"].dtype == torch.int32
        np.testing.assert_array_equal(got["image"].numpy(), want["image"])
        np.testing.assert_array_equal(got["label"].numpy(), want["label"].astype(np.int32))
        assert got["info"] == want["info"]
    # The tensors are voxload's pooled buffers, the label's too (widened by the workers, not
    # copied here): dropped batches' memory comes back.
    pointers, labels = [], []
    for batch in VolumeDataset(config, samples=120, workers=1, prefetch=1):
        pointers.append(batch["image"].data_ptr())
        labels.append(batch["label"].data_ptr())
        del batch
    assert len(set(pointers)) < len(pointers) // 2, pointers
    assert len(set(labels)) < len(labels) // 2, labels


def test_widened_batches_hold_the_stored_values_in_wider_types(dataset):
    _, config = dataset
    for widened, plain in zip(voxload.Loader(config, seed=5, samples=6, widen_integers=True),
                              voxload.Loader(config, seed=5, samples=6)):
        assert plain["label"].dtype == np.uint16 and widened["label"].dtype == np.uint32
        np.testing.assert_array_equal(widened["label"], plain["label"])
        np.testing.assert_array_equal(widened["image"], plain["image"])
        assert widened["info"] == plain["info"]
    # Straight reads (no augmentation) widen too.
    direct = dict(config, AUGMENTOR={"ENABLED": False},
                  MODEL=dict(config["MODEL"], TARGET_OPT=[], WEIGHT_OPT=[]))
    for widened, plain in zip(voxload.Loader(direct, seed=5, samples=3, widen_integers=True),
                              voxload.Loader(direct, seed=5, samples=3)):
        assert widened["label"].dtype == np.uint32
        np.testing.assert_array_equal(widened["label"], plain["label"])


def test_set_epoch_changes_the_stream(dataset):
    _, config = dataset
    ds = VolumeDataset(config, seed=2, samples=3)
    first = next(iter(ds))["image"].clone()
    ds.set_epoch(1)
    assert not torch.equal(next(iter(ds))["image"], first)
    ds.set_epoch(0)
    assert torch.equal(next(iter(ds))["image"], first)


def grid_starts(batches):
    return [tuple(i["start"]) for b in batches for i in b["info"]]


def test_dataloader_workers_share_the_grid_without_duplicates(dataset):
    _, config = dataset
    whole = grid_starts(voxload.Loader(config, mode="grid"))
    ds = VolumeDataset(config, mode="grid")
    split = grid_starts(DataLoader(ds, batch_size=None, num_workers=2))
    assert len(split) == len(set(split))
    assert sorted(split) == sorted(whole)


def _rank_main(rank, world, config, out, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        grid = grid_starts(DataLoader(VolumeDataset(config, mode="grid"), batch_size=None))
        train = [b["image"].sum().item()
                 for b in DataLoader(VolumeDataset(config, seed=4, samples=6), batch_size=None)]
        assert VolumeDataset(config).shares() == (rank, world)
        with open(os.path.join(out, f"{rank}.json"), "w") as f:
            json.dump({"grid": grid, "train": train}, f)
    finally:
        dist.destroy_process_group()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_ranks_take_disjoint_complete_grid_blocks_and_own_train_streams(dataset, tmp_path):
    _, config = dataset
    mp.spawn(_rank_main, args=(2, config, str(tmp_path), _free_port()), nprocs=2, join=True)
    runs = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    blocks = [set(map(tuple, r["grid"])) for r in runs]
    whole = set(grid_starts(voxload.Loader(config, mode="grid")))
    assert not blocks[0] & blocks[1]
    assert blocks[0] | blocks[1] == whole
    # Each rank's train stream is its own, and the same as that rank outside DDP.
    assert runs[0]["train"] != runs[1]["train"]
    for rank in range(2):
        alone = [b["image"].sum().item() for b in VolumeDataset(
            config, seed=4, samples=6, rank=rank, world_size=2)]
        assert alone == pytest.approx(runs[rank]["train"], rel=0, abs=0)
