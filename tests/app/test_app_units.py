"""Smaller pieces of the app floor: the worker's coalescing, the overfitting hint, the Qt guard."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal

from cnnlab.app.views.curves import nearest_index, nice_ceiling
from cnnlab.app.views.progress import format_duration, overfitting_hint
from cnnlab.app.worker import TrainingController
from cnnlab.training import TrainConfig, TrainingSession

WAIT = 20_000


class FloodSession(TrainingSession):
    """Yields its snapshots as fast as it can: far faster than a GUI can show them."""

    def run(self):
        first = next(super().run())
        for step in range(1, 2001):
            yield first.__class__(**{**first.__dict__, "step": step, "event": "step"})
            if step % 100 == 0:
                time.sleep(0.001)
        yield first.__class__(**{**first.__dict__, "step": 2001, "event": "finished", "running": False})


def test_the_worker_hands_over_only_the_latest_snapshot_when_the_gui_lags(qtbot, tiny_dataset):
    controller = TrainingController(session_factory=FloodSession)
    seen = []
    controller.snapshot.connect(lambda s: seen.append(s.step))
    controller.start(TrainConfig(dataset="synthetic", validation=32), tiny_dataset)
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=WAIT)
    assert seen[-1] == 2001, "the last snapshot always arrives"
    assert seen == sorted(seen)
    assert len(seen) < 2002, "a lagging GUI gets the latest snapshot, not a queue of stale ones"
    assert controller.active_threads() == 0


def overfit_snapshot(train: float, test: float):
    class History:
        epoch_steps = np.array([100])
        epoch_train_accuracy = np.array([train])
        test_accuracy = np.array([test])

    class Snap:
        history = History()

    return Snap()


@pytest.mark.parametrize(
    ("train", "test", "level"),
    [(0.999, 0.85, "warn"), (0.99, 0.95, "watch"), (0.98, 0.975, "good"), (0.90, 0.93, "good")],
)
def test_overfitting_hint_in_words(train, test, level):
    got, words = overfitting_hint(overfit_snapshot(train, test))
    assert got == level
    assert f"{train:.1%}" in words and f"{test:.1%}" in words
    if level == "warn":
        assert "overfitting" in words.lower() and "points" in words


def test_overfitting_hint_waits_for_an_epoch():
    assert overfitting_hint(None)[0] == "none"


def test_small_helpers():
    assert (
        format_duration(3725) == "1:02:05" and format_duration(65) == "1:05" and format_duration(None) == "-"
    )
    assert [nice_ceiling(v) for v in (0.9, 1, 1.2, 2.3, 7, 950, 1001)] == [1, 1, 1.5, 3, 8, 1000, 1500]
    steps = np.array([1, 5, 10])
    assert [nearest_index(steps, x) for x in (-3, 2, 4, 8, 99)] == [0, 0, 1, 2, 2]
    assert nearest_index(np.zeros(0), 3) is None


class Emitter(QObject):
    fired = Signal(bool)


def test_signal_emits_do_not_leak_references_to_true(qtbot):
    """PySide6 6.12.0 dropped a reference to True on every emit and aborted the process after a few
    hundred (see NOTES.md); this catches that regression."""
    emitter = Emitter()
    received = []
    emitter.fired.connect(received.append)
    before = sys.getrefcount(True)
    for _ in range(3000):
        emitter.fired.emit(True)
    assert len(received) == 3000
    assert sys.getrefcount(True) >= before - 10
