"""Mixing two datasets for fine-tuning, so that a network learning new digits does not forget MNIST.

A mix is named ``PRIMARY+OTHER:SHARE`` (``mine+mnist:0.7``), a name that can stand wherever a dataset's
name does (``--dataset``, a run's config, a checkpoint), so a resumed run rebuilds the very same mix.

What ``share`` means: the fraction of the mixed training set, and so (the set being shuffled each epoch)
of every batch on average, that comes from OTHER. Every training image of PRIMARY is in the mix once; a
fixed random subset of OTHER's training images (chosen with ``seed``) makes up the rest. With 200 own
digits and ``mine+mnist:0.7`` an epoch is those 200 plus 467 MNIST images. The mix's test part is
PRIMARY's (what fine-tuning is for); ``MixedDataset.other`` keeps OTHER whole, its test set included, for
the "does it still know MNIST?" check.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cnnlab.data.datasets import Dataset, MixedDataset, load_dataset
from cnnlab.data.errors import DataError, NotEnoughSamples

MIX_HELP = "a mix is written PRIMARY+OTHER:SHARE, such as mine+mnist:0.7 (70% of each batch from mnist)"


def parse_share(text: str, what: str = "--mix") -> tuple[str, float]:
    """``OTHER:SHARE`` (``mnist:0.7``) -> ("mnist", 0.7); ``DataError`` unless the share is in (0, 1)."""
    other, sep, share_text = text.rpartition(":")
    try:
        share = float(share_text)
    except ValueError:
        share = math.nan
    if not sep or not other or not math.isfinite(share):
        raise DataError(f"{what} {text!r}: write it as DATASET:SHARE, such as mnist:0.7")
    if not 0.0 < share < 1.0:
        raise DataError(
            f"{what} {text!r}: the share taken from {other} must be between 0 and 1, not {share:g}"
        )
    return other, share


def mix_name(primary: str, other: str, share: float) -> str:
    """The name of a mix: ``mix_name("mine", "mnist", 0.7) == "mine+mnist:0.7"``."""
    if primary == other:
        raise DataError(f"a mix needs two different datasets, not {primary} with itself")
    return f"{primary}+{other}:{share:g}"


def parse_mix(name: str) -> tuple[str, str, float]:
    """``"mine+mnist:0.7"`` -> ("mine", "mnist", 0.7); ``DataError`` (saying how to write one) otherwise."""
    primary, sep, rest = name.partition("+")
    if not sep or not primary or "+" in rest:
        raise DataError(f"dataset {name!r}: {MIX_HELP}")
    other, share = parse_share(rest, f"dataset {name!r}:")
    return primary, other, share


def mix_datasets(primary: Dataset, other: Dataset, share: float, *, seed: int = 0) -> MixedDataset:
    """``primary``'s training images plus a fixed random subset of ``other``'s making up ``share`` of the
    whole (see the module text), in a shuffled order (so ``--limit`` keeps the share too). Test part:
    ``primary``'s. Uses all of ``other`` when it holds fewer than the share asks; ``MixedDataset.share``
    is then the share reached. Raises ``DataError`` for datasets that do not fit together."""
    if not 0.0 < share < 1.0:
        raise DataError(f"a mix's share must be between 0 and 1, not {share:g}")
    if tuple(primary.class_names) != tuple(other.class_names):
        raise DataError(f"{primary.name} and {other.name} cannot be mixed: their classes differ")
    if primary.train_images.shape[1:] != other.train_images.shape[1:]:
        raise DataError(f"{primary.name} and {other.name} cannot be mixed: their images differ in size")
    n_primary = len(primary.train_images)
    if n_primary == 0:
        raise NotEnoughSamples(f"{primary.name} has no training images to mix with {other.name}")
    wanted = round(n_primary * share / (1.0 - share))
    n_other = min(max(wanted, 1), len(other.train_images))
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(other.train_images), n_other, replace=False))
    images = np.concatenate([primary.train_images, other.train_images[picked]])
    labels = np.concatenate([primary.train_labels, other.train_labels[picked]]).astype(np.int64)
    order = rng.permutation(len(images))
    reached = n_other / (n_primary + n_other)
    return MixedDataset(
        name=mix_name(primary.name, other.name, share),
        class_names=tuple(primary.class_names),
        train_images=images[order],
        train_labels=labels[order],
        test_images=primary.test_images,
        test_labels=primary.test_labels,
        source=f"{primary.source}, with {reached:.0%} from {other.name} in {other.folder or other.source}",
        folder=primary.folder,
        is_synthetic=primary.is_synthetic and other.is_synthetic,
        primary=primary,
        other=other,
        share=reached,
    )


def load_mix(
    name: str,
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    mine_dir: str | Path | None = None,
    **options,
) -> MixedDataset:
    """``load_dataset`` for a mix name: both datasets loaded (``options`` as for ``load_dataset``), then
    ``mix_datasets`` with ``seed``."""
    primary_name, other_name, share = parse_mix(name)
    mix_name(primary_name, other_name, share)  # refuses a dataset mixed with itself before loading it
    primary = load_dataset(primary_name, data_dir, seed=seed, mine_dir=mine_dir, **options)
    other = load_dataset(other_name, data_dir, seed=seed, mine_dir=mine_dir, **options)
    return mix_datasets(primary, other, share, seed=seed)
