"""Reads are bounded: only regular files are opened, and an IDX file yields no more than its header
promises (within a stated budget), so a pipe, a device or a gzip bomb is refused, not read forever."""

from __future__ import annotations

import errno
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import IdxError, UnreadableFile, read_idx, write_idx
from cnnlab.data import files as files_module
from cnnlab.data.idx import MAX_IDX_BYTES
from tests.conftest import REPO_ROOT

MIB = 2**20
MNIST_TRAIN_SHAPE = (60_000, 28, 28)


def idx_header(shape: tuple[int, ...], code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def gzip_bomb(path: Path, shape: tuple[int, ...], payload: int) -> Path:
    """A gzip file whose header promises ``shape`` and which unpacks to ``payload`` bytes of zeros after
    it: a header member, then identical 16 MiB members (a multi-member gzip is still one valid stream)."""
    member = gzip.compress(bytes(16 * MIB), compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(idx_header(shape), mtime=0))
        for _ in range(payload // (16 * MIB)):
            f.write(member)
    return path


def refused(path: Path, **kwargs) -> str:
    with pytest.raises(IdxError) as info:
        read_idx(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path.name}: ") and "\n" not in message
    return message


# ------------------------------------------------------------------------------------- the header


def test_a_header_promising_more_than_the_budget_is_refused_by_name(tmp_path: Path):
    shape = (8_000_000, 28, 28)  # 6.3 GB of uint8
    for name, data in [
        ("big-idx3-ubyte", idx_header(shape)),
        ("big-idx3-ubyte.gz", gzip.compress(idx_header(shape))),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        message = refused(path)
        assert "the header promises 8000000 x 28 x 28 uint8 values (6,272,000,000 bytes)" in message
        assert f"more than the {MAX_IDX_BYTES:,}-byte budget for one IDX file" in message
    # The budget is a parameter: a small one refuses even MNIST-sized promises.
    write_idx(tmp_path / "small.idx", np.zeros((3, 4), np.int32))
    assert "(48 bytes), more than the 40-byte budget" in refused(tmp_path / "small.idx", max_bytes=40)
    assert read_idx(tmp_path / "small.idx", max_bytes=48).shape == (3, 4)


def test_dimensions_whose_product_overflows_are_named(tmp_path: Path):
    path = tmp_path / "huge.idx"
    path.write_bytes(idx_header((2**32 - 1,) * 3, code=0x0E))
    message = refused(path)
    assert "4294967295 x 4294967295 x 4294967295 float64 values" in message
    assert "its dimensions' product overflows 64 bits" in message


def test_a_small_gzip_file_cannot_promise_more_than_it_can_hold(tmp_path: Path, monkeypatch):
    # 784 MB promised by a file of a few dozen bytes: refused before the array is allocated.
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((1_000_000, 28, 28)) + bytes(100), mtime=0))
    allocations = []
    real_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda *a, **k: allocations.append(a) or real_empty(*a, **k))
    message = refused(path, kind="images")
    assert (
        "file is truncated: the header promises 1000000 x 28 x 28 uint8 values (784,000,000 bytes)" in message
    )
    assert "more than its compressed data can hold" in message
    assert allocations == []


def test_a_plain_file_is_measured_before_it_is_read(tmp_path: Path):
    # A sparse 6 GiB file behind a header for one image: its size alone refuses it.
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "wb") as f:
        f.write(idx_header((1, 28, 28)))
        f.truncate(6 * 2**30)
    message = refused(path, kind="images")
    assert f"file has {6 * 2**30 - 16 - 784:,} unexpected extra bytes after the 1 x 28 x 28 values" in message


def test_a_gzip_bomb_behind_a_small_header_is_stopped_early(tmp_path: Path):
    path = gzip_bomb(tmp_path / "train-labels-idx1-ubyte.gz", (10,), 64 * MIB)
    assert path.stat().st_size < 100_000
    message = refused(path, kind="labels")
    assert message.endswith(
        "file has more than 65,536 unexpected extra bytes after the 10 values its header describes"
    )


def test_values_of_every_width_come_back_native_and_writable(tmp_path: Path):
    for dtype in (np.int16, np.int32, np.float32, np.float64):
        array = np.arange(-6, 6, dtype=dtype).reshape(3, 4) * 3
        for name in ("a.idx", "a.idx.gz"):
            write_idx(tmp_path / name, array)
            back = read_idx(tmp_path / name)
            assert back.dtype == np.dtype(dtype) and back.flags.writeable and back.flags.c_contiguous
            np.testing.assert_array_equal(back, array)


# ---------------------------------------------------------------------- the bomb under a memory cap


