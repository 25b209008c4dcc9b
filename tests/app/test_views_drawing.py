"""The drawing pad: strokes from real mouse events, preprocessing, probabilities, clear/undo, images,
checkpoints, snapshots, saliency; and, with real MNIST, digits traced stroke by stroke."""

from __future__ import annotations

import gc
import itertools

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from cnnlab.app.views.drawing import CANVAS, DrawingPanel
from cnnlab.data import load_dataset, to_float_nchw
from cnnlab.engine import build, load_checkpoint, load_preset, save_checkpoint

# -- helpers shared with the evidence script (tests/app/views_evidence.py) --------------------------


def thin(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: a binary image -> its one-pixel-wide skeleton."""
    img = np.pad(binary.astype(np.uint8), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            count = sum(p.astype(int) for p in ring[:-1])
            transitions = sum(((a == 0) & (b == 1)).astype(int) for a, b in itertools.pairwise(ring))
            if step == 0:
                edge = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                edge = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (c == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & edge
            if remove.any():
                c[remove] = 0
                changed = True
    return img[1:-1, 1:-1].astype(bool)


def skeleton_strokes(skeleton: np.ndarray) -> list[list[tuple[int, int]]]:
    """Walk a skeleton into pen strokes of (row, col) pixels: from line ends first, then loops."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]

    def neighbours(p):
        return [(p[0] + dr, p[1] + dc) for dr, dc in steps if (p[0] + dr, p[1] + dc) in pixels]

    visited: set[tuple[int, int]] = set()
    strokes = []
    ends = sorted(p for p in pixels if len(neighbours(p)) == 1)
    for start in ends + sorted(pixels):
        if start in visited:
            continue
        stroke = [start]
        visited.add(start)
        while True:
            fresh = [q for q in neighbours(stroke[-1]) if q not in visited]
            if not fresh:
                # Join the stroke to the branch it ran into, as a pen would.
                seen = [q for q in neighbours(stroke[-1]) if len(stroke) < 2 or q != stroke[-2]]
                if seen and len(stroke) > 1:
                    stroke.append(seen[0])
                break
            stroke.append(fresh[0])
            visited.add(fresh[0])
        strokes.append(stroke)
    return strokes


def digit_strokes(image: np.ndarray, threshold: float = 0.5) -> list[list[tuple[float, float]]]:
    """An MNIST digit (28x28, ink bright) -> strokes in canvas pixels (x, y), ten per MNIST pixel."""
    a = image.astype(np.float32)
    a = a / 255.0 if a.max() > 1 else a
    scale = CANVAS / 28
    return [
        [((c + 0.5) * scale, (r + 0.5) * scale) for r, c in stroke]
        for stroke in skeleton_strokes(thin(a > threshold))
    ]


def widget_point(pad, x: float, y: float) -> QPoint:
    rect = pad.canvas_rect()
    return QPoint(round(rect.x() + x * rect.width() / CANVAS), round(rect.y() + y * rect.height() / CANVAS))


def draw_with_mouse(qtbot, pad, strokes) -> None:
    """Draw strokes (canvas pixels) with real mouse press/move/release events on the pad."""
    for stroke in strokes:
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=widget_point(pad, *stroke[0]))
        for x, y in stroke[1:]:
            qtbot.mouseMove(pad, widget_point(pad, x, y))
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=widget_point(pad, *stroke[-1]))


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def delete_widgets_now(qapp):
    """Delete the test's widgets before the next test begins, then collect Python's cycles.

    pytest-qt closes widgets with ``deleteLater``, which outside an event loop may wait; meanwhile the
    garbage collector can free a top-level widget's wrapper at any allocation, even in the middle of the
    next test's paint, and PySide then deletes the widget right there (a crash in ``QPainter::restore``
    was seen). Import this fixture into every view test module.
    """
    yield
    qapp.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()
    qapp.processEvents()


@pytest.fixture
def seed_net():
    return build(load_preset("seed"), np.random.default_rng(3))


@pytest.fixture
def panel(qtbot, seed_net):
    p = DrawingPanel(predictor=seed_net)
    qtbot.addWidget(p)
    p.resize(760, 460)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", synthetic_size=(10, 40), seed=5)


HORIZONTAL = [[(40.0, 140.0), (100.0, 140.0), (170.0, 140.0), (240.0, 140.0)]]


# -- the pad ----------------------------------------------------------------------------------------


def test_stroke_with_mouse_events_gives_ink_where_drawn_and_probabilities(qtbot, panel):
    emitted = []
    panel.probabilitiesChanged.connect(emitted.append)
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    qtbot.waitUntil(lambda: emitted and emitted[-1] is not None, timeout=2000)
    canvas = panel.pad.canvas_array()
    assert canvas[140, 60:220].max() < 60  # dark ink along the stroke
    assert canvas[40, :].min() == 255 and canvas[240, :].min() == 255  # paper elsewhere
    x = panel.current_input()
    assert x.shape == (28, 28) and x.dtype == np.float32
    rows, cols = np.nonzero(x > 0.3)
    # A horizontal bar stays a horizontal bar after MNIST-style centring: wide and thin, in the middle.
    assert np.ptp(cols) >= 15 and np.ptp(rows) <= 5
    assert abs(rows.mean() - 14) <= 2
    probs = panel.probabilities()
    assert probs.shape == (10,) and np.all(probs >= 0)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(emitted[-1], probs)
    assert panel.last_latency_ms is not None and panel.last_latency_ms > 0


