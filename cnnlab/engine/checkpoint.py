"""Checkpoints: one ``.npz`` file holding the spec (JSON) and the weights (plain arrays).

Files are read with ``allow_pickle=False``, so loading a checkpoint can never run code. Every way a
file can be wrong (missing, truncated, not a zip, another program's ``.npz``, a newer format, weights
that do not fit the spec) ends in one ``CheckpointError`` naming the file and the problem. Saving
writes a temporary file beside the target and renames it, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.engine.network import Network
from cnnlab.engine.spec import NetSpec, SpecError, build

FORMAT = "cnnlab-checkpoint"
VERSION = 1
_META = "__cnnlab__"
_WEIGHT = "w/"
_OPTIM = "opt/"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{Path(path).name}: {reason}")


@dataclass(frozen=True)
class Checkpoint:
    spec: NetSpec
    weights: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def build_network(self, rng: np.random.Generator | None = None) -> Network:
        """A network with these weights. ``rng`` only matters for layers that draw at run time (Dropout)."""
        network = build(self.spec, rng if rng is not None else np.random.default_rng(0))
        network.load_state_dict(self.weights)
        return network


def save_checkpoint(path, network: Network, optimizer=None, metadata: dict | None = None) -> Path:
    """Write ``network`` (and optionally ``optimizer``'s state) to ``path`` atomically."""
    path = Path(path)
    if network.spec is None:
        raise ValueError("only networks built from a NetSpec can be saved")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "spec": network.spec.to_dict(),
        "metadata": metadata or {},
    }
    arrays = {f"{_WEIGHT}{k}": v for k, v in network.state_dict().items()}
    if optimizer is not None:
        meta["optimizer"] = {"kind": optimizer.kind, "hyperparameters": optimizer.hyperparameters()}
        arrays.update({f"{_OPTIM}{k}": v for k, v in optimizer.state_dict().items()})
    try:
        meta_bytes = json.dumps(meta, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint metadata must be plain JSON data: {exc}") from None
    arrays[_META] = np.frombuffer(meta_bytes, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read and check a checkpoint; raises ``CheckpointError`` for anything that is not a good one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    raw = _read_arrays(path)
    meta = _read_meta(path, raw)
    try:
        spec = NetSpec.from_dict(meta.get("spec"))
        spec.validate()
    except SpecError as exc:
        raise CheckpointError(path, f"the network it describes is invalid ({exc})") from None
    weights = {k[len(_WEIGHT) :]: v for k, v in raw.items() if k.startswith(_WEIGHT)}
    optim = {k[len(_OPTIM) :]: v for k, v in raw.items() if k.startswith(_OPTIM)} or None
    for name, value in list(weights.items()) + list((optim or {}).items()):
        if value.dtype.kind not in "fiu":
            raise CheckpointError(path, f"array {name!r} holds {value.dtype} data, not numbers")
    for name, value in weights.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise CheckpointError(path, f"weights {name!r} contain NaN or infinite values")
    checkpoint = Checkpoint(spec, weights, optim, dict(meta.get("metadata") or {}), path)
    try:
        checkpoint.build_network()
    except ValueError as exc:
        raise CheckpointError(path, f"its weights do not match its network ({exc})") from None
    if "optimizer" in meta:
        checkpoint.metadata.setdefault("optimizer", meta["optimizer"])
    return checkpoint


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise CheckpointError(path, "not a cnnlab checkpoint (not an .npz archive, or the file is truncated)")
    try:
        # Our own handle, so that a damaged archive cannot leave the file open behind an exception.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            return {key: np.array(npz[key]) for key in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CheckpointError(path, "contains pickled objects, which cnnlab never loads") from None
        raise CheckpointError(path, f"an array in it cannot be read ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, io.UnsupportedOperation) as exc:
        raise CheckpointError(path, f"the file is damaged ({exc})") from None
    except Exception as exc:  # zlib.error and friends from a corrupted member
        raise CheckpointError(path, f"the file is damaged ({type(exc).__name__}: {exc})") from None


def _read_meta(path: Path, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    blob = raw.get(_META)
    if blob is None:
        raise CheckpointError(path, "an .npz file, but not a cnnlab checkpoint (no cnnlab header inside)")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(path, "its cnnlab header is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, "its header does not describe a cnnlab checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(path, f"unknown checkpoint version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            path,
            f"written by a newer cnnlab (format {version}; this one reads up to {VERSION}); update cnnlab",
        )
    return meta
