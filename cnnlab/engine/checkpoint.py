"""Checkpoints: one ``.npz`` file holding the spec (JSON) and the weights (plain arrays).

Files are read with pickling refused, so loading a checkpoint can never run code. Every way a file
can be wrong (missing, not a regular file, truncated, not a zip, another program's ``.npz``, a newer
format, weights that do not fit the spec) ends in one ``CheckpointError`` naming the file and the
problem. Reading is bounded by what the file itself claims, checked before anything large is read:
the spec inside is validated within a ``Budget`` before anything is built, and each array's size,
shape and type must be what that spec says, from the archive's directory and the array's header.
Saving writes a temporary file beside the target and renames it, so a crash never leaves half a
checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from cnnlab.engine.network import Network
from cnnlab.engine.reading import loads_json, open_regular, size_text
from cnnlab.engine.spec import Budget, NetSpec, SpecError, network_from_state, shape_text, state_shapes

FORMAT = "cnnlab-checkpoint"
VERSION = 1
_META = "__cnnlab__"
_WEIGHT = "w/"
_OPTIM = "opt/"
MAX_META_BYTES = 64 << 20  # the header: the spec and the run's metadata (its curves) as JSON
MAX_META_DEPTH = 32
_NPY_HEADER = 64 << 10  # an .npy header is about 128 bytes; allow far more, but not without limit
_OPTIM_SLOTS = 4  # per parameter: SGD keeps one array, Adam two


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
    budget: Budget | None = field(default=None, compare=False, repr=False)  # the one it was read within

    def build_network(self, rng: np.random.Generator | None = None) -> Network:
        """A network with these weights. ``rng`` only matters for layers that draw at run time (Dropout)."""
        return network_from_state(self.spec, self.weights, rng=rng, budget=self.budget)

    def mismatch(self, current: NetSpec) -> str | None:
        """None if these weights fit a network of ``current``; else why not, in one line."""
        return architecture_mismatch(self.spec, current)


def architecture_mismatch(saved: NetSpec, current: NetSpec) -> str | None:
    """None if weights of a ``saved`` network fit a ``current`` one; else one line for the user, "this
    checkpoint is for a network with ..., the current one has ...", naming the first array that differs."""
    if tuple(saved.input_shape) != tuple(current.input_shape):
        return (
            f"this checkpoint is for a network taking {shape_text(saved.input_shape)} inputs, the current "
            f"one takes {shape_text(current.input_shape)}"
        )
    unlimited = Budget.unlimited()
    try:
        ours = state_shapes(current, unlimited)
    except SpecError as exc:
        return f"the current network cannot be built ({exc})"
    theirs = state_shapes(saved, unlimited)
    if ours == theirs:
        return None
    name = next((k for k in (*theirs, *ours) if theirs.get(k) != ours.get(k)), "")

    def part(spec: NetSpec, shapes: dict[str, tuple[int, ...]]) -> str:
        what = f"{name} {shape_text(shapes[name])}" if name in shapes else f"no {name}"
        return f"{spec.num_params():,} parameters ({what})"

    return (
        f"this checkpoint is for a network with {part(saved, theirs)}, "
        f"the current one has {part(current, ours)}"
    )


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


def load_checkpoint(path, budget: Budget | None = None) -> Checkpoint:
    """Read and check a checkpoint; raises ``CheckpointError`` for anything that is not a good one.

    The network it describes must fit ``budget`` (default ``Budget()``), checked before any weight is read.
    """
    path = Path(path)
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except ValueError as exc:
        raise CheckpointError(path, str(exc)) from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise CheckpointError(
                path, "not a cnnlab checkpoint (not an .npz archive, or the file is truncated)"
            ) from None
        with archive:
            return _read(path, archive, budget)


def _read(path: Path, archive: zipfile.ZipFile, budget: Budget | None) -> Checkpoint:
    members = {info.filename: info for info in archive.infolist()}
    meta = _read_meta(path, archive, members)
    try:
        spec = NetSpec.from_dict(meta.get("spec"))
        expected = state_shapes(spec, budget)
    except SpecError as exc:
        raise CheckpointError(path, f"the network it describes is invalid ({exc})") from None
    stored = {
        name[len(_WEIGHT) : -4] for name in members if name.startswith(_WEIGHT) and name.endswith(".npy")
    }
    missing, extra = sorted(set(expected) - stored), sorted(stored - set(expected))
    if missing or extra:
        parts = [f"missing {', '.join(missing[:5])}"] if missing else []
        parts += [f"unexpected {', '.join(extra[:5])}"] if extra else []
        raise CheckpointError(path, f"its weights do not match its network ({'; '.join(parts)})")
    weights = {}
    for name, shape in expected.items():
        value = _read_array(path, archive, members[f"{_WEIGHT}{name}.npy"], name, shape, "f")
        if not np.all(np.isfinite(value)):
            raise CheckpointError(path, f"weights {name!r} contain NaN or infinite values")
        weights[name] = value
    optim = _read_optimizer(path, archive, members, state_shapes(spec, Budget.unlimited(), buffers=False))
    metadata = meta.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(path, f"its metadata must be a JSON object, not a {type(metadata).__name__}")
    checkpoint = Checkpoint(spec, weights, optim, dict(metadata), path, budget)
    if "optimizer" in meta:
        if not isinstance(meta["optimizer"], dict) or not isinstance(meta["optimizer"].get("kind"), str):
            raise CheckpointError(path, "its optimizer description is damaged")
        checkpoint.metadata.setdefault("optimizer", meta["optimizer"])
    return checkpoint


