"""Building a session's snapshots: when one is due, and the frozen picture itself."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from cnnlab.training.snapshot import Event, LayerStats, Snapshot, frozen

if TYPE_CHECKING:
    from cnnlab.training.session import TrainingSession


class Cadence:
    """A snapshot at most every ``every`` steps, and at least every ``seconds`` while training."""

    def __init__(self, every: int, seconds: float) -> None:
        self.every, self.seconds = every, seconds
        self._step = -1
        self._time = -math.inf

    def due(self, step: int, now: float) -> bool:
        return step - self._step >= self.every or now - self._time >= self.seconds

    def mark(self, step: int, now: float) -> None:
        self._step, self._time = step, now


def make_snapshot(
    session: TrainingSession,
    event: Event,
    stats: tuple[LayerStats, ...],
    *,
    message: str = "",
    running: bool = True,
    paused: bool = False,
    extra: dict | None = None,
    weights: Mapping[str, np.ndarray] | None = None,
    grads: Mapping[str, np.ndarray] | None = None,
) -> Snapshot:
    """The session as it is now. ``weights``/``grads``: already frozen ones to show instead of copies of
    the live network's (a restored state's)."""
    cfg, p, live = session.config, session.progress, session.steering.settings
    if weights is None:
        fresh = session.network.state_dict()  # fresh copies already: only mark them read-only
        for array in fresh.values():
            array.flags.writeable = False
        weights = MappingProxyType(fresh)
    if grads is None:
        grads = MappingProxyType(
            {n: frozen(g) for n, _, g in session.network.named_parameters()} if p.step else {}
        )
    n_train = session.n_train
    pos = p.pos if p.in_epoch else 0
    step_in_epoch = p.epoch_step if p.in_epoch else 0
    steps_per_epoch = step_in_epoch + math.ceil((n_train - pos) / int(live["batch_size"]))
    rate = session.clock.rate if p.step else 0.0
    left_epoch = n_train - pos
    later_epochs = max(cfg.epochs - p.epoch - 1, 0)
    left_run = left_epoch + later_epochs * n_train if p.epoch < cfg.epochs else 0
    validation, by_class = p.validation, p.by_class
    return Snapshot(
        run_id=session.run_id,
        event=event,
        step=p.step,
        epoch=p.epoch,
        epochs=cfg.epochs,
        step_in_epoch=step_in_epoch,
        steps_per_epoch=steps_per_epoch,
        images_seen=p.images_seen,
        loss=p.last_loss,
        loss_smooth=p.smooth.value if p.smooth.count else None,
        train_accuracy=p.epoch_correct / p.epoch_seen if p.epoch_seen else None,
        validation_accuracy=validation[0] if validation else None,
        test_accuracy=p.test_accuracy,
        per_class_accuracy=frozen(by_class[0]) if by_class else None,
        confusion=frozen(by_class[1]) if by_class else None,
        lr=session.current_lr(),
        hyperparameters=MappingProxyType(dict(live)),
        images_per_s=rate,
        seconds_left_epoch=left_epoch / rate if rate > 0 and running else None,
        elapsed=session.clock.elapsed(),
        spec=cfg.spec,
        class_names=session.class_names,
        weights=weights,
        grads=grads,
        layer_stats=stats,
        history=session.history.view(p.changes),
        message=message,
        running=running,
        paused=paused,
        extra=MappingProxyType(dict(extra or {})),
        seconds_left=left_run / rate if rate > 0 and running else None,
        config=cfg,
        dataset=session.dataset.name,
        validation_loss=validation[1] if validation else None,
        train_images=n_train,
        validation_images=session.n_validation,
        activation_stats=session.activation_stats,
        train_seconds=session.clock.train_seconds,
    )
