"""``ClassBars``: one horizontal bar per class (probabilities, per-class accuracy), class names on the left.

The bar item, its brushes and the value labels are created once per set of class names; an update only
calls ``setOpts`` and ``setText``. The largest bar (or a chosen one) is drawn in the highlight colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QWidget

from cnnlab.app.widgets import colormaps


class ClassBars(pg.PlotWidget):
    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        value_format: str = "{:.1%}",
        x_range: tuple[float, float] = (0.0, 1.0),
        title: str | None = None,
        hide_below: float | None = None,
        value_axis: bool = True,
    ) -> None:
        """``value_axis=False`` leaves out the 0..1 axis under the bars (each bar's label says its value):
        ten rows then stay readable in a short panel."""
        palette = parent.palette() if parent is not None else QPalette()
        self._fg = palette.color(QPalette.ColorRole.Text)
        super().__init__(parent, background=palette.color(QPalette.ColorRole.Base))
        self.value_format = value_format
        # Values below this get no label: while drawing, most probabilities sit near zero, and leaving
        # their labels alone saves most of the text layout an update would cost.
        self.hide_below = hide_below
        self._x_range = x_range
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(False, False)
        item.showGrid(x=True, y=False, alpha=0.2)
        item.getViewBox().invertY(True)
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(self._fg)
            axis.setTextPen(self._fg)
        small = QFont()
        small.setPointSizeF(8.5)
        item.getAxis("left").setStyle(tickFont=small)
        if not value_axis:
            item.hideAxis("bottom")
        self._title = title
        if title:
            item.setTitle(title, color=self._fg.name(), size="10pt")
        self._bars: pg.BarGraphItem | None = None
        self._labels: list[pg.TextItem] = []
        self._names: tuple[str, ...] = ()
        self.values = np.zeros(0)
        self._brush = pg.mkBrush(colormaps.NEUTRAL)
        self._top_brush = pg.mkBrush(colormaps.HIGHLIGHT)
        self._top_text = QColor(*colormaps.HIGHLIGHT).darker(130)
        # Ten empty rows until the real class names arrive, rather than a bare 0..1 axis.
        self.set_classes([str(i) for i in range(10)])

    def set_colors(self, background: QColor, foreground: QColor) -> None:
        """Follow a theme change."""
        self._fg = QColor(foreground)
        self.setBackground(background)
        item = self.getPlotItem()
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(self._fg)
            axis.setTextPen(self._fg)
        if self._title:  # a title keeps the colour it was set with: set it again in the new one
            item.setTitle(self._title, color=self._fg.name(), size="10pt")
        self.set_values(None if not self.values.any() else self.values)

    def set_classes(self, names: Sequence[str]) -> None:
        names = tuple(str(n) for n in names)
        if names == self._names:
            return
        self._names = names
        item = self.getPlotItem()
        if self._bars is not None:
            item.removeItem(self._bars)
        for label in self._labels:
            item.removeItem(label)
        k = len(names)
        self._bars = pg.BarGraphItem(x0=np.zeros(k), y=np.arange(k), height=0.7, width=np.zeros(k))
        item.addItem(self._bars)
        font = QFont()
        font.setPointSizeF(8.5)
        self._labels = []
        for i in range(k):
            label = pg.TextItem(anchor=(0.0, 0.5), color=self._fg)
            label.setFont(font)
            label.setPos(0, i)
            item.addItem(label)
            self._labels.append(label)
        item.getAxis("left").setTicks([[(i, n) for i, n in enumerate(names)]])
        item.setYRange(-0.6, k - 0.4, padding=0)
        # Room on the right for the value text next to a full bar.
        lo, hi = self._x_range
        item.setXRange(lo, hi + (hi - lo) * 0.22, padding=0)
        self.values = np.zeros(k)

    def set_x_range(self, lo: float, hi: float) -> None:
        """Bars start at ``lo``: zoom in on values that all lie close together (accuracies near 1)."""
        self._x_range = (float(lo), float(hi))
        self.getPlotItem().setXRange(lo, hi + (hi - lo) * 0.22, padding=0)
        if self._bars is not None:
            self.set_values(self.values if self.values.any() else None)

    def set_values(self, values: np.ndarray | None, highlight: int | None = None) -> None:
        """Bar lengths (K,); None empties the chart. The highlight defaults to the largest bar."""
        if self._bars is None:
            return
        k = len(self._names)
        if values is None:
            self.values = np.zeros(k)
            self._bars.setOpts(x0=np.full(k, self._x_range[0]), width=self.values, brushes=[self._brush] * k)
            for label in self._labels:
                label.setText("")
            return
        values = np.asarray(values, dtype=float)
        if values.shape != (k,):
            raise ValueError(f"expected {k} values, got shape {values.shape}")
        self.values = values
        top = int(np.argmax(values)) if highlight is None else highlight
        brushes = [self._top_brush if i == top else self._brush for i in range(k)]
        lo, hi = self._x_range
        pad = 0.015 * (hi - lo)
        widths = np.maximum(np.nan_to_num(values, nan=lo) - lo, 0.0)
        self._bars.setOpts(x0=np.full(k, lo), width=widths, brushes=brushes)
        # Text layout is the slow part of an update: touch a label only when what it shows changes.
        for i, (label, v) in enumerate(zip(self._labels, values.tolist(), strict=True)):
            finite = math.isfinite(v)
            hidden = not finite or (self.hide_below is not None and v < self.hide_below)
            text = "" if hidden else self.value_format.format(v)
            # Long bars carry their label inside, so it is never cut off at the plot's right edge.
            inside = finite and v > lo + 0.6 * (hi - lo)
            if inside:
                color = QColor(20, 20, 20) if i == top else QColor(255, 255, 255)
            else:
                color = self._top_text if i == top else self._fg
            anchor = (1.0, 0.5) if inside else (0.0, 0.5)
            x = (max(v, lo) if finite else lo) + (-pad if inside else pad)
            if label.textItem.toPlainText() != text:
                label.setText(text)
            if tuple(label.anchor) != anchor:
                label.setAnchor(anchor)
            if (label.pos().x(), label.pos().y()) != (x, float(i)):
                label.setPos(x, float(i))
            if label.color != color:
                label.setColor(color)
