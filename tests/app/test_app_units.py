"""Smaller pieces of the app floor: the worker's coalescing, the overfitting hint, the Qt guard."""

from __future__ import annotations

import sys
import time

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnlab.app.state import AppState
from cnnlab.app.views.curves import nearest_index, nice_ceiling
from cnnlab.app.views.progress import ProgressPanel, format_duration
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


def final_snapshot(dataset, **settings):
    session = TrainingSession(
        TrainConfig(dataset="synthetic", validation=64, eval_every=5, **settings), dataset
    )
    last = None
    for snapshot in session.run():
        last = snapshot
    return last


def test_the_checks_say_a_run_stuck_at_chance_is_not_learning_and_nothing_is_green(qtbot, tiny_dataset):
    state = AppState()
    panel = ProgressPanel(state)
    qtbot.addWidget(panel)
    state.set_snapshot(final_snapshot(tiny_dataset, lr=5.0, epochs=2))
    panel._redraw()
    kinds = [hint.kind for hint in panel.hints]
    assert "not_learning" in kinds or "diverged" in kinds
    assert "generalising" not in kinds and panel.level == "problem"
    shown = [title.text() for frame, title, words in panel.hint_frames if not frame.isHidden()]
    assert shown == [hint.title for hint in panel.hints]
    assert all(
        frame.property("notice") != "good" for frame, _, _ in panel.hint_frames if not frame.isHidden()
    )


def test_before_any_run_the_checks_only_say_what_they_will_look_at(qtbot):
    panel = ProgressPanel(AppState())
    qtbot.addWidget(panel)
    assert panel.hints == [] and not panel.no_hint.isHidden()
    assert all(frame.isHidden() for frame, _, _ in panel.hint_frames)


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


def test_a_sweep_names_its_setting_as_a_person_would():
    from cnnlab.app.views.sweep_panel import CHOICES, setting_title

    assert setting_title("batch_size") == "batch size"
    assert setting_title("lr") == "learning rate"
    assert setting_title("some_new_knob") == "some new knob"
    assert all("_" not in setting_title(key) for _title, key, _values in CHOICES)


def test_a_run_that_cannot_use_its_workers_says_why_in_the_status_bar(qtbot, tiny_dataset):
    spec = {
        "input_shape": [1, 28, 28],
        "layers": [{"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "batchnorm"}, {"type": "flatten"},
                   {"type": "dense", "units": 10}],
    }  # fmt: skip
    from cnnlab.engine import NetSpec

    config = TrainConfig(spec=NetSpec.from_dict(spec), epochs=1, validation=64, workers=2)
    first = next(iter(TrainingSession(config, tiny_dataset).run()))
    state = AppState(config)
    said = []
    state.message.connect(said.append)
    state.set_snapshot(first)
    assert len(said) == 1 and "bn1" in said[0] and "one worker instead of 2" in said[0]


def test_a_task_group_runs_work_until_shut_down_and_never_after(qtbot):
    from cnnlab.app.runner import TaskGroup

    group = TaskGroup()
    ran = []
    handle = group.run(lambda state: ran.append(1) or 7, "before")
    with qtbot.waitSignal(handle.finished, timeout=5_000):
        pass
    assert (handle.outcome, handle.result, ran) == ("done", 7, [1])
    assert group.shutdown()
    late = group.run(lambda state: ran.append(2), "after")  # a window closed before this was asked for
    assert not late.is_running() and not late.thread_running() and late.is_cancelled
    qtbot.wait(50)
    assert ran == [1]
