"""``NetSpec``: a network described as plain, JSON-serialisable data.

The architecture editor edits a spec, never a live network. ``validate`` walks the layers, infers
every output shape and parameter count, and refuses an impossible spec with one ``SpecError`` that
names the layer and says what is wrong in plain words, before ``build`` is ever called.

A spec looks like::

    {"name": "seed", "input_shape": [1, 28, 28], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10}]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlab.engine import layers as L
from cnnlab.engine.init import INITIALISERS
from cnnlab.engine.layers.conv import resolve_padding, window_count
from cnnlab.engine.network import Network


class SpecError(ValueError):
    """An impossible spec. ``index`` is the 0-based layer index (None for the whole network)."""

    def __init__(self, message: str, index: int | None = None, layer_type: str | None = None) -> None:
        self.index, self.layer_type, self.reason = index, layer_type, message
        if index is None:
            super().__init__(message)
        else:
            super().__init__(f"Layer {index + 1} ({layer_type or 'unknown'}): {message}")


# -- field checkers: each returns the cleaned value or raises ValueError with the reason ------------
def _whole(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return int(value)


def positive(value):
    return _whole(value, 1)


def kernel_size(value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"must be one number or [height, width], got {value!r}")
        return [_whole(v, 1) for v in value]
    return _whole(value, 1)


def padding(value):
    if isinstance(value, str):
        if value not in ("valid", "same"):
            raise ValueError(f"must be 'valid', 'same' or a whole number of pixels, got {value!r}")
        return value
    return _whole(value, 0)


def initialiser(value):
    if not isinstance(value, str) or value not in INITIALISERS:
        raise ValueError(f"must be one of {', '.join(sorted(INITIALISERS))}; got {value!r}")
    return value


def rate(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"must be at least 0 and below 1, got {value}")
    return float(value)


def real(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def small_positive(value):
    value = real(value)
    if value <= 0:
        raise ValueError(f"must be above 0, got {value}")
    return value


def name_field(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty text, got {value!r}")
    return value.strip()


@dataclass(frozen=True)
class LayerType:
    """What a layer type accepts: ``fields`` maps a setting to (checker, default); no default = required."""

    kind: str
    label: str
    fields: dict[str, tuple[Callable, Any]] = field(default_factory=dict)
    name_prefix: str = ""
    needs: str = "any"  # "image" (C, H, W), "flat" (F,) or "any"
    description: str = ""

    def defaults(self) -> dict[str, Any]:
        return {k: d for k, (_, d) in self.fields.items() if d is not REQUIRED}


REQUIRED = object()
_INIT = (initialiser, "he_normal")

LAYER_TYPES: dict[str, LayerType] = {
    t.kind: t
    for t in [
        LayerType(
            "conv2d",
            "Convolution",
            {
                "filters": (positive, REQUIRED),
                "kernel": (kernel_size, 3),
                "stride": (positive, 1),
                "padding": (padding, "valid"),
                "init": _INIT,
            },
            "conv",
            "image",
            "Slides small learned filters over the image; each filter makes one feature map.",
        ),
        LayerType(
            "maxpool2d",
            "Max pooling",
            {"kernel": (kernel_size, 2), "stride": (positive, None)},
            "pool",
            "image",
            "Keeps the strongest response in each window, shrinking the maps.",
        ),
        LayerType(
            "avgpool2d",
            "Average pooling",
            {"kernel": (kernel_size, 2), "stride": (positive, None)},
            "pool",
            "image",
            "Averages each window, shrinking the maps.",
        ),
        LayerType(
            "dense",
            "Fully connected",
            {"units": (positive, REQUIRED), "init": _INIT},
            "dense",
            "flat",
            "Every input connects to every unit.",
        ),
        LayerType(
            "flatten", "Flatten", {}, "flatten", "any", "Lays the feature maps out as one long vector."
        ),
        LayerType(
            "dropout",
            "Dropout",
            {"rate": (rate, 0.5)},
            "dropout",
            "any",
            "While training, silences a random share of units so the network cannot rely on any one.",
        ),
        LayerType(
            "batchnorm",
            "Batch normalisation",
            {"momentum": (rate, 0.1), "eps": (small_positive, 1e-5)},
            "bn",
            "any",
            "Normalises each channel over the batch, then rescales it with learned gamma and beta.",
        ),
        LayerType("relu", "ReLU", {}, "relu", "any", "max(0, x)"),
        LayerType(
            "leaky_relu", "Leaky ReLU", {"alpha": (real, 0.01)}, "lrelu", "any", "x, or alpha*x below 0"
        ),
        LayerType("elu", "ELU", {"alpha": (real, 1.0)}, "elu", "any", "x, or alpha*(exp(x)-1) below 0"),
        LayerType("tanh", "Tanh", {}, "tanh", "any", "squashes to (-1, 1)"),
        LayerType("sigmoid", "Sigmoid", {}, "sigmoid", "any", "squashes to (0, 1)"),
    ]
}

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")


@dataclass(frozen=True)
class LayerInfo:
    """What ``validate`` learned about one layer; shapes are per example, without the batch."""

    index: int
    type: str
    name: str
    settings: dict[str, Any]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int


def shape_text(shape: tuple[int, ...]) -> str:
    """(8, 26, 26) -> "8x26x26" (channels first, as the engine stores them)."""
    return "x".join(str(s) for s in shape)


@dataclass(frozen=True)
class NetSpec:
    """A network as plain data: ``input_shape`` (channels, height, width) and a tuple of layer dicts.

    Treat the layer dicts as read-only; make a changed spec with ``replace_layers``.
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    layers: tuple[dict[str, Any], ...] = ()
    name: str = ""

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [dict(layer) for layer in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> NetSpec:
        """Structure only (a dict with a list of layer dicts); ``validate`` checks the meaning."""
        if not isinstance(data, dict):
            raise SpecError(f"a network spec must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"name", "input_shape", "layers"}
        if unknown:
            raise SpecError(f"unknown key(s) in the spec: {', '.join(sorted(unknown))}")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise SpecError("the spec needs a 'layers' list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
                raise SpecError("each layer must be an object with a 'type'", i, None)
        shape = data.get("input_shape", [1, 28, 28])
        if not isinstance(shape, (list, tuple)):
            raise SpecError(f"input_shape must be [channels, height, width], got {shape!r}")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise SpecError(f"the spec's name must be text, got {name!r}")
        return cls(tuple(shape), tuple(dict(layer) for layer in layers), name)

    @classmethod
    def from_json(cls, text: str) -> NetSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)

    def replace_layers(self, layers) -> NetSpec:
        return NetSpec(self.input_shape, tuple(dict(layer) for layer in layers), self.name)

    # -- meaning ----------------------------------------------------------------------------------
    def validate(self, num_classes: int | None = None) -> list[LayerInfo]:
        return validate(self, num_classes)

    def num_params(self) -> int:
        return sum(info.params for info in self.validate())

    def output_shape(self) -> tuple[int, ...]:
        infos = self.validate()
        return infos[-1].output_shape

    def summary(self) -> str:
        return summary(self)


def _check_input_shape(shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(f"input_shape must be [channels, height, width], got {list(shape)}")
    try:
        return tuple(_whole(v, 1) for v in shape)
    except ValueError as exc:
        raise SpecError(f"input_shape {list(shape)}: every size {exc}") from None


def _clean_settings(index: int, layer: dict[str, Any]) -> tuple[LayerType, dict[str, Any], str | None]:
    kind = layer.get("type")
    ltype = LAYER_TYPES.get(kind)
    if ltype is None:
        known = ", ".join(LAYER_TYPES)
        raise SpecError(f"unknown layer type {kind!r}; the known types are {known}", index, kind)
    settings = {}
    for key, value in layer.items():
        if key in ("type", "name"):
            continue
        if key not in ltype.fields:
            allowed = ", ".join(ltype.fields) or "no settings"
            raise SpecError(f"unknown setting {key!r}; {kind} takes {allowed}", index, kind)
        checker, _ = ltype.fields[key]
        if value is None and ltype.fields[key][1] is None:
            settings[key] = None
            continue
        try:
            settings[key] = checker(value)
        except ValueError as exc:
            raise SpecError(f"'{key}' {exc}", index, kind) from None
    for key, (_, default) in ltype.fields.items():
        if key not in settings:
            if default is REQUIRED:
                raise SpecError(f"needs a '{key}' setting", index, kind)
            settings[key] = default
    name = layer.get("name")
    if name is not None:
        try:
            name = name_field(name)
        except ValueError as exc:
            raise SpecError(f"'name' {exc}", index, kind) from None
    return ltype, settings, name


def _infer(index: int, ltype: LayerType, s: dict[str, Any], shape: tuple[int, ...]) -> tuple[tuple, int]:
    """Output shape and parameter count of one layer, or a SpecError explaining why it cannot work."""
    kind = ltype.kind
    if ltype.needs == "image" and len(shape) != 3:
        raise SpecError(
            f"{ltype.label.lower()} needs an image-shaped input (channels x height x width) but gets "
            f"{shape_text(shape)} flat features; move it before the flatten layer",
            index,
            kind,
        )
    if ltype.needs == "flat" and len(shape) != 1:
        raise SpecError(
            f"a fully connected layer needs a flat input but gets a {shape_text(shape)} feature map; "
            "add a flatten layer before it",
            index,
            kind,
        )
    if kind == "conv2d":
        c, h, w = shape
        kh, kw = s["kernel"] if isinstance(s["kernel"], list) else (s["kernel"], s["kernel"])
        pads = resolve_padding(s["padding"], (h, w), (kh, kw), s["stride"])
        ph, pw = h + pads[0] + pads[1], w + pads[2] + pads[3]
        if kh > ph or kw > pw:
            where = f"its {h}x{w} input" + (f" ({ph}x{pw} with padding)" if (ph, pw) != (h, w) else "")
            raise SpecError(
                f"the {kh}x{kw} kernel does not fit in {where}; use a smaller kernel, add padding, "
                "or shrink the maps less before this layer",
                index,
                kind,
            )
        oh, ow = window_count(ph, kh, s["stride"]), window_count(pw, kw, s["stride"])
        return (s["filters"], oh, ow), s["filters"] * (c * kh * kw + 1)
    if kind in ("maxpool2d", "avgpool2d"):
        c, h, w = shape
        kh, kw = s["kernel"] if isinstance(s["kernel"], list) else (s["kernel"], s["kernel"])
        stride = s["stride"] or kh
        if kh > h or kw > w:
            raise SpecError(
                f"a {kh}x{kw} pooling window does not fit in its {h}x{w} input, so nothing would be "
                "left; remove this pooling layer or shrink the maps less before it",
                index,
                kind,
            )
        return (c, window_count(h, kh, stride), window_count(w, kw, stride)), 0
    if kind == "dense":
        return (s["units"],), shape[0] * s["units"] + s["units"]
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "batchnorm":
        return shape, 2 * shape[0]
    return shape, 0


def validate(spec: NetSpec, num_classes: int | None = None) -> list[LayerInfo]:
    """Infer every layer's output shape and parameter count; raise ``SpecError`` if impossible.

    With ``num_classes``, also check that the network ends in that many outputs.
    """
    if not isinstance(spec, NetSpec):
        raise SpecError(f"expected a NetSpec, got {type(spec).__name__}")
    shape: tuple[int, ...] = _check_input_shape(spec.input_shape)
    if not spec.layers:
        raise SpecError("the network has no layers; add at least a flatten and a dense layer")
    infos: list[LayerInfo] = []
    counters: dict[str, int] = {}
    names: set[str] = set()
    for index, layer in enumerate(spec.layers):
        ltype, settings, name = _clean_settings(index, layer)
        if name is None:
            counters[ltype.name_prefix] = counters.get(ltype.name_prefix, 0) + 1
            name = f"{ltype.name_prefix}{counters[ltype.name_prefix]}"
            while name in names:
                counters[ltype.name_prefix] += 1
                name = f"{ltype.name_prefix}{counters[ltype.name_prefix]}"
        if name in names:
            raise SpecError(f"the name {name!r} is already used by another layer", index, ltype.kind)
        names.add(name)
        out, params = _infer(index, ltype, settings, shape)
        infos.append(LayerInfo(index, ltype.kind, name, settings, shape, out, params))
        shape = out
    last = infos[-1]
    if len(shape) != 1:
        raise SpecError(
            f"the network ends with a {shape_text(shape)} feature map, but it must end with one score per "
            "class; finish with a flatten layer and a dense layer",
        )
    if not any(info.params for info in infos if info.type in ("conv2d", "dense")):
        raise SpecError("the network has no convolution or dense layer, so it has nothing to learn")
    if num_classes is not None and shape[0] != num_classes:
        raise SpecError(
            f"the network ends with {shape[0]} outputs but the data has {num_classes} classes; "
            f"set the last dense layer's units to {num_classes}",
            last.index,
            last.type,
        )
    return infos


def summary(spec: NetSpec) -> str:
    """A Keras-style table: layer, output shape, parameters, and the total."""
    infos = validate(spec)
    rows = [("Layer (type)", "Output shape", "Params")]
    rows.append(("input", shape_text(spec.input_shape), "0"))
    rows += [(f"{i.name} ({i.type})", shape_text(i.output_shape), f"{i.params:,}") for i in infos]
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    line = "-" * (sum(widths) + 6)

    def fmt(r):
        return f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:>{widths[2]}}"

    total = sum(i.params for i in infos)
    body = [fmt(rows[0]), line.replace("-", "=")] + [fmt(r) for r in rows[1:]]
    title = f"Network {spec.name!r}" if spec.name else "Network"
    return "\n".join([title, *body, line, f"Total parameters: {total:,}"])


def build(spec: NetSpec, rng: np.random.Generator, dtype=np.float32) -> Network:
    """Make a network with fresh weights drawn from ``rng``; the spec is validated first."""
    infos = validate(spec)
    layers: list[L.Layer] = []
    for info in infos:
        layer = _make_layer(info, rng, dtype)
        layer.name = info.name
        layers.append(layer)
    return Network(layers, spec)


def _make_layer(info: LayerInfo, rng: np.random.Generator, dtype) -> L.Layer:
    s = info.settings
    kernel = tuple(s["kernel"]) if isinstance(s.get("kernel"), list) else s.get("kernel")
    match info.type:
        case "conv2d":
            return L.Conv2D(
                info.input_shape[0], s["filters"], kernel, s["stride"], s["padding"], s["init"], rng, dtype
            )
        case "maxpool2d":
            return L.MaxPool2D(kernel, s["stride"])
        case "avgpool2d":
            return L.AvgPool2D(kernel, s["stride"])
        case "dense":
            return L.Dense(info.input_shape[0], s["units"], s["init"], rng, dtype)
        case "flatten":
            return L.Flatten()
        case "dropout":
            return L.Dropout(s["rate"], rng)
        case "batchnorm":
            return L.BatchNorm(info.input_shape[0], s["momentum"], s["eps"], dtype)
        case "relu":
            return L.ReLU()
        case "leaky_relu":
            return L.LeakyReLU(s["alpha"])
        case "elu":
            return L.ELU(s["alpha"])
        case "tanh":
            return L.Tanh()
        case "sigmoid":
            return L.Sigmoid()
    raise SpecError(f"unknown layer type {info.type!r}", info.index, info.type)
