"""``NetSpec``: a network described as plain, JSON-serialisable data.

The architecture editor edits a spec, never a live network. ``validate`` walks the layers, infers
every output shape and parameter count, and refuses an impossible spec with one ``SpecError`` that
names the layer and says what is wrong in plain words, before ``build`` is ever called. It also
refuses a spec too large to allocate (a ``Budget``: parameters, and the memory one training step
takes), so nothing user-given can make the engine ask for more memory than that.

A spec looks like::

    {"name": "seed", "input_shape": [1, 28, 28], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10}]}

What each layer type accepts, infers and builds is declared by its class (``engine.layers``); this
module only walks the layers and applies those declarations.
"""

from __future__ import annotations

import builtins
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.engine.layers import LAYER_TYPES, Layer
from cnnlab.engine.layers.settings import MAX_WHOLE, layer_name, number_text, short, whole
from cnnlab.engine.network import Network
from cnnlab.engine.reading import loads_json, read_regular, size_text

MAX_LAYERS = 200
MAX_INPUT_SIDE = 4096
MAX_SPEC_CHARS = 1 << 20  # a 200-layer spec, indented, is about 20 KB
MAX_JSON_DEPTH = 8  # a spec nests 4 deep (spec, layers, layer, kernel); a run's config.json one more


class SpecError(ValueError):
    """An impossible spec. ``index`` is the 0-based layer index (None for the whole network)."""

    def __init__(self, message: str, index: int | None = None, layer_type: str | None = None) -> None:
        self.index, self.layer_type, self.reason = index, layer_type, message
        if index is None:
            super().__init__(message)
        else:
            kind = str(layer_type)[:40] if layer_type else "unknown"
            super().__init__(f"Layer {index + 1} ({kind}): {message}")


