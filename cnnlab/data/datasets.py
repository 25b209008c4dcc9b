"""The dataset registry, where the files are found, and loading them.

A *data folder* holds one subfolder per dataset, named as in the registry (``mnist/``, ``fashion-mnist/``),
each with the four IDX files exactly as published. Data folders are looked for in this order:

1. ``explicit``: the folder passed in (``--data-dir`` on the CLI, a setting in the app);
2. ``environment``: the folder named by ``CNNLAB_DATA_DIR``;
3. ``cache``: the user's cache, ``platformdirs.user_cache_dir("cnnlab")/datasets`` (where ``fetch`` saves);
4. ``bundled``: ``cnnlab_data`` inside a frozen (PyInstaller) app.

The first place holding all four files wins. ``synthetic`` needs no files: it is generated in memory.
``mine``, the learner's own digits, is a collection in the user's data folder (see ``cnnlab.data.mine``);
it is not looked for in data folders. A name ``PRIMARY+OTHER:SHARE`` (``mine+mnist:0.7``) is a mix of two
datasets for fine-tuning (see ``cnnlab.data.mixing``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import platformdirs

from cnnlab.data.errors import (
    ChecksumError,
    DataError,
    DataFileError,
    DatasetNotFound,
    IdxError,
    UnreadableFile,
)
from cnnlab.data.files import file_problem, open_regular, os_problem
from cnnlab.data.idx import load_idx_pair, read_idx_header

ENV_VAR = "CNNLAB_DATA_DIR"
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
STANDARD_FILENAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

Source = Literal["explicit", "environment", "cache", "bundled", "generated", "collection"]
SOURCE_WORDS: dict[str, str] = {
    "explicit": "the chosen data folder",
    "environment": ENV_VAR,
    "cache": "the user cache",
    "bundled": "bundled with the app",
    "generated": "generated in memory",
    "collection": "your digits collection",
}
Kind = Literal["files", "generated", "collection"]
SYNTHETIC_SOURCE = "synthetic (generated)"
NO_FOLDER = "no such folder"


@dataclass(frozen=True)
class FileInfo:
    """One published file: its name, SHA-256 (hex) and size in bytes."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetInfo:
    """What cnnlab knows about a dataset before touching any file.

    ``files`` maps a role (``train_images``, ``train_labels``, ``test_images``, ``test_labels``) to its
    ``FileInfo``; it is empty for generated datasets. ``mirrors`` are base URLs tried in order.
    ``kind``: "files" (published IDX files), "generated" (made in memory) or "collection" (the learner's
    own digits); by default "files" when there are files, else "generated".
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    files: Mapping[str, FileInfo] = field(default_factory=dict, hash=False)
    mirrors: tuple[str, ...] = ()
    credit: str = ""
    licence: str = ""
    homepage: str = ""
    image_shape: tuple[int, int] = (28, 28)
    kind: Kind | None = None

    def __post_init__(self) -> None:
        # A frozen dataclass holding a plain dict would still be mutable through it.
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        if self.kind is None:
            object.__setattr__(self, "kind", "files" if self.files else "generated")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "mirrors", tuple(self.mirrors))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_synthetic(self) -> bool:
        return self.kind == "generated"

    @property
    def is_collection(self) -> bool:
        return self.kind == "collection"


def idx_dataset(
    name: str,
    title: str,
    class_names: tuple[str, ...],
    checksums: Mapping[str, tuple[str, int]],
    mirrors: tuple[str, ...] = (),
    **details: str,
) -> DatasetInfo:
    """A dataset published as the four MNIST-named IDX files; ``checksums``: role -> (sha256, size)."""
    files = {role: FileInfo(STANDARD_FILENAMES[role], *checksums[role]) for role in ROLES}
    return DatasetInfo(name, title, class_names, files, mirrors, **details)


DIGITS = tuple(str(d) for d in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "mnist": idx_dataset(
        "mnist",
        "MNIST handwritten digits",
        DIGITS,
        {
            "train_images": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
            "train_labels": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
            "test_images": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
            "test_labels": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        credit="Yann LeCun, Corinna Cortes and Christopher J. C. Burges",
        licence="CC BY-SA 3.0",
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": idx_dataset(
        "fashion-mnist",
        "Fashion-MNIST clothing images",
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        {
            "train_images": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26_421_880),
            "train_labels": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29_515),
            "test_images": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4_422_102),
            "test_labels": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5_148),
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        credit="Han Xiao, Kashif Rasul and Roland Vollgraf, © 2017 Zalando SE",
        licence="MIT",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
    "synthetic": DatasetInfo(
        "synthetic",
        "Synthetic handwriting-like digits (offline fallback)",
        DIGITS,
        credit="generated by cnnlab from stroke templates",
        licence="MIT (part of cnnlab)",
    ),
    "mine": DatasetInfo(
        "mine",
        "Your own digits (drawn on the pad)",
        DIGITS,
        credit="you",
        licence="yours",
        kind="collection",
    ),
}


# ---------------------------------------------------------------------------------------------- where


def cache_root() -> Path:
    """The per-user folder ``fetch`` downloads into: ``<user cache>/cnnlab/datasets``."""
    return Path(platformdirs.user_cache_dir("cnnlab", appauthor=False)) / "datasets"


def bundled_root() -> Path | None:
    """``cnnlab_data`` inside a frozen app's unpacked bundle, or None when not frozen."""
    meipass = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and meipass:
        return Path(meipass) / "cnnlab_data"
    return None


