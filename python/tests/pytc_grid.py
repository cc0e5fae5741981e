"""The test-grid oracle the inference tests share: PyTC's test-mode window starts along each
axis of a (padded) volume, computed from its formulas (`count_volume`, then the last window
moved back to end at the volume's end)."""

import numpy as np


def pytc_grid(padded_shape, size, stride):
    """Per axis, the starts of PyTC's test windows of `size` at `stride` over `padded_shape`."""
    axes = []
    for n, s, t in zip(padded_shape, size, stride):
        count = 1 + int(np.ceil(max(n - s, 0) / t))
        axes.append([min(i * t, n - s) for i in range(count)])
    return axes
