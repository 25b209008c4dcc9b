"""The learner's own digits (the dataset ``mine``): a collection kept in the user's data folder.

The folder (``mine_root``: the ``root`` given, else ``$CNNLAB_MINE_DIR``, else
``platformdirs.user_data_dir("cnnlab")/mine``) holds three files that always describe the same samples,
in the same order::

    images-idx3-ubyte   uint8 (N, 28, 28), MNIST-style, ink bright 0..255: any MNIST loader reads it
    labels-idx1-ubyte   uint8 (N,), 0-9
    samples.json        per sample: id, label, created (ISO 8601, UTC), source ("pad" | "import") and the
                        raw strokes (width and points in canvas coordinates 0..280, so it can be re-rendered)

Ids are never reused. A sample is held out for testing by its id alone (``is_test_id``: about one in
five, spread evenly over any run of ids), so deleting or relabelling a sample never moves another one
between the parts.

Every change is one commit that survives a kill at any moment. The three new files are written to
temporaries and synced; then a journal naming them is put in place by a rename (the commit point); then
they are renamed over the old ones and the journal removed. Whoever opens the collection next finds a
journal (the new state: the renames are finished) or none (the old state: stray temporaries are deleted).
Writers hold a lock (``flock`` on ``.lock``) for the whole change, so two writers never lose each other's
samples. Readers take no lock, so they can never hold a writer up: ``samples.json`` records the SHA-256 of
the IDX files saved with it, and a read that catches the moment between two renames sees them differ and
reads again. So a reader in cnnlab always sees a consistent (images, labels, samples) triple; a program
reading the IDX files directly could catch that moment.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import platformdirs

from cnnlab.data.errors import CollectionError, DataError, DataFileError, EmptyDrawing, NotEnoughSamples
from cnnlab.data.files import open_regular, os_problem
from cnnlab.data.idx import decode_idx, encode_idx
from cnnlab.data.images import prepare_image

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

MINE_ENV_VAR = "CNNLAB_MINE_DIR"
IMAGES_FILE = "images-idx3-ubyte"
LABELS_FILE = "labels-idx1-ubyte"
SAMPLES_FILE = "samples.json"
JOURNAL_FILE = ".commit.json"
LOCK_FILE = ".lock"
FORMAT = "cnnlab-mine"
VERSION = 1

NUM_CLASSES = 10
SIZE = 28
CANVAS = 280  # the drawing pad's canvas: stroke points are in 0 .. CANVAS
SOURCES = ("pad", "import")
# One sample in five is held out for testing (by id, see ``is_test_id``).
TEST_SHARE = 0.2
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

# Budgets, checked before memory is taken: about 78 MB of images, and what a hand can draw.
MAX_SAMPLES = 100_000
MAX_STROKES = 1_000  # per sample
MAX_POINTS = 20_000  # per sample, all strokes together
MAX_JSON_BYTES = 256 << 20
MAX_UNDO = 100  # additions that Undo can take back, newest last
LOCK_TIMEOUT = 10.0  # seconds a command waits for another one writing the collection
_LOCK_POLL = 0.002

Layout = Literal["by-label", "named"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def mine_root(root: str | Path | None = None) -> Path:
    """Where the collection lives: ``root`` if given, else ``$CNNLAB_MINE_DIR``, else
    ``<user data>/cnnlab/mine`` (not the cache: these are the learner's own drawings)."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(MINE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("cnnlab", appauthor=False)) / "mine"


def is_test_id(sample_id: int) -> bool:
    """Whether a sample id belongs to the part held out for testing (about ``TEST_SHARE`` of all ids).

    The fractional parts of ``id * 0.618...`` (the golden ratio) spread evenly over [0, 1) for any run of
    ids and for every arithmetic progression of them, so digits drawn class after class, or 0-9 over and
    over, each get about a fifth held out.
    """
    return (sample_id * _GOLDEN) % 1.0 < TEST_SHARE


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, eq=False)
class Stroke:
    """One pen stroke: its ``width`` in canvas pixels and ``points`` float64 (P, 2) as (x, y), 0..280."""

    width: float
    points: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "points": self.points.tolist()}


