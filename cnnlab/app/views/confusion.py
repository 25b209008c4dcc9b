"""The confusion matrix and per-class accuracy; click a cell to see the images in it.

Public API::

    from cnnlab.app.views.confusion import ConfusionView

    view = ConfusionView(state=None, parent=None, evaluator=None)
        # with an AppState it shares TestEvaluator.shared(state) with the prediction gallery
    view.set_network(network, class_names=None); view.set_dataset(dataset)   # without a state
    view.set_evaluation(evaluation)            # or hand it an Evaluation (views.evaluation)
    view.select_cell(true, predicted)          # what clicking a cell does
    view.cell_indices() -> np.ndarray          # test indices in the selected cell, most confident first
    view.matrix() -> (K, K) counts             # rows = true class, columns = predicted class
    view.cell_position(true, predicted) -> QPoint  # where that cell is in view.plot's viewport (tests)

    cellSelected(int true, int predicted)
    imageSelected(int test_index)              # an image of the cell's gallery was clicked

Cells are coloured by count on a logarithmic scale, so the few confusions off the diagonal stand out
beside the large diagonal; each cell prints its count. The bars give each class's accuracy (recall).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette, QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from cnnlab.app.views.common import theme_colors
from cnnlab.app.views.evaluation import Evaluation, TestEvaluator
from cnnlab.app.widgets import colormaps
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.bars import ClassBars
from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.image_grid import ImageGrid

MAX_CELL_IMAGES = 120  # a cell on the diagonal holds ~1000 images; the most confident few tell the story


class ConfusionView(QWidget):
    cellSelected = Signal(int, int)
    imageSelected = Signal(int)

    def __init__(
        self, state=None, parent: QWidget | None = None, evaluator: TestEvaluator | None = None
    ) -> None:
        super().__init__(parent)
        self._evaluation: Evaluation | None = None
        self._matrix = np.zeros((0, 0), dtype=int)
        self._cell: tuple[int, int] | None = None
        self._untrained = False
        self._cell_indices = np.zeros(0, dtype=int)
        self._counts: list[pg.TextItem] = []
        self._names: tuple[str, ...] = ()
        if evaluator is None:
            evaluator = TestEvaluator.shared(state) if state is not None else TestEvaluator(self)
        self.evaluator = evaluator
        evaluator.register(self)
        evaluator.evaluated.connect(self.set_evaluation)

        palette = self.palette()
        self._fg = palette.color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(False, False)
        item.getViewBox().invertY(True)
        item.getViewBox().setAspectLocked(True)
        item.setLabel("left", "true class")
        item.setLabel("bottom", "predicted class")
        self._image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self._image)
        self._frame = pg.QtWidgets.QGraphicsRectItem()
        pen = pg.mkPen(colormaps.HIGHLIGHT, width=3)
        pen.setCosmetic(True)
        self._frame.setPen(pen)
        self._frame.setZValue(10)
        self._frame.hide()
        item.addItem(self._frame, ignoreBounds=True)
        item.getViewBox().setRange(QRectF(0, 0, 10, 10), padding=0.02)  # an empty 10x10 until evaluated
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.plot.setMinimumSize(220, 220)

        self.bars = ClassBars(self, title="Accuracy per class (recall)")
        self.bars.setMinimumWidth(200)
        self.bars.setMinimumHeight(160)  # ten readable rows and the axis
        self._cell_title = QLabel("Click a cell to see the images in it.")
        self._cell_title.setWordWrap(True)
        self._cell_title.setTextFormat(Qt.TextFormat.RichText)
        self.grid = ImageGrid(self, tile_px=48)
        self.grid.tileClicked.connect(self._on_tile)
        self._summary = QLabel(
            "No evaluation yet: the test set is classified when a network and data are there."
        )
        self._summary.setWordWrap(True)
        self._summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        self.scale = ColorScale("images in a cell (colours on a log scale)", "blues")
        self.scale.set_range(0, 1, log1p=True)
        matrix = QWidget()
        matrix_layout = QVBoxLayout(matrix)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.plot, 1)
        matrix_layout.addWidget(self.scale)

        def stacked(width: int, height: int) -> list[int]:
            # One above the other (a narrow column): the matrix gets all but what the bars need.
            need = self.bars.minimumHeight()
            return [max(height - need, 1), need]

        top = AdaptiveSplitter(threshold=500, stacked_sizes=stacked)
        top.addWidget(matrix)
        top.addWidget(self.bars)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self._cell_title)
        bottom_layout.addWidget(self.grid, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self._summary)
        layout.addWidget(split, 1)
        if state is not None:
            state.themeChanged.connect(self.apply_theme)
            self.apply_theme(state.theme)

    # -- public API ---------------------------------------------------------------------------------
    def set_network(self, network, class_names=None) -> None:
        self.evaluator.set_network(network, class_names)

    def set_dataset(self, dataset) -> None:
        self.evaluator.set_dataset(dataset)

    def matrix(self) -> np.ndarray:
        return self._matrix

    def cell_indices(self) -> np.ndarray:
        return self._cell_indices

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self._evaluation = evaluation
        if evaluation is None:
            self._matrix = np.zeros((0, 0), dtype=int)
            self._image.clear()
            self.grid.clear()
            return
        self._matrix = evaluation.confusion()
        self._set_classes(evaluation.class_names)
        self._draw_matrix()
        per_class = evaluation.per_class_accuracy()
        # The whole 0-100% axis: a cut-off axis makes a 97% class look like a failure next to a 99% one;
        # the values are written on the bars and the weakest class is highlighted.
        self.bars.set_values(per_class, highlight=int(np.nanargmin(per_class)))
        wrong = int(evaluation.count - np.trace(self._matrix))
        self.scale.set_range(0, int(self._matrix.max()), "blues", log1p=True)
        self._summary.setText(
            ("Untrained network (random weights): " if self._untrained else "")
            + f"{evaluation.count:,} {self.evaluator.source_title} · accuracy {evaluation.accuracy:.2%} · "
            f"{wrong:,} mistakes · "
            "the weakest class is highlighted in the bars"
        )
        if self._cell is not None:
            self.select_cell(*self._cell)

    def set_untrained(self, untrained: bool) -> None:
        self._untrained = bool(untrained)
        if self._evaluation is not None:
            self.set_evaluation(self._evaluation)

    def select_cell(self, true: int, predicted: int) -> None:
        ev = self._evaluation
        if ev is None:
            return
        k = len(ev.class_names)
        if not (0 <= true < k and 0 <= predicted < k):
            raise ValueError(f"no cell ({true}, {predicted}) in a {k}x{k} matrix")
        self._cell = (int(true), int(predicted))
        self._cell_indices = ev.cell(true, predicted)
        self._frame.setRect(QRectF(predicted, true, 1, 1))
        self._frame.show()
        names = ev.class_names
        n = len(self._cell_indices)
        shown = self._cell_indices[:MAX_CELL_IMAGES]
        kind = "right" if true == predicted else "confused"
        more = f"; the {len(shown)} most confident are shown" if n > len(shown) else ""
        self._cell_title.setText(
            f"<b>true {names[true]}, predicted {names[predicted]}</b> ({kind}): {n:,} image"
            f"{'s' * (n != 1)}{more}. Captions give the confidence."
        )
        if n:
            conf = ev.confidence[shown]
            self.grid.set_tiles(
                ev.images[shown],
                cmap="grey",
                scale=(0, 255),
                captions=[f"#{i}\n{c:.0%}" for i, c in zip(shown, conf, strict=True)],
                caption_lines=2,
            )
        else:
            self.grid.clear()
        self.cellSelected.emit(int(true), int(predicted))

    def cell_position(self, true: int, predicted: int) -> QPoint:
        vb = self.plot.getPlotItem().getViewBox()
        scene = vb.mapViewToScene(QPointF(predicted + 0.5, true + 0.5))
        return self.plot.mapFromScene(scene)

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        self._fg = QColor(colors["foreground"])
        self.plot.setBackground(colors["background"])
        item = self.plot.getPlotItem()
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(self._fg)
            axis.setTextPen(self._fg)
            axis.label.setDefaultTextColor(self._fg)
        self.bars.set_colors(colors["background"], colors["foreground"])
        self.grid.set_colors(colors["background"], colors["foreground"])

    # -- drawing ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self.evaluator.viewer_shown()

    def _set_classes(self, names: tuple[str, ...]) -> None:
        if names == self._names:
            return
        self._names = names
        k = len(names)
        item = self.plot.getPlotItem()
        for text in self._counts:
            item.removeItem(text)
        font = QFont()
        font.setPointSizeF(8)
        self._counts = []
        for t in range(k):
            for p in range(k):
                text = pg.TextItem(anchor=(0.5, 0.5))
                text.setFont(font)
                text.setPos(p + 0.5, t + 0.5)
                item.addItem(text)
                self._counts.append(text)
        ticks = [[(i + 0.5, n) for i, n in enumerate(names)]]
        item.getAxis("left").setTicks(ticks)
        item.getAxis("bottom").setTicks(ticks)
        item.getViewBox().setRange(QRectF(0, 0, k, k), padding=0.02)
        self.bars.set_classes(names)

    def _draw_matrix(self) -> None:
        m = self._matrix
        k = len(m)
        shade = np.log1p(m) / max(np.log1p(m.max()), 1e-9)
        self._image.setImage(colormaps.apply(shade, 0.0, 1.0, "blues"), autoLevels=False, levels=(0, 255))
        self._image.setRect(QRectF(0, 0, k, k))
        for t in range(k):
            for p in range(k):
                text = self._counts[t * k + p]
                text.setText(str(int(m[t, p])) if m[t, p] else "")
                text.setColor(QColor(255, 255, 255) if shade[t, p] > 0.62 else QColor(30, 30, 30))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._evaluation is None:
            return
        p = self.plot.getPlotItem().getViewBox().mapSceneToView(event.scenePos())
        k = len(self._matrix)
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= row < k and 0 <= col < k:
            event.accept()
            self.select_cell(row, col)

    def _on_tile(self, tile: int, row: int, col: int) -> None:
        shown = self._cell_indices[:MAX_CELL_IMAGES]
        if 0 <= tile < len(shown):
            self.grid.set_highlight(tile)
            self.imageSelected.emit(int(shown[tile]))
