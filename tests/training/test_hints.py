"""Each hint fires on a tiny real run that provokes it, and none fires on a healthy one.

The runs train on generated digits (1,400 images: 1,200 to train on, 200 held out for validation) for
a second or less each.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cnnlab.data import Dataset, generate_digits
from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import TrainConfig, TrainingSession, all_hints
from cnnlab.training import hints as checks
from cnnlab.training.snapshot import Event
from tests.training.conftest import DIGITS

_DATA: dict[str, Dataset] = {}


def digits() -> Dataset:
    if "digits" not in _DATA:
        rng = np.random.default_rng(0)
        x, y = generate_digits(1400, rng)
        tx, ty = generate_digits(200, rng)
        _DATA["digits"] = Dataset("digits", DIGITS, x, y, tx, ty, source="generated for tests")
    return _DATA["digits"]


def mlp(layers: int, units: int, activation: str, init: str) -> NetSpec:
    spec = [{"type": "flatten"}]
    for _ in range(layers):
        spec += [{"type": "dense", "units": units, "init": init}, {"type": activation}]
    spec.append({"type": "dense", "units": 10, "init": init})
    return NetSpec.from_dict({"name": "mlp", "input_shape": [1, 28, 28], "layers": spec})


def run(**settings):
    """Every snapshot's hints (by kind: how many snapshots showed it) and the last snapshot."""
    config = dict(dataset="digits", epochs=1, batch_size=32, validation=200, eval_every=5, snapshot_every=5)
    config.update(settings)
    fired: Counter = Counter()
    for snap in TrainingSession(TrainConfig(**config), digits()).run():
        for hint in all_hints(snap):
            fired[hint.kind] += 1
            assert hint.level in ("problem", "warning", "good") and hint.title and hint.words
    return fired, snap


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["seed", "fc-baseline"])
def test_no_hint_but_the_good_one_on_a_healthy_run(preset):
    fired, last = run(spec=load_preset(preset), epochs=2)
    assert set(fired) == {"generalising"}, fired
    [good] = all_hints(last)
    assert good.kind == "generalising" and good.level == "good" and "validation" in good.words


def test_a_run_stuck_at_chance_is_not_learning_and_never_looks_good():
    fired, last = run(spec=load_preset("seed"), lr=5.0)
    assert last.validation_accuracy < 0.15  # the lesson's "10.6% after lr 5"
    assert "generalising" not in fired
    kinds = [h.kind for h in all_hints(last)]
    assert kinds[:2] == ["not_learning", "dead_relus"]
    words = checks.not_learning(last).words
    assert "too high" in words and "Try 0.5" in words
    dead = checks.dead_relus(last)
    assert dead.level == "problem" and "8 of 8 units in relu1" in dead.words


def test_a_learning_rate_too_small_is_said_to_be_too_low():
    fired, last = run(spec=load_preset("seed"), lr=1e-4)
    hint = checks.not_learning(last)
    assert hint is not None and "too low" in hint.words and "Try 0.001" in hint.words
    assert "generalising" not in fired


def test_nothing_is_judged_before_a_few_hundred_images():
    session = TrainingSession(TrainConfig(dataset="digits", lr=5.0, batch_size=32, validation=200,
                                          snapshot_every=1), digits())  # fmt: skip
    for snap in session.run():
        if snap.images_seen >= checks.NOT_LEARNING_IMAGES:
            break
        assert checks.not_learning(snap) is None
    session.stop()
    assert checks.not_learning(snap) is not None


def test_a_diverging_run_explodes_then_diverges():
    spec = mlp(6, 64, "relu", "he_uniform")
    fired, last = run(spec=spec, lr=1.0, schedule="constant", snapshot_every=1)
    assert last.event == Event.DIVERGED
    assert fired["exploding_gradients"] >= 1 and "grown" in checks.exploding_gradients(last).words
    assert all_hints(last)[0].kind == "diverged" and all_hints(last)[0].words == last.message


@pytest.mark.slow
def test_overfitting_on_a_tiny_training_set():
    fired, last = run(spec=load_preset("seed"), train_limit=64, epochs=30, eval_every=2)
    hint = checks.overfitting(last)
    assert hint is not None and hint.level == "warning"
    gap = last.history.eval_train_accuracy[-1] - last.validation_accuracy
    assert gap >= checks.OVERFIT_GAP and f"{gap * 100:.1f} points" in hint.words
    assert "generalising" not in [h.kind for h in all_hints(last)]


def test_underfitting_with_a_network_too_small_for_the_data():
    layers = [{"type": "flatten"}, {"type": "dense", "units": 2}, {"type": "tanh"},
              {"type": "dense", "units": 10}]  # fmt: skip
    tiny = NetSpec.from_dict({"name": "tiny", "input_shape": [1, 28, 28], "layers": layers})
    fired, last = run(spec=tiny, epochs=6)
    assert [h.kind for h in all_hints(last)] == ["underfitting"], fired
    assert "stopped improving" in checks.underfitting(last).words


def test_vanishing_gradients_in_a_deep_sigmoid_network():
    fired, last = run(spec=mlp(8, 32, "sigmoid", "small_normal"))
    hint = checks.vanishing_gradients(last)
    assert hint is not None and "dense1" in hint.words and "dense9" in hint.words
    assert fired["vanishing_gradients"] >= 1 and "generalising" not in fired


def test_dead_relus_are_counted_on_a_batch():
    # Adam at a rate meant for SGD learns, but kills many of its units on the way (a warning, not a stop).
    fired, last = run(spec=load_preset("seed"), optimizer="adam", lr=0.05)
    stats = {a.name: a for a in last.activation_stats}
    assert set(stats) == {"relu1", "relu2"} and stats["relu1"].units == 8 and stats["relu2"].units == 16
    hint = checks.dead_relus(last)
    assert hint is not None and hint.level == "warning"
    assert any(a.dead_fraction >= checks.DEAD_SHARE for a in last.activation_stats)
    healthy = run(spec=load_preset("seed"))[1]
    assert all(a.dead_fraction < 0.2 for a in healthy.activation_stats)
    assert all(0.0 < a.zero_fraction < 1.0 for a in healthy.activation_stats)


def test_no_snapshot_no_hints():
    assert all_hints(None) == []
