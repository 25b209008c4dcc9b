"""Fixtures for the training floor: small datasets built in memory, small networks, an isolated runs home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cnnlab.data import Dataset, generate_digits
from cnnlab.data.datasets import STANDARD_FILENAMES
from cnnlab.data.idx import write_idx
from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import TrainConfig

DIGITS = tuple(str(d) for d in range(10))

# Small enough for milliseconds per step, with dropout so that resuming must restore its random stream.
SMALL_SPEC = NetSpec.from_dict(
    {
        "name": "small",
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 10},
        ],
    }
)


def make_dataset(n_train: int = 320, n_test: int = 100, seed: int = 0, name: str = "tiny") -> Dataset:
    rng = np.random.default_rng(seed)
    x, y = generate_digits(n_train, rng)
    tx, ty = generate_digits(n_test, rng)
    return Dataset(name, DIGITS, x, y, tx, ty, source="generated for tests")


_CACHE: dict[tuple, Dataset] = {}


def cached_dataset(n_train: int = 384, n_test: int = 100) -> Dataset:
    key = (n_train, n_test)
    if key not in _CACHE:
        _CACHE[key] = make_dataset(n_train, n_test)
    return _CACHE[key]


@pytest.fixture
def tiny() -> Dataset:
    """384 training and 100 test images of generated digits (read-only arrays, shared between tests):
    320 to train on once ``small_config``'s validation split of 64 is held out."""
    return cached_dataset()


def small_config(**changes) -> TrainConfig:
    settings = dict(
        spec=SMALL_SPEC,
        dataset="tiny",
        epochs=2,
        batch_size=32,
        lr=0.05,
        validation=64,
        eval_every=4,
        snapshot_every=1,
    )
    settings.update(changes)
    return TrainConfig(**settings)


def seed_config(**changes) -> TrainConfig:
    return small_config(spec=load_preset("seed"), **changes)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread() -> Iterator[None]:
    """Tiny batches gain nothing from a second BLAS thread, and on a machine shared with other jobs its
    spinning made these tests ten times slower."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(autouse=True)
def cnnlab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs history goes to a temporary folder, never the developer's own."""
    home = tmp_path / "cnnlab-home"
    monkeypatch.setenv("CNNLAB_HOME", str(home))
    return home


def write_fake_mnist(root: Path, n_train: int = 640, n_test: int = 200) -> Path:
    """Generated digits stored as the four MNIST IDX files in ``root/mnist`` (what ``--data-dir`` wants)."""
    data = make_dataset(n_train, n_test, seed=1)
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in {
        "train_images": data.train_images,
        "train_labels": data.train_labels.astype(np.uint8),
        "test_images": data.test_images,
        "test_labels": data.test_labels.astype(np.uint8),
    }.items():
        write_idx(folder / STANDARD_FILENAMES[role], array)
    return root


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("data"))
