"""Checkpoints: one ``.npz`` file holding the spec (JSON) and the weights (plain arrays).

Files are read with pickling refused, so loading a checkpoint can never run code. Every way a file
can be wrong (missing, not a regular file, truncated, not a zip, another program's ``.npz``, a newer
format, weights that do not fit the spec) ends in one ``CheckpointError`` naming the file and the
problem. Reading is bounded by what the file itself claims, checked before anything large is read:
the spec inside is validated within a ``Budget`` before anything is built, and each array's size,
shape and type must be what that spec says, from the archive's directory and the array's header.
Saving (``write_atomic``, also used by the training floor for its run files) writes a temporary file
beside the target and renames it, so a crash never leaves half a checkpoint; a save that cannot be
written raises ``WriteError``, an ``OSError`` whose message names the file and the reason in plain words.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import socket
import time
import zipfile
from collections.abc import Callable
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
    """Write ``network`` (and optionally ``optimizer``'s state) to ``path`` atomically.

    Raises ``WriteError`` (an ``OSError``) naming the file and the reason in plain words when it cannot
    be written (a full disk, a read-only folder, a path below a file); the previous file stays intact.
    """
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
    # numpy's stub lets **kwds stand for its allow_pickle: bool, so any dict of arrays is refused
    return write_atomic(path, lambda handle: np.savez(handle, **arrays))  # type: ignore[arg-type]


# -- writing files atomically ---------------------------------------------------------------------------
# A temporary file's name says who writes it (".NAME.<host>-<pid>.<random>.tmp"), so the next save can
# tell the leftovers of a killed process from a save still going on in another one.
_TEMP_SUFFIX = ".tmp"
_LEGACY_TEMP_AGE_S = 60.0  # temporaries named without a writer (older cnnlab) are stale after this
_FOREIGN_TEMP_AGE_S = 86400.0  # another machine's (a shared folder): stale after a day
_PLAIN_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the disk is read-only",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOENT: "its folder does not exist",
    errno.EEXIST: "a file stands where a folder should be",
}


class WriteError(OSError):
    """A file that could not be written: one line naming it and the reason (``path``, ``reason``)."""

    def __init__(self, path: str | os.PathLike, cause: OSError) -> None:
        self.path = Path(path)
        self.reason = describe_os_error(cause, self.path)
        super().__init__(cause.errno, self.reason, str(self.path))

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """An ``OSError`` in plain words (no errno numbers); ``path``: the file being written, to name the
    file that stands in the way of a folder."""
    if exc.errno == errno.ENOTDIR or (exc.errno == errno.EEXIST and path is not None):
        blocker = _file_in_the_way(Path(path)) if path is not None else None
        if blocker is not None:
            return f"{blocker} is a file, not a folder"
    if isinstance(exc, WriteError):
        return exc.reason
    return _PLAIN_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def _file_in_the_way(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return parent if not parent.is_dir() else None
    return None


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash, a kill or a full disk never leaves half a file where a good one was. The file gets the
    permissions the user's umask gives new files. Temporaries left beside ``path`` by a killed save are
    removed first. An ``OSError`` becomes a ``WriteError``; anything else raised by ``write`` (including
    KeyboardInterrupt) passes through, after the temporary file is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = path.parent / f".{path.name}.{_writer_tag()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        # os.open with 0o666 lets the kernel apply the umask (mkstemp would make it private, 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, exc) from None
        raise
    _sync_folder(path.parent)
    return path


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries of ``path`` left by saves that were killed; returns what was removed.

    A temporary is stale when the process named in it is gone (same machine), or, for one without a
    writer in its name (older cnnlab) or from another machine, when it is old. A save still going on in
    another live process is never touched.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
            continue
        middle = name[len(prefix) : -len(_TEMP_SUFFIX)]
        try:
            if not entry.is_file(follow_symlinks=False) or not _is_stale(middle, entry.stat().st_mtime):
                continue
            os.unlink(entry.path)
        except OSError:  # gone already, or not ours to delete: the save itself goes on
            continue
        removed.append(Path(entry.path))
    return removed


def _writer_tag() -> str:
    return f"{_host()}-{os.getpid()}"


def _host() -> str:
    return "".join(c for c in socket.gethostname() if c.isalnum())[:24] or "host"


def _is_stale(middle: str, mtime: float) -> bool:
    age = time.time() - mtime
    writer, dot, _random = middle.partition(".")
    host, dash, pid_text = writer.rpartition("-")
    if not dot or not dash or not pid_text.isdigit():
        return age > _LEGACY_TEMP_AGE_S
    if host != _host():
        return age > _FOREIGN_TEMP_AGE_S
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # a save in another thread of this very process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False  # alive, as another user (or a pid this system cannot have: leave it)
    return False


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the system allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        raise CheckpointError(path, f"its metadata is a JSON {type(metadata).__name__}, not an object")
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
            state[key] = _read_array(path, archive, members[member], key, (), "iu", "the optimizer's")
            continue
        param = key.rpartition("/")[0]
        if param not in params:
            raise CheckpointError(
                path, f"its optimizer state names {key[:60]!r}, which its network does not have"
            )
        state[key] = _read_array(path, archive, members[member], key, params[param], "f", "the optimizer's")
    return state


def _read_array(
    path: Path,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    shape: tuple[int, ...] | None,
    kinds: str,
    role: str = "weights for",
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
                wanted = "floating-point numbers" if kinds == "f" else "whole numbers"
                raise CheckpointError(path, f"{role} {name} holds {dtype} data, not {wanted}")
            if shape is not None and found != shape:
                verb = "have" if role == "weights for" else "has"
                raise CheckpointError(path, f"{role} {name} {verb} shape {found}, the network needs {shape}")
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
