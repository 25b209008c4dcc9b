"""Max pooling: each window's largest value."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.pool import Pool2D, route_max


class MaxPool2D(Pool2D):
    """Keeps the largest value of each window; the gradient flows back to that one element.

    Shapes: (N, C, H, W) -> (N, C, OH, OW). On ties the first element in row-major window order wins,
    as in PyTorch, so exactly one input receives each window's gradient.
    """

    kind = "maxpool2d"
    label = "Max pooling"
    choice_label = "max"
    description = "Keeps the strongest response in each window, shrinking the maps."
    rule = "the largest value in the window"

    @staticmethod
    def pool(window: np.ndarray) -> float:
        return float(np.max(window))

    def forward_bl(self, x, training):
        windows = self._windows(x.shape[1], x.shape[2])
        _, rows, cols = next(windows)
        out = x[:, rows, cols].copy()
        for _, rows, cols in windows:
            np.maximum(out, x[:, rows, cols], out=out)
        self._cache = (x, out)
        return out

    def backward_bl(self, dout):
        x, out = self._cache
        # Only when windows tile the input exactly is every element written below; else start at 0.
        exact_fit = all(
            k == self.stride and size % k == 0 for size, k in zip(x.shape[1:3], self.kernel, strict=True)
        )
        dx = np.empty_like(x) if exact_fit else np.zeros_like(x)
        windows = list(self._windows(x.shape[1], x.shape[2]))
        candidates = [x[:, rows, cols] for _, rows, cols in windows]
        for (_, rows, cols), taken in zip(windows, route_max(dout, out, candidates), strict=True):
            if self._overlapping:
                dx[:, rows, cols] += taken
            else:
                dx[:, rows, cols] = taken
        return dx
