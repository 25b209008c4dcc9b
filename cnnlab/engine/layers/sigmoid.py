"""Sigmoid: squashes to (0, 1)."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.activations import Activation


class Sigmoid(Activation):
    kind = "sigmoid"
    label = "Sigmoid"
    description = "squashes to (0, 1)"
    name_prefix, display_prefix = "sigmoid", "Sigmoid"

    @classmethod
    def describe(cls, s):
        return "sigmoid"

    def forward_bl(self, x, training):
        # 1 / (1 + exp(-x)) written through logaddexp so that large |x| neither overflows nor warns.
        self._out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
        return self._out

    def backward_bl(self, dout):
        return dout * self._out * (1 - self._out)
