"""Fully connected layer and the flatten step before it."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.init import initialise
from cnnlab.engine.layers.base import Layer, ParamLayer


class Dense(ParamLayer):
    """y = x @ W + b.

    Shapes: x (N, in) -> (N, out); W (in, out); b (out,). Batch-last inside: (in, N) -> (out, N),
    computed as W.T @ x so that no array is transposed in memory (BLAS reads W transposed).
    """

    kind = "dense"

    def __init__(
        self,
        in_features: int,
        units: int,
        init: str = "he_normal",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features, self.units, self.init = int(in_features), int(units), init
        rng = rng if rng is not None else np.random.default_rng(0)
        weights = initialise(init, (in_features, units), in_features, units, rng, dtype)
        self._set_params(W=weights, b=np.zeros(units, dtype=dtype))
        self._x: np.ndarray | None = None

    def output_shape(self, input_shape):
        return (self.units,)

    def forward_bl(self, x, training):
        self._x = x
        out = self.params["W"].T @ x
        out += self.params["b"][:, None]
        return out

    def backward_bl(self, dout):
        x = self._x
        self.grads["W"][...] = x @ dout.T
        self.grads["b"][...] = dout.sum(axis=1)
        if not self.need_input_grad:
            return None
        return self.params["W"] @ dout

    def _settings(self):
        return f"{self.in_features}->{self.units}, init={self.init!r}"


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), features in (c, h, w) order. Batch-last it is a free reshape."""

    kind = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward_bl(self, x, training):
        self._shape = x.shape
        return x.reshape(-1, x.shape[-1])

    def backward_bl(self, dout):
        return dout.reshape(self._shape)
