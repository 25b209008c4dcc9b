"""File > Export (ONNX, PyTorch) and File > Open ONNX model, through the real window."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("safetensors")

WAIT = 30_000


def test_export_as_onnx_then_open_it_gives_the_same_network(qtbot, lab, tmp_path):
    assert lab.open_pretrained()
    shown = lab.state.inspector()
    probe = np.linspace(0, 1, 3 * 28 * 28, dtype=np.float32).reshape(3, 1, 28, 28)
    expected = shown.predict_proba(probe)
    path = tmp_path / "seed.onnx"
    with qtbot.waitSignal(lab.checkpoints.exported, timeout=WAIT):
        lab.checkpoints.export(path, "onnx")
    assert path.stat().st_size > 10_000
    lab.reset()
    task = lab.checkpoints.open_onnx_file(path)
    qtbot.waitUntil(task.is_finished, timeout=WAIT)
    assert lab.state.checkpoint_name == "seed.onnx", lab.last_error
    assert np.allclose(lab.state.inspector().predict_proba(probe), expected, atol=1e-6)


def test_export_for_pytorch_writes_code_weights_and_a_readme(qtbot, lab, tmp_path):
    with qtbot.waitSignal(lab.checkpoints.exported, timeout=WAIT):
        lab.checkpoints.export(tmp_path / "torch", "pytorch")
    names = sorted(p.name for p in (tmp_path / "torch").iterdir())
    assert names == ["README.md", "model.py", "model.safetensors"]
    assert (
        "class " in (tmp_path / "torch" / "model.py").read_text()
        and "cnnlab" not in (tmp_path / "torch" / "model.py").read_text().split('"""')[-1]
    )


def test_a_file_that_is_not_onnx_is_refused_in_one_line(qtbot, lab, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model")
    task = lab.checkpoints.open_onnx_file(bad)
    qtbot.waitUntil(task.is_finished, timeout=WAIT)
    assert lab.banner.isVisible() and "Could not open the ONNX model: bad.onnx" in lab.banner.text()
    assert lab.state.checkpoint is None
