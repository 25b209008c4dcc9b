"""``AdaptiveSplitter``: parts side by side when the view is wide, one above the other when it is narrow.

A view that puts its picture and its side panel next to each other needs the sum of their widths; in a
narrow column (a laptop screen with the lesson open) that would force the whole window wider. This
splitter turns vertical below ``threshold`` pixels of width and back above it (with a little hysteresis,
so a width near the threshold does not flip it back and forth), and reports the minimum size of its
narrow form, so it never makes the window grow.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QSplitter, QWidget

HYSTERESIS = 24


class AdaptiveSplitter(QSplitter):
    turned = Signal(bool)  # side by side (True) or one above the other (False), after each turn

    def __init__(
        self,
        threshold: int,
        parent: QWidget | None = None,
        *,
        stacked_sizes: Callable[[int, int], list[int]] | None = None,
        wide_gain: Callable[[int, int], float] | None = None,
    ) -> None:
        """``stacked_sizes(width, height)``: the parts' heights when stacked (default: by stretch).
        ``wide_gain(width, height)``: how much better (in pixels of whatever matters most, e.g. the side of
        a square canvas) side by side is than stacked at that size; when given, it decides instead of
        ``threshold``."""
        super().__init__(Qt.Horizontal, parent)
        self.threshold = int(threshold)
        self.stacked_sizes = stacked_sizes
        self.wide_gain = wide_gain
        self.setChildrenCollapsible(False)
        self._wide_sizes: list[int] | None = None
        self._stretch: dict[int, int] = {}

    def setStretchFactor(self, index: int, stretch: int) -> None:
        self._stretch[index] = int(stretch)
        super().setStretchFactor(index, stretch)

    def _share(self, total: int) -> list[int]:
        weights = [self._stretch.get(i, 1) for i in range(self.count())]
        return [max(1, total * w // max(sum(weights), 1)) for w in weights]

    def minimumSizeHint(self) -> QSize:
        width = height = 0
        for i in range(self.count()):
            child = self.widget(i)
            if child.isHidden():
                continue
            hint = child.minimumSizeHint().expandedTo(child.minimumSize())
            width = max(width, hint.width())
            height = max(height, hint.height())
        return QSize(width, height)

    def resizeEvent(self, event) -> None:
        self.adapt(event.size().width(), event.size().height())
        super().resizeEvent(event)
        if not self.is_wide and self.stacked_sizes is not None:
            self.setSizes(self.stacked_sizes(event.size().width(), event.size().height()))

    def restack(self) -> None:
        """Share the height again (when what the parts need has changed)."""
        if not self.is_wide and self.stacked_sizes is not None:
            self.setSizes(self.stacked_sizes(self.width(), self.height()))

    def adapt(self, width: int, height: int | None = None) -> None:
        was_wide = self.is_wide
        self._adapt(width, height)
        if self.is_wide != was_wide:
            self.turned.emit(self.is_wide)

    def _adapt(self, width: int, height: int | None) -> None:
        wide = self.orientation() == Qt.Horizontal
        if self.wide_gain is not None and height is not None:
            gain = self.wide_gain(width, height)
            if wide and gain < -HYSTERESIS / 2:
                self._wide_sizes = None
                self.setOrientation(Qt.Vertical)
            elif not wide and gain > HYSTERESIS / 2:
                self.setOrientation(Qt.Horizontal)
                self.setSizes(self._share(max(width, 1)))
            return
        if wide and width < self.threshold:
            self._wide_sizes = self.sizes()
            self.setOrientation(Qt.Vertical)
            self.setSizes(self._share(max(self.height(), 1)))
        elif not wide and width >= self.threshold + HYSTERESIS:
            self.setOrientation(Qt.Horizontal)
            self.setSizes(self._wide_sizes or self._share(max(width, 1)))

    @property
    def is_wide(self) -> bool:
        return self.orientation() == Qt.Horizontal
