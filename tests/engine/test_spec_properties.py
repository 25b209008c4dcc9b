"""Property test: any spec is either refused with a SpecError message, or it builds and trains.

The architecture editor lets a learner type anything, so ``validate`` is the only gate between a
spec and ``build``. These tests feed random specs, mostly plausible ones (convolution and pooling
blocks, a flatten, dense layers) mixed with broken settings, and check that every outcome is one of
the two promised: a SpecError naming a layer (or the whole network) and a reason, or a network whose
every layer produces exactly the shape ``validate`` predicted, whose logits have the predicted
width, and whose backward pass gives a gradient of the same shape as each parameter.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cnnlab.engine import INITIALISERS, LAYER_TYPES, NetSpec, SpecError, build, softmax_cross_entropy

# Small images keep each example to a few milliseconds while still reaching every shape rule
# (kernels that no longer fit, pooling down to nothing, odd sizes with stride and "same" padding).
SIDES = st.integers(1, 12)
KERNELS = st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=2, max_size=2))
PADDINGS = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3))
INITS = st.sampled_from(sorted(INITIALISERS))

# Values a hand-edited JSON file might hold where a setting belongs.
GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-1, 3), max_size=3),
)


def _maybe(strategy, key):
    """A layer setting that is usually left out (so its default applies) and sometimes given."""
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


def _merge(*dicts):
    out = {}
    for d in dicts:
        out.update(d)
    return out


conv_layers = st.builds(
    _merge,
    st.just({"type": "conv2d"}),
    st.integers(1, 6).map(lambda v: {"filters": v}),
    _maybe(KERNELS, "kernel"),
    _maybe(st.integers(1, 3), "stride"),
    _maybe(PADDINGS, "padding"),
    _maybe(INITS, "init"),
)
pool_layers = st.builds(
    _merge,
    st.sampled_from([{"type": "maxpool2d"}, {"type": "avgpool2d"}]),
    _maybe(KERNELS, "kernel"),
    _maybe(st.integers(1, 3), "stride"),
)
dense_layers = st.builds(
    _merge,
    st.just({"type": "dense"}),
    st.integers(1, 12).map(lambda v: {"units": v}),
    _maybe(INITS, "init"),
)
any_shape_layers = st.one_of(
    st.sampled_from([{"type": k} for k in ("relu", "tanh", "sigmoid")]),
    st.builds(
        _merge, st.sampled_from([{"type": "leaky_relu"}, {"type": "elu"}]), _maybe(st.floats(-1, 1), "alpha")
    ),
    st.builds(_merge, st.just({"type": "dropout"}), _maybe(st.floats(0, 0.95), "rate")),
    st.builds(_merge, st.just({"type": "batchnorm"}), _maybe(st.floats(0, 0.9), "momentum")),
)


@st.composite
def broken_layer(draw):
    """A layer with one thing wrong: an unknown type, an unknown or missing setting, a bad value."""
    kind = draw(st.sampled_from(sorted(LAYER_TYPES)))
    ltype = LAYER_TYPES[kind]
    layer = {"type": kind}
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return {"type": draw(st.sampled_from(["conv", "Dense", "softmax", ""]))}
    if choice == 1 or not ltype.settings:
        return {**layer, draw(st.sampled_from(["size", "units2", "Filters"])): 1}
    key = draw(st.sampled_from(sorted(setting.name for setting in ltype.settings)))
    return {**layer, key: draw(GARBAGE)}


@st.composite
def specs(draw):
    """Mostly plausible stacks (image layers, flatten, dense head), sometimes shuffled or broken."""
    channels = draw(st.integers(1, 3))
    shape = [channels, draw(SIDES), draw(SIDES)]
    body = draw(st.lists(st.one_of(conv_layers, pool_layers, any_shape_layers), max_size=5))
    head = draw(st.lists(st.one_of(dense_layers, any_shape_layers), max_size=3))
    layers = [*body, {"type": "flatten"}, *head, draw(dense_layers)]
    if draw(st.integers(0, 9)) == 0:
        layers = draw(st.permutations(layers))
    if draw(st.integers(0, 5)) == 0:
        layers.insert(draw(st.integers(0, len(layers))), draw(broken_layer()))
    if draw(st.integers(0, 9)) == 0:
        layers = layers[: draw(st.integers(0, len(layers)))]
    return {"name": "random", "input_shape": shape, "layers": layers}


def _check_runs(spec: NetSpec, infos, seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = build(spec, rng)
    batch = int(rng.integers(1, 4))
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)

    activations = net.activations(x)
    assert [name for name, _ in activations[1:]] == [info.name for info in infos]
    for (name, value), info in zip(activations[1:], infos, strict=True):
        assert value.shape == (batch, *info.output_shape), name
        assert np.all(np.isfinite(value)), name

    for layer, info in zip(net.layers, infos, strict=True):
        assert sum(p.size for p in layer.params.values()) == info.params, info.name
    assert net.num_params == sum(info.params for info in infos)

    logits = net.forward(x, training=True)
    classes = infos[-1].output_shape[0]
    assert logits.shape == (batch, classes)
    _, dlogits = softmax_cross_entropy(logits, rng.integers(0, classes, batch))
    dx = net.backward(dlogits, input_grad=True)
    assert dx.shape == x.shape
    for name, param, grad in net.named_parameters():
        assert grad.shape == param.shape, name
        assert np.all(np.isfinite(grad)), name


@pytest.mark.slow  # 500 specs built and run: about 4 s
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=specs(), seed=st.integers(0, 2**16))
def test_every_spec_builds_and_runs_or_is_refused_with_a_reason(data, seed):
    try:
        spec = NetSpec.from_dict(data)
        infos = spec.validate()
    except SpecError as exc:
        event("refused at a layer" if exc.index is not None else "refused as a whole")
        assert exc.reason.strip(), "a refusal must say why"
        if exc.index is not None:
            assert 0 <= exc.index < len(data["layers"])
            assert str(exc).startswith(f"Layer {exc.index + 1} (")
        return
    event("built")
    assert len(infos) == len(spec.layers)
    assert NetSpec.from_json(spec.to_json()) == spec
    _check_runs(spec, infos, seed)


@settings(max_examples=60, deadline=None)
@given(data=specs(), seed=st.integers(0, 2**16))
def test_build_refuses_exactly_what_validate_refuses(data, seed):
    try:
        spec = NetSpec.from_dict(data)
    except SpecError:
        return
    try:
        spec.validate()
        valid = True
    except SpecError:
        valid = False
    try:
        build(spec, np.random.default_rng(seed))
        built = True
    except SpecError:
        built = False
    assert valid == built
