"""Each layer type's declaration agrees with the layer it builds, and returned arrays never alias buffers."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import (
    LAYER_TYPES,
    PRESET_NAMES,
    Conv2D,
    Dense,
    NetSpec,
    build,
    load_preset,
    network_from_state,
)
from cnnlab.engine.layers import family_of
from cnnlab.engine.spec import state_shapes
from tests.engine.test_explain import CUSTOM

SPECS = [*(load_preset(name) for name in PRESET_NAMES), CUSTOM]


@pytest.mark.parametrize("spec", SPECS, ids=[*PRESET_NAMES, "custom"])
def test_declared_shapes_are_what_the_built_layers_hold_and_compute(spec):
    net = build(spec, np.random.default_rng(0))
    infos = spec.validate()
    assert state_shapes(spec) == {name: value.shape for name, value in net.state_dict().items()}
    x = np.random.default_rng(1).random((2, *spec.input_shape), dtype=np.float32)
    outputs = net.activations(x)[1:]
    for layer, info, (name, out) in zip(net.layers, infos, outputs, strict=True):
        assert layer.name == name == info.name
        assert layer.output_shape(info.input_shape) == info.output_shape == out.shape[1:]
        assert sum(p.size for p in layer.params.values()) == info.params
        # The layer's own settings are the spec's (Keras' get_config): it rebuilds the same layer.
        again = type(layer).create(
            {**info.settings, **layer.config()}, info.input_shape, np.random.default_rng(0), np.float32
        )
        assert repr(again) == repr(layer)


def test_every_type_declares_what_the_editor_and_the_drawing_need():
    for kind, cls in LAYER_TYPES.items():
        assert cls.kind == kind and cls.label and cls.description and cls.name_prefix, kind
        assert cls.needs in ("image", "flat", "any"), kind
        for setting in cls.settings:
            assert setting.help and setting.widget in (
                "whole",
                "size",
                "padding",
                "choice",
                "fraction",
                "number",
            )
            if setting.required:
                assert setting.starter is not None, (kind, setting.name)
                setting.check(setting.starter)
            else:
                assert setting.check(setting.default) == setting.default or setting.default is None
        assert cls.describe(cls.defaults() | {s.name: s.starter for s in cls.settings if s.required})
    assert family_of("maxpool2d") == ("maxpool2d", "avgpool2d")
    assert set(family_of("relu")) == {"relu", "leaky_relu", "elu", "tanh", "sigmoid"}
    assert family_of("conv2d") == () and family_of("nothing") == ()


def test_network_from_state_reuses_a_network_of_the_same_spec_only():
    spec = load_preset("seed")
    trained = build(spec, np.random.default_rng(5))
    state = trained.state_dict()
    net = network_from_state(spec, state)
    assert all(np.array_equal(net.state_dict()[k], v) for k, v in state.items())
    assert network_from_state(spec, build(spec, np.random.default_rng(6)).state_dict(), reuse=net) is net
    other = network_from_state(
        load_preset("lenet5"), build(load_preset("lenet5"), np.random.default_rng(0)).state_dict(), reuse=net
    )
    assert other is not net and other.spec == load_preset("lenet5")
    with pytest.raises(ValueError, match="missing"):
        network_from_state(spec, {k: v for k, v in state.items() if k != "conv1.W"})


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize(
    "spec", [load_preset("seed"), load_preset("mnist99"), CUSTOM], ids=["seed", "mnist99", "custom"]
)
def test_input_gradients_are_fresh_arrays_that_later_calls_leave_alone(spec, batch):
    net = build(spec, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x1, x2 = (rng.random((batch, *spec.input_shape), dtype=np.float32) for _ in range(2))
    first = net.input_gradient(x1, 3)
    kept = first.copy()
    second = net.input_gradient(x2, 7)
    np.testing.assert_array_equal(first, kept)  # the second call did not write into the first answer
    assert not np.shares_memory(first, second)
    logits = net.forward(x1, training=True)
    dx = net.backward(np.ones_like(logits), input_grad=True)
    kept = dx.copy()
    net.forward(x2, training=True)
    net.backward(np.full_like(logits, 2.0), input_grad=True)
    np.testing.assert_array_equal(dx, kept)
    owners = [*net.layers, *net.stages]  # fused conv-pool steps keep their own scratch
    scratch = [a for owner in owners if hasattr(owner, "_scratch") for a in owner._scratch._arrays.values()]
    assert scratch  # the convolutions do keep buffers: the answers above are not among them
    assert not any(np.shares_memory(answer, a) for answer in (first, dx) for a in scratch)


def test_a_layers_own_backward_never_returns_its_scratch():
    rng = np.random.default_rng(0)
    conv = Conv2D(2, 3, 3, rng=rng)
    conv.need_input_grad = True
    x = rng.random((1, 2, 6, 6), dtype=np.float32)
    conv.forward(x)
    dx = conv.backward(np.ones((1, 3, 4, 4), np.float32))
    kept = dx.copy()
    conv.forward(x)
    conv.backward(np.full((1, 3, 4, 4), 3.0, np.float32))
    np.testing.assert_array_equal(dx, kept)
    dense = Dense(4, 2, rng=rng)
    out = dense.forward(np.ones((1, 4), np.float32))
    assert not np.shares_memory(out, dense.params["W"]) and not np.shares_memory(out, dense.params["b"])


def test_specs_from_other_versions_of_a_setting_still_build_alike():
    # A pooling stride left out and one equal to the kernel give the same layer.
    a = NetSpec((1, 8, 8), ({"type": "maxpool2d"}, {"type": "flatten"}, {"type": "dense", "units": 2}))
    b = NetSpec(
        (1, 8, 8), ({"type": "maxpool2d", "stride": 2}, {"type": "flatten"}, {"type": "dense", "units": 2})
    )
    assert repr(build(a, np.random.default_rng(0))) == repr(build(b, np.random.default_rng(0)))
