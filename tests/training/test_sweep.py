"""Sweeps: one setting, its values, one config each; run one after another, each a recorded run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cnnlab.engine import load_preset
from cnnlab.training import ConfigError, RunStore, Sweep, TrainConfig, run_sweep
from tests.training.conftest import small_config

BASE = TrainConfig(epochs=1)


def layer_types(config: TrainConfig) -> list[str]:
    return [layer["type"] for layer in config.spec.layers]


@pytest.mark.parametrize(
    ("setting", "values", "check"),
    [
        ("lr", ["0.001", 0.01], lambda c: [x.lr for x in c] == [0.001, 0.01]),
        ("batch-size", ["16", "32", "64"], lambda c: [x.batch_size for x in c] == [16, 32, 64]),
        ("limit", ["1000", "all"], lambda c: [x.train_limit for x in c] == [1000, None]),
        ("seed", [0, "1"], lambda c: [x.seed for x in c] == [0, 1]),
        ("epochs", ["2"], lambda c: c[0].epochs == 2),
        ("schedule", ["constant", "step"], lambda c: [x.schedule for x in c] == ["constant", "step"]),
        ("augment", ["on", "off"], lambda c: [x.augment for x in c] == [True, False]),
        ("optimizer", ["sgd", "plain-sgd", "nesterov", "adam@0.001", "adamw"], lambda c: [
            (x.optimizer, x.momentum, x.nesterov, x.lr) for x in c] == [
            ("sgd", 0.9, False, 0.05), ("sgd", 0.0, False, 0.05), ("sgd", 0.9, True, 0.05),
            ("adam", 0.9, False, 0.001), ("adamw", 0.9, False, 0.05)]),
        ("preset", ["seed", "fc-baseline"], lambda c: [x.spec.name for x in c] == ["seed", "fc-baseline"]),
        ("pool", ["max", "avg"], lambda c: [layer_types(x).count("avgpool2d") for x in c] == [0, 2]),
        ("activation", ["tanh", "leaky-relu"], lambda c: layer_types(c[0]).count("tanh") == 2
            and layer_types(c[1]).count("leaky_relu") == 2),
        ("init", ["glorot_normal"], lambda c: {layer.get("init") for layer in c[0].spec.layers
                                               if layer["type"] in ("conv2d", "dense")} == {"glorot_normal"}),
        ("conv1.filters", ["4", "16"], lambda c: [x.spec.layers[0]["filters"] for x in c] == [4, 16]
            and all(x.spec.layers[3]["filters"] == 16 for x in c)),
        ("conv.kernel", ["5", "3x5"], lambda c: [(x.spec.layers[0]["kernel"], x.spec.layers[3]["kernel"])
                                                 for x in c] == [(5, 5), ([3, 5], [3, 5])]),
        ("dense1.init", ["lecun_normal"], lambda c: c[0].spec.layers[-1]["init"] == "lecun_normal"),
    ],
)  # fmt: skip
def test_each_setting_makes_one_config_per_value(setting, values, check):
    sweep = Sweep(BASE, setting, values)
    assert len(sweep) == len(values) and check(sweep.configs)
    assert [value for value, _ in sweep] == [point.value for point in sweep.points]
    changed = [{k for k, v in c.to_dict().items() if v != BASE.to_dict()[k]} for c in sweep.configs]
    assert all(len(keys) <= 4 for keys in changed)  # one thing (an optimizer carries its momentum and rate)
    assert len(set(sweep.names)) == len(values)


@pytest.mark.parametrize(
    ("setting", "values", "words"),
    [
        ("speed", [1], "cannot sweep 'speed'; the settings are lr,"),
        ("lr", ["fast"], "sweep lr: cannot read the value 'fast'"),
        ("lr", [-1], "sweep lr=-1: learning rate must be above 0"),
        ("lr", [0.1, "0.1"], "the value 0.1 is given twice"),
        ("lr", [], "give at least one value"),
        ("batch_size", ["1.5"], "cannot read the value '1.5'"),
        ("optimizer", ["rmsprop"], "unknown optimizer; choose from sgd, plain-sgd"),
        ("preset", ["resnet"], "unknown network; the presets are seed"),
        ("pool", ["min"], "unknown pooling kind"),
        ("conv.kernel", ["30"], "the 30x30 kernel does not fit in its 28x28 input"),
        ("conv9.filters", [4], "no layer 'conv9'; its layers are conv1, relu1, pool1"),
        ("conv1.units", [4], "conv1 has no setting 'units'; it takes filters, kernel"),
        ("dropout.rate", [0.5], "has no dropout layer"),
    ],
)
def test_what_cannot_be_swept_is_refused_in_one_line(setting, values, words):
    with pytest.raises(ConfigError, match=words) as caught:
        Sweep(BASE, setting, values)
    assert "\n" not in str(caught.value)


def test_every_run_is_checked_against_the_data_before_any_trains(tiny, tmp_path: Path):
    sweep = Sweep(small_config(), "limit", [64, 16])  # 16 images: fewer than one batch of 32
    with pytest.raises(ConfigError, match="limit=16: a training-set limit of 16 images"):
        run_sweep(sweep, tiny, RunStore(tmp_path))
    assert RunStore(tmp_path).list() == []


def test_a_sweep_of_three_values_makes_three_named_runs(tiny, tmp_path: Path):
    store = RunStore(tmp_path / "runs")
    sweep = Sweep(small_config(epochs=1), "lr", [0.01, 0.05, 0.2])
    seen: dict[int, int] = {}
    results = run_sweep(
        sweep,
        tiny,
        store,
        on_snapshot=lambda i, snap: seen.__setitem__(i, snap.step),
        out=tmp_path / "out",
    )
    assert [r.label for r in results] == ["0.01", "0.05", "0.2"] and seen == {0: 10, 1: 10, 2: 10}
    assert [r.name for r in results] == ["small · lr 0.01", "small · lr 0.05", "small · lr 0.2"]
    assert all(r.status == "finished" and r.test_accuracy is not None and r.seconds > 0 for r in results)
    runs = store.list()
    assert len(runs) == 3 and len({info.name for info in runs}) == 3
    assert {info.id for info in runs} == {r.run_id for r in results}
    for info in runs:
        assert info.tags["sweep"] == sweep.id and info.tags["sweep_setting"] == "lr"
        assert info.tags["sweep_size"] == 3 and info.config["lr"] == float(info.tags["sweep_value"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["01-0.01", "02-0.05", "03-0.2"]
    assert all((tmp_path / "out" / d / "checkpoint.npz").is_file() for d in ("01-0.01", "03-0.2"))
    as_json = results[0].to_dict()
    assert as_json["value"] == 0.01 and as_json["config"]["lr"] == 0.01


def test_a_sweep_is_cancelled_between_steps(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    sweep = Sweep(small_config(epochs=1), "seed", [0, 1, 2])
    cancel = threading.Event()
    steered = []

    def on_snapshot(index, snap):
        if index == 1 and snap.step == 3:
            cancel.set()

    results = run_sweep(sweep, tiny, store, on_snapshot, cancel, on_session=lambda i, s: steered.append(i))
    assert [r.status for r in results] == ["finished", "stopped"] and results[1].steps == 3
    assert steered == [0, 1] and len(store.list()) == 2
    assert sorted(info.status for info in store.list()) == ["finished", "stopped"]


def test_a_list_of_networks(tiny, tmp_path: Path):
    sweep = Sweep(small_config(epochs=1, spec=load_preset("seed")), "preset", ["seed", "fc-baseline"])
    results = run_sweep(sweep, tiny, None)
    assert [r.name for r in results] == ["seed", "fc-baseline"]
    assert [r.params for r in results] == [5258, 101770]
    assert all(r.run_id is None for r in results)  # not recorded without a store
