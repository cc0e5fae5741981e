"""The padding oracle the store tests share: numpy.pad of a writer's own read of the whole
volume, far enough to hold the window, then cut. Pad names are voxload's (`constant:7` is
numpy's constant mode with value 7)."""

import numpy as np

PADS = {
    "constant": dict(mode="constant", constant_values=0),
    "constant:7": dict(mode="constant", constant_values=7),
    "reflect": dict(mode="reflect"),
    "symmetric": dict(mode="symmetric"),
    "edge": dict(mode="edge"),
}


def padded_window(whole, start, shape, pad):
    """The window `start`, `shape` of `whole` padded by voxload's mode `pad`, as numpy gives it."""
    widths = [(max(0, -s), max(0, s + n - d)) for s, n, d in zip(start, shape, whole.shape)]
    padded = np.pad(whole, widths, **PADS[pad])
    return padded[tuple(slice(s + w[0], s + w[0] + n) for s, n, w in zip(start, shape, widths))]
