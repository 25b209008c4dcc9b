"""Exporting a saved checkpoint: what the CLI's ``cnnlab export`` (and a menu holding a checkpoint) calls.

The class names and the dataset come from the checkpoint's metadata as the training floor reads them,
so an exported model names its classes as the lab shows them.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.bridge.errors import BridgeError, unavailable
from cnnlab.engine import Checkpoint
from cnnlab.training.headless import checkpoint_class_names, checkpoint_dataset

FORMATS = ("onnx", "pytorch")


def export_checkpoint(
    checkpoint: Checkpoint, out: str | os.PathLike, fmt: str = "onnx", *, output: str = "probabilities"
) -> list[Path]:
    """Write ``checkpoint``'s network as ``fmt``: "onnx" (one file at ``out``; ``output`` "probabilities"
    or "logits") or "pytorch" (model.py, model.safetensors and README.md in the folder ``out``).
    Returns the files written. BridgeError or WriteError, one line each."""
    if fmt not in FORMATS:
        raise BridgeError(f"unknown export format {fmt!r}; the formats are {', '.join(FORMATS)}")
    missing = unavailable(fmt)
    if missing:
        raise BridgeError(missing)
    network = checkpoint.build_network()
    names = checkpoint_class_names(checkpoint)
    meta = checkpoint.metadata
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    # checkpoint_dataset says "mnist" when nothing is known; an export says only what is known
    dataset = checkpoint_dataset(checkpoint) if meta.get("dataset") or config.get("dataset") else None
    if fmt == "onnx":
        from cnnlab.bridge.onnx_export import export_onnx

        return [export_onnx(network, out, class_names=names, output=output, dataset=dataset)]
    from cnnlab.bridge.pytorch import export_pytorch

    written = export_pytorch(network, out, class_names=names, dataset=dataset)
    return [written.model, written.weights, written.readme]
