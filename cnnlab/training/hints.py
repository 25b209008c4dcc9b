"""Hints that tell the truth about a run: pure checks over a ``Snapshot``, each saying what is happening
and what to try, or nothing.

``all_hints(snapshot)`` runs every check and returns the ``Hint``s that fire, problems first; the one
"good" hint (``generalising``) is given only when no other fires and the run has shown, on images it
was measured on, that it learns: a run stuck at chance can never look good. Each check is also a
function of its own (``CHECKS``) returning a ``Hint`` or None::

    for hint in all_hints(snapshot):
        show(hint.level, hint.title, hint.words)      # ("problem", "Not learning", "After 1,280 ...")

A ``Hint`` is a named tuple ``(kind, level, title, words)``; ``level`` is "problem", "warning" or
"good". The checks and what they read:

- ``diverged``: the run ended because the loss or the weights became NaN/inf or exploded.
- ``not_learning``: after ``NOT_LEARNING_IMAGES`` images, accuracy still near chance (the latest
  validation accuracy, else the running training accuracy) or the smoothed loss not below that of
  guessing (ln of the number of classes); says whether the learning rate looks too high or too low.
- ``overfitting``: training accuracy (on a training sample, measured in evaluation mode beside the
  validation split) well above chance, ``OVERFIT_GAP`` above validation accuracy, and the gap grown
  since it was smallest, or the validation loss risen well above its lowest.
- ``underfitting``: after an epoch at least, training accuracy well below what the data allows, not
  far above validation accuracy, and no longer improving over the last third of the evaluations.
- ``dead_relus``: a ReLU layer of which at least ``DEAD_SHARE`` of the units give zero for every image
  of a batch (``Snapshot.activation_stats``).
- ``vanishing_gradients``: the first weight layer's gradient, relative to its weights, is less than
  ``VANISHING_RATIO`` of the last layer's (from the recorded norms).
- ``exploding_gradients``: a layer's gradient norm grown ``EXPLODING_GROWTH`` times over its first
  steps' while the loss is no lower than it was then.

Thresholds were measured on runs that provoke each case and on healthy ones (the seed net, the fully
connected baseline and LeNet-5 on the generated digits; the seed net on MNIST at learning rates 0.001 to
0.1 and batch sizes 16 to 64): ``tests/training/test_hints.py`` runs each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from cnnlab.training.snapshot import Event, Snapshot

NOT_LEARNING_IMAGES = 640  # "a few hundred images": before this, a slow start is not a verdict
NEAR_CHANCE = 0.05  # of the way from chance to perfect: accuracy below chance + this is "near chance"
WELL_ABOVE_CHANCE = 0.5  # of the way from chance to perfect
OVERFIT_GAP = 0.10  # training minus validation accuracy (the lesson's 10 points)
GAP_GROWTH = 0.03  # the gap has grown by this much since it was smallest ...
VALIDATION_LOSS_RISE = 1.2  # ... or the validation loss risen to this multiple of its lowest
UNDERFIT_ACCURACY = 0.9  # of the way from chance to perfect: below this a plateau is underfitting
PLATEAU_GAIN = 0.02  # training accuracy gained over the last third of the evaluations, below which it stalls
MIN_EVALS = 4
DEAD_SHARE = 0.5
VANISHING_RATIO = 1e-3
EXPLODING_GROWTH = 10.0
MIN_NORM_RECORDS = 5  # the first (before any step) and four steps
# Learning rates beyond which (or below which) a stuck run most likely has too high (too low) a rate.
HIGH_LR = {"sgd": 0.5, "adam": 0.01, "adamw": 0.01}
LOW_LR = {"sgd": 0.002, "adam": 1e-4, "adamw": 1e-4}


class Hint(NamedTuple):
    kind: str  # "diverged", "not_learning", "overfitting", ... (the check's name)
    level: str  # "problem", "warning" or "good"
    title: str  # a few words: "Not learning"
    words: str  # what is happening, with the numbers, and what to try


# -- what the checks read -------------------------------------------------------------------------------
def chance(snapshot: Snapshot) -> float:
    return 1.0 / max(len(snapshot.class_names), 1)


def _of_the_way(snapshot: Snapshot, share: float) -> float:
    """Accuracy ``share`` of the way from chance to perfect."""
    c = chance(snapshot)
    return c + share * (1.0 - c)


def _finite(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _evals(snapshot: Snapshot, since_images: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training-sample accuracy, validation accuracy, validation loss) at the evaluations made after
    ``since_images`` images, where all three are known."""
    h = snapshot.history
    if h.eval_train_accuracy is None or not len(h.eval_steps):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    train = np.asarray(h.eval_train_accuracy, dtype=np.float64)
    val = np.asarray(h.validation_accuracy, dtype=np.float64)
    loss = np.asarray(h.validation_loss, dtype=np.float64)
    seen = h.eval_images_seen if h.eval_images_seen is not None else np.full(len(train), np.inf)
    keep = np.isfinite(train) & np.isfinite(val) & np.isfinite(loss) & (np.asarray(seen) >= since_images)
    return train[keep], val[keep], loss[keep]


