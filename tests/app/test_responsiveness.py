"""The window stays fluid while the seed net trains: the event loop never stalls for 100 ms or more."""

from __future__ import annotations

import pytest

from cnnlab.app.bench_gui import measure_event_loop
from cnnlab.app.runtime import tune_for_gui
from cnnlab.data import load_dataset
from tests.app.conftest import make_lab

STALL_LIMIT_MS = 100.0


@pytest.fixture(scope="module")
def digits():
    return load_dataset("synthetic", synthetic_size=(6000, 1000), seed=1)


def test_event_loop_stays_fluid_while_the_seed_net_trains(
    request, qtbot, lab_settings, restore_app_look, digits
):
    """A 5 ms timer measures the loop while the worker trains and a "hand" draws on the pad.

    Other programs on a shared machine can hold up any process now and then; a stall of ours would show
    in every measurement, theirs only by chance. So the best of up to three measurements must pass.
    """
    window = make_lab(qtbot, lab_settings, digits, quick=True)
    window.state.update_config(validation=1000, eval_every=100)  # the validation checks are part of the load
    collector = tune_for_gui(blas=False, switch_interval=False)  # the rest is set for the package
    request.addfinalizer(collector.restore)
    reports = []
    for _ in range(3):
        stats = measure_event_loop(window, seconds=4.0, draw=True)
        reports.append("\n".join(stats.lines()))
        assert stats.steps > 20, reports[-1]
        assert stats.snapshots > 5 and stats.pad_updates > 10, reports[-1]
        if stats.longest_ms < STALL_LIMIT_MS:
            break
    else:
        pytest.fail("the event loop stalled in every measurement:\n" + "\n\n".join(reports))
    window.close()
