"""Mini-batches, the validation split and augmentation: deterministic, complete, and correct."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnlab.data import Augmentation, augment, batch_indices, iterate_batches, validation_split
from cnnlab.data.batching import _warp


@given(n=st.integers(0, 300), batch=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_every_index_once_per_epoch(n: int, batch: int, seed: int):
    batches = list(batch_indices(n, batch, np.random.default_rng(seed)))
    assert np.array_equal(np.sort(np.concatenate(batches)) if batches else np.array([]), np.arange(n))
    assert all(len(b) == batch for b in batches[:-1])
    if n:
        assert len(batches[-1]) == (n % batch or batch)


def test_same_seed_same_order_and_epochs_differ():
    a = list(batch_indices(100, 32, np.random.default_rng(3)))
    b = list(batch_indices(100, 32, np.random.default_rng(3)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    rng = np.random.default_rng(3)
    first, second = (np.concatenate(list(batch_indices(100, 32, rng))) for _ in range(2))
    assert not np.array_equal(first, second)


def test_drop_last_and_unshuffled():
    kept = list(batch_indices(10, 4, np.random.default_rng(0), drop_last=True))
    assert [len(b) for b in kept] == [4, 4]
    assert [b.tolist() for b in batch_indices(5, 2)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError):
        list(batch_indices(5, 0))


def test_validation_split_is_disjoint_complete_and_deterministic():
    train, val = validation_split(1000, 0.1, np.random.default_rng(9))
    again = validation_split(1000, 0.1, np.random.default_rng(9))
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert np.all(np.diff(val) > 0), "sorted, for cache-friendly gathers"
    assert len(validation_split(1000, 0.0, np.random.default_rng(0))[1]) == 0
    assert len(validation_split(5, 0.01, np.random.default_rng(0))[1]) == 1
    with pytest.raises(ValueError):
        validation_split(10, 1.0, np.random.default_rng(0))


def test_iterate_batches_pairs_images_with_their_labels():
    n = 50
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)  # each image carries its own index
    labels = np.arange(n) * 10
    seen = []
    for x, y in iterate_batches(images, labels, 16, np.random.default_rng(1)):
        assert x.dtype == np.float32 and x.shape[1:] == (1, 28, 28)
        np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255).astype(int) * 10, y)
        seen.extend(y.tolist())
    assert sorted(seen) == labels.tolist()


def test_augmentation_can_be_switched_per_epoch():
    images = np.zeros((8, 28, 28), dtype=np.uint8)
    images[:, 8:20, 12:16] = 255
    labels = np.arange(8)
    plain = next(iterate_batches(images, labels, 8, np.random.default_rng(0)))[0]
    moved = next(iterate_batches(images, labels, 8, np.random.default_rng(0), augmentation=Augmentation()))[0]
    again = next(iterate_batches(images, labels, 8, np.random.default_rng(0), augmentation=Augmentation()))[0]
    assert not np.allclose(plain, moved)
    np.testing.assert_array_equal(moved, again)
    with pytest.raises(ValueError, match="random generator"):
        next(iterate_batches(images, labels, 8, augmentation=Augmentation()))


# ---------------------------------------------------------------------------------------- augment


@pytest.fixture
def batch() -> np.ndarray:
    x = np.zeros((16, 1, 28, 28), dtype=np.float32)
    x[:, :, 6:22, 12:16] = 1.0
    x[:, :, 6:9, 12:22] = 0.5
    return x


def test_no_change_is_the_identity(batch):
    np.testing.assert_array_equal(augment(batch, np.random.default_rng(0), 0, 0, 0), batch)


def test_augment_keeps_shape_range_and_is_deterministic(batch):
    out = augment(batch, np.random.default_rng(4))
    assert out.shape == batch.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    np.testing.assert_array_equal(out, augment(batch, np.random.default_rng(4)))
    assert not np.array_equal(out[0], out[1]), "each image gets its own transform"
    # scaling by up to 10% changes the ink's area by up to about 21%
    ratio = out.sum(axis=(1, 2, 3)) / batch.sum(axis=(1, 2, 3))
    assert np.all((ratio > 0.75) & (ratio < 1.3))


def test_warp_rotates_and_shifts_exactly(batch):
    x = batch[:2]
    rotated = _warp(x, np.full(2, np.pi / 2), np.ones(2), np.zeros(2), np.zeros(2))
    np.testing.assert_allclose(rotated, np.rot90(x, k=-1, axes=(2, 3)), atol=1e-5)
    shifted = _warp(x, np.zeros(2), np.ones(2), np.array([2.0, -3.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(shifted[0, 0, 2:, 1:], x[0, 0, :-2, :-1], atol=1e-6)
    np.testing.assert_allclose(shifted[1, 0, :-3], x[1, 0, 3:], atol=1e-6)
    far = _warp(x, np.zeros(2), np.ones(2), np.full(2, 40.0), np.zeros(2))
    assert np.all(far == 0), "what comes from outside the image is background"


def test_several_channels_share_one_transform():
    x = np.random.default_rng(0).random((5, 3, 12, 10)).astype(np.float32)
    x[:, 1] = x[:, 0]
    out = augment(x, np.random.default_rng(1))
    np.testing.assert_array_equal(out[:, 1], out[:, 0])


def test_a_batch_of_several_chunks_is_warped_as_one(batch):
    """augment works a few images at a time (for speed: see ``cnnlab data bench``); the chunks must not
    change the result, the input, or the stream of random draws."""
    x = np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32)
    before = x.copy()
    rng = np.random.default_rng(5)
    out = augment(x, rng)
    np.testing.assert_array_equal(x, before)
    draws = np.random.default_rng(5)
    angle = np.radians(draws.uniform(-10.0, 10.0, 64))
    zoom = draws.uniform(0.9, 1.1, 64)
    ty, tx = draws.uniform(-2.0, 2.0, (2, 64))
    np.testing.assert_allclose(out, _warp(x, angle, zoom, ty, tx), atol=1e-6)
    # The generator moved on: the next batch gets fresh transforms.
    assert rng.bit_generator.state == draws.bit_generator.state
    assert not np.allclose(augment(x, rng), out)
