"""Download a dataset's files from its mirrors, safely.

Nothing here touches the network unless ``fetch`` is called. For each file that is not already present
with the published SHA-256, the mirrors are tried in order: the file streams into a hidden temporary file
in the destination folder, its size and SHA-256 are checked, and only then is it renamed into place
(``os.replace`` is atomic), so an interrupted or corrupt download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import os
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

from cnnlab import __version__
from cnnlab.data import datasets
from cnnlab.data.datasets import DatasetInfo, FileInfo, get_info, verify_file
from cnnlab.data.errors import DataError, DownloadCancelled, DownloadError

CHUNK = 64 * 1024
# Progress is reported at most this often (plus at the start and end of each file), so a GUI is not
# flooded with one signal per 64 KiB.
PROGRESS_INTERVAL = 0.1


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
) -> Path:
    """Download dataset ``name`` into ``dest_root/<name>/`` (default: the user cache) and return that folder.

    Files already there with the published size and SHA-256 are kept. ``mirrors`` overrides the registry's
    base URLs. ``progress`` receives ``DownloadProgress`` reports; ``cancel`` (a ``threading.Event`` or a
    callable returning True) is checked between chunks. Raises ``DownloadCancelled`` or, when every mirror
    fails for a file, ``DownloadError`` naming each mirror's failure.
    """
    info = get_info(name)
    if info.is_synthetic:
        raise DataError(f"'{info.name}' is generated in memory; there is nothing to download")
    bases = list(mirrors if mirrors is not None else info.mirrors)
    if not bases:
        raise DownloadError(f"no download mirrors are known for '{info.name}'")
    folder = Path(dest_root if dest_root is not None else datasets.cache_root()) / info.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the download folder {folder}: {exc.strerror or exc}") from exc
    is_cancelled = _cancel_check(cancel)
    files = list(info.files.values())
    for index, spec in enumerate(files):
        target = folder / spec.filename
        report = _Reporter(progress, spec, index, len(files))
        if verify_file(target, spec)[0] == "ok":
            report.done(spec.size)
            continue
        failures = []
        for base in bases:
            if is_cancelled():
                raise DownloadCancelled(f"download of {info.name} cancelled; nothing partial was kept")
            url = base.rstrip("/") + "/" + spec.filename
            try:
                _download_one(url, target, spec, timeout, is_cancelled, report)
                break
            except _MirrorFailed as exc:
                failures.append(f"{url}: {exc}")
        else:
            raise DownloadError(
                f"could not download {spec.filename} for {info.name}; every mirror failed: "
                + "; ".join(failures)
            )
    return folder


class _MirrorFailed(Exception):
    """This mirror did not deliver the file; try the next one."""


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
    timeout: float,
    is_cancelled: Callable[[], bool],
    report: _Reporter,
) -> None:
    """Stream ``url`` into a hidden temporary file next to ``target``, check it, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            done, sha256 = _stream(url, out, spec, timeout, is_cancelled, report)
        if done != spec.size:
            raise _MirrorFailed(f"the download stopped after {done:,} of {spec.size:,} bytes")
        if sha256 != spec.sha256:
            raise _MirrorFailed(
                f"the data's SHA-256 is {sha256[:16]}..., expected {spec.sha256[:16]}... "
                "(a damaged or different file)"
            )
        report.done(done)
        os.replace(tmp, target)
    finally:
        # Whatever went wrong (Ctrl+C included) the partial file goes; after os.replace it is gone anyway.
        tmp.unlink(missing_ok=True)


def _stream(
    url: str,
    out: BinaryIO,
    spec: FileInfo,
    timeout: float,
    is_cancelled: Callable[[], bool],
    report: _Reporter,
) -> tuple[int, str]:
    """Copy the response body to ``out``; returns (bytes received, their SHA-256)."""
    digest = hashlib.sha256()
    done = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"cnnlab/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) != spec.size:
                raise _MirrorFailed(f"the server offers {int(announced):,} bytes, expected {spec.size:,}")
            report.restart(url)
            while chunk := response.read(CHUNK):
                done += len(chunk)
                if done > spec.size:
                    raise _MirrorFailed(f"the server sent more than the expected {spec.size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
                report.tick(done)
                if is_cancelled():
                    raise DownloadCancelled(f"{spec.filename}: download cancelled; nothing partial was kept")
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"cannot connect ({_reason(exc.reason)})") from exc
    except TimeoutError as exc:
        raise _MirrorFailed(f"no data for {timeout:g} s after {done:,} bytes") from exc
    except (HTTPException, ConnectionError) as exc:
        raise _MirrorFailed(f"the connection broke after {done:,} bytes ({_reason(exc)})") from exc
    except OSError as exc:
        raise _MirrorFailed(f"failed after {done:,} bytes ({_reason(exc)})") from exc
    return done, digest.hexdigest()


def _cancel_check(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return lambda: bool(cancel())


def _reason(reason: object) -> str:
    text = str(reason).strip()
    return text or type(reason).__name__