def _optimizer(snapshot: Snapshot) -> str:
    return snapshot.config.optimizer if snapshot.config is not None else "sgd"


def _base_lr(snapshot: Snapshot) -> float:
    return float(snapshot.hyperparameters.get("lr", snapshot.lr))


def _pct(value: float) -> str:
    return f"{value:.1%}"


# -- the checks ---------------------------------------------------------------------------------------
def diverged(snapshot: Snapshot) -> Hint | None:
    if snapshot.event != Event.DIVERGED:
        return None
    words = snapshot.message or "The loss or the weights became too large to represent."
    return Hint("diverged", "problem", "Training diverged", words)


def not_learning(snapshot: Snapshot) -> Hint | None:
    if snapshot.images_seen < NOT_LEARNING_IMAGES or snapshot.loss_smooth is None:
        return None
    guess = math.log(max(len(snapshot.class_names), 2))
    train, val, _ = _evals(snapshot, NOT_LEARNING_IMAGES)
    accuracy = float(val[-1]) if len(val) else snapshot.train_accuracy
    measured = "validation" if len(val) else "training"
    near = accuracy is not None and accuracy <= _of_the_way(snapshot, NEAR_CHANCE)
    flat = snapshot.loss_smooth >= guess
    if not (near or flat):
        return None
    what = []
    if near:
        guessing = _pct(chance(snapshot))
        what.append(f"{measured} accuracy is {_pct(accuracy)}, about what guessing gives ({guessing})")
    if flat:
        what.append(f"the loss ({snapshot.loss_smooth:.2f}) is no lower than guessing's ({guess:.2f})")
    lr, kind = _base_lr(snapshot), _optimizer(snapshot)
    dead = any(a.dead_fraction >= DEAD_SHARE for a in snapshot.activation_stats)
    losses = _finite(snapshot.history.loss_smooth)
    thrown = len(losses) and float(losses.max()) > 2 * guess
    if dead or thrown or lr >= HIGH_LR.get(kind, 0.5):
        advice = (
            f"The learning rate ({lr:g}) is most likely too high: the first steps threw the weights so far "
            f"that the network gives up. Try {lr / 10:g}."
        )
    elif lr <= LOW_LR.get(kind, 0.002):
        advice = (
            f"The learning rate ({lr:g}) is most likely too low: each step changes almost nothing. "
            f"Try {lr * 10:g}."
        )
    else:
        advice = f"Try a learning rate ten times lower ({lr / 10:g}) or higher ({lr * 10:g})."
    words = f"After {snapshot.images_seen:,} images, {' and '.join(what)}. {advice}"
    return Hint("not_learning", "problem", "Not learning", words)


