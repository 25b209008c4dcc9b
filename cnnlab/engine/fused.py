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
so it is applied after pooling, to a quarter of the values. The columns are gathered by a single
strided copy from a view of the input (one call instead of KH*KW*p*p slice copies).

The input gradient of a stride-1 convolution is scattered back on a *wide grid*: laid out row by row
over the full input width, each kernel offset becomes one constant shift, so col2im is KH*KW
contiguous slice-adds (measured 2-2.5x faster than adding into strided windows).

The layers keep their own parameters and gradients; this class only borrows them, and the
layer-by-layer path stays the reference the tests compare it with.
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

    def _pool_ordered_view(self, xp: np.ndarray, ph: int, pw: int) -> np.ndarray:
        """A view of xp indexed like the columns: [c, i, j, u, v, row, col, n] reads
        xp[c, (row*p + u)*s + i, (col*p + v)*s + j, n] (sliding_window_view builds such views too, but
        its Python wrapper alone cost 16 us per call here)."""
        kh, kw = self.conv.kernel
        s, p = self.conv.stride, self.pool.stride
        sc, sh, sw, sn = xp.strides
        return np.ndarray(
            (xp.shape[0], kh, kw, p, p, ph, pw, xp.shape[3]),
            xp.dtype,
            buffer=xp,
            strides=(sc, sh, sw, s * sh, s * sw, p * s * sh, p * s * sw, sn),
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
            # The border of this scratch array stays zero; only the interior is rewritten.
            xp = self._scratch.get("xpad", (c, h + pt + pb, w + pl + pr, n), x.dtype)
            xp[:, pt : pt + h, pl : pl + w] = x
        else:
            xp = np.ascontiguousarray(x)
        # One extra row of ones carries the bias through the matmul (and gives db in backward).
        cols = self._scratch.get("cols", (ckk + 1, kk * cells), x.dtype)
        if cols[ckk, 0] != 1:
            cols[ckk] = 1
        np.copyto(cols[:ckk].reshape(c, kh, kw, p, p, ph, pw, n), self._pool_ordered_view(xp, ph, pw))
        w_aug = np.concatenate([conv.params["W"].reshape(f, ckk), conv.params["b"][:, None]], axis=1)
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
        self._cache = (x.shape, cols, w_aug, z, pooled, (pt, pb, pl, pr), oh, ow)
        return out

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        conv = self.conv
        shape, cols, w_aug, z, pooled, pads, oh, ow = self._cache
        f, kk, cells = z.shape
        if self.is_max:
            g = dout if self.act is None else self.act.backward_bl(dout)
            remaining = np.array(g.reshape(f, cells), copy=True)
            top = pooled.reshape(f, cells)
            dz = self._scratch.get("dz", z.shape, dout.dtype)
            # Each window's gradient goes to its first maximal position, as in MaxPool2D.backward_bl:
            # what an earlier offset took is subtracted, so ties send it only once.
            for k in range(kk):
                np.multiply(remaining, z[:, k] == top, out=dz[:, k])
                if k < kk - 1:
                    remaining -= dz[:, k]
        else:
            share = np.broadcast_to((dout * (1.0 / kk)).reshape(f, 1, cells), z.shape)
            share = np.ascontiguousarray(share)
            dz = share if self.act is None else self.act.backward_bl(share)
        dz2 = dz.reshape(f, kk * cells)
        dw_aug = dz2 @ cols.T
        conv.grads["W"][...] = dw_aug[:, :-1].reshape(conv.params["W"].shape)
        conv.grads["b"][...] = dw_aug[:, -1]
        if not conv.need_input_grad:
            return None
        if conv.stride == 1:
            return self._wide_grid_input_gradient(dz, w_aug, shape, pads, oh, ow)
        return self._scattered_input_gradient(dz, w_aug, shape, pads)

    def _wide_grid_input_gradient(self, dz, w_aug, shape, pads, oh, ow):
        """dL/dx for a stride-1 convolution by col2im on the wide grid (see the module docstring)."""
        conv = self.conv
        c, h, w, n = shape
        pt, pb, pl, pr = pads
        hp, wp = h + pt + pb, w + pl + pr
        f, kh, kw = conv.filters, *conv.kernel
        p = self.pool.stride
        ph, pw = oh // p, ow // p
        # The gradient at every conv output position, rows laid out over the full padded width wp;
        # positions no pooling window covered (and columns beyond ow) stay zero.
        grid = self._scratch.get("grid", (f, oh, wp, n), dz.dtype, zero=True)
        for u in range(p):
            for v in range(p):
                grid[:, u : u + p * (ph - 1) + 1 : p, v : v + p * (pw - 1) + 1 : p] = dz[
                    :, u * p + v
                ].reshape(f, ph, pw, n)
        span = ((oh - 1) * wp + ow) * n  # from the first to the last real output position
        dcols = w_aug[:, :-1].T @ grid.reshape(f, -1)[:, :span]  # (c*kh*kw, span)
        dcols = dcols.reshape(c, kh * kw, span)
        dxp = self._scratch.get("dxpad", (c, hp, wp, n), dz.dtype, zero=True)
        flat = dxp.reshape(c, -1)
        for i in range(kh):
            for j in range(kw):
                start = (i * wp + j) * n
                flat[:, start : start + span] += dcols[:, i * kw + j]
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])

    def _scattered_input_gradient(self, dz, w_aug, shape, pads):
        """dL/dx by scattering the columns' gradient back through the same strided view (any stride)."""
        conv = self.conv
        c, h, w, n = shape
        pt, pb, pl, pr = pads
        f, kk, cells = dz.shape
        ph, pw = self._cache[6] // self.pool.stride, self._cache[7] // self.pool.stride
        kh, kw = conv.kernel
        p = self.pool.stride
        dcols = (w_aug[:, :-1].T @ dz.reshape(f, kk * cells)).reshape(c, kh, kw, p, p, ph, pw, n)
        dxp = self._scratch.get("dxpad", (c, h + pt + pb, w + pl + pr, n), dz.dtype, zero=True)
        # Windows may overlap (kernel larger than stride), so each kernel/window offset is added in
        # turn: one slice-add per offset, never np.add.at.
        target = self._pool_ordered_view(dxp, ph, pw)
        for i in range(kh):
            for j in range(kw):
                for u in range(p):
                    for v in range(p):
                        target[:, i, j, u, v] += dcols[:, i, j, u, v]
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])


def plan_stages(layers: list[Layer]) -> list:
    """Group layers into the steps the network runs: fused conv-act-pool triples where possible."""
    stages: list = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv2D):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            after = layers[i + 2] if i + 2 < len(layers) else None
            if nxt is not None and can_fuse(layer, None, nxt):
                stages.append(FusedConvPool(layer, None, nxt))
                i += 2
                continue
            if after is not None and hasattr(nxt, "monotone") and can_fuse(layer, nxt, after):
                stages.append(FusedConvPool(layer, nxt, after))
                i += 3
                continue
        stages.append(layer)
        i += 1
    return stages
