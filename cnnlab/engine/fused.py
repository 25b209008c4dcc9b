"""A faster route through Conv2D -> activation -> pooling, used by the network when it trains.

Why: on small networks the time goes into passes over memory, not into arithmetic. Computing
convolution, activation and pooling one layer at a time writes the full-size convolution output,
reads it back with strided window slices, and scatters the pooling gradient back the same way.

How: the im2col columns are laid out *pool-ordered*, (window offset k, pooled row, pooled col, batch),
so the convolution output comes out as p*p contiguous slabs, one per position inside the pooling
window. Max pooling is then an element-wise maximum of whole slabs, its backward pass a comparison
per slab, and positions that no pooling window covers (the floored border) are never computed. A
non-decreasing activation commutes with max (act(max z) == max act(z)), so it is applied after
pooling, to a quarter of the values. The layers keep their own parameters and gradients; this
class only borrows them, and the layer-by-layer path stays the reference the tests compare it with.
"""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers import AvgPool2D, Conv2D, MaxPool2D
from cnnlab.engine.layers.base import Layer
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

    def __init__(self, conv: Conv2D, act: Layer | None, pool: MaxPool2D | AvgPool2D) -> None:
        self.conv, self.act, self.pool = conv, act, pool
        self.layers = [layer for layer in (conv, act, pool) if layer is not None]
        self.is_max = isinstance(pool, MaxPool2D)
        self._scratch = Scratch()
        self._cache: tuple | None = None

    @property
    def need_input_grad(self) -> bool:
        return self.conv.need_input_grad

    def _offsets(self, ph: int, pw: int):
        """For each (kernel offset i, j) and window offset (u, v): the input rows and columns it reads."""
        conv = self.conv
        kh, kw = conv.kernel
        s, p = conv.stride, self.pool.stride
        step = s * p
        for i in range(kh):
            for j in range(kw):
                for u in range(p):
                    for v in range(p):
                        r0, c0 = u * s + i, v * s + j
                        yield (
                            i,
                            j,
                            u * p + v,
                            slice(r0, r0 + step * (ph - 1) + 1, step),
                            slice(c0, c0 + step * (pw - 1) + 1, step),
                        )

    def forward_bl(self, x: np.ndarray, training: bool) -> np.ndarray:
        conv = self.conv
        c, h, w, n = x.shape
        (pt, pb, pl, pr), oh, ow = conv.geometry(h, w)
        p = self.pool.stride
        ph, pw = oh // p, ow // p
        kh, kw = conv.kernel
        f, ckk, kk, cells = conv.filters, c * kh * kw, p * p, ph * pw * n
        if pt or pb or pl or pr:
            xp = self._scratch.get("xpad", (c, h + pt + pb, w + pl + pr, n), x.dtype)
            xp[:, pt : pt + h, pl : pl + w] = x
        else:
            xp = x
        # One extra row of ones carries the bias through the matmul (and gives db in backward).
        cols = self._scratch.get("cols", (ckk + 1, kk * cells), x.dtype)
        if cols[ckk, 0] != 1:
            cols[ckk] = 1
        view = cols[:ckk].reshape(c, kh, kw, kk, ph, pw, n)
        for i, j, k, rows, cols_ in self._offsets(ph, pw):
            view[:, i, j, k] = xp[:, rows, cols_]
        w_aug = np.concatenate([conv.params["W"].reshape(f, ckk), conv.params["b"][:, None]], axis=1)
        # One product per window offset, each into its own contiguous slab (kk, F, cells): the
        # pooling below then reads and writes whole contiguous arrays, which NumPy runs several
        # times faster than the same ufuncs on strided views.
        z = np.empty((kk, f, cells), dtype=x.dtype)
        for k in range(kk):
            np.matmul(w_aug, cols[:, k * cells : (k + 1) * cells], out=z[k])
        if self.is_max:
            pooled = z[0].copy()
            for k in range(1, kk):
                np.maximum(pooled, z[k], out=pooled)
            pooled = pooled.reshape(f, ph, pw, n)
            out = pooled if self.act is None else self.act.forward_bl(pooled, training)
        else:
            a = z if self.act is None else self.act.forward_bl(z, training)
            out = (a.sum(axis=0) * (1.0 / kk)).astype(x.dtype, copy=False).reshape(f, ph, pw, n)
            pooled = None
        self._cache = (x.shape, cols, w_aug, z, pooled, (pt, pb, pl, pr), oh, ow)
        return out

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        conv = self.conv
        (c, h, w, n), cols, w_aug, z, pooled, pads, oh, ow = self._cache
        f = conv.filters
        p = self.pool.stride
        kk, cells = p * p, z.shape[2]
        if self.is_max:
            g = dout if self.act is None else self.act.backward_bl(dout)
            remaining = np.array(g.reshape(f, cells), copy=True)
            top = pooled.reshape(f, cells)
            dz = self._scratch.get("dz", z.shape, dout.dtype)
            # Each window's gradient goes to its first maximal slab, as in MaxPool2D.backward_bl.
            for k in range(kk):
                np.multiply(remaining, z[k] == top, out=dz[k])
                if k < kk - 1:
                    remaining -= dz[k]
        else:
            share = np.broadcast_to((dout * (1.0 / kk)).reshape(1, f, cells), z.shape)
            dz = (
                np.ascontiguousarray(share)
                if self.act is None
                else self.act.backward_bl(np.ascontiguousarray(share))
            )
        dw_aug = dz[0] @ cols[:, :cells].T
        for k in range(1, kk):
            dw_aug += dz[k] @ cols[:, k * cells : (k + 1) * cells].T
        conv.grads["W"][...] = dw_aug[:, :-1].reshape(conv.params["W"].shape)
        conv.grads["b"][...] = dw_aug[:, -1]
        if not conv.need_input_grad:
            return None
        return self._input_gradient(dz, w_aug, (c, h, w, n), pads, oh, ow)

    def _input_gradient(self, dz, w_aug, shape, pads, oh, ow):
        """dL/dx as a *full* convolution of the output gradient with the kernel turned 180 degrees.

        For a stride-1 convolution this is exact, and it replaces col2im's KH*KW*p*p strided
        scatter-adds (the slowest step of the whole backward pass, measured) with slice copies and
        one matrix product, the same machinery as the forward pass.
        """
        conv = self.conv
        c, h, w, n = shape
        pt, pb, pl, pr = pads
        f = conv.filters
        kh, kw = conv.kernel
        p = self.pool.stride
        ph, pw = oh // p, ow // p
        s = conv.stride
        if s != 1:
            return self._scatter_input_gradient(dz, w_aug, shape, pads, oh, ow)
        # The gradient of every conv output position (zero where no pooling window reached), padded
        # by kernel-1 on each side so that the full convolution reads zeros beyond the edges.
        hp, wp = h + pt + pb, w + pl + pr
        grid = self._scratch.get("dgrid", (f, oh + 2 * (kh - 1), ow + 2 * (kw - 1), n), dz.dtype, zero=True)
        for u in range(p):
            for v in range(p):
                r0, c0 = kh - 1 + u, kw - 1 + v
                grid[:, r0 : r0 + p * (ph - 1) + 1 : p, c0 : c0 + p * (pw - 1) + 1 : p] = dz[
                    u * p + v
                ].reshape(f, ph, pw, n)
        dcols = self._scratch.get("dcols", (f, kh, kw, hp, wp, n), dz.dtype)
        for i in range(kh):
            for j in range(kw):
                dcols[:, i, j] = grid[:, kh - 1 - i : kh - 1 - i + hp, kw - 1 - j : kw - 1 - j + wp]
        # dx[c] = sum over f, i, j of W[f, c, i, j] * grid[f, y + kh-1-i, x + kw-1-j]
        weights = conv.params["W"].transpose(1, 0, 2, 3).reshape(c, f * kh * kw)
        dxp = (weights @ dcols.reshape(f * kh * kw, hp * wp * n)).reshape(c, hp, wp, n)
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])

    def _scatter_input_gradient(self, dz, w_aug, shape, pads, oh, ow):
        """dL/dx by col2im (scatter-add per kernel and window offset), for strided convolutions."""
        conv = self.conv
        c, h, w, n = shape
        pt, pb, pl, pr = pads
        kh, kw = conv.kernel
        p = self.pool.stride
        ph, pw = oh // p, ow // p
        kk, cells = p * p, dz.shape[2]
        dcols = (w_aug[:, :-1].T @ dz.transpose(1, 0, 2).reshape(conv.filters, kk * cells)).reshape(
            c, kh, kw, kk, ph, pw, n
        )
        dxp = self._scratch.get("dxpad", (c, h + pt + pb, w + pl + pr, n), dz.dtype, zero=True)
        for i, j, k, rows, cols_ in self._offsets(ph, pw):
            dxp[:, rows, cols_] += dcols[:, i, j, k]
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])


def plan_stages(layers: list[Layer]) -> list:
    """Group layers into the steps the network runs: fused conv-act-pool triples where possible."""
    stages: list = []
    i = 0
    while i < len(layers):
        conv = layers[i]
        if isinstance(conv, Conv2D):
            for act, pool_at in ((None, i + 1), (layers[i + 1] if i + 1 < len(layers) else None, i + 2)):
                if act is not None and getattr(act, "monotone", None) is None:
                    continue
                if pool_at < len(layers) and can_fuse(conv, act, layers[pool_at]):
                    stages.append(FusedConvPool(conv, act, layers[pool_at]))
                    i = pool_at + 1
                    break
            else:
                stages.append(conv)
                i += 1
            continue
        stages.append(conv)
        i += 1
    return stages
