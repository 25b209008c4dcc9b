"""The window keeps working while the seed net trains: snapshots arrive, the pad answers every stroke.

Counts, not milliseconds: a busy machine makes every stall longer, but the GUI thread must still take
its share of the work. How long the longest stall is, is measured by the benchmark
``python -m cnnlab.app.bench_gui`` (it prints the event loop's stalls, percentiles and training speed).
"""

from __future__ import annotations

import pytest

from cnnlab.app.bench_gui import measure_event_loop
from cnnlab.app.runtime import tune_for_gui
from cnnlab.data import load_dataset
from tests.app.conftest import make_lab


@pytest.fixture(scope="module")
def digits():
    return load_dataset("synthetic", synthetic_size=(6000, 1000), seed=1)


def test_the_window_keeps_up_with_training_and_drawing_at_once(
    request, qtbot, lab_settings, restore_app_look, digits
):
    """A timer drives a "hand" that draws on the pad while the worker trains and evaluates."""
    window = make_lab(qtbot, lab_settings, digits, quick=True)
    window.state.update_config(validation=1000, eval_every=100)  # the validation checks are part of the load
    collector = tune_for_gui(blas=False, switch_interval=False)  # the rest is set for the package
    request.addfinalizer(collector.restore)
    stats = measure_event_loop(window, seconds=4.0, draw=True)
    report = "\n".join(stats.lines())
    assert stats.steps > 20, report  # the worker trained
    assert stats.snapshots > 5, report  # and the window took its snapshots as it went
    assert stats.pad_updates > 10, report  # while every stroke segment still reached the bars
    assert stats.ticks > 10, report  # the event loop kept turning
    window.close()
