"""States that tell the truth (issue 12): what the window says matches what is so, after every change."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnlab.app.views.drawing import BRUSH_RANGE, UNTRAINED_TEXT, DrawingPanel
from cnnlab.engine import load_preset

WAIT = 20_000


def stopped_after_steps(qtbot, lab, steps: int = 4) -> None:
    lab.start_training()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.step >= steps, timeout=WAIT)
    lab.stop_training()
    qtbot.waitUntil(
        lambda: not lab.controller.is_running() and lab.controller.active_threads() == 0, timeout=WAIT
    )


def test_progress_bars_start_over_after_reset_build_and_open(qtbot, lab, tmp_path):
    progress = lab.view("progress")
    stopped_after_steps(qtbot, lab)
    progress._redraw()
    assert "of" in progress.epoch_bar.format()  # "4 of 10 steps (40%)"
    lab.save_checkpoint_file(tmp_path / "trained.npz")
    lab.reset()
    progress._redraw()
    assert progress.epoch_bar.value() == 0 and progress.epoch_bar.format() == "not started"
    assert progress.run_bar.format() == "not started"
    stopped_after_steps(qtbot, lab)
    assert lab.build_spec(load_preset("lenet5"))
    progress._redraw()
    assert progress.epoch_bar.format() == "not started"
    assert lab.open_checkpoint_file(tmp_path / "trained.npz")
    progress._redraw()
    assert progress.run_bar.format() == "not started"


def test_replacing_a_trained_network_asks_first_and_no_answers_keep_it(qtbot, lab):
    assert lab.reset()  # an untrained network: nothing to lose, nothing asked
    assert lab.asked == []
    stopped_after_steps(qtbot, lab)
    trained = lab.state.snapshot
    lab.confirm = lambda question: lab.asked.append(question) and False
    assert not lab.reset()
    assert not lab.build_spec(load_preset("lenet5"))
    assert lab.state.snapshot is trained and lab.state.preset == "seed"
    assert len(lab.asked) == 2 and all("trained network" in q for q in lab.asked)
    assert "stays in Compare" in lab.asked[0]  # the run is kept: the question says where


@pytest.mark.slow
def test_the_untrained_network_is_labelled_wherever_it_predicts(qtbot, lab):
    pad = lab.view("drawing")
    predictions = lab.view("predictions")
    lab.show_view("predictions")
    assert lab.state.is_untrained
    assert "untrained" in lab.status_network.text()
    assert pad._untrained.text() == UNTRAINED_TEXT and not pad._untrained.isHidden()
    predictions.evaluator.evaluate_now()
    assert predictions._summary.text().startswith("Untrained network (random weights)")
    stopped_after_steps(qtbot, lab)
    lab.state.inspector()
    qtbot.waitUntil(lambda: pad._untrained.isHidden(), timeout=WAIT)
    predictions.evaluator.evaluate_now()
    assert not predictions._summary.text().startswith("Untrained")
    assert "trained 4" in lab.status_network.text() or "trained" in lab.status_network.text()


def test_the_predictions_side_panel_follows_a_new_network(qtbot, lab):
    view = lab.view("predictions")
    lab.show_view("predictions")
    view.evaluator.evaluate_now()
    view.select_image(3)
    before = view.bars.values.copy()
    lab.build_spec(load_preset("lenet5"))
    view.evaluator.evaluate_now()
    after = view.bars.values
    assert view._selected == 3 and not np.allclose(before, after), "old probabilities left on screen"


def test_per_class_bars_use_the_whole_axis(qtbot, lab):
    view = lab.view("confusion")
    lab.show_view("confusion")
    view.evaluator.evaluate_now()
    assert view.bars._x_range == (0.0, 1.0)
    assert view.scale.hi == view.matrix().max() and view.scale.log1p


def test_single_key_shortcuts_work_again_once_typing_is_done(qtbot, lab):
    lab.start_training()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None, timeout=WAIT)
    field = lab.view("controls").lr
    field.setFocus()
    field.lineEdit().selectAll()
    qtbot.keyClicks(field.lineEdit(), "0.02")
    qtbot.keyClick(field.lineEdit(), Qt.Key_Space)  # while typing, Space is a character, not Pause
    assert not lab.controller.is_paused()
    qtbot.keyClick(field.lineEdit(), Qt.Key_Return)  # done typing: the keyboard goes back to the window
    assert not field.hasFocus()
    qtbot.keyClick(lab.focusWidget() or lab, Qt.Key_Space)
    assert lab.controller.is_paused()
    assert lab.state.config.lr == pytest.approx(0.02)
    lab.stop_training()
    qtbot.waitUntil(lambda: lab.controller.active_threads() == 0, timeout=WAIT)


def test_the_run_controls_say_what_they_do_in_each_state(qtbot, lab):
    a = lab.actions
    assert a["start"].text() == "&Start" and "fresh random weights" in a["start"].toolTip()
    lab.step_batch()
    qtbot.waitUntil(lambda: lab.controller.is_paused(), timeout=WAIT)
    assert not a["start"].isEnabled() and "paused" in a["start"].toolTip()
    assert a["pause"].text() == "&Resume" and "Go on training" in a["pause"].toolTip()
    assert [x.text() for x in lab.toolbar.actions()].count("&Resume") == 1  # one Resume, not two
    lab.stop_training()
    qtbot.waitUntil(lambda: not lab.controller.is_running(), timeout=WAIT)
    assert a["start"].text() == "&Start new run" and "stays in Compare" in a["start"].toolTip()


def test_a_stale_data_error_goes_once_the_data_loads(qtbot, lab, tiny_dataset):
    lab.show_error("Could not download mnist: no connection", topic="data")
    assert lab.banner.isVisible()
    lab.data.loaded.emit(tiny_dataset)
    assert not lab.banner.isVisible()


def test_the_brush_spans_mnist_stroke_widths_and_says_its_size(qtbot):
    panel = DrawingPanel()
    qtbot.addWidget(panel)
    assert BRUSH_RANGE == (10, 80)
    assert (panel._brush.minimum(), panel._brush.maximum()) == BRUSH_RANGE
    panel.set_brush_width(64)
    assert panel._brush_label.text() == "Brush 64 px" and panel.pad.brush == 64
    panel.set_brush_width(500)
    assert panel.pad.brush == 80  # held to the range


def test_a_dot_says_it_is_too_small_instead_of_looking_empty(qtbot):
    panel = DrawingPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitExposed(panel)
    rect = panel.pad.canvas_rect()
    qtbot.mouseClick(panel.pad, Qt.LeftButton, pos=rect.center().toPoint())
    panel.predict_now()
    assert not panel.pad.is_empty()
    assert panel._guess.text() == "Too small to read" and "larger" in panel._detail.text()
    panel.clear()
    assert panel._guess.text() == "" and "Draw a digit" in panel._detail.text()


def test_building_a_network_too_large_for_memory_is_refused_and_nothing_is_remembered(
    qtbot, lab, lab_settings
):
    from cnnlab.engine import NetSpec

    huge = NetSpec.from_dict(
        {"name": "huge", "input_shape": [1, 28, 28],
         "layers": [{"type": "flatten"}, {"type": "dense", "units": 10**6}, {"type": "dense", "units": 10}]}
    )  # fmt: skip
    assert not lab.build_spec(huge)
    assert "cannot be built" in lab.banner.text() and "budget" in lab.banner.text()
    assert lab.state.config.spec.name == "seed"
    lab.save_settings()
    assert "huge" not in str(lab_settings.value("train/config"))
