"""Fixtures for the data floor: an isolated cache, small fake IDX datasets, and a local HTTP server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import datasets
from cnnlab.data.datasets import ROLES, STANDARD_FILENAMES, DatasetInfo, idx_dataset
from cnnlab.data.idx import write_idx
from tests.conftest import real_data_dir

# Read before any test clears the variable: the real files are named by CNNLAB_DATA_DIR.
REAL_DATA = real_data_dir()


@pytest.fixture
def mnist_dir() -> Path:
    if REAL_DATA is None:
        pytest.skip("real MNIST not available: set CNNLAB_DATA_DIR to a folder holding mnist/")
    return REAL_DATA


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user cache, or sees the developer's CNNLAB_DATA_DIR by accident."""
    cache = tmp_path / "user-cache" / "datasets"
    monkeypatch.setattr(datasets, "cache_root", lambda: cache)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    return cache


def fake_arrays(n_train: int = 30, n_test: int = 12, classes: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % classes).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % classes).astype(np.uint8),
    }


def write_fake_dataset(root: Path, name: str = "tiny", classes: int = 3, seed: int = 0) -> DatasetInfo:
    """Write the four gzip IDX files of a small dataset into ``root/name`` and return a registry entry with
    their real SHA-256 and sizes."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for role, array in fake_arrays(classes=classes, seed=seed).items():
        path = folder / STANDARD_FILENAMES[role]
        write_idx(path, array)
        data = path.read_bytes()
        checksums[role] = (hashlib.sha256(data).hexdigest(), len(data))
    return idx_dataset(name, f"Tiny test set {name}", tuple(str(c) for c in range(classes)), checksums)


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@dataclass
class FileServer:
    """A local HTTP server with one route per behaviour: ``good``, ``truncated``, ``wrong``, ``long``,
    ``missing`` (404), ``broken`` (500), ``slow`` (answers after a pause), ``hang`` (a first chunk, then
    silence), ``stall`` (a trickle: ``stall_bytes`` every ``stall_every`` seconds, never silent for long)."""

    files: dict[str, bytes]
    base: str = ""
    hits: Counter = field(default_factory=Counter)
    stall_bytes: int = 100
    stall_every: float = 0.02
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, route: str) -> str:
        return f"{self.base}/{route}/"


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            _, route, name = self.path.split("/", 2)
            server.hits[route] += 1
            data = server.files.get(name)
            if route == "missing" or data is None:
                self.send_error(404, "Not Found")
                return
            if route == "broken":
                self.send_error(500, "Internal Server Error")
                return
            if route == "slow":
                time.sleep(1.0)
            if route in ("stall", "hang"):
                self._trickle(data, route)
                return
            body = data
            if route == "wrong":
                body = bytes(b ^ 0x5A for b in data)
            length = len(body)
            if route == "truncated":
                body = data[: len(data) // 2]
            self.send_response(200)
            if route != "long":
                self.send_header("Content-Length", str(length))
            self.end_headers()
            # The client may give up first (a cancel or timeout test).
            with contextlib.suppress(OSError):
                self.wfile.write(body + (b"more" * 100 if route == "long" else b""))

        def _trickle(self, data: bytes, route: str) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            step = server.stall_bytes
            # The client gives up (the write fails) or the test ends (stopping is set), whichever is first.
            with contextlib.suppress(OSError):
                for start in range(0, len(data), step):
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                    if server.stopping.wait(server.stall_every if route == "stall" else 30.0):
                        return

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer(files={})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve_dataset(server: FileServer, source: Path, info: DatasetInfo) -> None:
    for role in ROLES:
        name = info.files[role].filename
        server.files[name] = (source / info.name / name).read_bytes()
