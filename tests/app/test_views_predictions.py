"""The prediction gallery, the confusion matrix (clicking a cell lists exactly its images) and the
test-set evaluator behind both."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnlab.app.views.confusion import MAX_CELL_IMAGES, ConfusionView
from cnnlab.app.views.evaluation import Evaluation, TestEvaluator, evaluate
from cnnlab.app.views.predictions import PredictionsView
from cnnlab.data import load_dataset, to_float_nchw
from cnnlab.engine import build, load_preset
from cnnlab.training import confusion_matrix
from tests.app.test_views_drawing import delete_widgets_now  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_size=(10, 300), seed=4)


@pytest.fixture(scope="module")
def net():
    return build(load_preset("seed"), np.random.default_rng(11))


@pytest.fixture(scope="module")
def evaluation(net, data):
    return evaluate(net, data.test_images, data.test_labels, data.class_names)


def test_evaluation_matches_the_engine(net, data, evaluation):
    probs = net.predict_proba(to_float_nchw(data.test_images))
    np.testing.assert_allclose(evaluation.probs, probs, rtol=1e-5)
    np.testing.assert_array_equal(evaluation.predictions, probs.argmax(axis=1))
    np.testing.assert_array_equal(
        evaluation.confusion(), confusion_matrix(data.test_labels, probs.argmax(axis=1), 10)
    )
    mistakes = evaluation.mistakes()
    assert np.all(evaluation.predictions[mistakes] != evaluation.labels[mistakes])
    assert len(mistakes) == int((evaluation.predictions != evaluation.labels).sum())
    assert np.all(np.diff(evaluation.confidence[mistakes]) <= 0)


def test_evaluator_works_in_chunks_and_only_when_seen(qtbot, net, data):
    viewer = PredictionsView()
    qtbot.addWidget(viewer)
    evaluator = viewer.evaluator
    evaluator.set_dataset(data)
    evaluator.set_network(net, data.class_names)
    qtbot.wait(50)
    assert evaluator.evaluation is None  # the view is hidden: nothing is computed
    with qtbot.waitSignal(evaluator.evaluated, timeout=10000) as signal:
        viewer.show()
    ev = signal.args[0]
    assert isinstance(ev, Evaluation) and ev.count == len(data.test_images)
    np.testing.assert_allclose(ev.probs, net.predict_proba(to_float_nchw(data.test_images)), rtol=1e-5)
    assert viewer.shown_indices().tolist() == list(range(viewer.page_size))


def test_gallery_all_and_mistakes_only(qtbot, evaluation):
    view = PredictionsView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.set_evaluation(evaluation)
    grid = view.grid
    assert grid.count == view.page_size
    # Green frames for right, red for wrong, in the order of the test set.
    shown = view.shown_indices()
    right = evaluation.correct[shown]
    borders = grid._options["borders"]
    assert all(b == (view._good if r else view._bad) for b, r in zip(borders, right, strict=True))
    assert all(c.startswith("✓" if r else "✗") for c, r in zip(grid._options["captions"], right, strict=True))
    view.set_filter("mistakes")
    shown = view.shown_indices()
    assert len(shown) == min(view.page_size, len(evaluation.mistakes()))
    np.testing.assert_array_equal(shown, evaluation.mistakes()[: len(shown)])
    assert not evaluation.correct[shown].any()
    assert np.all(np.diff(evaluation.confidence[shown]) <= 0)  # most confident first
    view.set_page(1)
    np.testing.assert_array_equal(
        view.shown_indices(), evaluation.mistakes()[view.page_size : 2 * view.page_size]
    )
    # A click shows that image's probabilities; "Look inside" sends it on.
    view.set_filter("all")
    with qtbot.waitSignal(view.imageSelected) as signal:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.map_to_widget(7, 14, 14))
    assert signal.args == [7]
    np.testing.assert_allclose(view.bars.values, evaluation.probs[7])


def test_clicking_a_confusion_cell_lists_exactly_its_images(qtbot, evaluation):
    view = ConfusionView()
    qtbot.addWidget(view)
    view.resize(900, 760)
    view.show()
    qtbot.waitExposed(view)
    view.set_evaluation(evaluation)
    qtbot.wait(50)
    m = evaluation.confusion()
    np.testing.assert_array_equal(view.matrix(), m)
    assert m.sum() == evaluation.count
    off = m.copy()
    np.fill_diagonal(off, 0)
    cells = [np.unravel_index(int(off.argmax()), off.shape), (3, 3), (0, 9)]
    for true, pred in cells:
        with qtbot.waitSignal(view.cellSelected) as signal:
            qtbot.mouseClick(
                view.plot.viewport(), Qt.MouseButton.LeftButton, pos=view.cell_position(true, pred)
            )
        assert signal.args == [true, pred]
        listed = view.cell_indices()
        expected = np.flatnonzero((evaluation.labels == true) & (evaluation.predictions == pred))
        assert sorted(listed.tolist()) == expected.tolist()
        assert len(listed) == m[true, pred]
        assert view.grid.count == min(len(expected), MAX_CELL_IMAGES)
        if len(listed):
            np.testing.assert_array_equal(view.grid._tiles, evaluation.images[listed[: view.grid.count]])
    per_class = evaluation.per_class_accuracy()
    np.testing.assert_allclose(view.bars.values, per_class)


def test_views_share_the_states_evaluator(qtbot, data):
    from cnnlab.app.state import AppState

    state = AppState()
    state.set_dataset(data)
    gallery, matrix = PredictionsView(state), ConfusionView(state)
    for w in (gallery, matrix):
        qtbot.addWidget(w)
    assert gallery.evaluator is matrix.evaluator is TestEvaluator.shared(state)
    with qtbot.waitSignal(gallery.evaluator.evaluated, timeout=10000):
        gallery.show()
    assert matrix.matrix().sum() == len(data.test_images)


def test_the_answer_sits_beside_its_image_under_the_grid_and_under_it_beside_the_grid(qtbot, evaluation):
    view = PredictionsView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.set_evaluation(evaluation)
    qtbot.waitExposed(view)
    image, bars = view._image, view.bars

    def beside() -> bool:
        return bars.geometry().left() >= image.geometry().right()

    # Wide: grid and answer side by side, the image above its bars (which get the column's width).
    assert not beside() and bars.geometry().top() >= image.geometry().bottom()
    view.resize(430, 700)  # a laptop column: the answer goes under the grid, the image beside the bars
    qtbot.waitUntil(beside)
    grid_bottom = view.grid.mapTo(view, view.grid.rect().bottomLeft()).y()
    assert grid_bottom < image.mapTo(view, image.rect().topLeft()).y()  # under the grid
    assert bars.height() >= bars.minimumHeight() and view.grid.height() > bars.height()
    view.resize(900, 700)
    qtbot.waitUntil(lambda: not beside())
