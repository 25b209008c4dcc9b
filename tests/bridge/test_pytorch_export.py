"""PyTorch export: the safetensors file holds the checkpoint's arrays under PyTorch's names and layouts
(always checked); the generated model.py is plain Python importing only torch and safetensors, and, where
torch can be imported, runs and gives the engine's outputs."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from cnnlab.bridge import BridgeError, export_pytorch, pytorch_source, pytorch_state
from cnnlab.engine import build, load_preset
from tests.bridge.nets import all_specs, inputs, trained_looking

SPECS = all_specs(random_count=8)


def expected_state(net) -> dict[str, tuple[str, np.ndarray]]:
    """What each checkpoint array must become in PyTorch: name -> (torch name, array in torch's layout)."""
    torch_keys = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}
    out = {}
    for layer in net.layers:
        for key, value in {**layer.params, **layer.buffers}.items():
            layout = value.T if layer.kind == "dense" and key == "W" else value  # Linear is (out, in)
            out[f"{layer.name}.{key}"] = (f"{layer.name}.{torch_keys.get(key, key)}", layout)
    return out


@pytest.mark.parametrize("name", list(SPECS))
def test_the_safetensors_file_holds_the_checkpoint_in_pytorch_layouts(name, rng, tmp_path):
    net = trained_looking(SPECS[name], rng)
    written = export_pytorch(net, tmp_path / "out", class_names=[f"c{i}" for i in range(net.num_classes)])
    tensors = load_file(written.weights)
    expected = expected_state(net)
    assert set(tensors) == {torch_name for torch_name, _ in expected.values()}
    for source, (torch_name, value) in expected.items():
        got = tensors[torch_name]
        assert got.dtype == np.float32 and got.shape == value.shape, source
        assert np.array_equal(got, value), source
    for layer in net.layers:  # the layouts PyTorch's modules expect
        if layer.kind == "conv2d":
            f, c, kh, kw = tensors[f"{layer.name}.weight"].shape
            assert (f, c) == (layer.filters, layer.in_channels) and (kh, kw) == layer.kernel
        if layer.kind == "dense":
            assert tensors[f"{layer.name}.weight"].shape == (layer.units, layer.in_features)
    with safe_open(written.weights, "np") as handle:
        meta = handle.metadata()
    assert meta["format"] == "pt" and json.loads(meta["class_names"]) == [
        f"c{i}" for i in range(net.num_classes)
    ]


def test_model_py_is_plain_python_that_imports_only_torch_and_safetensors(rng, tmp_path):
    for name in ("mnist99", "same-stride2", "overlap-floor"):
        source = pytorch_source(trained_looking(SPECS[name], rng))
        tree = ast.parse(source)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported == {"pathlib", "torch", "safetensors"}, name
        assert "cnnlab" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "nn.ZeroPad2d((0, 1, 0, 1))" in source if name == "same-stride2" else True
        assert (
            "nn.BatchNorm1d(" in source and "nn.BatchNorm2d(" in source if name == "overlap-floor" else True
        )


def test_layer_names_that_are_no_python_attribute_are_made_into_one(rng):
    spec = load_preset("seed")
    layers = [dict(layer) for layer in spec.layers]
    for layer, name in zip(
        layers, ["forward", "my conv", "1st pool", "class", "train", "conv1", "x"], strict=False
    ):
        layer["name"] = name
    net = build(spec.replace_layers(layers), rng)
    state = pytorch_state(net)
    assert {k.rsplit(".", 1)[0] for k in state} == {"forward_layer", "class_layer", "dense1"}
    source = pytorch_source(net)
    assert "self.my_conv = nn.ReLU()" in source and "self.layer_1st_pool = nn.MaxPool2d(" in source
    assert "# cnnlab's layer 'my conv'" in source and "self.conv1 = nn.MaxPool2d(" in source
    assert "self.train_layer = nn.ReLU()" in source and "self.x_layer = nn.Flatten()" in source


def test_bad_requests_are_refused(rng, tmp_path):
    net = build(load_preset("seed"), rng)
    with pytest.raises(BridgeError, match="10 outputs but 2 class names"):
        export_pytorch(net, tmp_path, class_names=["a", "b"])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=r"cannot write .*model\.py"):
        export_pytorch(net, blocker / "out")
    assert blocker.read_text() == "not a folder"


# -- with torch ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip(
        "torch",
        reason="PyTorch is not installed (cnnlab does not depend on it); pip install torch to run "
        "the generated model.py against the engine",
    )


def load_generated(folder, name):
    spec = importlib.util.spec_from_file_location(f"generated_{name.replace('-', '_')}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", list(SPECS))
def test_the_generated_pytorch_model_gives_the_engines_outputs(name, torch, rng, tmp_path):
    net = trained_looking(SPECS[name], rng)
    export_pytorch(net, tmp_path)
    module = load_generated(tmp_path, name)
    model = module.load()
    assert not model.training
    x = inputs(net.spec, rng, 5)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, net.forward(x), rtol=1e-5, atol=1e-5)
    assert tuple(net.spec.input_shape) == module.INPUT_SHAPE and len(module.CLASS_NAMES) == net.num_classes


def test_model_py_runs_as_a_script(torch, rng, tmp_path):
    export_pytorch(build(load_preset("lenet5"), rng), tmp_path, class_names=[f"digit {i}" for i in range(10)])
    out = subprocess.run(
        [sys.executable, "model.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("digit ") and line.endswith("%)") for line in lines)
