"""What a run has done so far: its counters (``Progress``) and its curves (``RunHistory``).

Both can be marked and put back (``Progress.copy``, ``RunHistory.sizes``/``truncate``), which is how a
diverged run returns to its last good step with its weights, optimizer state, counters and curves all
belonging to that same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from cnnlab.training.snapshot import Change, History, LayerStats
from cnnlab.training.stats import Smoother

# Curves kept per step, per validation evaluation and per epoch (a checkpoint's history holds these
# names; one written before a name existed reads it as NaN).
STEP_FIELDS = ("step", "loss", "loss_smooth", "train_accuracy", "lr", "images_seen", "elapsed")
# "accuracy" and "loss" are the validation split's; "train_accuracy" a training sample's, same moment.
EVAL_FIELDS = ("step", "accuracy", "loss", "train_accuracy", "images_seen", "elapsed")
EPOCH_FIELDS = (
    "step", "train_loss", "train_accuracy", "test_accuracy", "seconds", "test_loss", "images_seen", "elapsed",
)  # fmt: skip


@dataclass
class Progress:
    """The run's counters. ``order`` is the current epoch's image order (None between epochs)."""

    step: int = 0
    epoch: int = 0  # 0-based epoch the next step belongs to
    pos: int = 0  # position in the current epoch's order
    order: np.ndarray | None = None
    order_state: dict | None = None  # data rng state the current epoch's order was drawn from
    epoch_step: int = 0  # steps taken in the current epoch
    images_seen: int = 0
    epoch_loss_sum: float = 0.0
    epoch_correct: int = 0
    epoch_seen: int = 0
    epoch_started: float = 0.0  # elapsed seconds when the current epoch began
    last_loss: float | None = None
    validation: tuple[float, float] | None = None  # latest validation accuracy and loss
    by_class: tuple[np.ndarray, np.ndarray] | None = None  # latest per-class accuracy, confusion
    test_accuracy: float | None = None
    last_eval_step: int = 0
    # Live settings changed during the run, in order.
    changes: list[Change] = field(default_factory=list)
    smooth: Smoother = field(default_factory=lambda: Smoother(0.95))

    @property
    def in_epoch(self) -> bool:
        return self.order is not None

    def copy(self) -> Progress:
        # The order array is never written in place, so sharing it is safe.
        return replace(self, changes=list(self.changes), smooth=self.smooth.copy())


class Series:
    """Growing float arrays with amortised appends.

    Only ever appended to, so a read-only view of the recorded part never changes afterwards: snapshots
    share such views instead of copying whole curves every time. ``truncate`` makes new arrays, so
    views handed out before it keep their values.
    """

    def __init__(self, *names: str) -> None:
        self._data = {name: np.zeros(256) for name in names}
        self.size = 0

    def append(self, **values: float) -> None:
        if self.size == len(next(iter(self._data.values()))):
            for name, array in self._data.items():
                self._data[name] = np.concatenate([array, np.zeros_like(array)])
        for name, value in values.items():
            self._data[name][self.size] = value
        self.size += 1

    def get(self, name: str) -> np.ndarray:
        view = self._data[name][: self.size]
        view.flags.writeable = False
        return view

    def last(self, name: str) -> float | None:
        return float(self._data[name][self.size - 1]) if self.size else None

    def truncate(self, size: int) -> None:
        if size < self.size:
            self._data = {
                name: np.concatenate([a[:size], np.zeros(len(a) - size)]) for name, a in self._data.items()
            }
            self.size = size

    def to_lists(self) -> dict[str, list[float | None]]:
        """Plain lists for JSON; NaN and infinities become None (JSON has no such numbers)."""
        return {
            name: [v if math.isfinite(v) else None for v in array[: self.size].tolist()]
            for name, array in self._data.items()
        }

    def load(self, lists: dict[str, list[float | None]]) -> None:
        """Put back ``to_lists()`` (checked by the caller: lists of one length, numbers or None)."""
        lists = {name: values for name, values in lists.items() if name in self._data}
        size = len(next(iter(lists.values()))) if lists else 0
        capacity = max(256, 1 << max(size - 1, 0).bit_length())
        for name in self._data:
            values = lists.get(name, [math.nan] * size)
            array = np.zeros(capacity)
            array[:size] = [math.nan if v is None else v for v in values]
            self._data[name] = array
        self.size = size


class RunHistory:
    """The run's curves: per step, per fast evaluation, per epoch, and per-parameter norms."""

    def __init__(self, parameter_names: list[str]) -> None:
        self.steps = Series(*STEP_FIELDS)
        self.evals = Series(*EVAL_FIELDS)
        self.epochs = Series(*EPOCH_FIELDS)
        self.norm_steps = Series("step")
        self._names = list(parameter_names)
        self._weight_norms = Series(*self._names) if self._names else None
        self._grad_norms = Series(*self._names) if self._names else None

    def record_norms(self, step: int, stats: tuple[LayerStats, ...]) -> None:
        """Norms at ``step`` (once per step: a second snapshot of the same step adds nothing)."""
        if self._weight_norms is None or self.norm_steps.last("step") == step:
            return
        self.norm_steps.append(step=step)
        self._weight_norms.append(**{s.name: s.weight_norm for s in stats})
        self._grad_norms.append(**{s.name: s.grad_norm for s in stats})

    def view(self, changes: list[Change]) -> History:
        """The curves as read-only arrays (views of the recorded part: they never change)."""
        weights, grads = self._weight_norms, self._grad_norms
        return History(
            steps=self.steps.get("step"),
            loss=self.steps.get("loss"),
            loss_smooth=self.steps.get("loss_smooth"),
            train_accuracy=self.steps.get("train_accuracy"),
            lr=self.steps.get("lr"),
            eval_steps=self.evals.get("step"),
            validation_accuracy=self.evals.get("accuracy"),
            validation_loss=self.evals.get("loss"),
            epoch_steps=self.epochs.get("step"),
            epoch_train_loss=self.epochs.get("train_loss"),
            epoch_train_accuracy=self.epochs.get("train_accuracy"),
            test_accuracy=self.epochs.get("test_accuracy"),
            epoch_seconds=self.epochs.get("seconds"),
            norm_steps=self.norm_steps.get("step"),
            weight_norms=MappingProxyType({n: weights.get(n) for n in self._names} if weights else {}),
            grad_norms=MappingProxyType({n: grads.get(n) for n in self._names} if grads else {}),
            changes=tuple(changes),
            test_loss=self.epochs.get("test_loss"),
            images_seen=self.steps.get("images_seen"),
            elapsed=self.steps.get("elapsed"),
            eval_train_accuracy=self.evals.get("train_accuracy"),
            eval_images_seen=self.evals.get("images_seen"),
            eval_elapsed=self.evals.get("elapsed"),
            epoch_images_seen=self.epochs.get("images_seen"),
            epoch_elapsed=self.epochs.get("elapsed"),
        )

    def _all(self) -> list[Series]:
        return [s for s in (self.steps, self.evals, self.epochs, self.norm_steps, self._weight_norms,
                            self._grad_norms) if s is not None]  # fmt: skip

    def sizes(self) -> tuple[int, ...]:
        return tuple(s.size for s in self._all())

    def truncate(self, sizes: tuple[int, ...]) -> None:
        for series, size in zip(self._all(), sizes, strict=True):
            series.truncate(size)

    def to_metadata(self) -> dict[str, dict[str, list[float | None]]]:
        return {
            "steps": self.steps.to_lists(),
            "evals": self.evals.to_lists(),
            "epochs": self.epochs.to_lists(),
        }

    def load(self, history: dict[str, dict[str, list[float | None]]]) -> None:
        self.steps.load(history.get("steps", {}))
        self.evals.load(history.get("evals", {}))
        self.epochs.load(history.get("epochs", {}))
