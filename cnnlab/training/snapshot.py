"""``Snapshot``: what a training run looks like at one moment, frozen and safe to hand to another thread.

Every array in a snapshot is read-only and never changes afterwards, so views in the GUI thread can
read it while the training thread goes on changing the live network. Weights and gradients are copies
made for the snapshot; the curves in ``History`` are read-only views of append-only buffers, whose
recorded part is never written again (so sharing them is as safe as a copy, and costs nothing).
Nothing in a snapshot refers to the live network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cnnlab.engine import NetSpec

if TYPE_CHECKING:
    from cnnlab.training.config import TrainConfig


class Event(StrEnum):
    """Why a snapshot was taken; views may react to some (an epoch end redraws the heavy views).

    Members are strings (``Event.DIVERGED == "diverged"``), so they go into JSON and compare as text.
    """

    STARTED = "started"  # before the first step: initial weights, nothing trained yet (or the resume point)
    STEP = "step"  # during training, at the snapshot cadence
    EVAL = "eval"  # a validation evaluation was just made (the validation split, never the test set)
    EPOCH_END = "epoch_end"  # an epoch finished: the validation split and the full test set were evaluated
    PAUSED = "paused"  # the run is paused (after a pause request, a single step, or a live change)
    FINISHED = "finished"  # all epochs done
    STOPPED = "stopped"  # stopped on request
    DIVERGED = "diverged"  # the loss or the weights became NaN/inf or exploded; the last good state is back


EVENTS = tuple(Event)

# The events after which a run yields nothing more.
FINAL_EVENTS = (Event.FINISHED, Event.STOPPED, Event.DIVERGED)


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy."""
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class LayerStats:
    """One parameter array's health: norms, and histograms (counts over edges) of values and gradients.

    Norms are fresh in every snapshot; histograms are recomputed at most about once a second during
    training (and at every other event), because on large layers they cost more than the norms.
    """

    name: str  # qualified parameter name, e.g. "conv1.W"
    weight_norm: float
    grad_norm: float
    weight_hist: tuple[np.ndarray, np.ndarray]  # (counts, edges)
    grad_hist: tuple[np.ndarray, np.ndarray]


class Change(NamedTuple):
    """One live change of a setting during a run: it applied after ``step`` steps and ``images_seen``
    images (None in a record written before cnnlab kept them), from ``old`` to ``new``."""

    step: int
    images_seen: int | None
    setting: str  # one of LIVE_SETTINGS: "lr", "momentum", "weight_decay", "batch_size", "augment"
    old: Any  # None when not known (a record written before cnnlab kept it)
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "images_seen": self.images_seen,
            "setting": self.setting,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class ActivationStats:
    """How one ReLU layer's units behave on a fixed batch of training images (evaluation mode).

    A unit is one channel of a feature map (every position of it) or one dense unit. A unit that is
    zero for every image of the batch is "dead": no gradient reaches its weights through it.
    """

    name: str  # the layer's name, e.g. "relu1"
    kind: str  # the layer's type, e.g. "relu"
    units: int  # channels (after a convolution) or features (after a dense layer)
    dead_fraction: float  # share of units that are zero for every image of the batch
    zero_fraction: float  # share of all values that are zero


@dataclass(frozen=True)
class History:
    """The run's curves so far, as read-only arrays (views plot them with setData).

    Every series can be drawn against steps, images seen or wall-clock seconds: each carries all three.
    The validation split is taken from the training set (never trained on); the test set is only
    evaluated at epoch ends.
    """

    steps: np.ndarray  # (S,) global step of each training step recorded
    loss: np.ndarray  # (S,) raw batch loss
    loss_smooth: np.ndarray  # (S,) exponential moving average of the loss
    train_accuracy: np.ndarray  # (S,) running accuracy over the current epoch
    lr: np.ndarray  # (S,) effective learning rate used at that step
    eval_steps: np.ndarray  # (E,) steps where the validation split was evaluated
    validation_accuracy: np.ndarray  # (E,)
    validation_loss: np.ndarray  # (E,)
    epoch_steps: np.ndarray  # (P,) step at the end of each finished epoch
    epoch_train_loss: np.ndarray  # (P,) mean training loss over the epoch
    epoch_train_accuracy: np.ndarray  # (P,)
    test_accuracy: np.ndarray  # (P,) full test-set accuracy at the end of the epoch
    epoch_seconds: np.ndarray  # (P,)
    norm_steps: np.ndarray  # (K,) steps where per-layer norms were recorded
    weight_norms: Mapping[str, np.ndarray]  # parameter name -> (K,)
    grad_norms: Mapping[str, np.ndarray]  # parameter name -> (K,)
    # Live settings changed during the run, in order.
    changes: tuple[Change, ...] = ()
    test_loss: np.ndarray | None = None  # (P,) full test-set loss at the end of each epoch
    images_seen: np.ndarray | None = None  # (S,) images trained on after each step
    elapsed: np.ndarray | None = None  # (S,) wall-clock seconds of training after each step
    # Accuracy on a fixed sample of the training images as large as the validation split, measured in
    # evaluation mode at the same moments: the fair partner of validation_accuracy (the running
    # train_accuracy still averages in the epoch's first batches).
    eval_train_accuracy: np.ndarray | None = None  # (E,)
    eval_images_seen: np.ndarray | None = None  # (E,)
    eval_elapsed: np.ndarray | None = None  # (E,)
    epoch_images_seen: np.ndarray | None = None  # (P,)
    epoch_elapsed: np.ndarray | None = None  # (P,) wall-clock seconds of the run at each epoch end

    # The names before the validation split came from the training set (kept while views move over).
    @property
    def held_out_accuracy(self) -> np.ndarray:
        return self.validation_accuracy

    @property
    def held_out_loss(self) -> np.ndarray:
        return self.validation_loss


