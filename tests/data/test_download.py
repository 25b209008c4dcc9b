"""The downloader against a local HTTP server: good, truncated, wrong, failing and slow mirrors."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cnnlab.data import (
    DataError,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    fetch,
    load_dataset,
    resolve,
)
from cnnlab.data import download as download_module
from tests.conftest import REPO_ROOT
from tests.data.conftest import FileServer, serve_dataset, write_fake_dataset


@pytest.fixture
def tiny(tmp_path: Path, file_server: FileServer, monkeypatch: pytest.MonkeyPatch):
    """A fake dataset served by the local server; small chunks so a file takes several reads."""
    info = write_fake_dataset(tmp_path / "published")
    serve_dataset(file_server, tmp_path / "published", info)
    monkeypatch.setattr(download_module, "CHUNK", 1024)
    monkeypatch.setattr(download_module, "PROGRESS_INTERVAL", 0.0)
    return info


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_mirror_downloads_verified_files(tiny, file_server: FileServer, tmp_path: Path):
    reports: list[DownloadProgress] = []
    folder = fetch(tiny, tmp_path / "dest", mirrors=[file_server.url("good")], progress=reports.append)
    assert folder == tmp_path / "dest" / "tiny"
    assert _leftovers(folder) == sorted(f.filename for f in tiny.files.values())
    ds = load_dataset(tiny, tmp_path / "dest", verify=True)
    assert ds.train_images.shape == (30, 28, 28)

    for spec in tiny.files.values():
        mine = [r for r in reports if r.file == spec.filename]
        assert mine[0].bytes_done == 0 and mine[-1].bytes_done == spec.size == mine[-1].bytes_total
        assert [r.bytes_done for r in mine] == sorted(r.bytes_done for r in mine)
        assert mine[-1].url == file_server.url("good") + spec.filename
        assert mine[-1].file_count == 4
    big = [r for r in reports if r.file == tiny.files["train_images"].filename]
    assert len(big) > 3, "a file of several chunks reports progress along the way"
    assert any(r.rate_bytes_per_s and r.seconds_left is not None for r in big)


def test_default_destination_is_the_user_cache(tiny, file_server: FileServer, isolated_cache: Path):
    folder = fetch(tiny, mirrors=[file_server.url("good")])
    assert folder == isolated_cache / "tiny"
    res = resolve(tiny)
    assert (res.source, res.folder) == ("cache", folder)


def test_files_already_present_and_good_are_not_fetched_again(tiny, file_server: FileServer, tmp_path: Path):
    fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    assert file_server.hits["good"] == 4
    damaged = tmp_path / "tiny" / tiny.files["test_labels"].filename
    damaged.write_bytes(b"not the real file")
    fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    assert file_server.hits["good"] == 5, "only the damaged file is downloaded again"
    assert damaged.stat().st_size == tiny.files["test_labels"].size


@pytest.mark.parametrize("bad", ["truncated", "wrong", "long", "missing", "broken"])
def test_a_bad_mirror_leads_to_the_next(tiny, file_server: FileServer, tmp_path: Path, bad: str):
    reports: list[DownloadProgress] = []
    folder = fetch(
        tiny, tmp_path, mirrors=[file_server.url(bad), file_server.url("good")], progress=reports.append
    )
    # The bad mirror is tried first once; after failing it goes to the back of the queue.
    assert file_server.hits[bad] == 1 and file_server.hits["good"] == 4
    assert _leftovers(folder) == sorted(f.filename for f in tiny.files.values())
    load_dataset(tiny, tmp_path, verify=True)
    name = tiny.files["train_images"].filename
    (note,) = [r.note for r in reports if r.note]
    assert note.startswith(file_server.url(bad) + name + ": ")
    assert note.endswith(f"; trying {file_server.url('good')}")
    if bad in ("truncated", "wrong", "long"):
        # progress restarted from 0 on the good mirror
        urls = [r.url for r in reports if r.file == name and r.bytes_done == 0 and not r.note]
        assert urls == [file_server.url(bad) + name, file_server.url("good") + name]


def test_all_mirrors_failing_names_each_failure_and_leaves_nothing(
    tiny, file_server: FileServer, tmp_path: Path
):
    mirrors = [file_server.url(route) for route in ("truncated", "wrong", "missing", "broken", "long")]
    mirrors.append("http://127.0.0.1:9/")  # the discard port: nothing listens there
    with pytest.raises(DownloadError) as info:
        fetch(tiny, tmp_path, mirrors=mirrors, timeout=5)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("could not download train-images-idx3-ubyte.gz for tiny; every mirror failed")
    assert "stopped after" in message or "connection broke" in message  # truncated
    assert "SHA-256 is" in message  # wrong bytes
    assert "HTTP 404" in message and "HTTP 500" in message
    assert "more than the expected" in message  # too long
    assert "cannot connect" in message
    for route in ("truncated", "wrong", "missing", "broken", "long"):
        assert file_server.url(route) + "train-images-idx3-ubyte.gz" in message
    assert _leftovers(tmp_path / "tiny") == []


def test_a_silent_mirror_times_out(tiny, file_server: FileServer, tmp_path: Path):
    reports: list[DownloadProgress] = []
    mirrors = [file_server.url("slow"), file_server.url("good")]
    fetch(tiny, tmp_path, mirrors=mirrors, timeout=0.2, progress=reports.append)
    assert file_server.hits["slow"] == 1 and file_server.hits["good"] == 4
    assert [r.note for r in reports if r.note] == [
        f"{mirrors[0]}train-images-idx3-ubyte.gz: no data for 0.2 s after 0 bytes; trying {mirrors[1]}"
    ]


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_stops_and_deletes_the_partial_file(tiny, file_server: FileServer, tmp_path: Path, kind: str):
    event = threading.Event()

    def progress(report: DownloadProgress) -> None:
        if report.bytes_done > 2048:
            event.set()

    cancel = event if kind == "event" else event.is_set
    with pytest.raises(DownloadCancelled, match="nothing partial was kept"):
        fetch(tiny, tmp_path, mirrors=[file_server.url("good")], progress=progress, cancel=cancel)
    assert _leftovers(tmp_path / "tiny") == []


def test_cancel_before_start_touches_nothing(tiny, file_server: FileServer, tmp_path: Path):
    event = threading.Event()
    event.set()
    with pytest.raises(DownloadCancelled):
        fetch(tiny, tmp_path, mirrors=[file_server.url("good")], cancel=event)
    assert sum(file_server.hits.values()) == 0


def test_an_interrupt_mid_file_leaves_no_partial_file(tiny, file_server: FileServer, tmp_path: Path):
    def progress(report: DownloadProgress) -> None:
        if report.bytes_done > 2048:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(tiny, tmp_path, mirrors=[file_server.url("good")], progress=progress)
    assert _leftovers(tmp_path / "tiny") == []


def test_synthetic_and_mirrorless_datasets_are_refused(tiny, tmp_path: Path):
    with pytest.raises(DataError, match="nothing to download"):
        fetch("synthetic", tmp_path)
    with pytest.raises(DownloadError, match="no download mirrors"):
        fetch(tiny, tmp_path)


def test_nothing_but_fetch_touches_the_network(tmp_path: Path):
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('network access')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import cnnlab.data as d\n"
        f"d.status({str(tmp_path)!r})\n"
        "d.load_dataset('synthetic', synthetic_size=(10, 10))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, capture_output=True)


# ------------------------------------------------------------------------------ stalled mirrors


def _notes(reports: list[DownloadProgress]) -> list[str]:
    return [r.note for r in reports if r.note]


def test_a_trickling_mirror_is_left_for_the_next(tiny, file_server: FileServer, tmp_path: Path):
    # 100 bytes every 20 ms: never silent for the 2 s timeout, but far below 20 kB/s over 0.3 s windows
    # (the test's short stand-in for a mirror sending 1,000 bytes every 20 s).
    reports: list[DownloadProgress] = []
    mirrors = [file_server.url("stall"), file_server.url("good")]
    patience = {"timeout": 2.0, "min_rate": 20_000, "rate_window": 0.3}
    folder = fetch(tiny, tmp_path, mirrors=mirrors, progress=reports.append, **patience)
    assert file_server.hits["stall"] == 1 and file_server.hits["good"] == 4
    (note,) = _notes(reports)
    assert note.startswith(f"{mirrors[0]}train-images-idx3-ubyte.gz: too slow: ")
    assert "(the least accepted is 20,000 bytes/s)" in note and note.endswith(f"; trying {mirrors[1]}")
    assert _leftovers(folder) == sorted(f.filename for f in tiny.files.values())
    load_dataset(tiny, tmp_path, verify=True)


def test_a_mirror_falling_silent_mid_file_times_out(tiny, file_server: FileServer, tmp_path: Path):
    reports: list[DownloadProgress] = []
    mirrors = [file_server.url("hang"), file_server.url("good")]
    fetch(tiny, tmp_path, mirrors=mirrors, timeout=0.3, progress=reports.append)
    assert _notes(reports) == [
        f"{mirrors[0]}train-images-idx3-ubyte.gz: no data for 0.3 s after 100 bytes; trying {mirrors[1]}"
    ]


def test_every_mirror_stalling_is_one_error(tiny, file_server: FileServer, tmp_path: Path):
    mirrors = [file_server.url("stall"), file_server.url("hang")]
    with pytest.raises(DownloadError) as info:
        fetch(tiny, tmp_path, mirrors=mirrors, timeout=0.3, min_rate=20_000, rate_window=0.2)
    message = str(info.value)
    assert "\n" not in message and "too slow" in message and "no data for 0.3 s after 100 bytes" in message
    assert _leftovers(tmp_path / "tiny") == []


@pytest.mark.parametrize(
    ("options", "words"),
    [({"timeout": 0}, "timeout must be positive"), ({"min_rate": -1}, "min_rate must be zero or positive")],
)
def test_impossible_patience_is_refused(tiny, tmp_path: Path, options: dict, words: str):
    with pytest.raises(ValueError, match=words):
        fetch(tiny, tmp_path, mirrors=["http://127.0.0.1:9/"], **options)


# ------------------------------------------------------------------- leftovers and the folder lock


@pytest.mark.slow
def test_a_killed_download_leaves_a_part_the_next_download_removes(
    tiny, file_server: FileServer, tmp_path: Path
):
    checksums = {role: (f.sha256, f.size) for role, f in tiny.files.items()}
    child_code = (
        "from cnnlab.data import fetch\n"
        "from cnnlab.data.datasets import idx_dataset\n"
        f"info = idx_dataset('tiny', 'tiny', tuple('012'), {checksums!r})\n"
        f"fetch(info, {str(tmp_path)!r}, mirrors=[{file_server.url('stall')!r}], min_rate=0)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", child_code], cwd=REPO_ROOT)
    folder = tmp_path / "tiny"
    try:
        for _ in range(1000):  # a guard against waiting forever, not a timing
            if any(p.stat().st_size > 0 for p in folder.glob(".*.part")):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the child never started writing")
    finally:
        child.kill()  # SIGKILL: no finally clause runs in the child
        child.wait()
    (part,) = [p.name for p in folder.glob(".*.part")]
    assert part.startswith(".train-images-idx3-ubyte.gz.")
    fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    assert _leftovers(folder) == sorted(f.filename for f in tiny.files.values())


def test_a_download_into_a_folder_in_use_is_refused_and_touches_nothing(
    tiny, file_server: FileServer, tmp_path: Path
):
    folder = tmp_path / "tiny"
    folder.mkdir()
    busy = folder / ".train-images-idx3-ubyte.gz.abc123.part"
    busy.write_bytes(b"being written")
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match=f"another download of tiny into {folder} is running"):
            fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
        assert busy.exists() and sum(file_server.hits.values()) == 0
    finally:
        os.close(fd)
    fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    assert not busy.exists()


def test_a_folder_where_a_file_belongs_is_named(tiny, file_server: FileServer, tmp_path: Path):
    (tmp_path / "tiny" / "t10k-images-idx3-ubyte.gz").mkdir(parents=True)
    with pytest.raises(DownloadError) as info:
        fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    assert str(info.value) == (
        f"{tmp_path / 'tiny' / 't10k-images-idx3-ubyte.gz'} is a folder, not a file; "
        "move it out of the way and fetch again"
    )


def test_an_unwritable_folder_and_a_full_disk_are_one_line(
    tiny, file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Simulated: as root, chmod cannot make a folder unwritable.
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(download_module.tempfile, "mkstemp", denied)
    with pytest.raises(DownloadError, match=f"^cannot write in {tmp_path / 'tiny'}: permission denied$"):
        fetch(tiny, tmp_path, mirrors=[file_server.url("good")])
    monkeypatch.undo()

    class FullDisk(io.BytesIO):
        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download_module.os, "fdopen", lambda fd, mode: os.close(fd) or FullDisk())
    with pytest.raises(
        DownloadError, match=r"^cannot save train-images-idx3-ubyte\.gz: no space left on device$"
    ):
        fetch(tiny, tmp_path, mirrors=[file_server.url("good"), file_server.url("good")])
    assert file_server.hits["good"] == 1, "a full disk is not the mirror's fault: no other mirror is tried"
    assert _leftovers(tmp_path / "tiny") == []


def test_no_connection_at_all_is_said_in_words(tmp_path):
    """Offline, every mirror fails to connect: one sentence that says so and what to do instead."""
    closed = "http://127.0.0.1:9/mnist/"  # the discard port: nothing listens there, the connection is refused
    with pytest.raises(DownloadError) as caught:
        fetch("mnist", tmp_path, mirrors=[closed, closed.replace("mnist", "other")], timeout=2)
    message = str(caught.value)
    assert message.startswith("no connection: none of the 2 download mirrors of mnist could be reached")
    assert "refused" in message and "synthetic digits" in message and "Errno" not in message
