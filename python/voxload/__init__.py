"""voxload: fast, memory-mapped data loading for deep learning on huge 3D EM volumes.

    >>> import voxload
    >>> store = voxload.open("em.zarr")                       # doctest: +SKIP
    >>> image = store["image"]                                # doctest: +SKIP
    >>> window = image.read((-2, 0, 0), (8, 256, 256), pad="reflect")  # doctest: +SKIP

Coordinates are ``(z, y, x)``; a window may start at negative coordinates or reach past the
volume, and is padded exactly as ``numpy.pad`` would pad it.
"""

from ._errors import ArrayKeyError, Error, NotFoundError, ValueError
from ._voxload import (
    Array,
    BatchBuffer,
    Loader,
    PredictionWriter,
    Store,
    __version__,
    ingest,
    open,
    read_prediction,
)

__all__ = [
    "Array",
    "BatchBuffer",
    "Loader",
    "ArrayKeyError",
    "Error",
    "NotFoundError",
    "PredictionWriter",
    "Store",
    "ValueError",
    "__version__",
    "ingest",
    "open",
    "read_prediction",
]
