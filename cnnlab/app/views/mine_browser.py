"""Your digits: browse the drawings you kept, fix their labels, delete, import and export them, and measure
and fine-tune the network on them.

The view shows an ``app.collection.Collection`` (the learner's own digits, ``cnnlab.data.mine``); every
change goes through it (saved off the GUI thread) and comes back as the collection's new state. Measuring
and fine-tuning are the window's (``measureRequested``, ``fineTuneRequested``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.app.widgets.view_frame import wrapping_label

PAGE = 120


class MineBrowser(QWidget):
    measureRequested = Signal()
    fineTuneRequested = Signal(float, int, float)  # share of MNIST in each batch, epochs, learning rate
    importRequested = Signal(str)  # a folder of PNG/JPEG pictures
    exportRequested = Signal(str, str)  # a folder, the layout ("by-label" or "named")

    def __init__(self, collection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.collection = collection
        self.state = None
        self.page = 0
        self.selected: int | None = None  # a sample id
        self._shown_ids = np.zeros(0, dtype=np.int64)

        self.summary = wrapping_label("")
        self.grid = ImageGrid(self, tile_px=44)
        self.grid.setMinimumSize(240, 200)
        self.grid.tileClicked.connect(lambda tile, row, col: self._on_tile(tile))
        self.prev = QPushButton("◀")
        self.prev.setToolTip("Previous page")
        self.prev.clicked.connect(lambda: self.show_page(self.page - 1))
        self.next = QPushButton("▶")
        self.next.setToolTip("Next page")
        self.next.clicked.connect(lambda: self.show_page(self.page + 1))
        self.page_label = QLabel()
        self.only = QComboBox()
        self.only.addItem("All your digits", -1)
        for digit in range(10):
            self.only.addItem(f"Only {digit}s", digit)
        self.only.setToolTip("Show all your digits, or one class")
        self.only.currentIndexChanged.connect(lambda _: self.show_page(0))
        paging = FlowLayout(spacing=6)
        for w in (self.only, self.prev, self.page_label, self.next):
            paging.addWidget(w)

        self.detail = wrapping_label("Click a digit to relabel or delete it.")
        self.relabel_buttons: list[QToolButton] = []
        relabel = FlowLayout(spacing=3)
        relabel.addWidget(QLabel("Relabel as:"))
        for digit in range(10):
            button = QToolButton()
            button.setText(str(digit))
            button.setToolTip(f"This drawing is really a {digit}")
            button.clicked.connect(lambda _=False, d=digit: self.relabel_selected(d))
            relabel.addWidget(button)
            self.relabel_buttons.append(button)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove this drawing from your digits (Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        relabel.addWidget(self.delete_button)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self, self.delete_selected, Qt.WidgetWithChildrenShortcut)

        files = FlowLayout(spacing=6)
        self.import_button = QPushButton("Import folder…")
        self.import_button.setToolTip(
            "Add the PNG/JPEG pictures of a folder: labels from subfolders named 0-9 or names ending in _D"
        )
        self.import_button.clicked.connect(self._choose_import)
        self.export_button = QPushButton("Export folder…")
        self.export_button.setToolTip("Write your digits as PNGs sorted by label, plus the IDX pair")
        self.export_button.clicked.connect(self._choose_export)
        self.undo_button = QPushButton("Undo last keep")
        self.undo_button.setToolTip("Take the last kept drawing (or imported folder) out again")
        self.undo_button.clicked.connect(collection.undo_last)
        for w in (self.import_button, self.export_button, self.undo_button):
            files.addWidget(w)

        use = QGroupBox("Test and fine-tune")
        form = QFormLayout(use)
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        self.measure_button = QPushButton("Test the network on your digits")
        self.measure_button.setToolTip("Test results on your digits: accuracy, confusion, mistakes")
        self.measure_button.clicked.connect(self.measureRequested)
        self.share = QDoubleSpinBox()
        self.share.setRange(0.5, 0.95)
        self.share.setSingleStep(0.05)
        self.share.setValue(0.9)
        self.share.setToolTip(
            "The share of each batch that comes from MNIST, so the network does not forget it while it "
            "learns your handwriting"
        )
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setValue(5)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 0.5)
        self.lr.setValue(0.02)
        self.finetune_button = QPushButton("Fine-tune the network")
        self.finetune_button.setProperty("primary", True)
        self.finetune_button.setToolTip(
            "Train the network the views show further, on your digits mixed with MNIST; the held-out fifth "
            "of your digits and MNIST's test set measure the effect"
        )
        self.finetune_button.clicked.connect(
            lambda: self.fineTuneRequested.emit(self.share.value(), self.epochs.value(), self.lr.value())
        )
        form.addRow(self.measure_button)
        form.addRow("MNIST share", self.share)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow(self.finetune_button)
        self.before_after = wrapping_label("", "")
        self.before_after.setTextFormat(Qt.RichText)
        form.addRow(self.before_after)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.summary)
        left_layout.addLayout(paging)
        left_layout.addWidget(self.grid, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self.detail)
        right_layout.addLayout(relabel)
        right_layout.addLayout(files)
        right_layout.addWidget(use)
        right_layout.addStretch(1)
        right.setMinimumWidth(240)
        split = AdaptiveSplitter(520)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        collection.changed.connect(self.show_state)
        collection.failed.connect(self.detail.setText)
        self.show_state(collection.state)

    # -- showing -------------------------------------------------------------------------------------
    def show_state(self, state) -> None:
        self.state = state
        empty = state is None or not len(state)
        for w in (self.measure_button, self.finetune_button, self.export_button):
            w.setEnabled(not empty)
        self.undo_button.setEnabled(state is not None and bool(state.undo))
        if empty:
            self.summary.setText(
                "No digits of your own yet. Draw one on the pad (Look inside) and press its number to keep "
                "it, or import a folder of pictures."
            )
        else:
            counts = state.counts()
            held = int(state.test_mask.sum())
            self.summary.setText(
                f"<b>{len(state):,} digits</b> ({held:,} held out for testing, marked ·t) · "
                + "  ".join(f"{d}: {int(n)}" for d, n in enumerate(counts))
            )
        if self.selected is not None and (empty or self.selected not in set(state.ids.tolist())):
            self.selected = None
        self.show_page(self.page)

    def _filtered(self) -> np.ndarray:
        """Indices (into the state) of the digits shown, in the order kept."""
        if self.state is None or not len(self.state):
            return np.zeros(0, dtype=np.int64)
        digit = self.only.currentData()
        every = np.arange(len(self.state))
        return every if digit is None or digit < 0 else every[self.state.labels == digit]

    def show_page(self, page: int) -> None:
        shown = self._filtered()
        pages = max(1, -(-len(shown) // PAGE))
        self.page = int(np.clip(page, 0, pages - 1))
        self.page_label.setText(f"page {self.page + 1} of {pages}")
        self.prev.setEnabled(self.page > 0)
        self.next.setEnabled(self.page < pages - 1)
        part = shown[self.page * PAGE : (self.page + 1) * PAGE]
        if not len(part):
            self.grid.clear()
            self._shown_ids = np.zeros(0, dtype=np.int64)
            self._show_detail()
            return
        state = self.state
        ids = state.ids[part]
        self._shown_ids = ids
        held = state.test_mask[part]
        captions = [
            f"{int(lab)}{' ·t' if h else ''}" for lab, h in zip(state.labels[part], held, strict=True)
        ]
        self.grid.set_tiles(
            state.images[part].astype(np.float32) / 255.0,
            cmap="grey",
            scale=(0.0, 1.0),
            captions=captions,
            caption_lines=1,
        )
        self._show_detail()

    def _show_detail(self) -> None:
        has = self.selected is not None and self.state is not None
        for w in (*self.relabel_buttons, self.delete_button):
            w.setEnabled(has)
        if not has:
            self.grid.set_highlight(None)
            self.detail.setText("Click a digit to relabel or delete it.")
            return
        sample = self.state.sample(self.selected)
        where = "held out for testing" if sample.held_out else "used for training"
        self.detail.setText(
            f"<b>Digit #{sample.id}</b>: labelled {sample.label}, kept from the {sample.source} "
            f"({sample.created[:16].replace('T', ' ')}), {where}."
        )
        hit = np.flatnonzero(self._shown_ids == self.selected)
        self.grid.set_highlight(int(hit[0]) if hit.size else None)

    def set_before_after(self, rows: list[tuple[str, float | None, float | None]]) -> None:
        """(what, before, after) accuracies, shown as a small table under the fine-tuning settings."""
        cells = "".join(
            f"<tr><td>{what}</td><td align=right>{_pct(a)}</td><td align=right>{_pct(b)}</td></tr>"
            for what, a, b in rows
        )
        self.before_after.setText(
            "<table cellspacing=4><tr><th></th><th>before</th><th>after</th></tr>" + cells + "</table>"
        )

    # -- acting --------------------------------------------------------------------------------------
    def _on_tile(self, tile: int) -> None:
        if 0 <= tile < len(self._shown_ids):
            self.select(int(self._shown_ids[tile]))

    def select(self, sample_id: int) -> None:
        self.selected = int(sample_id)
        self._show_detail()

    def relabel_selected(self, label: int) -> None:
        if self.selected is not None:
            self.collection.relabel(self.selected, label)

    def delete_selected(self) -> None:
        if self.selected is not None:
            self.collection.delete([self.selected])
            self.selected = None

    def _choose_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of digit pictures")
        if folder:
            self.importRequested.emit(folder)

    def _choose_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export your digits into an empty folder")
        if folder:
            self.exportRequested.emit(folder, "by-label")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
