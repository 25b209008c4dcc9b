"""A built network as an exporter sees it: each layer with its geometry resolved and its arrays, and the
model card (class names, preprocessing) that travels with every exported file.

Both exporters (ONNX, PyTorch) read this, so the rules of the engine that other libraries spell
differently are resolved in one place: 'same' padding becomes explicit (top, bottom, left, right)
pixels for this input size (TensorFlow's rule: an odd leftover row or column goes to the bottom or
right), a pooling stride left as '= kernel' becomes the kernel's height, and a batch normalisation
knows whether it normalises channels (an image) or features (a flat vector).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab import __version__
from cnnlab.bridge.errors import BridgeError
from cnnlab.engine import Budget, NetSpec, Network, validate
from cnnlab.engine.layers.base import pair
from cnnlab.engine.layers.conv import resolve_padding

OUTPUTS = ("probabilities", "logits")


@dataclass(frozen=True)
class Step:
    """One layer: ``name`` and ``kind`` as the spec has them, per-example shapes (no batch axis), the
    checked ``settings`` and its ``arrays`` (parameters and buffers by the layer's keys: "W", "b",
    "gamma", ...; the network's own arrays, not copies)."""

    index: int
    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    settings: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def image(self) -> bool:
        """True if the layer works on (C, H, W) maps, False on a flat (F,) vector."""
        return len(self.input_shape) == 3

    @property
    def kernel(self) -> tuple[int, int]:
        return pair(self.settings["kernel"])

    @property
    def stride(self) -> int:
        """The stride along both axes; a pooling stride left as '= kernel' is the kernel's height."""
        return int(self.settings.get("stride") or self.kernel[0])

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """A convolution's padding in pixels: (top, bottom, left, right), for this input size."""
        _, h, w = self.input_shape
        return tuple(resolve_padding(self.settings["padding"], (h, w), self.kernel, self.stride))


def plan(network: Network) -> list[Step]:
    """The steps of ``network`` (built from a spec), in order."""
    spec = network.spec
    if not isinstance(spec, NetSpec):
        raise BridgeError("only a network built from a spec can be exported")
    infos = validate(spec, budget=Budget.unlimited())  # it is built already: no budget to keep
    if len(infos) != len(network.layers):
        raise BridgeError("the network's layers do not match its spec")
    steps = []
    for info, layer in zip(infos, network.layers, strict=True):
        arrays = {**layer.params, **layer.buffers}
        for key, value in arrays.items():
            if not np.all(np.isfinite(value)):
                raise BridgeError(f"layer {info.name} ({info.type}): its {key} holds NaN or infinite values")
        steps.append(
            Step(info.index, info.name, info.type, info.input_shape, info.output_shape, info.settings, arrays)
        )
    return steps


def class_names_for(network: Network, names: Sequence[str] | None) -> tuple[str, ...]:
    """The class names to write: ``names`` (one per output) or the output indices "0", "1", ..."""
    outputs = int(network.spec.output_shape()[0])
    if names is None:
        return tuple(str(i) for i in range(outputs))
    names = tuple(names)
    if len(names) != outputs or not all(isinstance(n, str) for n in names):
        raise BridgeError(f"the network has {outputs} outputs but {len(names)} class names were given")
    return names


def preprocessing(input_shape: Sequence[int]) -> str:
    """How an image must be prepared for a network taking ``input_shape`` (C, H, W), in words."""
    c, h, w = input_shape
    tensor = f"float32 NCHW tensor of shape (N, {c}, {h}, {w}), values in [0, 1]"
    if (c, h, w) == (1, 28, 28):
        return (
            f"MNIST-style: a {tensor}; grey, ink bright on a dark background (a white digit on black; "
            "invert a dark-on-light scan); the ink's bounding box scaled to fit 20x20 and centred by its "
            "centre of mass in the 28x28 frame, as MNIST was made"
        )
    return f"a {tensor}; ink bright on a dark background, as the lab's MNIST-style data"


def model_card(
    network: Network, class_names: Sequence[str], output: str, dataset: str | None = None
) -> dict[str, str]:
    """What travels with an exported model, as text by key (ONNX metadata_props, the PyTorch README).

    ``class_names`` and ``cnnlab.spec`` are JSON; ``cnnlab.spec`` lets cnnlab restore what a graph does
    not carry (dropout, the layers' names) when the model comes back.
    """
    if output not in OUTPUTS:
        raise BridgeError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    spec = network.spec
    card = {
        "producer": f"cnnlab {__version__}",
        "class_names": json.dumps(list(class_names)),
        "input": "input",
        "output": output,
        "preprocessing": preprocessing(spec.input_shape),
        "cnnlab.spec": spec.to_json(indent=None),
    }
    if dataset:
        card["dataset"] = str(dataset)
    return card
