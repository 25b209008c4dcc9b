"""The computation behind one convolution unit, drawn large: input patch, filter, their products, the sum.

Opened from the feature-map view (click the small patch, filter or products, or Enlarge). Every pixel
carries its value, each row has a colour scale, and the sum is written out, so the learner can follow
the unit's value by hand: the products of patch and filter, added up per input channel, plus the bias.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.engine import UnitExplanation

TILE_PX = 150


def symmetric(a: np.ndarray) -> tuple[float, float]:
    reach = float(np.abs(a).max()) if a.size else 0.0
    reach = reach if reach > 0 else 1.0
    return -reach, reach


class UnitBreakdownDialog(QDialog):
    def __init__(
        self, parent: QWidget, ex: UnitExplanation, order: np.ndarray, sum_html: str, conv_name: str
    ) -> None:
        super().__init__(parent)
        c, y, x = ex.unit if len(ex.unit) == 3 else (ex.unit[0], 0, 0)
        self.setWindowTitle(f"How {ex.layer} unit (channel {c + 1}, row {y + 1}, column {x + 1}) is computed")
        order = np.asarray(order)
        columns = min(len(order), 4)
        captions = [f"input channel {i + 1}" for i in order]
        rows = (
            ("Input patch", ex.patch[order], "viridis", (float(ex.patch.min()), float(ex.patch.max()))),
            (f"Filter {c + 1} of {conv_name}", ex.kernel[order], "diverging", symmetric(ex.kernel)),
            ("Patch x filter", ex.products[order], "diverging", symmetric(ex.products)),
        )
        body = QWidget()
        grid = QGridLayout(body)
        self.grids: list[ImageGrid] = []
        for r, (title, tiles, cmap, (lo, hi)) in enumerate(rows):
            label = QLabel(f"<b>{title}</b>")
            image = ImageGrid(body, tile_px=TILE_PX)
            image.set_tiles(
                tiles, columns=columns, cmap=cmap, scale=(lo, hi), values=True, captions=captions,
                caption_lines=1,
            )  # fmt: skip
            tiles_high = -(-len(order) // columns)
            image.setMinimumSize(columns * (TILE_PX + 8), tiles_high * (TILE_PX + 30))
            scale = ColorScale("value", cmap)
            scale.set_range(lo, hi)
            grid.addWidget(label, 3 * r, 0)
            grid.addWidget(image, 3 * r + 1, 0)
            grid.addWidget(scale, 3 * r + 2, 0)
            self.grids.append(image)
        total = QLabel(sum_html)
        total.setTextFormat(Qt.TextFormat.RichText)
        total.setWordWrap(True)
        total.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(total, 9, 0)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(area, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        screen = parent.screen().availableGeometry() if parent.screen() is not None else None
        width = columns * (TILE_PX + 8) + 60
        height = 3 * (TILE_PX + 90) + 160
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 60)
        self.resize(width, height)
