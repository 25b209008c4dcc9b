"""Leaky ReLU: x, or alpha * x below 0."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.activations import Activation
from cnnlab.engine.layers.settings import Number

ALPHA_HELP = "The slope (leaky ReLU) or the floor (ELU) the activation takes for negative inputs."


class LeakyReLU(Activation):
    """x for x > 0, alpha * x otherwise: negative inputs keep a small gradient."""

    kind = "leaky_relu"
    label = "Leaky ReLU"
    description = "x, or alpha*x below 0"
    name_prefix, display_prefix = "lrelu", "LeakyReLU"
    settings = (Number("alpha", 0.01, help=ALPHA_HELP),)

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(s["alpha"])

    @classmethod
    def describe(cls, s):
        return "leaky ReLU"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.monotone = self.alpha >= 0

    def config(self):
        return {"alpha": self.alpha}

    def forward_bl(self, x, training):
        self._positive = x > 0
        return np.where(self._positive, x, x * self.alpha)

    def backward_bl(self, dout):
        return np.where(self._positive, dout, dout * self.alpha)

    def _settings(self):
        return f"alpha={self.alpha}"
