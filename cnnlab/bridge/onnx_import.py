"""An ONNX model made of operators the engine has, opened as a cnnlab network (a spec plus weights).

What can be read is a chain: one float32 input (N, C, H, W) (or (N, 784), taken as a 28x28 image),
each node reading the output of the one before plus stored constants, one output. That is what
``torch.onnx.export`` makes of a small sequential CNN (either exporter) and what cnnlab writes itself.
The operators and what they become:

- Conv (group 1, no dilation, one stride for both axes; pads the same on every side or TensorFlow's
  'same', a Pad node just before it folded in) -> conv2d
- MaxPool / AveragePool (no padding; ceil_mode only where it makes no difference) -> maxpool2d /
  avgpool2d; GlobalAveragePool / GlobalMaxPool, or ReduceMean / ReduceMax over height and width -> a
  pool over the whole map
- BatchNormalization (inference mode) -> batchnorm; Dropout -> dropout; Identity -> nothing
- Flatten(axis=1), or a Reshape / Squeeze to (batch, features) -> flatten (the same (c, h, w) order)
- Gemm, or MatMul followed by Add -> dense (W stored (in, out), as the engine holds it)
- Relu, LeakyRelu, Elu, Tanh, Sigmoid -> the activation; a last Softmax / LogSoftmax is dropped (the
  engine's network ends in logits; the softmax of those is the model's output either way)

Nodes that only compute constants from stored constants (the pads of a ZeroPad2d, as the TorchScript
exporter writes them) are worked out with ONNX's reference implementation. Anything else is refused
with one line naming the node and its operator. The model's metadata gives
class names; a model cnnlab exported also carries its spec, which is used when it describes this very
graph (so dropout and the layers' names come back). Weights come back bit for bit.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # onnx is a dependency; this only protects a trimmed installation or bundle
    from cnnlab.bridge.errors import missing_package

    raise missing_package("onnx", "ONNX export and import") from exc

from cnnlab.bridge.errors import BridgeError
from cnnlab.engine import (
    LAYER_TYPES,
    Budget,
    Checkpoint,
    NetSpec,
    SpecError,
    network_from_state,
    save_checkpoint,
    validate,
)
from cnnlab.engine.layers.base import pair
from cnnlab.engine.layers.conv import resolve_padding
from cnnlab.engine.reading import open_regular, read_regular, size_text

SUPPORTED_OPERATORS = (
    "Conv", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax",
    "BatchNormalization", "Dropout", "Identity", "Flatten", "Reshape", "Squeeze", "Gemm", "MatMul", "Add",
    "Relu", "LeakyRelu", "Elu", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Constant",
)  # fmt: skip
# Operators that may only turn stored constants into other constants (shapes, pads), never the data.
_FOLDABLE = frozenset(
    ("Cast", "Concat", "ConstantOfShape", "Gather", "Reshape", "Slice", "Squeeze", "Unsqueeze", "Transpose",
     "Identity", "Add", "Sub", "Mul", "Div", "Neg")
)  # fmt: skip
_MAX_FOLDED = 1 << 20
_GRAPH_SLACK = 64 << 20  # beyond the weights: the graph itself, names, metadata
_WEIGHT_NAMES = {
    "conv2d": ("W", "b"),
    "dense": ("W", "b"),
    "batchnorm": ("gamma", "beta", "running_mean", "running_var"),
}


class _Refused(Exception):
    """Why one node cannot be read (the reader adds the node and the file)."""


@dataclass
class _Layer:
    node: str  # "node 'conv1' (Conv)", for messages
    layer: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class _Reader:
    """Walks the nodes in order, keeping the current tensor's name and per-example shape."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.constants: dict[str, np.ndarray] = {}
        self.notes: list[str] = []
        for tensor in self.graph.initializer:
            self.constants[tensor.name] = _array(tensor, self.notes)
        self.layers: list[_Layer] = []
        self.pending_pad: tuple[int, int, int, int] | None = None
        self.open_dense: _Layer | None = None  # a MatMul whose bias an Add may still bring
        self.final: str | None = None  # "softmax" or "log-softmax" once the graph has ended in one
        self.batch: int | None = None
        self.current, self.shape, flat_input = self._input()
        self.input_shape: tuple[int, int, int] = self.shape if not flat_input else _IMAGE_OF[flat_input]
        if flat_input:
            self.shape = self.input_shape
            self._append("the input", {"type": "flatten"})
        self.readers = _count_readers(self.graph)

    # -- the input and the output ---------------------------------------------------------------------
    def _input(self) -> tuple[str, tuple[int, ...], int]:
        inputs = [v for v in self.graph.input if v.name not in self.constants]
        if len(inputs) != 1:
            raise _Refused(f"the graph has {len(inputs)} inputs; cnnlab reads a network with one image input")
        value = inputs[0]
        kind = value.type.tensor_type
        if not value.type.HasField("tensor_type") or kind.elem_type != TensorProto.FLOAT:
            dtype = helper.tensor_dtype_to_np_dtype(kind.elem_type) if kind.elem_type else "no"
            raise _Refused(f"its input {value.name!r} holds {dtype} values, not float32")
        dims = list(kind.shape.dim)
        sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(sizes) not in (2, 4) or any(s is None or s < 1 for s in sizes[1:]):
            shown = "x".join("?" if s is None else str(s) for s in sizes) or "no fixed shape"
            raise _Refused(
                f"its input {value.name!r} is {shown}; cnnlab reads (batch, channels, height, width) with "
                "the channels, height and width fixed"
            )
        self.batch = sizes[0]
        if len(sizes) == 2:
            if sizes[1] not in _IMAGE_OF:
                raise _Refused(
                    f"its input {value.name!r} is a flat vector of {sizes[1]} values, not an image"
                )
            self.notes.append(f"the flat input of {sizes[1]} values is read as a 28x28 image, row by row")
            return value.name, (sizes[1],), sizes[1]
        return value.name, tuple(sizes[1:]), 0

    def finish(self) -> None:
        if self.pending_pad is not None:
            raise _Refused("the graph ends in a Pad node")
        outputs = [v.name for v in self.graph.output]
        if outputs != [self.current]:
            raise _Refused(
                f"the graph's outputs are {', '.join(map(repr, outputs))}; cnnlab reads one output, the last "
                "node's"
            )
        if len(self.shape) != 1:
            raise _Refused("the graph ends in feature maps, not one score per class")

    # -- the nodes ------------------------------------------------------------------------------------
    def read(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise _Refused(f"an operator of the {node.domain!r} domain, which the engine does not have")
        if op == "Constant":
            self.constants[node.output[0]] = _constant(node)
            return
        if self._fold(node):
            return
        handler = _HANDLERS.get(op)
        if handler is None:
            raise _Refused(
                "an operator the engine does not have; cnnlab opens graphs made of "
                + ", ".join(SUPPORTED_OPERATORS)
            )
        if self.final is not None:
            raise _Refused(f"it comes after the graph's final {self.final}")
        if self.pending_pad is not None and op != "Conv":
            raise _Refused("it follows a Pad node; the engine pads only inside a convolution")
        data = self._data_input(node)
        for extra in node.output[1:]:
            if extra and self.readers.get(extra, 0):
                raise _Refused(f"its second output {extra!r} is used; cnnlab reads only the main output")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        previous_dense, self.open_dense = self.open_dense, None
        handler(self, node, data, attrs, previous_dense)
        self.current = node.output[0]

    def _fold(self, node: onnx.NodeProto) -> bool:
        """Work out a node that only does arithmetic on stored constants (the TorchScript exporter computes
        a ZeroPad2d's pads so), with ONNX's own reference implementation; False if it is not such a node."""
        inputs = [name for name in node.input if name]
        if node.op_type not in _FOLDABLE or not inputs or not all(n in self.constants for n in inputs):
            return False
        values = [self.constants[n] for n in inputs]
        size = sum(v.size for v in values)
        if node.op_type == "ConstantOfShape":
            size = math.prod(int(d) for d in values[0].reshape(-1))
        if size > _MAX_FOLDED:
            raise _Refused(f"it computes a constant of {size:,} values, more than a layer's settings need")
        from onnx.reference import ReferenceEvaluator  # only here: most graphs need no folding

        try:
            results = ReferenceEvaluator(node, opsets={"": self.opset}).run(
                None, dict(zip(inputs, values, strict=True))
            )
        except Exception as exc:  # the reference implementation's own refusal of a malformed node
            raise _Refused(f"its constants cannot be worked out ({type(exc).__name__})") from None
        for name, value in zip(node.output, results, strict=False):
            self.constants[name] = np.asarray(value)
        return True

    def _data_input(self, node: onnx.NodeProto) -> int:
        """Which input is the tensor flowing down the chain (the rest must be stored constants)."""
        positions = [i for i, name in enumerate(node.input) if name == self.current]
        if not positions:
            raise _Refused(
                f"it reads {', '.join(repr(n) for n in node.input if n) or 'nothing'}, not the output of the "
                "node before; cnnlab opens a chain of layers"
            )
        readers = self.readers.get(self.current, 0)
        if readers > 1:
            raise _Refused(
                f"the tensor {self.current!r} it reads feeds {readers} nodes; cnnlab opens a chain of "
                "layers, without branches"
            )
        return positions[0]

    def const(
        self, node: onnx.NodeProto, position: int, what: str, optional: bool = False
    ) -> np.ndarray | None:
        name = node.input[position] if position < len(node.input) else ""
        if not name:
            if optional:
                return None
            raise _Refused(f"it has no {what}")
        if name not in self.constants:
            raise _Refused(f"its {what} {name!r} is computed in the graph, not stored in it")
        return self.constants[name]

    def _append(
        self, node: str, layer: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> _Layer:
        kind = layer["type"]
        cls = LAYER_TYPES[kind]
        try:
            settings = {
                s.name: s.check(layer[s.name]) if s.name in layer else s.default for s in cls.settings
            }
            self.shape = tuple(cls.infer(settings, self.shape))
        except ValueError as exc:
            raise _Refused(str(exc)) from None
        entry = _Layer(node, layer, dict(arrays or {}))
        self.layers.append(entry)
        return entry

    def add(self, node: onnx.NodeProto, layer: dict[str, Any], arrays: dict[str, np.ndarray] | None = None):
        return self._append(_label(node), layer, arrays)

    def need(self, rank: int, what: str) -> None:
        if len(self.shape) != rank:
            have = "feature maps" if len(self.shape) == 3 else "a flat vector"
            raise _Refused(f"it needs {what}, but gets {have} ({'x'.join(map(str, self.shape))})")

    def flatten_to(self, node: onnx.NodeProto, features: int) -> None:
        """A reshape-like node whose result has ``features`` values per example, batch kept."""
        if features != math.prod(self.shape):
            raise _Refused(
                f"it reshapes {'x'.join(map(str, self.shape))} into {features} features; cnnlab reads only a "
                "flattening into (batch, features)"
            )
        if len(self.shape) > 1:
            self.add(node, {"type": "flatten"})


def _label(node: onnx.NodeProto, index: int | None = None) -> str:
    name = repr(node.name) if node.name else f"#{index + 1}" if index is not None else "(unnamed)"
    return f"node {name} ({node.op_type})"


_IMAGE_OF = {784: (1, 28, 28)}


def _count_readers(graph: onnx.GraphProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in graph.node:
        for name in set(node.input):
            if name:
                counts[name] = counts.get(name, 0) + 1
    for value in graph.output:
        counts[value.name] = counts.get(value.name, 0) + 1
    return counts


def _array(tensor: onnx.TensorProto, notes: list[str]) -> np.ndarray:
    if tensor.data_location == TensorProto.EXTERNAL:
        raise _Refused(
            f"its tensor {tensor.name!r} is stored in a separate file; open the .onnx file itself, with that "
            "file beside it"
        )
    value = numpy_helper.to_array(tensor)
    if value.dtype.kind == "f" and value.dtype != np.float32:
        notes.append(f"{tensor.name} was stored as {value.dtype} and is read as float32")
        value = value.astype(np.float32)
    elif value.dtype.kind not in "fiub":
        raise _Refused(
            f"its tensor {tensor.name!r} holds {value.dtype} values, which the engine does not use"
        )
    return value


def _constant(node: onnx.NodeProto) -> np.ndarray:
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if attribute.name == "value":
            return _array(value, [])
        if attribute.name in ("value_float", "value_floats"):
            return np.asarray(value, dtype=np.float32)
        if attribute.name in ("value_int", "value_ints"):
            return np.asarray(value, dtype=np.int64)
    raise _Refused("a constant of a kind cnnlab does not read")


def _float(value) -> float:
    """An ONNX attribute (float32) as the shortest decimal of the same float32: 0.01, not 0.0099999998."""
    return float(str(np.float32(value)))


def _ints(attrs: dict[str, Any], name: str, default: Sequence[int]) -> list[int]:
    return [int(v) for v in attrs.get(name, default)]


def _one_stride(attrs: dict[str, Any]) -> int:
    strides = _ints(attrs, "strides", (1, 1))
    if len(set(strides)) != 1:
        raise _Refused(f"its strides {strides} differ between the axes; the engine moves by one stride")
    return strides[0]


def _no_dilation(attrs: dict[str, Any]) -> None:
    if any(d != 1 for d in _ints(attrs, "dilations", (1, 1))):
        raise _Refused(f"it is dilated ({_ints(attrs, 'dilations', ())}), which the engine does not have")


def _kernel_setting(kh: int, kw: int) -> int | list[int]:
    return kh if kh == kw else [kh, kw]


def _auto_pads(attrs: dict[str, Any], size, kernel, stride) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) from auto_pad, or None for NOTSET (explicit pads)."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto == "NOTSET":
        return None
    if auto == "VALID":
        return (0, 0, 0, 0)
    upper = resolve_padding("same", size, kernel, stride)
    if auto == "SAME_UPPER":
        return tuple(upper)
    if auto == "SAME_LOWER":
        return (upper[1], upper[0], upper[3], upper[2])
    raise _Refused(f"its auto_pad {auto!r} is not one ONNX defines")


def _conv(r: _Reader, node, data, attrs, _) -> None:
    r.need(3, "feature maps")
    weights = r.const(node, 1, "weights")
    c, h, w = r.shape
    if weights.ndim != 4:
        raise _Refused(f"its weights are {weights.ndim}-D; a 2-D convolution has (out, in, kh, kw)")
    f, cin, kh, kw = weights.shape
    if int(attrs.get("group", 1)) != 1 or cin != c:
        raise _Refused(
            f"it is a grouped convolution ({attrs.get('group', 1)} groups, {cin} of {c} channels per "
            "filter), which the engine does not have"
        )
    if _ints(attrs, "kernel_shape", (kh, kw)) != [kh, kw]:
        raise _Refused(f"its kernel_shape {_ints(attrs, 'kernel_shape', ())} does not match its weights")
    _no_dilation(attrs)
    stride = _one_stride(attrs)
    pads = _auto_pads(attrs, (h, w), (kh, kw), stride)
    if pads is None:
        top, left, bottom, right = _ints(attrs, "pads", (0, 0, 0, 0))
        pads = (top, bottom, left, right)
    if r.pending_pad is not None:
        pads = tuple(a + b for a, b in zip(pads, r.pending_pad, strict=True))
        r.pending_pad = None
    if len(set(pads)) == 1:
        padding: int | str = pads[0] or "valid"
    elif pads == tuple(resolve_padding("same", (h, w), (kh, kw), stride)):
        padding = "same"
    else:
        raise _Refused(
            "its padding (top, bottom, left, right) = ({}, {}, {}, {}) is not one the engine has: the same "
            "on every side, or 'same'".format(*pads)
        )
    bias = r.const(node, 2, "bias", optional=True)
    bias = np.zeros(f, np.float32) if bias is None else bias.reshape(-1)
    if bias.shape != (f,):
        raise _Refused(f"its bias has {bias.size} values for {f} filters")
    layer = {
        "type": "conv2d",
        "filters": int(f),
        "kernel": _kernel_setting(kh, kw),
        "stride": stride,
        "padding": padding,
    }
    r.add(node, layer, {"W": weights, "b": bias})


def _pad(r: _Reader, node, data, attrs, _) -> None:
    r.need(3, "feature maps")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    pads = r.const(node, 1, "pads", optional=True) if r.opset >= 11 else None
    pads = [int(p) for p in (pads if pads is not None else attrs.get("pads", ()))]
    value = r.const(node, 2, "padding value", optional=True) if r.opset >= 11 else None
    value = float(attrs.get("value", 0.0)) if value is None else float(np.asarray(value).reshape(-1)[0])
    axes = r.const(node, 3, "axes", optional=True) if r.opset >= 18 else None
    if axes is not None:  # pads for the axes named only: spread them over all four
        axes = [int(a) % 4 for a in np.asarray(axes).reshape(-1)]
        if len(pads) != 2 * len(axes):
            raise _Refused(f"it has {len(pads)} pads for {len(axes)} axes")
        full = [0] * 8
        for i, axis in enumerate(axes):
            full[axis], full[axis + 4] = pads[i], pads[i + len(axes)]
        pads = full
    if mode != "constant" or value != 0.0:
        raise _Refused(f"it pads with {mode} {value:g}; the engine pads with zeros only")
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        raise _Refused(f"its pads {pads} are not zeros around the height and width of (N, C, H, W)")
    r.pending_pad = (pads[2], pads[6], pads[3], pads[7])  # the next node, a Conv, takes them in


def _pool(kind: str) -> Callable:
    def read(r: _Reader, node, data, attrs, _) -> None:
        r.need(3, "feature maps")
        c, h, w = r.shape
        kh, kw = _ints(attrs, "kernel_shape", ())[:2] or (0, 0)
        if not kh:
            raise _Refused("it has no kernel_shape")
        _no_dilation(attrs)
        stride = _one_stride(attrs)
        pads = _auto_pads(attrs, (h, w), (kh, kw), stride)
        if pads is None:
            pads = tuple(_ints(attrs, "pads", (0, 0, 0, 0)))
        if any(pads):
            raise _Refused(f"it pads its input ({list(pads)}); the engine's pooling does not pad")
        if int(attrs.get("storage_order", 0)) != 0:
            raise _Refused("it stores indices column-major, which cnnlab does not read")
        if int(attrs.get("ceil_mode", 0)):
            ceil = [math.ceil((n - k) / stride) + 1 for n, k in ((h, kh), (w, kw))]
            floor = [(n - k) // stride + 1 for n, k in ((h, kh), (w, kw))]
            if ceil != floor:
                raise _Refused("it keeps partial windows (ceil_mode), the engine drops them")
        layer = {"type": kind, "kernel": _kernel_setting(kh, kw), "stride": None if stride == kh else stride}
        r.add(node, layer)

    return read


def _global_pool(kind: str) -> Callable:
    def read(r: _Reader, node, data, attrs, _) -> None:
        r.need(3, "feature maps")
        _, h, w = r.shape
        r.add(node, {"type": kind, "kernel": _kernel_setting(h, w), "stride": None})

    return read


def _reduce(kind: str) -> Callable:
    """ReduceMean / ReduceMax over height and width: a pooling over the whole map (what the newer exporter
    makes of AdaptiveAvgPool2d(1)); without keepdims, a flatten after it."""

    def read(r: _Reader, node, data, attrs, _) -> None:
        r.need(3, "feature maps")
        axes = r.const(node, 1, "axes", optional=True) if r.opset >= 18 else attrs.get("axes")
        axes = sorted({int(a) % 4 for a in np.asarray(axes if axes is not None else []).reshape(-1)})
        if axes != [2, 3]:
            raise _Refused(
                f"it reduces over axes {axes}; cnnlab reads a reduction over height and width (2, 3)"
            )
        _, h, w = r.shape
        r.add(node, {"type": kind, "kernel": _kernel_setting(h, w), "stride": None})
        if not int(attrs.get("keepdims", 1)):
            r.add(node, {"type": "flatten"})

    return read


def _batchnorm(r: _Reader, node, data, attrs, _) -> None:
    if int(attrs.get("training_mode", 0)) or not int(attrs.get("spatial", 1)):
        raise _Refused("it is in training mode or not spatial; cnnlab reads batch norm for inference")
    arrays = {
        key: r.const(node, i + 1, key.replace("_", " ")) for i, key in enumerate(_WEIGHT_NAMES["batchnorm"])
    }
    channels = r.shape[0]
    for key, value in arrays.items():
        if value.size != channels:
            raise _Refused(f"its {key.replace('_', ' ')} has {value.size} values for {channels} channels")
        arrays[key] = value.reshape(channels)
    layer: dict[str, Any] = {"type": "batchnorm", "eps": _float(attrs.get("epsilon", 1e-5))}
    if "momentum" in attrs:  # ONNX keeps this much of the running value; the engine states the new share
        momentum = _float(1.0 - _float(attrs["momentum"]))
        if 0.0 <= momentum < 1.0:
            layer["momentum"] = momentum
    r.add(node, layer, arrays)


def _dropout(r: _Reader, node, data, attrs, _) -> None:
    ratio = r.const(node, 1, "ratio", optional=True) if r.opset >= 12 else None
    training = r.const(node, 2, "training mode", optional=True) if r.opset >= 12 else None
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise _Refused("it is in training mode")
    rate = _float(np.asarray(ratio).reshape(-1)[0] if ratio is not None else attrs.get("ratio", 0.5))
    r.add(node, {"type": "dropout", "rate": rate})


def _identity(r: _Reader, node, data, attrs, _) -> None:
    pass


def _flatten(r: _Reader, node, data, attrs, _) -> None:
    rank = len(r.shape) + 1
    axis = int(attrs.get("axis", 1))
    if (axis % rank if axis < 0 else axis) != 1:
        raise _Refused(
            f"it flattens from axis {axis}; cnnlab reads a flattening that keeps the batch (axis 1)"
        )
    r.flatten_to(node, math.prod(r.shape))


def _reshape(r: _Reader, node, data, attrs, _) -> None:
    target = [int(v) for v in np.asarray(r.const(node, 1, "target shape")).reshape(-1)]
    features = math.prod(r.shape)
    batch_ok = len(target) == 2 and (target[0] in (-1, 0) or target[0] == r.batch)
    if not batch_ok or target[1] not in (-1, features) or target == [-1, -1]:
        raise _Refused(f"it reshapes to {target}; cnnlab reads only a flattening into (batch, features)")
    r.flatten_to(node, features)


def _squeeze(r: _Reader, node, data, attrs, _) -> None:
    axes = r.const(node, 1, "axes", optional=True) if r.opset >= 13 else attrs.get("axes")
    rank = len(r.shape) + 1
    dims = (None, *r.shape)
    if axes is None:
        axes = [i for i in range(1, rank) if dims[i] == 1]
    axes = sorted({int(a) % rank for a in np.asarray(axes).reshape(-1)})
    if 0 in axes or any(dims[a] != 1 for a in axes):
        raise _Refused(
            f"it squeezes axes {axes} of {'x'.join(map(str, r.shape))}, which are not all of size 1"
        )
    if rank - len(axes) != 2:
        raise _Refused("it leaves more than (batch, features); cnnlab reads only a flattening")
    r.flatten_to(node, math.prod(r.shape))


def _dense_layer(r: _Reader, node, weights: np.ndarray, bias: np.ndarray | None) -> _Layer:
    r.need(1, "a flat vector (after a flatten)")
    if weights.ndim != 2 or weights.shape[0] != r.shape[0]:
        raise _Refused(f"its weights are {'x'.join(map(str, weights.shape))} for {r.shape[0]} inputs")
    units = weights.shape[1]
    if bias is None:
        bias = np.zeros(units, np.float32)
    elif bias.size == 1 and units != 1:
        bias = np.full(units, bias.reshape(-1)[0], np.float32)
    elif bias.size != units or (bias.ndim == 2 and bias.shape[0] != 1):
        raise _Refused(f"its bias has shape {bias.shape} for {units} units")
    return r.add(node, {"type": "dense", "units": int(units)}, {"W": weights, "b": bias.reshape(units)})


def _gemm(r: _Reader, node, data, attrs, _) -> None:
    if data != 0 or int(attrs.get("transA", 0)):
        raise _Refused("it multiplies the weights by the input from the left; the engine computes x @ W")
    weights = r.const(node, 1, "weights")
    if int(attrs.get("transB", 0)):
        weights = np.ascontiguousarray(weights.T)  # PyTorch's Linear stores (out, in)
    bias = r.const(node, 2, "bias", optional=True)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if alpha != 1.0:
        weights = (weights * np.float32(alpha)).astype(np.float32)
    if bias is not None and beta != 1.0:
        bias = (bias * np.float32(beta)).astype(np.float32)
    _dense_layer(r, node, weights, bias)


def _matmul(r: _Reader, node, data, attrs, _) -> None:
    if data != 0:
        raise _Refused("it multiplies the weights by the input from the left; the engine computes x @ W")
    r.open_dense = _dense_layer(r, node, r.const(node, 1, "weights"), None)


def _add(r: _Reader, node, data, attrs, dense: _Layer | None) -> None:
    if dense is None:
        raise _Refused(
            "it adds a constant outside a dense layer (MatMul + Add), which the engine does not have"
        )
    bias = r.const(node, 1 - data, "bias")
    units = dense.layer["units"]
    if bias.size != units or bias.ndim > 2 or (bias.ndim == 2 and bias.shape[0] != 1):
        raise _Refused(f"its bias has shape {bias.shape} for {units} units")
    dense.arrays["b"] = bias.reshape(units).astype(np.float32)
    dense.node += f" + {_label(node)}"


def _activation(kind: str, alpha: float | None = None) -> Callable:
    def read(r: _Reader, node, data, attrs, _) -> None:
        layer = {"type": kind}
        if alpha is not None:
            layer["alpha"] = _float(attrs.get("alpha", alpha))
        r.add(node, layer)

    return read


def _softmax(what: str) -> Callable:
    def read(r: _Reader, node, data, attrs, _) -> None:
        r.need(1, "one score per class")
        axis = int(attrs.get("axis", -1 if r.opset >= 13 else 1))
        if axis not in (1, -1):
            raise _Refused(f"it normalises over axis {axis}, not over the classes")
        r.final = what

    return read


_HANDLERS: dict[str, Callable] = {
    "Conv": _conv,
    "Pad": _pad,
    "MaxPool": _pool("maxpool2d"),
    "AveragePool": _pool("avgpool2d"),
    "GlobalAveragePool": _global_pool("avgpool2d"),
    "GlobalMaxPool": _global_pool("maxpool2d"),
    "ReduceMean": _reduce("avgpool2d"),
    "ReduceMax": _reduce("maxpool2d"),
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "Identity": _identity,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add,
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leaky_relu", 0.01),
    "Elu": _activation("elu", 1.0),
    "Tanh": _activation("tanh"),
    "Sigmoid": _activation("sigmoid"),
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("log-softmax"),
}


# -- from a model to a checkpoint ---------------------------------------------------------------------


def checkpoint_from_onnx(
    model: onnx.ModelProto, source: str = "the model", budget: Budget | None = None
) -> Checkpoint:
    """``model`` as an engine ``Checkpoint`` (spec, weights, metadata with class names); ``source`` names
    it in messages. BridgeError naming the node and operator for anything the engine does not have."""
    try:
        reader = _Reader(model)
    except _Refused as exc:
        raise BridgeError(f"{source}: {exc}") from None
    for index, node in enumerate(model.graph.node):
        try:
            reader.read(node)
        except _Refused as exc:
            raise BridgeError(f"{source}: {_label(node, index)}: {exc}") from None
    try:
        reader.finish()
    except _Refused as exc:
        raise BridgeError(f"{source}: {exc}") from None
    props = {p.key: p.value for p in model.metadata_props}
    name = model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit", "cnnlab") else ""
    spec = NetSpec(reader.input_shape, tuple(layer.layer for layer in reader.layers), name[:200])
    try:
        infos = validate(spec, budget=budget)
    except SpecError as exc:
        where = reader.layers[exc.index].node if exc.index is not None else "the network"
        raise BridgeError(f"{source}: {where}: {exc.reason}") from None
    weights = {}
    for info, layer in zip(infos, reader.layers, strict=True):
        for key, value in layer.arrays.items():
            if not np.all(np.isfinite(value)):
                raise BridgeError(f"{source}: {layer.node}: its {key} holds NaN or infinite values")
            weights[f"{info.name}.{key}"] = np.array(value, dtype=np.float32)
    spec, weights = _restore_cnnlab_spec(props.get("cnnlab.spec"), spec, weights)
    metadata = _metadata(props, model, source, int(infos[-1].output_shape[0]), reader)
    checkpoint = Checkpoint(spec, weights, None, metadata, None, budget)
    try:
        checkpoint.build_network()  # proves the weights fit, before anyone uses the checkpoint
    except (ValueError, SpecError) as exc:
        raise BridgeError(f"{source}: {exc}") from None
    return checkpoint


def _restore_cnnlab_spec(text: str | None, spec: NetSpec, weights: dict[str, np.ndarray]):
    """cnnlab's own spec from the metadata, if it describes this very graph (its dropout layers aside), with
    the weights renamed to its layers' names; else the spec read from the graph."""
    if not text:
        return spec, weights
    try:
        saved = NetSpec.from_json(text)
        saved_infos = [i for i in validate(saved, budget=Budget.unlimited()) if i.type != "dropout"]
        read_infos = [i for i in validate(spec, budget=Budget.unlimited()) if i.type != "dropout"]
    except SpecError:
        return spec, weights
    if saved.input_shape != spec.input_shape or len(saved_infos) != len(read_infos):
        return spec, weights
    renamed = {}
    for ours, theirs in zip(read_infos, saved_infos, strict=True):
        if _geometry(ours) != _geometry(theirs):
            return spec, weights
        for key in ours.state_shapes():
            renamed[f"{theirs.name}.{key.partition('.')[2]}"] = weights[key]
    return saved, renamed


def _geometry(info) -> tuple:
    """What decides a layer's arithmetic (not its name, initialiser or momentum)."""
    s = info.settings
    if info.type == "conv2d":
        kernel = pair(s["kernel"])
        c, h, w = info.input_shape
        pads = resolve_padding(s["padding"], (h, w), kernel, s["stride"])
        return (info.type, info.output_shape, kernel, s["stride"], tuple(pads))
    if info.type in ("maxpool2d", "avgpool2d"):
        return (info.type, info.output_shape, pair(s["kernel"]), s["stride"] or pair(s["kernel"])[0])
    # ONNX holds alpha and eps as float32: compare them at that precision
    keep = {k: np.float32(v) for k, v in s.items() if k not in ("init", "momentum")}
    return (info.type, info.output_shape, tuple(sorted(keep.items())))


def _metadata(props: dict[str, str], model: onnx.ModelProto, source: str, outputs: int, reader: _Reader):
    metadata: dict[str, Any] = {"imported_from": source}
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    if producer:
        metadata["producer"] = producer[:100]
    try:
        names = json.loads(props.get("class_names", "null"))
    except ValueError:
        names = None
    if isinstance(names, list) and len(names) == outputs and all(isinstance(n, str) for n in names):
        metadata["class_names"] = names
    if isinstance(props.get("dataset"), str) and props["dataset"]:
        metadata["dataset"] = props["dataset"][:64]
    if reader.final:
        reader.notes.append(f"the final {reader.final} is left out: the network gives logits")
    if reader.notes:
        metadata["import_notes"] = reader.notes
    return metadata


def _read_external(model: onnx.ModelProto, folder: Path, limit: int, source: str) -> None:
    """Bring in weights stored in a file beside the model (what torch.onnx.export writes by default with
    its newer exporter: MODEL.onnx.data). Only regular files inside the model's own folder are read, each
    tensor exactly its size, all of them together within ``limit`` bytes."""
    total = 0
    inside = folder.resolve()
    for tensor in model.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        path = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not path.is_relative_to(inside):
            raise BridgeError(
                f"{source}: its tensor {tensor.name!r} points to {location[:80]!r}, outside the model's "
                "folder"
            )
        try:
            dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
            size = math.prod(tensor.dims) * dtype.itemsize
            offset, length = int(info.get("offset", 0)), int(info.get("length", size))
        except (KeyError, TypeError, ValueError):
            raise BridgeError(f"{source}: its tensor {tensor.name!r} has a damaged description") from None
        if length != size or offset < 0:
            raise BridgeError(f"{source}: its tensor {tensor.name!r} claims {length:,} bytes for {size:,}")
        total += size
        if total > limit:
            raise BridgeError(
                f"{source}: its weights files hold more than the {size_text(limit)} a model may have"
            )
        try:
            with open_regular(path) as handle:
                handle.seek(offset)
                data = handle.read(size)
        except FileNotFoundError:
            raise BridgeError(
                f"{source}: its weights file {location[:80]!r} is missing; keep it beside the model"
            ) from None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BridgeError(
                f"{source}: cannot read its weights file {location[:80]!r} ({reason})"
            ) from None
        if len(data) != size:
            raise BridgeError(
                f"{source}: its weights file {location[:80]!r} ends before tensor {tensor.name!r}"
            )
        tensor.raw_data = data
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def _max_bytes(budget: Budget | None) -> int:
    budget = Budget() if budget is None else budget
    if budget.max_params is None:
        return 2 << 30  # protobuf's own limit for one message
    return min(budget.max_params * 8 + _GRAPH_SLACK, 2 << 30)


def read_onnx(path: str | os.PathLike, budget: Budget | None = None) -> Checkpoint:
    """An ONNX file as an engine ``Checkpoint`` (``path`` set to it): the file is read only if its size
    fits ``budget`` (default ``Budget()``: 50 M parameters), checked by ``onnx.checker``, then translated.
    BridgeError in one line naming the file (and the node and operator) for every problem."""
    path = Path(path)
    limit = _max_bytes(budget)
    try:
        data = read_regular(path, limit, "model file")
    except FileNotFoundError:
        raise BridgeError(f"{path.name}: no such file") from None
    except ValueError as exc:
        raise BridgeError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise BridgeError(f"{path.name}: cannot read it ({exc.strerror or exc})") from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BridgeError(f"{path.name}: not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise BridgeError(f"{path.name}: not an ONNX model (it has no graph), or an empty one")
    _read_external(model, path.parent, limit - len(data), path.name)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = " ".join(str(exc).split())[:200]
        raise BridgeError(f"{path.name}: the ONNX checker refused it ({first})") from None
    checkpoint = checkpoint_from_onnx(model, path.name, budget)
    return Checkpoint(checkpoint.spec, checkpoint.weights, None, checkpoint.metadata, path, budget)


def import_onnx(
    path: str | os.PathLike, out: str | os.PathLike, budget: Budget | None = None
) -> tuple[Checkpoint, Path]:
    """``read_onnx(path)`` saved as a cnnlab checkpoint at ``out`` (atomically; WriteError if it cannot be
    written). Returns the checkpoint and the path written."""
    checkpoint = read_onnx(path, budget)
    network = network_from_state(checkpoint.spec, checkpoint.weights, budget=budget)
    written = save_checkpoint(out, network, metadata=checkpoint.metadata)
    return checkpoint, written


def describe(checkpoint: Checkpoint) -> str:
    """A few lines on an imported model: its layers, parameters, class names and notes."""
    lines = [checkpoint.spec.summary()]
    names = checkpoint.metadata.get("class_names")
    if names:
        lines.append(f"Classes: {', '.join(names)}")
    for note in checkpoint.metadata.get("import_notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines)
