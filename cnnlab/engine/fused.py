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
so it is applied after pooling, to a quarter of the values. The convolution kernels themselves are
shared with Conv2D (``layers.conv.ConvPlan``).

The layers keep their own parameters and gradients; this class only borrows them, and the
layer-by-layer path stays the reference the tests compare it with.
"""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers import AvgPool2D, Conv2D, MaxPool2D, ReLU
from cnnlab.engine.layers.activations import Activation
from cnnlab.engine.layers.base import Layer
from cnnlab.engine.layers.conv import ConvPlan, augmented_weights, prefer_wide, store_weight_grads
from cnnlab.engine.layers.pool import max_and_rises, route_rises
from cnnlab.engine.layers.scratch import Scratch
from cnnlab.engine.layers.winograd import WinogradPlan, prefer_winograd


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
        self._plans: dict[tuple[int, ...], ConvPlan | WinogradPlan] = {}
        self._cache: tuple = ()  # what forward left for backward
        self.winograd = True  # 3x3 convolutions with enough channels compute with F(2x2, 3x3)

    @property
    def need_input_grad(self) -> bool:
        return self.conv.need_input_grad

    def _plan(self, shape: tuple[int, ...]) -> ConvPlan | WinogradPlan:
        found = self._plans.get(shape)
        if found is None:
            p = self.pool.stride
            wide = self.is_max and prefer_wide(self.conv, shape, p)
            if self.winograd and prefer_winograd(self.conv, shape, p, wide, self.is_max):
                found = self._plans[shape] = WinogradPlan(self.conv, shape)
            else:
                found = self._plans[shape] = ConvPlan(self.conv, shape, p, wide)
        return found

    def forward_bl(self, x: np.ndarray, training: bool) -> np.ndarray:
        plan, scratch = self._plan(x.shape), self._scratch
        f, kk = self.conv.filters, plan.kk
        w_aug = augmented_weights(self.conv)
        cols, z = plan.convolve(x, w_aug, scratch)
        shape = (f, plan.ph, plan.pw, plan.n)
        if self.is_max:
            top = scratch.get("pooled", shape, x.dtype)
            if training or plan.wide:
                rises = self._rises(plan) if training else None
                max_and_rises(plan.offsets(z), top.reshape(self._offset_shape(plan)), rises)
            else:
                # Evaluation: one call over the window axis (measured faster than one maximum per
                # offset at one image); the backward pass, if one follows, finds the rises itself.
                rises = None
                plan.pool_max(z, top.reshape(f, plan.cells))
            # A fresh array leaves the stage: the maxima stay here for the backward pass.
            if self.act is None:
                out = top.copy()
            elif isinstance(self.act, ReLU):
                # Computed here: the backward pass takes ReLU's gradient from the maxima themselves.
                out = np.maximum(top, scratch.get("zeros", shape, x.dtype))
            else:
                out = self.act.forward_bl(top, training)
        else:
            top = None
            by_offset = z.reshape(f, kk, plan.cells)
            a = by_offset if self.act is None else self.act.forward_bl(by_offset, training)
            out = (a.sum(axis=1) * (1.0 / kk)).astype(x.dtype, copy=False).reshape(shape)
        self._cache = (plan, cols, w_aug, z, top, rises if self.is_max else None)
        return out

    def _rises(self, plan: ConvPlan | WinogradPlan) -> list[np.ndarray]:
        """Boolean scratch for ``max_and_rises``, in the shape of one window offset's values."""
        shape = self._offset_shape(plan)
        return [self._scratch.get(f"rise{k}", shape, np.bool_) for k in range(1, plan.kk)]

    def _offset_shape(self, plan: ConvPlan | WinogradPlan) -> tuple[int, ...]:
        f = self.conv.filters
        return (f, plan.ph, plan.pw, plan.n) if plan.wide else (f, plan.cells)

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        conv = self.conv
        plan, cols, w_aug, z, top, rises = self._cache
        f, kk, scratch = conv.filters, plan.kk, self._scratch
        if self.is_max:
            shape = self._offset_shape(plan)
            if isinstance(self.act, ReLU):
                # ReLU's gradient passes where its input, the window's maximum, was positive: that
                # mask joins the routing's, instead of a pass of its own over the gradient.
                g, keep = dout, np.greater(top.reshape(shape), 0, out=scratch.get("keep", shape, np.bool_))
            else:
                g, keep = (dout if self.act is None else self.act.backward_bl(dout)), None
            if rises is None:  # after an evaluation-mode forward pass
                rises = self._rises(plan)
                max_and_rises(plan.offsets(z), scratch.get("pooled_again", shape, top.dtype), rises)
            dz = plan.gradient_buffer(scratch, dout.dtype)
            work = scratch.get("later", shape, np.bool_), scratch.get("first", shape, np.bool_)
            # Each window's gradient goes to its first maximal position, exactly as in MaxPool2D.
            route_rises(np.ascontiguousarray(g).reshape(shape), rises, plan.offsets(dz), work, keep)
        else:
            share = np.broadcast_to((dout * (1.0 / kk)).reshape(f, 1, plan.cells), (f, kk, plan.cells))
            share = np.ascontiguousarray(share)
            dz = share if self.act is None else self.act.backward_bl(share)
            dz = dz.reshape(f, plan.columns)
        dw_aug, dx = plan.gradients(dz, cols, w_aug, scratch, conv.need_input_grad)
        store_weight_grads(conv, dw_aug)
        return dx


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
