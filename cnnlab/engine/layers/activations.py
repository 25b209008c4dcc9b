"""What every element-wise activation shares; each activation is its own module (relu.py, ...).

They work the same in either batch layout, so forward == forward_bl.
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.layers.base import Layer


class Activation(Layer):
    """An element-wise function: any shape in, the same shape out."""

    pointwise = True
    family = "activation"
    family_caption = "function"
    family_help = (
        "The non-linearity applied to every value; without one, stacked layers collapse into a single "
        "linear map."
    )
    # Non-decreasing functions commute with max pooling: act(max(x)) == max(act(x)). The network's
    # fused conv-pool path uses that to apply the activation to 1/4 of the values.
    monotone = True

    @classmethod
    def step_elements(cls, s, shape, out):
        return 3 * math.prod(out)  # output (kept for backward), a mask or scratch, the gradient

    # Element-wise maths does not care where the batch axis is: skip the layout round trip.
    def forward(self, x, training=False):
        return self.forward_bl(x, training)

    def backward(self, dout):
        return self.backward_bl(dout)

    def backward_bl(self, dout: np.ndarray) -> np.ndarray:
        """An activation always passes its gradient on (never None, unlike a layer with weights)."""
        raise NotImplementedError


class SlopedActivation(Activation):
    """An activation with one number, ``alpha``, for its negative side (leaky ReLU, ELU). It stays
    non-decreasing, and so may be fused with max pooling, only while alpha >= 0."""

    ALPHA_HELP = "The slope (leaky ReLU) or the floor (ELU) the activation takes for negative inputs."

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(s["alpha"])

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.monotone = self.alpha >= 0

    def config(self):
        return {"alpha": self.alpha}

    def _settings(self):
        return f"alpha={self.alpha}"
