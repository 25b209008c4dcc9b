"""Download a dataset's files from its mirrors, safely.

Nothing here touches the network unless ``fetch`` is called. For each file that is not already present
with the published SHA-256, the mirrors are tried in order: the file streams into a hidden temporary file
in the destination folder, its size and SHA-256 are checked, and only then is it renamed into place
(``os.replace`` is atomic), so an interrupted or corrupt download never leaves a file that looks valid.

A mirror is given up (and the next one tried, with a note in the progress reports) when it sends nothing
for ``timeout`` seconds, or when it trickles: fewer than ``min_rate`` bytes per second over any stretch
of ``rate_window`` seconds. A mirror that failed once is tried last for the dataset's remaining files.
While ``fetch`` works on a folder it holds a lock on it (where the platform has ``fcntl``), so temporary
files left there by a download that was killed can be removed safely at the start of the next one.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no folder lock, only old leftovers are removed
    fcntl = None  # type: ignore[assignment]

from cnnlab import __version__
from cnnlab.data import datasets
from cnnlab.data.datasets import DatasetInfo, FileInfo, get_info, verify_file
from cnnlab.data.errors import DataError, DownloadCancelled, DownloadError
from cnnlab.data.files import file_problem, os_problem

CHUNK = 64 * 1024
# Progress is reported at most this often (plus at the start and end of each file), so a GUI is not
# flooded with one signal per 64 KiB.
PROGRESS_INTERVAL = 0.1
# A mirror slower than this over a whole window is given up: MNIST's largest file (9.9 MB) would take
# more than 8 minutes, and a stalled mirror (1,000 bytes every 20 s) is left after half a minute.
MIN_RATE = 20_000  # bytes per second
RATE_WINDOW = 30.0  # seconds
# Without a folder lock (no fcntl), only temporary files older than this are taken for leftovers.
STALE_PART_AGE = 24 * 3600.0


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report. ``rate_bytes_per_s`` and ``seconds_left`` are None until they can be told."""

    file: str
    bytes_done: int
    bytes_total: int
    rate_bytes_per_s: float | None
    seconds_left: float | None
    url: str = ""
    file_index: int = 0
    file_count: int = 1
    note: str = ""  # one line when a mirror is given up and the next one is tried, else ""


Cancel = threading.Event | Callable[[], bool] | None
ProgressCallback = Callable[[DownloadProgress], None] | None


def fetch(
    name: str | DatasetInfo,
    dest_root: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: ProgressCallback = None,
    cancel: Cancel = None,
    timeout: float = 30.0,
    min_rate: float | None = None,
    rate_window: float | None = None,
) -> Path:
    """Download dataset ``name`` into ``dest_root/<name>/`` (default: the user cache) and return that folder.

    Files already there with the published size and SHA-256 are kept. ``mirrors`` overrides the registry's
    base URLs. ``progress`` receives ``DownloadProgress`` reports (``note`` says when a mirror is given
    up); ``cancel`` (a ``threading.Event`` or a callable returning True) is checked between chunks.
    ``timeout``: seconds without any data before a mirror is given up; ``min_rate`` (bytes/s, default
    ``MIN_RATE``) over every ``rate_window`` seconds (default ``RATE_WINDOW``): the slowest a mirror may
    be. Raises ``DownloadCancelled``, or
    ``DownloadError`` when every mirror fails for a file (naming each mirror's failure), when the folder
    cannot be written, or when another download into the same folder is running.
    """
    info = get_info(name)
    if info.is_synthetic:
        raise DataError(f"'{info.name}' is generated in memory; there is nothing to download")
    if info.is_collection:
        raise DataError(
            f"'{info.name}' is your own collection of digits; there is nothing to download (label digits on "
            "the drawing pad, or add pictures with 'cnnlab data add-mine')"
        )
    bases = list(mirrors if mirrors is not None else info.mirrors)
    if not bases:
        raise DownloadError(f"no download mirrors are known for '{info.name}'")
    patience = _Patience(
        timeout,
        MIN_RATE if min_rate is None else min_rate,
        RATE_WINDOW if rate_window is None else rate_window,
    )
    folder = Path(dest_root if dest_root is not None else datasets.cache_root()) / info.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the download folder {folder}: {os_problem(exc)}") from exc
    is_cancelled = _cancel_check(cancel)
    files = list(info.files.values())
    with _folder_lock(folder, info.name):
        remove_leftovers(folder, [f.filename for f in files])
        for index, spec in enumerate(files):
            target = folder / spec.filename
            report = _Reporter(progress, spec, index, len(files))
            if verify_file(target, spec)[0] == "ok":
                report.done(spec.size)
                continue
            kind = file_problem(target)
            if kind is not None and kind.startswith("is "):  # a folder or a pipe where the file goes
                raise DownloadError(f"{target} {kind}; move it out of the way and fetch again")
            failures = []
            reasons: list[_MirrorFailed] = []
            order = list(bases)
            for position, base in enumerate(order):
                if is_cancelled():
                    raise DownloadCancelled(f"download of {info.name} cancelled; nothing partial was kept")
                url = base.rstrip("/") + "/" + spec.filename
                try:
                    _download_one(url, target, spec, patience, is_cancelled, report)
                    break
                except _MirrorFailed as exc:
                    failures.append(f"{url}: {exc}")
                    reasons.append(exc)
                    # A mirror that failed is tried last for the remaining files.
                    bases.remove(base)
                    bases.append(base)
                    if position + 1 < len(order):
                        report.note(f"{url}: {exc}; trying {order[position + 1]}")
            else:
                if all(exc.unreachable for exc in reasons):
                    # The usual case offline: say so in words, not as a list of socket errors.
                    raise DownloadError(
                        f"no connection: none of the {len(order)} download mirrors of {info.name} could be "
                        f"reached ({reasons[0]}). Check the internet connection, or use the synthetic "
                        "digits, or copy the four files into a folder and choose it"
                    )
                raise DownloadError(
                    f"could not download {spec.filename} for {info.name}; every mirror failed: "
                    + "; ".join(failures)
                )
    return folder


