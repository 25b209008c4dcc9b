"""ONNX export checked against an independent runtime (onnxruntime) and the ONNX checker: every preset,
hand-picked specs for the cases other libraries spell differently, and random valid specs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnnlab.bridge import BridgeError, export_onnx, onnx_model
from cnnlab.engine import LAYER_TYPES, PRESET_NAMES, build, load_preset, softmax
from tests.bridge.nets import all_specs, coverage, inputs, trained_looking

SPECS = all_specs()
TOLERANCE = 1e-5


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_the_specs_cover_every_layer_kind_and_padding_mode():
    found = coverage(SPECS.values())
    assert set(LAYER_TYPES) <= found
    assert {
        "padding:valid",
        "padding:same",
        "padding:pixels",
        "padding:asymmetric",
        "pool:overlapping",
        "batchnorm:maps",
        "batchnorm:flat",
    } <= found


@pytest.mark.parametrize("name", list(SPECS))
def test_onnxruntime_matches_the_engine(name, rng):
    spec = SPECS[name]
    net = trained_looking(spec, rng)
    x = inputs(spec, rng, 7)
    logits = net.forward(x)
    for output, expected in (("probabilities", softmax(logits)), ("logits", logits)):
        model = onnx_model(net, output=output)
        onnx.checker.check_model(model, full_check=True)
        got = run(model, x)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    one = run(model, x[:1])  # the batch axis is free: one image alone gives the same answer
    np.testing.assert_allclose(one, logits[:1], rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.realdata
@pytest.mark.parametrize("name", [*PRESET_NAMES, "same-stride2", "random0", "random2", "random4"])
def test_onnxruntime_matches_the_engine_on_real_digits(name, digits, rng):
    spec = SPECS[name]
    assert tuple(spec.input_shape) == (1, 28, 28)
    net = trained_looking(spec, rng)
    expected = softmax(net.forward(digits))
    got = run(onnx_model(net), digits)
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() > 0.97  # ties aside, the same answers


def test_the_graph_says_what_goes_in_and_comes_out(tmp_path, rng):
    spec = load_preset("mnist99")
    net = build(spec, rng)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    path = export_onnx(net, tmp_path / "m.onnx", class_names=names, dataset="mnist")
    model = onnx.load(path)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    (out,) = model.graph.output
    assert out.name == "probabilities" and out.type.tensor_type.shape.dim[1].dim_value == 10
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == names
    assert props["output"] == "probabilities" and props["dataset"] == "mnist"
    assert "28x28" in props["preprocessing"] and "[0, 1]" in props["preprocessing"]
    assert "ink bright" in props["preprocessing"]
    assert json.loads(props["cnnlab.spec"]) == spec.to_dict()
    ops = [n.op_type for n in model.graph.node]
    assert "Dropout" not in ops and ops[-1] == "Softmax"  # mnist99's dropout is not in the graph
    assert {t.name for t in model.graph.initializer} == set(net.state_dict())


def test_same_padding_becomes_explicit_asymmetric_pads(rng):
    net = trained_looking(SPECS["same-stride2"], rng)
    (conv,) = [n for n in onnx_model(net).graph.node if n.op_type == "Conv"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute}
    assert attrs["pads"] == [0, 0, 1, 1]  # top, left, bottom, right: TensorFlow's odd pixel at the end
    assert attrs["strides"] == [2, 2]


def test_a_layer_called_input_does_not_clash_with_the_graph_input(rng):
    spec = load_preset("seed")
    layers = [dict(layer) for layer in spec.layers]
    layers[0]["name"], layers[1]["name"] = "input", "probabilities_out"
    net = build(spec.replace_layers(layers), rng)
    x = inputs(spec, rng)
    np.testing.assert_allclose(run(onnx_model(net), x), softmax(net.forward(x)), atol=TOLERANCE)


def test_bad_requests_are_refused_in_one_line(rng):
    net = build(load_preset("seed"), rng)
    with pytest.raises(BridgeError, match="10 outputs but 3 class names"):
        onnx_model(net, class_names=["a", "b", "c"])
    with pytest.raises(BridgeError, match="output must be one of probabilities, logits"):
        onnx_model(net, output="scores")
    net.layers[0].params["W"][0, 0, 0, 0] = np.nan
    with pytest.raises(BridgeError, match=r"layer conv1 \(conv2d\): its W holds NaN"):
        onnx_model(net)
