"""The engine's fast paths against its plain ones, in float32 as the lab trains: micro-batched training
steps, the fused conv-pool stages (pool order, and the wide grid at one image), and pieces of skinny
products. Each must give what the plain path gives (to float32 rounding where a sum is reordered, to the
bit where nothing is), and the same run twice must give the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import SGD, NetSpec, build, load_preset, softmax_cross_entropy
from cnnlab.engine.layers.conv import ConvPlan, augmented_weights, prefer_wide
from cnnlab.engine.layers.scratch import Scratch

SPLIT = NetSpec(
    (2, 15, 13),
    (
        {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same"},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 4, "kernel": 2},
        {"type": "leaky_relu", "alpha": 0.2},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 5},
    ),
)


def one_pass(net, x, y):
    """The training step without micro-batches: one forward and one backward over the whole batch."""
    logits = net.forward(x, training=True)
    loss, dlogits = softmax_cross_entropy(logits, y)
    net.backward(dlogits)
    return loss, logits, {name: grad.copy() for name, _, grad in net.named_parameters()}


@pytest.mark.parametrize(
    "spec", [load_preset("seed"), load_preset("lenet5"), SPLIT], ids=["seed", "lenet5", "odd"]
)
@pytest.mark.parametrize("batch", [64, 97])
def test_micro_batches_give_the_one_pass_step(rng, spec, batch):
    net = build(spec, np.random.default_rng(1))
    cuts = net.micro_batches(batch)
    assert len(cuts) > 1 and cuts[0][0] == 0 and cuts[-1][1] == batch
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    x[: batch // 3, :, :4] = 0.0  # blank rows: ties in the pooling windows, as on MNIST
    y = rng.integers(0, spec.output_shape()[0], batch)
    loss, logits, grads = one_pass(net, x, y)
    loss_m, logits_m = net.compute_gradients(x, y)
    np.testing.assert_array_equal(logits_m, logits)  # per image, nothing is summed differently
    assert loss_m == loss
    for name, _, grad in net.named_parameters():
        close_in_float32(grad, grads[name], name)


def test_which_networks_train_in_micro_batches():
    seed = build(load_preset("seed"), np.random.default_rng(0))
    assert seed.micro_batches(64) == [(0, 32), (32, 64)]
    assert seed.micro_batches(100) == [(0, 34), (34, 68), (68, 100)]
    assert seed.micro_batches(40) == [(0, 40)]
    # Too much arithmetic per image (mnist99, which has Dropout too), no convolution (fc-baseline).
    for name in ("mnist99", "fc-baseline"):
        assert build(load_preset(name), np.random.default_rng(0)).micro_batches(256) == [(0, 256)]
    coupled = NetSpec(
        (1, 8, 8),
        (
            {"type": "conv2d", "filters": 2, "kernel": 3},
            {"type": "batchnorm"},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
        ),
    )
    assert build(coupled, np.random.default_rng(0)).micro_batches(128) == [(0, 128)]


@pytest.mark.parametrize("preset", ["seed", "mnist99"])
def test_the_same_seed_trains_to_the_same_bits(preset):
    def run() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(7)
        net = build(load_preset(preset), rng)
        opt = SGD(net, lr=0.05, momentum=0.9)
        for batch in (64, 1, 33):
            x = rng.random((batch, 1, 28, 28), dtype=np.float32)
            net.compute_gradients(x, rng.integers(0, 10, batch))
            opt.step()
        return net.state_dict()

    first, second = run(), run()
    for name, value in first.items():
        np.testing.assert_array_equal(value, second[name], err_msg=name)


@pytest.mark.parametrize("batch", [1, 2, 5, 64])
@pytest.mark.parametrize(
    "spec", [load_preset("seed"), load_preset("mnist99"), SPLIT], ids=["seed", "mnist99", "odd"]
)
def test_fused_stages_in_float32_match_the_layers(rng, spec, batch):
    """Inputs and weights on dyadic grids (multiples of 1/8 and 1/64), so every convolution output is
    computed exactly by both paths (im2col or Winograd): the pooling's ties and near-ties are then the
    same numbers on both sides, and the comparison tests the arithmetic of the gradients alone (a
    near-tie decided the other way by a rounding would send one window's gradient elsewhere)."""
    fused = build(spec, np.random.default_rng(2))
    on_grid(fused)
    plain = build(spec, np.random.default_rng(2))
    plain.load_state_dict(fused.state_dict())
    plain.stages = list(plain.layers)
    x = np.round(rng.random((batch, *spec.input_shape), dtype=np.float32) * 8) / 8
    x[:, :, :3] = 0.0
    for training in (False, True):
        out_f, out_p = fused.forward(x, training=training), plain.forward(x, training=training)
        np.testing.assert_allclose(out_f, out_p, rtol=1e-5, atol=1e-6 * float(np.abs(out_p).max()))
    dlogits = rng.standard_normal(out_f.shape).astype(np.float32)
    dx_f, dx_p = fused.backward(dlogits, input_grad=True), plain.backward(dlogits, input_grad=True)
    close_in_float32(dx_f, dx_p)
    for (name, _, g_f), (_, _, g_p) in zip(fused.named_parameters(), plain.named_parameters(), strict=True):
        close_in_float32(g_f, g_p, name)


def on_grid(net, step: float = 1 / 64) -> None:
    """The network's weights rounded to multiples of ``step`` (small ones kept off zero)."""
    for _, param, _ in net.named_parameters():
        param[...] = np.round(param / step) * step


def close_in_float32(actual, expected, what=""):
    """Equal up to float32 rounding of sums over many terms: relative to the array's own scale, since a
    gradient's small entries are sums of large terms that cancel."""
    scale = float(np.abs(expected).max()) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale, err_msg=what)