def remove_leftovers(folder: Path, filenames: Sequence[str], *, older_than: float | None = None) -> list[str]:
    """Delete the hidden temporary files (``.<name>.*.part``) a killed download of ``filenames`` left in
    ``folder``; returns their names. ``older_than`` (seconds) spares recent ones; without a folder lock
    (no ``fcntl``) it defaults to ``STALE_PART_AGE``, since another download may be writing them."""
    if older_than is None and fcntl is None:
        older_than = STALE_PART_AGE
    removed = []
    now = time.time()
    for filename in filenames:
        for part in folder.glob(f".{glob.escape(filename)}.*.part"):
            with contextlib.suppress(OSError):
                if older_than is not None and now - part.stat().st_mtime < older_than:
                    continue
                part.unlink()
                removed.append(part.name)
    return removed


@contextlib.contextmanager
def _folder_lock(folder: Path, name: str):
    """Hold an exclusive lock on ``folder`` itself (a directory descriptor: no lock file is left)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise DownloadError(f"cannot open the download folder {folder}: {os_problem(exc)}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DownloadError(
                f"another download of {name} into {folder} is running; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class _Patience:
    idle: float  # seconds without a byte
    min_rate: float  # bytes per second, over each window
    window: float  # seconds

    def __post_init__(self) -> None:
        for field_name, value in (("timeout", self.idle), ("rate_window", self.window)):
            if not value > 0:
                raise ValueError(f"fetch: {field_name} must be positive, got {value}")
        if not self.min_rate >= 0:
            raise ValueError(f"fetch: min_rate must be zero or positive, got {self.min_rate}")


class _MirrorFailed(Exception):
    """This mirror did not deliver the file; try the next one. ``unreachable``: no connection at all."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _Reporter:
    """Turns byte counts into throttled ``DownloadProgress`` reports for one file."""

    def __init__(self, callback: ProgressCallback, spec: FileInfo, index: int, count: int) -> None:
        self.callback, self.spec, self.index, self.count = callback, spec, index, count
        self.url = ""
        self.start = self.last = time.monotonic()

    def restart(self, url: str) -> None:
        self.url = url
        self.start = self.last = time.monotonic()
        self.done(0)

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.done(done)

    def note(self, text: str) -> None:
        if self.callback is not None and text:
            self.callback(
                DownloadProgress(
                    self.spec.filename, 0, self.spec.size, None, None, self.url, self.index, self.count, text
                )
            )

    def done(self, done: int) -> None:
        if self.callback is None:
            return
        elapsed = time.monotonic() - self.start
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        left = (self.spec.size - done) / rate if rate else (0.0 if done >= self.spec.size else None)
        self.callback(
            DownloadProgress(
                self.spec.filename, done, self.spec.size, rate, left, self.url, self.index, self.count
            )
        )


