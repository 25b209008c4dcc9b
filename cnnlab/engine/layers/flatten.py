"""Flatten: feature maps laid out as one vector, before the fully connected layers."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.layers.base import Layer, UnitSum


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), features in (c, h, w) order. Batch-last it is a free reshape."""

    kind = "flatten"
    label = "Flatten"
    description = "Lays the feature maps out as one long vector."
    name_prefix, display_prefix = "flatten", "Flatten"
    numbered = False  # there is one, so "Flatten", not "Flatten1"
    family = "reshape"

    @classmethod
    def infer(cls, s, shape):
        return (math.prod(shape),)

    @classmethod
    def step_elements(cls, s, shape, out):
        return 0  # a view of its input, both ways

    @classmethod
    def describe(cls, s):
        return "reshape"

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def explain_unit(self, x, unit):
        """unit (u,): a copy of one input value; ``source`` is where it sits in the input."""
        (u,) = unit
        source = tuple(int(i) for i in np.unravel_index(u, x.shape))
        return UnitSum(float(x.reshape(-1)[u]), rule="copied from", source=source)

    def forward_bl(self, x, training):
        self._shape = x.shape
        return x.reshape(-1, x.shape[-1])

    def backward_bl(self, dout):
        return dout.reshape(self._shape)
