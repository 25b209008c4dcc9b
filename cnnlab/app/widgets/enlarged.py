"""``EnlargedImage``: a small image shown big, pixel by pixel, with its colour scale and optional overlay.

The explanation views draw 28x28 inputs, 3x3 patches and filters at a size that fits beside everything
else; a click opens them here, large enough to read each pixel. Non-modal: training goes on.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from cnnlab.app.widgets.color_scale import ColorScale


class EnlargedImage(QDialog):
    def __init__(
        self,
        parent: QWidget,
        title: str,
        image: np.ndarray,
        *,
        levels: tuple[float, float] = (0.0, 1.0),
        lut: np.ndarray | None = None,
        overlay: np.ndarray | None = None,
        scale: ColorScale | None = None,
        caption: str = "",
        side_px: int = 420,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        view = pg.GraphicsView(background=self.palette().color(QPalette.ColorRole.Base))
        box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        box.setMouseEnabled(False, False)
        view.setCentralItem(box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setImage(np.asarray(image, dtype=np.float32), levels=levels)
        if lut is not None:
            self.image_item.setLookupTable(lut)
        box.addItem(self.image_item)
        self.overlay_item = None
        if overlay is not None:
            self.overlay_item = pg.ImageItem(axisOrder="row-major")
            self.overlay_item.setImage(overlay, levels=(0, 255))
            self.overlay_item.setZValue(1)
            box.addItem(self.overlay_item)
        h, w = np.shape(image)[:2]
        box.setRange(QRectF(0, 0, w, h), padding=0.0)
        screen = parent.screen().availableGeometry() if parent.screen() is not None else None
        side = min(side_px, screen.height() - 220) if screen is not None else side_px
        view.setMinimumSize(max(side, 160), max(side, 160))
        layout.addWidget(view, 1)
        self.scale = ColorScale(caption or "value")
        if scale is not None:
            self.scale.caption = scale.caption
            self.scale.lut_name = scale.lut_name
            self.scale._rgba = scale._rgba
            self.scale.set_range(scale.lo, scale.hi)
        else:
            self.scale.set_range(*levels, "grey" if lut is None else None)
        layout.addWidget(self.scale)
        if caption and scale is not None:
            layout.addWidget(QLabel(caption))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
