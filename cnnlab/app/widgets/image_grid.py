"""``ImageGrid``: many small images (filters, feature maps, test digits) shown as one mosaic.

The tiles are coloured in NumPy and composed into one RGB image, shown by a single pyqtgraph
``ImageItem``; an update is one ``setImage``, however many tiles there are. Captions (under each tile) and
values (printed on each pixel, for small kernels) are ``TextItem``s kept in pools and reused; their font
follows the zoom so text never spills onto the neighbouring tiles.

API::

    grid = ImageGrid(parent=None, tile_px=48)
    grid.set_tiles(tiles (N, h, w), columns=None, cmap="viridis", scale="shared",
                   captions=None, caption_colors=None, borders=None, caption_lines=0, values=False)
    grid.tileClicked(int index, int row, int col)     # row/col: the pixel inside the tile
    grid.tileHovered(int index, int row, int col)     # index -1 when the pointer is over no tile
    grid.set_highlight(index, pixel=None)             # frame a tile (or one pixel of it); None removes it
    grid.set_region(index, top, left, bottom, right)  # frame a block of pixels of one tile (inclusive)
    grid.grid_shape -> (rows, columns); grid.count; grid.tile_shape; grid.levels(i) -> (lo, hi)
    grid.click_tile(index, row=0, col=0)              # what a mouse click does, for tests and keyboards

``scale``: "shared" (one colour range for all tiles), "tile" (each tile its own range) or (lo, hi).
With the diverging map the range is symmetric around zero. NaN pixels show the background.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QSizePolicy, QWidget

from cnnlab.app.widgets import colormaps

Scale = str | tuple[float, float]


def tile_levels(tiles: np.ndarray, scale: Scale, symmetric: bool) -> np.ndarray:
    """(N, 2) colour range per tile."""
    n = len(tiles)
    if isinstance(scale, tuple):
        return np.tile(np.asarray(scale, dtype=np.float64), (n, 1))
    flat = tiles.reshape(n, -1).astype(np.float64)
    finite = np.isfinite(flat)
    if scale == "shared":
        values = flat[finite]
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        levels = np.tile([lo, hi], (n, 1))
    elif scale == "tile":
        masked = np.where(finite, flat, np.nan)
        has = finite.any(axis=1)
        lo = np.zeros(n)
        hi = np.ones(n)
        if has.any():
            lo[has] = np.nanmin(masked[has], axis=1)
            hi[has] = np.nanmax(masked[has], axis=1)
        levels = np.stack([lo, hi], axis=1)
    else:
        raise ValueError(f"scale must be 'shared', 'tile' or (lo, hi), got {scale!r}")
    if symmetric:
        m = np.maximum(np.abs(levels).max(axis=1), 1e-12)
        levels = np.stack([-m, m], axis=1)
    flat_range = levels[:, 1] <= levels[:, 0]
    levels[flat_range, 1] = levels[flat_range, 0] + 1.0  # a constant tile shows as the low colour
    return levels


class ImageGrid(pg.GraphicsView):
    tileClicked = Signal(int, int, int)
    tileHovered = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None, tile_px: int = 48) -> None:
        # pyqtgraph resizes the view inside its own __init__, before ours has run.
        self.count = 0
        palette = parent.palette() if parent is not None else QPalette()
        self._bg = palette.color(QPalette.ColorRole.Base)
        self._fg = palette.color(QPalette.ColorRole.Text)
        super().__init__(parent, background=self._bg)
        self.tile_px = tile_px
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self._view.setMouseEnabled(False, False)
        self.setCentralItem(self._view)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._view.addItem(self._image)
        self._highlight = QGraphicsRectItem()
        pen = QPen(QColor(*colormaps.HIGHLIGHT))
        pen.setCosmetic(True)
        pen.setWidthF(2.5)
        self._highlight.setPen(pen)
        self._highlight.setZValue(10)
        self._highlight.hide()
        self._view.addItem(self._highlight, ignoreBounds=True)
        self._captions: list[pg.TextItem] = []
        self._values: list[pg.TextItem] = []
        self._value_count = 0
        self._caption_count = 0
        # Layout of the current mosaic, in image pixels.
        self.tile_shape = (0, 0)
        self.grid_shape = (0, 0)
        self._cell = (1, 1)  # (height, width) of one cell: tile + border + gap + caption rows
        self._origin = np.zeros((0, 2), dtype=int)  # (N, 2) top-left (y, x) of each tile
        self._levels = np.zeros((0, 2))
        self._tiles: np.ndarray | None = None
        self._options: dict = {}
        self._auto_columns = False
        self._relayout = QTimer(self)
        self._relayout.setSingleShot(True)
        self._relayout.setInterval(60)
        self._relayout.timeout.connect(self._on_resized)
        self._hover_index = -1
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)

    def set_colors(self, background: QColor, foreground: QColor) -> None:
        """Follow a theme change: paper and text colours (the mosaic is recomposed)."""
        self._bg, self._fg = QColor(background), QColor(foreground)
        self.setBackground(self._bg)
        self._compose()

    # -- content ------------------------------------------------------------------------------------
    def set_tiles(
        self,
        tiles: np.ndarray,
        *,
        columns: int | None = None,
        cmap: str = "viridis",
        scale: Scale = "shared",
        captions: Sequence[str] | None = None,
        caption_colors: Sequence[tuple[int, int, int]] | None = None,
        borders: Sequence[tuple[int, int, int] | None] | None = None,
        caption_lines: int = 0,
        values: bool = False,
        value_format: str = "{:.2f}",
    ) -> None:
        tiles = np.asarray(tiles, dtype=np.float32)
        if tiles.ndim == 2:
            tiles = tiles[None]
        if tiles.ndim != 3:
            raise ValueError(f"tiles must be (N, h, w), got shape {tiles.shape}")
        self._tiles = tiles
        self._auto_columns = columns is None
        self._options = dict(
            columns=columns,
            cmap=cmap,
            scale=scale,
            captions=list(captions) if captions is not None else None,
            caption_colors=list(caption_colors) if caption_colors is not None else None,
            borders=list(borders) if borders is not None else None,
            caption_lines=caption_lines,
            values=values,
            value_format=value_format,
        )
        self._compose()

    def clear(self) -> None:
        self._tiles = None
        self.count = 0
        self._image.clear()
        self._highlight.hide()
        self._hide_text(self._captions, 0)
        self._hide_text(self._values, 0)
        self._caption_count = self._value_count = 0

    def levels(self, index: int) -> tuple[float, float]:
        lo, hi = self._levels[index]
        return float(lo), float(hi)

    def rgb(self) -> np.ndarray | None:
        """The composed mosaic (H, W, 3) uint8, as shown."""
        return self._image.image

    def tile_rect(self, index: int) -> QRectF:
        y, x = self._origin[index]
        h, w = self.tile_shape
        return QRectF(float(x), float(y), float(w), float(h))

    def set_highlight(self, index: int | None, pixel: tuple[int, int] | None = None) -> None:
        if index is None or not 0 <= index < self.count:
            self._highlight.hide()
            return
        rect = self.tile_rect(index)
        if pixel is not None:
            rect = QRectF(rect.x() + pixel[1], rect.y() + pixel[0], 1.0, 1.0)
        else:
            rect.adjust(-0.5, -0.5, 0.5, 0.5)
        self._highlight.setRect(rect)
        self._highlight.show()

    def set_region(self, index: int, top: int, left: int, bottom: int, right: int) -> None:
        """Frame rows top..bottom and columns left..right (inclusive) of one tile."""
        if not 0 <= index < self.count:
            self._highlight.hide()
            return
        rect = self.tile_rect(index)
        self._highlight.setRect(QRectF(rect.x() + left, rect.y() + top, right - left + 1, bottom - top + 1))
        self._highlight.show()

    def click_tile(self, index: int, row: int = 0, col: int = 0) -> None:
        self.tileClicked.emit(int(index), int(row), int(col))

    def tile_at(self, x: float, y: float) -> tuple[int, int, int] | None:
        """The tile and the pixel inside it at image coordinates (x, y), or None."""
        if not self.count:
            return None
        ch, cw = self._cell
        rows, cols = self.grid_shape
        gy, gx = int(y // ch), int(x // cw)
        if not (0 <= gy < rows and 0 <= gx < cols):
            return None
        index = gy * cols + gx
        if index >= self.count:
            return None
        oy, ox = self._origin[index]
        r, c = math.floor(y - oy), math.floor(x - ox)
        h, w = self.tile_shape
        if 0 <= r < h and 0 <= c < w:
            return index, r, c
        return None

    def map_to_widget(self, index: int, row: float = 0.5, col: float = 0.5):
        """Widget (viewport) coordinates of a point inside a tile: where a click would land."""
        rect = self.tile_rect(index)
        scene = self._view.mapViewToScene(QPointF(rect.x() + col, rect.y() + row))
        return self.mapFromScene(scene)

    def preferred_height(self, width: int) -> int:
        """The height that shows the mosaic at ``width`` without empty bands."""
        image = self._image.image
        if image is None or not self.count:
            return 0
        return math.ceil(width * image.shape[0] / image.shape[1])

    def sizeHint(self):  # Qt's name
        size = super().sizeHint()
        if self.count:
            h, w = self.tile_shape
            rows, cols = self.grid_shape
            ch, cw = self._cell
            k = self.tile_px / max(h, w)
            size.setWidth(int(cols * cw * k))
            size.setHeight(int(rows * ch * k))
        return size

    # -- composing ----------------------------------------------------------------------------------
    def _choose_columns(self, n: int, cell_h: float, cell_w: float) -> int:
        vw, vh = max(self.viewport().width(), 1), max(self.viewport().height(), 1)
        best, best_scale = 1, -1.0
        for cols in range(1, n + 1):
            rows = -(-n // cols)
            s = min(vw / (cols * cell_w), vh / (rows * cell_h))
            if s > best_scale + 1e-9:
                best, best_scale = cols, s
        return best

    def _compose(self) -> None:
        tiles, o = self._tiles, self._options
        if tiles is None:
            return
        n, h, w = tiles.shape
        self.count, self.tile_shape = n, (h, w)
        if n == 0:
            self.clear()
            return
        size = max(h, w)
        border = max(1, round(size * 0.07)) if o["borders"] is not None else 0
        gap = max(1, round(size * 0.12))
        caption_h = math.ceil(o["caption_lines"] * max(size * 0.24, 4))
        cell_h, cell_w = h + 2 * border + gap + caption_h, w + 2 * border + gap
        cols = o["columns"] or self._choose_columns(n, cell_h, cell_w)
        cols = max(1, min(cols, n))
        rows = -(-n // cols)
        self.grid_shape, self._cell = (rows, cols), (cell_h, cell_w)

        symmetric = colormaps.is_symmetric(o["cmap"])
        self._levels = tile_levels(tiles, o["scale"], symmetric)
        lo = self._levels[:, :1, None]
        span = (self._levels[:, 1] - self._levels[:, 0])[:, None, None]
        with np.errstate(invalid="ignore"):
            index = np.clip((tiles - lo) * (255.0 / span), 0, 255)
        nan = ~np.isfinite(index)
        coloured = colormaps.lut(o["cmap"])[np.nan_to_num(index, nan=0.0).astype(np.uint8)]
        bg = np.array([self._bg.red(), self._bg.green(), self._bg.blue()], dtype=np.uint8)
        coloured[nan] = bg

        canvas = np.empty((rows * cell_h, cols * cell_w, 3), dtype=np.uint8)
        canvas[...] = bg
        origin = np.zeros((n, 2), dtype=int)
        half = gap // 2
        for i in range(n):
            gy, gx = divmod(i, cols)
            y0, x0 = gy * cell_h + half + border, gx * cell_w + half + border
            origin[i] = (y0, x0)
            if border and o["borders"][i] is not None:
                canvas[y0 - border : y0 + h + border, x0 - border : x0 + w + border] = o["borders"][i]
            canvas[y0 : y0 + h, x0 : x0 + w] = coloured[i]
        self._origin = origin
        self._image.setImage(canvas, autoLevels=False, levels=(0, 255))
        self._image.setRect(QRectF(0, 0, canvas.shape[1], canvas.shape[0]))
        self._view.setRange(QRectF(0, 0, canvas.shape[1], canvas.shape[0]), padding=0.0)
        self._place_captions()
        self._place_values()
        self._fit_text()
        self.updateGeometry()

    def _place_captions(self) -> None:
        o = self._options
        captions = o["captions"] or []
        colors = o["caption_colors"]
        h, w = self.tile_shape
        border = 0 if o["borders"] is None else max(1, round(max(h, w) * 0.07))
        for i, text in enumerate(captions[: self.count]):
            item = self._text_item(self._captions, i, anchor=(0.5, 0.0))
            y0, x0 = self._origin[i]
            item.setText(text)
            item.setColor(QColor(*colors[i]) if colors is not None else self._fg)
            item.setPos(x0 + w / 2, y0 + h + border)
            item.show()
        self._caption_count = min(len(captions), self.count)
        self._hide_text(self._captions, self._caption_count)

    def _place_values(self) -> None:
        o = self._options
        tiles = self._tiles
        h, w = self.tile_shape
        count = 0
        if o["values"] and tiles is not None:
            fmt = o["value_format"]
            for i in range(self.count):
                y0, x0 = self._origin[i]
                lo, hi = self._levels[i]
                for r in range(h):
                    for c in range(w):
                        v = float(tiles[i, r, c])
                        if not math.isfinite(v):
                            continue
                        item = self._text_item(self._values, count, anchor=(0.5, 0.5))
                        item.setText(fmt.format(v))
                        item.setColor(self._ink_for(o["cmap"], (v - lo) / (hi - lo)))
                        item.setPos(x0 + c + 0.5, y0 + r + 0.5)
                        item.show()
                        count += 1
        self._value_count = count
        self._hide_text(self._values, count)

    @staticmethod
    def _ink_for(cmap: str, t: float) -> QColor:
        r, g, b = (int(v) for v in colormaps.lut(cmap)[int(np.clip(t * 255, 0, 255))])
        light = 0.299 * r + 0.587 * g + 0.114 * b > 140
        return QColor(0, 0, 0) if light else QColor(255, 255, 255)

    def _text_item(self, pool: list[pg.TextItem], i: int, anchor) -> pg.TextItem:
        while len(pool) <= i:
            item = pg.TextItem(anchor=anchor)
            item.setZValue(5)
            self._view.addItem(item, ignoreBounds=True)
            pool.append(item)
        return pool[i]

    @staticmethod
    def _hide_text(pool: list[pg.TextItem], start: int) -> None:
        for item in pool[start:]:
            item.hide()

    def _screen_scale(self) -> float:
        image = self._image.image
        if image is None:
            return 1.0
        vw, vh = max(self.viewport().width(), 1), max(self.viewport().height(), 1)
        return min(vw / image.shape[1], vh / image.shape[0])

    def _fit_text(self) -> None:
        """Size fonts to the zoom: a caption line fits its rows, a value fits its pixel."""
        s = self._screen_scale()
        h, w = self.tile_shape
        lines = self._options.get("caption_lines", 0)
        if self._caption_count and lines:
            px = int(min(13, max(1, max(h, w) * 0.24 * s * 0.85)))
            font = QFont()
            font.setPixelSize(max(px, 1))
            for item in self._captions[: self._caption_count]:
                item.setFont(font)
                item.setVisible(px >= 6)
        if self._value_count:
            px = int(min(12, s * 0.28))
            font = QFont()
            font.setPixelSize(max(px, 1))
            for item in self._values[: self._value_count]:
                item.setFont(font)
                item.setVisible(px >= 6)

    # -- events -------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # Qt's name
        super().resizeEvent(event)
        if self.count:
            self._relayout.start()

    def _on_resized(self) -> None:
        if self._auto_columns and self._tiles is not None:
            self._compose()
        else:
            image = self._image.image
            if image is not None:
                self._view.setRange(QRectF(0, 0, image.shape[1], image.shape[0]), padding=0.0)
            self._fit_text()

    def _locate(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if not self.count:
            return None
        p = self._view.mapSceneToView(scene_pos)
        return self.tile_at(p.x(), p.y())

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        hit = self._locate(event.scenePos())
        if hit is not None:
            event.accept()
            self.tileClicked.emit(*hit)

    def _on_move(self, scene_pos: QPointF) -> None:
        hit = self._locate(scene_pos)
        index = hit[0] if hit else -1
        if hit is not None:
            self.tileHovered.emit(*hit)
        elif self._hover_index != -1:
            self.tileHovered.emit(-1, -1, -1)
        self._hover_index = index
