"""``ViewFrame``: a view with a header that says what it shows, and a help button for the longer story.

Every view in a workspace sits in one: a bold title, a line saying what the learner is looking at, and a
"?" button that unfolds two or three sentences on how to read it. The texts come from the view's entry in
``app.workspaces``; the frame adds no behaviour to the view itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget


def wrapping_label(text: str = "", role: str = "") -> QLabel:
    """A label that wraps within whatever width it is given and never asks for more."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
    label.setMinimumWidth(1)
    if role:
        label.setProperty("role", role)
    return label


class ViewFrame(QWidget):
    def __init__(self, key: str, title: str, about: str, help_text: str, view: QWidget) -> None:
        super().__init__()
        self.key = key
        self.view = view
        self.setObjectName(f"view-{key}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        header = QHBoxLayout()
        header.setContentsMargins(6, 2, 4, 0)
        self.title = QLabel(title)
        self.title.setProperty("role", "heading")
        self.about = wrapping_label(about, "muted")
        self.help_button = QToolButton()
        self.help_button.setText("?")
        self.help_button.setCheckable(True)
        self.help_button.setToolTip(f"How to read the {title} view")
        self.help_button.setAccessibleName(f"Help: {title}")
        self.help_button.toggled.connect(self._toggle_help)
        header.addWidget(self.title, 1)
        about_row = QHBoxLayout()
        about_row.setContentsMargins(6, 0, 4, 0)
        about_row.addWidget(self.about, 1)
        about_row.addWidget(self.help_button, 0, Qt.AlignTop)
        self.help = wrapping_label(help_text)
        self.help.setObjectName("ViewHelp")
        self.help.setProperty("notice", "info")
        self.help.setContentsMargins(8, 6, 8, 6)
        self.help.setTextFormat(Qt.PlainText)
        self.help.hide()
        layout.addLayout(header)
        layout.addLayout(about_row)
        layout.addWidget(self.help)
        layout.addWidget(view, 1)
        self.help_button.setVisible(bool(help_text))

    def set_in_tab(self, in_tab: bool) -> None:
        """In a tab the tab names the view: the frame keeps only the line saying what it shows."""
        self.title.setVisible(not in_tab)

    def _toggle_help(self, on: bool) -> None:
        self.help.setVisible(on)
