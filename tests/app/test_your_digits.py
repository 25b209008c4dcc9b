"""Your own handwriting (issue 14) in the real window: keep drawings from the pad, browse, relabel, delete,
measure and fine-tune on them."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnlab.app.selftest import DIGIT_STROKES, draw_stroke
from tests.app.conftest import make_lab

WAIT = 30_000


def settle(qtbot, lab) -> None:
    qtbot.waitUntil(lambda: not lab.collection.busy(), timeout=WAIT)


def draw_and_keep_by_key(qtbot, lab, count: int) -> list[int]:
    """Draw ``count`` digits with mouse events on the pad and label each with its digit key."""
    pad = lab.show_view("drawing")
    labels = []
    for i in range(count):
        digit = list(DIGIT_STROKES)[i % len(DIGIT_STROKES)]
        shift = 0.03 * (i % 4)
        for stroke in DIGIT_STROKES[digit]:
            draw_stroke(pad.pad, [(x + shift, y) for x, y in stroke])
        pad.pad.setFocus()
        qtbot.keyClick(pad.pad, getattr(Qt, f"Key_{digit}"))
        assert pad.pad.is_empty(), "the pad is cleared for the next digit once one is kept"
        labels.append(digit)
    settle(qtbot, lab)
    return labels


@pytest.mark.slow  # twenty digits drawn with the mouse, and a second window
def test_twenty_drawn_digits_labelled_by_key_survive_a_restart(
    qtbot, lab_settings, tiny_dataset, restore_app_look
):
    first = make_lab(qtbot, lab_settings, tiny_dataset, quick=True)
    labels = draw_and_keep_by_key(qtbot, first, 20)
    state = first.collection.state
    assert len(state) == 20 and list(state.labels) == labels
    assert all(s.source == "pad" and s.strokes for s in state.samples), "the strokes are kept too"
    assert first.view("drawing").keep_row.counts.text().startswith("20 kept")
    first.close()

    second = make_lab(qtbot, lab_settings, tiny_dataset, quick=True)
    settle(qtbot, second)
    again = second.collection.state
    assert len(again) == 20 and list(again.labels) == labels
    assert np.array_equal(again.images, state.images)
    second.close()


@pytest.mark.slow
def test_relabel_delete_and_undo_in_the_browser(qtbot, lab):
    draw_and_keep_by_key(qtbot, lab, 3)  # a 7, a 1, a 0
    browser = lab.show_view("mine")
    ids = list(lab.collection.state.ids)
    browser.select(ids[0])
    browser.relabel_selected(4)
    settle(qtbot, lab)
    assert lab.collection.state.sample(ids[0]).label == 4
    browser.select(ids[1])
    browser.delete_selected()
    settle(qtbot, lab)
    assert list(lab.collection.state.ids) == [ids[0], ids[2]]
    assert browser.summary.text().startswith("<b>2 digits</b>")
    lab.collection.undo_last()  # the last kept (the 0) goes back out
    settle(qtbot, lab)
    assert list(lab.collection.state.ids) == [ids[0]]


@pytest.mark.slow
def test_test_results_measure_your_digits(qtbot, lab):
    draw_and_keep_by_key(qtbot, lab, 6)
    assert lab.open_pretrained()
    lab.show_results_on("mine-all")
    predictions = lab.view("predictions")
    evaluation = predictions.evaluator.evaluate_now()
    assert evaluation.count == 6 and predictions.evaluator.source_title == "of your digits"
    assert evaluation.accuracy >= 5 / 6  # the trained seed network reads these strokes
    assert "of your digits" in predictions._summary.text()
    lab.show_results_on("test")
    assert predictions.evaluator.evaluate_now().count == len(lab.state.dataset.test_images)


@pytest.mark.slow  # trains, fine-tunes and tests twice: about 3 s
def test_fine_tuning_shows_before_and_after(qtbot, lab):
    draw_and_keep_by_key(qtbot, lab, 12)
    assert lab.open_pretrained()
    assert lab.start_finetune(0.5, 1, 0.01), lab.last_error
    qtbot.waitUntil(lambda: lab.finetune_results is not None, timeout=60_000)
    rows = dict((what, (before, after)) for what, before, after in lab.finetune_results)
    assert set(rows) == {"your held-out digits", "synthetic test set"}
    assert all(0 <= v <= 1 for pair in rows.values() for v in pair)
    assert "before" in lab.view("mine").before_after.text()
