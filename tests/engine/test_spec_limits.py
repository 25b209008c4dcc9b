"""Specs are refused before anything is allocated: hard bounds, JSON nesting, and the Budget.

Each refusal is checked to take little memory (tracemalloc's peak), never time: a spec that would
need gigabytes must cost the engine about nothing to refuse.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from cnnlab.engine import Budget, NetSpec, SpecError, build, load_preset, read_spec_file, validate

HEAD = [{"type": "flatten"}, {"type": "dense", "units": 10}]
MiB = 1 << 20


def conv(**kw):
    return {"type": "conv2d", "filters": 8, **kw}


def refused(make, words: str, index: int | str | None = "any") -> SpecError:
    """Run ``make()`` (parse, validate, build ...), expect a SpecError containing ``words``, and check
    that getting there took less than 8 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as err:
            make()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert words in str(err.value), str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400
    if index != "any":
        assert err.value.index == index
    assert peak < 8 * MiB, f"refusing took {peak / MiB:.0f} MiB"
    return err.value


CASES = {
    "a billion filters": ([conv(filters=10**9), *HEAD], (1, 28, 28), 0, "must be at most 65,536"),
    "65,536 filters of 3x3 on 96 channels": (
        [conv(filters=65_536), *HEAD],
        (96, 3, 3),
        0,
        "brings the network to 56,688,640 parameters (56,688,640 of them here)",
    ),
    "padding 1000": ([conv(padding=1000), *HEAD], (1, 28, 28), 0, "of activations up to this layer"),
    "a million dense units on 3x28x28": (
        [{"type": "flatten"}, {"type": "dense", "units": 10**6}, {"type": "dense", "units": 10}],
        (3, 28, 28),
        1,
        "this layer brings the network to 2,353,000,000 parameters (2,353,000,000 of them here), above the "
        "budget of 50,000,000",
    ),
    "150 'same' convolutions": (
        [conv(padding="same") for _ in range(150)] + HEAD,
        (1, 28, 28),
        "any",
        "above the budget of 1.0 GiB",
    ),
    "1,000 'same' convolutions": (
        [conv(padding="same") for _ in range(1000)] + HEAD,
        (1, 28, 28),
        None,
        "the spec has 1,002 layers; a network may have at most 200",
    ),
    "a 4096x4096 input": ([conv(), *HEAD], (3, 4096, 4096), 0, "of activations"),
    "an input side of 4097": ([conv(), *HEAD], (1, 28, 4097), None, "every size must be at most 4,096"),
    "a kernel beyond 4096": ([conv(kernel=[3, 5000]), *HEAD], (1, 28, 28), 0, "must be at most 4,096"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_oversized_specs_are_refused_naming_the_layer_and_the_numbers(case):
    layers, shape, index, words = CASES[case]
    spec = NetSpec(shape, tuple(layers))
    refused(spec.validate, words, index)
    refused(lambda: build(spec, np.random.default_rng(0)), words, index)
    text = json.dumps(spec.to_dict())
    refused(lambda: NetSpec.from_json(text).validate(), words, index)


def test_the_activation_refusal_names_the_crossing_layer_and_the_batch():
    err = refused(NetSpec((1, 28, 28), tuple([conv(padding="same")] * 150 + HEAD)).validate, "at batch 64")
    assert 0 < err.index < 150 and str(err).startswith(f"Layer {err.index + 1} (conv2d): one training step")
    # The same spec fits a larger budget, or a smaller batch.
    spec = NetSpec((1, 28, 28), tuple([conv(padding="same")] * 150 + HEAD))
    assert len(spec.validate(budget=Budget(max_activation_bytes=8 << 30))) == 152
    assert len(spec.validate(budget=Budget().at_batch(4))) == 152


def test_a_raised_parameter_budget_allows_a_larger_network():
    spec = NetSpec((1, 28, 28), ({"type": "flatten"}, {"type": "dense", "units": 70_000}, HEAD[1]))
    refused(spec.validate, "above the budget of 50,000,000", 1)
    infos = spec.validate(budget=Budget(max_params=60_000_000))
    assert sum(i.params for i in infos) == 785 * 70_000 + 70_001 * 10
    assert Budget.unlimited().max_params is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"layers": [conv(filters=2**31), *HEAD]}, "'filters' is 2,147,483,648, beyond any size"),
        ({"layers": [conv(kernel=[3, -(10**30)]), *HEAD]}, "beyond any size"),
        ({"layers": [conv(filters=10**5000), *HEAD]}, "a number of about 5001 digits"),
        ({"layers": [{"type": "relu"}] * 100_000}, "the spec has 100,000 layers"),
        ({"layers": HEAD, "input_shape": [1, 28]}, "input_shape must be [channels, height, width]"),
        ({"layers": HEAD, "input_shape": [1, 28, 28, 1]}, "input_shape must be"),
        ({"layers": HEAD, "input_shape": [1, 28.0, 28]}, "whole number"),
        ({"layers": HEAD, "input_shape": [1, True, 28]}, "whole number"),
        ({"layers": HEAD, "input_shape": [0, 28, 28]}, "at least 1"),
        ({"layers": HEAD, "input_shape": [1, 28, 2**40]}, "at most 4,096"),
        ({"layers": HEAD, "input_shape": "1x28x28"}, "input_shape must be"),
        ({"layers": HEAD, "name": "n" * 10_000}, "at most 200 characters"),
    ],
)
def test_from_dict_enforces_the_hard_bounds(data, words):
    refused(lambda: NetSpec.from_dict(data), words)


