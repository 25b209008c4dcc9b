"""Adding a layer type is one class in one module: registered, it works everywhere with no other change.

``GlobalAvgPool2D`` below is such a module's content (here in a test, registered only for the test):
its declaration alone makes the spec validate it, build it, count its parameters, check checkpoints
against it, and explain its units. tests/app/test_editor.py shows the editor and the drawing using it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnlab.engine import LAYER_TYPES, NetSpec, SpecError, build, explain_unit
from cnnlab.engine.gradcheck import check_layer
from cnnlab.engine.layers.base import Layer, UnitSum
from cnnlab.engine.layers.settings import Fraction
from cnnlab.engine.spec import state_shapes


class GlobalAvgPool2D(Layer):
    """Each map's mean, optionally scaled: (N, C, H, W) -> (N, C)."""

    kind = "global_avgpool"
    label = "Global average pooling"
    description = "Averages each whole feature map down to one number."
    name_prefix, display_prefix = "gap", "GAP"
    needs = "image"
    family = "global pooling"
    settings = (Fraction("shrink", 0.0, help="Scales the mean by (1 - shrink)."),)

    @classmethod
    def infer(cls, s, shape):
        return (shape[0],)

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(s["shrink"])

    @classmethod
    def describe(cls, s):
        return "global average"

    def __init__(self, shrink: float = 0.0) -> None:
        super().__init__()
        self.scale = 1.0 - shrink

    def config(self):
        return {"shrink": 1.0 - self.scale}

    def explain_unit(self, x, unit):
        (c,) = unit
        return UnitSum(
            float(x[c].mean() * self.scale), rule="the mean of the whole map", patch=x[c].astype(float)
        )

    def forward_bl(self, x, training):
        self._shape = x.shape
        return x.mean(axis=(1, 2)) * x.dtype.type(self.scale)

    def backward_bl(self, dout):
        c, h, w, n = self._shape
        share = dout * (self.scale / (h * w))
        return np.broadcast_to(share[:, None, None, :], self._shape).copy()


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(LAYER_TYPES, GlobalAvgPool2D.kind, GlobalAvgPool2D)
    return GlobalAvgPool2D


SPEC = NetSpec(
    (1, 12, 12),
    (
        {"type": "conv2d", "filters": 6, "kernel": 3},
        {"type": "relu"},
        {"type": "global_avgpool", "shrink": 0.25},
        {"type": "dense", "units": 10},
    ),
)


def test_the_spec_validates_builds_and_counts_it(registered):
    infos = SPEC.validate()
    assert [(i.name, i.output_shape, i.params) for i in infos] == [
        ("conv1", (6, 10, 10), 60),
        ("relu1", (6, 10, 10), 0),
        ("gap1", (6,), 0),
        ("dense1", (10,), 70),
    ]
    net = build(SPEC, np.random.default_rng(0))
    x = np.random.default_rng(1).random((3, 1, 12, 12), dtype=np.float32)
    assert net.forward(x).shape == (3, 10)
    assert state_shapes(SPEC) == {k: v.shape for k, v in net.state_dict().items()}
    # Its settings are checked by its own declaration ...
    with pytest.raises(SpecError, match="'shrink' must be at least 0 and below 1"):
        SPEC.replace_layers(
            [*SPEC.layers[:2], {"type": "global_avgpool", "shrink": 2}, SPEC.layers[3]]
        ).validate()
    # ... and its input by what it needs.
    with pytest.raises(SpecError, match="global average pooling needs an image-shaped input"):
        NetSpec(
            (1, 4, 4), ({"type": "flatten"}, {"type": "global_avgpool"}, {"type": "dense", "units": 2})
        ).validate()


def test_its_gradient_checks_out_and_its_units_are_explained(registered):
    rng = np.random.default_rng(2)
    errors = check_layer(GlobalAvgPool2D(0.25), rng.standard_normal((2, 3, 4, 5)), rng)
    assert max(errors.values()) < 1e-6
    net = build(SPEC, np.random.default_rng(0))
    acts = [a[0] for _, a in net.activations(rng.random((1, 1, 12, 12), dtype=np.float32))]
    ex = explain_unit(net, acts, 2, (4,))
    assert ex.kind == "global_avgpool" and ex.rule == "the mean of the whole map"
    assert ex.total == pytest.approx(float(acts[3][4]), rel=1e-5)
    assert ex.receptive_field is None  # it reads all of its input
    assert math.isclose(float(acts[2][4].mean()) * 0.75, ex.total, rel_tol=1e-5)