def test_one_image_takes_the_wide_grid_and_gives_the_pool_orders_numbers(rng):
    net = build(load_preset("seed"), np.random.default_rng(3))
    stage = net.stages[1]
    assert prefer_wide(stage.conv, (8, 13, 13, 1), 2) and not prefer_wide(stage.conv, (8, 13, 13, 2), 2)
    x = rng.random((1, 1, 28, 28), dtype=np.float32)
    wide_logits = net.forward(x, training=True)
    wide_dx = net.backward(np.ones_like(wide_logits), input_grad=True)
    wide_grads = {name: grad.copy() for name, _, grad in net.named_parameters()}
    # The same image, pool-ordered: forced by a plan made without the wide grid.
    stage._plans[(8, 13, 13, 1)] = ConvPlan(stage.conv, (8, 13, 13, 1), 2, wide=False)
    logits = net.forward(x, training=True)
    dx = net.backward(np.ones_like(logits), input_grad=True)
    # The products see other column counts, so OpenBLAS may round them otherwise.
    close_in_float32(wide_logits, logits)
    close_in_float32(wide_dx, dx)
    for name, _, grad in net.named_parameters():
        close_in_float32(wide_grads[name], grad, name)


def test_one_multichannel_image_goes_straight_into_the_wide_grid(rng):
    # The network's input reaches the first convolution batch-last by a transpose, which leaves its one
    # image's axis with a large stride: the wide grid's view must not read that stride (hypothesis found
    # a 2-channel 4x4 input refused by NumPy there).
    spec = NetSpec.from_dict(
        {
            "input_shape": [2, 6, 6],
            "layers": [{"type": "conv2d", "filters": 3}, {"type": "maxpool2d"}, {"type": "flatten"},
                       {"type": "dense", "units": 4}],
        }
    )  # fmt: skip
    net = build(spec, np.random.default_rng(5))
    stage = net.stages[0]
    assert prefer_wide(stage.conv, (2, 6, 6, 1), 2)
    x = rng.random((1, 2, 6, 6), dtype=np.float32)
    wide_logits = net.forward(x, training=True)
    net.backward(np.ones_like(wide_logits))
    wide_grads = {name: grad.copy() for name, _, grad in net.named_parameters()}
    stage._plans[(2, 6, 6, 1)] = ConvPlan(stage.conv, (2, 6, 6, 1), 2, wide=False)
    logits = net.forward(x, training=True)
    net.backward(np.ones_like(logits))
    close_in_float32(wide_logits, logits)
    for name, _, grad in net.named_parameters():
        close_in_float32(wide_grads[name], grad, name)


