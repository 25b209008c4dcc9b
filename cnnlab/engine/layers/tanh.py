"""Tanh: squashes to (-1, 1)."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.activations import Activation


class Tanh(Activation):
    kind = "tanh"
    label = "Tanh"
    description = "squashes to (-1, 1)"
    name_prefix, display_prefix = "tanh", "Tanh"

    @classmethod
    def describe(cls, s):
        return "tanh"

    def forward_bl(self, x, training):
        self._out = np.tanh(x)
        return self._out

    def backward_bl(self, dout):
        return dout * (1 - self._out * self._out)
