"""Leaky ReLU: x, or alpha * x below 0."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.activations import SlopedActivation
from cnnlab.engine.layers.settings import Number


class LeakyReLU(SlopedActivation):
    """x for x > 0, alpha * x otherwise: negative inputs keep a small gradient."""

    kind = "leaky_relu"
    label = "Leaky ReLU"
    description = "x, or alpha*x below 0"
    name_prefix, display_prefix = "lrelu", "LeakyReLU"
    settings = (Number("alpha", 0.01, help=SlopedActivation.ALPHA_HELP, largest=100.0),)

    @classmethod
    def describe(cls, s):
        return "leaky ReLU"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__(alpha)

    def forward_bl(self, x, training):
        self._positive = x > 0
        return np.where(self._positive, x, x * self.alpha)

    def backward_bl(self, dout):
        return np.where(self._positive, dout, dout * self.alpha)
