"""Winograd's F(2x2, 3x3) in the fused conv-pool stage (engine/layers/winograd.py): the same numbers as
the im2col products to float32 rounding, exact gradients in float64, the direct convolution's exact
zeros on empty windows, and taken exactly where it pays."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import NetSpec, build, load_preset
from cnnlab.engine.gradcheck import check_network
from cnnlab.engine.layers import Conv2D
from cnnlab.engine.layers.conv import ConvPlan, augmented_weights
from cnnlab.engine.layers.scratch import Scratch
from cnnlab.engine.layers.winograd import WinogradPlan, prefer_winograd
from tests.engine.test_fast_paths import close_in_float32, on_grid


def both_plans(conv, x):
    plans = ConvPlan(conv, x.shape, 2), WinogradPlan(conv, x.shape)
    w = augmented_weights(conv)
    out = []
    for plan in plans:
        scratch = Scratch()
        cols, z = plan.convolve(x, w, scratch)
        out.append((plan, scratch, cols, by_offset(plan, z)))
    return w, out


def by_offset(plan, z) -> np.ndarray:
    """(window offset, F, cells), whatever the plan's layout."""
    return np.stack([view.copy() for view in plan.offsets(z)])


def laid_out(plan, per_offset: np.ndarray) -> np.ndarray:
    """The plan's own layout of a (window offset, F, cells) array."""
    if getattr(plan, "offset_major", False):
        return np.ascontiguousarray(per_offset).reshape(4, -1)
    return np.ascontiguousarray(per_offset.transpose(1, 0, 2)).reshape(len(per_offset[0]), -1)


@pytest.mark.parametrize(
    ("shape", "padding"),
    [
        ((16, 14, 14, 8), "same"),
        ((16, 15, 13, 9), "valid"),
        ((20, 9, 12, 8), 1),
        ((16, 8, 8, 64), "same"),
        ((16, 3, 3, 9), "same"),  # one block
        ((16, 14, 14, 200), "same"),  # a row of blocks is more than a piece: pieces of part of a row
    ],
    ids=["same-even", "valid-odd", "pad1-odd", "batch64", "one-block", "part-rows"],
)
def test_forward_and_both_gradients_match_the_im2col_products(rng, shape, padding):
    conv = Conv2D(shape[0], 24, 3, 1, padding, rng=rng)
    pieces = WinogradPlan(conv, shape).pieces
    assert pieces and all(r1 > r0 and q1 > q0 for r0, r1, q0, q1 in pieces)
    if shape[3] == 200:
        assert any(q1 - q0 < 7 for _, _, q0, q1 in pieces)
    conv.params["b"][...] = rng.standard_normal(24).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    w, ((plain, s1, cols, z1), (wino, s2, v, z2)) = both_plans(conv, x)
    assert z1.shape == z2.shape == (4, 24, plain.cells)
    close_in_float32(z2, z1, "output")
    dz = rng.standard_normal(z1.shape).astype(np.float32)
    dz1, dz2 = laid_out(plain, dz), laid_out(wino, dz)
    dw1, dx1 = plain.gradients(dz1, cols, w, s1, True)
    dw2, dx2 = wino.gradients(dz2, v, w, s2, True)
    close_in_float32(dw2, dw1, "d[W | b]")
    assert dx2.shape == shape
    close_in_float32(dx2, dx1, "dx")
    dw_only, none = wino.gradients(dz2, v, w, s2, False)
    assert none is None
    np.testing.assert_array_equal(dw_only, dw2)


def test_empty_windows_give_exactly_the_bias_as_the_direct_convolution(rng):
    conv = Conv2D(16, 16, 3, 1, "same", rng=rng)
    conv.params["b"][...] = np.linspace(-1, 1, 16, dtype=np.float32)
    x = np.abs(rng.standard_normal((16, 12, 12, 8)).astype(np.float32)) + 0.5
    x[:, :6] = 0.0  # the top half blank, as MNIST's border after a ReLU
    x[:, :, :, 1] = 0.0  # one image blank
    _, ((_, _, _, z1), (_, _, _, z2)) = both_plans(conv, x)
    empty = z1 == conv.params["b"][None, :, None]  # the direct convolution: exactly the bias
    assert empty.mean() > 0.3
    np.testing.assert_array_equal(z2[empty], z1[empty])
    close_in_float32(z2, z1)