def _read_meta(path: Path, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> dict[str, Any]:
    info = members.get(f"{_META}.npy")
    if info is None:
        raise CheckpointError(path, "an .npz file, but not a cnnlab checkpoint (no cnnlab header inside)")
    if info.file_size > MAX_META_BYTES + _NPY_HEADER:
        raise CheckpointError(
            path,
            f"its cnnlab header is {size_text(info.file_size)}, more than the "
            f"{size_text(MAX_META_BYTES)} allowed",
        )
    blob = _read_array(path, archive, info, _META, None, "u")
    try:
        meta = loads_json(blob.tobytes().decode("utf-8"), MAX_META_DEPTH)
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(path, "its cnnlab header is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, "its header does not describe a cnnlab checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(path, f"unknown checkpoint version {str(version)[:20]!r}")
    if version > VERSION:
        raise CheckpointError(
            path,
            f"written by a newer cnnlab (format {version}; this one reads up to {VERSION}); update cnnlab",
        )
    return meta


def _read_optimizer(
    path: Path,
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    params: dict[str, tuple[int, ...]],
) -> dict[str, np.ndarray] | None:
    """Optimizer state: "steps" (a whole number) and per-parameter slots "<param>/<slot>" shaped like it."""
    names = [name for name in members if name.startswith(_OPTIM) and name.endswith(".npy")]
    if not names:
        return None
    if len(names) > _OPTIM_SLOTS * len(params) + 1:
        raise CheckpointError(
            path, f"its optimizer state has {len(names):,} arrays, more than its network needs"
        )
    state = {}
    for member in names:
        key = member[len(_OPTIM) : -4]
        if key == "steps":
            state[key] = _read_array(path, archive, members[member], key, (), "iu")
            continue
        param = key.rpartition("/")[0]
        if param not in params:
            raise CheckpointError(
                path, f"its optimizer state names {key[:60]!r}, which its network does not have"
            )
        state[key] = _read_array(path, archive, members[member], key, params[param], "f")
    return state


def _read_array(
    path: Path,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    shape: tuple[int, ...] | None,
    kinds: str,
) -> np.ndarray:
    """One .npy member, refused before it is read if its size, header, shape or type is not as expected.

    ``shape`` None: any 1-D array within the member's (already checked) size. The archive's directory
    gives each member's uncompressed size, and decompression never goes past it, so capping that size
    caps the memory a member can take.
    """
    if shape is not None:
        limit = math.prod(shape) * 8 + _NPY_HEADER
        if info.file_size > limit:
            raise CheckpointError(
                path,
                f"array {name!r} is {size_text(info.file_size)} uncompressed, far more than its "
                f"{shape_text(shape) or 'single'} values need",
            )
    try:
        with archive.open(info) as member:
            found, fortran, dtype = _npy_header(member)
            if dtype.hasobject:
                raise CheckpointError(path, "contains pickled objects, which cnnlab never loads")
            if dtype.kind not in kinds:
                raise CheckpointError(path, f"array {name!r} holds {dtype} data, not the numbers expected")
            if shape is not None and found != shape:
                raise CheckpointError(
                    path, f"weights for {name} have shape {found}, the network needs {shape}"
                )
            if shape is None and len(found) != 1:
                raise CheckpointError(path, f"array {name!r} has shape {found}, not one row of bytes")
            size = math.prod(found) * dtype.itemsize
            if size > info.file_size:
                raise CheckpointError(path, f"array {name!r} is truncated")
            data = member.read(size + 1)
    except CheckpointError:
        raise
    except Exception as exc:  # zlib.error, BadZipFile (a CRC mismatch), EOFError, a header NumPy cannot parse
        raise CheckpointError(path, f"the file is damaged ({type(exc).__name__}: {str(exc)[:120]})") from None
    if len(data) != size:
        raise CheckpointError(path, f"array {name!r} is truncated or has extra bytes")
    array = np.frombuffer(data, dtype=dtype).reshape(found, order="F" if fortran else "C")
    return np.array(array)  # a writable copy that owns its memory


def _npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member, max_header_size=_NPY_HEADER)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member, max_header_size=_NPY_HEADER)
    raise ValueError(f"unsupported .npy format {version}")
