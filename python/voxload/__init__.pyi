"""Type stubs of voxload's Python package."""

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy

__version__: str

class Error(Exception):
    """Base class of every error voxload raises; the message names the file, key or value."""

class NotFoundError(Error, FileNotFoundError):
    """A store, array or file that does not exist (or is not a Zarr store)."""

class ArrayKeyError(Error, KeyError):
    """No array of that name in the store; the message lists the arrays there are."""

class ValueError(Error, ValueError):  # type: ignore[misc]
    """A bad argument or configuration value; the message names the key or option."""

Triple = Tuple[int, int, int]

def open(path: Union[str, os.PathLike]) -> "Store":
    """Opens a store: Zarr v3 or v2 (a path ``STORE.zarr/NAME`` opens its store), an OME-Zarr
    image (``store[""]`` or ``store["raw"]`` reads its level 0, ``store["raw/1"]`` a level), an
    HDF5 file (``voxload.open("vol.h5")["group/dataset"]``) or a multi-page TIFF file
    (``voxload.open("train_im.tif")[""]``)."""

def ingest(
    input: Union[str, os.PathLike],
    store: Union[str, os.PathLike],
    array: str = "image",
    label: bool = False,
    chunk: Optional[Triple] = None,
    shard: Optional[Triple] = None,
    codec: str = "raw",
    threads: Optional[int] = None,
    resume: bool = False,
    overwrite: bool = False,
    z_range: Optional[Tuple[int, int]] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Ingests a PyTC tile JSON, a ``.txt`` list of images, a multi-page TIFF or a folder of
    slices into array ``array`` of the Zarr store ``store``, as the ``ingest`` command does;
    returns ``shape``, ``dtype``, ``slabs_written``, ``slabs_skipped``, ``missing_tiles``,
    ``bytes``, ``seconds`` and ``complete``. A progress line is drawn on standard error."""

class Store:
    """A Zarr store: its arrays by name."""

    @property
    def path(self) -> str:
        """The store's directory."""
    def array_names(self) -> list[str]:
        """The names of the store's arrays, sorted (nested ones as ``group/name``)."""
    def __getitem__(self, name: str) -> "Array":
        """The array ``name``; an ``ArrayKeyError`` (a ``KeyError``) listing the arrays otherwise."""
    def __contains__(self, name: str) -> bool:
        """Whether the store has an array ``name``."""

class Array:
    """One array of a store: any box of it, inside or outside the volume."""

    @property
    def shape(self) -> Triple:
        """The volume's shape ``(z, y, x)``."""
    @property
    def dtype(self) -> numpy.dtype:
        """The element type."""
    @property
    def chunks(self) -> Triple:
        """The chunk shape ``(z, y, x)`` (the shard shape for sharded arrays)."""
    @property
    def name(self) -> str:
        """The array's name in its store."""
    def read(self, start: Triple, shape: Triple, pad: str = "reflect") -> numpy.ndarray:
        """The box of ``shape`` voxels at ``start`` (may be negative or past the volume), padded
        by ``pad``: ``"constant"``, ``"constant:V"``, ``"reflect"``, ``"symmetric"`` or ``"edge"``
        (numpy.pad's rules). The GIL is released while voxels are copied."""
    def __getitem__(self, index: object) -> numpy.ndarray:
        """numpy's basic indexing for boxes inside the volume (integers, slices with step 1,
        ``...``, negative indices from the end)."""
    def __len__(self) -> int:
        """The volume's depth."""

class BatchBuffer:
    """The memory of one batch array; numpy arrays of a batch view it without a copy, and it
    goes back to the loader's pool when the last of them is gone."""

class Loader:
    """The loader of a configuration: iterating yields batches as ``dict[str, numpy.ndarray]``
    (``"image"`` float32 ``(B, 1, D, H, W)``, or ``(B, 1, H, W)`` with ``DO_2D``; masks and
    labels ``(B, 1, D, H, W)`` in their stored dtype (the label float32 ``label / LABEL_MAG``
    with ``DATASET.LABEL_MAG``); with a label, PyTC's learning targets
    ``"target_K"`` and weights ``"weight_K_J"``, float32 ``(B, C, D, H, W)``, for
    ``MODEL.TARGET_OPT[K]`` and ``MODEL.WEIGHT_OPT[K][J]``) plus ``"info"``, a list of one dict per
    sample (``index``, ``volume``, ``start``, ``shape``, ``rejections``, ``forced``,
    ``transforms``). The arrays are the buffers the Rust workers filled. Train mode is endless
    unless ``samples`` is given; ``"grid"`` (PyTC's test mode) walks this rank's inference grid
    (with ``INFERENCE.AUG_NUM`` 4, 8 or 16, each batch of windows comes once per flip/transpose
    variant, in PyTC's order, each sample's ``transforms`` naming its ``TestAugment`` variant;
    ``PredictionWriter`` undoes and combines them); ``"val"`` (PyTC's validation mode) walks the ``DATASET.VAL_*`` volumes, with their labels,
    on a grid of half-window stride in batches of ``4 x SOLVER.SAMPLES_PER_BATCH``.
    Waiting for a batch releases the GIL; Ctrl-C stops the workers.

    ``config`` is a YAML or JSON file, a list of them (merged in order, later values winning, as
    PyTC merges a base and a task file), or a dict shaped like the file. Grid mode reads it as
    PyTC's test mode does (``INFERENCE.IMAGE_NAME``, ``INPUT_SIZE``, ``PAD_SIZE``,
    ``SAMPLES_PER_BATCH``, ... override their training keys; no label is read).

    ``widen_integers=True`` stacks ``uint16`` arrays as ``uint32`` and ``uint32`` as ``uint64``
    (the workers widen them as they fill the batch), so every integer array reads exactly as
    the signed type of its width through ``array.view(numpy.int32)`` / ``view(numpy.int64)``
    without a copy; ``voxload.torch`` uses it to hand torch tensors it can compute with."""

    def __init__(
        self,
        config: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Mapping[str, Any]],
        mode: str = "train",
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        workers: Optional[int] = None,
        prefetch: Optional[int] = None,
        samples: Optional[int] = None,
        widen_integers: bool = False,
    ) -> None: ...
    def __iter__(self) -> Iterator[Dict[str, Any]]: ...
    def __next__(self) -> Dict[str, Any]: ...
    def stats(self) -> Dict[str, Any]:
        """The loader's statistics (samples, rejections, waits, ...)."""
    def close(self) -> None:
        """Stops the workers and joins their threads."""
    def __enter__(self) -> "Loader": ...
    def __exit__(self, *args: object) -> None: ...


