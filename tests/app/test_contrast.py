"""Every text in the main window is readable in both themes: contrast of at least 4.5:1 (WCAG AA).

The window is rendered (``grab``) with every workspace in front in turn; for each visible, enabled widget
that shows text, the region it covers is read back: its most common colour is the background, the pixel
that differs most from it is the text. Plots (pyqtgraph) draw their text themselves: their title and axis
colours are compared with the plot's background.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QGroupBox, QLabel, QWidget

MIN_CONTRAST = 4.5


def luminance(rgb: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c[..., 0] * 0.2126 + c[..., 1] * 0.7152 + c[..., 2] * 0.0722


def contrast(a, b) -> float:
    la, lb = float(luminance(np.asarray(a))), float(luminance(np.asarray(b)))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def image_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return data[:, : w * 3].reshape(h, w, 3).copy()  # a copy: the buffer dies with the QImage


def text_contrast(pixels: np.ndarray) -> float | None:
    """Background = the region's most common colour; text = the pixel farthest from it."""
    flat = pixels.reshape(-1, 3)
    if len(flat) < 20:
        return None
    colors, counts = np.unique(flat, axis=0, return_counts=True)
    background = colors[np.argmax(counts)]
    lum = luminance(flat)
    bg = float(luminance(background))
    ratios = (np.maximum(lum, bg) + 0.05) / (np.minimum(lum, bg) + 0.05)
    return float(ratios.max())


def shows_text(widget: QWidget) -> str:
    if isinstance(widget, QLabel) and not widget.pixmap().isNull():
        return ""
    if isinstance(widget, (QLabel, QAbstractButton, QGroupBox)):
        text = widget.title() if isinstance(widget, QGroupBox) else widget.text()
        return text.strip()
    return ""


def low_contrast_texts(window) -> list[str]:
    shot = image_array(window.grab().toImage())
    ratio_x = shot.shape[1] / max(window.width(), 1)
    problems = []
    for widget in window.findChildren(QWidget):
        text = shows_text(widget)
        if not text or not widget.isVisible() or not widget.isEnabled() or widget.window() is not window:
            continue
        seen = widget.visibleRegion().boundingRect()  # scrolled out of view or covered: nothing to read
        if seen.width() < 8 or seen.height() < 8:
            continue
        top_left = widget.mapTo(window, seen.topLeft())
        x0, y0 = int(top_left.x() * ratio_x), int(top_left.y() * ratio_x)
        x1, y1 = int(x0 + seen.width() * ratio_x), int(y0 + seen.height() * ratio_x)
        region = shot[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
        if isinstance(widget, QGroupBox):
            region = region[: max(widget.fontMetrics().height() + 4, 1)]  # the title line
        found = text_contrast(region)
        if found is not None and found < MIN_CONTRAST:
            problems.append(f"{type(widget).__name__} {text[:40]!r}: {found:.2f}")
    return problems


def low_contrast_items(window) -> list[str]:
    """Text in lists and tables (the lesson's steps, the runs table): each visible cell on its own."""
    shot = image_array(window.grab().toImage())
    problems = []
    for view in window.findChildren(QAbstractItemView):
        if not view.isVisible() or view.window() is not window or view.model() is None:
            continue
        model, port = view.model(), view.viewport()
        try:  # a list model hides its column count
            columns = min(model.columnCount(QModelIndex()), 20)
        except TypeError:
            columns = 1
        for row in range(min(model.rowCount(QModelIndex()), 60)):
            for column in range(columns):
                index = model.index(row, column)
                text = str(model.data(index) or "").strip()
                rect = view.visualRect(index).intersected(port.rect())
                if not text or rect.width() < 8 or rect.height() < 8:
                    continue
                top_left = port.mapTo(window, rect.topLeft())
                region = shot[
                    top_left.y() : top_left.y() + rect.height(), top_left.x() : top_left.x() + rect.width()
                ]
                found = text_contrast(region)
                if found is not None and found < MIN_CONTRAST:
                    problems.append(f"{type(view).__name__} cell {text[:40]!r}: {found:.2f}")
    return problems


def low_contrast_plots(window) -> list[str]:
    problems = []
    for view in window.findChildren(pg.GraphicsView):
        if not view.isVisible():
            continue
        background = view.backgroundBrush().color().getRgb()[:3]
        for item in view.items():
            if isinstance(item, pg.PlotItem):
                title = item.titleLabel
                if title.text:
                    color = QColor(title.opts.get("color") or title.item.defaultTextColor())
                    found = contrast(color.getRgb()[:3], background)
                    if found < MIN_CONTRAST:
                        problems.append(f"plot title {title.text!r}: {found:.2f}")
                for name in ("left", "bottom"):
                    axis = item.getAxis(name)
                    if axis.isVisible():
                        found = contrast(axis.textPen().color().getRgb()[:3], background)
                        if found < MIN_CONTRAST:
                            problems.append(f"axis {name} of {title.text or 'a plot'!r}: {found:.2f}")
    return problems


@pytest.mark.slow  # renders every workspace: 5-8 s a theme
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_in_every_workspace_is_readable(qtbot, lab, theme):
    lab.state.set_theme(theme)
    lab.resize(1280, 800)
    lab.set_lesson_visible(True)
    problems = []
    for key in lab.workspace_specs:
        lab.show_workspace(key)
        for view in lab.workspace_specs[key].views:
            lab.show_view(view)
            qtbot.wait(30)
            found = low_contrast_texts(lab) + low_contrast_items(lab) + low_contrast_plots(lab)
            problems += [f"{key}/{view}: {p}" for p in found]
    assert not sorted(set(problems)), "\n".join(sorted(set(problems)))


def test_the_check_finds_grey_text_on_grey(qtbot):
    """The measuring itself: a pale label on a pale background is caught, a dark one is not."""
    holder = QWidget()
    qtbot.addWidget(holder)
    holder.setStyleSheet("background: #dddddd;")
    pale, dark = QLabel("pale words here", holder), QLabel("dark words here", holder)
    pale.setStyleSheet("color: #bbbbbb;")
    dark.setStyleSheet("color: #111111;")
    pale.move(5, 5)
    dark.move(5, 40)
    holder.resize(200, 80)
    holder.show()
    qtbot.waitExposed(holder)
    problems = low_contrast_texts(holder)
    assert any("pale words" in p for p in problems) and not any("dark words" in p for p in problems)
