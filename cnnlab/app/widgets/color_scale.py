"""``ColorScale``: a colour bar with its values, for every heat map the lab draws.

A heat map without a scale shows *where* but not *how much*; this strip paints the map's lookup table
from its low to its high value and writes both ends (and the middle) in the view's own units.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnlab.app.widgets import colormaps


def format_value(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude < 0.01:
        return f"{value:.1e}"
    return f"{value:.3g}"


class ColorScale(QWidget):
    """A horizontal colour bar: ``set_range(lo, hi, lut_name)``; ``caption`` says what the colours are."""

    def __init__(self, caption: str = "", lut_name: str = "heat", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.lut_name = lut_name
        self.lo, self.hi = 0.0, 1.0
        self.log1p = False  # colours spread by log(1 + value), as count maps are drawn
        self.words: tuple[str, str, str] | None = None  # texts instead of numbers (relative scales)
        self._rgba: np.ndarray | None = None  # (256, 4) when an alpha ramp stands in for a map
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setMinimumWidth(80)

    def set_range(
        self, lo: float, hi: float, lut_name: str | None = None, *, log1p: bool | None = None
    ) -> None:
        self.lo, self.hi = float(lo), float(hi)
        if log1p is not None:
            self.log1p = bool(log1p)
        if lut_name is not None:
            self.lut_name = lut_name
            self._rgba = None
        self.update()

    def set_rgba_table(self, table: np.ndarray, lo: float, hi: float) -> None:
        """A scale for an overlay drawn with its own (256, 4) RGBA table (saliency on the preview)."""
        self._rgba = np.ascontiguousarray(table, dtype=np.uint8)
        self.lo, self.hi = float(lo), float(hi)
        self.update()

    def set_words(self, low: str, middle: str, high: str) -> None:
        """Label the ends in words, for a scale whose numbers differ from map to map."""
        self.words = (low, middle, high)
        self.update()

    def labels(self) -> tuple[str, str, str]:
        """The texts at the low end, the middle and the high end."""
        if self.words is not None:
            return self.words
        if self.log1p:
            mid = float(np.expm1((np.log1p(self.lo) + np.log1p(self.hi)) / 2))
            return format_value(self.lo), format_value(round(mid)), format_value(self.hi)
        return format_value(self.lo), format_value((self.lo + self.hi) / 2), format_value(self.hi)

    def sizeHint(self) -> QSize:
        line = self.fontMetrics().height()
        return QSize(200, 12 + 2 * line + (line if self.caption else 0))

    def minimumSizeHint(self) -> QSize:
        return QSize(80, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        line = metrics.height()
        top = line if self.caption else 0
        text = self.palette().color(QPalette.ColorRole.WindowText)
        if self.caption:
            painter.setPen(text)
            painter.drawText(QRectF(0, 0, self.width(), line), Qt.AlignLeft | Qt.AlignVCenter, self.caption)
        bar = QRectF(2, top + 2, self.width() - 4, 12)
        if self._rgba is not None:
            row = np.ascontiguousarray(self._rgba[None, :, :])
            image = QImage(row.data, 256, 1, 256 * 4, QImage.Format.Format_RGBA8888).copy()
            painter.fillRect(bar, self.palette().color(QPalette.ColorRole.Base))
        else:
            row = np.ascontiguousarray(colormaps.lut(self.lut_name)[None, :, :])
            image = QImage(row.data, 256, 1, 256 * 3, QImage.Format.Format_RGB888).copy()
        painter.drawImage(bar, image)
        painter.setPen(QColor(text.red(), text.green(), text.blue(), 140))
        painter.drawRect(bar)
        painter.setPen(text)
        low, mid, high = self.labels()
        y = top + 16
        painter.drawText(QRectF(0, y, self.width(), line), Qt.AlignLeft | Qt.AlignTop, low)
        painter.drawText(QRectF(0, y, self.width(), line), Qt.AlignHCenter | Qt.AlignTop, mid)
        painter.drawText(QRectF(0, y, self.width(), line), Qt.AlignRight | Qt.AlignTop, high)
        painter.end()
