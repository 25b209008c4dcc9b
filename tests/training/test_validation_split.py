"""The validation split comes from the training set (fixed by the seed, never trained on), the limit
applies to what remains, and the test set is only touched at epoch ends."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.training import ConfigError, TrainConfig, TrainingSession, split_training_set
from cnnlab.training.split import MAX_VALIDATION_SHARE
from tests.training.conftest import small_config


def test_validation_is_carved_first_and_the_limit_applies_to_what_remains():
    split = split_training_set(1000, validation=100, limit=300, seed=3, batch_size=32)
    assert split.n_validation == 100 and split.n_train == 300
    assert not set(split.train.tolist()) & set(split.validation.tolist())
    rest = np.setdiff1d(np.arange(1000), split.validation)
    np.testing.assert_array_equal(split.train, rest[:300])  # the first 300 left, in the dataset's order
    again = split_training_set(1000, validation=100, limit=None, seed=3, batch_size=32)
    np.testing.assert_array_equal(again.validation, split.validation)  # fixed by the seed ...
    other = split_training_set(1000, validation=100, limit=None, seed=4, batch_size=32)
    assert not np.array_equal(other.validation, split.validation)  # ... and only by it
    assert split_training_set(1000, validation=0, limit=None, seed=3, batch_size=32).n_train == 1000


def test_a_validation_split_takes_at_most_a_sixth():
    split = split_training_set(600, validation=1000, limit=None, seed=0, batch_size=64)
    assert split.n_validation == 600 // MAX_VALIDATION_SHARE and split.n_train == 500


def test_a_limit_below_one_batch_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="a training-set limit of 50 images is less than one batch of 64"):
        split_training_set(600, validation=0, limit=50, seed=0, batch_size=64)
    with pytest.raises(ConfigError, match="tiny has no training images"):
        split_training_set(0, validation=0, limit=None, seed=0, batch_size=1, dataset="tiny")
    # A dataset that is itself smaller than a batch (a learner's own digits) still trains.
    assert split_training_set(30, validation=1000, limit=None, seed=0, batch_size=64).n_train == 25


class Recording:
    """An image array that remembers which rows were read from it."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.rows = array, []

    def __getitem__(self, rows):
        self.rows.extend(np.asarray(rows).tolist())
        return self.array[rows]


def test_the_session_never_trains_on_its_validation_images(tiny):
    session = TrainingSession(small_config(epochs=2), tiny)
    held = set(session.split.validation.tolist())
    assert session.n_train == 320 and session.n_validation == 64 and len(held) == 64
    session._train_images = Recording(session._train_images)
    snap = list(session.run())[-1]
    trained = session._train_images.rows
    assert len(trained) == 640 and not set(trained) & held
    assert set(trained) == set(session.split.train.tolist())  # each epoch sees every training image
    assert snap.train_images == 320 and snap.validation_images == 64


def test_the_test_set_is_only_touched_at_epoch_ends(tiny, monkeypatch):
    session = TrainingSession(small_config(epochs=3, eval_every=2), tiny)
    tested = []
    evaluate = session._evaluate_test
    monkeypatch.setattr(session, "_evaluate_test", lambda: (tested.append(session.step_count), evaluate())[1])
    snaps = list(session.run())
    assert tested == [10, 20, 30]
    evals = [s for s in snaps if s.event == "eval"]
    assert evals and all(s.test_accuracy is None for s in evals if s.step < 10)
    h = snaps[-1].history
    # Validation at every eval_every steps and at each epoch end, with a training sample beside it.
    assert {10, 20, 30} <= set(h.eval_steps.tolist()) and len(h.eval_train_accuracy) == len(h.eval_steps)
    assert np.all((h.eval_train_accuracy >= 0) & (h.eval_train_accuracy <= 1))


def test_a_config_written_before_the_split_keeps_its_training_set_whole():
    old = TrainConfig().to_dict()
    old.pop("validation")
    old["held_out"] = 1000
    assert TrainConfig.from_dict(old).validation == 0
    with pytest.raises(ConfigError, match="held_out"):
        TrainConfig.from_dict({**old, "held_out": "x"})
