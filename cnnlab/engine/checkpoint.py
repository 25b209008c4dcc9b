"""Checkpoints: one ``.npz`` file holding the spec (JSON) and the weights (plain arrays).

Files are read with ``allow_pickle=False``, so loading a checkpoint can never run code. Every way a
file can be wrong (missing, truncated, not a zip, another program's ``.npz``, a newer format, weights
that do not fit the spec) ends in one ``CheckpointError`` naming the file and the problem. Saving
(``write_atomic``, also used by the training floor for its run files) writes a temporary file beside
the target and renames it, so a crash never leaves half a checkpoint; a save that cannot be written
raises ``WriteError``, an ``OSError`` whose message names the file and the reason in plain words.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
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
    return write_atomic(path, lambda handle: np.savez(handle, **arrays))


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


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
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
    removed = []
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
    metadata = meta.get("metadata") or {}
    if not isinstance(metadata, dict):  # the training floor checks each field; the whole must be a dict
        raise CheckpointError(path, f"its metadata is a JSON {type(metadata).__name__}, not an object")
    checkpoint = Checkpoint(spec, weights, optim, dict(metadata), path)
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
