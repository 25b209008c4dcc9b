"""Element-wise activations. They work the same in either batch layout, so forward == forward_bl."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.base import Layer
from cnnlab.engine.layers.scratch import Scratch


class _Elementwise(Layer):
    # Non-decreasing functions commute with max pooling: act(max(x)) == max(act(x)). The network's
    # fused conv-pool path uses that to apply the activation to 1/4 of the values.
    monotone = True

    # Element-wise maths does not care where the batch axis is: skip the layout round trip.
    def forward(self, x, training=False):
        return self.forward_bl(x, training)

    def backward(self, dout):
        return self.backward_bl(dout)


class ReLU(_Elementwise):
    """max(0, x); the gradient passes where the input was positive."""

    kind = "relu"

    def __init__(self) -> None:
        super().__init__()
        self._zeros = Scratch()

    def forward_bl(self, x, training):
        # np.maximum against a full array of zeros runs on NumPy's SIMD path; against the scalar 0 it
        # took a broadcasting loop 4x slower (measured: 250 us vs 62 us on the seed net's conv1 output).
        out = np.maximum(x, self._zeros.get("zeros", x.shape, x.dtype))
        self._out = out
        return out

    def backward_bl(self, dout):
        return dout * (self._out > 0)


class LeakyReLU(_Elementwise):
    """x for x > 0, alpha * x otherwise: negative inputs keep a small gradient."""

    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.monotone = self.alpha >= 0

    def forward_bl(self, x, training):
        self._positive = x > 0
        return np.where(self._positive, x, x * self.alpha)

    def backward_bl(self, dout):
        return np.where(self._positive, dout, dout * self.alpha)

    def _settings(self):
        return f"alpha={self.alpha}"


class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; smooth at 0 when alpha is 1."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.monotone = self.alpha >= 0

    def forward_bl(self, x, training):
        self._positive = x > 0
        # exp only of the non-positive part, so large positive inputs cannot overflow.
        out = np.where(self._positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        self._out = out
        return out

    def backward_bl(self, dout):
        # d/dx alpha*(exp(x)-1) = alpha*exp(x) = out + alpha
        return np.where(self._positive, dout, dout * (self._out + self.alpha))

    def _settings(self):
        return f"alpha={self.alpha}"


class Tanh(_Elementwise):
    kind = "tanh"

    def forward_bl(self, x, training):
        self._out = np.tanh(x)
        return self._out

    def backward_bl(self, dout):
        return dout * (1 - self._out * self._out)


class Sigmoid(_Elementwise):
    kind = "sigmoid"

    def forward_bl(self, x, training):
        # 1 / (1 + exp(-x)) written through logaddexp so that large |x| neither overflows nor warns.
        self._out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
        return self._out

    def backward_bl(self, dout):
        return dout * self._out * (1 - self._out)