def test_float64_gradients_are_exact_through_a_winograd_stage(rng):
    spec = NetSpec(
        (16, 8, 8),
        (
            {"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ),
    )
    net = build(spec, rng)
    net.layers[0].params["b"][...] = 0.1
    x = rng.random((8, 16, 8, 8))  # no blank rows: their ties in the pool are kinks, not gradients
    errors = check_network(net, x, np.arange(8) % 4, rng, per_array=120)
    assert isinstance(net.stages[0]._plan((16, 8, 8, 8)), WinogradPlan)
    assert max(errors.values()) < 1e-6, errors


def test_the_path_is_taken_where_it_pays():
    mnist99 = build(load_preset("mnist99"), np.random.default_rng(0))
    seed = build(load_preset("seed"), np.random.default_rng(0))
    assert isinstance(mnist99.stages[1]._plan((32, 14, 14, 64)), WinogradPlan)
    assert not isinstance(mnist99.stages[0]._plan((1, 28, 28, 64)), WinogradPlan)  # one channel
    assert not isinstance(seed.stages[1]._plan((8, 13, 13, 64)), WinogradPlan)  # too thin
    assert not isinstance(mnist99.stages[1]._plan((32, 14, 14, 1)), WinogradPlan)  # one image: wide grid
    assert not isinstance(mnist99.stages[1]._plan((32, 14, 14, 7)), WinogradPlan)  # pieces too small
    five = Conv2D(32, 32, 5, 1, "same")
    strided = Conv2D(32, 32, 3, 2, "same")
    assert not prefer_winograd(five, (32, 14, 14, 8), 2, False)
    assert not prefer_winograd(strided, (32, 14, 14, 8), 2, False)
    assert not prefer_winograd(Conv2D(32, 32, 3), (32, 14, 14, 8), 3, False)  # a 3x3 pool


def test_a_training_run_through_winograd_repeats_to_the_bit():
    def run():
        rng = np.random.default_rng(4)
        net = build(load_preset("mnist99"), rng)
        x = rng.random((16, 1, 28, 28), dtype=np.float32)
        x[:, :, :5] = 0
        net.compute_gradients(x, rng.integers(0, 10, 16))
        return {name: g.copy() for name, _, g in net.named_parameters()}

    first, second = run(), run()
    for name, grad in first.items():
        np.testing.assert_array_equal(grad, second[name], err_msg=name)


def random_winograd_spec(rng: np.random.Generator) -> NetSpec:
    """A small network whose conv-pool stages have the channels for Winograd: grey or colour images of
    5-16 pixels, every padding, with or without an activation, one or two blocks."""
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(5, 17)), int(rng.integers(5, 17))
    padding = ["same", "valid", 1][int(rng.integers(3))]
    layers: list[dict] = [
        {"type": "conv2d", "filters": int(rng.integers(16, 25)), "kernel": 3, "padding": padding}
    ]
    activation = ["relu", "leaky_relu", None][int(rng.integers(3))]
    if activation:
        layers.append({"type": activation})
    layers.append({"type": "maxpool2d", "kernel": 2})
    if rng.random() < 0.6:
        layers += [
            {"type": "conv2d", "filters": int(rng.integers(16, 33)), "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel": 2},
        ]
    return NetSpec((c, h, w), (*layers, {"type": "flatten"}, {"type": "dense", "units": 5}))


def test_random_networks_through_winograd_match_the_layers():
    """60 drawn architectures and batches (8-20 images, a third of each blank), on dyadic grids as in
    test_fast_paths: logits, the input gradient and every parameter's gradient match the layer-by-layer
    path, and Winograd is taken in a third of them or more."""
    rng = np.random.default_rng(17)
    taken = 0
    for case in range(60):
        spec = random_winograd_spec(rng)
        try:
            spec.validate()
        except ValueError:
            continue  # a pool that does not fit: the spec is refused, as it should be
        n = int(rng.integers(8, 21))
        fused = build(spec, np.random.default_rng(case))
        on_grid(fused)
        plain = build(spec, np.random.default_rng(case))
        plain.load_state_dict(fused.state_dict())
        plain.stages = list(plain.layers)
        c, h, w = spec.input_shape
        x = np.round(rng.random((n, c, h, w), dtype=np.float32) * 8) / 8
        x[: n // 3, :, : h // 3] = 0.0
        out_f, out_p = fused.forward(x, False), plain.forward(x, False)
        np.testing.assert_allclose(out_f, out_p, rtol=1e-5, atol=1e-6 * float(np.abs(out_p).max()))
        dlogits = rng.standard_normal(out_f.shape).astype(np.float32)
        close_in_float32(fused.backward(dlogits, input_grad=True), plain.backward(dlogits, input_grad=True))
        for (name, _, g_f), (_, _, g_p) in zip(
            fused.named_parameters(), plain.named_parameters(), strict=True
        ):
            close_in_float32(g_f, g_p, f"{name} in case {case}")
        taken += any(
            isinstance(plan, WinogradPlan)
            for stage in fused.stages
            for plan in getattr(stage, "_plans", {}).values()
        )
    assert taken >= 20
