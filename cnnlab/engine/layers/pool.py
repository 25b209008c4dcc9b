"""Max and average pooling over kernel x kernel windows with a stride.

Windows that do not divide the input are floored (the last rows/columns that do not fill a window
are dropped, as PyTorch does); overlapping windows (stride < kernel) are allowed. Both run as one
vectorised step per window offset (KH*KW steps), never per pixel.
"""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.base import Layer
from cnnlab.engine.layers.conv import pair, window_count


class _Pool2D(Layer):
    def __init__(self, kernel: int | tuple[int, int] = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel = pair(kernel)
        self.stride = int(stride) if stride is not None else self.kernel[0]
        self._cache: tuple | None = None

    def output_shape(self, input_shape):
        c, h, w = input_shape
        kh, kw = self.kernel
        return (c, window_count(h, kh, self.stride), window_count(w, kw, self.stride))

    def _windows(self, h: int, w: int):
        """Yield (offset index, row slice, column slice) picking each window's element at one offset."""
        kh, kw = self.kernel
        s = self.stride
        oh, ow = window_count(h, kh, s), window_count(w, kw, s)
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, slice(i, i + s * (oh - 1) + 1, s), slice(j, j + s * (ow - 1) + 1, s)

    @property
    def _overlapping(self) -> bool:
        return self.stride < max(self.kernel)

    def _settings(self):
        kh, kw = self.kernel
        return f"kernel={kh}x{kw}, stride={self.stride}"


class MaxPool2D(_Pool2D):
    """Keeps the largest value of each window; the gradient flows back to that one element.

    Shapes: (N, C, H, W) -> (N, C, OH, OW). On ties the first element in row-major window order wins,
    as in PyTorch, so exactly one input receives each window's gradient.
    """

    kind = "maxpool2d"

    def forward_bl(self, x, training):
        c, h, w, n = x.shape
        out = None
        for _, rows, cols in self._windows(h, w):
            if out is None:
                out = x[:, rows, cols].copy()
            else:
                np.maximum(out, x[:, rows, cols], out=out)
        self._cache = (x, out)
        return out

    def backward_bl(self, dout):
        x, out = self._cache
        # Route by comparing each window offset with the max, in window order; the gradient still
        # unrouted is cleared where an earlier offset already took it, so ties send it only once.
        # (np.copyto(..., where=) would be simpler and was 10x slower here.)
        # Only when windows tile the input exactly is every element written below; else start at 0.
        exact_fit = all(
            k == self.stride and size % k == 0 for size, k in zip(x.shape[1:3], self.kernel, strict=True)
        )
        dx = np.empty_like(x) if exact_fit else np.zeros_like(x)
        remaining = np.array(dout, copy=True)
        windows = list(self._windows(x.shape[1], x.shape[2]))
        for k, rows, cols in windows:
            taken = remaining * (x[:, rows, cols] == out)
            if self._overlapping:
                dx[:, rows, cols] += taken
            else:
                dx[:, rows, cols] = taken
            if k != windows[-1][0]:
                remaining -= taken
        return dx


class AvgPool2D(_Pool2D):
    """Averages each window; the gradient is shared equally by its elements.

    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """

    kind = "avgpool2d"

    def forward_bl(self, x, training):
        c, h, w, n = x.shape
        out = None
        for _, rows, cols in self._windows(h, w):
            out = x[:, rows, cols].copy() if out is None else np.add(out, x[:, rows, cols], out=out)
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
