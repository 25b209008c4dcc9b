"""The drawing pad: draw a digit, see what the network sees and what it thinks, while you draw.

Public API (stable; the main window and its self-test use it)::

    from cnnlab.app.views.drawing import DrawingPanel

    panel = DrawingPanel(state=None, parent=None)  # with an AppState it follows the inspector network,
                                                   # the dataset and the theme by itself (views.common.bind)
    panel.set_predictor(network, class_names)  # a cnnlab Network, a Checkpoint, or a callable
                                               #   f(x float32 (N, 1, 28, 28)) -> probabilities (N, K)
    panel.set_network(network, class_names)    # the same
    panel.set_snapshot(snapshot)               # or: a private network loaded with the snapshot's weights
    panel.set_dataset(dataset)                 # enables "Test image" / "Random" (a test image onto the pad)
    panel.apply_theme(theme)                   # an app.theme.Theme

    panel.pad                                  # DrawingPad, the canvas widget (send mouse events here)
    panel.current_input()                      # float32 (28, 28) in [0, 1], ink bright (MNIST style), or None
    panel.probabilities()                      # float (K,) summing to 1, or None (empty pad / no predictor)
    panel.predict_now()                        # run the pending update synchronously; returns probabilities()
    panel.clear(); panel.undo()                # also Esc/Delete and Ctrl+Z while the panel has focus
    panel.set_brush_width(px)                  # in canvas pixels (the canvas is 280x280; default 22)
    panel.load_image_file(path)                # PNG/JPEG via QImage; ValueError with a readable message
    panel.show_image(array, exact=False)       # (H, W) grey or (H, W, 3|4) RGB(A) onto the pad, prepared
                                               #   by cnnlab.data.prepare_image like `cnnlab predict`
    panel.show_test_image(index)               # dataset.test_images[index], fed to the network as is
    panel.set_saliency(True)                   # overlay |d score_top / d input| on the 28x28 preview
    panel.last_latency_ms                      # mouse event -> bars updated, for the latest update
    panel.pad.add_stroke([(x, y), ...])        # a whole stroke in canvas pixels (0..280), without a mouse

Signals (all emitted in the GUI thread, after the bars are updated)::

    probabilitiesChanged(object)   # np.ndarray (K,) summing to 1, or None when there is nothing to classify
    inputChanged(object)           # np.ndarray (28, 28) float32, or None; e.g. for the feature-map view
    panel.pad.changed()            # the ink changed (each stroke segment, clear, undo, image)

Updates are coalesced: each mouse move paints the segment and asks for one update at the next turn of the
event loop, so several queued moves cost one preprocessing + forward pass (a few ms for the seed net).
A self-test can draw with ``QTest``/``qtbot`` mouse events on ``panel.pad`` (press, moves, release), then
call ``panel.predict_now()`` and read ``panel.probabilities()``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.views.common import SnapshotNetwork, as_network, bind, class_names_for, theme_colors
from cnnlab.app.views.keep_row import KeepRow
from cnnlab.app.widgets import colormaps
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.bars import ClassBars
from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.view_frame import wrapping_label
from cnnlab.data import EmptyDrawing, ink_bright, prepare_image
from cnnlab.engine import Checkpoint, Network

CANVAS = 280  # ten canvas pixels per MNIST pixel
DEFAULT_BRUSH = 22  # a 2 px MNIST-like stroke once a 200 px digit is shrunk into its 20 px box
# MNIST strokes are about 1 to 8 of its 28 pixels wide: 10 to 80 of the canvas's 280.
BRUSH_RANGE = (10, 80)
PREVIEW_PX = 112
WIDE_LAYOUT_PX = 520  # narrower than this, the network's side goes under the pad
UNTRAINED_TEXT = (
    "Untrained network: these guesses come from random weights and mean nothing yet. Train it first."
)
INPUT_SHAPE = (1, 28, 28)
SYNC_BUDGET_MS = 8.0  # updates cheaper than this run inside the mouse handler (see _on_pad_changed)
LATENCY_LABEL_MS = 250  # the latency read-out changes no faster than a person can read it


def qimage_to_grey(image: QImage) -> np.ndarray:
    """Any QImage -> uint8 (H, W) grey, a copy (rows are padded to bytesPerLine in Qt's buffer)."""
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    h, w, stride = grey.height(), grey.width(), grey.bytesPerLine()
    buffer = np.frombuffer(grey.constBits(), dtype=np.uint8, count=stride * h)
    return buffer.reshape(h, stride)[:, :w].copy()


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """Any QImage -> uint8 (H, W, 4) RGBA, a copy; alpha is left for ``prepare_image`` to composite."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w, stride = rgba.height(), rgba.width(), rgba.bytesPerLine()
    buffer = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=stride * h)
    return buffer.reshape(h, stride)[:, : w * 4].reshape(h, w, 4).copy()


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W) grey -> the bytes of a PNG file, encoded by Qt (safe in any thread)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not grey_to_qimage(np.asarray(image, dtype=np.uint8)).save(buffer, "PNG"):
        raise ValueError("Qt could not encode a PNG image")
    buffer.close()
    return bytes(data.data())


def grey_to_qimage(grey: np.ndarray) -> QImage:
    """uint8 (H, W) -> a QImage owning its pixels."""
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    h, w = grey.shape
    return QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class DrawingPad(QWidget):
    """A square canvas of ``CANVAS`` x ``CANVAS`` pixels, black ink on white paper, scaled to the widget.

    Strokes are kept as point lists so the last one can be undone; each mouse move paints one segment
    straight into the canvas image (no full redraw while drawing). A picture (a loaded file or a test
    image) can lie under the strokes.
    """

    changed = Signal()
    strokeFinished = Signal()
    digitPressed = Signal(int)  # a digit key while the pad has the keyboard focus (keep as that digit)

    def __init__(self, parent: QWidget | None = None, brush: float = DEFAULT_BRUSH) -> None:
        super().__init__(parent)
        self.brush = float(brush)
        self._canvas = QImage(CANVAS, CANVAS, QImage.Format.Format_Grayscale8)
        self._canvas.fill(255)
        self._strokes: list[tuple[float, list[QPointF]]] = []
        self._picture: QImage | None = None
        self._drawing = False
        self.last_event_time = 0.0  # perf_counter() of the latest input that changed the ink
        self.setMinimumSize(140, 140)
        # As tall as it is wide: the layout gives a column's leftover height to what is below, so the
        # square canvas never sits between empty bands.
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse or a pen. Esc/Delete clears, Ctrl+Z undoes a stroke.")

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def sizeHint(self):
        return QSize(CANVAS, CANVAS)

    # -- state --------------------------------------------------------------------------------------
    @property
    def stroke_count(self) -> int:
        return len(self._strokes)

    @property
    def has_picture(self) -> bool:
        return self._picture is not None

    def stroke_points(self) -> list[tuple[float, list[tuple[float, float]]]]:
        """Every stroke as (width, [(x, y), ...]) in canvas pixels."""
        return [(width, [(p.x(), p.y()) for p in points]) for width, points in self._strokes]

    def is_empty(self) -> bool:
        return not self._strokes and self._picture is None

    def canvas_array(self) -> np.ndarray:
        """The canvas as uint8 (CANVAS, CANVAS), 255 = paper, 0 = ink."""
        return qimage_to_grey(self._canvas)

    def canvas_rect(self) -> QRectF:
        """Where the canvas is drawn inside the widget (a centred square)."""
        side = max(min(self.width(), self.height()) - 4, 1)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_canvas(self, pos: QPointF) -> QPointF:
        rect = self.canvas_rect()
        k = CANVAS / rect.width()
        return QPointF((pos.x() - rect.x()) * k, (pos.y() - rect.y()) * k)

    # -- editing ------------------------------------------------------------------------------------
    def clear(self) -> None:
        self._strokes.clear()
        self._picture = None
        self._drawing = False
        self._repaint_canvas()

    def undo(self) -> None:
        """Remove the last stroke; with no strokes left, remove the picture."""
        if self._strokes:
            self._strokes.pop()
        elif self._picture is not None:
            self._picture = None
        else:
            return
        self._drawing = False
        self._repaint_canvas()

    def set_picture(self, grey: np.ndarray | None) -> None:
        """Lay a uint8 (H, W) picture (dark ink on light paper) under the strokes, fitted to the canvas;
        the strokes are cleared."""
        self._strokes.clear()
        self._drawing = False
        if grey is None:
            self._picture = None
        else:
            image = grey_to_qimage(grey)
            self._picture = image.scaled(
                CANVAS,
                CANVAS,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self._repaint_canvas()

    def add_stroke(self, points: Sequence[tuple[float, float]], width: float | None = None) -> None:
        """Add a whole stroke in canvas coordinates (scripts and tests that do not go through the mouse)."""
        pts = [QPointF(float(x), float(y)) for x, y in points]
        if not pts:
            return
        self._strokes.append((float(width or self.brush), pts))
        self._paint_stroke(self._strokes[-1])
        self.last_event_time = time.perf_counter()
        self.update()
        self.changed.emit()
        self.strokeFinished.emit()

    # -- painting -----------------------------------------------------------------------------------
    def _pen(self, width: float) -> QPen:
        pen = QPen(QColor(0, 0, 0))
        pen.setWidthF(width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _paint_stroke(self, stroke: tuple[float, list[QPointF]], start: int = 0) -> None:
        width, pts = stroke
        painter = QPainter(self._canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen(width))
        if len(pts) == 1:
            painter.drawPoint(pts[0])
        elif start == 0:
            path = QPainterPath(pts[0])
            for p in pts[1:]:
                path.lineTo(p)
            painter.drawPath(path)
        else:
            painter.drawLine(pts[start - 1], pts[start])
        painter.end()

    def _repaint_canvas(self) -> None:
        self._canvas.fill(255)
        if self._picture is not None:
            painter = QPainter(self._canvas)
            x = (CANVAS - self._picture.width()) // 2
            y = (CANVAS - self._picture.height()) // 2
            painter.drawImage(x, y, self._picture)
            painter.end()
        for stroke in self._strokes:
            self._paint_stroke(stroke)
        self.last_event_time = time.perf_counter()
        self.update()
        self.changed.emit()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = self.canvas_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(rect, self._canvas)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        if self.is_empty():
            painter.setPen(QColor(150, 150, 150))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.end()

    def _segment_rect(self, a: QPointF, b: QPointF, width: float):
        rect = self.canvas_rect()
        k = rect.width() / CANVAS
        r = width / 2 + 2
        left, top = min(a.x(), b.x()) - r, min(a.y(), b.y()) - r
        box = QRectF(
            rect.x() + left * k,
            rect.y() + top * k,
            (abs(a.x() - b.x()) + 2 * r) * k,
            (abs(a.y() - b.y()) + 2 * r) * k,
        )
        return box.toAlignedRect().adjusted(-1, -1, 1, 1)

    # -- input --------------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.last_event_time = time.perf_counter()
        self._drawing = True
        self._strokes.append((self.brush, [self.to_canvas(event.position())]))
        self._paint_stroke(self._strokes[-1])
        self.update()
        self.changed.emit()
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if not self._drawing:
            return super().mouseMoveEvent(event)
        self.last_event_time = time.perf_counter()
        pts = self._strokes[-1][1]
        pts.append(self.to_canvas(event.position()))
        self._paint_stroke(self._strokes[-1], start=len(pts) - 1)
        self.update(self._segment_rect(pts[-2], pts[-1], self._strokes[-1][0]))  # repaint only the new ink
        self.changed.emit()
        event.accept()

    def keyPressEvent(self, event) -> None:
        text = event.text()
        if event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) and (
            len(text) == 1 and text.isdigit()
        ):
            self.digitPressed.emit(int(text))
            event.accept()
            return
        super().keyPressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._drawing:
            return super().mouseReleaseEvent(event)
        self._drawing = False
        event.accept()
        self.strokeFinished.emit()


Predictor = Network | Checkpoint | Callable[[np.ndarray], np.ndarray] | None


class DrawingPanel(QWidget):
    """The pad, its tools, the 28x28 preview with saliency, the top guess and the probability bars."""

    probabilitiesChanged = Signal(object)
    inputChanged = Signal(object)

    def __init__(
        self, state=None, parent: QWidget | None = None, predictor: Predictor = None, class_names=None
    ) -> None:
        super().__init__(parent)
        self._network: Network | None = None
        self._proba: Callable[[np.ndarray], np.ndarray] | None = None
        self._class_names: tuple[str, ...] = class_names_for(None, class_names)
        self._snapnet = SnapshotNetwork()
        self._dataset = None
        self._fixed_input: np.ndarray | None = None  # the input while a picture lies untouched on the pad
        self._fixed_label = ""
        self._input: np.ndarray | None = None
        self._probs: np.ndarray | None = None
        self._problem = ""
        self._empty_reason = ""
        self._untrained_flag = False
        self._collection = None
        self._enlarged: QWidget | None = None
        self._saliency_on = False
        self._wrong = colormaps.WRONG
        self._rng = np.random.default_rng()
        self.last_latency_ms: float | None = None
        self._latency_shown = 0.0
        self.latencies_ms: deque[float] = deque(maxlen=5000)
        self.compute_ms: deque[float] = deque(maxlen=5000)

        self.pad = DrawingPad(self)
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self._update)
        self.pad.changed.connect(self._on_pad_changed)

        self._build_ui()
        self.set_predictor(predictor, class_names)
        bind(self, state, network=True, dataset=True)

    # -- construction -------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        clear = QPushButton("Clear")
        clear.setToolTip("Clear the pad (Esc or Delete)")
        clear.clicked.connect(self.clear)
        undo = QPushButton("Undo")
        undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        undo.clicked.connect(self.undo)
        self._brush = QSlider(Qt.Orientation.Horizontal)
        self._brush.setRange(*BRUSH_RANGE)
        self._brush.setValue(int(self.pad.brush))
        self._brush.setToolTip(
            "Brush width in canvas pixels (the canvas is 280 px for MNIST's 28): MNIST's strokes are "
            "about 1 to 8 of its pixels wide, so 10 to 80 here"
        )
        self._brush.setMinimumWidth(90)
        self._brush.setMaximumWidth(140)
        self._brush.valueChanged.connect(lambda v: self.set_brush_width(v))
        self._brush_label = QLabel()
        self._brush_label.setToolTip(self._brush.toolTip())
        self._show_brush_label()
        load = QPushButton("Open image…")
        load.setToolTip("Put a PNG or JPEG picture on the pad")
        load.clicked.connect(self._choose_file)
        self._test_index = QSpinBox()
        self._test_index.setToolTip("Index of a test-set image to put on the pad")
        self._test_index.setRange(0, 0)
        self._test_index.setEnabled(False)
        self._test_button = QPushButton("Test image")
        self._test_button.setToolTip("Put this test-set image on the pad, exactly as the network sees it")
        self._test_button.setEnabled(False)
        self._test_button.clicked.connect(lambda: self.show_test_image(self._test_index.value()))
        self._random_button = QPushButton("Random")
        self._random_button.setToolTip("Put a random test-set image on the pad")
        self._random_button.setEnabled(False)
        self._random_button.clicked.connect(self._random_test_image)
        self._saliency = QCheckBox("Saliency")
        self._saliency.setToolTip(
            "Overlay which input pixels most change the top class's score: |d score / d pixel|"
        )
        self._saliency.toggled.connect(self.set_saliency)

        tools = FlowLayout(spacing=6)
        for w in (clear, undo, self._brush_label, self._brush):
            tools.addWidget(w)
        sources = FlowLayout(spacing=6)
        for w in (load, self._test_button, self._test_index, self._random_button):
            sources.addWidget(w)

        palette = self.palette()
        self._preview_view = pg.GraphicsView(background=palette.color(QPalette.ColorRole.Base))
        box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        box.setMouseEnabled(False, False)
        self._preview_view.setCentralItem(box)
        self._preview = pg.ImageItem(axisOrder="row-major")
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._overlay.setZValue(1)
        self._overlay.hide()
        box.addItem(self._preview)
        box.addItem(self._overlay)
        box.setRange(QRectF(0, 0, 28, 28), padding=0.0)
        self._preview.setImage(np.zeros((28, 28), np.float32), levels=(0, 1))
        self._preview_view.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self._preview_view.setToolTip(
            "What the network sees: the drawing preprocessed MNIST-style to 28x28. Click to enlarge."
        )
        self._preview_view.setCursor(Qt.CursorShape.PointingHandCursor)
        self._preview_view.scene().sigMouseClicked.connect(lambda _event: self.enlarge_preview())
        self._saliency_scale = ColorScale("saliency: |d score / d pixel|")
        self._saliency_scale.setToolTip(
            "How strongly each pixel of the 28x28 input moves the top class's score: a stronger red means "
            "changing that pixel would change the answer more."
        )
        self._saliency_scale.hide()

        self._guess = QLabel()
        font = self._guess.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self._guess.setFont(font)
        self._guess.setWordWrap(True)
        self._detail = wrapping_label()
        self._untrained = wrapping_label(UNTRAINED_TEXT, "warning")
        self._untrained.setObjectName("UntrainedNote")
        self._untrained.hide()
        self._latency = wrapping_label("", "muted")
        self._latency.setToolTip("Time from the latest mouse event to the updated bars")
        self.bars = ClassBars(self, value_format="{:.0%}", hide_below=0.005, value_axis=False)
        self.bars.setMinimumHeight(120)  # ten rows of text, and no more on a 768 px screen

        sees = QLabel("What the network sees")
        sees.setProperty("role", "heading")
        words = QVBoxLayout()
        words.addWidget(self._guess)
        words.addWidget(self._detail)
        words.addWidget(self._saliency)
        words.addStretch(1)
        preview_row = QHBoxLayout()
        preview_row.addWidget(self._preview_view, 0, Qt.AlignmentFlag.AlignTop)
        preview_row.addLayout(words, 1)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        side_layout.addWidget(sees)
        side_layout.addLayout(preview_row)
        side_layout.addWidget(self._saliency_scale)
        side_layout.addWidget(self._untrained)
        side_layout.addWidget(self.bars, 1)
        side_layout.addWidget(self._latency)
        side.setMinimumWidth(230)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.pad)
        left_layout.addLayout(tools)
        left_layout.addLayout(sources)
        self.keep_row = KeepRow()
        self.keep_row.hide()  # shown once a collection is attached (set_collection)
        left_layout.addWidget(self.keep_row)
        left_layout.addStretch(1)
        left.setMinimumWidth(230)

        def stacked(width: int, height: int) -> list[int]:
            # The pad as a square as wide as the panel, its tools under it; the network's side gets the rest.
            tools = left_layout.sizeHint().height() - self.pad.sizeHint().height()
            pad = min(width + tools, max(height - side.minimumSizeHint().height(), 160))
            return [pad, max(height - pad, 1)]

        def wide_gain(width: int, height: int) -> float:
            # Whichever arrangement gives the larger square canvas wins.
            tools = left_layout.sizeHint().height() - self.pad.sizeHint().height()
            side_hint = side.minimumSizeHint().expandedTo(side.minimumSize())
            left_width = max(left.minimumSizeHint().width(), left.minimumWidth())
            if width < left_width + side_hint.width() + 8:
                return -1e9  # side by side would not fit at all
            beside = min(width * 3 / 5, width - side_hint.width(), height - tools)
            stacked_side = min(width, height - side_hint.height() - tools)
            return beside - stacked_side

        self.split = AdaptiveSplitter(WIDE_LAYOUT_PX, stacked_sizes=stacked, wide_gain=wide_gain)
        self.split.addWidget(left)
        self.split.addWidget(side)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.split)

        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key in (QKeySequence(Qt.Key.Key_Escape), QKeySequence(Qt.Key.Key_Delete)):
            QShortcut(key, self, self.clear, context=context)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self, self.undo, context=context)

    def set_collection(self, collection) -> None:
        """Keep drawings in ``collection`` (an ``app.collection.Collection``): a digit button or key saves
        what is on the pad with that label and clears the pad for the next one."""
        self._collection = collection
        self.keep_row.show()
        self.keep_row.keepRequested.connect(self.keep_as)
        self.keep_row.undoRequested.connect(collection.undo_last)
        collection.changed.connect(self.keep_row.show_state)
        collection.failed.connect(self._detail.setText)
        self.keep_row.show_state(collection.state)
        self.pad.digitPressed.connect(self.keep_as)

    def strokes(self) -> list[dict] | None:
        """The pad's strokes, canvas coordinates (0..280), for re-rendering a kept digit later."""
        if self.pad.has_picture:
            return None
        return [{"width": width, "points": points} for width, points in self.pad.stroke_points()]

    def keep_as(self, label: int) -> bool:
        """Save what is on the pad as a ``label`` in the collection; False if there is nothing to keep."""
        x = self.current_input()
        if self._collection is None or x is None:
            self._detail.setText("Nothing to keep: draw a digit first (big enough to read).")
            return False
        self._collection.keep(np.round(x * 255).astype(np.uint8), int(label), self.strokes())
        self.clear()
        self._detail.setText(f"Kept as a {label}. Draw the next one.")
        return True

    def _show_brush_label(self) -> None:
        self._brush_label.setText(f"Brush {round(self.pad.brush)} px")

    def set_untrained(self, untrained: bool) -> None:
        """Say plainly that the guesses come from random weights (before any training)."""
        self._untrained_flag = bool(untrained)
        self._untrained.setVisible(self._untrained_flag)
        self.predict_now()

    def enlarge_preview(self) -> QWidget:
        """A larger window with the 28x28 input (and saliency), pixel by pixel, with its colour scale."""
        from cnnlab.app.widgets.enlarged import EnlargedImage

        x = self._input if self._input is not None else np.zeros((28, 28), np.float32)
        overlay = self._overlay.image if self._overlay.isVisible() else None
        dialog = EnlargedImage(
            self,
            "What the network sees (28x28)",
            x,
            overlay=overlay,
            scale=self._saliency_scale if self._saliency_scale.isVisible() else None,
            caption="ink brightness: 0 (paper) to 1 (ink)",
        )
        dialog.show()
        self._enlarged = dialog
        return dialog

    # -- public API ---------------------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor, class_names=None) -> None:
        """What classifies the drawing: a Network, a Checkpoint, a callable x (N,1,28,28) -> (N, K)
        probabilities, or None. Re-classifies the current input at once."""
        self._problem = ""
        if predictor is None or isinstance(predictor, (Network, Checkpoint)):
            network = as_network(predictor)
            self._network = network
            self._proba = network.predict_proba if network is not None else None
            if network is not None and network.spec is not None:
                shape = tuple(network.spec.input_shape)
                if shape != INPUT_SHAPE:
                    self._problem = (
                        f"this network takes {'x'.join(map(str, shape))} inputs; the pad makes 1x28x28"
                    )
        elif callable(predictor):
            self._network = None
            self._proba = predictor
        else:
            raise TypeError(f"a predictor must be a Network, a Checkpoint or a callable, got {predictor!r}")
        self._class_names = class_names_for(self._network, class_names or self._class_names_default())
        self.bars.set_classes(self._class_names)
        self._saliency.setEnabled(self._network is not None)
        self.predict_now()

    set_network = set_predictor

    def set_snapshot(self, snapshot) -> None:
        """Classify with a private network holding ``snapshot``'s weights (never the live one)."""
        self.set_predictor(self._snapnet.update(snapshot), snapshot.class_names)

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        self._preview_view.setBackground(colors["background"])
        self.bars.set_colors(colors["background"], colors["foreground"])
        self._wrong = colors["bad"]
        self.predict_now()

    def set_dataset(self, dataset) -> None:
        self._dataset = dataset
        has = dataset is not None and len(dataset.test_images) > 0
        self._test_index.setRange(0, len(dataset.test_images) - 1 if has else 0)
        for w in (self._test_index, self._test_button, self._random_button):
            w.setEnabled(has)
        if has and self._proba is None:
            self._class_names = tuple(dataset.class_names)
            self.bars.set_classes(self._class_names)

    def current_input(self) -> np.ndarray | None:
        """What the network is fed: float32 (28, 28) in [0, 1] with bright ink, or None for an empty pad."""
        if self.pad.is_empty():
            return None
        if self._fixed_input is not None and self.pad.stroke_count == 0:
            return self._fixed_input
        try:
            x = prepare_image(self.pad.canvas_array())
        except EmptyDrawing as exc:
            self._empty_reason = str(exc)
            return None
        self._empty_reason = ""
        return x

    def probabilities(self) -> np.ndarray | None:
        return self._probs

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    def predict_now(self) -> np.ndarray | None:
        self._pending.stop()
        self._update()
        return self._probs

    def clear(self) -> None:
        self._fixed_input = None
        self.pad.clear()
        self.predict_now()  # a discrete edit shows at once, however slow the network

    def undo(self) -> None:
        self.pad.undo()
        if not self.pad.has_picture:
            self._fixed_input = None
        self.predict_now()

    def set_brush_width(self, width: float) -> None:
        width = min(max(float(width), BRUSH_RANGE[0]), BRUSH_RANGE[1])
        self.pad.brush = width
        if self._brush.value() != int(width):
            self._brush.setValue(int(width))
        self._show_brush_label()

    def set_saliency(self, on: bool) -> None:
        self._saliency_on = bool(on)
        if self._saliency.isChecked() != self._saliency_on:
            self._saliency.setChecked(self._saliency_on)
        self.predict_now()

    def load_image_file(self, path: str | Path) -> None:
        """Read a PNG/JPEG with QImage and put it on the pad, prepared by ``cnnlab.data.prepare_image``."""
        image = QImage(str(path))
        if image.isNull():
            raise ValueError(f"{Path(path).name}: not an image file Qt can read (PNG or JPEG expected)")
        self.show_image(qimage_to_rgba(image), label=Path(path).name)

    def show_image(self, array: np.ndarray, *, exact: bool = False, label: str = "") -> None:
        """Put an image on the pad: (H, W) grey or (H, W, 3|4) RGB(A), prepared for the network by
        ``cnnlab.data.prepare_image`` (``ValueError`` when there is no ink); ``exact`` ones, grey (28, 28)
        in [0, 1] with bright ink, are fed as they are."""
        if exact:
            fixed = np.asarray(array, dtype=np.float32)
            shown = fixed
        else:
            try:
                fixed = prepare_image(array)
                # The pad shows the picture itself (dark ink on paper whatever its polarity) unless it is
                # as small as what the network sees.
                shown = fixed if np.shape(array)[:2] == (28, 28) else ink_bright(array)
            except EmptyDrawing as exc:
                raise ValueError(f"{label or 'the image'}: {exc}") from None
        self._fixed_input = fixed
        self._fixed_label = label
        self.pad.set_picture(np.round(255 - 255 * np.clip(shown, 0, 1)).astype(np.uint8))
        self.predict_now()

    def show_test_image(self, index: int) -> None:
        if self._dataset is None:
            raise RuntimeError("no dataset: call set_dataset first")
        image = self._dataset.test_images[index]
        label = int(self._dataset.test_labels[index])
        if self._test_index.value() != index:
            self._test_index.setValue(index)
        name = self._dataset.class_names[label]
        self.show_image(image.astype(np.float32) / 255.0, exact=True, label=f"test image #{index} ({name})")

    # -- updating -----------------------------------------------------------------------------------
    def _class_names_default(self):
        return self._dataset.class_names if self._dataset is not None else None

    def _random_test_image(self) -> None:
        if self._dataset is not None:
            self.show_test_image(int(self._rng.integers(len(self._dataset.test_images))))

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif);;All files (*)"
        )
        if path:
            try:
                self.load_image_file(path)
            except ValueError as exc:
                self._detail.setText(str(exc))

    def _on_pad_changed(self) -> None:
        if self.pad.stroke_count == 0 and not self.pad.has_picture:
            self._fixed_input = None
        # A fast network is classified right inside the mouse handler, before Qt repaints, so the bars
        # and the ink show in the same frame; a slow one is coalesced to the next event-loop turn, where
        # the moves queued meanwhile cost one update.
        if self.compute_ms and self.compute_ms[-1] < SYNC_BUDGET_MS and not self._pending.isActive():
            self._update()
        elif not self._pending.isActive():
            self._pending.start()

    def _update(self) -> None:
        started = time.perf_counter()
        x = self.current_input()
        self._input = x
        probs = None
        if x is None:
            self._preview.setImage(np.zeros((28, 28), np.float32), levels=(0, 1))
            self._overlay.hide()
            self._saliency_scale.hide()
            if self.pad.is_empty():
                self._guess.setText("")
                self._detail.setText(self._problem or "Draw a digit, or put an image on the pad.")
            else:
                # Some ink, but too little to read: say so, so a dot does not look like an empty pad.
                self._guess.setText("Too small to read")
                self._detail.setText(
                    f"{self._empty_reason[0:1].upper()}{self._empty_reason[1:]}. Draw the digit larger, "
                    "about a third of the pad's height or more."
                )
        else:
            self._preview.setImage(x, levels=(0, 1))
            if self._proba is not None and not self._problem:
                probs = np.asarray(self._proba(x[None, None]), dtype=np.float64)[0]
            self._show_guess(probs)
            self._show_saliency(x, probs)
        self._probs = probs
        self.bars.set_values(probs)
        done = time.perf_counter()
        self.compute_ms.append((done - started) * 1000)
        if self.pad.last_event_time:
            self.last_latency_ms = (done - self.pad.last_event_time) * 1000
            self.latencies_ms.append(self.last_latency_ms)
            self.pad.last_event_time = 0.0
            if (done - self._latency_shown) * 1000 > LATENCY_LABEL_MS:
                self._latency_shown = done
                self._latency.setText(f"bars updated {self.last_latency_ms:.1f} ms after the mouse event")
        self.inputChanged.emit(x)
        self.probabilitiesChanged.emit(probs)

    def _show_guess(self, probs: np.ndarray | None) -> None:
        if probs is None:
            self._guess.setText("")
            self._detail.setText(self._problem or "No network yet: train one or open a checkpoint.")
            return
        top = int(np.argmax(probs))
        maybe = "  (untrained)" if self._untrained_flag else ""
        self._guess.setText(f"{self._class_names[top]}  ·  {probs[top]:.0%}{maybe}")
        order = np.argsort(probs)[::-1]
        runner = int(order[1]) if len(order) > 1 else top
        source = f"{self._fixed_label}; " if self._fixed_input is not None and self._fixed_label else ""
        self._detail.setText(f"{source}next: {self._class_names[runner]} ({probs[runner]:.0%})")

    def _show_saliency(self, x: np.ndarray, probs: np.ndarray | None) -> None:
        if not self._saliency_on or probs is None or self._network is None:
            self._overlay.hide()
            self._saliency_scale.hide()
            return
        grad = self._network.input_gradient(x[None, None], int(np.argmax(probs)))[0, 0]
        heat = np.abs(grad)
        peak = float(heat.max())
        self._saliency_scale.set_rgba_table(saliency_rgba(np.linspace(0, 1, 256), self._wrong), 0.0, peak)
        self._saliency_scale.show()
        heat = heat / peak if peak > 0 else heat
        rgba = saliency_rgba(heat, self._wrong)
        self._overlay.setImage(rgba, levels=(0, 255))
        self._overlay.show()


def saliency_rgba(heat: np.ndarray, rgb) -> np.ndarray:
    """Saliency in [0, 1] -> RGBA uint8 (..., 4): one colour, opacity rising with the gradient.

    Linear in the gradient, and nothing below a tenth of the peak: the faint haze a square root would
    paint over the whole background says nothing about the digit.
    """
    heat = np.where(heat < 0.1, 0.0, heat)
    rgba = np.zeros((*np.shape(heat), 4), dtype=np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = np.round(235 * np.clip(heat * 1.2, 0, 1)).astype(np.uint8)
    return rgba
