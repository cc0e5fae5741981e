"""voxload for PyTorch: ``VolumeDataset``, an ``IterableDataset`` over voxload's own loader.

    >>> from torch.utils.data import DataLoader                         # doctest: +SKIP
    >>> from voxload.torch import VolumeDataset                         # doctest: +SKIP
    >>> ds = VolumeDataset("config.yaml", mode="train", seed=0)         # doctest: +SKIP
    >>> for batch in DataLoader(ds, batch_size=None, num_workers=0):    # doctest: +SKIP
    ...     loss = model(batch["image"]) ...

voxload's Rust threads read, augment and batch; use ``batch_size=None`` (the batches are made
already, ``SOLVER.SAMPLES_PER_BATCH`` at a time) and ``num_workers=0`` (no worker processes,
no pickling, no per-worker copies). Tensors share memory with voxload's batch buffers
(``torch.from_numpy``), integer masks and labels included: their numpy types are ones torch
cannot compute with, so voxload's workers stack ``uint16`` arrays as ``uint32`` and ``uint32``
ones as ``uint64`` (``Loader(widen_integers=True)``) and the tensors are their signed views,
without a copy: ``uint16`` data becomes ``int32``, ``uint32`` and ``uint64`` data ``int64``
(``uint64`` ids above 2**63 would wrap). ``uint8`` and ``float32`` stay as they are. Arrays of
a loader that does not widen (``as_tensor`` of a plain ``Loader``'s batch) are copied instead.

voxload's workers keep every core busy (``SYSTEM.NUM_CPUS``); torch's own CPU threads then
compete with them, so a loop doing CPU work on the batches is best run with
``torch.set_num_threads`` set to the cores the loader leaves free.

``rank``/``world_size`` default to ``torch.distributed``'s when it is initialised (else 0 and
1); ``set_epoch(e)`` works as on a ``DistributedSampler``. With ``num_workers > 0`` each worker
process takes its own share (the rank's share split again), so nothing is duplicated or lost.
"""

from typing import Any, Dict, Iterator, Mapping, Optional, Union

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from . import Loader

# Integer types torch cannot do arithmetic with, and what they become.
_WIDER = {np.dtype("uint16"): np.int32, np.dtype("uint32"): np.int64, np.dtype("uint64"): np.int64}
# The same for the batches of a loader that widens (`Loader(widen_integers=True)`): its uint32
# arrays hold uint16 values and its uint64 arrays uint32 (or stored uint64) values, so the
# signed view of the same width is exact.
_VIEW = {np.dtype("uint32"): np.int32, np.dtype("uint64"): np.int64}


def as_tensor(array: np.ndarray, widened: bool = False) -> torch.Tensor:
    """The tensor of a batch array: the same memory where torch supports the type, or (with
    ``widened``, for the batches of ``Loader(widen_integers=True)``) its signed view; else a
    copy in a signed type wide enough."""
    if widened and array.dtype in _VIEW:
        return torch.from_numpy(array.view(_VIEW[array.dtype]))
    wider = _WIDER.get(array.dtype)
    if wider is not None:
        array = array.astype(wider)
    return torch.from_numpy(array)


class VolumeDataset(IterableDataset):
    """The batches of a voxload configuration as dicts of tensors (``"image"`` float32
    ``(B, 1, D, H, W)``, masks and labels ``(B, 1, D, H, W)``, ``"info"`` a list of dicts).

    ``config`` is a path or a dict shaped like the configuration file; the other keyword
    arguments are ``voxload.Loader``'s (``epoch``, ``workers``, ``prefetch``, ``samples``, and
    ``rank``/``world_size`` to override ``torch.distributed``)."""

    def __init__(
        self,
        config: Union[str, Mapping[str, Any]],
        mode: str = "train",
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        epoch: int = 0,
        **loader_kwargs: Any,
    ) -> None:
        super().__init__()
        self.config = config
        self.mode = mode
        self.seed = seed
        self.epoch = epoch
        self._rank = rank
        self._world_size = world_size
        self._kwargs = loader_kwargs

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the next iteration (mixed into every sample's seed)."""
        self.epoch = epoch

    def shares(self) -> "tuple[int, int]":
        """This process's ``(rank, world_size)``, split again among DataLoader workers."""
        rank, world = self._rank, self._world_size
        dist = torch.distributed
        if (rank is None or world is None) and dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world = dist.get_world_size() if world is None else world
        rank = 0 if rank is None else rank
        world = 1 if world is None else world
        worker = get_worker_info()
        if worker is not None and worker.num_workers > 1:
            rank, world = rank * worker.num_workers + worker.id, world * worker.num_workers
        return rank, world

    def loader(self) -> Loader:
        """The voxload loader of this process's share."""
        rank, world = self.shares()
        return Loader(self.config, mode=self.mode, seed=self.seed, epoch=self.epoch,
                      rank=rank, world_size=world, widen_integers=True, **self._kwargs)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        with self.loader() as loader:
            for batch in loader:
                yield {k: (v if k == "info" else as_tensor(v, widened=True))
                       for k, v in batch.items()}

    def __len__(self) -> int:
        """Batches of this process's share (grid mode, or train mode with ``samples``)."""
        with self.loader() as loader:
            return len(loader)