class PredictionWriter:
    """Blends a grid loader's predictions back into Zarr v3 arrays ``(C, D, H, W)``: one array
    ``array`` in ``store``, or one per volume (``array/0000``, ...) when the configuration has
    several volumes or ``INFERENCE.DO_SINGLY``. Overlapping windows are averaged with
    ``blending`` weights (``"gaussian"``, ``"bump"`` as in PyTC, or ``"constant"``; default: the
    configuration's ``INFERENCE.BLENDING``, gaussian unless set), the padding cropped away;
    with ``INFERENCE.AUG_NUM`` (test-time augmentation) each window's variants, as the loader
    delivers them, are undone and combined by ``INFERENCE.AUG_MODE`` before blending; ``dtype`` ``"float32"`` keeps the blend, ``"uint8"`` stores it x 255,
    rounded and clipped. As PyTC's test mode, ``INFERENCE.OUTPUT_SCALE`` resizes every window's
    prediction (skimage's linear resize with anti-aliasing) into an output of the scaled volume,
    ``INFERENCE.UNPAD: False`` keeps the padded grid, and with ``DO_SINGLY`` only the volumes
    ``DO_SINGLY_START_INDEX``, ``+ |DO_SINGLY_STEP|``, ... get arrays. Predictions are
    added at the window's shape, or with ``INFERENCE.OUTPUT_SIZE`` smaller than the window, as
    blocks of that size placed at the window's first voxel (PyTC's test() placement).

    ``loader`` is a ``Loader`` or ``voxload.torch.VolumeDataset`` in ``mode="grid"``; its rank
    and world size decide which block of the grid this process writes. Several ranks (DDP
    processes, cluster jobs) writing the same ``array`` together produce exactly the array one
    process produces, bit for bit; the last to close completes it. Each holds only the chunks
    its own windows touch.

        >>> loader = voxload.Loader("cfg.yaml", mode="grid")                 # doctest: +SKIP
        >>> with voxload.PredictionWriter("out.zarr", "pred", loader, channels=2) as writer:
        ...     for batch in loader:                                         # doctest: +SKIP
        ...         writer.add(batch, model(torch.from_numpy(batch["image"])))

    A volume's array is finished as soon as this rank's last window of it is added; ``close()``
    finishes the rest. Leaving a ``with`` block by an exception leaves the arrays in-progress.
    """

    def __init__(
        self,
        store: Union[str, os.PathLike],
        array: str,
        loader: Any,
        channels: int = 1,
        dtype: Any = "float32",
        blending: Optional[str] = None,
        codec: str = "raw",
        chunk: Optional[Tuple[int, int, int]] = None,
        overwrite: bool = False,
    ) -> None: ...
    def add(self, batch: Mapping[str, Any], predictions: Any) -> None:
        """Adds a batch's predictions, a numpy array or CPU torch tensor ``(B, C, D, H, W)``
        (``(B, C, H, W)`` with ``DO_2D``); ``batch`` is the loader's batch (its ``"info"``
        places each window). The GIL is released while blending."""
    def close(self) -> bool:
        """Finishes every array; True when all are complete, False when other ranks still
        writing will complete some. Raises ``voxload.Error`` when windows of this rank are
        missing (the arrays stay in-progress)."""
    @property
    def paths(self) -> List["os.PathLike[str]"]:
        """The output arrays' directories, one per volume."""
    @property
    def added(self) -> int:
        """Windows added so far."""
    def __enter__(self) -> "PredictionWriter": ...
    def __exit__(self, *args: object) -> None: ...

def read_prediction(store: Union[str, os.PathLike], array: str) -> numpy.ndarray:
    """A whole prediction array ``(C, D, H, W)`` as float32 (uint8 arrays give their stored
    values 0-255), for checking small outputs; read large ones window by window with any Zarr
    client.

        >>> pred = voxload.read_prediction("out.zarr", "pred")        # doctest: +SKIP
    """