def candidate_roots(data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The data folders to search, in order, as (source, folder) pairs."""
    roots: list[tuple[str, Path]] = []
    if data_dir is not None and str(data_dir) != "":
        roots.append(("explicit", Path(data_dir).expanduser()))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        roots.append(("environment", Path(env).expanduser()))
    roots.append(("cache", cache_root()))
    bundled = bundled_root()
    if bundled is not None:
        roots.append(("bundled", bundled))
    return roots


@dataclass(frozen=True)
class Place:
    """One folder looked in: which source it came from, and why it did not do (None when it did)."""

    source: str
    folder: Path
    problem: str | None = None

    def describe(self) -> str:
        text = f"{self.folder} ({SOURCE_WORDS.get(self.source, self.source)})"
        return f"{text}: {self.problem}" if self.problem else text


@dataclass(frozen=True)
class Resolution:
    """Where a dataset was found (``folder``, ``source``) or, if not, every place looked in."""

    name: str
    folder: Path | None
    source: str | None
    looked: tuple[Place, ...] = ()

    @property
    def found(self) -> bool:
        return self.source is not None

    def describe(self) -> str:
        """One line: where it was found, or where it was looked for."""
        if self.source == "generated":
            return SOURCE_WORDS["generated"]
        if self.found:
            return f"{self.folder} (from {SOURCE_WORDS.get(self.source or '', self.source)})"
        places = "; ".join(p.describe() for p in self.looked)
        return f"not found; looked in {places}"

    def not_found_message(self) -> str:
        info = DATASETS.get(self.name)
        if info is not None and info.is_collection:
            places = "; ".join(p.describe() for p in self.looked)
            return (
                f"{places}: label digits on the drawing pad, or add pictures with "
                f"'cnnlab data add-mine IMAGE... --label D'"
            )
        env_note = "" if os.environ.get(ENV_VAR, "").strip() else f" ({ENV_VAR} is not set)"
        return (
            f"dataset '{self.name}' was not found{env_note}; looked in: "
            + "; ".join(p.describe() for p in self.looked)
            + f". Download it with 'cnnlab data fetch {self.name}', or point {ENV_VAR} or --data-dir at a "
            f"folder holding {self.name}/ with its four IDX files"
        )


def resolve(
    dataset: str | DatasetInfo, data_dir: str | Path | None = None, *, mine_dir: str | Path | None = None
) -> Resolution:
    """Find a dataset's folder: the first data folder (explicit, environment, cache, bundled) holding all
    of its files. Checks only that the files exist; ``status`` and ``verify_file`` check their contents.
    The ``mine`` collection is found in ``mine_dir`` (default ``mine.mine_root()``) once it holds samples.
    """
    info = get_info(dataset)
    if info.is_synthetic:
        return Resolution(info.name, None, "generated")
    if info.is_collection:
        return _resolve_collection(info, mine_dir)
    looked = []
    for source, root in candidate_roots(data_dir):
        folder = root / info.name
        problem = _folder_problem(info, folder)
        looked.append(Place(source, folder, problem))
        if problem is None:
            return Resolution(info.name, folder, source, tuple(looked))
    return Resolution(info.name, None, None, tuple(looked))


def _resolve_collection(info: DatasetInfo, mine_dir: str | Path | None) -> Resolution:
    from cnnlab.data import mine

    folder = mine.mine_root(mine_dir)
    problem = file_problem(folder)
    if problem == "is a folder, not a file":
        names = (mine.IMAGES_FILE, mine.LABELS_FILE, mine.SAMPLES_FILE)
        missing = [name for name in names if file_problem(folder / name) == "no such file"]
        if len(missing) == len(names):
            problem = "no samples yet"
        elif missing:
            problem = f"missing {', '.join(missing)}"
        else:
            return Resolution(info.name, folder, "collection", (Place("collection", folder),))
    elif problem == "no such file":
        problem = "no samples yet"
    elif problem is None:
        problem = "is a file, not a folder"
    return Resolution(info.name, None, None, (Place("collection", folder, problem),))


def _folder_problem(info: DatasetInfo, folder: Path) -> str | None:
    problem = file_problem(folder)
    if problem == "no such file":
        # Pointing at the dataset folder itself instead of its parent is the common slip; the sizes tell
        # MNIST from Fashion-MNIST, whose files share their names.
        parent = folder.parent
        if all(_size(parent / f.filename) == f.size for f in info.files.values()):
            return f"{NO_FOLDER} (but {parent} itself holds its files: name the parent, {parent.parent})"
        return NO_FOLDER
    if problem is None:
        return "is a file, not a folder"
    if problem != "is a folder, not a file":
        return problem
    problems = {f.filename: file_problem(folder / f.filename) for f in info.files.values()}
    missing = [name for name, problem in problems.items() if problem == "no such file"]
    if missing:
        return f"missing {', '.join(missing)}"
    others = [f"{name} {problem}" for name, problem in problems.items() if problem is not None]
    return "; ".join(others) or None


def _size(path: Path) -> int | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def get_info(dataset: str | DatasetInfo) -> DatasetInfo:
    """The registry entry for a name (a ``DatasetInfo`` is passed through)."""
    if isinstance(dataset, DatasetInfo):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})") from None


# --------------------------------------------------------------------------------------------- status

FileState = Literal["ok", "bad", "missing", "unchecked"]


@dataclass(frozen=True)
class FileStatus:
    role: str
    filename: str
    path: Path | None
    state: FileState
    detail: str = ""


@dataclass(frozen=True)
class DatasetStatus:
    """One row of ``cnnlab data status``: a dataset, where it was found, and its files' checksums."""

    info: DatasetInfo
    resolution: Resolution
    files: tuple[FileStatus, ...]

    @property
    def checksums(self) -> str:
        """'ok', 'bad', 'missing', 'unchecked', or 'n/a' for datasets without published files."""
        if not self.info.files:
            return "n/a"
        states = {f.state for f in self.files}
        for state in ("missing", "bad", "unchecked"):
            if state in states:
                return state
        return "ok"

    @property
    def usable(self) -> bool:
        return self.resolution.found and self.checksums in ("ok", "unchecked", "n/a")

    @property
    def absent(self) -> bool:
        """Simply not downloaded: no folder for it anywhere (not found, and nothing damaged in the way)."""
        looked = self.resolution.looked
        words = ("no samples yet",) if self.info.is_collection else (NO_FOLDER,)
        return not self.resolution.found and all((p.problem or "").startswith(words) for p in looked)


def verify_file(path: str | Path, expected: FileInfo, *, checksum: bool = True) -> tuple[FileState, str]:
    """Compare a file's size and SHA-256 with the published ones: ('ok' | 'bad' | 'missing', detail).

    Without ``checksum`` only what is cheap is checked (a readable regular file of the published size),
    and a file that passes is 'unchecked'. Never raises for a damaged or unreadable file: it is 'bad'.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem == "no such file":
        return "missing", problem
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size != expected.size:
                return "bad", f"size is {size:,} bytes, expected {expected.size:,}"
            if not checksum:
                return "unchecked", "present, not verified"
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except UnreadableFile as exc:
        return "bad", exc.problem
    except OSError as exc:
        return "bad", f"cannot be read ({os_problem(exc)})"
    if digest != expected.sha256:
        return "bad", f"SHA-256 is {digest[:16]}..., expected {expected.sha256[:16]}..."
    return "ok", "SHA-256 verified"


def sha256_of(path: str | Path) -> str:
    """The SHA-256 (hex) of a regular file; ``UnreadableFile`` for anything else."""
    try:
        with open_regular(path) as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except UnreadableFile:
        raise
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be read ({os_problem(exc)})") from exc


def status(
    data_dir: str | Path | None = None,
    verify: bool = True,
    datasets: Mapping[str, DatasetInfo] | None = None,
    *,
    mine_dir: str | Path | None = None,
) -> list[DatasetStatus]:
    """Every registered dataset: where it was found (or where it was looked for), whether each file is a
    readable regular file of the published size and, with ``verify``, whether its SHA-256 matches the
    published one (about 0.1 s for all of MNIST). Without ``verify`` the IDX headers are read instead
    (the magic numbers, and image and label counts that agree). Never raises for damaged files."""
    rows = []
    for info in (datasets or DATASETS).values():
        res = resolve(info, data_dir, mine_dir=mine_dir)
        files = {}
        for role, spec in info.files.items():
            path = res.folder / spec.filename if res.folder is not None else None
            if path is None:
                files[role] = FileStatus(role, spec.filename, None, "missing", "dataset not found")
            else:
                files[role] = FileStatus(role, spec.filename, path, *verify_file(path, spec, checksum=verify))
        if not verify:
            _check_headers(files)
        rows.append(DatasetStatus(info, res, tuple(files.values())))
    return rows


def _check_headers(files: dict[str, FileStatus]) -> None:
    """Mark as bad, in place, the unchecked files whose IDX headers are wrong or disagree."""
    counts = {}
    for role, row in files.items():
        if row.state != "unchecked" or row.path is None:
            continue
        try:
            shape, _ = read_idx_header(row.path, "images" if role.endswith("images") else "labels")
        except DataFileError as exc:
            files[role] = dataclasses.replace(row, state="bad", detail=exc.problem)
            continue
        counts[role] = shape[0]
    for split in ("train", "test"):
        images, labels = counts.get(f"{split}_images"), counts.get(f"{split}_labels")
        if images is not None and labels is not None and images != labels:
            row = files[f"{split}_labels"]
            other = files[f"{split}_images"].filename
            detail = f"holds {labels:,} labels but {other} holds {images:,} images"
            files[f"{split}_labels"] = dataclasses.replace(row, state="bad", detail=detail)


# -------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset. Arrays are read-only so one copy can be shared by threads.

    ``train_images``/``test_images``: uint8 (N, 28, 28), 0 = background; ``train_labels``/``test_labels``:
    int64 (N,) in ``0 .. len(class_names) - 1``. ``source`` says where the data came from in words.
    """

    name: str
    class_names: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    folder: Path | None = None
    is_synthetic: bool = False

    def __post_init__(self) -> None:
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            getattr(self, name).setflags(write=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, train={len(self.train_images)}, "
            f"test={len(self.test_images)}, source={self.source!r})"
        )


@dataclass(frozen=True, eq=False, repr=False)
class MineDataset(Dataset):
    """The learner's own digits (``mine.load_mine``): also each image's sample id, int64 (N,), so a
    mistake can be shown, deleted or relabelled by id."""

    train_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    test_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.train_ids.setflags(write=False)
        self.test_ids.setflags(write=False)


@dataclass(frozen=True, eq=False, repr=False)
class MixedDataset(Dataset):
    """Two datasets mixed for fine-tuning (``mixing.mix_datasets``): the training part holds ``primary``'s
    training images and ``other``'s at ``share`` of the whole; the test part is ``primary``'s. ``other``
    is kept whole, so ``other.test_images`` tells whether the network still knows it."""

    primary: Dataset | None = None
    other: Dataset | None = None
    share: float = 0.0


def load_dataset(
    name: str | DatasetInfo,
    data_dir: str | Path | None = None,
    *,
    verify: bool = False,
    synthetic_size: tuple[int, int] = (12_000, 2_000),
    seed: int = 0,
    mine_dir: str | Path | None = None,
) -> Dataset:
    """Load a dataset by name from the first data folder holding it (see ``resolve``).

    ``verify`` also checks each file's SHA-256 first. ``synthetic`` is generated in memory with
    ``synthetic_size`` = (train, test) images from ``seed``. ``mine`` is read from ``mine_dir`` (default
    ``mine.mine_root()``) as a ``MineDataset``; a mix name ``PRIMARY+OTHER:SHARE`` gives a
    ``MixedDataset`` (``mixing``), its ``other`` part chosen with ``seed``. Raises ``DatasetNotFound``
    (saying where it looked and how to get the files), ``ChecksumError``, ``IdxError``, and for ``mine``
    ``NotEnoughSamples`` or ``CollectionError``.
    """
    if isinstance(name, str) and "+" in name:
        from cnnlab.data.mixing import load_mix

        return load_mix(
            name, data_dir, verify=verify, synthetic_size=synthetic_size, seed=seed, mine_dir=mine_dir
        )
    info = get_info(name)
    if info.is_synthetic:
        return _synthetic_dataset(info, synthetic_size, seed)
    if info.is_collection:
        from cnnlab.data.mine import load_mine

        return load_mine(mine_dir, name=info.name)
    res = resolve(info, data_dir)
    if res.folder is None:
        raise DatasetNotFound(res.not_found_message())
    folder = res.folder
    if verify:
        for spec in info.files.values():
            open_regular(folder / spec.filename).close()  # unreadable is not damaged: UnreadableFile
            state, detail = verify_file(folder / spec.filename, spec)
            if state != "ok":
                raise ChecksumError(
                    folder / spec.filename,
                    f"{detail}: the file is damaged or not the published one; delete it and run "
                    f"'cnnlab data fetch {info.name}'",
                )
    parts = {}
    for split in ("train", "test"):
        images_path = folder / info.files[f"{split}_images"].filename
        images, labels = load_idx_pair(
            images_path, folder / info.files[f"{split}_labels"].filename, num_classes=info.num_classes
        )
        if images.shape[1:] != info.image_shape:
            raise IdxError(
                images_path,
                f"images are {images.shape[1]}x{images.shape[2]} pixels, {info.name} should have "
                f"{info.image_shape[0]}x{info.image_shape[1]}",
            )
        parts[split] = (images, labels.astype(np.int64))
    return Dataset(
        name=info.name,
        class_names=info.class_names,
        train_images=parts["train"][0],
        train_labels=parts["train"][1],
        test_images=parts["test"][0],
        test_labels=parts["test"][1],
        source=f"{folder} (from {SOURCE_WORDS[res.source or '']})",
        folder=folder,
        is_synthetic=False,
    )


def _synthetic_dataset(info: DatasetInfo, size: tuple[int, int], seed: int) -> Dataset:
    from cnnlab.data.synthetic import generate_digits

    # Separate streams: changing the test size leaves the training images as they were.
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train_images, train_labels = generate_digits(size[0], np.random.default_rng(train_seq))
    test_images, test_labels = generate_digits(size[1], np.random.default_rng(test_seq))
    return Dataset(
        name=info.name,
        class_names=info.class_names,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        source=SYNTHETIC_SOURCE,
        folder=None,
        is_synthetic=True,
    )


def to_float_nchw(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) -> float32 (N, 1, H, W) in [0, 1], the network's input.

    No mean subtraction: drawings from the pad go through ``preprocess_drawing`` onto this same scale.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"to_float_nchw expects uint8 images, got {images.dtype}")
    if images.ndim != 3:
        raise ValueError(f"to_float_nchw expects images shaped (N, H, W), got {images.shape}")
    out = images[:, None].astype(np.float32)
    out /= 255.0
    return out
