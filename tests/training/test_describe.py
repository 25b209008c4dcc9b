"""Automatic run names: each run named by what sets it apart from the others, networks in words."""

from __future__ import annotations

from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import Change, TrainConfig, describe_runs, run_settings

SEED = load_preset("seed")


def changed(spec: NetSpec, change) -> NetSpec:
    layers = [dict(layer) for layer in spec.layers]
    change(layers)
    return spec.replace_layers(layers)


def every(kind: str, **settings):
    return lambda layers: [layer.update(settings) for layer in layers if layer["type"] == kind]


def test_the_lesson_s_runs_are_named_by_what_sets_them_apart():
    base = TrainConfig()
    runs = [
        base,
        base.replace(lr=0.1),
        base.replace(spec=changed(SEED, every("conv2d", kernel=5))),
        base.replace(spec=load_preset("fc-baseline")),
        base.replace(batch_size=16),
        base.replace(optimizer="adam"),
    ]
    assert describe_runs(runs) == [
        "seed",
        "seed · lr 0.1",
        "seed · 5x5 filters",
        "fc-baseline",
        "seed · batch 16",
        "seed · adam",
    ]


def test_a_setting_every_run_differs_in_is_named_on_every_run():
    base = TrainConfig()
    names = describe_runs([base.replace(lr=v) for v in (0.001, 0.01, 0.1)])
    assert names == ["seed · lr 0.001", "seed · lr 0.01", "seed · lr 0.1"]
    assert describe_runs([base.replace(seed=s) for s in (0, 1)]) == ["seed · seed 0", "seed · seed 1"]
    limited = describe_runs([base.replace(train_limit=1000), base])
    assert limited == ["seed · 1,000 images", "seed · all images"]


def test_networks_of_one_name_are_told_apart_in_words():
    base = TrainConfig()

    def wider(layers):
        layers[0]["filters"], layers[3]["filters"] = 16, 32

    def glorot(layers):
        for layer in layers:
            if layer["type"] in ("conv2d", "dense"):
                layer["init"] = "glorot_normal"

    variants = {
        "seed · average pooling": every("maxpool2d", type="avgpool2d"),
        "seed · tanh": every("relu", type="tanh"),
        "seed · conv1 16 filters": lambda layers: layers[0].update(filters=16),
        "seed · 16/32 filters": wider,
        "seed · glorot_normal init": glorot,
        "seed · + dropout 0.5": lambda layers: layers.insert(6, {"type": "dropout", "rate": 0.5}),
        "seed · no pool2": lambda layers: layers.pop(5),
    }
    for expected, change in variants.items():
        assert describe_runs([base, base, base.replace(spec=changed(SEED, change))])[2] == expected


def test_unnamed_and_very_different_networks_are_custom_with_their_size():
    base = TrainConfig()
    unnamed = NetSpec(SEED.input_shape, SEED.layers, "")
    assert describe_runs([base.replace(spec=unnamed), base]) == ["custom (5,258 params)", "seed"]

    def four_more_convolutions(layers):
        layers[:0] = [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}] * 4

    rebuilt = changed(SEED, four_more_convolutions)
    names = describe_runs([base, base, base.replace(spec=rebuilt)])
    assert names[2].startswith("seed · custom (") and names[2].endswith(" params)")


def test_runs_that_would_share_a_name_are_numbered():
    assert describe_runs([TrainConfig(), TrainConfig(), TrainConfig(lr=0.1)]) == [
        "seed",
        "seed (2)",
        "seed · lr 0.1",
    ]


def test_settings_dicts_and_live_changes():
    settings = run_settings(TrainConfig())
    record = {"config": settings, "changes": [Change(200, 12800, "lr", 0.05, 0.01).to_dict()]}
    assert describe_runs([settings, settings, record]) == ["seed", "seed (2)", "seed · lr → 0.01 live"]
    plain = TrainConfig(momentum=0.0)
    assert describe_runs([TrainConfig(), plain]) == ["seed · sgd", "seed · plain-sgd"]