@dataclass(frozen=True, eq=False)
class Sample:
    """One of the learner's digits (its pixels are ``MineState.images[index]``).

    ``strokes`` is None for an imported picture (there are no strokes to keep).
    """

    id: int
    label: int
    created: str
    source: str
    strokes: tuple[Stroke, ...] | None = None

    @property
    def held_out(self) -> bool:
        """True if this sample is in the test part."""
        return is_test_id(self.id)

    def __repr__(self) -> str:
        drawn = "no strokes" if self.strokes is None else f"{len(self.strokes)} strokes"
        return f"Sample(id={self.id}, label={self.label}, {self.source}, {self.created}, {drawn})"

    def to_json(self) -> dict[str, Any]:
        strokes = None if self.strokes is None else [s.to_json() for s in self.strokes]
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created,
            "source": self.source,
            "strokes": strokes,
        }


@dataclass(frozen=True, eq=False)
class MineState:
    """One consistent view of the collection: ``images`` uint8 (N, 28, 28), ``labels`` uint8 (N,) and
    ``samples`` (N Samples in the same order). Arrays are read-only."""

    root: Path
    images: np.ndarray
    labels: np.ndarray
    samples: tuple[Sample, ...]
    next_id: int = 1
    undo: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        self.images.setflags(write=False)
        self.labels.setflags(write=False)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def ids(self) -> np.ndarray:
        """int64 (N,): each sample's id, in order."""
        return np.fromiter((s.id for s in self.samples), dtype=np.int64, count=len(self.samples))

    @property
    def test_mask(self) -> np.ndarray:
        """bool (N,): which samples are held out for testing."""
        return np.fromiter((s.held_out for s in self.samples), dtype=bool, count=len(self.samples))

    def counts(self) -> np.ndarray:
        """int64 (10,): how many samples each class has."""
        return np.bincount(self.labels, minlength=NUM_CLASSES).astype(np.int64)

    def index_of(self, sample_id: int) -> int:
        """The position of a sample by id; ``DataError`` if there is none."""
        for i, s in enumerate(self.samples):
            if s.id == sample_id:
                return i
        raise DataError(f"your digits collection in {self.root} has no sample with id {sample_id}")

    def sample(self, sample_id: int) -> Sample:
        return self.samples[self.index_of(sample_id)]

    def export_idx(self, folder: str | Path) -> tuple[Path, Path]:
        """Write the IDX pair and ``samples.json`` (strokes and metadata) into ``folder`` (made if
        needed); returns the (images, labels) paths. Files of these names are replaced."""
        folder = _make_folder(Path(folder))
        payloads = _payloads(self.images, self.labels, self.samples, self.next_id, self.undo)
        for name, payload in payloads.items():
            _write_replacing(folder / name, payload)
        return folder / IMAGES_FILE, folder / LABELS_FILE

    def export_pngs(
        self, folder: str | Path, encode: Callable[[np.ndarray], bytes], layout: Layout = "by-label"
    ) -> list[Path]:
        """Write one picture per sample into ``folder`` (missing or empty: nothing is overwritten).

        ``encode`` turns uint8 (28, 28) into the bytes of an image file (the face encodes PNG with Qt).
        ``layout``: "by-label" (``<folder>/<label>/<id>.png``) or "named" (``<folder>/<id>_<label>.png``).
        Both are read back by ``label_from_name``. Returns the paths written, in sample order.
        """
        if layout not in ("by-label", "named"):
            raise ValueError(f"layout must be 'by-label' or 'named', got {layout!r}")
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            what = "is not a folder" if not folder.is_dir() else "is not empty"
            raise DataError(f"{folder} {what}: export your digits into a new or empty folder")
        folder = _make_folder(folder)
        written = []
        for image, s in zip(self.images, self.samples, strict=True):
            if layout == "by-label":
                path = _make_folder(folder / str(s.label)) / f"{s.id:05d}.png"
            else:
                path = folder / f"{s.id:05d}_{s.label}.png"
            try:
                path.write_bytes(encode(np.array(image)))
            except OSError as exc:
                raise DataFileError(path, f"cannot be written ({os_problem(exc)})") from exc
            written.append(path)
        return written


# ----------------------------------------------------------------------------------------------- store


