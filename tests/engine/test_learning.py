"""The engine learns: a small batch is memorised, in float32, with each optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import build, load_preset, make_optimizer


@pytest.mark.parametrize(
    ("preset", "optimizer", "settings"),
    [
        ("seed", "sgd", {"lr": 0.05, "momentum": 0.9}),
        ("seed", "adam", {"lr": 0.01}),
        ("fc-baseline", "sgd", {"lr": 0.05, "momentum": 0.9}),
        ("lenet5", "adamw", {"lr": 0.005}),
    ],
)
def test_overfits_a_batch_of_32_within_200_steps(preset, optimizer, settings):
    rng = np.random.default_rng(0)
    # Random images with random labels: nothing to generalise, so 100% means the maths is right.
    x = rng.random((32, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    net = build(load_preset(preset), rng)
    opt = make_optimizer(optimizer, net, **settings)
    losses = []
    for step in range(200):
        loss, logits = net.compute_gradients(x, y)
        losses.append(loss)
        opt.step()
        if np.mean(logits.argmax(1) == y) == 1.0 and step > 0:
            break
    accuracy = np.mean(net.forward(x).argmax(1) == y)
    assert accuracy == 1.0, (
        f"reached {accuracy:.0%} after {step + 1} steps; losses {losses[0]:.2f}->{losses[-1]:.2f}"
    )
    assert losses[-1] < losses[0] / 3


def test_training_is_deterministic():
    def run():
        rng = np.random.default_rng(42)
        net = build(load_preset("mnist99"), rng)
        opt = make_optimizer("sgd", net, lr=0.05, momentum=0.9)
        x, y = rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16)
        for _ in range(3):
            net.compute_gradients(x, y)
            opt.step()
        return net.state_dict()

    a, b = run(), run()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_input_gradient_points_at_the_pixels_that_matter(rng):
    net = build(load_preset("seed"), rng)
    x = rng.random((2, 1, 28, 28), dtype=np.float32)
    grad = net.input_gradient(x, 3)
    assert grad.shape == x.shape and np.abs(grad).sum() > 0
    # A small step along the gradient raises the class-3 score by about the predicted amount.
    eps = 1e-2
    before = net.forward(x)[:, 3]
    after = net.forward(x + eps * grad)[:, 3]
    predicted = eps * (grad.astype(np.float64) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(after - before, predicted, rtol=0.2)
    # and training afterwards is unaffected: the first layer still skips its input gradient
    assert net.layers[0].need_input_grad is False
