"""Dropout: silences a random share of units while training."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.base import Layer
from cnnlab.engine.layers.settings import Fraction


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by
    1 / (1 - rate), so evaluation needs no rescaling and is the identity. Any shape."""

    kind = "dropout"
    label = "Dropout"
    description = "While training, silences a random share of units so the network cannot rely on any one."
    name_prefix, display_prefix = "dropout", "Dropout"
    family = "dropout"
    # Draws its mask per call: a batch cut into micro-batches would draw other masks.
    splittable = False
    pointwise = True
    settings = (
        Fraction(
            "rate",
            0.5,
            help="The share of units silenced at random while training (0.5 = half); none while evaluating.",
        ),
    )

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(s["rate"], rng)

    @classmethod
    def describe(cls, s):
        return f"dropout {s['rate']:g}"

    def __init__(self, rate: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def config(self):
        return {"rate": self.rate}

    def forward_bl(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward_bl(self, dout):
        return dout if self._mask is None else dout * self._mask

    def _settings(self):
        return f"rate={self.rate}"
