"""The synthetic fallback: deterministic, balanced, and shaped like MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import generate_digits, load_dataset


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    return generate_digits(2000, np.random.default_rng(7))


def test_shapes_and_types(sample):
    images, labels = sample
    assert images.shape == (2000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (2000,) and labels.dtype == np.int64


def test_classes_are_balanced_and_shuffled(sample):
    _, labels = sample
    assert np.bincount(labels, minlength=10).tolist() == [200] * 10
    assert not np.array_equal(labels[:10], np.arange(10)), "the order is random"
    odd = generate_digits(23, np.random.default_rng(0))[1]
    counts = np.bincount(odd, minlength=10)
    assert counts.max() - counts.min() <= 1


def test_same_generator_state_same_digits():
    a = generate_digits(300, np.random.default_rng(11))
    b = generate_digits(300, np.random.default_rng(11))
    c = generate_digits(300, np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_pixels_look_like_mnist(sample):
    images, _ = sample
    x = images.astype(np.float64)
    mass = x.sum(axis=(1, 2))
    idx = np.arange(28)
    cy = (x.sum(axis=2) @ idx) / mass
    cx = (x.sum(axis=1) @ idx) / mass
    # MNIST: the centre of mass on pixel (14, 14), within the half pixel a whole-pixel shift allows
    assert np.all(np.abs(cy - 14) <= 0.5 + 1e-9) and np.all(np.abs(cx - 14) <= 0.5 + 1e-9)
    # MNIST: the ink's bounding box fits 20x20, its longer side (nearly) 20
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = 28 - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = 28 - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    longer = np.maximum(height, width)
    assert 18.5 <= longer.mean() <= 20.5 and longer.max() <= 22
    # MNIST: a black background with a rim, saturated strokes, about 13% of pixels above half
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (border > 0).any(axis=1).mean() < 0.02
    assert np.percentile(images.max(axis=(1, 2)), 5) >= 230
    half = (images > 127).mean()
    assert 0.08 <= half <= 0.2, half


def test_empty_and_single():
    images, labels = generate_digits(0, np.random.default_rng(0))
    assert images.shape == (0, 28, 28) and labels.shape == (0,)
    images, labels = generate_digits(1, np.random.default_rng(0))
    assert images.shape == (1, 28, 28) and images.max() > 200


def test_the_default_synthetic_dataset_is_balanced_and_disjoint():
    """What ``--dataset synthetic`` trains on (its speed: ``cnnlab data bench``)."""
    ds = load_dataset("synthetic")
    assert ds.train_images.shape == (12_000, 28, 28) and ds.test_images.shape == (2_000, 28, 28)
    assert np.bincount(ds.train_labels).tolist() == [1_200] * 10
    assert np.bincount(ds.test_labels).tolist() == [200] * 10
    train = {image.tobytes() for image in ds.train_images}
    assert len(train) == 12_000, "no digit is drawn twice"
    assert not any(image.tobytes() in train for image in ds.test_images), "no test digit is a training digit"
