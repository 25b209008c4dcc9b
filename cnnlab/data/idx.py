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
import io
import math
import os
import sys
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Literal, NoReturn

import numpy as np

from cnnlab.data.errors import IdxError, UnreadableFile
from cnnlab.data.files import open_regular, os_problem

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
# The most values one IDX file may promise: 1 GiB, about 20 times MNIST's training images (47 MB), so
# a damaged or hostile header is refused before memory is taken. ``read_idx(max_bytes=)`` raises it.
MAX_IDX_BYTES = 1 << 30
# Deflate's largest expansion is about 1032:1 (a 258-byte match in one or two bits); a little headroom.
_MAX_DEFLATE_RATIO = 1040
# Extra bytes after the values are counted up to this many (a bomb behind a header is not unpacked).
_EXTRA_SHOWN = 65_536
_READ_SLICE = 1 << 20


def read_idx(path: str | Path, kind: Kind | None = None, *, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a native-endian, writable array.

    ``kind`` ("images" or "labels") additionally requires the MNIST layout: ``uint8`` with 3 dimensions
    (N, rows, cols) or 1 dimension (N,). Reads are bounded: only a regular file is opened, the header is
    read first, and no more than the ``max_bytes`` of values it promises (plus one, to notice extra bytes)
    are ever decompressed. Raises ``IdxError`` (damaged, or above the budget) or ``UnreadableFile``
    (missing, not a regular file, permission denied), each naming the file and the problem.
    """
    path = Path(path)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            return _read_stream(f, size, path, kind, max_bytes)
        except UnreadableFile:
            raise
        except OSError as exc:
            raise UnreadableFile(path, f"cannot be read ({os_problem(exc)})") from exc


def read_idx_header(
    path: str | Path, kind: Kind | None = None, *, max_bytes: int = MAX_IDX_BYTES
) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, native dtype) from an IDX file's header, checked as far as that is possible without
    reading the values: the magic number (and ``kind``), the budget, and a plain file's length. Raises
    like ``read_idx``; a cheap check for many files (``cnnlab data status --no-verify``)."""
    path = Path(path)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            return _read_stream(f, size, path, kind, max_bytes, header_only=True)
        except UnreadableFile:
            raise
        except OSError as exc:
            raise UnreadableFile(path, f"cannot be read ({os_problem(exc)})") from exc


def decode_idx(
    raw: bytes, path: str | Path, kind: Kind | None = None, *, max_bytes: int = MAX_IDX_BYTES
) -> np.ndarray:
    """Decode the bytes of an IDX file; ``path`` is used for the name in messages and the ``.gz`` rule."""
    return _read_stream(io.BytesIO(raw), len(raw), Path(path), kind, max_bytes)


def _read_stream(
    f: BinaryIO, size: int, path: Path, kind: Kind | None, max_bytes: int, *, header_only: bool = False
):
    """Read an IDX file from ``f`` (``size`` bytes on disk, gzip-compressed or not): the values, or with
    ``header_only`` (shape, dtype)."""
    start = f.read(4)
    f.seek(0)
    if start[:2] != _GZIP_MAGIC:
        if path.name.endswith(".gz"):
            raise IdxError(path, _not_gzip_words(start))
        shape, dtype = _read_header(f, path, kind, max_bytes, size=size)
        return (shape, dtype) if header_only else _read_values(f, path, shape, dtype)
    # Deflate cannot expand data more than about 1032-fold, so the file's size bounds what it can hold:
    # a small file whose header promises gigabytes is refused before anything is allocated.
    ceiling = size * _MAX_DEFLATE_RATIO + 1024
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as stream:
            shape, dtype = _read_header(stream, path, kind, max_bytes, ceiling=ceiling)
            return (shape, dtype) if header_only else _read_values(stream, path, shape, dtype)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(path, f"the gzip data is damaged or cut short ({exc})") from exc


def _read_header(
    f: BinaryIO,
    path: Path,
    kind: Kind | None,
    max_bytes: int,
    *,
    size: int | None = None,
    ceiling: int | None = None,
) -> tuple[tuple[int, ...], np.dtype]:
    """The header's (shape, native dtype), refused if the values it promises exceed ``max_bytes``, do not
    match a plain file's ``size``, or are more than a compressed file could hold (``ceiling`` bytes)."""
    head = f.read(4)
    _check_magic(head, path, kind, size)
    ndim = head[3]
    dims = f.read(4 * ndim)
    offset = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        found = 4 + len(dims)
        raise IdxError(
            path, f"file is cut short inside its header ({found} bytes; {ndim} dimensions need {offset})"
        )
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = _TYPE_CODES[head[2]]
    expected = math.prod(shape) * dtype.itemsize
    what = f"{_shape_words(shape)} {dtype.newbyteorder('=')} values ({expected:,} bytes)"
    if expected > max_bytes:
        # Python integers do not overflow, but the arrays built from them would: say so by name.
        why = "; its dimensions' product overflows 64 bits" if expected >= 2**63 else ""
        raise IdxError(
            path, f"the header promises {what}, more than the {max_bytes:,}-byte budget for one IDX file{why}"
        )
    if size is not None and size - offset != expected:
        _size_mismatch(path, shape, expected, size - offset)
    if ceiling is not None and offset + expected > ceiling:
        raise IdxError(
            path,
            f"file is truncated: the header promises {what}, more than its compressed data can hold",
        )
    return shape, dtype.newbyteorder("=")


def _read_values(f: BinaryIO, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Exactly the values the header promised (``f`` is just past the header), then nothing more."""
    values = np.empty(math.prod(shape), dtype=dtype)
    found = _read_into(f, memoryview(values).cast("B"))
    if found < values.nbytes:
        _size_mismatch(path, shape, values.nbytes, found)
    extra = len(f.read(_EXTRA_SHOWN + 1))
    if extra:
        amount = f"{extra:,}" if extra <= _EXTRA_SHOWN else f"more than {_EXTRA_SHOWN:,}"
        raise IdxError(
            path,
            f"file has {amount} unexpected extra bytes after the {_shape_words(shape)} values "
            "its header describes",
        )
    if dtype.itemsize > 1 and sys.byteorder == "little":
        values.byteswap(inplace=True)  # the bytes on disk are big-endian
    return values.reshape(shape)


def _read_into(f: BinaryIO, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``f``; returns how many bytes arrived (fewer only at the end of the data)."""
    done = 0
    while done < len(buffer):
        # In slices: GzipFile.readinto unpacks into a temporary bytes object as long as the request.
        n = f.readinto(buffer[done : done + _READ_SLICE])
        if not n:
            break
        done += n
    return done


def _size_mismatch(path: Path, shape: tuple[int, ...], expected: int, found: int) -> NoReturn:
    if found < expected:
        raise IdxError(
            path,
            f"file is truncated: the header promises {_shape_words(shape)} values ({expected:,} bytes) "
            f"but only {found:,} bytes follow",
        )
    raise IdxError(
        path,
        f"file has {found - expected:,} unexpected extra bytes after the {_shape_words(shape)} values "
        "its header describes",
    )


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if the name ends with ``.gz``.

    The file is written to a temporary name first and then renamed, so a crash never leaves half a file.
    """
    path = Path(path)
    payload = encode_idx(array, path.name)
    if path.name.endswith(".gz"):
        # mtime=0 keeps the bytes (and so the checksum) the same for the same array.
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    _write_atomically(path, payload)


def encode_idx(array: np.ndarray, name: str = "array") -> bytes:
    """The bytes of an uncompressed IDX file holding ``array``; ``name`` is used in messages."""
    path = Path(name)
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
    return header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()


def load_idx_pair(
    images_path: str | Path, labels_path: str | Path, *, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a matching image file and label file: ``uint8`` (N, rows, cols) and ``uint8`` (N,).

    Checks that both hold the same number of items and, given ``num_classes``, that every label is in
    ``0 .. num_classes - 1``.
    """
    # The headers first: files that do not belong together are refused before megabytes are unpacked.
    n_images = read_idx_header(images_path, "images")[0][0]
    n_labels = read_idx_header(labels_path, "labels")[0][0]
    if n_images != n_labels:
        raise IdxError(
            labels_path,
            f"holds {n_labels:,} labels but {Path(images_path).name} holds {n_images:,} images; "
            "the two files do not belong together",
        )
    images = read_idx(images_path, "images")
    labels = read_idx(labels_path, "labels")
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


def _not_gzip_words(start: bytes) -> str:
    if not start:
        return "is empty (0 bytes)"
    hint = ""
    if start[:2] == b"\x00\x00" and len(start) >= 4:
        hint = "; it looks like an uncompressed IDX file, so remove '.gz' from its name"
    return f"is named .gz but is not gzip-compressed (starts with {start.hex(' ')}){hint}"


def _check_magic(head: bytes, path: Path, kind: Kind | None, size: int | None) -> None:
    if len(head) < 4:
        what = "is empty" if not head else f"is too short to be an IDX file ({len(head)} bytes)"
        raise IdxError(path, what)
    magic = int.from_bytes(head, "big")
    code, ndim = head[2], head[3]
    if kind is not None and magic != _EXPECTED_MAGIC[kind]:
        other = next((k for k, m in _EXPECTED_MAGIC.items() if m == magic), None)
        if other:
            found = f"; it is {_KIND_WORDS[other]}"
        elif head[:2] == b"\x00\x00" and code in _TYPE_CODES:
            found = f"; it holds {_TYPE_CODES[code].newbyteorder('=')} values in {ndim} dimensions"
        else:
            found = ""
        raise IdxError(
            path,
            f"not {_KIND_WORDS[kind]} (magic number {magic}, expected {_EXPECTED_MAGIC[kind]}){found}",
        )
    if head[0] != 0 or head[1] != 0:
        raise IdxError(path, f"not an IDX file (magic number {magic}; its first two bytes must be zero)")
    if code not in _TYPE_CODES:
        raise IdxError(path, f"not an IDX file (unknown data type code 0x{code:02x} in magic number {magic})")
    if ndim == 0:
        raise IdxError(path, f"IDX header declares no dimensions (magic number {magic})")
    if size is not None and size < 4 + 4 * ndim:
        raise IdxError(
            path, f"file is cut short inside its header ({size} bytes; {ndim} dimensions need {4 + 4 * ndim})"
        )


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