def test_probabilities_update_while_the_stroke_is_drawn(qtbot, panel):
    seen = []
    panel.probabilitiesChanged.connect(lambda p: seen.append(None if p is None else p.copy()))
    pad = panel.pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=widget_point(pad, 60, 60))
    for i in range(1, 12):
        qtbot.mouseMove(pad, widget_point(pad, 60 + 15 * i, 60 + 12 * i))
        qtbot.wait(1)
    before_release = len([p for p in seen if p is not None])
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=widget_point(pad, 225, 192))
    assert before_release >= 5  # bars followed the pen, not just the finished stroke


def test_clear_and_keyboard_shortcuts(qtbot, panel):
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    draw_with_mouse(qtbot, panel.pad, [[(140.0, 40.0), (140.0, 240.0)]])
    panel.predict_now()
    assert panel.pad.stroke_count == 2
    panel.activateWindow()
    panel.pad.setFocus()
    qtbot.keyClick(panel.pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.pad.stroke_count == 1
    qtbot.keyClick(panel.pad, Qt.Key.Key_Escape)
    assert panel.pad.is_empty()
    assert panel.predict_now() is None
    assert panel.current_input() is None
    assert panel.pad.canvas_array().min() == 255
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    qtbot.keyClick(panel.pad, Qt.Key.Key_Delete)
    assert panel.pad.is_empty()
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    panel.clear()
    assert panel.current_input() is None and panel.probabilities() is None


def test_undo_button_order_and_brush_width(qtbot, panel):
    panel.set_brush_width(8)
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    thin_ink = int((panel.pad.canvas_array() < 128).sum())
    panel.undo()
    assert panel.pad.is_empty()
    panel.set_brush_width(40)
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    thick_ink = int((panel.pad.canvas_array() < 128).sum())
    assert thick_ink > 3 * thin_ink
    panel.undo()
    panel.undo()  # nothing left: harmless
    assert panel.pad.is_empty()


def test_test_image_gives_the_engines_prediction(panel, seed_net, synthetic):
    panel.set_dataset(synthetic)
    expected = seed_net.predict_proba(to_float_nchw(synthetic.test_images[:8]))
    for i in range(8):
        panel.show_test_image(i)
        probs = panel.predict_now()
        np.testing.assert_allclose(probs, expected[i], rtol=1e-5, atol=1e-7)
        assert int(np.argmax(probs)) == int(np.argmax(expected[i]))
        np.testing.assert_array_equal(panel.current_input(), synthetic.test_images[i] / np.float32(255))


def test_image_files_through_qimage(tmp_path, panel, seed_net, synthetic):
    # A 28x28 PNG of a test image is fed as it is (the engine's prediction).
    digit = np.ascontiguousarray(synthetic.test_images[3])
    small = QImage(digit.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    assert small.save(str(tmp_path / "digit.png"))
    panel.load_image_file(tmp_path / "digit.png")
    expected = seed_net.predict_proba(to_float_nchw(synthetic.test_images[3:4]))[0]
    np.testing.assert_allclose(panel.predict_now(), expected, rtol=1e-5, atol=1e-7)
    # A large dark-on-light photo-like JPEG is preprocessed MNIST-style.
    big = QImage(240, 200, QImage.Format.Format_RGB32)
    big.fill(QColor(235, 235, 230))
    painter = QPainter(big)
    painter.setPen(QPen(QColor(20, 20, 20), 14))
    painter.drawLine(120, 30, 120, 170)
    painter.end()
    assert big.save(str(tmp_path / "one.jpg"))
    panel.load_image_file(tmp_path / "one.jpg")
    x = panel.current_input()
    rows, cols = np.nonzero(x > 0.5)
    assert np.ptp(rows) >= 15 and np.ptp(cols) <= 6  # a vertical bar, bright on black
    assert panel.predict_now().sum() == pytest.approx(1.0, abs=1e-5)
    (tmp_path / "not-an-image.png").write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        panel.load_image_file(tmp_path / "not-an-image.png")
    blank = QImage(50, 50, QImage.Format.Format_RGB32)
    blank.fill(QColor(255, 255, 255))
    blank.save(str(tmp_path / "blank.png"))
    with pytest.raises(ValueError, match="empty"):
        panel.load_image_file(tmp_path / "blank.png")


def test_strokes_over_a_picture_and_undo(qtbot, panel, synthetic):
    panel.set_dataset(synthetic)
    panel.show_test_image(0)
    exact = panel.current_input().copy()
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    assert not np.array_equal(panel.current_input(), exact)  # now the canvas is preprocessed
    panel.undo()
    np.testing.assert_array_equal(panel.current_input(), exact)
    panel.undo()
    assert panel.pad.is_empty() and panel.current_input() is None


def test_checkpoint_and_callable_predictors(tmp_path, qtbot, panel, seed_net):
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    before = panel.predict_now().copy()
    save_checkpoint(tmp_path / "net.npz", seed_net)
    panel.set_predictor(load_checkpoint(tmp_path / "net.npz"))
    np.testing.assert_allclose(panel.probabilities(), before, rtol=1e-6)
    uniform = lambda x: np.full((len(x), 4), 0.25)  # noqa: E731
    panel.set_predictor(uniform, class_names=["a", "b", "c", "d"])
    np.testing.assert_allclose(panel.probabilities(), 0.25)
    assert panel.class_names == ("a", "b", "c", "d")
    panel.set_predictor(None)
    assert panel.probabilities() is None and panel.current_input() is not None


def test_snapshot_weights_and_saliency(qtbot, panel, synthetic):
    from cnnlab.training import TrainConfig, TrainingSession

    session = TrainingSession(TrainConfig(epochs=1, batch_size=5, eval_every=0), synthetic)
    snapshots = list(session.run())
    last = snapshots[-1]
    panel.set_snapshot(last)
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    probs = panel.predict_now()
    expected = session.network.predict_proba(panel.current_input()[None, None])[0]
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    panel.set_saliency(True)
    overlay = panel._overlay
    assert overlay.isVisible()
    assert overlay.image.shape == (28, 28, 4) and overlay.image[..., 3].max() > 0
    panel.set_saliency(False)
    assert not overlay.isVisible()


def test_a_network_with_another_input_shape_is_refused_politely(qtbot, panel):
    spec = load_preset("seed").replace_layers(load_preset("seed").layers)
    spec = type(spec)((1, 32, 32), spec.layers, "big")
    panel.set_predictor(build(spec, np.random.default_rng(0)))
    draw_with_mouse(qtbot, panel.pad, HORIZONTAL)
    assert panel.predict_now() is None
    assert "1x32x32" in panel._detail.text()


# -- real MNIST: tracing test digits with the mouse ------------------------------------------------


@pytest.fixture(scope="module")
def trained(request):
    from tests.conftest import real_data_dir

    folder = real_data_dir()
    if folder is None:
        pytest.skip("real MNIST not available: set CNNLAB_DATA_DIR to a folder holding mnist/")
    from cnnlab.training import TrainConfig, TrainingSession

    session = TrainingSession(TrainConfig(epochs=1, data_dir=str(folder), eval_every=0, train_limit=30000))
    for _ in session.run():
        pass
    return session.network, session.dataset


@pytest.mark.realdata
@pytest.mark.slow
def test_traced_mnist_digits_are_mostly_recognised(qtbot, panel, trained):
    network, dataset = trained
    panel.set_predictor(network, dataset.class_names)
    picks = np.random.default_rng(7).choice(len(dataset.test_images), 40, replace=False)
    right = 0
    for i in picks:
        panel.clear()
        draw_with_mouse(qtbot, panel.pad, digit_strokes(dataset.test_images[i]))
        probs = panel.predict_now()
        right += int(probs is not None and np.argmax(probs) == dataset.test_labels[i])
    assert right / len(picks) >= 0.75, f"only {right} of {len(picks)} traced digits recognised"


# -- plugged into the window's AppState -------------------------------------------------------------


def test_every_view_plugs_into_an_app_state(qtbot, synthetic):
    from cnnlab.app.state import AppState
    from cnnlab.app.views.confusion import ConfusionView
    from cnnlab.app.views.feature_maps import FeatureMapsView
    from cnnlab.app.views.filters import FiltersView
    from cnnlab.app.views.histograms import HistogramsView
    from cnnlab.app.views.predictions import PredictionsView

    state = AppState()
    views = [
        cls(state)
        for cls in (
            DrawingPanel,
            FiltersView,
            FeatureMapsView,
            PredictionsView,
            ConfusionView,
            HistogramsView,
        )
    ]
    for view in views:
        qtbot.addWidget(view)
        view.show()
    drawing, filters, maps = views[:3]
    state.set_dataset(synthetic)
    draw_with_mouse(qtbot, drawing.pad, HORIZONTAL)
    probs = drawing.predict_now()
    expected = state.inspector().predict_proba(drawing.current_input()[None, None])[0]
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    filters.refresh()
    assert filters.layer_grid("conv2").count == 16 * 8
    maps.refresh()
    assert [name for name, _ in maps.sections][:2] == ["input", "conv1"]
    state.set_theme("dark")
    state.set_theme("light")
    qtbot.waitUntil(lambda: views[4].matrix().sum() == len(synthetic.test_images), timeout=10000)
