"""ONNX import: cnnlab's own exports come back bit for bit; PyTorch's exports (both exporters, files made
by make_torch_fixtures.py) open and give PyTorch's outputs; everything else is refused by node and
operator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from cnnlab.bridge import BridgeError, checkpoint_from_onnx, import_onnx, onnx_import, onnx_model, read_onnx
from cnnlab.engine import Budget, load_checkpoint, softmax
from tests.bridge.nets import all_specs, inputs, trained_looking

SPECS = all_specs()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
OPENED = ["small_cnn", "activations_mlp", "padded_stride"]
EXPORTERS = ["ts", "dynamo"]


@pytest.mark.parametrize("name", list(SPECS))
def test_cnnlab_to_onnx_to_cnnlab_is_bit_identical(name, rng, tmp_path):
    net = trained_looking(SPECS[name], rng)
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(net).SerializeToString())
    back = read_onnx(path)
    assert back.spec == net.spec  # the spec in the metadata describes this graph, so it comes back whole
    state = net.state_dict()
    assert set(back.weights) == set(state)
    for key, value in state.items():
        assert back.weights[key].dtype == np.float32
        assert np.array_equal(back.weights[key], value), key
    x = inputs(net.spec, rng)
    assert np.array_equal(back.build_network().forward(x), net.forward(x))


@pytest.mark.parametrize("name", list(SPECS))
def test_the_graph_alone_gives_the_same_network(name, rng):
    """Without cnnlab's metadata (as another tool might rewrite the file), the graph is read on its own."""
    net = trained_looking(SPECS[name], rng)
    model = onnx_model(net, output="logits")
    del model.metadata_props[:]
    back = checkpoint_from_onnx(model)
    kinds = [layer["type"] for layer in net.spec.layers if layer["type"] != "dropout"]
    assert [layer["type"] for layer in back.spec.layers] == kinds
    ours = [v for k, v in net.state_dict().items()]
    theirs = list(back.weights.values())
    assert len(ours) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    x = inputs(net.spec, rng)
    np.testing.assert_allclose(back.build_network().forward(x), net.forward(x), rtol=1e-6, atol=1e-6)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], net.forward(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name", [f"{net}_{exporter}" for net in OPENED for exporter in EXPORTERS] + ["small_cnn_external"]
)
def test_pytorch_exports_open_and_give_pytorchs_outputs(name):
    expected = np.load(FIXTURES / "expected.npz")
    checkpoint = read_onnx(FIXTURES / f"{name}.onnx")
    logits = checkpoint.build_network().forward(expected["x"])
    final_softmax = any("softmax" in note for note in checkpoint.metadata.get("import_notes", []))
    got = softmax(logits) if final_softmax else logits
    np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-5)
    assert checkpoint.metadata["producer"].startswith("pytorch")


def test_pytorch_layers_become_the_engines():
    checkpoint = read_onnx(FIXTURES / "small_cnn_ts.onnx")
    kinds = [layer["type"] for layer in checkpoint.spec.layers]
    # BatchNorm2d after a convolution is folded into it by both exporters; Dropout is gone in eval()
    assert kinds == [
        "conv2d",
        "relu",
        "maxpool2d",
        "conv2d",
        "relu",
        "avgpool2d",
        "flatten",
        "dense",
        "relu",
        "dense",
    ]
    assert checkpoint.spec.layers[3]["padding"] == 1
    mlp = read_onnx(FIXTURES / "activations_mlp_ts.onnx")
    kinds = [layer["type"] for layer in mlp.spec.layers]
    assert kinds == [
        "conv2d",
        "leaky_relu",
        "maxpool2d",
        "elu",
        "flatten",
        "dense",
        "batchnorm",
        "tanh",
        "dense",
        "sigmoid",
        "dense",
    ]
    bn = mlp.spec.layers[6]
    assert bn["eps"] == 1e-5 and bn["momentum"] == 0.1  # ONNX's float32 0.9 read back as PyTorch's 0.1
    assert mlp.spec.layers[1]["alpha"] == 0.1 and mlp.spec.layers[3]["alpha"] == 0.5
    assert mlp.spec.layers[2] == {"type": "maxpool2d", "kernel": 3, "stride": 2}
    padded = read_onnx(FIXTURES / "padded_stride_ts.onnx")  # ZeroPad2d((0, 1, 0, 1)) folded into the conv
    assert padded.spec.layers[0]["padding"] == "same" and padded.spec.layers[0]["stride"] == 2


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("residual", r"node '[^']*conv[^']*' \(Conv\): the tensor 'input' it reads feeds 2 nodes"),
        ("upsampled", r"node '[^']*' \(Resize\): an operator the engine does not have"),
    ],
)
@pytest.mark.parametrize("exporter", EXPORTERS)
def test_what_the_engine_does_not_have_is_refused_by_node_and_operator(name, refusal, exporter):
    with pytest.raises(BridgeError, match=refusal) as caught:
        read_onnx(FIXTURES / f"{name}_{exporter}.onnx")
    assert str(caught.value).startswith(f"{name}_{exporter}.onnx: ") and "\n" not in str(caught.value)


