"""Average pooling: each window's mean."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.pool import Pool2D


class AvgPool2D(Pool2D):
    """Averages each window; the gradient is shared equally by its elements.

    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """

    kind = "avgpool2d"
    label = "Average pooling"
    choice_label = "average"
    description = "Averages each window, shrinking the maps."
    rule = "the mean of the window"

    @staticmethod
    def pool(window: np.ndarray) -> float:
        return float(np.mean(window))

    def forward_bl(self, x, training):
        windows = self._windows(x.shape[1], x.shape[2])
        _, rows, cols = next(windows)
        out = x[:, rows, cols].copy()
        for _, rows, cols in windows:
            out += x[:, rows, cols]
        out *= 1.0 / (self.kernel[0] * self.kernel[1])
        self._cache = x.shape
        return out

    def backward_bl(self, dout):
        shape = self._cache
        share = dout * (1.0 / (self.kernel[0] * self.kernel[1]))
        dx = np.zeros(shape, dtype=dout.dtype)
        for _, rows, cols in self._windows(shape[1], shape[2]):
            dx[:, rows, cols] += share
        return dx
