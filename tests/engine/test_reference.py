"""The vectorised kernels against the plain loop implementations kept in ``engine.reference``."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import AvgPool2D, Conv2D, MaxPool2D, NetSpec, build, load_preset
from cnnlab.engine import reference as ref
from cnnlab.engine.layers.conv import resolve_padding


@pytest.mark.parametrize(
    ("cin", "filters", "kernel", "stride", "padding", "hw"),
    [
        (1, 8, 3, 1, "valid", (28, 28)),
        (3, 4, 3, 1, "same", (9, 7)),
        (2, 5, 5, 2, "same", (11, 11)),
        (4, 3, 3, 2, 1, (8, 9)),
        (2, 2, (1, 3), 1, "valid", (5, 6)),
        (3, 6, 4, 3, 0, (13, 10)),
    ],
)
def test_conv2d_matches_the_loop_reference(rng, cin, filters, kernel, stride, padding, hw):
    layer = Conv2D(cin, filters, kernel, stride, padding, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((3, cin, *hw))
    pads = resolve_padding(padding, hw, layer.kernel, stride)
    expected = ref.conv2d_forward(x, layer.params["W"], layer.params["b"], stride, pads)
    out = layer.forward(x)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)

    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dw_ref, db_ref = ref.conv2d_backward(x, layer.params["W"], stride, pads, dout)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dw_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    ("kernel", "stride", "hw"),
    [(2, 2, (26, 26)), (2, 2, (11, 11)), (3, 2, (9, 8)), (3, 1, (6, 7)), ((2, 3), 3, (8, 9))],
)
def test_pooling_matches_the_loop_reference(rng, mode, kernel, stride, hw):
    layer = (MaxPool2D if mode == "max" else AvgPool2D)(kernel, stride)
    x = rng.standard_normal((2, 3, *hw))
    out = layer.forward(x)
    np.testing.assert_allclose(out, ref.pool_forward(x, layer.kernel, stride, mode), rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        layer.backward(dout), ref.pool_backward(x, layer.kernel, stride, mode, dout), rtol=1e-12, atol=1e-15
    )


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_only():
    # An image of saturated pixels: every 2x2 window is all ones, a four-way tie.
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 3, 3] = 2.0
    layer = MaxPool2D(2)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx, ref.pool_backward(x, (2, 2), 2, "max", np.ones((1, 1, 2, 2))))
    assert dx.sum() == 4.0  # each window's gradient arrives exactly once


FUSABLE = [
    NetSpec(
        (2, 12, 11),
        (
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2},
            {"type": "leaky_relu", "alpha": 0.1},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 3},
        ),
    ),
    NetSpec(
        (1, 13, 13),
        (
            {"type": "conv2d", "filters": 4, "kernel": 4, "padding": 1},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel": 3},
            {"type": "conv2d", "filters": 5, "kernel": 2},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ),
    ),
]


@pytest.mark.parametrize("batch", [1, 2, 3, 40])
@pytest.mark.parametrize(
    "spec", [load_preset("seed"), load_preset("mnist99"), load_preset("lenet5"), *FUSABLE]
)
def test_fused_conv_pool_path_matches_the_layer_by_layer_path(rng, spec, batch):
    fused = build(spec, np.random.default_rng(5), dtype=np.float64)
    plain = build(spec, np.random.default_rng(5), dtype=np.float64)
    plain.stages = list(plain.layers)
    assert len(fused.stages) < len(plain.stages), "expected at least one fused conv-pool stage"
    x = rng.random((batch, *spec.input_shape))
    logits_f = fused.forward(x, training=False)
    np.testing.assert_allclose(logits_f, plain.forward(x, training=False), rtol=1e-10, atol=1e-12)
    dlogits = rng.standard_normal(logits_f.shape)
    dx_f = fused.backward(dlogits, input_grad=True)
    plain.forward(x, training=False)
    dx_p = plain.backward(dlogits, input_grad=True)
    np.testing.assert_allclose(dx_f, dx_p, rtol=1e-9, atol=1e-12)
    for (name, _, g_f), (_, _, g_p) in zip(fused.named_parameters(), plain.named_parameters(), strict=True):
        np.testing.assert_allclose(g_f, g_p, rtol=1e-9, atol=1e-12, err_msg=name)
