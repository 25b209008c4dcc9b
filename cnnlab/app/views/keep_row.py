"""``KeepRow``: under the drawing pad, keep what was drawn as one of your digits, with its true label.

One click on a digit button (or the digit's key while the pad has the keyboard focus) saves the drawing,
MNIST-style 28x28 as the network sees it plus the strokes, into your digits collection, and clears the
pad for the next one. The row shows how many of each digit you have and the last few kept; Undo takes
the last one back.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.app.widgets.view_frame import wrapping_label

SHOWN_RECENT = 8


class KeepRow(QWidget):
    keepRequested = Signal(int)  # the true label of what is on the pad
    undoRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KeepRow")
        title = wrapping_label("Keep this drawing as one of your digits:", "heading")
        buttons = FlowLayout(spacing=3)
        self.buttons: list[QToolButton] = []
        for digit in range(10):
            button = QToolButton()
            button.setText(str(digit))
            button.setToolTip(
                f"Save the drawing as a {digit} in your digits (or press {digit} while the pad has the focus)"
            )
            button.setMinimumWidth(28)
            button.clicked.connect(lambda _=False, d=digit: self.keepRequested.emit(d))
            buttons.addWidget(button)
            self.buttons.append(button)
        self.undo = QPushButton("Undo keep")
        self.undo.setToolTip("Take the last kept drawing out of your digits again")
        self.undo.clicked.connect(self.undoRequested)
        self.undo.setEnabled(False)
        buttons.addWidget(self.undo)
        self.counts = wrapping_label("", "muted")
        self.counts.setToolTip(
            "Your own digits become a dataset (Data > Your digits) to test and train the network on."
        )
        self.recent = ImageGrid(self, tile_px=36)
        self.recent.setFixedHeight(62)
        self.recent.setMinimumWidth(60)  # the strip shows what fits; it must not widen the pad's column
        self.recent.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.recent.setToolTip("The digits you kept last, newest on the right")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(title)
        layout.addLayout(buttons)
        row = QHBoxLayout()
        row.addWidget(self.counts, 1)
        layout.addLayout(row)
        layout.addWidget(self.recent)
        self.show_state(None)

    def set_can_keep(self, can: bool) -> None:
        for button in self.buttons:
            button.setEnabled(can)

    def show_state(self, state) -> None:
        """The collection as it is now (a ``MineState``), or None before it has been read."""
        if state is None or not len(state):
            self.counts.setText("None kept yet: draw a digit, then press its number.")
            self.recent.clear()
            self.recent.hide()  # an empty strip would only take the pad's height on a laptop screen
            self.undo.setEnabled(False)
            return
        counts = state.counts()
        per_class = "  ".join(f"{d}: {int(n)}" for d, n in enumerate(counts))
        self.counts.setText(f"{len(state):,} kept · {per_class}")
        self.recent.show()
        images = state.images[-SHOWN_RECENT:]
        labels = state.labels[-SHOWN_RECENT:]
        self.recent.set_tiles(
            images.astype(np.float32) / 255.0,
            columns=SHOWN_RECENT,
            cmap="grey",
            scale=(0.0, 1.0),
            captions=[str(int(v)) for v in labels],
            caption_lines=1,
        )
        self.undo.setEnabled(bool(state.undo))
