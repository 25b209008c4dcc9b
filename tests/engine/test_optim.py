"""Optimizers and schedules: the update rules, live changes, and the state they own."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cnnlab.engine import (
    SGD,
    Adam,
    AdamW,
    Constant,
    Cosine,
    StepDecay,
    Warmup,
    build,
    load_preset,
    make_optimizer,
    schedule_from_dict,
    schedule_to_dict,
)


class OneParam:
    """The smallest thing an optimizer can drive: one weight matrix and one bias."""

    def __init__(self, w, b, gw, gb):
        self.w, self.b, self.gw, self.gb = (np.array(a, dtype=np.float64) for a in (w, b, gw, gb))

    def named_parameters(self):
        yield "layer.W", self.w, self.gw
        yield "layer.b", self.b, self.gb


def test_plain_sgd_step():
    p = OneParam([[1.0, 2.0]], [0.5], [[0.1, -0.2]], [1.0])
    SGD(p, lr=0.5).step()
    np.testing.assert_allclose(p.w, [[0.95, 2.1]])
    np.testing.assert_allclose(p.b, [0.0])


def test_momentum_accumulates_and_nesterov_looks_ahead():
    plain = OneParam([[0.0]], [0.0], [[1.0]], [0.0])
    nest = OneParam([[0.0]], [0.0], [[1.0]], [0.0])
    a, b = SGD(plain, lr=0.1, momentum=0.9), SGD(nest, lr=0.1, momentum=0.9, nesterov=True)
    a.step(), a.step(), b.step(), b.step()
    # velocity: 1, then 1.9 -> w = -(0.1 + 0.19)
    np.testing.assert_allclose(plain.w, [[-0.29]])
    # nesterov uses g + mu * v: (1 + 0.9) * 0.1 then (1 + 0.9 * 1.9) * 0.1
    np.testing.assert_allclose(nest.w, [[-(0.19 + 0.271)]])


def test_weight_decay_applies_to_weights_not_biases():
    p = OneParam([[2.0]], [2.0], [[0.0]], [0.0])
    SGD(p, lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.w, [[1.9]])
    np.testing.assert_allclose(p.b, [2.0])


def test_adam_first_step_moves_by_lr_in_the_gradient_sign():
    p = OneParam([[1.0, 1.0]], [0.0], [[3.0, -0.001]], [0.0])
    Adam(p, lr=0.01).step()
    np.testing.assert_allclose(p.w, [[0.99, 1.01]], rtol=1e-5)


def test_adamw_decays_apart_from_the_gradient():
    p = OneParam([[1.0]], [1.0], [[0.0]], [0.0])
    AdamW(p, lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.w, [[0.95]])
    np.testing.assert_allclose(p.b, [1.0])


def test_learning_rate_and_momentum_change_between_steps_without_rebuilding(rng):
    net = build(load_preset("seed"), rng)
    opt = make_optimizer("sgd", net, lr=0.1, momentum=0.9)
    x, y = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    net.compute_gradients(x, y)
    opt.step()
    velocity = opt.state["dense1.W"]["velocity"].copy()
    before = net.layers[-1].params["W"].copy()
    opt.lr, opt.momentum = 0.0, 0.5
    net.compute_gradients(x, y)
    opt.step()
    np.testing.assert_array_equal(net.layers[-1].params["W"], before)  # lr 0: nothing moves
    np.testing.assert_allclose(
        opt.state["dense1.W"]["velocity"], 0.5 * velocity + net.layers[-1].grads["W"], rtol=1e-6
    )


def test_optimizers_keep_float32():
    net = build(load_preset("seed"), np.random.default_rng(0))
    for name in ("sgd", "adam", "adamw"):
        opt = make_optimizer(name, net, lr=0.01)
        net.compute_gradients(np.zeros((2, 1, 28, 28), np.float32), np.array([1, 2]))
        opt.step()
        assert all(p.dtype == np.float32 for _, p, _ in net.named_parameters()), name


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        make_optimizer("rmsprop", None)


@pytest.mark.parametrize(
    ("schedule", "steps", "expected"),
    [
        (Constant(), [0, 100], [1.0, 1.0]),
        (StepDecay(10, 0.5), [0, 9, 10, 25], [1.0, 1.0, 0.5, 0.25]),
        (Cosine(100), [0, 50, 100, 200], [1.0, 0.5, 0.0, 0.0]),
        (Cosine(100, final=0.1), [100], [0.1]),
        (Warmup(4, Cosine(10)), [0, 3, 4, 9, 14], [0.25, 1.0, 1.0, 0.5, 0.0]),
    ],
)
def test_schedules(schedule, steps, expected):
    assert [schedule.factor(s) for s in steps] == pytest.approx(expected)
    assert schedule_from_dict(schedule_to_dict(schedule)) == schedule


def test_cosine_is_smooth_and_decreasing():
    values = [Cosine(1000).factor(s) for s in range(0, 1001, 50)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert math.isclose(values[0], 1.0) and math.isclose(values[-1], 0.0, abs_tol=1e-12)