@dataclass(frozen=True)
class Snapshot:
    """The state of a run at one step. All arrays are read-only."""

    run_id: str
    event: Event  # why it was taken
    step: int  # optimizer steps taken so far in the whole run
    epoch: int  # 0-based epoch the next step belongs to (== epochs when finished)
    epochs: int  # total epochs planned
    step_in_epoch: int  # steps taken in the current epoch
    steps_per_epoch: int  # steps the current epoch takes (follows live batch-size changes)
    images_seen: int
    loss: float | None  # last batch's loss (None before the first step)
    loss_smooth: float | None
    train_accuracy: float | None  # running accuracy over the current epoch
    validation_accuracy: float | None  # latest validation evaluation (None before the first, or none)
    test_accuracy: float | None  # latest full test evaluation (None before the first epoch end)
    per_class_accuracy: np.ndarray | None  # (K,) from the latest evaluation
    confusion: np.ndarray | None  # (K, K) counts, rows = true class, columns = predicted
    lr: float  # effective learning rate of the next step (base lr x schedule)
    hyperparameters: Mapping[
        str, float
    ]  # live settings now: lr (base), momentum, weight_decay, batch_size, augment
    images_per_s: float  # recent training throughput (wall clock, pauses and evaluations excluded)
    seconds_left_epoch: float | None
    elapsed: float  # wall-clock seconds of the run so far (pauses excluded)
    spec: NetSpec
    class_names: tuple[str, ...]
    weights: Mapping[str, np.ndarray]  # state_dict copy: "conv1.W" -> (F, C, kh, kw) etc., read-only
    grads: Mapping[str, np.ndarray]  # the last step's gradients, read-only (empty before the first step)
    layer_stats: tuple[LayerStats, ...]
    history: History
    message: str = ""  # for "diverged"/"stopped"/"finished": what happened and what to try
    running: bool = True  # False once the run will yield no more training steps
    paused: bool = False
    # "checkpoint": path of the checkpoint saved at the end; "checkpoint_error": why it could not be;
    # "resumed_from": the checkpoint a resumed run started from.
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    seconds_left: float | None = None  # for the whole run, at the current throughput
    config: TrainConfig | None = None  # the settings the run started with (frozen)
    dataset: str = ""  # the dataset's name, e.g. "mnist"
    validation_loss: float | None = None  # latest validation evaluation's mean loss
    train_images: int = 0  # images in the training set the run trains on (after validation and limit)
    validation_images: int = 0  # images in the validation split (held out of the training images)
    # ReLU layers' dead and zero shares, refreshed with the histograms (about once a second).
    activation_stats: tuple[ActivationStats, ...] = ()
    # Seconds spent in training steps themselves (no evaluations, snapshots or pauses): images_seen over
    # it is the run's training speed.
    train_seconds: float = 0.0

    @property
    def held_out_accuracy(self) -> float | None:
        """The old name of ``validation_accuracy``."""
        return self.validation_accuracy

    @property
    def held_out_loss(self) -> float | None:
        """The old name of ``validation_loss``."""
        return self.validation_loss

    @property
    def best_validation_accuracy(self) -> float | None:
        values = self.history.validation_accuracy
        finite = values[np.isfinite(values)] if len(values) else values
        return float(finite.max()) if len(finite) else None

    @property
    def progress(self) -> float:
        """Fraction of the current epoch done, 0..1."""
        return min(self.step_in_epoch / self.steps_per_epoch, 1.0) if self.steps_per_epoch else 0.0

    @property
    def overall_progress(self) -> float:
        """Fraction of the whole run done, 0..1 (by epochs, so a batch-size change keeps it smooth)."""
        if self.epoch >= self.epochs:
            return 1.0
        return min((self.epoch + self.progress) / self.epochs, 1.0) if self.epochs else 0.0

    @property
    def final(self) -> bool:
        """True for the last snapshot of a run (finished, stopped or diverged)."""
        return self.event in FINAL_EVENTS
