"""Runs history: each training run's settings, curves and final network, kept in the user's data folder.

One folder per run under the runs root (``RunStore.root``)::

    <root>/<run id>/run.json        what the run is and what it gave (below); rewritten while it trains
                   metrics.jsonl    one JSON object per line: {"kind": "eval", ...} at each validation
                                    evaluation and {"kind": "epoch", ...} at each epoch end
                   curves.npz       the full per-step curves (loss, smoothed loss, accuracy, learning rate,
                                    images seen, wall time; validation and test accuracy), written at
                                    epoch ends and at the end
                   checkpoint.npz   the network at the end (engine checkpoint format)
                   .lock            held (``flock``) by the process recording the run while it runs

``run.json`` (format 2) holds: ``id``, ``name`` (the user's, or null: then the run is called by its
automatic name, see ``describe``), ``status``, ``created``/``updated``, ``dataset``, ``spec_name``,
``param_count``, ``config`` (every setting: ``describe.run_settings``), ``changes`` (every live change:
step, images seen, setting, old and new value), ``tags`` (e.g. the sweep a run belongs to), and the
results so far: ``test_accuracy`` (and ``best_``), ``train_accuracy``, ``validation_accuracy`` (and
``best_``), ``final_loss`` (the smoothed training loss), ``test_loss``, ``elapsed`` (seconds),
``images_per_s``, ``steps``, ``images_seen``, ``epochs`` (one record per epoch), per-class accuracy and
the confusion matrix. It is rewritten at the moments that matter (validation evaluations, epoch ends,
live changes, a pause, the end), at most about once a second, so a list of runs shows a running run's
latest numbers.

A run's id is its folder's name, so a folder copied as a backup is a run of its own (deleting the copy
never touches the original). A run whose run.json says "running" but whose lock nobody holds any more
(its process was killed, or the folder is a copy) is listed as "interrupted".

The root is ``CNNLAB_HOME/runs`` when that variable is set, else ``platformdirs.user_data_dir("cnnlab")
/runs``; both ``RunStore`` and ``RunRecorder`` take another one as an argument.

``RunRecorder.observe(snapshot)`` is fed every snapshot of a run (by the CLI, the app's worker thread or a
sweep) and writes as the run goes; it costs nothing on ordinary step snapshots. ``RunStore`` lists,
loads, renames and deletes runs, and loads a finished run's network.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from cnnlab.engine import (
    Checkpoint,
    CheckpointError,
    Network,
    load_checkpoint,
    network_from_state,
    save_checkpoint,
)
from cnnlab.training.checks import ConfigError
from cnnlab.training.config import TrainConfig
from cnnlab.training.describe import DERIVED_KEYS, describe_runs, run_settings, train_config
from cnnlab.training.files import WriteError, append_lines, jsonable, write_json, write_npz
from cnnlab.training.snapshot import FINAL_EVENTS, Change, Event, Snapshot

if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover - no flock: a run's status is taken as written
    fcntl = None

HOME_ENV = "CNNLAB_HOME"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.npz"
CHECKPOINT_FILE = "checkpoint.npz"
LOCK_FILE = ".lock"
RUN_FORMAT = 2
# run.json is rewritten at most this often while a run trains (epoch ends and the end always).
WRITE_INTERVAL = 1.0
STATUSES = ("running", "finished", "stopped", "diverged", "failed", "interrupted")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunError(Exception):
    """A run that does not exist or cannot be read; the message names it."""


def runs_root(root: str | Path | None = None) -> Path:
    """Where runs are kept: ``root`` if given, else ``$CNNLAB_HOME/runs``, else the user data folder."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser() / "runs"
    return Path(platformdirs.user_data_dir("cnnlab", appauthor=False)) / "runs"


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based: the number of epochs done when it was recorded
    step: int
    train_loss: float | None
    train_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    seconds: float | None


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` says about a run (see the module docstring).

    ``name`` is what to call the run: the user's name (``user_name``) when there is one, else its
    automatic name (``auto_name``), which ``RunStore.list`` makes from what sets the run apart from the
    other listed runs (``describe_runs``; alone, a run is called by its network).
    """

    id: str
    user_name: str | None  # the name the user gave (--name, or a rename), None if none
    auto_name: str
    created: str  # ISO 8601, UTC
    updated: str
    status: str  # one of STATUSES ("interrupted": said "running", but its process is gone)
    dataset: str
    spec_name: str
    param_count: int
    test_accuracy: float | None  # at the end of the run (latest full test evaluation)
    best_test_accuracy: float | None
    epochs_planned: int
    steps: int
    images_seen: int
    elapsed: float  # seconds of training (pauses excluded)
    message: str
    config: dict[str, Any]  # every setting: describe.run_settings (TrainConfig fields + derived ones)
    epochs: tuple[EpochRecord, ...]
    path: Path
    session_id: str = ""  # the training session's run id (kept by a resumed run)
    resumed_from: str | None = None
    has_checkpoint: bool = False
    per_class_accuracy: tuple[float | None, ...] | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None
    class_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()  # every live change, in order
    tags: dict[str, Any] = field(default_factory=dict)  # e.g. {"sweep": id, "sweep_setting": "lr", ...}
    train_accuracy: float | None = None  # the latest epoch's running training accuracy
    validation_accuracy: float | None = None  # latest validation evaluation
    best_validation_accuracy: float | None = None
    final_loss: float | None = None  # the smoothed training loss at the latest step
    test_loss: float | None = None
    images_per_s: float | None = None  # images per second of training steps (evaluations excluded)
    paused: bool = False  # the run was paused when run.json was last written

    @property
    def name(self) -> str:
        return self.user_name or self.auto_name

    @property
    def seconds(self) -> float:
        return self.elapsed

    @property
    def params(self) -> int:
        return self.param_count

    @property
    def epochs_done(self) -> int:
        return len(self.epochs)

    @property
    def train_images(self) -> int | None:
        return self.config.get("train_images")

    @property
    def validation_images(self) -> int | None:
        return self.config.get("validation_images")

    @property
    def checkpoint_path(self) -> Path | None:
        path = self.path / CHECKPOINT_FILE
        return path if self.has_checkpoint else None

    def train_config(self) -> TrainConfig:
        """The run's settings as a ``TrainConfig`` (``ConfigError`` naming the run if they are damaged)."""
        try:
            return train_config(self.config)
        except ValueError as exc:  # ConfigError, SpecError
            raise ConfigError(f"run {self.id}: its settings cannot be read ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``cnnlab runs list --json`` prints one per run)."""
        return jsonable(
            {
                "id": self.id,
                "name": self.name,
                "user_name": self.user_name,
                "auto_name": self.auto_name,
                "status": self.status,
                "created": self.created,
                "updated": self.updated,
                "dataset": self.dataset,
                "network": self.spec_name,
                "params": self.param_count,
                "config": self.config,
                "changes": [change.to_dict() for change in self.changes],
                "tags": self.tags,
                "test_accuracy": self.test_accuracy,
                "best_test_accuracy": self.best_test_accuracy,
                "train_accuracy": self.train_accuracy,
                "validation_accuracy": self.validation_accuracy,
                "best_validation_accuracy": self.best_validation_accuracy,
                "final_loss": self.final_loss,
                "test_loss": self.test_loss,
                "seconds": self.elapsed,
                "images_per_s": self.images_per_s,
                "steps": self.steps,
                "images_seen": self.images_seen,
                "epochs_planned": self.epochs_planned,
                "epochs_done": self.epochs_done,
                "epochs": [vars(e) for e in self.epochs],
                "message": self.message,
                "path": self.path,
                "has_checkpoint": self.has_checkpoint,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> RunInfo:
        """``run.json``'s data for the run in folder ``path`` (whose name is the run's id)."""
        epochs = tuple(
            EpochRecord(
                epoch=int(e["epoch"]),
                step=int(e.get("step", 0)),
                train_loss=e.get("train_loss"),
                train_accuracy=e.get("train_accuracy"),
                test_accuracy=e.get("test_accuracy"),
                test_loss=e.get("test_loss"),
                seconds=e.get("seconds"),
            )
            for e in data.get("epochs", [])
        )
        per_class = data.get("per_class_accuracy")
        confusion = data.get("confusion")
        config = _settings(dict(data.get("config") or {}))
        spec_name = str(data.get("spec_name", config.get("network", "")))
        elapsed = float(data.get("elapsed", 0.0))
        images_seen = int(data.get("images_seen", 0))
        train_accuracy = data.get("train_accuracy")
        if train_accuracy is None and epochs:
            train_accuracy = epochs[-1].train_accuracy
        speed = data.get("images_per_s")
        if speed is None and elapsed > 0:
            speed = images_seen / elapsed
        return cls(
            id=path.name,
            user_name=_user_name(data, spec_name),
            auto_name=describe_runs([config])[0],
            created=str(data.get("created", "")),
            updated=str(data.get("updated", data.get("created", ""))),
            status=str(data.get("status", "running")),
            dataset=str(data.get("dataset", "")),
            spec_name=spec_name,
            param_count=int(data.get("param_count", config.get("params") or 0)),
            test_accuracy=data.get("test_accuracy"),
            best_test_accuracy=data.get("best_test_accuracy"),
            epochs_planned=int(data.get("epochs_planned", 0)),
            steps=int(data.get("steps", 0)),
            images_seen=images_seen,
            elapsed=elapsed,
            message=str(data.get("message", "")),
            config=config,
            epochs=epochs,
            path=path,
            session_id=str(data.get("session_id", "")),
            resumed_from=data.get("resumed_from"),
            has_checkpoint=(path / CHECKPOINT_FILE).is_file(),
            per_class_accuracy=tuple(per_class) if per_class is not None else None,
            confusion=tuple(tuple(row) for row in confusion) if confusion is not None else None,
            class_names=tuple(data.get("class_names", ())),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
            changes=tuple(_change(c) for c in data.get("changes") or ()),
            tags=dict(data.get("tags") or {}),
            train_accuracy=train_accuracy,
            validation_accuracy=data.get("validation_accuracy"),
            best_validation_accuracy=data.get("best_validation_accuracy"),
            final_loss=data.get("final_loss"),
            test_loss=data.get("test_loss", epochs[-1].test_loss if epochs else None),
            images_per_s=speed,
            paused=bool(data.get("paused", False)),
        )


_KNOWN = {
    "format", "id", "name", "created", "updated", "status", "dataset", "spec_name", "param_count",
    "test_accuracy", "best_test_accuracy", "epochs_planned", "steps", "images_seen", "elapsed",
    "message", "config", "epochs", "session_id", "resumed_from", "per_class_accuracy", "confusion",
    "class_names", "changes", "tags", "train_accuracy", "validation_accuracy", "best_validation_accuracy",
    "final_loss", "test_loss", "images_per_s", "paused", "train_seconds",
}  # fmt: skip


def _user_name(data: dict[str, Any], spec_name: str) -> str | None:
    name = data.get("name")
    if name is None or str(name).strip() == "":
        return None
    if int(data.get("format", 1)) < 2:
        # Format 1 always stored a name, made up as "<network> on <dataset>" unless the user gave one.
        made_up = {f"{spec_name} on {data.get('dataset', '')}", spec_name or "custom net"}
        if str(name) in made_up:
            return None
    return str(name)


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """A run's settings with the derived ones filled in where a record (format 1) lacks them."""
    if all(key in config for key in DERIVED_KEYS):
        return config
    try:
        derived = run_settings(train_config(config))
    except (ValueError, TypeError):  # damaged settings: shown as they are
        return config
    return {**config, **{k: derived[k] for k in DERIVED_KEYS if k not in config}}


def _change(item: Any) -> Change:
    if isinstance(item, dict):
        return Change(
            int(item.get("step", 0)), item.get("images_seen"), str(item.get("setting")), item.get("old"),
            item.get("new"),
        )  # fmt: skip
    step, seen, setting, old, new = item if len(item) == 5 else (item[0], None, item[1], None, item[2])
    return Change(int(step), seen, str(setting), old, new)


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: its info, its metric lines, and its curves (name -> read-only array).

    Curves (when saved): ``steps``, ``loss``, ``loss_smooth``, ``train_accuracy``, ``lr``,
    ``images_seen``, ``elapsed`` (per step); ``eval_steps``, ``validation_accuracy``,
    ``validation_loss``, ``eval_train_accuracy``, ``eval_images_seen``, ``eval_elapsed`` (per validation
    evaluation); ``epoch_steps``, ``epoch_train_loss``, ``epoch_train_accuracy``, ``test_accuracy``,
    ``test_loss``, ``epoch_seconds``, ``epoch_images_seen``, ``epoch_elapsed`` (per epoch). Runs recorded
    before the validation split have ``held_out_*`` curves instead (of a test-set subset); both names
    are given for a while, whichever was saved.
    """

    info: RunInfo
    metrics: tuple[dict[str, Any], ...]
    curves: dict[str, np.ndarray]

    def metric_lines(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.metrics if line.get("kind") == kind]


class RunStore:
    """The runs kept in one folder (see the module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = runs_root(root)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # -- reading ------------------------------------------------------------------------------------
    def list(self) -> list[RunInfo]:
        """Every readable run, newest first (folders without a readable run.json are left out), each
        ``auto_name`` made from what sets it apart from the others listed."""
        runs = []
        if not self.root.is_dir():
            return runs
        for folder in self.root.iterdir():
            if folder.is_dir() and (folder / RUN_FILE).is_file():
                with contextlib.suppress(RunError):
                    runs.append(self._read_info(folder))
        runs.sort(key=lambda info: (info.created, info.id), reverse=True)
        return named_runs(runs)

    def __iter__(self) -> Iterator[RunInfo]:
        return iter(self.list())

    def get(self, run_id: str) -> RunInfo:
        return self._read_info(self.path(run_id))

    def load(self, run_id: str) -> RunRecord:
        """A run's info, metric lines and curves."""
        folder = self.path(run_id)
        info = self._read_info(folder)
        metrics = []
        metrics_path = folder / METRICS_FILE
        if metrics_path.is_file():
            for line in metrics_path.read_text(encoding="utf-8").splitlines():
                # A line cut short by a crash is skipped; every other line stands on its own.
                with contextlib.suppress(json.JSONDecodeError):
                    value = json.loads(line)
                    if isinstance(value, dict):
                        metrics.append(value)
        curves: dict[str, np.ndarray] = {}
        curves_path = folder / CURVES_FILE
        if curves_path.is_file():
            try:
                with open(curves_path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
                    for key in npz.files:
                        array = np.array(npz[key])
                        array.flags.writeable = False
                        curves[key] = array
            except Exception as exc:  # damaged file: say which, never crash a listing view
                raise RunError(f"run {run_id}: {CURVES_FILE} cannot be read ({exc})") from None
            for new, old in _CURVE_ALIASES:
                if new in curves or old in curves:
                    curves.setdefault(new, curves.get(old))
                    curves.setdefault(old, curves[new])
        return RunRecord(info, tuple(metrics), curves)

    def load_checkpoint(self, run_id: str) -> Checkpoint:
        path = self.path(run_id) / CHECKPOINT_FILE
        if not path.is_file():
            raise RunError(f"run {run_id} has no saved network (it may still be running, or it failed)")
        return load_checkpoint(path)

    def load_network(self, run_id: str) -> Network:
        """The network a run ended with (its final checkpoint)."""
        return self.load_checkpoint(run_id).build_network()

    def path(self, run_id: str) -> Path:
        """The folder of an existing run; ``RunError`` if there is none."""
        if not isinstance(run_id, str) or not _ID_PATTERN.match(run_id):
            raise RunError(f"{run_id!r} is not a run id")
        folder = self.root / run_id
        if not (folder / RUN_FILE).is_file():
            raise RunError(f"no run {run_id!r} in {self.root}")
        return folder

    # -- changing -----------------------------------------------------------------------------------
    def rename(self, run_id: str, name: str) -> RunInfo:
        """Give a run the user's own name (``RunError`` for an empty one: see ``clear_name``)."""
        name = str(name).strip()
        if not name:
            raise RunError("a run's name cannot be empty")
        return self._set_name(run_id, name)

    def clear_name(self, run_id: str) -> RunInfo:
        """Forget the user's name: the run is called by its automatic name again."""
        return self._set_name(run_id, None)

    def _set_name(self, run_id: str, name: str | None) -> RunInfo:
        folder = self.path(run_id)
        data = self._read_json(folder)
        # In format 1 every run had a name, often a made-up one; from now on this one is the user's.
        data.update(name=name, format=max(int(data.get("format", 1)), RUN_FORMAT))
        write_json(folder / RUN_FILE, data)
        return RunInfo.from_dict(data, folder)

    def delete(self, run_id: str) -> None:
        """Delete a run's folder; ``RunError`` for a run that is still being recorded."""
        folder = self.path(run_id)
        if _lock_held(folder):
            raise RunError(f"run {run_id} is still training; stop it before deleting it")
        shutil.rmtree(folder)

    def new_run_folder(self, session_id: str, created: datetime) -> tuple[str, Path]:
        """A fresh, unique folder for a run: ``YYYYmmdd-HHMMSS-<session id>`` (``-2``, ``-3``... if taken).

        ``WriteError`` (one line) when the runs folder cannot be made or written to.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(self.root, exc) from None
        safe = re.sub(r"[^A-Za-z0-9._-]", "", session_id)[:12] or "run"
        base = f"{created.strftime('%Y%m%d-%H%M%S')}-{safe}"
        for n in range(1, 1000):
            run_id = base if n == 1 else f"{base}-{n}"
            folder = self.root / run_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise WriteError(folder, exc) from None
            return run_id, folder
        raise RunError(f"cannot make a folder for a new run in {self.root}")

    # -- helpers ------------------------------------------------------------------------------------
    def _read_json(self, folder: Path) -> dict[str, Any]:
        try:
            data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunError(f"run {folder.name}: {RUN_FILE} cannot be read ({exc})") from None
        if not isinstance(data, dict) or "id" not in data:
            raise RunError(f"run {folder.name}: {RUN_FILE} is not a cnnlab run record")
        return data

    def _read_info(self, folder: Path) -> RunInfo:
        data = self._read_json(folder)
        if data.get("status", "running") == "running" and not _lock_held(folder):
            data = {**data, "status": "interrupted"}
        try:
            return RunInfo.from_dict(data, folder)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"run {folder.name}: {RUN_FILE} is damaged ({exc})") from None


_CURVE_ALIASES = (("validation_accuracy", "held_out_accuracy"), ("validation_loss", "held_out_loss"))


def named_runs(runs: list[RunInfo]) -> list[RunInfo]:
    """``runs`` with each ``auto_name`` made from what sets it apart from the others (``describe_runs``)."""
    names = describe_runs(runs)
    return [replace(info, auto_name=name) for info, name in zip(runs, names, strict=True)]


def _lock_held(folder: Path) -> bool:
    """Whether a process (this one included) holds the run's lock, i.e. is recording it right now."""
    if fcntl is None:
        return True
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: trust what run.json says
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class RunRecorder:
    """Writes one run into a ``RunStore`` from its snapshots.

    Feed it every snapshot with ``observe`` (from the thread iterating ``run()``). It creates the run's
    folder at the first snapshot, appends metric lines at evaluations and epoch ends, rewrites
    ``run.json`` whenever something worth showing happened (an evaluation, an epoch end, a live change,
    a pause: at most every ``write_interval`` seconds, epoch ends and the end always) and ``curves.npz``
    at epoch ends, and at the last snapshot saves the final network. With ``session`` the final
    checkpoint is the session's own (optimizer state and progress included, so it can be resumed);
    without, it holds the snapshot's weights. ``name``: the user's name for the run (None: it is called
    by its automatic name). ``tags``: plain data kept in ``run.json`` (a sweep's id, setting and value).
    ``failed(message)`` marks a run whose training raised. While it records, it holds the run's lock
    (see the module docstring); the last snapshot, ``failed`` or ``close`` let it go.
    """

    def __init__(
        self,
        store: RunStore | None = None,
        *,
        name: str | None = None,
        session: Any = None,
        save_network: bool = True,
        tags: dict[str, Any] | None = None,
        write_interval: float = WRITE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store if store is not None else RunStore()
        self.name = name.strip() if isinstance(name, str) and name.strip() else None
        self.session = session
        self.save_network = save_network
        self.tags = jsonable(dict(tags or {}))
        self.write_interval = write_interval
        self._clock = clock
        self.run_id: str | None = None
        self.path: Path | None = None
        self._data: dict[str, Any] = {}
        self._evals_written = 0
        self._epochs_written = 0
        self._changes_seen = 0
        self._dirty = False
        self._written_at = -math.inf
        self._lock: int | None = None
        self.error: str | None = None  # the last write problem; recording never stops training

    def observe(self, snapshot: Snapshot) -> None:
        event = snapshot.event
        if self.path is None:
            self._guard(self._begin, snapshot)
            if self.path is None:
                return
        changes = len(snapshot.history.changes)
        if changes != self._changes_seen or event == Event.PAUSED:
            self._changes_seen = changes
            self._dirty = True
        if event in (Event.EVAL, Event.EPOCH_END, *FINAL_EVENTS):
            self._guard(self._record, snapshot)
        if event in (Event.EPOCH_END, *FINAL_EVENTS) or (
            self._dirty and self._clock() - self._written_at >= self.write_interval
        ):
            self._update_progress(snapshot)
            self._guard(self._write_info)
        if event in FINAL_EVENTS:
            self.close()

    def annotate(self, **fields: Any) -> None:
        """Add or replace fields in ``run.json`` (e.g. a final test evaluation made after a stop)."""
        if self.path is None:
            return
        self._data.update(jsonable(fields))
        self._guard(self._write_info)

    def failed(self, message: str) -> None:
        if self.path is None:
            return
        self._data.update(status="failed", message=str(message))
        self._guard(self._write_info)
        self.close()

    def close(self) -> None:
        """Let go of the run's lock (a run still "running" then lists as "interrupted")."""
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)
            self._lock = None

    @property
    def info(self) -> RunInfo | None:
        return RunInfo.from_dict(self._data, self.path) if self.path is not None else None

    # -- inside -------------------------------------------------------------------------------------
    def _guard(self, action, *args) -> None:
        try:
            action(*args)
        except (OSError, ValueError, CheckpointError) as exc:
            self.error = f"could not record the run in {self.store.root}: {exc}"

    def _begin(self, snapshot: Snapshot) -> None:
        # Microseconds kept: runs started within one second still list in the order they began.
        created = datetime.now(UTC)
        run_id, path = self.store.new_run_folder(snapshot.run_id, created)
        self._lock = _take_lock(path)
        self.run_id, self.path = run_id, path
        spec = snapshot.spec
        if snapshot.config is not None:
            config = run_settings(
                snapshot.config,
                train_images=snapshot.train_images,
                validation_images=snapshot.validation_images,
            )
        else:
            config = {"spec": spec.to_dict(), "network": spec.name, "params": spec.num_params()}
        stamp = created.isoformat()
        self._data = {
            "format": RUN_FORMAT,
            "id": self.run_id,
            "name": self.name,
            "created": stamp,
            "updated": stamp,
            "status": "running",
            "session_id": snapshot.run_id,
            "dataset": snapshot.dataset,
            "spec_name": spec.name,
            "param_count": spec.num_params(),
            "epochs_planned": snapshot.epochs,
            "class_names": list(snapshot.class_names),
            "config": jsonable(config),
            "tags": self.tags,
            "resumed_from": snapshot.extra.get("resumed_from"),
        }
        self._update_progress(snapshot)
        self._write_info()
        self._epochs_written = len(snapshot.history.epoch_steps)
        self._evals_written = len(snapshot.history.eval_steps)
        self._changes_seen = len(snapshot.history.changes)

    def _record(self, snapshot: Snapshot) -> None:
        """Metric lines, curves and the final network: at evaluations, epoch ends and the end."""
        event = snapshot.event
        lines = []
        h = snapshot.history
        for i in range(self._evals_written, len(h.eval_steps)):
            line = {
                "kind": "eval",
                "step": int(h.eval_steps[i]),
                "images_seen": _at(h.eval_images_seen, i),
                "elapsed": _at(h.eval_elapsed, i),
                "validation_accuracy": float(h.validation_accuracy[i]),
                "validation_loss": float(h.validation_loss[i]),
                "eval_train_accuracy": _at(h.eval_train_accuracy, i),
            }
            if line["step"] == snapshot.step:
                line.update(
                    epoch=snapshot.epoch,
                    loss=snapshot.loss,
                    loss_smooth=snapshot.loss_smooth,
                    train_accuracy=snapshot.train_accuracy,
                    lr=snapshot.lr,
                )
            lines.append(line)
        self._evals_written = len(h.eval_steps)
        for i in range(self._epochs_written, len(h.epoch_steps)):
            lines.append({"kind": "epoch", **_epoch_dict(h, i), "elapsed": snapshot.elapsed})
        self._epochs_written = len(h.epoch_steps)
        if lines:
            append_lines(self.path / METRICS_FILE, [json.dumps(jsonable(line)) for line in lines])
        self._dirty = True
        if event in (Event.EPOCH_END, *FINAL_EVENTS):
            _write_curves(self.path / CURVES_FILE, h)
        if event in FINAL_EVENTS:
            self._data.update(status=event, message=snapshot.message)
            if self.save_network:
                self._save_network(snapshot)

    def _update_progress(self, snapshot: Snapshot) -> None:
        h = snapshot.history
        tests = [v for v in h.test_accuracy.tolist() if math.isfinite(v)]
        train = snapshot.train_accuracy
        if train is None and len(h.epoch_steps):
            train = float(h.epoch_train_accuracy[-1])
        self._data.update(
            steps=snapshot.step,
            images_seen=snapshot.images_seen,
            elapsed=snapshot.elapsed,
            images_per_s=_speed(snapshot),
            train_seconds=snapshot.train_seconds,
            paused=snapshot.paused,
            test_accuracy=snapshot.test_accuracy,
            best_test_accuracy=max(tests) if tests else None,
            test_loss=_last(h.test_loss) if h.test_loss is not None else None,
            train_accuracy=train,
            validation_accuracy=snapshot.validation_accuracy,
            best_validation_accuracy=snapshot.best_validation_accuracy,
            final_loss=snapshot.loss_smooth,
            changes=[change.to_dict() for change in h.changes],
            epochs=[_epoch_dict(h, i) for i in range(len(h.epoch_steps))],
        )
        if snapshot.per_class_accuracy is not None and snapshot.event != Event.STEP:
            self._data["per_class_accuracy"] = snapshot.per_class_accuracy.tolist()
            self._data["confusion"] = snapshot.confusion.tolist()

    def _save_network(self, snapshot: Snapshot) -> None:
        path = self.path / CHECKPOINT_FILE
        if self.session is not None:
            self.session.save_checkpoint(path)
            return
        network = network_from_state(snapshot.spec, snapshot.weights)
        meta = {
            "run_id": snapshot.run_id,
            "class_names": list(snapshot.class_names),
            "dataset": snapshot.dataset,
        }
        if snapshot.config is not None:
            meta["config"] = snapshot.config.to_dict()
        save_checkpoint(path, network, metadata=meta)

    def _write_info(self) -> None:
        self._data["updated"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        write_json(self.path / RUN_FILE, self._data)
        self._dirty = False
        self._written_at = self._clock()


def _speed(snapshot: Snapshot) -> float | None:
    """Images per second of training steps (evaluations and snapshots excluded)."""
    seconds = snapshot.train_seconds or snapshot.elapsed
    return snapshot.images_seen / seconds if seconds > 0 else None


def _at(values: np.ndarray | None, i: int) -> float | None:
    return float(values[i]) if values is not None and i < len(values) else None


def _last(values: np.ndarray | None) -> float | None:
    if values is None or not len(values) or not math.isfinite(values[-1]):
        return None
    return float(values[-1])


def _take_lock(folder: Path) -> int | None:
    """Open and hold ``folder/.lock`` (released by closing it, or by the kernel when the process dies)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise WriteError(folder / LOCK_FILE, exc) from None
    # On a file system without locks the run still records, its status taken as written.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _epoch_dict(h, i: int) -> dict[str, Any]:
    test_loss = h.test_loss[i] if h.test_loss is not None and i < len(h.test_loss) else math.nan
    return jsonable(
        {
            "epoch": i + 1,
            "step": int(h.epoch_steps[i]),
            "train_loss": float(h.epoch_train_loss[i]),
            "train_accuracy": float(h.epoch_train_accuracy[i]),
            "test_accuracy": float(h.test_accuracy[i]),
            "test_loss": float(test_loss),
            "seconds": float(h.epoch_seconds[i]),
        }
    )


def _write_curves(path: Path, h) -> None:
    arrays = {
        "steps": h.steps,
        "loss": h.loss,
        "loss_smooth": h.loss_smooth,
        "train_accuracy": h.train_accuracy,
        "lr": h.lr,
        "eval_steps": h.eval_steps,
        "validation_accuracy": h.validation_accuracy,
        "validation_loss": h.validation_loss,
        "epoch_steps": h.epoch_steps,
        "epoch_train_loss": h.epoch_train_loss,
        "epoch_train_accuracy": h.epoch_train_accuracy,
        "test_accuracy": h.test_accuracy,
        "epoch_seconds": h.epoch_seconds,
    }
    optional = {
        "test_loss": h.test_loss,
        "images_seen": h.images_seen,
        "elapsed": h.elapsed,
        "eval_train_accuracy": h.eval_train_accuracy,
        "eval_images_seen": h.eval_images_seen,
        "eval_elapsed": h.eval_elapsed,
        "epoch_images_seen": h.epoch_images_seen,
        "epoch_elapsed": h.epoch_elapsed,
    }
    arrays.update({name: array for name, array in optional.items() if array is not None})
    write_npz(path, arrays)
