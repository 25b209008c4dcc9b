"""Compare training runs: loss and accuracy curves overlaid, parameter counts and accuracies side by side.

With a CNN run and a fully connected run ticked, this is the lesson's "CNN vs fully connected" figure
made from real runs. Runs come from the training floor's runs history (``cnnlab.training.runs``).

Public API::

    view = CompareView(state=None, store=None, parent=None)  # store: a RunStore (default: RunStore())
    view.refresh()                        # list the runs again (also done when shown and when a run ends)
    view.runs() -> list[RunInfo]          # newest first
    view.checked_ids() -> list[str]       # the runs drawn; view.set_checked(ids)
    view.current_id() -> str | None       # the run the buttons act on; view.select_run(run_id)
    view.rename_run(run_id, name) -> bool
    view.delete_run(run_id) -> bool       # asks first through view.confirm(question) -> bool
    view.load_network(run_id) -> bool     # emits networkRequested(Checkpoint, RunInfo)
    view.edit_spec(run_id) -> bool        # emits specRequested(NetSpec)
    view.export_png(path) -> bool         # the four plots as one picture
    view.set_store(store)

Signals::

    networkRequested(Checkpoint, RunInfo)  # "Use network": the window loads it (state.set_checkpoint)
    specRequested(NetSpec)                 # "Edit architecture": the window hands it to the editor
    runsChanged()                          # after a refresh, a rename or a delete

Curves are drawn against epochs (fractions during an epoch), so runs with different batch sizes line up;
if a ticked run has not finished an epoch yet, all curves use optimizer steps instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.theme import LIGHT, Theme, style_plot
from cnnlab.engine import CheckpointError, NetSpec, SpecError
from cnnlab.training.runs import RunError, RunInfo, RunStore

COLUMNS = ("Run", "Network", "Data", "Params", "Epochs", "Test acc.", "Best", "Status", "Started")
NAME, NETWORK, DATA, PARAMS, EPOCHS, TEST, BEST, STATUS, STARTED = range(len(COLUMNS))
DEFAULT_CHECKED = 4
ID_ROLE = Qt.ItemDataRole.UserRole


def epoch_axis(steps: np.ndarray, epoch_steps: np.ndarray) -> np.ndarray:
    """Optimizer steps -> epochs, piecewise linear through the recorded epoch ends (extrapolated after)."""
    steps = np.asarray(steps, dtype=np.float64)
    ends = np.asarray(epoch_steps, dtype=np.float64)
    knots = np.concatenate([[0.0], ends])
    x = np.interp(steps, knots, np.arange(len(knots), dtype=np.float64))
    last = ends[-1] - (ends[-2] if len(ends) > 1 else 0.0)
    after = steps > ends[-1]
    if last > 0:
        x[after] = len(ends) + (steps[after] - ends[-1]) / last
    return x


def _percent(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


class _RunCurves:
    """The plot items of one run, made once and updated with setData."""

    def __init__(self, name: str) -> None:
        self.loss = pg.PlotDataItem(name=name)
        self.held_out = pg.PlotDataItem()
        self.test = pg.PlotDataItem(name=name, symbol="o", symbolSize=7)

    def style(self, color: str) -> None:
        self.loss.setPen(pg.mkPen(color, width=2))
        self.held_out.setPen(pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
        self.test.setPen(pg.mkPen(color, width=2))
        self.test.setSymbolBrush(pg.mkBrush(color))
        self.test.setSymbolPen(pg.mkPen(color))


class CompareView(QWidget):
    networkRequested = Signal(object, object)
    specRequested = Signal(object)
    runsChanged = Signal()

    def __init__(self, state=None, store: RunStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store if store is not None else RunStore()
        self._runs: list[RunInfo] = []
        self._checked: set[str] | None = None  # None until the first listing picks the newest runs
        self._records: dict[str, tuple[str, object]] = {}  # run id -> (updated stamp, RunRecord)
        self._curves: dict[str, _RunCurves] = {}
        self._theme: Theme = LIGHT
        # Tests (and scripts) replace this to answer the delete question without a dialog.
        self.confirm: Callable[[str], bool] = self._confirm_with_dialog
        self._make_widgets()
        if state is not None:
            state.themeChanged.connect(self.apply_theme)
            self.apply_theme(state.theme)
            # A run that ends has just written its final record: show it (soon, and once).
            self._soon = QTimer(self, singleShot=True, interval=300, timeout=self.refresh)
            state.runStateChanged.connect(
                lambda s: s in ("finished", "stopped", "diverged", "failed") and self._soon.start()
            )
        else:
            self.apply_theme(LIGHT)
        self.refresh()

    # -- public API --------------------------------------------------------------------------------
    def store(self) -> RunStore:
        return self._store

    def set_store(self, store: RunStore) -> None:
        self._store = store
        self._checked = None
        self._records.clear()
        self.refresh()

    def runs(self) -> list[RunInfo]:
        return list(self._runs)

    def checked_ids(self) -> list[str]:
        return [info.id for info in self._runs if self._checked and info.id in self._checked]

    def set_checked(self, run_ids) -> None:
        self._checked = set(run_ids)
        self._fill_table()
        self._redraw()

    def current_id(self) -> str | None:
        row = self.table.currentRow()
        item = self.table.item(row, NAME) if row >= 0 else None
        return item.data(ID_ROLE) if item is not None else None

    def select_run(self, run_id: str) -> None:
        for row, info in enumerate(self._runs):
            if info.id == run_id:
                self.table.selectRow(row)
                return

    def refresh(self) -> None:
        try:
            self._runs = self._store.list()
        except OSError as exc:
            self._runs = []
            self._notice(f"Cannot read the runs in {self._store.root}: {exc}", error=True)
        if self._checked is None:
            self._checked = {info.id for info in self._runs[:DEFAULT_CHECKED]}
        self._checked &= {info.id for info in self._runs}
        current = self.current_id()
        self._fill_table()
        if current is not None:
            self.select_run(current)
        self._redraw()
        self.empty_label.setVisible(not self._runs)
        self.runsChanged.emit()

    def rename_run(self, run_id: str, name: str) -> bool:
        try:
            self._store.rename(run_id, name)
        except (RunError, OSError) as exc:
            self._notice(f"Could not rename the run: {exc}", error=True)
            self.refresh()
            return False
        self._notice(f"Renamed to {name.strip()!r}.")
        self.refresh()
        return True

    def delete_run(self, run_id: str) -> bool:
        info = self._info(run_id)
        if info is None:
            return False
        question = f"Delete the run {info.name!r} with its curves and its saved network?"
        if info.status == "running":
            question += " It may still be training; its recording would stop."
        if not self.confirm(question):
            return False
        try:
            self._store.delete(run_id)
        except (RunError, OSError) as exc:
            self._notice(f"Could not delete the run: {exc}", error=True)
            return False
        self._records.pop(run_id, None)
        curves = self._curves.pop(run_id, None)
        if curves is not None:
            self._detach(curves)
        self._notice(f"Deleted {info.name!r}.")
        self.refresh()
        return True

    def load_network(self, run_id: str) -> bool:
        info = self._info(run_id)
        if info is None:
            return False
        try:
            checkpoint = self._store.load_checkpoint(run_id)
        except (RunError, CheckpointError, OSError) as exc:
            self._notice(f"Could not load the network of {info.name!r}: {exc}", error=True)
            return False
        self._notice(f"Loaded the network of {info.name!r}.")
        self.networkRequested.emit(checkpoint, info)
        return True

    def edit_spec(self, run_id: str) -> bool:
        info = self._info(run_id)
        if info is None:
            return False
        try:
            spec = NetSpec.from_dict(info.config.get("spec"))
        except SpecError as exc:
            self._notice(f"The run {info.name!r} has no readable architecture: {exc}", error=True)
            return False
        self.specRequested.emit(spec)
        return True

    def export_png(self, path: str | Path) -> bool:
        return self.plots.grab().save(str(path), "PNG")

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.plots.setBackground(theme.plot_background)
        for plot in self._plots:
            style_plot(plot, theme)
        self._redraw()

    # -- widgets -----------------------------------------------------------------------------------
    def _make_widgets(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        tips = {
            NAME: "Tick runs to draw them; double-click a name to rename the run.",
            PARAMS: "How many weights and biases the network learns.",
            TEST: "Accuracy on the full test set at the end of the run.",
            BEST: "The best test accuracy seen at any epoch end.",
        }
        for column, tip in tips.items():
            self.table.horizontalHeaderItem(column).setToolTip(tip)

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("List the runs again.")
        self.refresh_button.clicked.connect(self.refresh)
        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("Give the selected run a name of your own.")
        self.rename_button.clicked.connect(self._start_rename)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected run, its curves and its saved network.")
        self.delete_button.clicked.connect(lambda: self._on_current(self.delete_run))
        self.load_button = QPushButton("Use network")
        self.load_button.setToolTip("Load the network this run ended with (weights included) into the lab.")
        self.load_button.clicked.connect(lambda: self._on_current(self.load_network))
        self.spec_button = QPushButton("Edit architecture")
        self.spec_button.setToolTip("Open this run's architecture in the editor (fresh weights when built).")
        self.spec_button.clicked.connect(lambda: self._on_current(self.edit_spec))
        self.save_button = QPushButton("Save figure…")
        self.save_button.setToolTip("Save the four plots as a PNG image.")
        self.save_button.clicked.connect(self._save_dialog)
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.rename_button, self.delete_button, self.load_button,
                       self.spec_button):  # fmt: skip
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.empty_label = QLabel(
            "No runs yet. Every training run is kept here with its curves and its final network; "
            "train the CNN and the fully connected baseline, then tick both to compare them."
        )
        self.empty_label.setWordWrap(True)

        self.plots = pg.GraphicsLayoutWidget()
        self.loss_plot = self.plots.addPlot(row=0, col=0, title="Training loss (smoothed)")
        self.acc_plot = self.plots.addPlot(
            row=0, col=1, title="Test accuracy (dashed: held-out during epochs)"
        )
        self.final_plot = self.plots.addPlot(row=1, col=0, title="Final accuracy (%): train, test")
        self.params_plot = self.plots.addPlot(
            row=1, col=1, title="Parameters", axisItems={"left": _ThousandsAxis("left")}
        )
        self._plots = (self.loss_plot, self.acc_plot, self.final_plot, self.params_plot)
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.getAxis("left").setTicks([[(math.log10(v), f"{v:g}") for v in LOSS_TICKS], []])
        self.loss_plot.addLegend(offset=(-10, 10))
        self.acc_plot.addLegend(offset=(-10, -10))
        for plot in (self.loss_plot, self.acc_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
        self.acc_plot.setLabel("left", "accuracy", units="%")
        for plot in (self.final_plot, self.params_plot):
            plot.showGrid(y=True, alpha=0.25)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.test_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.param_bars = pg.BarGraphItem(x=[], height=[], width=0.6)
        self.final_plot.addItem(self.train_bars)
        self.final_plot.addItem(self.test_bars)
        self.params_plot.addItem(self.param_bars)
        self._final_labels: list[pg.TextItem] = []
        self._param_labels: list[pg.TextItem] = []
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.empty_label)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.notice)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.plots, 1)
        bottom_layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([170, 600])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    # -- the table ---------------------------------------------------------------------------------
    def _fill_table(self) -> None:
        with QSignalBlocker(self.table):
            self.table.setRowCount(len(self._runs))
            for row, info in enumerate(self._runs):
                values = {
                    NAME: info.name,
                    NETWORK: info.spec_name or "custom",
                    DATA: info.dataset,
                    PARAMS: f"{info.param_count:,}",
                    EPOCHS: f"{info.epochs_done}/{info.epochs_planned}",
                    TEST: _percent(info.test_accuracy),
                    BEST: _percent(info.best_test_accuracy),
                    STATUS: info.status,
                    STARTED: _local_time(info.created),
                }
                for column, text in values.items():
                    item = self.table.item(row, column)
                    if item is None:
                        item = QTableWidgetItem()
                        self.table.setItem(row, column, item)
                    item.setText(text)
                    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    if column == NAME:
                        flags |= Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
                    item.setFlags(flags)
                    if column in (PARAMS, TEST, BEST, EPOCHS):
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                name_item = self.table.item(row, NAME)
                name_item.setData(ID_ROLE, info.id)
                checked = self._checked is not None and info.id in self._checked
                name_item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                name_item.setToolTip(f"{info.id}\n{info.message}".strip())
                name_item.setForeground(QColor(self._color(info.id)) if checked else QColor())
        self._update_buttons()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != NAME:
            return
        run_id = item.data(ID_ROLE)
        info = self._info(run_id)
        if info is None:
            return
        if item.text().strip() != info.name:
            if item.text().strip():
                self.rename_run(run_id, item.text())
            else:
                self.refresh()
            return
        checked = item.checkState() == Qt.CheckState.Checked
        if checked != (run_id in self._checked):
            if checked:
                self._checked.add(run_id)
            else:
                self._checked.discard(run_id)
            self._fill_table()
            self._redraw()

    def _start_rename(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.editItem(self.table.item(row, NAME))

    def _on_current(self, action) -> None:
        run_id = self.current_id()
        if run_id is not None:
            action(run_id)

    def _update_buttons(self) -> None:
        info = self._info(self.current_id())
        for button in (self.rename_button, self.delete_button, self.spec_button):
            button.setEnabled(info is not None)
        self.load_button.setEnabled(info is not None and info.has_checkpoint)
        if info is not None and not info.has_checkpoint:
            self.load_button.setToolTip(
                "This run has no saved network (it may still be running, or it failed)."
            )
        else:
            self.load_button.setToolTip(
                "Load the network this run ended with (weights included) into the lab."
            )

    def _info(self, run_id: str | None) -> RunInfo | None:
        return next((info for info in self._runs if info.id == run_id), None)

    # -- the plots ---------------------------------------------------------------------------------
    def _color(self, run_id: str) -> str:
        order = [info.id for info in reversed(self._runs)]  # oldest first: a run keeps its colour
        return self._theme.color(order.index(run_id)) if run_id in order else self._theme.plot_foreground

    def _record(self, info: RunInfo):
        cached = self._records.get(info.id)
        if cached is not None and cached[0] == info.updated:
            return cached[1]
        try:
            record = self._store.load(info.id)
        except (RunError, OSError) as exc:
            self._notice(f"Cannot read the curves of {info.name!r}: {exc}", error=True)
            return None
        self._records[info.id] = (info.updated, record)
        return record

    def _redraw(self) -> None:
        chosen = [info for info in self._runs if self._checked and info.id in self._checked]
        records = {info.id: self._record(info) for info in chosen}
        by_epoch = all(
            record is not None and len(record.curves.get("epoch_steps", ())) > 0
            for record in records.values()
        )
        unit = "epochs" if by_epoch else "steps"
        self.loss_plot.setLabel("bottom", unit)
        self.acc_plot.setLabel("bottom", unit)
        for run_id in list(self._curves):
            if run_id not in records:
                self._detach(self._curves.pop(run_id))
        for info in chosen:
            record = records[info.id]
            curves = self._curves.get(info.id)
            if curves is None:
                curves = _RunCurves(info.name)
                self._curves[info.id] = curves
                self.loss_plot.addItem(curves.loss)
                self.acc_plot.addItem(curves.held_out)
                self.acc_plot.addItem(curves.test)
            curves.style(self._color(info.id))
            self._set_names(curves, info.name)
            self._set_curves(curves, record, by_epoch)
        self._draw_bars(chosen, records)
        self._write_summary(chosen, records)

    def _set_names(self, curves: _RunCurves, name: str) -> None:
        for plot, item in ((self.loss_plot, curves.loss), (self.acc_plot, curves.test)):
            if item.name() != name:
                item.opts["name"] = name
                legend = plot.legend
                if legend is not None:
                    legend.removeItem(item)
                    legend.addItem(item, name)

    @staticmethod
    def _set_curves(curves: _RunCurves, record, by_epoch: bool) -> None:
        c = record.curves if record is not None else {}
        empty = np.zeros(0)
        steps = c.get("steps", empty)
        ends = c.get("epoch_steps", empty)

        def x_of(s):
            return epoch_axis(s, ends) if by_epoch and len(ends) else np.asarray(s, dtype=np.float64)

        loss = np.asarray(c.get("loss_smooth", empty), dtype=np.float64)
        keep = np.isfinite(loss) & (loss > 0)
        curves.loss.setData(x_of(steps)[keep], loss[keep])
        held = np.asarray(c.get("held_out_accuracy", empty), dtype=np.float64)
        eval_steps = c.get("eval_steps", empty)
        keep = np.isfinite(held)
        curves.held_out.setData(x_of(eval_steps)[keep], 100 * held[keep])
        test = np.asarray(c.get("test_accuracy", empty), dtype=np.float64)
        keep = np.isfinite(test)
        curves.test.setData(x_of(ends)[keep], 100 * test[keep])

    def _detach(self, curves: _RunCurves) -> None:
        self.loss_plot.removeItem(curves.loss)
        self.acc_plot.removeItem(curves.held_out)
        self.acc_plot.removeItem(curves.test)

    def _draw_bars(self, chosen: list[RunInfo], records) -> None:
        n = len(chosen)
        x = np.arange(n, dtype=np.float64)
        colors = [QColor(self._color(info.id)) for info in chosen]
        train = []
        for info in chosen:
            last = info.epochs[-1].train_accuracy if info.epochs else None
            train.append(100 * last if last is not None else 0.0)
        test = [100 * info.test_accuracy if info.test_accuracy is not None else 0.0 for info in chosen]
        params = [float(info.param_count) for info in chosen]
        pens = [pg.mkPen(c) for c in colors]
        for bars, xs, heights, brushes in (
            (self.train_bars, x - 0.2, train, [c.lighter(150) for c in colors]),
            (self.test_bars, x + 0.2, test, colors),
            (self.param_bars, x, params, colors),
        ):
            if n:
                bars.setOpts(x=xs, height=heights, brushes=brushes, pens=pens)
            else:
                # pyqtgraph 0.14 fails on empty pen lists; no bars need no colours.
                bars.setOpts(x=xs, height=heights)
        accuracy_labels = [(xi - 0.2, t, f"{t:.1f}") for xi, t in zip(x, train, strict=True)]
        accuracy_labels += [(xi + 0.2, t, f"{t:.1f}") for xi, t in zip(x, test, strict=True)]
        self._place_labels(self.final_plot, self._final_labels, accuracy_labels)
        param_labels = [(xi, p, f"{int(p):,}") for xi, p in zip(x, params, strict=True)]
        self._place_labels(self.params_plot, self._param_labels, param_labels)
        ticks = [[(float(i), _short(info.name)) for i, info in enumerate(chosen)]]
        for plot in (self.final_plot, self.params_plot):
            plot.getAxis("bottom").setTicks(ticks)
            plot.setXRange(-0.6, max(n - 0.4, 0.6), padding=0)
        # Full height from 0 like the lesson's figure (a cut axis would exaggerate small gaps), with
        # room above 100 for the value labels.
        self.final_plot.setYRange(0, 112, padding=0)
        self.params_plot.setYRange(0, max(params, default=1.0) * 1.15, padding=0)

    def _place_labels(self, plot, pool: list[pg.TextItem], labels) -> None:
        """Value labels over bars, from a pool of text items that only grows."""
        while len(pool) < len(labels):
            item = pg.TextItem(anchor=(0.5, 1.0))
            plot.addItem(item)
            pool.append(item)
        for k, item in enumerate(pool):
            if k < len(labels):
                xi, height, text = labels[k]
                item.setText(text, color=self._theme.plot_foreground)
                item.setPos(xi, height)
                item.show()
            else:
                item.hide()

    def _write_summary(self, chosen: list[RunInfo], records) -> None:
        if len(chosen) < 2:
            self.summary.setText("Tick two runs or more to compare them." if self._runs else "")
            return
        ranked = sorted(chosen, key=lambda info: info.param_count)
        small, big = ranked[0], ranked[-1]
        parts = [
            f"<b>{info.name}</b>: {info.param_count:,} parameters, "
            f"test accuracy {_percent(info.test_accuracy)}"
            for info in chosen
        ]
        text = "; ".join(parts) + "."
        if small.param_count and big.param_count > small.param_count:
            ratio = big.param_count / small.param_count
            text += f" {small.name} has {ratio:.1f}× fewer parameters than {big.name}"
            if small.test_accuracy is not None and big.test_accuracy is not None:
                diff = 100 * (small.test_accuracy - big.test_accuracy)
                word = "higher" if diff >= 0 else "lower"
                text += f" and a test accuracy {abs(diff):.2f} points {word}"
            text += "."
        self.summary.setText(text)

    # -- dialogs -----------------------------------------------------------------------------------
    def _confirm_with_dialog(self, question: str) -> bool:
        answer = QMessageBox.question(self, "cnnlab: delete a run", question)
        return answer == QMessageBox.StandardButton.Yes

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the comparison", "compare.png", "PNG image (*.png)")
        if path and not self.export_png(path):
            self._notice(f"Could not save {Path(path).name}.", error=True)

    def _notice(self, text: str, error: bool = False) -> None:
        color = self._theme.bad if error else self._theme.good
        self.notice.setStyleSheet(f"color: {color};")
        self.notice.setText(text)
        self.notice.show()


class _ThousandsAxis(pg.AxisItem):
    """Tick labels as 100,000 rather than 100000 or 1e+05."""

    def tickStrings(self, values, scale, spacing):
        return [f"{v * scale:,.0f}" for v in values]


# Loss ticks on the log axis: pyqtgraph's own labels every minor tick overlap on a short range.
LOSS_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)


def _local_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