def test_a_huge_number_or_value_never_makes_a_huge_message():
    err = refused(NetSpec((1, 28, 28), ({"type": "x" * 10_000}, *HEAD)).validate, "unknown layer type")
    assert len(str(err)) < 300
    err = refused(NetSpec((1, 28, 28), (conv(kernel=list(range(10**5))), *HEAD)).validate, "[height, width]")
    assert len(str(err)) < 300
    refused(
        NetSpec((1, 28, 28), ({"type": "leaky_relu", "alpha": 10**400}, *HEAD)).validate, "must be a number"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested 100,000 levels deep"),
        ('{"layers": [' + "{" * 50_000, "nested"),
        ('{"layers": [], "name": "' + "[" * 150 + '"}', "at least a flatten"),  # brackets in a string
        ('{"layers": [{"type": "conv2d", "filters": ' + "9" * 5000 + "}]}", "not valid JSON"),
        ("x" * (2 << 20), "characters long; a spec has at most"),
        ("", "not valid JSON"),
        ("NaN", "must be a JSON object"),
    ],
)
def test_from_json_measures_before_parsing(text, words):
    refused(lambda: NetSpec.from_json(text).validate(), words)


def test_every_preset_fits_the_default_budget_at_the_batch_sizes_the_lab_uses():
    for name in ("seed", "fc-baseline", "lenet5", "mnist99"):
        for batch in (1, 64, 256):
            validate(load_preset(name), budget=Budget().at_batch(batch))


def test_read_spec_file_reads_a_spec_or_a_runs_config_and_names_the_file(tmp_path):
    spec = load_preset("lenet5")
    plain = tmp_path / "net.json"
    plain.write_text(spec.to_json())
    assert read_spec_file(plain) == spec
    wrapped = tmp_path / "config.json"
    wrapped.write_text(json.dumps({"epochs": 3, "spec": spec.to_dict()}))
    assert read_spec_file(wrapped) == spec
    for path, words in [
        (tmp_path / "absent.json", "absent.json: no such spec file"),
        (tmp_path, "is a folder, not a file"),
    ]:
        refused(lambda p=path: read_spec_file(p), words)
    zero = refused(lambda: read_spec_file("/dev/zero"), "zero: is a device, not a file")
    assert zero.index is None


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "leaky_relu", "alpha": 3.4028235677973366e38}, "between -100 and 100"),  # hypothesis's find
        ({"type": "elu", "alpha": -1e5}, "between -100 and 100"),
        ({"type": "batchnorm", "eps": 2.0}, "between -1 and 1"),
    ],
)
def test_a_factor_too_large_for_float32_is_refused_before_it_overflows(layer, words):
    refused(NetSpec((1, 28, 28), (layer, *HEAD)).validate, words)
    assert NetSpec((1, 28, 28), ({**layer, layer_key(layer): 0.5}, *HEAD)).validate()


def layer_key(layer: dict) -> str:
    return "eps" if "eps" in layer else "alpha"