def test_products_cut_in_pieces_give_the_whole_products(rng):
    # mnist99's first layer: C*KH*KW + 1 = 10 and 32 filters, so its products are cut.
    net = build(load_preset("mnist99"), np.random.default_rng(4))
    conv = net.layers[0]
    plan = ConvPlan(conv, (1, 28, 28, 64), 2)
    assert len(plan.column_pieces) > 1
    whole = ConvPlan(conv, (1, 28, 28, 64), 2)
    whole.piece = whole.columns
    whole.column_pieces = whole.pieces(whole.columns)
    x = rng.random((1, 28, 28, 64), dtype=np.float32)
    cols = plan.columns_of(x, Scratch())
    w = augmented_weights(conv)
    z = plan.product(w, cols, np.empty((32, plan.columns), np.float32))
    np.testing.assert_array_equal(z, whole.product(w, cols, np.empty((32, plan.columns), np.float32)))
    dz = rng.standard_normal((32, plan.columns)).astype(np.float32)
    np.testing.assert_allclose(
        plan.weight_gradient(dz, cols, Scratch()),
        whole.weight_gradient(dz, cols, Scratch()),
        rtol=1e-4,
        atol=1e-4,
    )


def test_large_evaluation_batches_run_in_parts_with_the_same_logits(rng):
    net = build(load_preset("seed"), np.random.default_rng(5))
    x = rng.random((300, 1, 28, 28), dtype=np.float32)
    whole = net._forward(x, training=False)
    parts = net.forward(x, training=False)
    close_in_float32(parts, whole)
    np.testing.assert_array_equal(parts.argmax(1), whole.argmax(1))
    dx = net.backward(np.ones_like(parts), input_grad=True)  # the general pass runs again first
    logits = net._forward(x, training=False)
    np.testing.assert_array_equal(dx, net.backward(np.ones_like(logits), input_grad=True))
    saliency = net.input_gradient(x, 3)  # one pass of its own, then backward
    assert saliency.shape == x.shape and np.abs(saliency).sum() > 0
    logits = net.forward(x[:100], training=True)  # training passes take their batch whole
    assert net.backward(np.ones_like(logits), input_grad=True).shape == (100, 1, 28, 28)


CHAIN = NetSpec(
    (3, 12, 12),
    (
        {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "tanh"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 5, "kernel": 3, "padding": "same"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 6},
        {"type": "sigmoid"},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 3},
    ),
)


@pytest.mark.parametrize("preset", ["seed", "mnist99", "fc-baseline", "chain"])
def test_one_image_takes_the_prepared_path_and_sees_the_weights_change(rng, preset):
    spec = CHAIN if preset == "chain" else load_preset(preset)
    net = build(spec, np.random.default_rng(6))
    x = rng.random((1, *spec.input_shape), dtype=np.float32)
    fast = net.forward(x)
    assert net._one[spec.input_shape] is not None
    close_in_float32(fast, net._forward(x, training=False))
    again = net.forward(x)
    np.testing.assert_array_equal(again, fast)
    assert not np.shares_memory(again, fast)  # a fresh answer every time
    opt = SGD(net, lr=0.5, momentum=0.0)
    net.compute_gradients(rng.random((8, *spec.input_shape), dtype=np.float32), rng.integers(0, 3, 8))
    opt.step()
    moved = net.forward(x)
    assert not np.allclose(moved, fast)
    close_in_float32(moved, net._forward(x, training=False))
    net.astype(np.float64)
    close_in_float32(net.forward(x), moved)
    assert net.forward(x).dtype == np.float64


def test_networks_the_prepared_path_does_not_cover_keep_the_general_one(rng):
    net = build(load_preset("lenet5"), np.random.default_rng(0))  # average pooling
    x = rng.random((1, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(net.forward(x), net._forward(x, training=False))
    assert net._one[(1, 28, 28)] is None
