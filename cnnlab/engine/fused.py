"""A faster route through Conv2D -> activation -> pooling, used by the network when it trains.

Why: on small networks the time goes into passes over memory and into per-call overhead, not into
arithmetic. Computing convolution, activation and pooling one layer at a time writes the full-size
convolution output, reads it back through strided window slices, and scatters the pooling gradient
back the same way.

How: the im2col columns are laid out *pool-ordered*, (window offset k, pooled row, pooled column,
batch), so the convolution output comes out as (F, p*p, cells): for each filter, one long contiguous
run per position inside the pooling window. Max pooling is then an element-wise maximum of those runs,
its backward pass a comparison per run, and positions that no pooling window covers (the floored
border) are never computed. A non-decreasing activation commutes with max (act(max z) == max act(z)),
so it is applied after pooling, to a quarter of the values. The convolution kernels themselves
(im2col by one strided copy, col2im on a wide grid) are shared with Conv2D (layers/conv.py).

The layers keep their own parameters and gradients; this class only borrows them, and the
layer-by-layer path stays the reference the tests compare it with.
"""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers import AvgPool2D, Conv2D, MaxPool2D
from cnnlab.engine.layers.activations import Activation
from cnnlab.engine.layers.base import Layer
from cnnlab.engine.layers.conv import (
    augmented_weights,
    gather_columns,
    scattered_input_gradient,
    store_weight_grads,
    wide_grid_input_gradient,
)
from cnnlab.engine.layers.pool import route_max
from cnnlab.engine.layers.scratch import Scratch


def can_fuse(conv: Layer, act: Layer | None, pool: Layer) -> bool:
    if not isinstance(conv, Conv2D) or not isinstance(pool, (MaxPool2D, AvgPool2D)):
        return False
    kh, kw = pool.kernel
    if not (kh == kw == pool.stride):
        return False
    if act is None:
        return True
    return bool(getattr(act, "monotone", False)) or isinstance(pool, AvgPool2D)


class FusedConvPool:
    """Conv2D, an optional element-wise activation and a non-overlapping pool, run as one step.

    Batch-last shapes: x (C, H, W, N) -> (F, PH, PW, N), exactly what the three layers would give.
    """

    def __init__(self, conv: Conv2D, act: Activation | None, pool: MaxPool2D | AvgPool2D) -> None:
        self.conv, self.act, self.pool = conv, act, pool
        self.layers = [layer for layer in (conv, act, pool) if layer is not None]
        self.is_max = isinstance(pool, MaxPool2D)
        self._scratch = Scratch()
        self._cache: tuple = ()  # what forward left for backward

    @property
    def need_input_grad(self) -> bool:
        return self.conv.need_input_grad

    def forward_bl(self, x: np.ndarray, training: bool) -> np.ndarray:
        conv = self.conv
        c, h, w, n = x.shape
        pads, oh, ow = conv.geometry(h, w)
        p = self.pool.stride
        ph, pw = oh // p, ow // p
        f, kk, cells = conv.filters, p * p, ph * pw * n
        cols = gather_columns(conv, x, pads, p, ph, pw, self._scratch)
        w_aug = augmented_weights(conv)
        z = (w_aug @ cols).reshape(f, kk, cells)
        if self.is_max:
            pooled = z[:, 0].copy()
            for k in range(1, kk):
                np.maximum(pooled, z[:, k], out=pooled)
            pooled = pooled.reshape(f, ph, pw, n)
            out = pooled if self.act is None else self.act.forward_bl(pooled, training)
        else:
            a = z if self.act is None else self.act.forward_bl(z, training)
            out = (a.sum(axis=1) * (1.0 / kk)).astype(x.dtype, copy=False).reshape(f, ph, pw, n)
            pooled = None
        self._cache = (x.shape, cols, w_aug, z, pooled, pads, oh, ow)
        return out

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        conv = self.conv
        shape, cols, w_aug, z, pooled, pads, oh, ow = self._cache
        f, kk, cells = z.shape
        if self.is_max:
            g = dout if self.act is None else self.act.backward_bl(dout)
            dz = self._scratch.get("dz", z.shape, dout.dtype)
            # Each window's gradient goes to its first maximal position, exactly as in MaxPool2D.
            route_max(
                g.reshape(f, cells), pooled.reshape(f, cells), z.transpose(1, 0, 2), dz.transpose(1, 0, 2)
            )
        else:
            share = np.broadcast_to((dout * (1.0 / kk)).reshape(f, 1, cells), z.shape)
            share = np.ascontiguousarray(share)
            dz = share if self.act is None else self.act.backward_bl(share)
        dz2 = dz.reshape(f, kk * cells)
        store_weight_grads(conv, dz2 @ cols.T)
        if not conv.need_input_grad:
            return None
        p = self.pool.stride
        ph, pw, n = oh // p, ow // p, shape[3]
        if conv.stride != 1:
            return scattered_input_gradient(conv, dz2, w_aug, shape, pads, p, ph, pw, self._scratch)
        # Lay each window offset's gradient out on the wide grid; positions that no pooling window
        # covered (the floored border) and the columns beyond ow stay zero.
        wp = shape[2] + pads[2] + pads[3]
        grid = self._scratch.get("grid", (f, oh, wp, n), dout.dtype, zero=True)
        for u in range(p):
            for v in range(p):
                rows = slice(u, u + p * (ph - 1) + 1, p)
                columns = slice(v, v + p * (pw - 1) + 1, p)
                grid[:, rows, columns] = dz[:, u * p + v].reshape(f, ph, pw, n)
        return wide_grid_input_gradient(conv, grid, w_aug, shape, pads, ow, self._scratch)


def plan_stages(layers: list[Layer]) -> list:
    """Group layers into the steps the network runs: fused conv-act-pool triples where possible."""
    stages: list = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv2D):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            after = layers[i + 2] if i + 2 < len(layers) else None
            if isinstance(nxt, (MaxPool2D, AvgPool2D)) and can_fuse(layer, None, nxt):
                stages.append(FusedConvPool(layer, None, nxt))
                i += 2
                continue
            if (
                isinstance(nxt, Activation)
                and isinstance(after, (MaxPool2D, AvgPool2D))
                and can_fuse(layer, nxt, after)
            ):
                stages.append(FusedConvPool(layer, nxt, after))
                i += 3
                continue
        stages.append(layer)
        i += 1
    return stages
