"""Weight histograms over time: one record per snapshot step, re-binned onto one grid."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.app.views.histograms import VALUE_BINS, HistogramsView, rebin
from cnnlab.data import load_dataset
from cnnlab.training import TrainConfig, TrainingSession
from tests.app.test_views_drawing import delete_widgets_now  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="module")
def snapshots():
    data = load_dataset("synthetic", synthetic_size=(120, 10), seed=3)
    session = TrainingSession(TrainConfig(epochs=2, batch_size=10, eval_every=0, snapshot_every=3), data)
    return list(session.run())


def test_rebin_keeps_the_counts():
    rng = np.random.default_rng(0)
    counts, edges = np.histogram(rng.normal(size=1000), bins=30)
    grid = np.linspace(edges[0] - 1, edges[-1] + 1, 81)
    out = rebin(counts, edges, grid)
    assert out.sum() == pytest.approx(1000)
    same = rebin(counts, edges, edges)
    np.testing.assert_allclose(same, counts)


def test_history_per_parameter(qtbot, snapshots):
    view = HistogramsView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    for snap in snapshots:
        view.set_snapshot(snap)
    view.set_snapshot(snapshots[-1])  # the same step again adds nothing
    names = [s.name for s in snapshots[-1].layer_stats]
    assert view.parameters == names
    steps = view.steps("conv1.W")
    assert steps[0] == 0 and steps[-1] == snapshots[-1].step
    assert np.all(np.diff(steps) > 0)
    assert view.steps("conv1.W", "gradients")[0] > 0  # no gradients before the first step
    view.set_parameter("dense1.W")
    view.refresh()
    image = view.image()
    assert image.shape == (VALUE_BINS, len(view.steps("dense1.W")))
    assert np.allclose(image.max(axis=0), 1.0)  # each column scaled to its own peak
    view.set_kind("gradients")
    assert view.image().shape[0] == VALUE_BINS
    view.set_snapshot(None)
    assert view.parameters == [] and view.image().size == 0
