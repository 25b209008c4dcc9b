"""Networks for the bridge's tests: the presets, hand-picked specs for the cases other libraries spell
differently, and random valid specs; with weights and running statistics that are not the defaults."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cnnlab.engine import PRESET_NAMES, NetSpec, Network, SpecError, build, load_preset, validate
from cnnlab.engine.layers.base import pair
from cnnlab.engine.layers.conv import resolve_padding

ACTIVATIONS = (
    {"type": "relu"},
    {"type": "leaky_relu", "alpha": 0.2},
    {"type": "leaky_relu", "alpha": -0.3},
    {"type": "elu", "alpha": 0.7},
    {"type": "tanh"},
    {"type": "sigmoid"},
)

# Each names what it is there for.
HAND_PICKED = {
    # 'same' at stride 2 on an even size: one extra row and column at the bottom/right
    "same-stride2": NetSpec(
        (1, 28, 28),
        (
            {"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2, "padding": "same"},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ),
    ),
    # an even, non-square kernel with 'same': asymmetric on both axes
    "same-even-kernel": NetSpec(
        (2, 9, 11),
        (
            {"type": "conv2d", "filters": 4, "kernel": [2, 4], "padding": "same"},
            {"type": "elu", "alpha": 0.5},
            {"type": "maxpool2d", "kernel": 3, "stride": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 5},
        ),
    ),
    # overlapping and leftover windows (floor), pixel padding, flat batch norm, every activation
    "overlap-floor": NetSpec(
        (3, 13, 12),
        (
            {"type": "conv2d", "filters": 5, "kernel": 3, "padding": 2, "stride": 1},
            {"type": "batchnorm"},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel": [3, 2], "stride": 2},
            {"type": "leaky_relu", "alpha": -0.1},
            {"type": "maxpool2d", "kernel": 2, "stride": 1},
            {"type": "sigmoid"},
            {"type": "dropout", "rate": 0.3},
            {"type": "flatten"},
            {"type": "batchnorm", "eps": 1e-3},
            {"type": "relu"},
            {"type": "dense", "units": 7},
            {"type": "elu"},
            {"type": "dense", "units": 4},
        ),
    ),
    # a stride larger than the kernel, a 1x1 convolution, windows that skip pixels
    "sparse-stride": NetSpec(
        (1, 17, 15),
        (
            {"type": "conv2d", "filters": 2, "kernel": 1, "stride": 3},
            {"type": "maxpool2d", "kernel": 2, "stride": 3},
            {"type": "flatten"},
            {"type": "dense", "units": 3},
        ),
    ),
}


def _random_layers(rng: np.random.Generator, input_shape) -> list[dict]:
    layers: list[dict] = []

    def fits(candidate: list[dict]) -> bool:
        trial = NetSpec(input_shape, tuple([*candidate, {"type": "flatten"}, {"type": "dense", "units": 3}]))
        try:
            validate(trial)
        except SpecError:
            return False
        return True

    for _ in range(int(rng.integers(1, 4))):
        for _ in range(20):  # draw until a block fits the maps left
            k = int(rng.integers(1, 5))
            kernel = k if rng.random() < 0.6 else [k, int(rng.integers(1, 5))]
            padding = ["valid", "same", int(rng.integers(0, 3))][int(rng.integers(0, 3))]
            block = [
                {
                    "type": "conv2d",
                    "filters": int(rng.integers(1, 6)),
                    "kernel": kernel,
                    "stride": int(rng.integers(1, 4)),
                    "padding": padding,
                }
            ]
            if rng.random() < 0.4:
                block.append({"type": "batchnorm"})
            block.append(dict(ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]))
            if rng.random() < 0.6:
                pk = int(rng.integers(1, 4))
                stride = None if rng.random() < 0.5 else int(rng.integers(1, 4))
                kind = "maxpool2d" if rng.random() < 0.5 else "avgpool2d"
                block.append(
                    {
                        "type": kind,
                        "kernel": pk if rng.random() < 0.7 else [pk, int(rng.integers(1, 4))],
                        "stride": stride,
                    }
                )
            if rng.random() < 0.3:
                block.append({"type": "dropout", "rate": 0.25})
            if fits(layers + block):
                layers += block
                break
    layers.append({"type": "flatten"})
    if rng.random() < 0.5:
        layers.append({"type": "batchnorm"})
    layers += [{"type": "dense", "units": int(rng.integers(3, 13))}, dict(ACTIVATIONS[int(rng.integers(6))])]
    if rng.random() < 0.3:
        layers.append({"type": "dropout", "rate": 0.5})
    layers.append({"type": "dense", "units": int(rng.integers(2, 11))})
    return layers


def random_specs(count: int, seed: int = 15) -> dict[str, NetSpec]:
    """``count`` random valid specs; every other one takes MNIST's 1x28x28, so real digits can go in."""
    rng = np.random.default_rng(seed)
    specs = {}
    for i in range(count):
        shape = (
            (1, 28, 28)
            if i % 2 == 0
            else (int(rng.integers(1, 4)), int(rng.integers(8, 21)), int(rng.integers(8, 21)))
        )
        specs[f"random{i}"] = NetSpec(shape, tuple(_random_layers(rng, shape)), f"random{i}")
    return specs


def all_specs(random_count: int = 16) -> dict[str, NetSpec]:
    specs = {name: load_preset(name) for name in PRESET_NAMES}
    specs.update(HAND_PICKED)
    specs.update(random_specs(random_count))
    return specs


def coverage(specs) -> set[str]:
    """What the specs exercise: layer kinds, and 'padding:valid/same/pixels/asymmetric'."""
    found = set()
    for spec in specs:
        for info in validate(spec):
            found.add(info.type)
            if info.type == "conv2d":
                s = info.settings
                found.add(f"padding:{s['padding'] if isinstance(s['padding'], str) else 'pixels'}")
                _, h, w = info.input_shape
                t, b, left, r = resolve_padding(s["padding"], (h, w), pair(s["kernel"]), s["stride"])
                if t != b or left != r:
                    found.add("padding:asymmetric")
            if info.type in ("maxpool2d", "avgpool2d"):
                kernel, stride = (
                    pair(info.settings["kernel"]),
                    info.settings["stride"] or pair(info.settings["kernel"])[0],
                )
                if stride < max(kernel):
                    found.add("pool:overlapping")
            if info.type == "batchnorm":
                found.add(f"batchnorm:{'maps' if len(info.input_shape) == 3 else 'flat'}")
    return found


def trained_looking(spec: NetSpec, rng: np.random.Generator) -> Network:
    """A network of ``spec`` whose batch norms have running statistics, scales and shifts away from 1 and 0,
    and whose biases are not zero (as after training)."""
    net = build(spec, rng)
    for layer in net.layers:
        for key, value in layer.params.items():
            if key in ("b", "beta"):
                value[...] = rng.normal(0, 0.1, value.shape)
            elif key == "gamma":
                value[...] = rng.uniform(0.5, 1.5, value.shape)
        if "running_var" in layer.buffers:
            layer.buffers["running_mean"][...] = rng.normal(0, 0.5, layer.buffers["running_mean"].shape)
            layer.buffers["running_var"][...] = rng.uniform(0.3, 2.0, layer.buffers["running_var"].shape)
    return net


def inputs(spec: NetSpec, rng: np.random.Generator, n: int = 6) -> np.ndarray:
    return rng.random((n, *spec.input_shape), dtype=np.float32)


def named_nets(rng: np.random.Generator, random_count: int = 16) -> Iterator[tuple[str, Network]]:
    for name, spec in all_specs(random_count).items():
        yield name, trained_looking(spec, rng)
