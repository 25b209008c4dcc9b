"""``Banner``: a message across the top of the window: readable, dismissable, with details on request.

Each message has a *topic* ("data", "training", "checkpoint", ...). When the thing it was about is put
right (the data loaded after all, a new run started), the window clears that topic, so a stale error
never stays on screen after it stopped being true.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QSizePolicy, QWidget


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorBanner")
        self.setProperty("notice", "error")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # Long messages wrap inside the window's width instead of widening the window.
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.details_button = QPushButton("Details...")
        self.details_button.setToolTip("Show the full technical report (for a bug report).")
        self.details_button.clicked.connect(self._show_details)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this message.")
        self.dismiss_button.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button, 0, Qt.AlignVCenter)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignVCenter)
        self.details = ""
        self.topic = ""
        self.level = "error"
        self._box: QMessageBox | None = None
        self.hide()

    def show_message(self, message: str, details: str = "", level: str = "error", topic: str = "") -> None:
        self.level, self.topic = level, topic
        self.setProperty("notice", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(message)
        self.details = details
        self.details_button.setVisible(bool(details))
        self.show()

    def clear(self, topic: str | None = None) -> None:
        """Hide the message (only if it is about ``topic``, when one is given)."""
        if topic is None or self.topic == topic:
            self.hide()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def _show_details(self) -> None:
        box = QMessageBox(QMessageBox.Warning, "cnnlab: details", self.label.text(), QMessageBox.Close, self)
        box.setDetailedText(self.details)
        box.open()  # not exec(): the window keeps running (and training) while it is open
        self._box = box
