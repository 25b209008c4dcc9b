"""2-D convolution (strictly, cross-correlation, as in every deep-learning library)."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.init import initialise
from cnnlab.engine.layers.base import ParamLayer
from cnnlab.engine.layers.scratch import Scratch

Padding = int | str | tuple[int, int, int, int]


def pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def resolve_padding(padding: Padding, size: tuple[int, int], kernel: tuple[int, int], stride: int):
    """Padding as (top, bottom, left, right).

    ``"same"`` follows TensorFlow: the output is ceil(size / stride) and any odd leftover padding goes
    to the bottom/right, so it is defined for every kernel and stride.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            pads = []
            for n, k in zip(size, kernel, strict=True):
                out = math.ceil(n / stride)
                total = max((out - 1) * stride + k - n, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (tuple, list)):
        return tuple(int(p) for p in padding)
    p = int(padding)
    return (p, p, p, p)


def window_count(size: int, kernel: int, stride: int) -> int:
    """How many windows fit along one axis (floor, like PyTorch); 0 or less means none."""
    return (size - kernel) // stride + 1 if size >= kernel else 0


class Conv2D(ParamLayer):
    """Convolution with ``filters`` kernels of ``kernel`` over all input channels.

    Shapes: x (N, C, H, W) -> (N, F, OH, OW); W (F, C, KH, KW); b (F,).
    Batch-last inside: x (C, H, W, N) -> (F, OH, OW, N).

    The forward pass is im2col plus one matrix product: the (C*KH*KW, OH*OW*N) column matrix is built
    by one slice copy per kernel offset (KH*KW copies, not one per pixel), then W (F, C*KH*KW) @ cols.
    """

    kind = "conv2d"

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: Padding = "valid",
        init: str = "he_normal",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_channels, self.filters = int(in_channels), int(filters)
        self.kernel = pair(kernel)
        self.stride = int(stride)
        self.padding = padding
        self.init = init
        kh, kw = self.kernel
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in, fan_out = in_channels * kh * kw, filters * kh * kw
        weights = initialise(init, (filters, in_channels, kh, kw), fan_in, fan_out, rng, dtype)
        self._set_params(W=weights, b=np.zeros(filters, dtype=dtype))
        self._scratch = Scratch()
        self._cache: tuple | None = None

    def geometry(self, height: int, width: int):
        """(pads, out_height, out_width) for an input of this size."""
        pads = resolve_padding(self.padding, (height, width), self.kernel, self.stride)
        kh, kw = self.kernel
        oh = window_count(height + pads[0] + pads[1], kh, self.stride)
        ow = window_count(width + pads[2] + pads[3], kw, self.stride)
        return pads, oh, ow

    def output_shape(self, input_shape):
        _, h, w = input_shape
        _, oh, ow = self.geometry(h, w)
        return (self.filters, oh, ow)

    def forward_bl(self, x, training):
        c, h, w, n = x.shape
        (pt, pb, pl, pr), oh, ow = self.geometry(h, w)
        kh, kw = self.kernel
        s = self.stride
        if pt or pb or pl or pr:
            # The border of this scratch array stays zero; only the interior is rewritten.
            xp = self._scratch.get("xpad", (c, h + pt + pb, w + pl + pr, n), x.dtype)
            xp[:, pt : pt + h, pl : pl + w] = x
        else:
            xp = x
        cols = self._scratch.get("cols", (c, kh, kw, oh, ow, n), x.dtype)
        for i in range(kh):
            for j in range(kw):
                cols[:, i, j] = xp[:, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s]
        cols2d = cols.reshape(c * kh * kw, oh * ow * n)
        out = self.params["W"].reshape(self.filters, -1) @ cols2d
        out += self.params["b"][:, None]
        self._cache = (x.shape, cols2d)
        return out.reshape(self.filters, oh, ow, n)

    def backward_bl(self, dout):
        (c, h, w, n), cols2d = self._cache
        f = self.filters
        d2 = dout.reshape(f, -1)
        self.grads["b"][...] = d2.sum(axis=1)
        self.grads["W"][...] = (d2 @ cols2d.T).reshape(self.params["W"].shape)
        if not self.need_input_grad:
            return None
        (pt, pb, pl, pr), oh, ow = self.geometry(h, w)
        kh, kw = self.kernel
        s = self.stride
        dcols = (self.params["W"].reshape(f, -1).T @ d2).reshape(c, kh, kw, oh, ow, n)
        dxp = self._scratch.get("dxpad", (c, h + pt + pb, w + pl + pr, n), dout.dtype, zero=True)
        # col2im: scatter each kernel offset's column block back with one slice-add (no np.add.at).
        for i in range(kh):
            for j in range(kw):
                dxp[:, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s] += dcols[:, i, j]
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])

    def astype(self, dtype):
        super().astype(dtype)
        self._scratch.clear()

    def _settings(self):
        kh, kw = self.kernel
        return (
            f"{self.in_channels}->{self.filters}, kernel={kh}x{kw}, stride={self.stride}, "
            f"padding={self.padding!r}, init={self.init!r}"
        )
