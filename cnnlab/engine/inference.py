"""One image through a network, fast: the drawing pad's question, asked on every mouse move.

Why: at one image nothing is large, and the time goes into NumPy's per-call overhead (a microsecond or
so each) and Python's around it. The general forward pass makes its views, looks up its buffers and
builds [W | b] anew at every call; measured on the seed net, that bookkeeping was about a third of a
37 us pass.

How: ``OneImage`` is made once per network and input shape. It lays out every buffer, and every view
of a buffer that a step reads, in advance, and chains the steps so that each writes its output where
the next one reads (a convolution's pooled, activated maps go straight into the next convolution's
input, its padding already around them). A call then copies the image in and runs a fixed list of
NumPy calls. Weights are read from the layers at every call, so training in between is seen.

It covers the layers the presets are made of: fused convolution - activation - max pooling stages
(``fused.py``), Flatten, Dense, element-wise activations and Dropout (evaluation: the identity).
Anything else (BatchNorm, average pooling, a convolution on its own) leaves the network on its
general path. The numbers are the general path's up to float32 rounding (the bias is added after the
product instead of inside it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from cnnlab.engine.fused import FusedConvPool
from cnnlab.engine.layers import Dense, Dropout, Flatten, ReLU
from cnnlab.engine.layers.activations import Activation
from cnnlab.engine.layers.conv import ConvPlan, pool_ordered_view, prefer_wide, wide_grid_view

Step = Callable[[], None]


class OneImage:
    """Evaluation of a single image (input ``shape`` (C, H, W)) through ``stages``; see the module."""

    def __init__(self, stages: list, shape: tuple[int, ...], dtype) -> None:
        self.dtype = np.dtype(dtype)
        c, h, w = shape
        self.steps: list[Step] = []
        first = stages[0] if stages else None
        # The image goes straight into the first convolution's padded input, if it has one.
        self.image, padded = self._input_for(first, (c, h, w, 1))
        source = self.image
        for i, stage in enumerate(stages):
            nxt = stages[i + 1] if i + 1 < len(stages) else None
            if isinstance(stage, FusedConvPool):
                source, padded = self._conv(stage, source, padded, nxt)
                continue
            if isinstance(stage, Flatten | Dropout):
                source = source.reshape(-1, 1)
            elif isinstance(stage, Dense):
                source = self._dense(stage, source.reshape(-1, 1))
            else:  # an element-wise activation (``supports`` checked it)
                source = self._activation(stage, source)
            padded = None
        self.out = source

    @staticmethod
    def supports(stages: list) -> bool:
        for stage in stages:
            if isinstance(stage, FusedConvPool):
                if not stage.is_max or stage.conv.stride != 1:
                    return False
            elif not isinstance(stage, Flatten | Dropout | Dense | Activation):
                return False
        return True

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (1, C, H, W) -> logits (1, K), a fresh array."""
        np.copyto(self.image[..., 0], x[0])
        for step in self.steps:
            step()
        return self.out.reshape(1, -1).copy()

    # -- the steps ---------------------------------------------------------------------------------
    def _input_for(self, stage, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
        """A buffer of ``shape`` for ``stage`` to read, inside its convolution's zero padding if it has
        one: (the buffer, the padded array around it, or None)."""
        if isinstance(stage, FusedConvPool):
            pt, pb, pl, pr = stage.conv.geometry(shape[1], shape[2])[0]
            if pt or pb or pl or pr:
                c, h, w, n = shape
                padded = np.zeros((c, h + pt + pb, w + pl + pr, n), self.dtype)
                return padded[:, pt : pt + h, pl : pl + w], padded
        return np.zeros(shape, self.dtype), None

    def _conv(self, stage: FusedConvPool, source, padded, nxt) -> tuple[np.ndarray, np.ndarray | None]:
        """Convolution, max pooling and activation of ``source`` (C, H, W, 1), whose padded array is
        ``padded`` (None: no padding, or not laid out yet); returns the (F, PH, PW, 1) maps, made in
        the next convolution's input if one follows, and their padded array."""
        conv, p = stage.conv, stage.pool.stride
        shape = source.shape
        plan = ConvPlan(conv, shape, p, prefer_wide(conv, shape, p))
        if padded is None:
            if any(plan.pads):  # the maps come from a layer that does not pad them: copy them in
                inner, padded = self._input_for(stage, shape)
                self.steps.append(functools.partial(np.copyto, inner, source))
            else:
                padded = source
        c, f = shape[0], conv.filters
        kh, kw = conv.kernel
        cols = np.zeros((plan.ckk, plan.columns), self.dtype)
        if plan.wide:
            view = wide_grid_view(padded, kh, kw, plan.columns)
            target = cols.reshape(c, kh, kw, plan.columns)
            z = np.zeros((f, plan.rows * plan.padded[2]), self.dtype)
            by_offset = None
        else:
            view = pool_ordered_view(conv, padded, p, plan.ph, plan.pw)
            target = cols.reshape(c, kh, kw, p, p, plan.ph, plan.pw, 1)
            z = np.zeros((f, plan.columns), self.dtype)
            by_offset = z.reshape(f, plan.kk, plan.cells)
        product = z[:, : plan.columns]
        offsets = plan.offsets(z)
        top = np.zeros((f, plan.ph, plan.pw, 1), self.dtype)
        pooled = top.reshape(offsets[0].shape)
        out, out_padded = self._input_for(nxt, top.shape)
        act, zeros = stage.act, np.zeros_like(top)

        def step() -> None:
            np.copyto(target, view)
            np.matmul(conv.params["W"].reshape(f, -1), cols, out=product)
            np.add(product, conv.params["b"][:, None], out=product)
            if by_offset is not None:
                np.maximum.reduce(by_offset, axis=1, out=pooled)
            else:
                np.maximum(offsets[0], offsets[1], out=pooled)
                for values in offsets[2:]:
                    np.maximum(pooled, values, out=pooled)
            if act is None:
                np.copyto(out, top)
            elif isinstance(act, ReLU):
                np.maximum(top, zeros, out=out)
            else:
                np.copyto(out, act.forward_bl(top, False))

        self.steps.append(step)
        return out, out_padded

    def _dense(self, layer: Dense, source: np.ndarray) -> np.ndarray:
        out = np.zeros((layer.units, 1), self.dtype)

        def step() -> None:
            np.matmul(layer.params["W"].T, source, out=out)
            np.add(out, layer.params["b"][:, None], out=out)

        self.steps.append(step)
        return out

    def _activation(self, layer: Activation, source: np.ndarray) -> np.ndarray:
        out = np.zeros(source.shape, self.dtype)
        if isinstance(layer, ReLU):
            zeros = np.zeros(source.shape, self.dtype)
            self.steps.append(lambda: np.maximum(source, zeros, out=out))
        else:
            self.steps.append(lambda: np.copyto(out, layer.forward_bl(source, False)))
        return out
