"""Change one thing, run, and see what it did: one setting, a list of values, one run per value.

The panel describes the comparison; the window trains it (``MainWindow.start_sweep``: every run a normal
run in the history, one after another in the background, cancellable with Stop). As each run ends, its
result lands in the table and in the plot of accuracy and loss against the value; the runs' curves are
then drawn together in the runs view beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.theme import LIGHT, Theme, style_plot
from cnnlab.app.widgets.view_frame import wrapping_label

# What a learner most often compares, with the lesson's values first: (title, setting, values).
CHOICES = (
    ("Learning rate", "lr", "0.001, 0.01, 0.1"),
    ("Batch size", "batch_size", "16, 32, 64"),
    ("Optimizer", "optimizer", "plain-sgd, sgd, adam@0.001"),
    ("Network", "preset", "seed, fc-baseline"),
    ("Filters of the first convolution", "conv1.filters", "4, 8, 16"),
    ("Kernel size of every convolution", "conv.kernel", "3, 5"),
    ("Pooling", "pool", "max, avg"),
    ("Activation", "activation", "relu, tanh, sigmoid, leaky_relu"),
    ("Initialisation", "init", "he_normal, glorot_uniform, small_normal"),
    ("Training images", "limit", "1000, 6000, all"),
    ("Epochs", "epochs", "1, 2, 3"),
    ("Learning-rate schedule", "schedule", "constant, cosine, step"),
    ("Weight decay", "weight_decay", "0, 0.0001, 0.001"),
    ("Seed", "seed", "0, 1, 2"),
)


def setting_title(setting: str) -> str:
    """How a person says the setting a sweep changes ("batch_size" -> "batch size")."""
    for title, key, _values in CHOICES:
        if key == setting:
            return title.lower()
    return setting.replace("_", " ")


COLUMNS = ("Value", "Run", "Test", "Train", "Best val.", "Final loss", "Time")


def _pct(value) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def numeric_positions(labels: list[str]) -> tuple[np.ndarray, bool]:
    """Where to put the values on the x axis: log10 of them when all are positive numbers spanning a
    decade or more (learning rates), else 0, 1, 2, ... (with the labels as ticks)."""
    try:
        numbers = np.array([float(v) for v in labels])
    except ValueError:
        return np.arange(len(labels), dtype=float), False
    if len(numbers) > 1 and (numbers > 0).all() and numbers.max() / numbers.min() >= 10:
        return np.log10(numbers), True
    return np.arange(len(labels), dtype=float), False


class SweepPanel(QWidget):
    runRequested = Signal(str, list, int, object)  # setting, values, epochs, training images (None: all)
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SweepPanel")
        self._theme: Theme = LIGHT
        self.results: list = []  # SweepResult, in the order the runs ended
        self._labels: list[str] = []

        self.setting = QComboBox()
        self.setting.setEditable(True)  # any of the training floor's settings, e.g. dense1.units
        self.setting.setInsertPolicy(QComboBox.NoInsert)
        for title, key, _values in CHOICES:
            self.setting.addItem(title, key)
        self.setting.setToolTip(
            "What to change from one run to the next; type another setting (dense1.units, conv2.kernel, "
            "momentum ...) to compare it"
        )
        self.values = QLineEdit(CHOICES[0][2])
        self.values.setToolTip("The values, separated by commas: one run each")
        self.setting.activated.connect(self._suggest_values)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setValue(1)
        self.epochs.setToolTip("Epochs each run trains (the lesson's exercises use one)")
        self.images = QSpinBox()
        self.images.setRange(0, 10_000_000)
        self.images.setSpecialValueText("all")
        self.images.setSingleStep(1000)
        self.images.setValue(6000)
        self.images.setGroupSeparatorShown(True)
        self.images.setToolTip("Training images each run uses: fewer runs faster ('all': the whole set)")
        self.run_button = QPushButton("Run the comparison")
        self.run_button.setProperty("primary", True)
        self.run_button.setToolTip("Train one run per value, one after another, from the current settings")
        self.run_button.clicked.connect(self._request)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run under way and train no more of this comparison")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.cancel_button.setEnabled(False)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        form.addRow("Change", self.setting)
        form.addRow("Values", self.values)
        form.addRow("Epochs per run", self.epochs)
        form.addRow("Training images", self.images)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setFormat("no comparison yet")
        self.progress.setValue(0)
        self.status = wrapping_label("Everything else comes from the settings in Train.", "muted")

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(380)
        self.acc_plot = self.plots.addPlot(row=0, col=0, title="Test accuracy (%) by value")
        self.loss_plot = self.plots.addPlot(row=1, col=0, title="Final loss by value")
        for plot in (self.acc_plot, self.loss_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
        self.acc_curve = self.acc_plot.plot(symbol="o", symbolSize=9)
        self.train_curve = self.acc_plot.plot(symbol="t", symbolSize=8)
        self.loss_curve = self.loss_plot.plot(symbol="o", symbolSize=9)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.setMinimumHeight(110)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plots, 3)
        layout.addWidget(self.table, 2)
        self.apply_theme(LIGHT)

    # -- asking --------------------------------------------------------------------------------------
    def setting_key(self) -> str:
        index = self.setting.findText(self.setting.currentText())
        return self.setting.itemData(index) if index >= 0 else self.setting.currentText().strip()

    def value_list(self) -> list[str]:
        return [v.strip() for v in self.values.text().split(",") if v.strip()]

    def choose(self, setting: str, values: str | None = None) -> None:
        """Show ``setting`` (a training-floor name such as "lr") with ``values`` (or its usual ones)."""
        for i, (_title, key, suggested) in enumerate(CHOICES):
            if key == setting:
                self.setting.setCurrentIndex(i)
                self.values.setText(values or suggested)
                return
        self.setting.setEditText(setting)
        if values is not None:
            self.values.setText(values)

    def _suggest_values(self, index: int) -> None:
        if 0 <= index < len(CHOICES):
            self.values.setText(CHOICES[index][2])

    def _request(self) -> None:
        images = self.images.value() or None
        self.runRequested.emit(self.setting_key(), self.value_list(), self.epochs.value(), images)

    # -- following the sweep -------------------------------------------------------------------------
    def sweep_started(self, sweep) -> None:
        self.results = []
        self._labels = [point.label for point in sweep.points]
        self.progress.setRange(0, len(sweep))
        self.progress.setValue(0)
        what = setting_title(sweep.setting)
        self.progress.setFormat(f"run 1 of {len(sweep)} ({what} {self._labels[0]})")
        self.status.setText(
            f"Training {len(sweep)} runs of {what} one after another; Stop or Cancel ends the comparison "
            "after the run under way stops."
        )
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.table.setRowCount(0)
        self._draw()

    def run_under_way(self, sweep, index: int) -> None:
        if self._labels:
            self.progress.setValue(index)
            self.progress.setFormat(
                f"run {index + 1} of {len(sweep)} ({setting_title(sweep.setting)} {self._labels[index]})"
            )

    def sweep_ended(self, sweep, results: list) -> None:
        self.results = list(results)
        done = len([r for r in results if r.status == "finished"])
        self.progress.setValue(len(results))
        self.progress.setFormat(f"{done} of {len(sweep)} runs finished")
        best = max(
            (r for r in results if r.test_accuracy is not None), key=lambda r: r.test_accuracy, default=None
        )
        self.status.setText(
            (
                f"Best: {setting_title(sweep.setting)} {best.label} with {best.test_accuracy:.1%} "
                "on the test set. "
                if best
                else ""
            )
            + "The runs' curves are drawn together in Runs; each run stays in the history."
        )
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.table.setRowCount(len(results))
        for row, r in enumerate(results):
            loss = "-" if r.final_loss is None else f"{r.final_loss:.3f}"
            best_val = _pct(r.best_validation_accuracy)
            cells = (r.label, r.name, _pct(r.test_accuracy), _pct(r.train_accuracy), best_val, loss,
                     f"{r.seconds:.1f} s")  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(row, column, item)
        self._draw()

    def set_idle(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _draw(self) -> None:
        labels = [r.label for r in self.results]
        x, log = numeric_positions(labels)
        test = np.array([np.nan if r.test_accuracy is None else 100 * r.test_accuracy for r in self.results])
        train = np.array(
            [np.nan if r.train_accuracy is None else 100 * r.train_accuracy for r in self.results]
        )
        loss = np.array([np.nan if r.final_loss is None else r.final_loss for r in self.results])
        for curve, y in ((self.acc_curve, test), (self.train_curve, train), (self.loss_curve, loss)):
            # Only the finite points, joined: a path built from no points or from NaN ones has crashed
            # the painter (pyqtgraph's "finite" connection of an empty series).
            keep = np.isfinite(y)
            curve.setData(x[keep], y[keep])
        ticks = [[(float(xi), label) for xi, label in zip(x, labels, strict=True)]]
        for plot in (self.acc_plot, self.loss_plot):
            plot.getAxis("bottom").setTicks(ticks)
            plot.setLabel("bottom", "value (log scale)" if log else "value")
            if len(x):
                plot.setXRange(float(x.min()) - 0.5, float(x.max()) + 0.5, padding=0)
        self.acc_plot.setYRange(0, 101, padding=0)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.plots.setBackground(theme.plot_background)
        for plot in (self.acc_plot, self.loss_plot):
            style_plot(plot, theme)
        test, train = theme.color(0), theme.color(1)
        self.acc_curve.setPen(pg.mkPen(test, width=2))
        self.acc_curve.setSymbolBrush(pg.mkBrush(test))
        self.train_curve.setPen(pg.mkPen(train, width=1, style=Qt.DashLine))
        self.train_curve.setSymbolBrush(pg.mkBrush(train))
        self.loss_curve.setPen(pg.mkPen(theme.color(2), width=2))
        self.loss_curve.setSymbolBrush(pg.mkBrush(theme.color(2)))
