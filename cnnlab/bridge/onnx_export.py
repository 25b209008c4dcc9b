"""A cnnlab network as an ONNX model (opset 17), built with ``onnx.helper`` and checked by ``onnx.checker``.

The graph takes ``input``, a float32 NCHW tensor (N, C, H, W) with N free (the ``batch`` axis), and
gives ``probabilities`` (a softmax over the classes) or ``logits`` (N, K). Each layer is one node named
after it, its arrays are initializers named as in the checkpoint ("conv1.W"), stored exactly as the
engine holds them, so reading them back is bit-identical:

- conv2d: Conv with explicit pads [top, left, bottom, right] ('same' resolved for this input size,
  its odd extra row/column at the bottom/right); W is already (out, in, kh, kw).
- maxpool2d / avgpool2d: MaxPool / AveragePool without padding, floor mode (windows that do not fit
  are dropped), strides as the engine moves them; overlapping windows are plain ONNX. With no padding
  count_include_pad changes nothing; it is set to 1, the engine's "divide by the whole window".
- batchnorm: BatchNormalization in inference mode (the running mean and variance), on (N, C, H, W) per
  channel or (N, F) per feature.
- dropout: no node (identity when not training).
- flatten: Flatten(axis=1), which orders features (c, h, w) as the engine's public NCHW flatten does.
- dense: Gemm with the engine's W (in, out) as B (transB=0) and b as C.
- relu, leaky_relu, elu, tanh, sigmoid: the ONNX operator of the same name, alpha as set.

Class names, the output's meaning, the preprocessing and the spec go in the model's metadata_props.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # onnx is a dependency; this only protects a trimmed installation or bundle
    from cnnlab.bridge.errors import missing_package

    raise missing_package("onnx", "ONNX export and import") from exc

from cnnlab import __version__
from cnnlab.bridge.errors import BridgeError
from cnnlab.bridge.plan import OUTPUTS, Step, class_names_for, model_card, plan
from cnnlab.engine import Network
from cnnlab.engine.checkpoint import write_atomic

OPSET = 17
IR_VERSION = 8  # the IR that opset 17 came with: older runtimes read it too
BATCH = "batch"
INPUT = "input"


class _Graph:
    """The nodes and initializers of a chain, each node reading the previous one's output."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.current = INPUT
        self._used = {INPUT, *OUTPUTS}

    def unique(self, name: str) -> str:
        """``name``, or ``name`` with a number if a tensor of that name exists (a layer called "input")."""
        found, n = name, 1
        while found in self._used:
            n += 1
            found = f"{name}_{n}"
        self._used.add(found)
        return found

    def constant(self, name: str, value) -> str:
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def add(self, op: str, name: str, inputs: Sequence[str] = (), out: str = "", **attributes) -> None:
        out = out if out in OUTPUTS else self.unique(f"{name}_out")  # the graph's output keeps its name
        node = helper.make_node(op, [self.current, *inputs], [out], name=self.unique(name), **attributes)
        self.nodes.append(node)
        self.current = out


def _conv(g: _Graph, s: Step) -> None:
    top, bottom, left, right = s.pads
    g.add(
        "Conv",
        s.name,
        [g.constant(f"{s.name}.W", s.arrays["W"]), g.constant(f"{s.name}.b", s.arrays["b"])],
        kernel_shape=list(s.kernel),
        strides=[s.stride, s.stride],
        pads=[top, left, bottom, right],
        dilations=[1, 1],
        group=1,
    )


def _pool(op: str, **extra) -> Callable[[_Graph, Step], None]:
    def add(g: _Graph, s: Step) -> None:
        g.add(
            op,
            s.name,
            kernel_shape=list(s.kernel),
            strides=[s.stride, s.stride],
            pads=[0, 0, 0, 0],
            ceil_mode=0,
            **extra,
        )

    return add


