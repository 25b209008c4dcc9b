"""``TrainConfig``: frozen, JSON round trip, clear refusals; the recommended settings per network."""

from __future__ import annotations

import dataclasses

import pytest

from cnnlab.engine import load_preset
from cnnlab.training import ConfigError, TrainConfig, check_live, recommended_settings
from cnnlab.training.headless import make_config


def test_json_round_trip_and_frozen():
    config = TrainConfig(spec=load_preset("lenet5"), epochs=4, augment=True, train_limit=100, seed=7)
    again = TrainConfig.from_json(config.to_json())
    assert again == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]
    assert config.replace(lr=0.1).lr == 0.1 and config.lr == 0.05


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, adamw"),
        ({"lr": float("nan")}, "learning rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"schedule": "linear"}, "schedule must be one of"),
        ({"snapshot_every": 0}, "snapshot_every"),
        ({"validation": -1}, "validation"),
    ],
)
def test_settings_that_cannot_work_are_named(changes, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**changes)


def test_from_dict_refuses_unknown_and_mistyped_settings():
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="epochs must be a whole number, got 'three'"):
        TrainConfig.from_dict({"epochs": "three"})


def test_recommended_settings_per_network():
    assert recommended_settings("fc-baseline")["batch_size"] == 32
    assert recommended_settings("mnist99", "fashion-mnist")["epochs"] == 5
    assert recommended_settings("my own net") == {}
    config = TrainConfig.recommended("fc-baseline", lr=0.1)
    assert config.batch_size == 32 and config.lr == 0.1 and config.spec.name == "fc-baseline"
    # The CLI: recommended settings, then only what the user gave.
    config = make_config(load_preset("fc-baseline"), "mnist", lr=None, epochs=2)
    assert config.batch_size == 32 and config.lr == 0.05 and config.epochs == 2


def test_check_live_normalises_values():
    assert check_live({"lr": "0.1", "batch_size": 32.0, "augment": 1}) == {
        "lr": 0.1,
        "batch_size": 32,
        "augment": True,
    }
    with pytest.raises(ConfigError, match="whole number"):
        check_live({"batch_size": 2.5})
    with pytest.raises(ConfigError, match="not a number"):
        check_live({"lr": "fast"})