class MineStore:
    """The collection in ``root`` (see ``mine_root``). Nothing is cached: every method reads the files
    afresh, and every change is one commit under the writers' lock, so several stores (threads,
    processes) on one folder are safe, and readers never wait for a lock. Raises ``DataError`` kinds:
    ``CollectionError`` for damaged or disagreeing files, ``DataFileError`` when a file cannot be
    written, plain ``DataError`` for a bad request (an unknown id, a label outside 0-9)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = mine_root(root)

    def __repr__(self) -> str:
        return f"MineStore({str(self.root)!r})"

    # -- reading ------------------------------------------------------------------------------------
    def read(self) -> MineState:
        """The collection as it is now (empty if the folder does not exist yet)."""
        if not self.root.exists():
            return self._empty()
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            if not self._interrupted():
                with contextlib.suppress(_InFlight):
                    return self._read_files(settled=False)
            # A save is under way, or one was cut short: whoever holds the lock finishes it.
            with self._lock(wait=False) as locked:
                if locked:
                    self._recover()
                    return self._read_files(settled=True)
                if locked is None:
                    raise CollectionError(
                        self.root / JOURNAL_FILE,
                        "a save was interrupted and this folder cannot be written to finish it",
                    )
            if time.monotonic() > deadline:
                raise _busy(self.root)
            time.sleep(_LOCK_POLL)

    @property
    def images(self) -> np.ndarray:
        """uint8 (N, 28, 28), read-only."""
        return self.read().images

    @property
    def labels(self) -> np.ndarray:
        """uint8 (N,), read-only."""
        return self.read().labels

    def samples(self) -> tuple[Sample, ...]:
        return self.read().samples

    def counts(self) -> np.ndarray:
        """int64 (10,): samples per class."""
        return self.read().counts()

    def __len__(self) -> int:
        return len(self.read())

    # -- changing -----------------------------------------------------------------------------------
    def add(
        self,
        image: np.ndarray,
        label: int,
        strokes: Iterable[Stroke | Mapping[str, Any]] | None = None,
        source: str = "pad",
        *,
        created: str | None = None,
    ) -> int:
        """Append one sample; returns its id. ``image``: the 28x28 the network sees, uint8 0..255 or float
        0..1, ink bright (``prepare_image``'s output). ``strokes``: ``Stroke`` objects or mappings
        ``{"width": w, "points": [(x, y), ...]}`` in canvas coordinates (clipped to 0..280)."""
        return self.add_many([image], [label], [strokes], source=source, created=created)[0]

    def add_many(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        labels: Sequence[int],
        strokes: Sequence[Iterable[Stroke | Mapping[str, Any]] | None] | None = None,
        source: str = "import",
        *,
        created: str | None = None,
    ) -> list[int]:
        """Append several samples in one commit (all or none); Undo takes them back together."""
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        strokes = [None] * len(labels) if strokes is None else list(strokes)
        if len(strokes) != len(labels):
            raise ValueError(f"{len(strokes)} stroke lists but {len(labels)} labels")
        if source not in SOURCES:
            raise DataError(f"a sample's source must be one of {', '.join(SOURCES)}, got {source!r}")
        pixels = [as_sample_image(image) for image in images]
        checked = [check_label(label) for label in labels]
        paths = [None if s is None else check_strokes(s) for s in strokes]
        when = created or _now()
        if not pixels:
            return []
        with self._writing() as state:
            if len(state) + len(pixels) > MAX_SAMPLES:
                raise DataError(
                    f"your digits collection in {self.root} would hold {len(state) + len(pixels):,} samples, "
                    f"more than the {MAX_SAMPLES:,} it is made for"
                )
            ids = list(range(state.next_id, state.next_id + len(pixels)))
            added = [
                Sample(i, lab, when, source, path) for i, lab, path in zip(ids, checked, paths, strict=True)
            ]
            self._commit(
                np.concatenate([state.images, np.stack(pixels)]),
                np.concatenate([state.labels, np.asarray(checked, dtype=np.uint8)]),
                (*state.samples, *added),
                next_id=ids[-1] + 1,
                undo=(*state.undo, tuple(ids)),
            )
        return ids

    def undo_last(self) -> tuple[Sample, ...]:
        """Take back the latest addition still present (one ``add`` or ``add_many``); returns the samples
        removed, none when there is nothing to undo."""
        with self._writing() as state:
            present = {s.id for s in state.samples}
            undo = list(state.undo)
            while undo:
                ids = [i for i in undo.pop() if i in present]
                if ids:
                    return self._remove(state, set(ids), undo)
            if state.undo:  # only additions deleted since: forget them
                self._commit(state.images, state.labels, state.samples, next_id=state.next_id, undo=())
            return ()

    def delete(self, ids: Iterable[int]) -> tuple[Sample, ...]:
        """Delete samples by id (all or none: an unknown id is a ``DataError``); returns them."""
        wanted = {int(i) for i in ids}
        with self._writing() as state:
            unknown = wanted - {s.id for s in state.samples}
            if unknown:
                listed = ", ".join(str(i) for i in sorted(unknown)[:5])
                raise DataError(f"your digits collection in {self.root} has no sample with id {listed}")
            if not wanted:
                return ()
            return self._remove(state, wanted, list(state.undo))

    def relabel(self, sample_id: int, label: int) -> Sample:
        """Give a sample another label; returns the changed sample."""
        label = check_label(label)
        with self._writing() as state:
            i = state.index_of(int(sample_id))
            old = state.samples[i]
            new = Sample(old.id, label, old.created, old.source, old.strokes)
            labels = np.array(state.labels)
            labels[i] = label
            samples = list(state.samples)
            samples[i] = new
            self._commit(state.images, labels, samples, next_id=state.next_id, undo=state.undo)
            return new

    def import_images(
        self,
        items: Iterable[tuple[str, np.ndarray]],
        label: int | None = None,
        rule: Callable[[str], int | None] | None = None,
    ) -> list[int]:
        """Add decoded pictures as (name, array) pairs in one commit; returns their ids.

        Each label is ``label`` if given, else ``rule(name)`` (default ``label_from_name``: a folder
        named 0-9, or a name ending in ``_D``). A 28x28 picture keeps its framing (it is taken to be a
        sample as exported: thick or shifted digits stay so); any other size is prepared by
        ``prepare_image``'s rule, as on the pad. ``DataError`` naming the picture when its label cannot
        be told or it holds no digit; nothing is added then.
        """
        rule = rule or label_from_name
        images, labels = [], []
        for name, array in items:
            found = label if label is not None else rule(name)
            if found is None:
                raise DataError(
                    f"{name}: cannot tell its label; put it in a folder named 0-9, end its name with _D "
                    "(such as 00012_7.png), or give the label"
                )
            images.append(prepare_sample(array, name, keep_framing=True))
            labels.append(check_label(found))
        return self.add_many(images, labels, source="import")

    def export_idx(self, folder: str | Path) -> tuple[Path, Path]:
        """``MineState.export_idx`` of the collection as it is now."""
        return self.read().export_idx(folder)

    def export_pngs(
        self, folder: str | Path, encode: Callable[[np.ndarray], bytes], layout: Layout = "by-label"
    ) -> list[Path]:
        """``MineState.export_pngs`` of the collection as it is now."""
        return self.read().export_pngs(folder, encode, layout)

    # -- commits ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[MineState]:
        _make_folder(self.root)
        with self._lock(wait=True):
            self._recover()
            yield self._read_files(settled=True)

    def _remove(self, state: MineState, ids: set[int], undo: list) -> tuple[Sample, ...]:
        keep = np.fromiter((s.id not in ids for s in state.samples), dtype=bool, count=len(state))
        removed = tuple(s for s in state.samples if s.id in ids)
        kept = tuple(s for s in state.samples if s.id not in ids)
        self._commit(state.images[keep], state.labels[keep], kept, next_id=state.next_id, undo=undo)
        return removed

    def _commit(self, images, labels, samples, *, next_id: int, undo) -> None:
        """Replace the three files together (see the module text); called under the exclusive lock."""
        payloads = _payloads(images, labels, samples, next_id, undo)
        token = uuid.uuid4().hex[:12]
        parts = {}
        try:
            for name, payload in payloads.items():
                part = self.root / f".{name}.{token}.part"
                _write_synced(part, payload)
                parts[name] = part.name
            journal = self.root / f"{JOURNAL_FILE}.{token}.part"
            _write_synced(journal, json.dumps({"token": token, "files": parts}).encode())
        except BaseException:
            for name in (*parts.values(), f"{JOURNAL_FILE}.{token}.part"):
                with contextlib.suppress(OSError):
                    (self.root / name).unlink()
            raise
        _replace(journal, self.root / JOURNAL_FILE)  # the commit point
        _sync_folder(self.root)
        self._recover()

    def _interrupted(self) -> bool:
        """Whether a save is under way or was cut short: a journal or temporaries are there."""
        return (self.root / JOURNAL_FILE).exists() or any(self.root.glob(".*.part"))

    def _recover(self) -> None:
        """Finish a commit whose journal is in place, then delete temporaries no journal names."""
        journal = self.root / JOURNAL_FILE
        if journal.exists():
            parts = self._journal_parts(journal)
            for name, part in parts.items():
                if (self.root / part).exists():
                    _replace(self.root / part, self.root / name)
            _sync_folder(self.root)  # the renames are on the disk before the journal goes
            journal.unlink()
        for stray in self.root.glob(".*.part"):
            with contextlib.suppress(OSError):
                stray.unlink()

    def _journal_parts(self, journal: Path) -> dict[str, str]:
        try:
            with open_regular(journal) as f:
                data = json.loads(f.read(65_536))
            parts = data["files"]
            if not isinstance(parts, dict) or set(parts) != {IMAGES_FILE, LABELS_FILE, SAMPLES_FILE}:
                raise ValueError("it does not name the three files")
            for part in parts.values():
                if not isinstance(part, str) or "/" in part or "\\" in part or not part.endswith(".part"):
                    raise ValueError(f"{part!r} is not a temporary file of the collection")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CollectionError(journal, f"the record of an interrupted save is damaged ({exc})") from None
        return parts

    # -- files --------------------------------------------------------------------------------------
    def _empty(self) -> MineState:
        return MineState(self.root, np.zeros((0, SIZE, SIZE), np.uint8), np.zeros(0, np.uint8), ())

    def _read_files(self, *, settled: bool) -> MineState:
        """The three files, checked to belong together: ``samples.json`` holds the SHA-256 of the IDX
        files it was saved with. When they differ and no save can be under way (``settled``), some
        other program changed a file: ``CollectionError``; else ``_InFlight`` (read again)."""
        paths = {name: self.root / name for name in (IMAGES_FILE, LABELS_FILE, SAMPLES_FILE)}
        present = {name for name, path in paths.items() if path.exists() or path.is_symlink()}
        if not present:
            return self._empty()
        if present != set(paths):
            missing = sorted(set(paths) - present)
            raise CollectionError(
                paths[missing[0]],
                f"is missing from your digits collection in {self.root} (it holds "
                f"{', '.join(sorted(present))}); restore it, or move the folder away to start anew",
            )
        samples, next_id, undo, digests = _read_samples(paths[SAMPLES_FILE])
        raw = {name: _read_bounded(paths[name], MAX_SAMPLES * SIZE * SIZE + 16) for name in digests}
        for name, digest in digests.items():
            if hashlib.sha256(raw[name]).hexdigest() != digest:
                if not settled:
                    raise _InFlight
                raise CollectionError(
                    paths[name],
                    f"is not the file {SAMPLES_FILE} was saved with (its SHA-256 differs): another program "
                    "changed it; put the old one back, or use 'cnnlab data import-mine' to add pictures",
                )
        images = decode_idx(
            raw[IMAGES_FILE], paths[IMAGES_FILE], "images", max_bytes=MAX_SAMPLES * SIZE * SIZE
        )
        labels = decode_idx(raw[LABELS_FILE], paths[LABELS_FILE], "labels", max_bytes=MAX_SAMPLES)
        if images.shape[1:] != (SIZE, SIZE):
            raise CollectionError(
                paths[IMAGES_FILE], f"holds {images.shape[1]}x{images.shape[2]} images, not 28x28"
            )
        for name, n in ((IMAGES_FILE, len(images)), (LABELS_FILE, len(labels))):
            if n != len(samples):
                raise CollectionError(
                    paths[name], f"holds {n:,} items but {SAMPLES_FILE} lists {len(samples):,} samples"
                )
        listed = np.fromiter((s.label for s in samples), dtype=np.uint8, count=len(samples))
        differ = np.flatnonzero(listed != labels)
        if differ.size:
            s = samples[int(differ[0])]
            raise CollectionError(
                paths[LABELS_FILE],
                f"gives sample {s.id} the label {int(labels[differ[0]])} but {SAMPLES_FILE} says {s.label}",
            )
        return MineState(self.root, images, labels, samples, next_id, undo)

    @contextlib.contextmanager
    def _lock(self, *, wait: bool) -> Iterator[bool | None]:
        """Hold the writers' lock. ``wait``: up to ``LOCK_TIMEOUT`` (then a "busy" ``DataError``), and
        ``DataFileError`` if the lock file cannot be made. Without: yields whether the lock was free,
        or None when the folder is read-only. Readers never lock (see ``_read_files``)."""
        path = self.root / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            if wait or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise DataFileError(path, f"cannot be opened ({os_problem(exc)})") from exc
            yield None
            return
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while not _try_lock(fd, path):
                if not wait:
                    yield False
                    return
                if time.monotonic() > deadline:
                    raise _busy(self.root)
                time.sleep(_LOCK_POLL)
            yield True
        finally:
            os.close(fd)  # closing the descriptor releases the lock


# ------------------------------------------------------------------------------------------- checking


def check_label(label: Any) -> int:
    """A class index 0-9 (a bool or a fraction is refused)."""
    if (
        isinstance(label, bool)
        or not isinstance(label, int | np.integer)
        or not 0 <= int(label) < NUM_CLASSES
    ):
        raise DataError(f"a digit's label must be a whole number 0-9, got {label!r}")
    return int(label)


def as_sample_image(image: np.ndarray) -> np.ndarray:
    """The 28x28 as stored: uint8 from uint8 (kept) or from floats in [0, 1] (scaled by 255, rounded)."""
    a = np.asarray(image)
    if a.shape != (SIZE, SIZE):
        raise DataError(f"a sample must be the 28x28 image the network sees, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.copy()
    if a.dtype.kind not in "fiu" or a.dtype.kind == "b":
        raise DataError(f"a sample's pixels must be numbers, got dtype {a.dtype}")
    values = a.astype(np.float64)
    if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
        raise DataError("a sample's pixels must be finite numbers in [0, 1] (or uint8 0-255)")
    return np.rint(values * 255.0).astype(np.uint8)


def prepare_sample(image: np.ndarray, name: str = "the picture", *, keep_framing: bool = True) -> np.ndarray:
    """A decoded picture -> uint8 (28, 28) as stored, by ``prepare_image``'s rule; with ``keep_framing`` a
    28x28 picture is only oriented (ink bright), never re-centred. ``DataError`` naming ``name`` when it
    is no image or holds no digit."""
    a = np.asarray(image)
    keep = keep_framing and a.shape[:2] == (SIZE, SIZE)
    try:
        framed = prepare_image(a, reframe=False if keep else None)
    except EmptyDrawing as exc:
        raise EmptyDrawing(f"{name}: {exc}") from None
    except ValueError as exc:
        raise DataError(f"{name}: {exc}") from None
    return as_sample_image(framed)


def check_strokes(strokes: Iterable[Stroke | Mapping[str, Any]]) -> tuple[Stroke, ...]:
    """Strokes as kept: widths in (0, 280], points float64 (P, 2) clipped to the canvas and rounded to
    0.01 px. ``DataError`` for non-finite numbers, a wrong shape or more than the budgets allow."""
    out = []
    total = 0
    for stroke in strokes:
        if len(out) >= MAX_STROKES:
            raise DataError(f"a sample may hold at most {MAX_STROKES:,} strokes")
        if isinstance(stroke, Stroke):
            width, points = stroke.width, stroke.points
        elif isinstance(stroke, Mapping) and {"width", "points"} <= set(stroke):
            width, points = stroke["width"], stroke["points"]
        else:
            raise DataError("a stroke must be a Stroke or a mapping with 'width' and 'points'")
        try:
            width = float(width)
            pts = np.array(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("a stroke's width and points must be numbers") from None
        if pts.size == 0:
            pts = pts.reshape(0, 2)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise DataError(f"a stroke's points must be (x, y) pairs, got shape {pts.shape}")
        total += len(pts)
        if total > MAX_POINTS:
            raise DataError(f"a sample's strokes may hold at most {MAX_POINTS:,} points")
        if not (math.isfinite(width) and 0.0 < width <= CANVAS) or not np.isfinite(pts).all():
            raise DataError(f"a stroke's width must be in (0, {CANVAS}] and its points finite")
        pts = np.round(np.clip(pts, 0.0, CANVAS), 2)
        pts.setflags(write=False)
        out.append(Stroke(round(width, 2), pts))
    return tuple(out)


# --------------------------------------------------------------------------------------- file helpers


def label_from_name(name: str) -> int | None:
    """The label a picture's relative name gives: its folder's name if that is one digit (``7/0003.png``),
    else a last digit after ``_`` or ``-`` (``00012_7.png``, ``seven-7.jpg``) or a name that is one digit
    (``7.png``); None when it says nothing."""
    parts = re.split(r"[\\/]", name)
    if len(parts) > 1 and re.fullmatch(r"[0-9]", parts[-2]):
        return int(parts[-2])
    stem = parts[-1].rsplit(".", 1)[0]
    match = re.search(r"(?:^|[_\-])([0-9])$", stem)
    return int(match.group(1)) if match else None


def image_files(folder: str | Path) -> list[tuple[str, Path]]:
    """The pictures (PNG, JPEG) in ``folder`` and its subfolders one level down, as (name relative to
    ``folder``, path) sorted by name: what a face decodes for ``import_images``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    found = []
    for path in [*folder.iterdir(), *(p for d in folder.iterdir() if d.is_dir() for p in d.iterdir())]:
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def _read_samples(path: Path) -> tuple[tuple[Sample, ...], int, tuple[tuple[int, ...], ...], dict[str, str]]:
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_JSON_BYTES:
                raise CollectionError(
                    path, f"is {size:,} bytes, more than the {MAX_JSON_BYTES:,}-byte budget"
                )
            data = json.loads(f.read())
    except OSError as exc:
        raise CollectionError(path, f"cannot be read ({os_problem(exc)})") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON
        raise CollectionError(path, f"is not valid JSON ({str(exc)[:80]})") from None
    try:
        return _parse_document(data)
    except KeyError as exc:
        raise CollectionError(path, f"is damaged: it has no {exc.args[0]!r} field") from None
    except (ValueError, TypeError, DataError) as exc:
        raise CollectionError(path, f"is damaged: {exc}") from None


def _parse_document(data: Any) -> tuple[tuple[Sample, ...], int, tuple[tuple[int, ...], ...], dict[str, str]]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"it is not a {FORMAT} file")
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r}, this cnnlab reads version {VERSION}")
    digests = data["sha256"]
    if not isinstance(digests, dict) or set(digests) != {IMAGES_FILE, LABELS_FILE}:
        raise ValueError(f"'sha256' must give the digests of {IMAGES_FILE} and {LABELS_FILE}")
    if not all(isinstance(d, str) and re.fullmatch(r"[0-9a-f]{64}", d) for d in digests.values()):
        raise ValueError("'sha256' holds something that is not a SHA-256 digest")
    raw = data["samples"]
    if not isinstance(raw, list) or len(raw) > MAX_SAMPLES:
        raise ValueError(f"'samples' must be a list of at most {MAX_SAMPLES:,}")
    samples = []
    seen: set[int] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"sample {i} is not an object")
        sid = item["id"]
        if isinstance(sid, bool) or not isinstance(sid, int) or sid < 1 or sid in seen:
            raise ValueError(f"sample {i} has a bad or repeated id {sid!r}")
        seen.add(sid)
        created, source = item["created"], item["source"]
        if not isinstance(created, str) or len(created) > 64:
            raise ValueError(f"sample {sid} has a bad 'created' time")
        if source not in SOURCES:
            raise ValueError(f"sample {sid} has an unknown source {str(source)[:20]!r}")
        strokes = item.get("strokes")
        if strokes is not None and not isinstance(strokes, list):
            raise ValueError(f"sample {sid}'s strokes are not a list")
        try:
            label = check_label(item["label"])
            kept = None if strokes is None else check_strokes(strokes)
        except DataError as exc:
            raise ValueError(f"sample {sid}: {exc}") from None
        samples.append(Sample(sid, label, created, source, kept))
    next_id = data["next_id"]
    if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id <= max(seen, default=0):
        raise ValueError(f"'next_id' {next_id!r} must be above every sample's id")
    undo = data.get("undo", [])
    if not isinstance(undo, list) or not all(
        isinstance(op, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in op)
        for op in undo
    ):
        raise ValueError("'undo' must be a list of lists of ids")
    return tuple(samples), next_id, tuple(tuple(op) for op in undo[-MAX_UNDO:]), dict(digests)


