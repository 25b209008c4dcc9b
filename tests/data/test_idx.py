"""IDX reading and writing: round trips, and every kind of damaged file named in words."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnlab.data import IdxError, UnreadableFile, load_idx_pair, read_idx, write_idx
from cnnlab.data.idx import IMAGES_MAGIC, LABELS_MAGIC

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_images_and_labels_round_trip(tmp_path: Path, suffix: str):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lab{suffix}", labels)
    back_images = read_idx(tmp_path / f"img{suffix}", "images")
    back_labels = read_idx(tmp_path / f"lab{suffix}", "labels")
    np.testing.assert_array_equal(back_images, images)
    np.testing.assert_array_equal(back_labels, labels)
    assert back_images.dtype == np.uint8 and back_images.flags.writeable
    assert (tmp_path / f"img{suffix}").read_bytes()[:2] == (b"\x1f\x8b" if suffix else b"\x00\x00")
    assert not list(tmp_path.glob(".*.part")), "the atomic write left its temporary file behind"


def test_header_is_the_published_layout(tmp_path: Path):
    write_idx(tmp_path / "x", np.zeros((3, 2, 4), dtype=np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert int.from_bytes(raw[:4], "big") == IMAGES_MAGIC
    assert [int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12)] == [3, 2, 4]
    assert len(raw) == 16 + 24
    write_idx(tmp_path / "y", np.zeros(5, dtype=np.uint8))
    assert int.from_bytes((tmp_path / "y").read_bytes()[:4], "big") == LABELS_MAGIC


def test_gzip_is_recognised_by_content_without_the_suffix(tmp_path: Path):
    write_idx(tmp_path / "a.gz", np.arange(10, dtype=np.uint8))
    (tmp_path / "renamed").write_bytes((tmp_path / "a.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed"), np.arange(10))


def test_gzip_output_is_reproducible(tmp_path: Path):
    array = np.arange(100, dtype=np.int16).reshape(10, 10)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@settings(max_examples=60, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6),
    ),
    compressed=st.booleans(),
)
def test_any_array_round_trips(tmp_path_factory: pytest.TempPathFactory, array: np.ndarray, compressed: bool):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compressed else "a.idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.uint16, np.complex64])
def test_unsupported_dtypes_are_refused(tmp_path: Path, dtype):
    with pytest.raises(ValueError, match="IDX cannot store"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


# ------------------------------------------------------------------------------------- damaged files


def _images_bytes(n: int = 4) -> bytes:
    header = IMAGES_MAGIC.to_bytes(4, "big") + b"".join(k.to_bytes(4, "big") for k in (n, 28, 28))
    return header + bytes(n * 28 * 28)


def _write(tmp_path: Path, name: str, data: bytes, compress: bool | None = None) -> Path:
    path = tmp_path / name
    if compress if compress is not None else name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _message(path: Path, kind=None) -> str:
    with pytest.raises(IdxError) as info:
        read_idx(path, kind)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message
    return message


def test_bad_magic_number(tmp_path: Path):
    data = bytearray(_images_bytes())
    data[2:4] = (1234).to_bytes(2, "big")
    path = _write(tmp_path, "train-images-idx3-ubyte.gz", bytes(data))
    message = _message(path, "images")
    assert message == "train-images-idx3-ubyte.gz: not an IDX image file (magic number 1234, expected 2051)"


def test_labels_where_images_belong_are_named_as_such(tmp_path: Path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros(5, dtype=np.uint8))
    assert "it is an IDX label file" in _message(path, "images")


def test_not_idx_at_all(tmp_path: Path):
    path = _write(tmp_path, "notes.txt", b"hello, this is text")
    assert "not an IDX file" in _message(path)


def test_unknown_type_code(tmp_path: Path):
    path = _write(tmp_path, "odd.idx", bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 9]))
    assert "unknown data type code 0x07" in _message(path)


@pytest.mark.parametrize("size", [0, 3])
def test_short_file(tmp_path: Path, size: int):
    path = _write(tmp_path, "t10k-labels-idx1-ubyte.gz", _images_bytes()[:size])
    message = _message(path, "labels")
    assert ("is empty" in message) if size == 0 else ("too short" in message)


def test_header_cut_short(tmp_path: Path):
    path = _write(tmp_path, "t10k-images-idx3-ubyte", _images_bytes()[:10])
    assert "cut short inside its header" in _message(path, "images")


def test_truncated_payload(tmp_path: Path):
    path = _write(tmp_path, "train-images-idx3-ubyte.gz", _images_bytes(4)[:-100])
    message = _message(path, "images")
    assert "truncated" in message and "4 x 28 x 28" in message and "3,036 bytes follow" in message


def test_extra_bytes(tmp_path: Path):
    path = _write(tmp_path, "train-images-idx3-ubyte.gz", _images_bytes(4) + b"junk")
    assert "4 unexpected extra bytes" in _message(path, "images")


def test_plain_bytes_behind_a_gz_name(tmp_path: Path):
    path = _write(tmp_path, "train-images-idx3-ubyte.gz", _images_bytes(), compress=False)
    message = _message(path, "images")
    assert "is named .gz but is not gzip-compressed" in message
    assert "remove '.gz'" in message


def test_damaged_gzip_stream(tmp_path: Path):
    good = gzip.compress(_images_bytes(), mtime=0)
    path = _write(tmp_path, "train-images-idx3-ubyte.gz", good[: len(good) // 2], compress=False)
    assert "gzip data is damaged or cut short" in _message(path, "images")


def test_missing_file(tmp_path: Path):
    with pytest.raises(UnreadableFile, match=r"^nowhere\.gz: no such file$"):
        read_idx(tmp_path / "nowhere.gz")


# ----------------------------------------------------------------------------------------- pairs


def test_pair_loads_and_checks_counts(tmp_path: Path):
    write_idx(tmp_path / "img.gz", np.zeros((5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "lab.gz", np.array([0, 1, 2, 3, 4], dtype=np.uint8))
    images, labels = load_idx_pair(tmp_path / "img.gz", tmp_path / "lab.gz", num_classes=5)
    assert images.shape == (5, 28, 28) and labels.shape == (5,)


def test_count_mismatch_names_both_files(tmp_path: Path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(IdxError) as info:
        load_idx_pair(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz")
    message = str(info.value)
    assert message.startswith("train-labels-idx1-ubyte.gz: holds 4 labels")
    assert "train-images-idx3-ubyte.gz holds 5 images" in message


def test_labels_out_of_range(tmp_path: Path):
    write_idx(tmp_path / "img.gz", np.zeros((4, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 9, 12, 3], dtype=np.uint8))
    with pytest.raises(IdxError) as info:
        load_idx_pair(tmp_path / "img.gz", tmp_path / "t10k-labels-idx1-ubyte.gz", num_classes=10)
    message = str(info.value)
    assert message.startswith("t10k-labels-idx1-ubyte.gz: label 12 at position 2 is out of range")
    assert "(expected 0-9; 1 of 4 labels are out of range)" in message
