"""The data floor: IDX files, the dataset registry, downloads, drawings in MNIST style, and batches.

Pure NumPy plus the standard library (and platformdirs for the cache folder); it never imports Qt or the
other floors.

Datasets (``datasets``)
    ``DATASETS``: name -> ``DatasetInfo`` (``mnist``, ``fashion-mnist``, ``synthetic``, ``mine``)
    ``load_dataset(name, data_dir=None, *, verify=False, synthetic_size=(12000, 2000), seed=0,
    mine_dir=None) -> Dataset`` (``MineDataset`` for ``mine``, ``MixedDataset`` for ``mine+mnist:0.7``)
    ``resolve(name, data_dir=None, *, mine_dir=None) -> Resolution``: explicit folder, ``CNNLAB_DATA_DIR``,
    user cache, bundled (``mine``: its collection folder)
    ``status(data_dir=None, verify=True) -> list[DatasetStatus]``
    ``to_float_nchw(images_uint8) -> float32 (N, 1, H, W)`` in [0, 1]
    ``cache_root() -> Path``
IDX files (``idx``)
    ``read_idx(path, kind=None, *, max_bytes=MAX_IDX_BYTES)``, ``read_idx_header(path, kind=None)``,
    ``write_idx(path, array)``, ``load_idx_pair(images, labels, num_classes=)``; only regular files are
    opened (``files.open_regular``), and never more is unpacked than the header promises
Downloads (``download``)
    ``fetch(name, dest_root=None, *, mirrors=None, progress=None, cancel=None, timeout=30, min_rate=None,
    rate_window=None) -> Path``; ``DownloadProgress.note`` says when a mirror is given up
Images and drawings (``images``: one rule for the pad, the app's Open image and ``cnnlab predict``)
    ``prepare_image(image, *, reframe=None) -> float32 (28, 28)`` in [0, 1], ink bright, from a decoded
    (H, W) or (H, W, 3|4) array: alpha composited, dark-on-light inverted, framed MNIST-style unless it
    already is; ``preprocess_drawing(image)`` (always reframed); ``ink_bright(image) -> float32 (H, W)``;
    raise ``EmptyDrawing`` for an empty canvas or a speck, ``ValueError`` for something that is no image
Your own digits (``mine``): a collection in ``mine_root()`` (``$CNNLAB_MINE_DIR`` or the user data folder)
    ``MineStore(root=None)``: ``read() -> MineState``, ``add(image28, label, strokes=None, source="pad")
    -> id``, ``add_many``, ``undo_last()``, ``delete(ids)``, ``relabel(id, label)``, ``samples()``,
    ``counts()``, ``images``, ``labels``, ``import_images((name, array) pairs, label=None)``,
    ``export_pngs(folder, encode, layout)``, ``export_idx(folder)``; ``load_mine(root=None) -> MineDataset``
Mixes (``mixing``): ``mix_datasets(primary, other, share, *, seed=0) -> MixedDataset`` (``share``: the part
    of each batch, on average, from ``other``); ``mix_name``, ``parse_mix``, ``parse_share``
Synthetic digits (``synthetic``)
    ``generate_digits(count, rng) -> (uint8 (count, 28, 28), int64 (count,))``
Batches (``batching``)
    ``batch_indices``, ``iterate_batches``, ``validation_split``, ``augment``, ``Augmentation``
Errors (``errors``)
    ``DataError`` and its kinds ``IdxError``, ``UnreadableFile`` and ``CollectionError`` (all
    ``DataFileError``: ``.path``, ``.problem``), ``ChecksumError``, ``DatasetNotFound``, ``DownloadError``,
    ``DownloadCancelled``, ``EmptyDrawing``, ``NotEnoughSamples``; ``str(exc)`` is one line naming the file
    and the problem.
"""

from cnnlab.data.batching import Augmentation, augment, batch_indices, iterate_batches, validation_split
from cnnlab.data.datasets import (
    DATASETS,
    ENV_VAR,
    SYNTHETIC_SOURCE,
    Dataset,
    DatasetInfo,
    DatasetStatus,
    FileInfo,
    FileStatus,
    MineDataset,
    MixedDataset,
    Resolution,
    cache_root,
    load_dataset,
    resolve,
    status,
    to_float_nchw,
    verify_file,
)
from cnnlab.data.download import DownloadProgress, fetch
from cnnlab.data.errors import (
    ChecksumError,
    CollectionError,
    DataError,
    DataFileError,
    DatasetNotFound,
    DownloadCancelled,
    DownloadError,
    EmptyDrawing,
    IdxError,
    NotEnoughSamples,
    UnreadableFile,
)
from cnnlab.data.idx import MAX_IDX_BYTES, load_idx_pair, read_idx, read_idx_header, write_idx
from cnnlab.data.images import ink_bright, prepare_image, preprocess_drawing
from cnnlab.data.mine import MINE_ENV_VAR, MineState, MineStore, Sample, Stroke, load_mine, mine_root
from cnnlab.data.mixing import mix_datasets, mix_name, parse_mix, parse_share
from cnnlab.data.synthetic import generate_digits

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "MAX_IDX_BYTES",
    "MINE_ENV_VAR",
    "SYNTHETIC_SOURCE",
    "Augmentation",
    "ChecksumError",
    "CollectionError",
    "DataError",
    "DataFileError",
    "Dataset",
    "DatasetInfo",
    "DatasetNotFound",
    "DatasetStatus",
    "DownloadCancelled",
    "DownloadError",
    "DownloadProgress",
    "EmptyDrawing",
    "FileInfo",
    "FileStatus",
    "IdxError",
    "MineDataset",
    "MineState",
    "MineStore",
    "MixedDataset",
    "NotEnoughSamples",
    "Resolution",
    "Sample",
    "Stroke",
    "UnreadableFile",
    "augment",
    "batch_indices",
    "cache_root",
    "fetch",
    "generate_digits",
    "ink_bright",
    "iterate_batches",
    "load_dataset",
    "load_idx_pair",
    "load_mine",
    "mine_root",
    "mix_datasets",
    "mix_name",
    "parse_mix",
    "parse_share",
    "prepare_image",
    "preprocess_drawing",
    "read_idx",
    "read_idx_header",
    "resolve",
    "status",
    "to_float_nchw",
    "validation_split",
    "verify_file",
    "write_idx",
]