# -- hand-built graphs -------------------------------------------------------------------------------


def graph(nodes, inits=(), shape=("N", 1, 8, 8), out="y", elem=TensorProto.FLOAT, opset=17, extra_inputs=()):
    arrays = [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()]
    g = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", elem, list(shape)), *extra_inputs],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", None])],
        initializer=arrays,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def w(*shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 0.1).astype(np.float32)


def head(source: str, features: int, units: int = 3):
    """Flatten and a Gemm after ``source``: a graph needs one score per class at its end."""
    nodes = [
        helper.make_node("Flatten", [source], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], name="fc", transB=1),
    ]
    return nodes, {"gw": w(units, features), "gb": w(units)}


def conv_graph(extra_attrs=None, weights=None, **graph_args):
    nodes, inits = head("c", 2 * 8 * 8)
    conv = helper.make_node(
        "Conv", ["x", "cw", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1], **(extra_attrs or {})
    )
    return graph(
        [conv, *nodes],
        {"cw": w(2, 1, 3, 3) if weights is None else weights, "cb": w(2), **inits},
        **graph_args,
    )


def test_a_hand_built_graph_with_an_unsupported_operator_is_refused_by_name():
    nodes, inits = head("l", 64)
    model = graph([helper.make_node("LRN", ["x"], ["l"], name="local_norm", size=3), *nodes], inits)
    with pytest.raises(
        BridgeError,
        match=r"^model.onnx: node 'local_norm' \(LRN\): an operator the engine does not "
        r"have; cnnlab opens graphs made of Conv, Pad",
    ):
        checkpoint_from_onnx(model, "model.onnx")


