"""Experiments in the real window (issue 13): a comparison of one setting, runs that describe themselves,
live changes marked on the curves, the runs table's columns, CSV and the x axes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

WAIT = 60_000


def run_sweep(qtbot, lab, setting: str, values: list[str], **base):
    config = lab.state.config.replace(epochs=1, train_limit=256, eval_every=2, **base)
    with qtbot.waitSignal(lab.controller.sweepEnded, timeout=WAIT) as ended:
        assert lab.start_sweep(setting, values, config), lab.last_error
    qtbot.waitUntil(lambda: lab.controller.active_threads() == 0, timeout=WAIT)
    return ended.args[1]


@pytest.mark.slow
def test_a_sweep_of_three_values_makes_three_named_runs_side_by_side(qtbot, lab):
    lab.show_workspace("compare")
    results = run_sweep(qtbot, lab, "lr", ["0.001", "0.01", "0.1"])
    assert [r.label for r in results] == ["0.001", "0.01", "0.1"]
    assert all(r.status == "finished" for r in results)
    names = [r.name for r in results]
    assert names == ["seed · lr 0.001", "seed · lr 0.01", "seed · lr 0.1"]
    runs = lab.view("runs")
    assert sorted(runs.checked_ids()) == sorted(r.run_id for r in results)  # drawn together at once
    listed = {info.id: info for info in runs.runs()}
    assert {listed[r.run_id].name for r in results} == set(names)
    assert all(listed[r.run_id].tags.get("sweep_setting") == "lr" for r in results)
    legend = [label.text for _, label in runs.loss_plot.legend.items]
    assert set(names) <= set(legend)
    # Only what differs is shown: the learning rate, not the network, batch size or data.
    shown = runs.shown_columns()
    assert "lr" in shown and "network" not in shown and "batch_size" not in shown
    runs.hide_equal.setChecked(False)
    assert "network" in runs.shown_columns()
    panel = lab.view("sweep")
    assert panel.table.rowCount() == 3 and panel.progress.format() == "3 of 3 runs finished"
    x, y = panel.acc_curve.getData()
    np.testing.assert_allclose(x, [-3, -2, -1])  # learning rates on a log axis
    assert len(y) == 3


@pytest.mark.slow
def test_a_live_learning_rate_change_is_recorded_and_marked_on_the_curve(qtbot, lab):
    lab.state.update_config(epochs=3)
    lab.start_training()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.step >= 3, timeout=WAIT)
    lab.view("controls").lr.setValue(0.01)
    qtbot.waitUntil(lambda: len(lab.state.snapshot.history.changes) > 0, timeout=WAIT)
    lab.stop_training()
    qtbot.waitUntil(lambda: lab.controller.active_threads() == 0, timeout=WAIT)
    change = lab.state.snapshot.history.changes[0]
    assert (change.setting, change.new) == ("lr", 0.01) and change.old == pytest.approx(0.05)
    runs = lab.show_view("runs")
    assert runs is not None, lab.view_errors
    runs.refresh()
    info = runs.runs()[0]
    assert [(c.setting, c.new) for c in info.changes] == [("lr", 0.01)]
    assert "lr 0.05→0.01" in runs.table.item(0, runs_column("changes")).text()
    runs.set_checked([info.id])
    lines = runs._curves[info.id].changes
    assert len(lines) == 2 and lines[0].label is not None and "lr → 0.01" in lines[0].label.format


def runs_column(key: str) -> int:
    from cnnlab.app.views.compare import KEYS

    return KEYS.index(key)


@pytest.mark.slow
def test_the_runs_table_sorts_exports_and_draws_against_any_axis(qtbot, lab, tmp_path):
    results = run_sweep(qtbot, lab, "batch_size", ["16", "64"])
    runs = lab.show_view("runs")
    runs.refresh()
    path = tmp_path / "runs.csv"
    assert runs.export_csv(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["id", "Run", "Status"] and len(rows) == 3
    assert {row[0] for row in rows[1:]} == {r.run_id for r in results}
    test_column = runs_column("test")
    runs.table.sortByColumn(test_column, Qt.SortOrder.AscendingOrder)  # the worse run first
    first, second = (runs.table.item(row, test_column).text() for row in (0, 1))
    assert float(first.rstrip("%")) <= float(second.rstrip("%"))
    for axis in ("steps", "images", "time", "epochs"):
        runs.set_x_axis(axis)
        curves = runs._curves[results[0].run_id]
        x, _ = curves.loss.getOriginalDataset()
        assert len(x) and np.all(np.diff(x) >= 0), axis
    runs.set_x_axis("images")
    x16, _ = runs._curves[results[0].run_id].loss.getOriginalDataset()
    x64, _ = runs._curves[results[1].run_id].loss.getOriginalDataset()
    assert x16[-1] == pytest.approx(x64[-1], rel=0.3)  # by images seen, the two batch sizes line up


def test_a_comparison_can_be_cancelled_and_keeps_what_it_trained(qtbot, lab):
    config = lab.state.config.replace(epochs=20, train_limit=256)
    with qtbot.waitSignal(lab.controller.sweepEnded, timeout=WAIT) as ended:
        assert lab.start_sweep("seed", ["0", "1", "2"], config)
        qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.step >= 2, timeout=WAIT)
        lab.stop_training()
    qtbot.waitUntil(lambda: lab.controller.active_threads() == 0, timeout=WAIT)
    results = ended.args[1]
    assert len(results) == 1 and results[0].status == "stopped"


def test_an_impossible_comparison_is_refused_in_one_line(qtbot, lab):
    assert not lab.start_sweep("lr", ["fast"], lab.state.config)
    assert "lr" in lab.banner.text() and "fast" in lab.banner.text()
    assert lab.controller.active_threads() == 0