def _download_one(
    url: str,
    target: Path,
    spec: FileInfo,
    patience: _Patience,
    is_cancelled: Callable[[], bool],
    report: _Reporter,
) -> None:
    """Stream ``url`` into a hidden temporary file next to ``target``, check it, then rename it into place."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise DownloadError(f"cannot write in {target.parent}: {os_problem(exc)}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            done, sha256 = _stream(url, out, spec, patience, is_cancelled, report)
        if done != spec.size:
            raise _MirrorFailed(f"the download stopped after {done:,} of {spec.size:,} bytes")
        if sha256 != spec.sha256:
            raise _MirrorFailed(
                f"the data's SHA-256 is {sha256[:16]}..., expected {spec.sha256[:16]}... "
                "(a damaged or different file)"
            )
        report.done(done)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise DownloadError(
                f"cannot put the downloaded {target.name} in place: {os_problem(exc)}"
            ) from exc
    finally:
        # Whatever went wrong (Ctrl+C included) the partial file goes; after os.replace it is gone anyway.
        tmp.unlink(missing_ok=True)


def _stream(
    url: str,
    out: BinaryIO,
    spec: FileInfo,
    patience: _Patience,
    is_cancelled: Callable[[], bool],
    report: _Reporter,
) -> tuple[int, str]:
    """Copy the response body to ``out``; returns (bytes received, their SHA-256)."""
    digest = hashlib.sha256()
    done = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"cnnlab/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=patience.idle) as response:
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) != spec.size:
                raise _MirrorFailed(f"the server offers {int(announced):,} bytes, expected {spec.size:,}")
            report.restart(url)
            window_start, window_done = time.monotonic(), 0
            # read1 returns whatever has arrived; read(CHUNK) would wait for a whole chunk, so a trickling
            # mirror could hold it for many minutes, each slow byte resetting the socket timeout.
            while chunk := response.read1(CHUNK):
                done += len(chunk)
                if done > spec.size:
                    raise _MirrorFailed(f"the server sent more than the expected {spec.size:,} bytes")
                digest.update(chunk)
                _write(out, chunk, spec)
                report.tick(done)
                if is_cancelled():
                    raise DownloadCancelled(f"{spec.filename}: download cancelled; nothing partial was kept")
                now = time.monotonic()
                if now - window_start >= patience.window:
                    if done - window_done < patience.min_rate * (now - window_start):
                        raise _MirrorFailed(
                            f"too slow: {done - window_done:,} bytes in {now - window_start:.1f} s "
                            f"(the least accepted is {patience.min_rate:,.0f} bytes/s) after {done:,} bytes"
                        )
                    window_start, window_done = now, done
    except urllib.error.HTTPError as exc:
        exc.close()  # the error holds the server's response (and its socket) open until closed
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"cannot connect ({_reason(exc.reason)})", unreachable=True) from exc
    except TimeoutError as exc:
        raise _MirrorFailed(f"no data for {patience.idle:g} s after {done:,} bytes") from exc
    except (HTTPException, ConnectionError) as exc:
        raise _MirrorFailed(f"the connection broke after {done:,} bytes ({_reason(exc)})") from exc
    except OSError as exc:
        raise _MirrorFailed(f"failed after {done:,} bytes ({_reason(exc)})") from exc
    return done, digest.hexdigest()


def _write(out: BinaryIO, chunk: bytes, spec: FileInfo) -> None:
    # A full disk is not the mirror's fault: no other mirror is tried.
    try:
        out.write(chunk)
    except OSError as exc:
        raise DownloadError(f"cannot save {spec.filename}: {os_problem(exc)}") from exc


def _cancel_check(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return lambda: bool(cancel())


def _reason(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "the server's name could not be looked up: is this computer offline?"
    if isinstance(reason, ConnectionRefusedError):
        return "the server refused the connection"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "the network is unreachable"
    text = str(reason).strip()
    return text or type(reason).__name__
