"""The prediction gallery: test images with the network's guess, green when right and red when wrong.

Public API::

    from cnnlab.app.views.predictions import PredictionsView

    view = PredictionsView(state=None, parent=None, evaluator=None)
        # with an AppState it uses the state's shared TestEvaluator (TestEvaluator.shared(state)), which
        # classifies the test set with the inspector network at most every few seconds while visible
    view.set_network(network, class_names=None)   # without a state: evaluate with this network ...
    view.set_dataset(dataset)                      # ... on this dataset's test set
    view.set_evaluation(evaluation)                # or hand it an Evaluation (views.evaluation)
    view.set_filter("all" | "mistakes")            # mistakes: most confident first
    view.set_page(page); view.page_size            # pages of ``page_size`` images
    view.shown_indices() -> np.ndarray             # test-set indices in the gallery, in order
    view.select_image(index)                       # show one image's probabilities (what a click does)

    imageSelected(int test_index)                  # a tile was clicked (its probabilities are shown)
    imageActivated(int test_index)                 # "Look inside" was pressed: connect it to
                                                   #   DrawingPanel.show_test_image and
                                                   #   FeatureMapsView.show_test_image

Each tile is framed and captioned green (right) or red (wrong) with the prediction and its confidence,
and the true class when wrong; the panel on the right shows the clicked image's probabilities.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.views.common import theme_colors
from cnnlab.app.views.evaluation import Evaluation, TestEvaluator
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.bars import ClassBars
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.image_grid import ImageGrid


class PredictionsView(QWidget):
    imageSelected = Signal(int)
    imageActivated = Signal(int)
    sourceChosen = Signal(str)  # "test", "mine-all" or "mine-test": the window supplies the images

    def __init__(
        self, state=None, parent: QWidget | None = None, evaluator: TestEvaluator | None = None
    ) -> None:
        super().__init__(parent)
        self.page_size = 48
        self._evaluation: Evaluation | None = None
        self._indices = np.zeros(0, dtype=int)
        self._page = 0
        self._selected: int | None = None
        self._untrained = False
        self._good, self._bad = theme_colors(None)["good"], theme_colors(None)["bad"]
        if evaluator is None:
            evaluator = TestEvaluator.shared(state) if state is not None else TestEvaluator(self)
        self.evaluator = evaluator
        evaluator.register(self)
        evaluator.evaluated.connect(self.set_evaluation)
        evaluator.progress.connect(self._on_progress)

        self._source = QComboBox()
        self._source.setToolTip("Which images the network is measured on")
        self._source.addItem("The dataset's test set", "test")
        self._source.addItem("Your digits (all)", "mine-all")
        self._source.addItem("Your digits (held-out fifth)", "mine-test")
        self._source.currentIndexChanged.connect(lambda _: self.sourceChosen.emit(self._source.currentData()))
        self._source.hide()  # shown once a collection can be measured (offer_your_digits)
        self._filter = QComboBox()
        self._filter.addItem("All test images, in order", "all")
        self._filter.addItem("Mistakes only, most confident first", "mistakes")
        self._filter.currentIndexChanged.connect(lambda _: self.set_filter(self._filter.currentData()))
        self._prev = QPushButton("◀")
        self._prev.setToolTip("Previous page")
        self._prev.clicked.connect(lambda: self.set_page(self._page - 1))
        self._next = QPushButton("▶")
        self._next.setToolTip("Next page")
        self._next.clicked.connect(lambda: self.set_page(self._page + 1))
        for b in (self._prev, self._next):
            b.setFixedWidth(36)
        self._page_box = QSpinBox()
        self._page_box.setPrefix("page ")
        self._page_box.setRange(1, 1)
        self._page_box.valueChanged.connect(lambda v: self.set_page(v - 1))
        self._summary = QLabel("No evaluation yet.")
        self._summary.setWordWrap(True)
        self._summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        # The page controls stay together when the bar wraps (a lone arrow on a second line reads oddly).
        pages = QWidget()
        pages_layout = QHBoxLayout(pages)
        pages_layout.setContentsMargins(0, 0, 0, 0)
        pages_layout.setSpacing(4)
        for w in (self._prev, self._page_box, self._next):
            pages_layout.addWidget(w)
        bar = FlowLayout(spacing=6)
        for w in (self._source, self._filter, pages):
            bar.addWidget(w)

        self.grid = ImageGrid(self, tile_px=64)
        self.grid.tileClicked.connect(lambda i, r, c: self._on_tile(i))
        self._detail = QLabel("Click an image to see all its probabilities.")
        self._detail.setWordWrap(True)
        self._detail.setTextFormat(Qt.TextFormat.RichText)
        self._image = ImageGrid(self, tile_px=96)
        self._image.setFixedSize(110, 110)
        self.bars = ClassBars(self, hide_below=0.0005, value_axis=False)
        to_pad = QPushButton("Look inside")
        to_pad.setToolTip("Send this image to the drawing pad and the feature maps")
        to_pad.clicked.connect(
            lambda: self._selected is not None and self.imageActivated.emit(self._selected)
        )
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self._detail)
        # The image beside its bars under the grid (a laptop screen: the pair stays short), above them
        # beside the grid (the bars get the column's width).
        pair = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        pair.addWidget(self._image, 0, Qt.AlignmentFlag.AlignHCenter)
        pair.addWidget(self.bars, 1)
        side_layout.addLayout(pair, 1)
        side_layout.addWidget(to_pad)
        self.bars.setMinimumSize(150, 120)  # ten readable rows
        side.setMinimumWidth(200)
        self.grid.setMinimumWidth(200)

        def stacked(width: int, height: int) -> list[int]:
            # Under the grid, the answer gets what it needs to be read and the grid keeps the rest.
            need = side.minimumSizeHint().height()
            return [max(height - need, 1), need]

        splitter = AdaptiveSplitter(threshold=560, stacked_sizes=stacked)
        splitter.addWidget(self.grid)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 240])

        def turn(wide: bool) -> None:
            pair.setDirection(QBoxLayout.Direction.TopToBottom if wide else QBoxLayout.Direction.LeftToRight)
            pair.setAlignment(
                self._image, Qt.AlignmentFlag.AlignHCenter if wide else Qt.AlignmentFlag.AlignTop
            )

        splitter.turned.connect(turn)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self._summary)
        layout.addWidget(splitter, 1)
        if state is not None:
            state.themeChanged.connect(self.apply_theme)
            self.apply_theme(state.theme)

    # -- public API ---------------------------------------------------------------------------------
    def set_network(self, network, class_names=None) -> None:
        self.evaluator.set_network(network, class_names)

    def set_dataset(self, dataset) -> None:
        self.evaluator.set_dataset(dataset)

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self._evaluation = evaluation
        if evaluation is not None:
            self.bars.set_classes(evaluation.class_names)
        self._select_indices()
        self._redraw()
        # The side panel must show this network's answer for the chosen image, never the last one's.
        if evaluation is not None and self._selected is not None and self._selected < evaluation.count:
            self.select_image(self._selected)
        else:
            self._clear_selection()

    def offer_your_digits(self, on: bool = True) -> None:
        """Show the choice of measuring on your own digits (the collection the pad keeps)."""
        self._source.setVisible(on)

    def set_source(self, source: str) -> None:
        index = self._source.findData(source)
        if index < 0:
            raise ValueError(f"unknown source {source!r}")
        self._source.setCurrentIndex(index)

    def set_untrained(self, untrained: bool) -> None:
        """Say that the answers come from random weights (before any training)."""
        self._untrained = bool(untrained)
        self._redraw()

    def _clear_selection(self) -> None:
        self._selected = None
        self._detail.setText("Click an image to see all its probabilities.")
        self._image.clear()
        self.bars.set_values(None)
        self.grid.set_highlight(None)

    def set_filter(self, which: str) -> None:
        index = self._filter.findData(which)
        if index < 0:
            raise ValueError(f"filter must be 'all' or 'mistakes', got {which!r}")
        if self._filter.currentIndex() != index:
            self._filter.blockSignals(True)
            self._filter.setCurrentIndex(index)
            self._filter.blockSignals(False)
        self._page = 0
        self._select_indices()
        self._redraw()

    def set_page(self, page: int) -> None:
        pages = max(1, -(-len(self._indices) // self.page_size))
        self._page = int(np.clip(page, 0, pages - 1))
        self._redraw()

    def shown_indices(self) -> np.ndarray:
        start = self._page * self.page_size
        return self._indices[start : start + self.page_size]

    def select_image(self, index: int) -> None:
        ev = self._evaluation
        if ev is None:
            return
        self._selected = int(index)
        p = ev.probs[index]
        true, pred = int(ev.labels[index]), int(ev.predictions[index])
        names = ev.class_names
        verdict = "right" if true == pred else "wrong"
        color = self._good if true == pred else self._bad
        self._detail.setText(
            f"Test image #{index}: <span style='color: rgb{tuple(color)}'><b>{verdict}</b></span><br>"
            f"true {names[true]}, predicted {names[pred]} ({p[pred]:.1%})"
        )
        self._image.set_tiles(ev.images[index][None], columns=1, cmap="grey", scale=(0, 255))
        self.bars.set_values(p, highlight=pred)
        shown = np.flatnonzero(self.shown_indices() == index)
        self.grid.set_highlight(int(shown[0]) if shown.size else None)

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        self._good, self._bad = colors["good"], colors["bad"]
        for grid in (self.grid, self._image):
            grid.set_colors(colors["background"], colors["foreground"])
        self.bars.set_colors(colors["background"], colors["foreground"])
        self._redraw()

    # -- drawing ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self.evaluator.viewer_shown()

    def _on_progress(self, done: int, total: int) -> None:
        if self._evaluation is None:
            self._summary.setText(f"Classifying the test set… {done:,} of {total:,}")

    def _select_indices(self) -> None:
        ev = self._evaluation
        if ev is None:
            self._indices = np.zeros(0, dtype=int)
        elif self._filter.currentData() == "mistakes":
            self._indices = ev.mistakes()
        else:
            self._indices = np.arange(ev.count)

    def _redraw(self) -> None:
        ev = self._evaluation
        pages = max(1, -(-len(self._indices) // self.page_size))
        self._page = min(self._page, pages - 1)
        self._page_box.blockSignals(True)
        self._page_box.setRange(1, pages)
        self._page_box.setValue(self._page + 1)
        self._page_box.blockSignals(False)
        self._page_box.setSuffix(f" of {pages}")
        self._prev.setEnabled(self._page > 0)
        self._next.setEnabled(self._page < pages - 1)
        if ev is None:
            self.grid.clear()
            return
        wrong = int((~ev.correct).sum())
        self._summary.setText(
            ("Untrained network (random weights): " if self._untrained else "")
            + f"accuracy {ev.accuracy:.2%} on {ev.count:,} {self.evaluator.source_title} · {wrong:,} mistakes"
            + (" · most confident mistakes first" if self._filter.currentData() == "mistakes" else "")
        )
        shown = self.shown_indices()
        if not len(shown):
            self.grid.clear()
            return
        names = ev.class_names
        captions, colors = [], []
        for i in shown:
            true, pred, conf = int(ev.labels[i]), int(ev.predictions[i]), float(ev.confidence[i])
            if true == pred:
                captions.append(f"✓ {names[pred]} {conf:.0%}")
                colors.append(self._good)
            else:
                captions.append(f"✗ {names[pred]} {conf:.0%}\ntrue {names[true]}")
                colors.append(self._bad)
        self.grid.set_tiles(
            ev.images[shown],
            cmap="grey",
            scale=(0, 255),
            captions=captions,
            caption_colors=colors,
            borders=colors,
            caption_lines=2,
        )
        if self._selected is not None:
            hit = np.flatnonzero(shown == self._selected)
            self.grid.set_highlight(int(hit[0]) if hit.size else None)

    def _on_tile(self, tile: int) -> None:
        shown = self.shown_indices()
        if 0 <= tile < len(shown):
            self.select_image(int(shown[tile]))
            self.imageSelected.emit(int(shown[tile]))
