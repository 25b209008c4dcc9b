"""Mixes for fine-tuning: what ``share`` means, which test part a mix has, and how a mix is named."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnlab.data import (
    DataError,
    Dataset,
    MineStore,
    MixedDataset,
    NotEnoughSamples,
    load_dataset,
    mix_datasets,
    mix_name,
    parse_mix,
)
from cnnlab.data.datasets import DIGITS


def tagged(name: str, n_train: int, n_test: int, tag: int, classes=DIGITS) -> Dataset:
    """A dataset whose every pixel is ``tag``, so each image of a mix tells where it came from."""
    return Dataset(
        name=name,
        class_names=classes,
        train_images=np.full((n_train, 28, 28), tag, np.uint8),
        train_labels=np.arange(n_train, dtype=np.int64) % len(classes),
        test_images=np.full((n_test, 28, 28), tag, np.uint8),
        test_labels=np.arange(n_test, dtype=np.int64) % len(classes),
        source=f"{name} in memory",
    )


def test_share_is_the_part_of_the_training_set_from_the_other_dataset():
    mine, mnist = tagged("mine", 60, 15, 1), tagged("mnist", 1000, 100, 2)
    mix = mix_datasets(mine, mnist, 0.7, seed=3)
    assert isinstance(mix, MixedDataset) and mix.name == "mine+mnist:0.7"
    tags = mix.train_images[:, 0, 0]
    assert (tags == 1).sum() == 60 and (tags == 2).sum() == 140  # every own digit once, 70% MNIST
    assert mix.share == pytest.approx(0.7)
    # Shuffled, so any stretch of it (a batch, or --limit) holds about the share too.
    assert 0.5 < (tags[:64] == 2).mean() < 0.9
    # Its test part is the primary's; the other stays whole for the "does it still know MNIST" check.
    assert np.array_equal(mix.test_images, mine.test_images) and mix.other is mnist and mix.primary is mine
    assert np.array_equal(mix_datasets(mine, mnist, 0.7, seed=3).train_labels, mix.train_labels)
    assert not np.array_equal(mix_datasets(mine, mnist, 0.7, seed=4).train_labels, mix.train_labels)


def test_a_small_other_dataset_is_used_whole():
    mix = mix_datasets(tagged("mine", 50, 5, 1), tagged("tiny", 20, 5, 2), 0.9)
    assert (mix.train_images[:, 0, 0] == 2).sum() == 20 and mix.share == pytest.approx(20 / 70)


def test_what_cannot_be_mixed_is_said():
    mine = tagged("mine", 10, 5, 1)
    with pytest.raises(DataError, match="their classes differ"):
        mix_datasets(mine, tagged("fashion", 10, 5, 2, classes=tuple("abcdefghij")), 0.5)
    with pytest.raises(DataError, match="between 0 and 1"):
        mix_datasets(mine, tagged("mnist", 10, 5, 2), 1.0)
    with pytest.raises(DataError, match="no training images"):
        mix_datasets(tagged("mine", 0, 5, 1), tagged("mnist", 10, 5, 2), 0.5)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("mine+mnist", "write it as DATASET:SHARE"),
        ("mine+mnist:abc", "write it as DATASET:SHARE"),
        ("mine+mnist:0", "between 0 and 1"),
        ("mine+mnist:nan", "write it as DATASET:SHARE"),
        ("+mnist:0.5", "PRIMARY+OTHER:SHARE"),
        ("a+b+c:0.5", "PRIMARY+OTHER:SHARE"),
    ],
)
def test_bad_mix_names_say_how_to_write_one(name: str, words: str):
    with pytest.raises(DataError, match=re.escape(words)):
        parse_mix(name)


def test_mix_names_round_trip_and_load(isolated_mine):
    assert parse_mix(mix_name("mine", "mnist", 0.70)) == ("mine", "mnist", 0.7)
    with pytest.raises(DataError, match="not mnist with itself"):
        load_dataset("mnist+mnist:0.5")
    with pytest.raises(NotEnoughSamples, match="is empty"):
        load_dataset("mine+synthetic:0.5", synthetic_size=(100, 10))
    MineStore(isolated_mine).add_many([np.full((28, 28), 200, np.uint8)] * 10, list(range(10)))
    mix = load_dataset("mine+synthetic:0.5", synthetic_size=(100, 10))
    assert mix.name == "mine+synthetic:0.5" and len(mix.train_images) == 16  # 8 own, 8 generated
    assert mix.test_labels.tolist() == [4, 9] and len(mix.other.test_images) == 10
