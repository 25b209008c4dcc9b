"""Compare training runs: what each was (every setting), what it gave, and their curves side by side.

The table lists every run of the history with its settings and results as sortable columns; columns
that are the same for every run can be hidden, so what sets the runs apart stands out. Ticked runs are
drawn: loss and accuracy against steps, epochs, images seen or time (with each live change of a setting
marked on the curve), final accuracies as bars, and parameters against test accuracy (the lesson's CNN
against fully connected picture). A run that is training updates as it goes.

Public API::

    view = CompareView(state=None, store=None, parent=None)  # store: a RunStore (default: RunStore())
    view.refresh()                        # list the runs again (also when shown, and while a run trains)
    view.runs() -> list[RunInfo]          # newest first
    view.checked_ids() -> list[str]       # the runs drawn; view.set_checked(ids)
    view.current_id() -> str | None       # the run the buttons act on; view.select_run(run_id)
    view.rename_run(run_id, name) -> bool # "" goes back to the automatic name
    view.delete_run(run_id) -> bool       # asks first through view.confirm(question) -> bool
    view.load_network(run_id) -> bool     # emits networkRequested(Checkpoint, RunInfo)
    view.edit_spec(run_id) -> bool        # emits specRequested(NetSpec)
    view.set_x_axis("steps" | "epochs" | "images" | "time")
    view.export_png(path) -> bool         # the plots shown as one picture
    view.export_csv(path) -> bool         # the table, every column
    view.shown_columns() -> list[str]     # the column keys not hidden

Signals: ``networkRequested(Checkpoint, RunInfo)``, ``specRequested(NetSpec)``, ``runsChanged()``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.theme import LIGHT, Theme, style_plot
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.engine import CheckpointError, NetSpec, SpecError
from cnnlab.training.runs import RunError, RunInfo, RunStore

DEFAULT_CHECKED = 4
ID_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
LIVE_REFRESH_MS = 2000  # while a run trains, its row and curves follow at this pace
X_AXES = {"epochs": "epochs", "steps": "steps (batches)", "images": "images seen", "time": "seconds"}


def _percent(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


def _number(value, fmt: str = "{:g}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def _init_words(config: dict) -> str:
    inits = config.get("init")
    if isinstance(inits, dict) and inits:
        kinds = sorted(set(map(str, inits.values())))
        return ", ".join(kinds)
    return "–"


def _changes_words(info: RunInfo) -> str:
    if not info.changes:
        return ""
    return "; ".join(f"{c.setting} {c.old}→{c.new} @{c.step}" for c in info.changes[:4]) + (
        " …" if len(info.changes) > 4 else ""
    )


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    text: Callable[[RunInfo], str]
    sort: Callable[[RunInfo], object]  # what the column sorts by (numbers as numbers)
    tip: str = ""
    setting: bool = False  # a setting (hidden when equal across runs), not a result
    numeric: bool = False


def _cfg(key: str):
    return lambda info: info.config.get(key)


COLUMNS: tuple[Column, ...] = (
    Column("name", "Run", lambda i: i.name, lambda i: i.name.lower(),
           "Tick runs to draw them; double-click a name to rename the run (empty: its automatic name)."),
    Column("status", "Status", lambda i: i.status, lambda i: i.status),
    Column("network", "Network", lambda i: i.spec_name or "custom", lambda i: i.spec_name, setting=True),
    Column("params", "Params", lambda i: f"{i.param_count:,}", lambda i: i.param_count,
           "How many weights and biases the network learns.", setting=True, numeric=True),
    Column("dataset", "Data", lambda i: i.dataset, lambda i: i.dataset, setting=True),
    Column("train_images", "Train images", lambda i: _number(i.train_images, "{:,}"),
           lambda i: i.train_images or 0, "Training images per epoch (the validation split excluded).",
           setting=True, numeric=True),
    Column("optimizer", "Optimizer", lambda i: str(i.config.get("optimizer", "–")), _cfg("optimizer"),
           setting=True),
    Column("lr", "LR", lambda i: _number(i.config.get("lr")), lambda i: i.config.get("lr") or 0,
           "The base learning rate the run started with (live changes: see Changes).", setting=True,
           numeric=True),
    Column("momentum", "Mom.", lambda i: _number(i.config.get("momentum")),
           lambda i: i.config.get("momentum") or 0, setting=True, numeric=True),
    Column("batch_size", "Batch", lambda i: _number(i.config.get("batch_size")),
           lambda i: i.config.get("batch_size") or 0, setting=True, numeric=True),
    Column("schedule", "Schedule", lambda i: str(i.config.get("schedule", "–")), _cfg("schedule"),
           setting=True),
    Column("epochs", "Epochs", lambda i: f"{i.epochs_done}/{i.epochs_planned}", lambda i: i.epochs_planned,
           setting=True, numeric=True),
    Column("weight_decay", "Decay", lambda i: _number(i.config.get("weight_decay")),
           lambda i: i.config.get("weight_decay") or 0, "Weight decay.", setting=True, numeric=True),
    Column("augment", "Augment", lambda i: "yes" if i.config.get("augment") else "no",
           lambda i: bool(i.config.get("augment")), setting=True),
    Column("init", "Init", lambda i: _init_words(i.config), lambda i: _init_words(i.config), setting=True),
    Column("seed", "Seed", lambda i: _number(i.config.get("seed")), lambda i: i.config.get("seed") or 0,
           setting=True, numeric=True),
    Column("changes", "Changes", _changes_words, lambda i: len(i.changes),
           "Settings changed while the run trained: setting old→new @step.", setting=True),
    Column("test", "Test acc.", lambda i: _percent(i.test_accuracy), lambda i: i.test_accuracy or -1,
           "Accuracy on the whole test set at the latest epoch end.", numeric=True),
    Column("train", "Train acc.", lambda i: _percent(i.train_accuracy), lambda i: i.train_accuracy or -1,
           "The latest epoch's running accuracy on the training images.", numeric=True),
    Column("best_val", "Best val.", lambda i: _percent(i.best_validation_accuracy),
           lambda i: i.best_validation_accuracy or -1,
           "The best accuracy on the validation split (held out of the training set).", numeric=True),
    Column("loss", "Loss", lambda i: _number(i.final_loss, "{:.3f}"), lambda i: i.final_loss or 1e9,
           "The smoothed training loss at the end.", numeric=True),
    Column("seconds", "Time", lambda i: f"{i.seconds:.0f} s", lambda i: i.seconds,
           "Training time (pauses excluded).", numeric=True),
    Column("speed", "Img/s", lambda i: _number(i.images_per_s, "{:,.0f}"), lambda i: i.images_per_s or 0,
           "Training images per second (evaluations excluded).", numeric=True),
    Column("started", "Started", lambda i: _local_time(i.created), lambda i: i.created),
)  # fmt: skip
KEYS = [c.key for c in COLUMNS]
NAME, PARAMS, TEST = KEYS.index("name"), KEYS.index("params"), KEYS.index("test")


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


def equal_columns(runs: list[RunInfo]) -> set[str]:
    """The settings' columns whose text is the same for every run (nothing to compare there)."""
    if len(runs) < 2:
        return set()
    return {c.key for c in COLUMNS if c.setting and len({c.text(info) for info in runs}) == 1}