def _payloads(images: np.ndarray, labels: np.ndarray, samples, next_id: int, undo) -> dict[str, bytes]:
    """The bytes of the three files; ``samples.json`` records the SHA-256 of the other two."""
    payloads = {
        IMAGES_FILE: encode_idx(np.asarray(images, dtype=np.uint8).reshape(-1, SIZE, SIZE), IMAGES_FILE),
        LABELS_FILE: encode_idx(np.asarray(labels, dtype=np.uint8), LABELS_FILE),
    }
    document = {
        "format": FORMAT,
        "version": VERSION,
        "canvas": CANVAS,
        "next_id": next_id,
        "sha256": {name: hashlib.sha256(payload).hexdigest() for name, payload in payloads.items()},
        "undo": [list(op) for op in undo][-MAX_UNDO:],
        "samples": [s.to_json() for s in samples],
    }
    text = json.dumps(document, separators=(",", ":")).encode()
    if len(text) > MAX_JSON_BYTES:
        raise DataError(
            f"{SAMPLES_FILE} would be {len(text):,} bytes, more than its {MAX_JSON_BYTES:,} budget"
        )
    payloads[SAMPLES_FILE] = text
    return payloads


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(folder, f"cannot be made ({os_problem(exc)})") from exc
    return folder


def _write_synced(path: Path, payload: bytes) -> None:
    """A new file, its bytes on the disk before it is renamed into place (a power cut keeps them too)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise DataFileError(path, f"cannot be written ({os_problem(exc)})") from exc


def _write_replacing(path: Path, payload: bytes) -> None:
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    _write_synced(part, payload)
    try:
        _replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as exc:
        raise DataFileError(target, f"cannot be replaced ({os_problem(exc)})") from exc


def _sync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX; Windows cannot open a folder, and needs no such step)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _InFlight(Exception):
    """The files were read while a save was replacing them: read again."""


def _try_lock(fd: int, path: Path) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            raise DataFileError(path, f"cannot be locked ({os_problem(exc)})") from exc
        return False


def _busy(root: Path) -> DataError:
    return DataError(
        f"your digits collection in {root} is busy: another cnnlab has been saving to it for more than "
        f"{LOCK_TIMEOUT:g} s"
    )


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise CollectionError(path, f"is {size:,} bytes, more than the {limit:,}-byte budget")
            return f.read(limit + 1)
    except OSError as exc:
        raise CollectionError(path, f"cannot be read ({os_problem(exc)})") from exc


# -------------------------------------------------------------------------------------------- dataset


def load_mine(root: str | Path | None = None, *, name: str = "mine"):
    """The collection as a ``MineDataset``: the held-out ids (``is_test_id``) are its test part, the rest
    its training part; labels int64, class names 0-9. Raises ``NotEnoughSamples`` when the collection is
    empty or either part is, saying how many there are and what to do."""
    from cnnlab.data.datasets import DIGITS, MineDataset

    store = MineStore(root)
    state = store.read()
    where = f"your digits collection in {store.root}"
    if not len(state):
        raise NotEnoughSamples(
            f"{where} is empty: label digits on the drawing pad, or add pictures with "
            "'cnnlab data add-mine IMAGE... --label D'"
        )
    test = state.test_mask
    n_test = int(test.sum())
    if n_test == 0 or n_test == len(state):
        part = "held out for testing" if n_test == 0 else "left for training"
        raise NotEnoughSamples(
            f"{where} holds {len(state)} sample{'s' if len(state) != 1 else ''} and none is {part} "
            f"(about one in {round(1 / TEST_SHARE)} is held out, by id); add a few more"
        )
    ids = state.ids
    labels = state.labels.astype(np.int64)
    return MineDataset(
        name=name,
        class_names=DIGITS,
        train_images=state.images[~test],
        train_labels=labels[~test],
        test_images=state.images[test],
        test_labels=labels[test],
        source=f"{store.root} (your digits collection)",
        folder=store.root,
        train_ids=ids[~test],
        test_ids=ids[test],
    )
