"""Which training images a run trains on and which it holds out for validation.

The validation split is carved out of the dataset's *training* images first, chosen by the run's seed
(its own random stream, so the weights and the batch order do not change with it); it is never trained
on. It takes at most a sixth of the training images (``MAX_VALIDATION_SHARE``), so the default of 1,000
fits a small dataset too. ``train_limit`` then keeps the first N of the training images that remain,
in the dataset's order. The test set is not touched here: the session evaluates it only at epoch ends.

Refusals are one ``ConfigError`` line saying which number is the problem: a limit below one batch.
A dataset that is itself smaller than a batch (a learner's own few digits) trains on one partial batch
per epoch, as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.training.checks import ConfigError

# The split's random stream is the third child of the seed's SeedSequence (the model's and the data
# order's are the first two), so adding it changed neither.
_SPLIT_STREAM = 2
MAX_VALIDATION_SHARE = 6  # the validation split takes at most 1 / this of the training images


@dataclass(frozen=True)
class DataSplit:
    """Indices into the dataset's training images (sorted, read-only)."""

    train: np.ndarray  # (n_train,) the images trained on
    validation: np.ndarray  # (n_validation,) held out, never trained on
    available: int  # training images in the dataset

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_validation(self) -> int:
        return len(self.validation)


def split_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(_SPLIT_STREAM + 1)[_SPLIT_STREAM])


def split_training_set(
    available: int,
    *,
    validation: int,
    limit: int | None,
    seed: int,
    batch_size: int,
    dataset: str = "the dataset",
) -> DataSplit:
    """The run's training and validation images out of ``available`` training images: ``validation``
    of them (at most a sixth) held out, then the first ``limit`` of the rest.

    Raises ``ConfigError`` when the dataset has no training images, or when ``limit`` asks for fewer
    images than one batch (``batch_size``).
    """
    if available <= 0:
        raise ConfigError(f"{dataset} has no training images")
    validation = min(validation, available // MAX_VALIDATION_SHARE)
    if validation:
        held = np.sort(split_rng(seed).permutation(available)[:validation])
        keep = np.ones(available, dtype=bool)
        keep[held] = False
        rest = np.flatnonzero(keep)
    else:
        held = np.zeros(0, dtype=np.int64)
        rest = np.arange(available)
    train = rest[:limit] if limit is not None else rest
    if limit is not None and limit < batch_size:
        raise ConfigError(
            f"a training-set limit of {limit:,} images is less than one batch of {batch_size:,}; "
            f"train on at least {batch_size:,} images or use a smaller batch"
        )
    for array in (train, held):
        array.flags.writeable = False
    return DataSplit(train=train, validation=held, available=available)