@dataclass(frozen=True)
class Budget:
    """The most a spec may ask for: parameters, and bytes of activations (float32 outputs, caches and
    scratch) for one training step at ``batch_size``. None: no limit of that kind.

    The default allows every preset many times over and keeps a step well inside a laptop's memory.
    """

    max_params: int | None = 50_000_000
    max_activation_bytes: int | None = 1 << 30
    batch_size: int = 64

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(None, None)

    def at_batch(self, batch_size: int) -> Budget:
        return replace(self, batch_size=int(batch_size))

    def activation_bytes(self, elements_per_example: int) -> int:
        return elements_per_example * self.batch_size * 4

    def check(self, index: int, kind: str, params: int, total_params: int, elements: int, total: int) -> None:
        if self.max_params is not None and total_params > self.max_params:
            raise SpecError(
                f"this layer brings the network to {total_params:,} parameters ({params:,} of them here), "
                f"above the budget of {self.max_params:,}; use fewer filters or units, or shrink the maps "
                "before it",
                index,
                kind,
            )
        if self.max_activation_bytes is not None and self.activation_bytes(total) > self.max_activation_bytes:
            raise SpecError(
                f"one training step at batch {self.batch_size} would hold about "
                f"{size_text(self.activation_bytes(total))} of activations up to this layer "
                f"({size_text(self.activation_bytes(elements))} here), above the budget of "
                f"{size_text(self.max_activation_bytes)}; use fewer filters, a larger stride or smaller "
                "maps, or a smaller batch",
                index,
                kind,
            )


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

    @property
    def layer_type(self) -> builtins.type[Layer]:  # the field ``type`` shadows the builtin here
        return LAYER_TYPES[self.type]

    def params_formula(self) -> str:
        """How the parameter count comes about: "3×3×1×8 = 72 weights + 8 biases = 80"."""
        return self.layer_type.params_formula(self.settings, self.input_shape, self.output_shape, self.params)

    def describe(self) -> str:
        """What the layer does in a few words: "3×3 conv", "ReLU"."""
        return self.layer_type.describe(self.settings)

    def state_shapes(self, buffers: bool = True) -> dict[str, tuple[int, ...]]:
        """Its parameters' (and buffers') shapes by qualified name ("conv1.W"), as ``state_dict`` has them."""
        cls = self.layer_type
        shapes = dict(cls.weight_shapes(self.settings, self.input_shape))
        if buffers:
            shapes.update(cls.buffer_shapes(self.settings, self.input_shape))
        return {f"{self.name}.{key}": tuple(shape) for key, shape in shapes.items()}


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
        """Structure and hard bounds (at most MAX_LAYERS layer dicts, an input shape of three whole numbers
        up to MAX_INPUT_SIDE, no number beyond 2**31); ``validate`` checks the meaning."""
        if not isinstance(data, dict):
            raise SpecError(f"a network spec must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"name", "input_shape", "layers"}
        if unknown:
            raise SpecError(f"unknown key(s) in the spec: {short(', '.join(sorted(map(str, unknown))), 80)}")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise SpecError("the spec needs a 'layers' list")
        _check_layer_count(len(layers))
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
                raise SpecError("each layer must be an object with a 'type'", i, None)
            _check_numbers(i, layer)
        shape = _check_input_shape(data.get("input_shape", [1, 28, 28]))
        name = data.get("name", "")
        if not isinstance(name, str) or len(name) > 200:
            raise SpecError(f"the spec's name must be a text of at most 200 characters, got {short(name)}")
        return cls(shape, tuple(dict(layer) for layer in layers), name)

    @classmethod
    def from_json(cls, text: str) -> NetSpec:
        if len(text) > MAX_SPEC_CHARS:
            raise SpecError(
                f"the spec is {len(text):,} characters long; a spec has at most {MAX_SPEC_CHARS:,}"
            )
        try:
            data = loads_json(text, MAX_JSON_DEPTH)
        except ValueError as exc:
            raise SpecError(f"the spec is not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def replace_layers(self, layers) -> NetSpec:
        return NetSpec(self.input_shape, tuple(dict(layer) for layer in layers), self.name)

    # -- meaning ----------------------------------------------------------------------------------
    def validate(self, num_classes: int | None = None, budget: Budget | None = None) -> list[LayerInfo]:
        return validate(self, num_classes, budget)

    def num_params(self) -> int:
        return sum(info.params for info in validate(self, budget=Budget.unlimited()))

    def output_shape(self) -> tuple[int, ...]:
        return validate(self, budget=Budget.unlimited())[-1].output_shape

    def summary(self) -> str:
        return summary(self)


def read_spec_file(path: str | os.PathLike) -> NetSpec:
    """A spec JSON file, or a run's config.json holding one under "spec". Only a regular file of at most
    MAX_SPEC_CHARS bytes in UTF-8 is read; every problem is one SpecError starting with the file's name.
    The spec is not validated (a spec that cannot be built yet may still be opened in the editor)."""
    path = Path(path)
    try:
        raw = read_regular(path, MAX_SPEC_CHARS, "network spec")
    except FileNotFoundError:
        raise SpecError(f"{path.name}: no such spec file") from None
    except ValueError as exc:
        raise SpecError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise SpecError(f"{path.name}: cannot read the spec file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path.name}: not a UTF-8 text file (byte {exc.start:,} is not text)") from None
    try:
        data = loads_json(text, MAX_JSON_DEPTH)
        if isinstance(data, dict) and "layers" not in data and isinstance(data.get("spec"), dict):
            data = data["spec"]
        return NetSpec.from_dict(data)
    except ValueError as exc:  # SpecError too
        reason = str(exc) if isinstance(exc, SpecError) else f"the spec is not valid JSON ({exc})"
        raise SpecError(f"{path.name}: {reason}") from None


def _check_layer_count(count: int) -> None:
    if count > MAX_LAYERS:
        raise SpecError(f"the spec has {count:,} layers; a network may have at most {MAX_LAYERS}")


def _check_numbers(index: int, layer: dict[str, Any]) -> None:
    """No whole number beyond 2**31 in a layer's settings, before anything computes with them."""
    for key, value in layer.items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and abs(int(v)) > MAX_WHOLE:
                raise SpecError(
                    f"{short(key)} is {number_text(int(v))}, beyond any size a network can have "
                    "(sizes stay below 2^31)",
                    index,
                    layer.get("type"),
                )


def _check_input_shape(shape: Any) -> tuple[int, int, int]:
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise SpecError(f"input_shape must be [channels, height, width], got {short(shape)}")
    try:
        c, h, w = (whole(v, 1, MAX_INPUT_SIDE) for v in shape)
        return c, h, w
    except ValueError as exc:
        raise SpecError(f"input_shape {short(list(shape))}: every size {exc}") from None


def _clean_settings(index: int, layer: dict[str, Any]) -> tuple[type[Layer], dict[str, Any], str | None]:
    kind = layer.get("type")
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(LAYER_TYPES)
        raise SpecError(f"unknown layer type {short(kind)}; the known types are {known}", index, kind)
    settings = {}
    for key, value in layer.items():
        if key in ("type", "name"):
            continue
        setting = cls.setting(key)
        if setting is None:
            allowed = ", ".join(s.name for s in cls.settings) or "no settings"
            raise SpecError(f"unknown setting {short(key)}; {kind} takes {allowed}", index, kind)
        try:
            settings[key] = setting.check(value)
        except ValueError as exc:
            raise SpecError(f"'{key}' {exc}", index, kind) from None
    for setting in cls.settings:
        if setting.name not in settings:
            if setting.required:
                raise SpecError(f"needs a '{setting.name}' setting", index, kind)
            settings[setting.name] = setting.default
    name = layer.get("name")
    if name is not None:
        try:
            name = layer_name(name)
        except ValueError as exc:
            raise SpecError(f"'name' {exc}", index, kind) from None
    return cls, settings, name


def _check_input_rank(index: int, cls: type[Layer], shape: tuple[int, ...]) -> None:
    if cls.needs == "image" and len(shape) != 3:
        raise SpecError(
            f"{cls.label.lower()} needs an image-shaped input (channels x height x width) but gets "
            f"{shape_text(shape)} flat features; move it before the flatten layer",
            index,
            cls.kind,
        )
    if cls.needs == "flat" and len(shape) != 1:
        raise SpecError(
            f"a {cls.label.lower()} layer needs a flat input but gets a {shape_text(shape)} feature map; "
            "add a flatten layer before it",
            index,
            cls.kind,
        )


def validate(spec: NetSpec, num_classes: int | None = None, budget: Budget | None = None) -> list[LayerInfo]:
    """Infer every layer's output shape and parameter count; raise ``SpecError`` if impossible or above
    ``budget`` (default: ``Budget()``).

    With ``num_classes``, also check that the network ends in that many outputs.
    """
    if not isinstance(spec, NetSpec):
        raise SpecError(f"expected a NetSpec, got {type(spec).__name__}")
    budget = Budget() if budget is None else budget
    shape: tuple[int, ...] = _check_input_shape(spec.input_shape)
    if not spec.layers:
        raise SpecError("the network has no layers; add at least a flatten and a dense layer")
    _check_layer_count(len(spec.layers))
    infos: list[LayerInfo] = []
    counters: dict[str, int] = {}
    names: set[str] = set()
    total_params = 0
    total_elements = math.prod(shape)  # the network's batch-last copy of its input
    for index, layer in enumerate(spec.layers):
        cls, settings, name = _clean_settings(index, layer)
        if name is None:
            counters[cls.name_prefix] = counters.get(cls.name_prefix, 0) + 1
            name = f"{cls.name_prefix}{counters[cls.name_prefix]}"
            while name in names:
                counters[cls.name_prefix] += 1
                name = f"{cls.name_prefix}{counters[cls.name_prefix]}"
        if name in names:
            raise SpecError(f"the name {name!r} is already used by another layer", index, cls.kind)
        names.add(name)
        _check_input_rank(index, cls, shape)
        try:
            out = tuple(cls.infer(settings, shape))
        except ValueError as exc:
            raise SpecError(str(exc), index, cls.kind) from None
        params = sum(math.prod(s) for s in cls.weight_shapes(settings, shape).values())
        elements = cls.step_elements(settings, shape, out)
        total_params += params
        total_elements += elements
        budget.check(index, cls.kind, params, total_params, elements, total_elements)
        infos.append(LayerInfo(index, cls.kind, name, settings, shape, out, params))
        shape = out
    last = infos[-1]
    if len(shape) != 1:
        raise SpecError(
            f"the network ends with a {shape_text(shape)} feature map, but it must end with one score per "
            "class; finish with a flatten layer and a dense layer",
        )
    if not any(info.params for info in infos):
        raise SpecError("the network has no convolution or dense layer, so it has nothing to learn")
    if num_classes is not None and shape[0] != num_classes:
        raise SpecError(
            f"the network ends with {shape[0]} outputs but the data has {num_classes} classes; "
            f"set the last dense layer's units to {num_classes}",
            last.index,
            last.type,
        )
    return infos


def state_shapes(
    spec: NetSpec, budget: Budget | None = None, buffers: bool = True
) -> dict[str, tuple[int, ...]]:
    """Every array ``build(spec).state_dict()`` would hold (only the trainable ones without ``buffers``),
    by name, with its shape: computed from the declarations, nothing allocated (checkpoints are checked
    against it before they are read)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for info in validate(spec, budget=budget):
        shapes.update(info.state_shapes(buffers))
    return shapes


def summary(spec: NetSpec) -> str:
    """A Keras-style table: layer, output shape, parameters, and the total."""
    infos = validate(spec, budget=Budget.unlimited())
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


def build(spec: NetSpec, rng: np.random.Generator, dtype=np.float32, budget: Budget | None = None) -> Network:
    """Make a network with fresh weights drawn from ``rng``; the spec is validated (within ``budget``,
    default ``Budget()``) first, so nothing is allocated for a spec that is refused."""
    layers: list[Layer] = []
    for info in validate(spec, budget=budget):
        layer = info.layer_type.create(info.settings, info.input_shape, rng, dtype)
        layer.name = info.name
        layers.append(layer)
    return Network(layers, spec)


def network_from_state(
    spec: NetSpec,
    state: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator | None = None,
    reuse: Network | None = None,
    budget: Budget | None = None,
) -> Network:
    """A network of ``spec`` holding the weights and buffers in ``state`` (a ``state_dict``).

    ``reuse``: a network to load them into if it has this very spec (no new allocation). ``rng`` only
    matters for layers that draw at run time (Dropout). ValueError if ``state`` does not fit the spec.
    """
    network = reuse if reuse is not None and reuse.spec == spec else None
    if network is None:
        network = build(spec, rng if rng is not None else np.random.default_rng(0), budget=budget)
    network.load_state_dict(dict(state))
    return network
