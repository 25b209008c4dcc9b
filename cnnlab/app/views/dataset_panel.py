"""The dataset panel: which data the network learns from, where it was found, what it looks like.

When the chosen dataset is missing it says so, where it looked, and offers the three ways out: download
it, choose a folder that holds it, or train on the synthetic digits now. When the synthetic digits are in
use it says so plainly, because they are much easier than real handwriting and flatter the accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.state import AppState
from cnnlab.app.theme import Theme, style_plot
from cnnlab.data import DATASETS, ENV_VAR, Dataset

SAMPLE_ROWS, SAMPLE_COLUMNS = 4, 8


def download_megabytes(name: str) -> float:
    info = DATASETS[name]
    return sum(f.size for f in info.files.values()) / 1e6


def gray_qimage(image: np.ndarray) -> QImage:
    """(H, W) uint8 -> a QImage owning its pixels (QImage would otherwise point into NumPy's memory)."""
    a = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = a.shape
    return QImage(a.data, w, h, w, QImage.Format_Grayscale8).copy()


class SampleGrid(QWidget):
    """Small grey images with a caption under each, painted by one widget that scales with its width."""

    def __init__(self, columns: int = SAMPLE_COLUMNS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self._images: list[QImage] = []
        self._captions: list[str] = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_items(self, images: Sequence[np.ndarray], captions: Sequence[str]) -> None:
        self._images = [gray_qimage(image) for image in images]
        self._captions = list(captions)
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._images)

    def captions(self) -> list[str]:
        return list(self._captions)

    def _cell(self, width: int) -> int:
        return max(24, width // self.columns - 4)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        rows = math.ceil(len(self._images) / self.columns)
        return rows * (self._cell(width) + 4 + self.fontMetrics().height())

    def sizeHint(self) -> QSize:
        return QSize(self.columns * 44, self.heightForWidth(self.columns * 44))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.columns * 28, self.heightForWidth(self.columns * 28))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        cell = self._cell(self.width())
        text_h = self.fontMetrics().height()
        left = (self.width() - self.columns * (cell + 4)) // 2
        painter.setPen(self.palette().text().color())
        for i, image in enumerate(self._images):
            row, col = divmod(i, self.columns)
            x, y = left + col * (cell + 4) + 2, row * (cell + 4 + text_h)
            painter.drawImage(QRect(x, y, cell, cell), image)
            caption = self.fontMetrics().elidedText(self._captions[i], Qt.ElideRight, cell + 4)
            painter.drawText(QRect(x - 2, y + cell, cell + 4, text_h + 2), Qt.AlignHCenter, caption)
        painter.end()


class DatasetPanel(QWidget):
    datasetChosen = Signal(str)
    downloadRequested = Signal(str)
    chooseFolderRequested = Signal()
    useSyntheticRequested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("DatasetPanel")
        self._sample_seed = 0
        self._notice_kind = ""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)

        top = QHBoxLayout()
        self.chooser = QComboBox()
        for name, info in DATASETS.items():
            self.chooser.addItem(info.title, name)
        self.chooser.setToolTip("Which dataset the next run trains on.")
        self.chooser.activated.connect(lambda _: self.datasetChosen.emit(self.chooser.currentData()))
        self.folder_button = QPushButton("Choose folder...")
        self.folder_button.setToolTip(
            "Pick a folder holding mnist/ or fashion-mnist/ with the four IDX files."
        )
        self.folder_button.clicked.connect(self.chooseFolderRequested)
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.chooser, 1)
        top.addWidget(self.folder_button)
        layout.addLayout(top)

        self.notice = QFrame()
        self.notice.setObjectName("DataNotice")
        notice_layout = QVBoxLayout(self.notice)
        notice_layout.setContentsMargins(8, 6, 8, 6)
        self.notice_title = QLabel()
        self.notice_title.setProperty("role", "heading")
        self.notice_title.setWordWrap(True)
        self.notice_text = QLabel()
        self.notice_text.setWordWrap(True)
        self.notice_text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        notice_buttons = QHBoxLayout()
        self.download_button = QPushButton()
        self.download_button.setProperty("primary", True)
        self.download_button.setToolTip(
            "Download the files from the dataset's mirrors into your cache folder."
        )
        self.download_button.clicked.connect(lambda: self.downloadRequested.emit(self._download_target()))
        self.notice_folder_button = QPushButton("Choose folder...")
        self.notice_folder_button.setToolTip("Pick a folder that already holds the dataset's files.")
        self.notice_folder_button.clicked.connect(self.chooseFolderRequested)
        self.synthetic_button = QPushButton("Use synthetic digits now")
        self.synthetic_button.setToolTip("Train at once on digits cnnlab draws itself; nothing to download.")
        self.synthetic_button.clicked.connect(self.useSyntheticRequested)
        for button in (self.download_button, self.notice_folder_button, self.synthetic_button):
            notice_buttons.addWidget(button)
        notice_buttons.addStretch(1)
        notice_layout.addWidget(self.notice_title)
        notice_layout.addWidget(self.notice_text)
        notice_layout.addLayout(notice_buttons)
        layout.addWidget(self.notice)

        self.info_box = QGroupBox("About the data")
        form = QFormLayout(self.info_box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for key, title in (
            ("title", "Dataset"),
            ("source", "Found in"),
            ("train", "Training images"),
            ("test", "Test images"),
            ("shape", "Image size"),
            ("classes", "Classes"),
            ("credit", "Credit"),
        ):
            label = QLabel("-")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(title, label)
            self.fields[key] = label
        layout.addWidget(self.info_box)

        self.samples_box = QGroupBox("Training samples")
        samples_layout = QVBoxLayout(self.samples_box)
        self.samples = SampleGrid()
        self.samples.setToolTip("Randomly chosen training images with their labels.")
        self.shuffle_button = QPushButton("Show other samples")
        self.shuffle_button.setToolTip("Pick another random set of training images.")
        self.shuffle_button.clicked.connect(self._shuffle)
        samples_layout.addWidget(self.samples)
        samples_layout.addWidget(self.shuffle_button, 0, Qt.AlignRight)
        layout.addWidget(self.samples_box)

        self.counts_box = QGroupBox("Images per class")
        counts_layout = QVBoxLayout(self.counts_box)
        self.counts_plot = pg.PlotWidget()
        self.counts_plot.setMinimumHeight(170)
        self.counts_plot.setToolTip(
            "How many training (left bar) and test (right bar) images each class has."
        )
        plot = self.counts_plot.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.addLegend(offset=(-5, 5))
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.38, name="training")
        self.test_bars = pg.BarGraphItem(x=[], height=[], width=0.38, name="test")
        plot.addItem(self.train_bars)
        plot.addItem(self.test_bars)
        self.class_key = QLabel()
        self.class_key.setWordWrap(True)
        self.class_key.setProperty("role", "muted")
        counts_layout.addWidget(self.counts_plot)
        counts_layout.addWidget(self.class_key)
        layout.addWidget(self.counts_box)
        layout.addStretch(1)

        state.dataStatusChanged.connect(self._refresh)
        state.datasetChanged.connect(self._show_dataset)
        state.themeChanged.connect(self._apply_theme)
        self._apply_theme(state.theme)
        self._show_dataset(state.dataset)

    # -- what is shown -----------------------------------------------------------------------------
    def notice_kind(self) -> str:
        """ "missing", "synthetic", "loading" or "" (the real data is in use)."""
        return self._notice_kind

    def _download_target(self) -> str:
        name = self.state.dataset_name
        info = DATASETS.get(name)
        # Only published files can be downloaded: for generated digits or your own, offer MNIST.
        return name if info is not None and info.files else "mnist"

    def _refresh(self) -> None:
        state = self.state
        index = self.chooser.findData(state.dataset_name)
        if index >= 0:
            self.chooser.setCurrentIndex(index)
        info = DATASETS.get(state.dataset_name)
        title = info.title if info is not None else state.dataset_name
        target = self._download_target()
        self.download_button.setText(
            f"Download {DATASETS[target].title.split(' ')[0]} ({download_megabytes(target):.0f} MB)"
        )
        if state.data_loading:
            kind = "loading"
            self._set_notice(
                "info", f"Loading {title}...", "Reading the files; this takes a second or two.", ()
            )
        elif state.dataset is None and state.data_problem and info is not None and info.is_collection:
            kind = "missing"
            self._set_notice(
                "info",
                "You have no digits of your own yet",
                "Draw a digit on the pad (Look inside) and press its number to keep it; once you have a few "
                "of each, you can train on them here, or test and fine-tune the network on them (Your "
                "digits).",
                (self.synthetic_button,),
            )
        elif state.dataset is None and state.data_problem:
            kind = "missing"
            self._set_notice(
                "warn",
                f"{title} was not found",
                f"{state.data_problem}\n\nDownload it ({download_megabytes(target):.0f} MB), choose a folder "
                "that holds it, or train on cnnlab's synthetic digits now.",
                (self.download_button, self.notice_folder_button, self.synthetic_button),
            )
        elif state.dataset is not None and state.dataset.is_synthetic:
            kind = "synthetic"
            self._set_notice(
                "info",
                "Synthetic digits in use, not real MNIST",
                "These digits are drawn by cnnlab from stroke templates, so the lab works offline. They are "
                "easier than real handwriting, so accuracies look better than on MNIST. To get real MNIST: "
                f"download it here, choose a folder that holds mnist/, run 'cnnlab data fetch mnist', or "
                f"set {ENV_VAR} to a folder holding mnist/.",
                (self.download_button, self.notice_folder_button),
            )
        else:
            kind = ""
            self.notice.setVisible(False)
        self._notice_kind = kind
        self._fill_fields()

    def _set_notice(self, level: str, title: str, text: str, buttons: Sequence[QPushButton]) -> None:
        self.notice.setVisible(True)
        self.notice.setProperty("notice", level)
        self.notice.style().unpolish(self.notice)
        self.notice.style().polish(self.notice)
        self.notice_title.setText(title)
        self.notice_text.setText(text)
        for button in (self.download_button, self.notice_folder_button, self.synthetic_button):
            button.setVisible(button in buttons)

    def _fill_fields(self) -> None:
        ds, f = self.state.dataset, self.fields
        info = DATASETS.get(self.state.dataset_name)
        f["title"].setText(info.title if info is not None else self.state.dataset_name)
        f["credit"].setText(f"{info.credit} ({info.licence})" if info is not None and info.credit else "-")
        if ds is None:
            res = self.state.resolution
            f["source"].setText("not found" if res is None or not res.found else res.describe())
            for key in ("train", "test", "shape", "classes"):
                f[key].setText("-")
            return
        f["source"].setText(ds.source)
        f["train"].setText(f"{len(ds.train_images):,}")
        f["test"].setText(f"{len(ds.test_images):,}")
        f["shape"].setText(f"{ds.train_images.shape[1]} x {ds.train_images.shape[2]} pixels, grey")
        f["classes"].setText(f"{ds.num_classes}: {', '.join(ds.class_names)}")

    def _show_dataset(self, dataset: Dataset | None) -> None:
        self._refresh()
        self.samples_box.setVisible(dataset is not None)
        self.counts_box.setVisible(dataset is not None)
        if dataset is None:
            self.samples.set_items([], [])
            return
        self._show_samples()
        k = dataset.num_classes
        train = np.bincount(dataset.train_labels, minlength=k)
        test = np.bincount(dataset.test_labels, minlength=k)
        x = np.arange(k, dtype=float)
        self.train_bars.setOpts(x=x - 0.2, height=train)
        self.test_bars.setOpts(x=x + 0.2, height=test)
        axis = self.counts_plot.getPlotItem().getAxis("bottom")
        digits = all(name == str(i) for i, name in enumerate(dataset.class_names))
        axis.setTicks([[(i, str(i)) for i in range(k)]])
        self.class_key.setVisible(not digits)
        self.class_key.setText("  ·  ".join(f"{i} {name}" for i, name in enumerate(dataset.class_names)))
        self.counts_plot.getPlotItem().setYRange(0, float(max(train.max(), 1)) * 1.05)
        self.counts_plot.getPlotItem().setXRange(-0.7, k - 0.3, padding=0)

    def _show_samples(self) -> None:
        ds = self.state.dataset
        if ds is None:
            return
        rng = np.random.default_rng(self._sample_seed)
        count = min(SAMPLE_ROWS * SAMPLE_COLUMNS, len(ds.train_images))
        picks = np.sort(rng.choice(len(ds.train_images), size=count, replace=False))
        captions = [ds.class_names[int(ds.train_labels[i])] for i in picks]
        self.samples.set_items([ds.train_images[i] for i in picks], captions)

    def _shuffle(self) -> None:
        self._sample_seed += 1
        self._show_samples()

    def _apply_theme(self, theme: Theme) -> None:
        self.counts_plot.setBackground(theme.plot_background)
        style_plot(self.counts_plot.getPlotItem(), theme)
        self.train_bars.setOpts(brush=pg.mkBrush(theme.color(0)), pen=pg.mkPen(theme.color(0)))
        self.test_bars.setOpts(brush=pg.mkBrush(QColor(theme.color(1))), pen=pg.mkPen(theme.color(1)))
