"""``ModeBar``: the column of workspace buttons on the window's left edge (one click, or Ctrl+1..9).

Like an IDE's mode selector: the learner always sees every place the lab has, none is ever behind a
scroll arrow, and the current one is highlighted.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QSizePolicy, QToolButton, QVBoxLayout, QWidget


class ModeBar(QWidget):
    chosen = Signal(str)  # a workspace key

    WIDTH = 92

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModeBar")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 6, 4, 6)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}
        self.setFixedWidth(self.WIDTH)

    def add_mode(self, key: str, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName(f"mode-{key}")
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(True)
        button.setToolButtonStyle(Qt.ToolButtonTextOnly)
        button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        button.setMinimumHeight(44)
        button.clicked.connect(lambda _=False, k=key: self.chosen.emit(k))
        self._group.addButton(button)
        self._layout.insertWidget(self._layout.count() - 1, button)
        self.buttons[key] = button
        return button

    def add_bottom(self, button: QToolButton) -> None:
        """A button below the modes (the lesson toggle), not part of the exclusive group."""
        button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        button.setMinimumHeight(40)
        self._layout.addWidget(button)

    def set_current(self, key: str) -> None:
        button = self.buttons.get(key)
        if button is not None and not button.isChecked():
            button.setChecked(True)