def overfitting(snapshot: Snapshot) -> Hint | None:
    train, val, loss = _evals(snapshot)
    if not len(train):
        return None
    started = np.flatnonzero(train >= _of_the_way(snapshot, WELL_ABOVE_CHANCE))
    if not len(started):
        return None
    train, val, loss = train[started[0] :], val[started[0] :], loss[started[0] :]
    gaps = train - val
    gap = float(gaps[-1])
    if len(gaps) < 2 or gap < OVERFIT_GAP:
        return None
    grown = gap - float(gaps.min()) >= GAP_GROWTH
    lowest = float(loss.min())
    rising = float(loss[-1]) >= VALIDATION_LOSS_RISE * lowest and int(loss.argmin()) < len(loss) - 1
    if not (grown or rising):
        return None
    why = (
        f"the gap has grown from {gaps.min() * 100:.1f} points"
        if grown
        else f"the validation loss has risen from {loss.min():.3f} to {loss[-1]:.3f}"
    )
    words = (
        f"The network gets {_pct(train[-1])} of its training images right but only {_pct(val[-1])} of the "
        f"validation images (a gap of {gap * 100:.1f} points; {why}): it is memorising its training images "
        f"instead of learning what generalises. Best validation accuracy so far: {_pct(float(val.max()))}. "
        "Try "
        "more training images, augmentation, weight decay or dropout, or stop earlier."
    )
    return Hint("overfitting", "warning", "Overfitting", words)


