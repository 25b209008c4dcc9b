"""Every layer's backward pass against finite differences, in float64 (relative error < 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import (
    ELU,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
    build,
    load_preset,
    softmax_cross_entropy,
)
from cnnlab.engine.gradcheck import check_layer, check_network, numerical_gradient, relative_error

TOL = 1e-5


def assert_close(errors: dict[str, float]) -> None:
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


CONV_CASES = [
    # (in_ch, filters, kernel, stride, padding, input HxW)
    (1, 3, 3, 1, "valid", (7, 7)),
    (2, 3, 3, 1, "same", (6, 6)),
    (2, 2, 3, 2, "valid", (7, 9)),
    (3, 2, 3, 2, "same", (7, 7)),
    (2, 2, 5, 1, 2, (5, 6)),
    (1, 2, (2, 3), 1, 1, (5, 5)),
    (2, 4, 1, 1, "valid", (4, 3)),
    (1, 2, 4, 3, "same", (9, 8)),
    (2, 2, 2, 2, 0, (5, 5)),
]


@pytest.mark.parametrize(("cin", "filters", "kernel", "stride", "padding", "hw"), CONV_CASES)
def test_conv2d_gradients(rng, cin, filters, kernel, stride, padding, hw):
    layer = Conv2D(cin, filters, kernel, stride, padding, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((2, cin, *hw))
    assert_close(check_layer(layer, x, rng))


POOL_CASES = [
    (2, None, (6, 6)),  # the usual 2x2
    (2, None, (7, 5)),  # odd sizes: the last row/column is floored away
    (3, 2, (7, 7)),  # overlapping windows
    (3, 1, (5, 6)),  # heavily overlapping
    ((2, 3), 2, (6, 7)),  # rectangular window
    (3, 3, (8, 8)),  # non-dividing 3x3
]


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize(("kernel", "stride", "hw"), POOL_CASES)
def test_pool_gradients(rng, cls, kernel, stride, hw):
    layer = cls(kernel, stride)
    x = rng.standard_normal((2, 3, *hw))
    assert_close(check_layer(layer, x, rng))


@pytest.mark.parametrize("shape", [(4, 7), (3, 2, 5, 5)])
def test_dense_and_flatten_gradients(rng, shape):
    x = rng.standard_normal(shape)
    flat = int(np.prod(shape[1:]))
    if len(shape) > 2:
        assert_close(check_layer(Flatten(), x, rng))
    dense = Dense(flat, 5, rng=rng)
    dense.params["b"][...] = rng.standard_normal(5)
    assert_close(check_layer(dense, x.reshape(shape[0], -1), rng))


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), ELU(1.0), ELU(0.5), Tanh(), Sigmoid()], ids=repr)
def test_activation_gradients(rng, layer):
    x = rng.standard_normal((3, 2, 4, 4)) * 2
    assert_close(check_layer(layer, x, rng))


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (8, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(rng, shape, training):
    layer = BatchNorm(shape[1])
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, shape[1])
    layer.params["beta"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_mean"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, shape[1])
    x = rng.standard_normal(shape) * 3 + 1
    # Running statistics change on each training forward, but the output does not depend on them.
    assert_close(check_layer(layer, x, rng, training=training))


def test_dropout_gradient_with_a_fixed_mask(rng):
    layer = Dropout(0.4, rng=np.random.default_rng(7))
    x = rng.standard_normal((4, 3, 5, 5))
    layer.astype(np.float64)
    out = layer.forward(x, training=True)
    mask = layer._mask.copy()
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    # With the mask fixed the layer is linear: y = x * mask (batch-last mask, so compare via forward).
    np.testing.assert_allclose(out, x * (out != 0) / 0.6, rtol=1e-12)
    np.testing.assert_allclose(dx, dout * (out != 0) / 0.6, rtol=1e-12)
    assert 0.3 < (out == 0).mean() < 0.5  # about 40% of 300 units dropped
    assert mask.shape == (3, 5, 5, 4)  # batch-last inside the layer


def test_dropout_is_identity_in_evaluation(rng):
    layer = Dropout(0.5, rng=rng)
    x = rng.standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def test_softmax_cross_entropy_gradient(rng):
    logits = rng.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])

    def loss() -> float:
        return softmax_cross_entropy(logits, labels)[0]

    _, dlogits = softmax_cross_entropy(logits, labels)
    assert relative_error(dlogits, numerical_gradient(loss, logits)) < TOL


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-5000.0, 5000.0, 0.0]], dtype=np.float32)
    loss, dlogits = softmax_cross_entropy(logits, np.array([1, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert loss == pytest.approx(1000.0, rel=1e-3)  # first row: the right class is 2000 below the top


@pytest.mark.parametrize("preset", ["seed", "lenet5"])
def test_whole_network_gradients(rng, preset):
    net = build(load_preset(preset), rng)
    x = rng.random((2, 1, 28, 28))
    errors = check_network(net, x, np.array([3, 7]), rng, per_array=150)
    assert_close(errors)


def test_network_with_batchnorm_and_every_activation(rng):
    from cnnlab.engine import NetSpec

    spec = NetSpec(
        (2, 9, 8),
        (
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same", "stride": 2},
            {"type": "batchnorm"},
            {"type": "leaky_relu", "alpha": 0.2},
            {"type": "avgpool2d", "kernel": 2, "stride": 1},
            {"type": "elu"},
            {"type": "flatten"},
            {"type": "dense", "units": 6},
            {"type": "tanh"},
            {"type": "dense", "units": 5},
            {"type": "sigmoid"},
            {"type": "dense", "units": 3},
        ),
    )
    net = build(spec, rng)
    net.forward(rng.random((4, 2, 9, 8)), training=True)  # move BatchNorm's running stats off 0/1
    errors = check_network(net, rng.random((3, 2, 9, 8)), np.array([0, 2, 1]))
    assert_close(errors)