def _batchnorm(g: _Graph, s: Step) -> None:
    arrays = [
        g.constant(f"{s.name}.{key}", s.arrays[key])
        for key in ("gamma", "beta", "running_mean", "running_var")
    ]
    g.add("BatchNormalization", s.name, arrays, epsilon=float(s.settings["eps"]))


def _dense(g: _Graph, s: Step) -> None:
    weights = [g.constant(f"{s.name}.W", s.arrays["W"]), g.constant(f"{s.name}.b", s.arrays["b"])]
    g.add("Gemm", s.name, weights, alpha=1.0, beta=1.0, transA=0, transB=0)


def _activation(op: str, alpha: bool = False) -> Callable[[_Graph, Step], None]:
    def add(g: _Graph, s: Step) -> None:
        g.add(op, s.name, **({"alpha": float(s.settings["alpha"])} if alpha else {}))

    return add


# One entry per layer kind of the engine; a kind missing here is refused by name (a new layer type
# must say how it is exported before a network using it can be).
NODES: dict[str, Callable[[_Graph, Step], None] | None] = {
    "conv2d": _conv,
    "maxpool2d": _pool("MaxPool"),
    "avgpool2d": _pool("AveragePool", count_include_pad=1),
    "batchnorm": _batchnorm,
    "dropout": None,
    "flatten": lambda g, s: g.add("Flatten", s.name, axis=1),
    "dense": _dense,
    "relu": _activation("Relu"),
    "leaky_relu": _activation("LeakyRelu", alpha=True),
    "elu": _activation("Elu", alpha=True),
    "tanh": _activation("Tanh"),
    "sigmoid": _activation("Sigmoid"),
}


def onnx_model(
    network: Network,
    *,
    class_names: Sequence[str] | None = None,
    output: str = "probabilities",
    dataset: str | None = None,
) -> onnx.ModelProto:
    """``network`` as a checked ONNX model. ``output``: "probabilities" (softmax) or "logits".

    ``class_names``: one per output (default "0", "1", ...). BridgeError for a layer kind that has no
    ONNX form, NaN weights, or a graph the checker refuses.
    """
    steps = plan(network)
    names = class_names_for(network, class_names)
    card = model_card(network, names, output, dataset)
    g = _Graph()
    for s in steps:
        if s.kind not in NODES:
            raise BridgeError(f"layer {s.name} ({s.kind}): this kind of layer has no ONNX form in cnnlab yet")
        build = NODES[s.kind]
        if build is not None:
            build(g, s)
    if output == "probabilities":
        g.add("Softmax", "softmax", out=output, axis=1)
    elif g.nodes:  # rename the last node's output: the graph's output is then called "logits"
        g.nodes[-1].output[0] = output
        g.current = output
    c, h, w = network.spec.input_shape
    k = int(network.spec.output_shape()[0])
    graph = helper.make_graph(
        g.nodes,
        network.spec.name or "cnnlab",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [BATCH, c, h, w])],
        [helper.make_tensor_value_info(g.current, TensorProto.FLOAT, [BATCH, k])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="cnnlab",
        producer_version=__version__,
        doc_string=f"{network.spec.name or 'A network'} exported from cnnlab; input: {card['preprocessing']}",
    )
    helper.set_model_props(model, card)
    check(model)
    return model


def check(model: onnx.ModelProto) -> None:
    """``onnx.checker`` with shape inference over the whole graph; BridgeError if it refuses."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise BridgeError(f"the ONNX checker refused the graph: {' '.join(str(exc).split())[:300]}") from None


def export_onnx(
    network: Network,
    path: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    output: str = "probabilities",
    dataset: str | None = None,
) -> Path:
    """Write ``onnx_model(network, ...)`` to ``path`` atomically (``WriteError`` if it cannot be written)."""
    data = onnx_model(network, class_names=class_names, output=output, dataset=dataset).SerializeToString()
    return write_atomic(Path(path), lambda handle: handle.write(data))
