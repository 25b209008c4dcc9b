"""``cnnlab export`` and ``cnnlab import``: the files they write, and their one-line refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from safetensors.numpy import load_file

from cnnlab.bridge import errors
from cnnlab.engine import load_checkpoint, save_checkpoint, softmax
from tests.bridge.nets import all_specs, trained_looking
from tests.training.test_cli_training import assert_one_line_error, run

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


@pytest.fixture
def checkpoint(tmp_path, rng) -> tuple[Path, object]:
    net = trained_looking(all_specs(0)["mnist99"], rng)
    path = save_checkpoint(
        tmp_path / "run.npz", net, metadata={"class_names": NAMES, "dataset": "fashion-mnist"}
    )
    return path, net


def test_export_onnx_writes_a_model_with_the_checkpoints_class_names(capsys, checkpoint, tmp_path, rng):
    path, net = checkpoint
    code, out, err = run(capsys, "export", str(path), "--out", str(tmp_path / "m.onnx"))
    assert code == 0, err
    assert f"Wrote {tmp_path / 'm.onnx'} (" in out
    assert "Input 'input': float32 (batch, 1, 28, 28); output 'probabilities': (batch, 10)" in out
    model = onnx.load(tmp_path / "m.onnx")
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == NAMES and props["dataset"] == "fashion-mnist"
    x = rng.random((3, 1, 28, 28), dtype=np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], softmax(net.forward(x)), atol=1e-5)
    code, out, _ = run(capsys, "export", str(path), "--out", str(tmp_path / "l.onnx"), "--logits")
    assert code == 0 and "output 'logits'" in out
    assert [o.name for o in onnx.load(tmp_path / "l.onnx").graph.output] == ["logits"]


def test_export_pytorch_writes_code_weights_and_a_readme(capsys, checkpoint, tmp_path):
    path, net = checkpoint
    code, out, err = run(capsys, "export", str(path), "--format", "pytorch", "--out", str(tmp_path / "pt"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "pt").iterdir()) == [
        "README.md",
        "model.py",
        "model.safetensors",
    ]
    assert "python model.py" in out
    assert json.dumps(NAMES) in (tmp_path / "pt" / "model.py").read_text()
    assert np.array_equal(
        load_file(tmp_path / "pt" / "model.safetensors")["dense1.weight"], net.layers[7].params["W"].T
    )


def test_import_turns_an_onnx_file_into_a_checkpoint(capsys, tmp_path):
    code, out, err = run(
        capsys, "import", str(FIXTURES / "small_cnn_ts.onnx"), "--out", str(tmp_path / "c.npz")
    )
    assert code == 0, err
    assert "Total parameters: 3,904" in out and f"Saved {tmp_path / 'c.npz'}; try: cnnlab eval" in out
    loaded = load_checkpoint(tmp_path / "c.npz")
    assert loaded.metadata["imported_from"] == "small_cnn_ts.onnx" and loaded.spec.num_params() == 3904
    expected = np.load(FIXTURES / "expected.npz")
    np.testing.assert_allclose(
        loaded.build_network().forward(expected["x"]), expected["small_cnn_ts"], atol=1e-5
    )


def test_refusals_are_one_line(capsys, checkpoint, tmp_path):
    path, _ = checkpoint
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    cases = [
        (["export", str(tmp_path / "none.npz"), "--out", str(tmp_path / "m.onnx")], "none.npz"),
        (["export", str(path), "--out", str(path)], "--out names the file being read"),
        (
            ["export", str(path), "--format", "pytorch", "--logits", "--out", str(tmp_path / "d")],
            "--logits applies",
        ),
        (["export", str(path), "--out", str(blocker / "m.onnx")], "a-file"),
        (
            ["import", str(FIXTURES / "residual_ts.onnx"), "--out", str(tmp_path / "r.npz")],
            "residual_ts.onnx: node '/conv/Conv' (Conv): the tensor 'input' it reads feeds 2 nodes",
        ),
        (
            ["import", str(FIXTURES / "upsampled_dynamo.onnx"), "--out", str(tmp_path / "u.npz")],
            "(Resize): an operator the engine does not have",
        ),
        (["import", str(blocker), "--out", str(tmp_path / "b.npz")], "a-file: not an ONNX model"),
        (["import", str(path), "--out", str(path)], "--out names the file being read"),
    ]
    for argv, words in cases:
        code, out, err = run(capsys, *argv)
        assert_one_line_error(code, err, words)
    assert blocker.read_text() == "mine" and not (tmp_path / "r.npz").exists()


def test_without_the_onnx_package_export_says_what_to_install(tmp_path, checkpoint):
    path, _ = checkpoint
    code = (
        "import sys; sys.modules['onnx'] = None\n"  # as if onnx were not installed
        "from cnnlab import cli\n"
        f"sys.exit(cli.main(['export', {str(path)!r}, '--out', {str(tmp_path / 'm.onnx')!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "cnnlab: error: ONNX export and import needs the 'onnx' package, which this installation of cnnlab "
        "lacks (pip install onnx)"
    )
    assert not (tmp_path / "m.onnx").exists()


def test_unavailable_looks_packages_up_without_importing_them(monkeypatch):
    assert errors.unavailable("onnx") is None and errors.unavailable("pytorch") is None
    monkeypatch.setattr(errors.importlib.util, "find_spec", lambda name: None)
    assert "pip install safetensors" in errors.unavailable("pytorch")


def test_the_cli_and_the_bridge_package_load_neither_onnx_nor_qt_until_used():
    code = (
        "import sys, cnnlab.cli, cnnlab.bridge, cnnlab.bridge.pytorch\n"
        "cnnlab.bridge.BridgeError, cnnlab.bridge.unavailable('onnx')\n"
        "found = {m.split('.')[0] for m in sys.modules} & {'onnx', 'PySide6', 'pyqtgraph', 'torch'}\n"
        "print(','.join(sorted(found)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_in_the_frozen_bundle_the_message_says_onnx_was_left_out(monkeypatch):
    monkeypatch.setattr(errors.sys, "frozen", True, raising=False)
    monkeypatch.setattr(errors.importlib.util, "find_spec", lambda name: None)
    assert errors.unavailable("onnx") == (
        "ONNX export and import is not part of this bundle of cnnlab (its 'onnx' package is left out to keep "
        "the bundle small); cnnlab installed with pip has it"
    )
