"""The real MNIST and Fashion-MNIST files (CNNLAB_DATA_DIR): counts, label histograms, checksums."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import DATASETS, load_dataset, resolve, status

pytestmark = pytest.mark.realdata

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _load_timed(name: str, data_dir: Path):
    start = time.perf_counter()
    ds = load_dataset(name, data_dir)
    seconds = time.perf_counter() - start
    print(f"\n{name}: 70,000 images loaded in {seconds:.2f} s")
    return ds


def test_mnist_counts_and_labels(mnist_dir: Path):
    ds = _load_timed("mnist", mnist_dir)
    assert ds.train_images.shape == (60_000, 28, 28) and ds.test_images.shape == (10_000, 28, 28)
    assert ds.train_images.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    assert np.bincount(ds.train_labels).tolist() == MNIST_TRAIN
    assert np.bincount(ds.test_labels).tolist() == MNIST_TEST
    assert ds.source.startswith(str(mnist_dir / "mnist"))
    assert ds.train_images.max() == 255 and ds.train_images[:, 0, :].mean() < 0.1


def test_mnist_checksums_verify(mnist_dir: Path):
    rows = {row.info.name: row for row in status(mnist_dir, verify=True)}
    assert rows["mnist"].checksums == "ok"
    assert rows["mnist"].resolution.source == "explicit"
    assert load_dataset("mnist", mnist_dir, verify=True).num_classes == 10


def test_mnist_found_through_the_environment(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(mnist_dir))
    res = resolve("mnist")
    assert (res.source, res.folder) == ("environment", mnist_dir / "mnist")


def test_fashion_mnist_counts_labels_and_checksums(mnist_dir: Path):
    if not (mnist_dir / "fashion-mnist").is_dir():
        pytest.skip("fashion-mnist/ is not in CNNLAB_DATA_DIR")
    ds = _load_timed("fashion-mnist", mnist_dir)
    assert ds.train_images.shape == (60_000, 28, 28) and ds.test_images.shape == (10_000, 28, 28)
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10
    assert ds.class_names == DATASETS["fashion-mnist"].class_names and ds.class_names[9] == "Ankle boot"
    rows = {row.info.name: row for row in status(mnist_dir, verify=True)}
    assert rows["fashion-mnist"].checksums == "ok"
