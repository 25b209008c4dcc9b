"""The window's small dialogs: keyboard shortcuts and About. Both are non-modal (training goes on)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnlab import __version__
from cnnlab.app.actions import shortcut_rows


def shortcuts_dialog(parent: QWidget) -> tuple[QDialog, QTableWidget]:
    dialog = QDialog(parent)
    dialog.setWindowTitle("Keyboard shortcuts")
    layout = QVBoxLayout(dialog)
    rows = shortcut_rows()
    table = QTableWidget(len(rows), 3)
    table.setHorizontalHeaderLabels(["Keys", "Command", "What it does"])
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.setWordWrap(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
    header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
    header.setSectionResizeMode(2, QHeaderView.Stretch)
    table.resizeRowsToContents()
    note = QLabel(
        "Single-key shortcuts work wherever the keyboard focus is, except while you type in a text or "
        "number field: press Enter or Tab to finish typing. Esc in the drawing pad clears the pad."
    )
    note.setWordWrap(True)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(table)
    layout.addWidget(note)
    layout.addWidget(buttons)
    screen = parent.screen().availableGeometry() if parent.screen() is not None else None
    width = min(760, screen.width() - 40) if screen is not None else 760
    height = min(520, screen.height() - 80) if screen is not None else 520
    dialog.resize(width, height)
    dialog.show()
    return dialog, table


def about_box(parent: QWidget) -> QMessageBox:
    text = (
        f"<b>cnnlab {__version__}</b><br>A desktop lab for watching a convolutional network written "
        "from scratch in NumPy learn to read digits.<br><br>MNIST: Yann LeCun, Corinna Cortes and "
        "Christopher J. C. Burges (CC BY-SA 3.0). Fashion-MNIST: Zalando SE (MIT).<br>"
        "Built with PySide6 (Qt) and pyqtgraph."
    )
    box = QMessageBox(QMessageBox.Information, "About cnnlab", text, QMessageBox.Close, parent)
    box.open()
    return box