def read_under_cap(path: Path, cap_mib: int = 200, **options: int) -> dict:
    """``tests.data.memcap`` in a child process whose address space is capped at its start + cap_mib."""
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    done = subprocess.run(
        [sys.executable, "-m", "tests.data.memcap", str(path), f"--cap-mib={cap_mib}", *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("gib", [1, 6], ids=["1-GiB-bomb", "6-GiB-bomb"])
def test_a_gzip_bomb_is_refused_within_a_memory_cap(tmp_path: Path, gib: int):
    # The header promises MNIST's training images (47 MB); the stream goes on for gigabytes (the old
    # reader peaked at 2.1 GB and 12.4 GB of RSS on these). Under a 200 MiB cap a reader that unpacked
    # it all would die of MemoryError.
    path = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", MNIST_TRAIN_SHAPE, gib * 2**30)
    assert path.stat().st_size < gib * 2**30 / 900
    report = read_under_cap(path, cap_mib=200)
    assert report["outcome"] == "refused", report
    assert (
        "file has more than 65,536 unexpected extra bytes after the 60000 x 28 x 28 values"
        in report["message"]
    )
    # The 45 MiB of values promised and a 1 MiB read slice, never the bomb.
    assert report["peak_mib"] - report["peak_mib_before"] < 64, report


def test_promises_the_file_cannot_keep_take_no_memory(tmp_path: Path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((1_000_000, 28, 28)), mtime=0))
    report = read_under_cap(path, cap_mib=100)
    assert report["outcome"] == "refused" and "more than its compressed data can hold" in report["message"]
    header_only = tmp_path / "big.idx.gz"
    header_only.write_bytes(gzip.compress(idx_header((100_000, 100, 1000)), mtime=0))
    report = read_under_cap(header_only, cap_mib=100, max_bytes=2**40)
    assert report["outcome"] == "refused" and "more than its compressed data can hold" in report["message"]


# -------------------------------------------------------------------------- only regular files


def finishes(fn, seconds: float = 10.0):
    """Run ``fn`` in a thread; return its exception (or None). A guard against hanging, not a timing."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread, outcome


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path, monkeypatch):
    fifo = tmp_path / "train-images-idx3-ubyte.gz"
    os.mkfifo(fifo)
    opened = []
    real_open = os.open
    monkeypatch.setattr(files_module.os, "open", lambda p, *a: opened.append(p) or real_open(p, *a))
    thread, outcome = finishes(lambda: read_idx(fifo, "images"))
    if thread.is_alive():  # unblock the reader so the test run can go on, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert isinstance(outcome[0], UnreadableFile)
    assert str(outcome[0]) == "train-images-idx3-ubyte.gz: is a named pipe (FIFO), not a regular file"
    assert opened == []


def test_a_fifo_swapped_in_after_the_check_does_not_block_the_open(tmp_path: Path, monkeypatch):
    # The name is checked, then opened: if a FIFO appears in between, O_NONBLOCK makes the open return
    # at once and the check through the descriptor refuses it.
    fifo = tmp_path / "labels.gz"
    os.mkfifo(fifo)
    monkeypatch.setattr(files_module, "file_problem", lambda path: None)
    thread, outcome = finishes(lambda: read_idx(fifo))
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening a FIFO blocked")
    assert str(outcome[0]) == "labels.gz: is a named pipe (FIFO), not a regular file"


def test_devices_folders_and_sockets_are_refused(tmp_path: Path):
    (tmp_path / "folder.gz").mkdir()
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        cases = {
            Path("/dev/zero"): "zero: is a character device, not a regular file",
            tmp_path / "folder.gz": "folder.gz: is a folder, not a file",
            sock_path: "s: is a socket, not a regular file",
        }
        for path, message in cases.items():
            with pytest.raises(UnreadableFile) as info:
                read_idx(path)
            assert str(info.value) == message
    link = tmp_path / "t10k-labels-idx1-ubyte.gz"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnreadableFile, match="is a character device"):
        read_idx(link, "labels")


@pytest.mark.parametrize(
    ("err", "words"), [(errno.EACCES, "permission denied"), (errno.EIO, "input/output error")]
)
def test_permission_denied_and_io_errors_are_one_line(tmp_path: Path, monkeypatch, err: int, words: str):
    # We run as root, where chmod cannot deny a read: the refusal is simulated at os.open.
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.zeros(3, np.uint8))

    def denied(p, *args):
        raise OSError(err, os.strerror(err), str(p))

    monkeypatch.setattr(files_module.os, "open", denied)
    with pytest.raises(UnreadableFile) as info:
        read_idx(path, "labels")
    assert str(info.value) == f"train-labels-idx1-ubyte.gz: cannot be opened ({words})"