def underfitting(snapshot: Snapshot) -> Hint | None:
    train, val, _ = _evals(snapshot, NOT_LEARNING_IMAGES)
    epochs_done = len(snapshot.history.epoch_steps)
    if len(train) < MIN_EVALS or not epochs_done or not_learning(snapshot) is not None:
        return None
    latest, gap = float(train[-1]), float(train[-1] - val[-1])
    if latest >= _of_the_way(snapshot, UNDERFIT_ACCURACY) or gap >= OVERFIT_GAP:
        return None
    third = len(train) - max(len(train) // 3, 1)
    before, after = float(train[:third].max()), float(train[third:].max())
    if after - before >= PLATEAU_GAIN:
        return None  # still improving
    words = (
        f"Training accuracy has almost stopped improving at {_pct(latest)} (validation {_pct(val[-1])}): the "
        "network does no better on the images it trains on than on new ones, so it is not memorising; it "
        "cannot fit them. It may be too small for this data (try more filters or units, or another layer), "
        "or it may need more epochs or a larger learning rate."
    )
    return Hint("underfitting", "warning", "Underfitting", words)


def dead_relus(snapshot: Snapshot) -> Hint | None:
    dead = [a for a in snapshot.activation_stats if a.units >= 2 and a.dead_fraction >= DEAD_SHARE]
    if not dead:
        return None
    total = sum(a.units for a in snapshot.activation_stats)
    lost = sum(round(a.dead_fraction * a.units) for a in snapshot.activation_stats)
    layers = ", ".join(f"{round(a.dead_fraction * a.units)} of {a.units} units in {a.name}" for a in dead)
    level = "problem" if total and lost / total >= 0.9 else "warning"
    words = (
        f"{layers} give zero for every image of a batch: no gradient flows back through them, so their "
        "weights no longer learn. A learning rate that was too high usually does this (one large step "
        "pushes a unit's inputs below zero for good). Try a lower learning rate, leaky ReLU, or He "
        "initialisation."
    )
    return Hint("dead_relus", level, "Dead ReLUs", words)


def _weight_norms(snapshot: Snapshot) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(layer, weight norms, gradient norms) of each weight array (not biases), first layer first."""
    h = snapshot.history
    out = []
    for name, grads in h.grad_norms.items():
        if name.endswith(".W") and name in h.weight_norms:
            out.append((name.rpartition(".")[0], np.asarray(h.weight_norms[name]), np.asarray(grads)))
    return out


def vanishing_gradients(snapshot: Snapshot) -> Hint | None:
    layers = _weight_norms(snapshot)
    trained = np.asarray(snapshot.history.norm_steps) > 0  # the first record is before any gradient
    if len(layers) < 2 or not trained.any():
        return None
    relative = []
    for name, weights, grads in layers:
        w, g = weights[trained][-5:], grads[trained][-5:]
        relative.append((name, float(np.median(g / np.maximum(w, 1e-30)))))
    (first, r_first), (last, r_last) = relative[0], relative[-1]
    if not r_last > 0 or r_first >= VANISHING_RATIO * r_last:
        return None
    words = (
        f"The gradient reaching {first} is {r_first / r_last:.1e} times the one reaching {last} (each "
        "relative to its weights): the first layers hardly learn. Each layer passes back only a fraction "
        "of the gradient, as sigmoid and tanh do when they saturate or weights start too small. Try ReLU, "
        "He or Glorot initialisation, fewer layers, or batch normalisation."
    )
    return Hint("vanishing_gradients", "warning", "Vanishing gradients", words)


def exploding_gradients(snapshot: Snapshot) -> Hint | None:
    h = snapshot.history
    losses = _finite(h.loss_smooth)
    if len(h.norm_steps) < MIN_NORM_RECORDS or len(losses) < MIN_NORM_RECORDS - 1:
        return None
    worst = None
    for name, _, grads in _weight_norms(snapshot):
        early = grads[grads > 0][:3]
        if len(early) < 3:
            continue
        growth = float(np.median(grads[-2:])) / float(np.median(early))
        if growth >= EXPLODING_GROWTH and (worst is None or growth > worst[1]):
            worst = (name, growth)
    if worst is None or losses[-1] < losses[: max(len(losses) // 10, 3)].min():
        return None
    name, growth = worst
    words = (
        f"The gradient of {name} has grown {growth:.0f} times since the first steps while the loss does not "
        f"fall (now {losses[-1]:.2f}): each step overshoots and the next one is larger still; the run is "
        "close to diverging. Try a lower learning rate, less momentum, or batch normalisation."
    )
    return Hint("exploding_gradients", "problem", "Exploding gradients", words)


def generalising(snapshot: Snapshot) -> Hint | None:
    """The only "good" hint: accuracy well above chance on measured images, and no gap to speak of."""
    train, val, _ = _evals(snapshot, NOT_LEARNING_IMAGES)
    if len(val):
        t, v = float(train[-1]), float(val[-1])
        if v < _of_the_way(snapshot, WELL_ABOVE_CHANCE) or t - v >= OVERFIT_GAP / 2:
            return None
        words = (
            f"Training {_pct(t)} and validation {_pct(v)} (a gap of {(t - v) * 100:.1f} points): what the "
            "network learns carries over to images it has not trained on."
        )
        return Hint("generalising", "good", "Generalising well", words)
    accuracy = snapshot.train_accuracy
    h = snapshot.history
    if len(h.epoch_steps):
        accuracy = float(h.epoch_train_accuracy[-1])
        test = float(h.test_accuracy[-1])
        if accuracy < _of_the_way(snapshot, WELL_ABOVE_CHANCE) or accuracy - test >= OVERFIT_GAP / 2:
            return None
        words = f"Training {_pct(accuracy)} and test {_pct(test)} at the last epoch end (no validation)."
        return Hint("generalising", "good", "Generalising well", words)
    return None


Check = Callable[[Snapshot], Hint | None]
# Problems first: the order in which ``all_hints`` lists what fires.
CHECKS: tuple[Check, ...] = (
    diverged,
    not_learning,
    exploding_gradients,
    dead_relus,
    vanishing_gradients,
    overfitting,
    underfitting,
)
_LEVELS = {"problem": 0, "warning": 1, "good": 2}


def all_hints(snapshot: Snapshot | None) -> list[Hint]:
    """Every check that fires on ``snapshot``, problems first; ``generalising`` only if none does."""
    if snapshot is None:
        return []
    found = [hint for check in CHECKS if (hint := check(snapshot)) is not None]
    if not found:
        good = generalising(snapshot)
        return [good] if good is not None else []
    return sorted(found, key=lambda hint: _LEVELS[hint.level])
