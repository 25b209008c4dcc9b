"""IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a big-endian header followed by the raw values, row-major::

    magic   4 bytes: 0, 0, a data type code, the number of dimensions
    dims    one 4-byte unsigned count per dimension
    data    prod(dims) values of that type

MNIST images are ``uint8`` with 3 dimensions (magic 2051 = 0x00000803), labels ``uint8`` with one
dimension (magic 2049). Files may be gzip-compressed as published (``*.gz``) or plain.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from cnnlab.data.errors import IdxError

Kind = Literal["images", "labels"]

# IDX type code -> big-endian NumPy dtype, as in LeCun's description of the format.
_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_FOR_DTYPE = {dt.newbyteorder("="): code for code, dt in _TYPE_CODES.items()}

IMAGES_MAGIC = 0x0803  # uint8, 3 dimensions
LABELS_MAGIC = 0x0801  # uint8, 1 dimension
_EXPECTED_MAGIC = {"images": IMAGES_MAGIC, "labels": LABELS_MAGIC}
_KIND_WORDS = {"images": "an IDX image file", "labels": "an IDX label file"}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path, kind: Kind | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a native-endian, writable array.

    ``kind`` ("images" or "labels") additionally requires the MNIST layout: ``uint8`` with 3 dimensions
    (N, rows, cols) or 1 dimension (N,). Raises ``IdxError`` naming the file and the problem.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IdxError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return decode_idx(raw, path, kind)


def decode_idx(raw: bytes, path: str | Path, kind: Kind | None = None) -> np.ndarray:
    """Decode the bytes of an IDX file; ``path`` is used for the name in messages and the ``.gz`` rule."""
    path = Path(path)
    data = _gunzip_if_needed(raw, path)
    shape, dtype, offset = _parse_header(data, path, kind)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 0
    expected = count * dtype.itemsize
    found = len(data) - offset
    if found < expected:
        raise IdxError(
            path,
            f"file is truncated: the header promises {_shape_words(shape)} values ({expected:,} bytes) "
            f"but only {found:,} bytes follow",
        )
    if found > expected:
        raise IdxError(
            path,
            f"file has {found - expected:,} unexpected extra bytes after the {_shape_words(shape)} values "
            "its header describes",
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    # astype copies: the result is writable and native-endian, not a view on the immutable bytes.
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if the name ends with ``.gz``.

    The file is written to a temporary name first and then renamed, so a crash never leaves half a file.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODE_FOR_DTYPE:
        known = ", ".join(str(dt.newbyteorder("=")) for dt in _TYPE_CODES.values())
        raise ValueError(f"{path.name}: IDX cannot store dtype {array.dtype} (it stores {known})")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{path.name}: IDX stores arrays with 1 to 255 dimensions, not {array.ndim}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"{path.name}: a dimension of {array.shape} does not fit IDX's 32-bit counts")
    header = bytes([0, 0, _CODE_FOR_DTYPE[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    if path.name.endswith(".gz"):
        # mtime=0 keeps the bytes (and so the checksum) the same for the same array.
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    _write_atomically(path, payload)


def load_idx_pair(
    images_path: str | Path, labels_path: str | Path, *, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a matching image file and label file: ``uint8`` (N, rows, cols) and ``uint8`` (N,).

    Checks that both hold the same number of items and, given ``num_classes``, that every label is in
    ``0 .. num_classes - 1``.
    """
    images = read_idx(images_path, "images")
    labels = read_idx(labels_path, "labels")
    if len(images) != len(labels):
        raise IdxError(
            labels_path,
            f"holds {len(labels):,} labels but {Path(images_path).name} holds {len(images):,} images; "
            "the two files do not belong together",
        )
    if num_classes is not None and labels.size:
        bad = np.flatnonzero(labels >= num_classes)
        if bad.size:
            first = int(bad[0])
            raise IdxError(
                labels_path,
                f"label {int(labels[first])} at position {first:,} is out of range "
                f"(expected 0-{num_classes - 1}; {bad.size:,} of {labels.size:,} labels are out of range)",
            )
    return images, labels


def _gunzip_if_needed(raw: bytes, path: Path) -> bytes:
    is_gzip = raw[:2] == _GZIP_MAGIC
    if not is_gzip:
        if path.name.endswith(".gz"):
            hint = ""
            if raw[:2] == b"\x00\x00" and len(raw) >= 4:
                hint = "; it looks like an uncompressed IDX file, so remove '.gz' from its name"
            elif not raw:
                hint = "; the file is empty"
            start = raw[:4].hex(" ")
            raise IdxError(path, f"is named .gz but is not gzip-compressed (starts with {start}){hint}")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(path, f"the gzip data is damaged or cut short ({exc})") from exc


def _parse_header(data: bytes, path: Path, kind: Kind | None) -> tuple[tuple[int, ...], np.dtype, int]:
    if len(data) < 4:
        what = "is empty" if not data else f"is too short to be an IDX file ({len(data)} bytes)"
        raise IdxError(path, what)
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if kind is not None and magic != _EXPECTED_MAGIC[kind]:
        other = next((k for k, m in _EXPECTED_MAGIC.items() if m == magic), None)
        found = f"; it is {_KIND_WORDS[other]}" if other else ""
        raise IdxError(
            path,
            f"not {_KIND_WORDS[kind]} (magic number {magic}, expected {_EXPECTED_MAGIC[kind]}){found}",
        )
    if data[0] != 0 or data[1] != 0:
        raise IdxError(path, f"not an IDX file (magic number {magic}; its first two bytes must be zero)")
    if code not in _TYPE_CODES:
        raise IdxError(path, f"not an IDX file (unknown data type code 0x{code:02x} in magic number {magic})")
    if ndim == 0:
        raise IdxError(path, f"IDX header declares no dimensions (magic number {magic})")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise IdxError(
            path, f"file is cut short inside its header ({len(data)} bytes; {ndim} dimensions need {offset})"
        )
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return shape, _TYPE_CODES[code], offset


def _shape_words(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape)


def _write_atomically(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
