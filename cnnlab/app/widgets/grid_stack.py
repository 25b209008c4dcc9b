"""``GridStack``: a scrolling column of titled ``ImageGrid``s, one per layer, each sized to the width.

A grid's height follows from the panel's width and its mosaic's shape, capped so a layer with a few
tiny kernels does not grow into a wall of giant pixels. Sections are rebuilt only when the set of keys
changes (a new architecture); otherwise their grids are updated in place.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnlab.app.widgets.image_grid import ImageGrid


class GridStack(QScrollArea):
    tileClicked = Signal(str, int, int, int)  # section key, tile index, row, column

    def __init__(self, parent: QWidget | None = None, max_tile_px: int = 64, min_tile_px: int = 10) -> None:
        super().__init__(parent)
        self.max_tile_px = max_tile_px
        self.min_tile_px = min_tile_px
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(2)
        self._layout.addStretch(1)
        self.setWidget(self._body)
        self._keys: tuple[str, ...] = ()
        self._grids: dict[str, ImageGrid] = {}
        self._titles: dict[str, QLabel] = {}
        self._colors: tuple[QColor, QColor] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def grid(self, key: str) -> ImageGrid:
        return self._grids[key]

    def title(self, key: str) -> QLabel:
        return self._titles[key]

    def set_sections(self, sections: Sequence[tuple[str, str]]) -> None:
        """(key, title) per section, top to bottom; grids are kept when the keys stay the same."""
        keys = tuple(k for k, _ in sections)
        if keys != self._keys:
            for key in self._keys:
                for w in (self._titles.pop(key), self._grids.pop(key)):
                    self._layout.removeWidget(w)
                    w.deleteLater()
            for i, key in enumerate(keys):
                label = QLabel()
                label.setTextFormat(Qt.TextFormat.RichText)
                label.setWordWrap(True)
                grid = ImageGrid(self._body)
                if self._colors is not None:
                    grid.set_colors(*self._colors)
                grid.tileClicked.connect(lambda index, r, c, key=key: self.tileClicked.emit(key, index, r, c))
                self._layout.insertWidget(2 * i, label)
                self._layout.insertWidget(2 * i + 1, grid)
                self._titles[key], self._grids[key] = label, grid
            self._keys = keys
        for key, text in sections:
            self._titles[key].setText(text)

    def set_colors(self, background: QColor, foreground: QColor) -> None:
        self._colors = (QColor(background), QColor(foreground))
        for grid in self._grids.values():
            grid.set_colors(*self._colors)

    def relayout(self) -> None:
        """Give each grid the height its mosaic needs at the current width (call after set_tiles)."""
        width = max(self.viewport().width() - 8, 50)
        for grid in self._grids.values():
            image = grid.rgb()
            if image is None or not grid.count:
                grid.setFixedHeight(0)
                continue
            h, w = grid.tile_shape
            scale = min(width / image.shape[1], self.max_tile_px / max(h, w))
            scale = max(scale, self.min_tile_px / max(h, w))
            grid.setFixedHeight(max(int(image.shape[0] * scale) + 2, 12))

    def resizeEvent(self, event) -> None:  # Qt's name
        super().resizeEvent(event)
        self.relayout()
