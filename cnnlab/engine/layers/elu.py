"""ELU: x, or alpha * (exp(x) - 1) below 0."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.activations import SlopedActivation
from cnnlab.engine.layers.settings import Number


class ELU(SlopedActivation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; smooth at 0 when alpha is 1."""

    kind = "elu"
    label = "ELU"
    description = "x, or alpha*(exp(x)-1) below 0"
    name_prefix, display_prefix = "elu", "ELU"
    settings = (Number("alpha", 1.0, help=SlopedActivation.ALPHA_HELP, largest=100.0),)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)

    def forward_bl(self, x, training):
        self._positive = x > 0
        # exp only of the non-positive part, so large positive inputs cannot overflow.
        out = np.where(self._positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        self._out = out
        return out

    def backward_bl(self, dout):
        # d/dx alpha*(exp(x)-1) = alpha*exp(x) = out + alpha
        return np.where(self._positive, dout, dout * (self._out + self.alpha))
