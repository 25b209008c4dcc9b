"""The Lesson panel: the steps of the seed lesson, the current one's text, and a button that sets it up."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.lesson.steps import STEPS, Step
from cnnlab.app.widgets.view_frame import wrapping_label


class LessonPanel(QWidget):
    """``stepChanged(index)`` when another step is shown; ``setupRequested(step)`` when its button is
    pressed (the window carries the setup out)."""

    stepChanged = Signal(int)
    setupRequested = Signal(object)
    closeRequested = Signal()

    def __init__(self, steps: tuple[Step, ...] = STEPS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LessonPanel")
        self.steps = steps
        self.index = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        top = QHBoxLayout()
        heading = QLabel("Lesson")
        heading.setProperty("role", "heading")
        self.position = QLabel()
        self.position.setProperty("role", "muted")
        close = QPushButton("Hide")
        close.setToolTip("Hide the lesson (F2 shows it again)")
        close.clicked.connect(self.closeRequested)
        top.addWidget(heading)
        top.addWidget(self.position, 1)
        top.addWidget(close)
        layout.addLayout(top)

        self.list = QListWidget()
        self.list.setObjectName("LessonSteps")
        for i, step in enumerate(steps):
            item = QListWidgetItem(f"{i}. {step.title}" if i else step.title)
            item.setToolTip(step.text)
            self.list.addItem(item)
        self.list.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Expanding)
        self.list.setMinimumHeight(120)
        self.list.currentRowChanged.connect(self._on_row)
        layout.addWidget(self.list, 2)

        self.title = wrapping_label("", "heading")
        self.text = wrapping_label()
        self.text.setTextFormat(Qt.PlainText)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.setup_button = QPushButton()
        self.setup_button.setProperty("primary", True)
        self.setup_button.clicked.connect(lambda: self.setupRequested.emit(self.current()))
        self.result = wrapping_label("", "muted")
        layout.addWidget(self.title)
        layout.addWidget(self.text, 3)
        layout.addWidget(self.setup_button)
        layout.addWidget(self.result)

        nav = QHBoxLayout()
        self.back = QPushButton("Back")
        self.back.setToolTip("The previous step")
        self.back.clicked.connect(lambda: self.show_step(self.index - 1))
        self.next = QPushButton("Next")
        self.next.setToolTip("The next step")
        self.next.clicked.connect(lambda: self.show_step(self.index + 1))
        nav.addWidget(self.back)
        nav.addStretch(1)
        nav.addWidget(self.next)
        layout.addLayout(nav)
        self.setMinimumWidth(196)
        self.show_step(0)

    def current(self) -> Step:
        return self.steps[self.index]

    def show_step(self, index: int) -> None:
        index = max(0, min(int(index), len(self.steps) - 1))
        changed = index != self.index
        self.index = index
        step = self.steps[index]
        if self.list.currentRow() != index:
            self.list.setCurrentRow(index)
        self.position.setText(f"step {index} of {len(self.steps) - 1}" if index else "start here")
        self.title.setText(step.title)
        self.text.setText(step.text)
        self.setup_button.setText(step.button)
        self.setup_button.setToolTip(f"Set the lab up for this step: {step.button.lower()}")
        self.result.setText("")
        self.back.setEnabled(index > 0)
        self.next.setEnabled(index < len(self.steps) - 1)
        if changed:
            self.stepChanged.emit(index)

    def set_result(self, text: str) -> None:
        """What the setup did, in a line (or why it could not)."""
        self.result.setText(text)

    def _on_row(self, row: int) -> None:
        if row >= 0 and row != self.index:
            self.show_step(row)


SetupFunction = Callable[[], str]
