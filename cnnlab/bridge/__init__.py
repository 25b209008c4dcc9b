"""The bridge to the wider ecosystem: cnnlab networks out to ONNX and PyTorch, ONNX models in.

A floor of its own between ``training`` and ``app``: it imports the engine (and the training floor's
reading of a checkpoint's class names) plus ``onnx`` and ``safetensors``, never Qt. The engine stays
NumPy-only; the app and the CLI call this.

    from cnnlab.bridge import export_onnx, export_pytorch, read_onnx, import_onnx, BridgeError

    export_onnx(network, "model.onnx", class_names=names, output="probabilities")   # or "logits"
    export_pytorch(network, "exported/", class_names=names)   # model.py, model.safetensors, README.md
    checkpoint = read_onnx("model.onnx")                       # an engine Checkpoint (spec, weights)
    import_onnx("model.onnx", "checkpoint.npz")                # the same, saved as a checkpoint

Every refusal is a ``BridgeError`` (a ValueError) in one line naming the file, layer or node; a file
that cannot be written is the engine's ``WriteError``. The names are loaded on first use, so that
importing this package costs nothing until a model is exported or read (importing onnx takes most of
a second). ``unavailable("onnx" | "pytorch")`` says, without importing anything, whether a format can
be used in this installation.
"""

from __future__ import annotations

import importlib
from typing import Any

from cnnlab.bridge.errors import BridgeError, unavailable

_LAZY = {
    "export_onnx": "onnx_export",
    "onnx_model": "onnx_export",
    "read_onnx": "onnx_import",
    "import_onnx": "onnx_import",
    "checkpoint_from_onnx": "onnx_import",
    "SUPPORTED_OPERATORS": "onnx_import",
    "export_pytorch": "pytorch",
    "pytorch_state": "pytorch",
    "pytorch_source": "pytorch",
    "export_checkpoint": "exports",
    "FORMATS": "exports",
}

__all__ = ["BridgeError", "unavailable", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnlab.bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cnnlab.bridge.{module}"), name)