def test_a_hand_built_chain_opens_and_matches_onnxruntime():
    model = conv_graph()
    back = checkpoint_from_onnx(model)
    x = np.random.default_rng(3).random((4, 1, 8, 8), dtype=np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(back.build_network().forward(x), session.run(None, {"x": x})[0], atol=1e-5)
    assert np.array_equal(back.weights["dense1.W"], model_array(model, "gw").T)  # Linear's (out, in) turned


def model_array(model, name):
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def test_a_flat_mnist_input_with_matmul_and_add_opens_as_a_28x28_image():
    nodes = [
        helper.make_node("MatMul", ["x", "mw"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "mb"], ["a"], name="bias"),
        helper.make_node("Relu", ["a"], ["r"], name="act"),
        helper.make_node("Gemm", ["r", "gw", "gb"], ["y"], name="out"),
    ]
    model = graph(nodes, {"mw": w(784, 16), "mb": w(16), "gw": w(16, 10), "gb": w(10)}, shape=("N", 784))
    back = checkpoint_from_onnx(model)
    assert back.spec.input_shape == (1, 28, 28) and back.spec.layers[0] == {"type": "flatten"}
    x = np.random.default_rng(4).random((3, 784), dtype=np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = back.build_network().forward(x.reshape(3, 1, 28, 28))
    np.testing.assert_allclose(got, session.run(None, {"x": x})[0], rtol=1e-5, atol=1e-5)
    assert any("28x28" in note for note in back.metadata["import_notes"])


@pytest.mark.parametrize(
    ("model", "refusal"),
    [
        (
            conv_graph({"group": 1}, weights=w(2, 2, 3, 3)),
            r"node 'conv' \(Conv\): it is a grouped convolution",
        ),
        (conv_graph({"dilations": [2, 2]}), r"node 'conv' \(Conv\): it is dilated"),
        (conv_graph({"strides": [1, 2]}), r"node 'conv' \(Conv\): its strides \[1, 2\] differ"),
        (
            graph(
                [helper.make_node("Conv", ["x", "cw"], ["y"], name="conv", pads=[0, 1, 1, 0])],
                {"cw": w(2, 1, 3, 3)},
            ),
            r"node 'conv' \(Conv\): its padding \(top, bottom, left, right\) = \(0, 1, 1, 0\) is not one",
        ),
        (
            graph(
                [
                    helper.make_node(
                        "MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2], pads=[1, 1, 1, 1]
                    ),
                    *head("p", 25)[0],
                ],
                head("p", 25)[1],
            ),
            r"node 'pool' \(MaxPool\): it pads its input",
        ),
        (
            graph(
                [
                    helper.make_node(
                        "MaxPool", ["x"], ["p"], name="pool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1
                    ),
                    *head("p", 16)[0],
                ],
                head("p", 16)[1],
            ),
            r"node 'pool' \(MaxPool\): it keeps partial windows",
        ),
        (
            graph(
                [helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=1), *head("s", 64)[0]],
                head("s", 64)[1],
            ),
            r"node 'sm' \(Softmax\): it needs one score per class, but gets feature maps",
        ),
        (
            graph(
                [helper.make_node("Relu", ["x"], ["r"], name="act", domain="com.example"), *head("r", 64)[0]],
                head("r", 64)[1],
            ),
            r"node 'act' \(Relu\): an operator of the 'com.example' domain",
        ),
        (
            graph([helper.make_node("Relu", ["x"], ["y"], name="act")], shape=("N", 1, "H", 8)),
            r"its input 'x' is \?x1x\?x8; cnnlab reads \(batch, channels, height, width\)",
        ),
        (
            graph([helper.make_node("Relu", ["x"], ["y"], name="act")], elem=TensorProto.INT8),
            r"its input 'x' holds int8 values, not float32",
        ),
        (
            graph(
                [helper.make_node("Relu", ["x"], ["y"])],
                extra_inputs=[helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])],
            ),
            r"the graph has 2 inputs",
        ),
        (graph([helper.make_node("Relu", ["x"], ["y"], name="act")]), r"the graph ends in feature maps"),
        (
            graph(
                [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
                {"s": np.array([-1, 8, 8], np.int64)},
            ),
            r"node 'rs' \(Reshape\): it reshapes to \[-1, 8, 8\]; cnnlab reads only a flattening",
        ),
        (
            graph(
                [
                    helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("MatMul", ["mw", "f"], ["y"], name="mm"),
                ],
                {"mw": w(3, 64)},
            ),
            r"node 'mm' \(MatMul\): it multiplies the weights by the input from the left",
        ),
        (
            graph(
                [
                    helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Add", ["f", "c"], ["y"], name="plus"),
                ],
                {"c": w(64)},
            ),
            r"node 'plus' \(Add\): it adds a constant outside a dense layer",
        ),
        (
            graph(
                [
                    helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Gemm", ["f", "x", "b"], ["y"], name="fc"),
                ],
                {"b": w(3)},
            ),
            r"node 'flat' \(Flatten\): the tensor 'x' it reads feeds 2 nodes; cnnlab opens a chain of layers",
        ),
        (
            graph(
                [
                    helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Gemm", ["f", "gw"], ["y"], name="fc"),
                ],
                shape=("N", 1, 8, 8),
                extra_inputs=[helper.make_tensor_value_info("gw", TensorProto.FLOAT, [64, 3])],
            ),
            r"the graph has 2 inputs",
        ),
        (
            graph(
                [
                    helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Gemm", ["f", "gw"], ["g"], name="fc", transB=1),
                    helper.make_node("Softmax", ["g"], ["s"], name="sm"),
                    helper.make_node("Relu", ["s"], ["y"], name="late"),
                ],
                {"gw": w(3, 64)},
            ),
            r"node 'late' \(Relu\): it comes after the graph's final softmax",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_layouts_the_engine_does_not_have_are_refused_by_node(model, refusal):
    with pytest.raises(BridgeError, match=refusal) as caught:
        checkpoint_from_onnx(model, "hand.onnx")
    assert str(caught.value).startswith("hand.onnx: ") and "\n" not in str(caught.value)


def external(model, folder: Path, location: str, data: bytes | None = b"raw") -> Path:
    """``model`` saved as folder/m.onnx with its first tensor's bytes in ``location`` (as written there:
    relative to the model's folder); the bytes are written to that file unless ``data`` is None."""
    tensor = model.graph.initializer[0]
    raw = numpy_helper.to_array(tensor).tobytes()
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    tensor.external_data.add(key="length", value=str(len(raw)))
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (folder / location).write_bytes(raw if data == b"raw" else data)
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_weights_in_a_file_beside_the_model_are_read(tmp_path):
    model = conv_graph()
    path = external(conv_graph(), tmp_path, "m.onnx.data")
    back = read_onnx(path)
    assert np.array_equal(back.weights["conv1.W"], model_array(model, "cw"))
    with pytest.raises(
        BridgeError, match=r"^hand\.onnx: its tensor 'cw' is stored in a separate file; open the"
    ):
        checkpoint_from_onnx(onnx.load(path, load_external_data=False), "hand.onnx")


@pytest.mark.parametrize(
    ("location", "data", "refusal"),
    [
        (
            "../weights.bin",
            b"raw",
            r"^m\.onnx: its tensor 'cw' points to '\.\./weights\.bin', outside the model's",
        ),
        ("/etc/hostname", None, r"^m\.onnx: its tensor 'cw' points to '/etc/hostname', outside the model's"),
        (
            "missing.bin",
            None,
            r"^m\.onnx: its weights file 'missing\.bin' is missing; keep it beside the model$",
        ),
        ("short.bin", b"\0" * 10, r"^m\.onnx: its weights file 'short\.bin' ends before tensor 'cw'$"),
        ("sub", None, r"^m\.onnx: cannot read its weights file 'sub' \(is a folder, not a file\)$"),
    ],
)
def test_weights_files_outside_the_folder_missing_or_short_are_refused(tmp_path, location, data, refusal):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    path = external(conv_graph(), folder, location, data)
    with pytest.raises(BridgeError, match=refusal):
        read_onnx(path)


# -- files ---------------------------------------------------------------------------------------------


def test_import_onnx_writes_a_checkpoint_that_loads(tmp_path, rng):
    net = trained_looking(SPECS["overlap-floor"], rng)
    source = tmp_path / "model.onnx"
    source.write_bytes(onnx_model(net, class_names=list("abcd")).SerializeToString())
    checkpoint, written = import_onnx(source, tmp_path / "back.npz")
    loaded = load_checkpoint(written)
    assert loaded.spec == net.spec and loaded.metadata["class_names"] == list("abcd")
    assert loaded.metadata["imported_from"] == "model.onnx"
    assert all(np.array_equal(loaded.weights[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (lambda p: None, r"^m\.onnx: no such file$"),
        (lambda p: p.mkdir(), r"^m\.onnx: is a folder, not a file$"),
        (lambda p: p.write_bytes(b"\x00\xff" * 300), r"^m\.onnx: not an ONNX model"),
        (lambda p: p.write_bytes(b""), r"^m\.onnx: not an ONNX model \(it has no graph\)"),
    ],
)
def test_files_that_are_no_onnx_model_are_refused_in_one_line(tmp_path, make, refusal):
    path = tmp_path / "m.onnx"
    make(path)
    with pytest.raises(BridgeError, match=refusal):
        read_onnx(path)


def test_a_file_larger_than_the_budget_is_not_read(tmp_path, rng, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(trained_looking(SPECS["mnist99"], rng)).SerializeToString())
    # the file fits the default budget's size; the network it describes does not fit this one
    with pytest.raises(
        BridgeError, match=r"m\.onnx: node 'dense1' \(Gemm\): this layer brings the network to 420,352"
    ):
        read_onnx(path, Budget(max_params=100_000))
    monkeypatch.setattr(onnx_import, "_GRAPH_SLACK", 0)  # now 8 bytes a parameter is all a file may have
    with pytest.raises(
        BridgeError, match=r"^m\.onnx: is 1\.\d MiB, too large for a model file \(at most 7\.8 KiB\)"
    ):
        read_onnx(path, Budget(max_params=1000))