class _SortItem(QTableWidgetItem):
    def __lt__(self, other) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


class _RunCurves:
    """The plot items of one run, made once and updated with setData."""

    def __init__(self, name: str) -> None:
        self.loss = pg.PlotDataItem(name=name)
        self.validation = pg.PlotDataItem()
        self.test = pg.PlotDataItem(name=name, symbol="o", symbolSize=7)
        self.changes: list[pg.InfiniteLine] = []

    def style(self, color: str) -> None:
        self.loss.setPen(pg.mkPen(color, width=2))
        self.validation.setPen(pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
        self.test.setPen(pg.mkPen(color, width=2))
        self.test.setSymbolBrush(pg.mkBrush(color))
        self.test.setSymbolPen(pg.mkPen(color))
        for line in self.changes:
            line.setPen(pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine))


class CompareView(QWidget):
    networkRequested = Signal(object, object)
    specRequested = Signal(object)
    runsChanged = Signal()

    def __init__(self, state=None, store: RunStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store if store is not None else RunStore()
        self._state = state
        self._runs: list[RunInfo] = []
        self._checked: set[str] | None = None  # None until the first listing picks the newest runs
        self._records: dict[str, tuple[str, object]] = {}  # run id -> (updated stamp, RunRecord)
        self._curves: dict[str, _RunCurves] = {}
        self._theme: Theme = LIGHT
        self._x_axis = "epochs"
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
            # While a run trains, its row follows (run.json is rewritten at most once a second).
            self._live = QTimer(self, singleShot=True, interval=LIVE_REFRESH_MS, timeout=self._live_refresh)
            state.snapshotChanged.connect(lambda _snap: self._live.isActive() or self._live.start())
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
        for row in range(self.table.rowCount()):
            item = self.table.item(row, NAME)
            if item is not None and item.data(ID_ROLE) == run_id:
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
            if name.strip():
                self._store.rename(run_id, name)
            else:
                self._store.clear_name(run_id)
        except (RunError, OSError) as exc:
            self._notice(f"Could not rename the run: {exc}", error=True)
            self.refresh()
            return False
        self._notice(f"Renamed to {name.strip()!r}." if name.strip() else "Back to its automatic name.")
        self.refresh()
        return True

    def delete_run(self, run_id: str) -> bool:
        info = self._info(run_id)
        if info is None:
            return False
        question = f"Delete the run {info.name!r} with its curves and its saved network?"
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

    def set_x_axis(self, kind: str) -> None:
        if kind not in X_AXES:
            raise ValueError(f"the x axis is one of {', '.join(X_AXES)}, not {kind!r}")
        self._x_axis = kind
        with QSignalBlocker(self.x_axis):
            self.x_axis.setCurrentIndex(self.x_axis.findData(kind))
        self._redraw()

    def shown_columns(self) -> list[str]:
        return [c.key for i, c in enumerate(COLUMNS) if not self.table.isColumnHidden(i)]

    def export_png(self, path: str | Path) -> bool:
        return self.tabs.currentWidget().grab().save(str(path), "PNG")

    def export_csv(self, path: str | Path) -> bool:
        """Every run, every column (hidden ones too), as the table shows them."""
        try:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["id", *(c.title for c in COLUMNS)])
                for info in self._runs:
                    writer.writerow([info.id, *(c.text(info) for c in COLUMNS)])
        except OSError as exc:
            self._notice(f"Could not write {Path(path).name}: {exc}", error=True)
            return False
        return True

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for widget in (self.curve_plots, self.final_plots, self.scatter_plots):
            widget.setBackground(theme.plot_background)
        for plot in self._plots:
            style_plot(plot, theme)
        self._fill_table()
        self._redraw()

    # -- widgets -----------------------------------------------------------------------------------
    def _make_widgets(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c.title for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.table.setColumnWidth(NAME, 180)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(KEYS.index("started"), Qt.SortOrder.DescendingOrder)  # newest first
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        for column, spec in enumerate(COLUMNS):
            if spec.tip:
                self.table.horizontalHeaderItem(column).setToolTip(spec.tip)

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
        self.load_button.clicked.connect(lambda: self._on_current(self.load_network))
        self.spec_button = QPushButton("Edit architecture")
        self.spec_button.setToolTip("Open this run's architecture in the editor (fresh weights when built).")
        self.spec_button.clicked.connect(lambda: self._on_current(self.edit_spec))
        self.hide_equal = QCheckBox("Hide settings that are the same for every run")
        self.hide_equal.setChecked(True)
        self.hide_equal.toggled.connect(lambda _on: self._show_columns())
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setToolTip("Save the table (every column) as a CSV file.")
        self.csv_button.clicked.connect(self._csv_dialog)
        self.save_button = QPushButton("Save figure…")
        self.save_button.setToolTip("Save the plots shown as a PNG image.")
        self.save_button.clicked.connect(self._save_dialog)
        buttons = FlowLayout(spacing=6)
        for w in (self.refresh_button, self.rename_button, self.delete_button, self.load_button,
                  self.spec_button, self.hide_equal, self.csv_button, self.save_button):  # fmt: skip
            buttons.addWidget(w)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.notice.hide()
        self.empty_label = QLabel(
            "No runs yet. Every training run is kept here with its settings, curves and final network; "
            "train the CNN and the fully connected baseline, or run a comparison, then tick runs to draw "
            "them."
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        # Curves: loss above accuracy, against the chosen x axis.
        self.curve_plots = pg.GraphicsLayoutWidget()
        self.loss_plot = self.curve_plots.addPlot(row=0, col=0, title="Training loss (smoothed)")
        self.acc_plot = self.curve_plots.addPlot(
            row=1, col=0, title="Test accuracy (dots; dashed: validation during epochs)"
        )
        self.acc_plot.setXLink(self.loss_plot)
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.getAxis("left").setTicks([[(math.log10(v), f"{v:g}") for v in LOSS_TICKS], []])
        self.loss_plot.addLegend(offset=(-10, 10))
        for plot in (self.loss_plot, self.acc_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
        self.acc_plot.setLabel("left", "accuracy", units="%")
        self.x_axis = QComboBox()
        for key, title in X_AXES.items():
            self.x_axis.addItem(f"against {title}", key)
        self.x_axis.setToolTip(
            "What the curves are drawn against: runs with other batch sizes line up by epochs"
        )
        self.x_axis.currentIndexChanged.connect(lambda _: self.set_x_axis(self.x_axis.currentData()))
        curves_tab = QWidget()
        curves_layout = QVBoxLayout(curves_tab)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.x_axis, 0, Qt.AlignLeft)
        curves_layout.addWidget(self.curve_plots, 1)

        # Final accuracies as bars (the lesson's comparison figure).
        self.final_plots = pg.GraphicsLayoutWidget()
        self.final_plot = self.final_plots.addPlot(title="Final accuracy (%): train (light), test")
        self.final_plot.showGrid(y=True, alpha=0.25)
        self.final_plot.setMouseEnabled(x=False, y=False)
        self.final_plot.hideButtons()
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.test_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.final_plot.addItem(self.train_bars)
        self.final_plot.addItem(self.test_bars)
        self._final_labels: list[pg.TextItem] = []

        # Parameters against test accuracy: few weights and high accuracy is the top left.
        self.scatter_plots = pg.GraphicsLayoutWidget()
        self.params_plot = self.scatter_plots.addPlot(
            title="Test accuracy against parameters", axisItems={"bottom": _ThousandsAxis("bottom")}
        )
        self.params_plot.setLogMode(x=True)
        self.params_plot.showGrid(x=True, y=True, alpha=0.25)
        self.params_plot.setLabel("bottom", "parameters (log scale)")
        self.params_plot.setLabel("left", "test accuracy", units="%")
        self.scatter = pg.ScatterPlotItem(size=12)
        self.params_plot.addItem(self.scatter)
        self._scatter_labels: list[pg.TextItem] = []
        self._plots = (self.loss_plot, self.acc_plot, self.final_plot, self.params_plot)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(curves_tab, "Curves")
        self.tabs.addTab(self.final_plots, "Final accuracy")
        self.tabs.addTab(self.scatter_plots, "Parameters vs accuracy")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
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
        bottom_layout.addWidget(self.tabs, 1)
        bottom_layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([200, 520])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.x_axis.setCurrentIndex(self.x_axis.findData(self._x_axis))
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _live_refresh(self) -> None:
        if self.isVisible():  # a hidden view catches up when it is shown (showEvent)
            self.refresh()

    # -- the table ---------------------------------------------------------------------------------
    def _fill_table(self) -> None:
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # rows stay put while they are filled
        with QSignalBlocker(self.table):
            self.table.setRowCount(len(self._runs))
            for row, info in enumerate(self._runs):
                for column, spec in enumerate(COLUMNS):
                    item = self.table.item(row, column)
                    if item is None:
                        item = _SortItem()
                        self.table.setItem(row, column, item)
                    item.setText(spec.text(info))
                    item.setData(SORT_ROLE, spec.sort(info))
                    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    if column == NAME:
                        flags |= Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
                    item.setFlags(flags)
                    if spec.numeric:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                name_item = self.table.item(row, NAME)
                name_item.setData(ID_ROLE, info.id)
                checked = self._checked is not None and info.id in self._checked
                name_item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                name_item.setToolTip(f"{info.id}\n{info.message}".strip())
                # The run's colour in the plots, as a mark beside the name: its text keeps the table's
                # own colour, which reads in both themes.
                name_item.setData(
                    Qt.ItemDataRole.DecorationRole, QColor(self._color(info.id)) if checked else None
                )
        self.table.setSortingEnabled(sorting)
        self._show_columns()
        self._update_buttons()

    def _show_columns(self) -> None:
        hidden = equal_columns(self._runs) if self.hide_equal.isChecked() else set()
        for column, spec in enumerate(COLUMNS):
            self.table.setColumnHidden(column, spec.key in hidden)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != NAME:
            return
        run_id = item.data(ID_ROLE)
        info = self._info(run_id)
        if info is None:
            return
        if item.text().strip() != info.name:
            self.rename_run(run_id, item.text())
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
        self.load_button.setToolTip(
            "This run has no saved network (it may still be running, or it failed)."
            if info is not None and not info.has_checkpoint
            else "Load the network this run ended with (weights included) into the lab."
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

    def _live_curves(self, info: RunInfo) -> dict | None:
        """The curves of the run training now, from the latest snapshot (the record has them only at
        epoch ends)."""
        snap = self._state.snapshot if self._state is not None else None
        if snap is None or info.status != "running" or snap.run_id not in (info.session_id, info.id):
            return None
        h = snap.history
        curves = {
            "steps": h.steps, "loss_smooth": h.loss_smooth, "eval_steps": h.eval_steps,
            "validation_accuracy": h.validation_accuracy, "epoch_steps": h.epoch_steps,
            "test_accuracy": h.test_accuracy,
        }  # fmt: skip
        for name in ("images_seen", "elapsed", "eval_images_seen", "eval_elapsed", "epoch_images_seen",
                     "epoch_elapsed"):  # fmt: skip
            value = getattr(h, name, None)
            if value is not None:
                curves[name] = value
        return curves

    def _redraw(self) -> None:
        chosen = [info for info in self._runs if self._checked and info.id in self._checked]
        curves_of = {}
        for info in chosen:
            live = self._live_curves(info)
            record = None if live is not None else self._record(info)
            curves_of[info.id] = live if live is not None else (record.curves if record is not None else {})
        axis = self._x_axis
        if axis == "epochs" and not all(len(c.get("epoch_steps", ())) for c in curves_of.values()):
            axis = "steps"  # a run without a finished epoch has no epoch axis yet
        self.loss_plot.setLabel("bottom", X_AXES[axis])
        self.acc_plot.setLabel("bottom", X_AXES[axis])
        for run_id in list(self._curves):
            if run_id not in curves_of:
                self._detach(self._curves.pop(run_id))
        for info in chosen:
            curves = self._curves.get(info.id)
            if curves is None:
                curves = _RunCurves(info.name)
                self._curves[info.id] = curves
                self.loss_plot.addItem(curves.loss)
                self.acc_plot.addItem(curves.validation)
                self.acc_plot.addItem(curves.test)
            self._set_names(curves, info.name)
            self._set_curves(curves, curves_of[info.id], axis)
            self._mark_changes(curves, info, curves_of[info.id], axis)
            curves.style(self._color(info.id))
        self._draw_bars(chosen)
        self._draw_scatter(chosen)
        self._write_summary(chosen)

    def _set_names(self, curves: _RunCurves, name: str) -> None:
        for plot, item in ((self.loss_plot, curves.loss),):
            if item.name() != name:
                item.opts["name"] = name
                legend = plot.legend
                if legend is not None:
                    legend.removeItem(item)
                    legend.addItem(item, name)

    @staticmethod
    def _x(curves: dict, axis: str, kind: str) -> np.ndarray:
        """The x of a series: kind "step" (per step), "eval" or "epoch"."""
        empty = np.zeros(0)
        steps = {"step": "steps", "eval": "eval_steps", "epoch": "epoch_steps"}[kind]
        s = np.asarray(curves.get(steps, empty), dtype=np.float64)
        if axis == "epochs":
            return epoch_axis(s, curves.get("epoch_steps", empty)) if len(s) else s
        if axis in ("images", "time"):
            field = {"images": "images_seen", "time": "elapsed"}[axis]
            name = field if kind == "step" else f"{kind}_{field}"
            values = curves.get(name)
            if values is not None and len(values) == len(s):
                return np.asarray(values, dtype=np.float64)
            # Older runs kept no such curve: through the per-step one, by step.
            per_step = curves.get(field)
            if per_step is not None and len(per_step) == len(curves.get("steps", ())):
                return np.interp(s, np.asarray(curves["steps"], float), np.asarray(per_step, float))
        return s

    def _set_curves(self, curves: _RunCurves, c: dict, axis: str) -> None:
        empty = np.zeros(0)
        loss = np.asarray(c.get("loss_smooth", empty), dtype=np.float64)
        keep = np.isfinite(loss) & (loss > 0)
        curves.loss.setData(self._x(c, axis, "step")[keep], loss[keep])
        validation = c.get("validation_accuracy", c.get("held_out_accuracy", empty))
        validation = np.asarray(validation, dtype=np.float64)
        keep = np.isfinite(validation)
        curves.validation.setData(self._x(c, axis, "eval")[keep], 100 * validation[keep])
        test = np.asarray(c.get("test_accuracy", empty), dtype=np.float64)
        keep = np.isfinite(test)
        curves.test.setData(self._x(c, axis, "epoch")[keep], 100 * test[keep])

    def _mark_changes(self, curves: _RunCurves, info: RunInfo, c: dict, axis: str) -> None:
        """A dotted line with its words at each live change of a setting, on both plots."""
        wanted = 2 * len(info.changes)
        while len(curves.changes) > wanted:
            line = curves.changes.pop()
            (self.loss_plot if len(curves.changes) % 2 == 0 else self.acc_plot).removeItem(line)
        while len(curves.changes) < wanted:
            on_loss = len(curves.changes) % 2 == 0  # the loss plot's line carries the words
            line = pg.InfiniteLine(
                angle=90, movable=False, label="" if on_loss else None, labelOpts={"position": 0.9}
            )
            (self.loss_plot if on_loss else self.acc_plot).addItem(line, ignoreBounds=True)
            curves.changes.append(line)
        steps = np.asarray(c.get("steps", np.zeros(0)), dtype=np.float64)
        x_steps = self._x(c, axis, "step")
        for k, change in enumerate(info.changes):
            x = float(np.interp(change.step, steps, x_steps)) if len(steps) else float(change.step)
            words = f"{info.name}: {change.setting} {change.old} → {change.new} at step {change.step}"
            for line in curves.changes[2 * k : 2 * k + 2]:
                line.setValue(x)
                line.setToolTip(words)
            label = curves.changes[2 * k].label
            label.setFormat(f"{change.setting} → {change.new}")
            label.setColor(self._color(info.id))

    def _detach(self, curves: _RunCurves) -> None:
        self.loss_plot.removeItem(curves.loss)
        self.acc_plot.removeItem(curves.validation)
        self.acc_plot.removeItem(curves.test)
        for k, line in enumerate(curves.changes):
            (self.loss_plot if k % 2 == 0 else self.acc_plot).removeItem(line)

    def _draw_bars(self, chosen: list[RunInfo]) -> None:
        n = len(chosen)
        x = np.arange(n, dtype=np.float64)
        colors = [QColor(self._color(info.id)) for info in chosen]
        train = [100 * info.train_accuracy if info.train_accuracy is not None else 0.0 for info in chosen]
        test = [100 * info.test_accuracy if info.test_accuracy is not None else 0.0 for info in chosen]
        pens = [pg.mkPen(c) for c in colors]
        for bars, xs, heights, brushes in (
            (self.train_bars, x - 0.2, train, [c.lighter(150) for c in colors]),
            (self.test_bars, x + 0.2, test, colors),
        ):
            if n:
                bars.setOpts(x=xs, height=heights, brushes=brushes, pens=pens)
            else:
                bars.setOpts(x=xs, height=heights)  # pyqtgraph 0.14 fails on empty pen lists
        labels = [(xi - 0.2, t, f"{t:.1f}") for xi, t in zip(x, train, strict=True)]
        labels += [(xi + 0.2, t, f"{t:.1f}") for xi, t in zip(x, test, strict=True)]
        self._place_labels(self.final_plot, self._final_labels, labels, (0.5, 1.0))
        ticks = [[(float(i), _short(info.name)) for i, info in enumerate(chosen)]]
        self.final_plot.getAxis("bottom").setTicks(ticks)
        self.final_plot.setXRange(-0.6, max(n - 0.4, 0.6), padding=0)
        # Full height from 0 like the lesson's figure (a cut axis would exaggerate small gaps).
        self.final_plot.setYRange(0, 112, padding=0)

    def _draw_scatter(self, chosen: list[RunInfo]) -> None:
        points = [info for info in chosen if info.test_accuracy is not None and info.param_count > 0]
        xs = np.log10([float(info.param_count) for info in points]) if points else np.zeros(0)
        ys = np.array([100 * info.test_accuracy for info in points])
        self.scatter.setData(
            x=xs, y=ys, brush=[pg.mkBrush(self._color(info.id)) for info in points],
            pen=[pg.mkPen(self._theme.plot_foreground) for _ in points],
        )  # fmt: skip
        labels = [(x, y, _short(info.name, 20)) for x, y, info in zip(xs, ys, points, strict=True)]
        self._place_labels(self.params_plot, self._scatter_labels, labels, (0.0, 1.2))
        if points:
            self.params_plot.setXRange(float(xs.min()) - 0.5, float(xs.max()) + 0.5, padding=0)
            self.params_plot.setYRange(max(0.0, float(ys.min()) - 10), 101, padding=0)

    def _place_labels(self, plot, pool: list[pg.TextItem], labels, anchor) -> None:
        """Value labels, from a pool of text items that only grows."""
        while len(pool) < len(labels):
            item = pg.TextItem(anchor=anchor)
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

    def _write_summary(self, chosen: list[RunInfo]) -> None:
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

    def _csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the runs table", "runs.csv", "CSV file (*.csv)")
        if path and self.export_csv(path):
            self._notice(f"Saved the table to {Path(path).name}.")

    def _notice(self, text: str, error: bool = False) -> None:
        self.notice.setProperty("role", "warning" if error else "")
        self.notice.style().unpolish(self.notice)
        self.notice.style().polish(self.notice)
        self.notice.setText(text)
        self.notice.show()


class _ThousandsAxis(pg.AxisItem):
    """Tick labels as 100,000 rather than 100000 or 1e+05 (also on a log axis)."""

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            # Only 1, 2 and 5 times a power of ten get words: the ticks between would run together.
            words = []
            for v in values:
                number = 10**v
                lead = number / 10 ** math.floor(math.log10(number) + 1e-9)
                words.append(f"{number:,.0f}" if round(lead, 6) in (1.0, 2.0, 5.0) else "")
            return words
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
