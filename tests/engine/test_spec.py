"""NetSpec: shapes and parameter counts of the presets, and a clear error for every impossible spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab.engine import PRESET_NAMES, NetSpec, SpecError, build, load_preset

EXPECTED_PARAMS = {"seed": 5_258, "fc-baseline": 101_770, "lenet5": 61_706, "mnist99": 421_642}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_count_their_parameters_and_build(rng, name):
    spec = load_preset(name)
    assert spec.num_params() == EXPECTED_PARAMS[name]
    net = build(spec, rng)
    assert net.num_params == EXPECTED_PARAMS[name]
    logits = net.forward(rng.random((5, 1, 28, 28), dtype=np.float32))
    assert logits.shape == (5, 10) and logits.dtype == np.float32


def test_seed_shapes_follow_the_lesson():
    infos = load_preset("seed").validate()
    shapes = [(i.name, i.output_shape) for i in infos]
    assert shapes == [
        ("conv1", (8, 26, 26)),
        ("relu1", (8, 26, 26)),
        ("pool1", (8, 13, 13)),
        ("conv2", (16, 11, 11)),
        ("relu2", (16, 11, 11)),
        ("pool2", (16, 5, 5)),
        ("flatten1", (400,)),
        ("dense1", (10,)),
    ]
    assert [i.params for i in infos if i.params] == [80, 1_168, 4_010]


def test_summary_is_a_readable_table():
    text = load_preset("seed").summary()
    assert "conv1 (conv2d)" in text and "8x26x26" in text and "Total parameters: 5,258" in text


def test_activations_report_every_layer_shape(rng):
    spec = load_preset("seed")
    net = build(spec, rng)
    acts = net.activations(rng.random((1, 1, 28, 28)))
    assert [name for name, _ in acts][:3] == ["input", "conv1", "relu1"]
    for (name, array), info in zip(acts[1:], spec.validate(), strict=True):
        assert array.shape == (1, *info.output_shape), name


def conv(**kw):
    return {"type": "conv2d", "filters": 4, **kw}


HEAD = [{"type": "flatten"}, {"type": "dense", "units": 10}]


@pytest.mark.parametrize(
    ("layers", "index", "words"),
    [
        (
            [conv(kernel=3), {"type": "maxpool2d"}, conv(kernel=14), *HEAD],
            2,
            "does not fit in its 13x13 input",
        ),
        ([conv(kernel=29), *HEAD], 0, "28x28"),
        (
            [conv(kernel=3, stride=3), *[{"type": "maxpool2d", "kernel": k} for k in (3, 3, 2)], *HEAD],
            3,
            "nothing would be left",
        ),
        ([{"type": "dense", "units": 10}], 0, "add a flatten layer"),
        ([{"type": "flatten"}, conv(), *HEAD], 1, "move it before the flatten"),
        ([conv(filters=0), *HEAD], 0, "at least 1"),
        ([conv(filters=-3), *HEAD], 0, "at least 1"),
        ([conv(kernel=0), *HEAD], 0, "at least 1"),
        ([conv(stride=0), *HEAD], 0, "at least 1"),
        ([conv(padding=-1), *HEAD], 0, "at least 0"),
        ([conv(padding="full"), *HEAD], 0, "'valid', 'same'"),
        ([{"type": "convolution", "filters": 8}, *HEAD], 0, "unknown layer type"),
        ([conv(filters="8"), *HEAD], 0, "whole number"),
        ([conv(filters=8.5), *HEAD], 0, "whole number"),
        ([conv(filters=True), *HEAD], 0, "whole number"),
        ([conv(kernel=[3, 3, 3]), *HEAD], 0, "[height, width]"),
        ([conv(filtres=8), *HEAD], 0, "unknown setting 'filtres'"),
        ([{"type": "conv2d"}, *HEAD], 0, "needs a 'filters'"),
        ([conv(init="random"), *HEAD], 0, "he_normal"),
        ([{"type": "dropout", "rate": 1.0}, *HEAD], 0, "below 1"),
        ([{"type": "dropout", "rate": "half"}, *HEAD], 0, "between 0 and 1"),
        ([{"type": "flatten"}, {"type": "dense", "units": 0}], 1, "at least 1"),
        ([conv(name="a"), conv(name="a"), *HEAD], 1, "already used"),
    ],
)
def test_impossible_specs_name_the_layer_and_the_reason(layers, index, words):
    spec = NetSpec((1, 28, 28), tuple(layers))
    with pytest.raises(SpecError) as err:
        spec.validate()
    assert err.value.index == index
    assert f"Layer {index + 1} (" in str(err.value)
    assert words in str(err.value)
    with pytest.raises(SpecError):
        build(spec, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (NetSpec((1, 28, 28), ()), "no layers"),
        (NetSpec((1, 28, 28), (conv(),)), "must end with one score per class"),
        (NetSpec((1, 28, 28), ({"type": "flatten"}, {"type": "relu"})), "nothing to learn"),
        (NetSpec((0, 28, 28), tuple(HEAD)), "input_shape"),
        (NetSpec((28, 28), tuple(HEAD)), "input_shape"),
    ],
)
def test_whole_network_problems_are_explained(spec, words):
    with pytest.raises(SpecError, match=words):
        spec.validate()


def test_wrong_number_of_classes_points_at_the_last_layer():
    spec = NetSpec((1, 28, 28), ({"type": "flatten"}, {"type": "dense", "units": 12}))
    with pytest.raises(SpecError, match="set the last dense layer's units to 10") as err:
        spec.validate(num_classes=10)
    assert err.value.index == 1


@pytest.mark.parametrize(
    "data",
    [
        [1, 2],
        {"layers": "conv"},
        {"layers": [{"filters": 8}]},
        {"layers": [], "extra": 1},
        {"layers": [], "name": 3},
    ],
)
def test_malformed_structure_is_refused(data):
    with pytest.raises(SpecError):
        NetSpec.from_dict(data)


def test_bad_json_is_refused_with_its_position():
    with pytest.raises(SpecError, match="not valid JSON"):
        NetSpec.from_json('{"layers": [')


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_spec_json_round_trip_is_identical(name):
    spec = load_preset(name)
    again = NetSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(again.to_json()) == json.loads(spec.to_json())


def test_same_seed_same_weights():
    spec = load_preset("seed")
    a = build(spec, np.random.default_rng(3)).state_dict()
    b = build(spec, np.random.default_rng(3)).state_dict()
    c = build(spec, np.random.default_rng(4)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.W"], c["conv1.W"])


def test_same_padding_with_stride_keeps_ceil_size():
    spec = NetSpec((1, 7, 7), (conv(kernel=3, stride=2, padding="same"), *HEAD))
    assert spec.validate()[0].output_shape == (4, 4, 4)
