"""Weight (and gradient) histograms per layer, over the whole run.

Public API::

    from cnnlab.app.views.histograms import HistogramsView

    view = HistogramsView(state=None, parent=None)   # with an AppState: follows snapshots and the theme
    view.set_snapshot(snapshot)                      # appends the snapshot's layer_stats; None resets
    view.reset()
    view.set_parameter(name)                         # e.g. "conv1.W"
    view.set_kind("weights" | "gradients")
    view.parameters -> list of names; view.steps(name) -> np.ndarray of recorded steps
    view.image() -> (value bins, time columns) array shown in the heat map (tests)
    view.refresh()                                   # redraw now (otherwise at most twice a second)

Left: a heat map with training steps across and parameter values up, each column the histogram at that
step (scaled to its own peak), so a layer's weights can be seen spreading, drifting or dying over time.
Right: the latest histogram. Snapshots carry histograms over their own bin edges; they are re-binned here
onto one common value grid through their cumulative counts.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPalette, QShowEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnnlab.app.views.common import theme_colors
from cnnlab.app.widgets import colormaps
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.throttle import Throttle

REDRAW_MS = 500
VALUE_BINS = 80
MAX_COLUMNS = 400  # time columns drawn
MAX_RECORDS = 4000  # histograms kept per parameter; beyond this every other one is dropped


def rebin(counts: np.ndarray, edges: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Counts over ``edges`` -> counts over ``grid`` edges, spreading each bin evenly over its width."""
    cdf = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)])
    if len(edges) != len(cdf) or not np.all(np.isfinite(edges)):
        return np.zeros(len(grid) - 1)
    return np.diff(np.interp(grid, edges, cdf, left=0.0, right=cdf[-1]))


class _Record:
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.hists: list[tuple[np.ndarray, np.ndarray]] = []
        self.norms: list[float] = []

    def append(self, step: int, hist: tuple[np.ndarray, np.ndarray], norm: float) -> None:
        self.steps.append(step)
        self.hists.append(hist)
        self.norms.append(norm)
        if len(self.steps) > MAX_RECORDS:
            # Keep the first and the most recent; thin the middle evenly.
            keep = [*range(0, len(self.steps) - 1, 2), len(self.steps) - 1]
            self.steps = [self.steps[i] for i in keep]
            self.hists = [self.hists[i] for i in keep]
            self.norms = [self.norms[i] for i in keep]


class HistogramsView(QWidget):
    def __init__(self, state=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: dict[str, dict[str, _Record]] = {}  # name -> kind -> record
        self._run_id: str | None = None
        self._last_step: int | None = None
        self._image = np.zeros((0, 0))
        self._throttle = Throttle(self, self._redraw, REDRAW_MS)

        self._param = QComboBox()
        self._param.setMinimumContentsLength(12)
        self._param.currentIndexChanged.connect(self.refresh)
        self._kind = QComboBox()
        self._kind.addItem("Weights", "weights")
        self._kind.addItem("Gradients", "gradients")
        self._kind.currentIndexChanged.connect(self.refresh)
        self._log = QCheckBox("Log colour")
        self._log.setToolTip("Colour by the logarithm of the count, to see the thin tails")
        self._log.setChecked(True)
        self._log.toggled.connect(self.refresh)
        self._status = QLabel("No training run yet.")
        self._status.setWordWrap(True)
        self._status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        bar = FlowLayout(spacing=6)
        for w in (QLabel("Parameter:"), self._param, self._kind, self._log):
            bar.addWidget(w)

        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        self.heat = pg.PlotWidget(background=background)
        item = self.heat.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setLabel("bottom", "training step")
        item.setLabel("left", "value")
        self._heat = pg.ImageItem(axisOrder="row-major")
        item.addItem(self._heat)
        self.latest = pg.PlotWidget(background=background)
        item = self.latest.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setLabel("bottom", "value")
        item.setLabel("left", "count")
        self._curve = item.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(0, 114, 178, 120))
        self.scale = ColorScale("share of the column's largest bin", "viridis")
        self.scale.setToolTip(
            "Each column (one moment of training) is scaled to its own fullest bin: bright = most values"
        )
        heat_part = QWidget()
        heat_layout = QVBoxLayout(heat_part)
        heat_layout.setContentsMargins(0, 0, 0, 0)
        heat_layout.addWidget(self.heat, 1)
        heat_layout.addWidget(self.scale)
        splitter = AdaptiveSplitter(threshold=480)
        splitter.addWidget(heat_part)
        splitter.addWidget(self.latest)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        if state is not None:
            state.themeChanged.connect(self.apply_theme)
            self.apply_theme(state.theme)
            state.snapshotChanged.connect(self.set_snapshot)
            if state.snapshot is not None:
                self.set_snapshot(state.snapshot)

    # -- public API ---------------------------------------------------------------------------------
    @property
    def parameters(self) -> list[str]:
        return list(self._records)

    def steps(self, name: str, kind: str = "weights") -> np.ndarray:
        return np.asarray(self._records[name][kind].steps)

    def image(self) -> np.ndarray:
        return self._image

    def reset(self) -> None:
        self._records.clear()
        self._run_id = None
        self._last_step = None
        self._param.blockSignals(True)
        self._param.clear()
        self._param.blockSignals(False)
        self._image = np.zeros((0, 0))
        self._heat.clear()
        self._curve.setData([0, 1], [0])
        self._status.setText("No training run yet.")

    def set_snapshot(self, snapshot) -> None:
        if snapshot is None:
            self.reset()
            return
        if snapshot.run_id != self._run_id:
            self.reset()
            self._run_id = snapshot.run_id
        if snapshot.step == self._last_step:
            return  # several events at one step carry the same weights
        self._last_step = snapshot.step
        new_names = False
        for stats in snapshot.layer_stats:
            if stats.name not in self._records:
                self._records[stats.name] = {"weights": _Record(), "gradients": _Record()}
                new_names = True
            record = self._records[stats.name]
            record["weights"].append(snapshot.step, stats.weight_hist, stats.weight_norm)
            if snapshot.step > 0:  # before the first step there are no gradients
                record["gradients"].append(snapshot.step, stats.grad_hist, stats.grad_norm)
        if new_names:
            current = self._param.currentText()
            self._param.blockSignals(True)
            self._param.clear()
            self._param.addItems(self.parameters)
            if current in self._records:
                self._param.setCurrentText(current)
            self._param.blockSignals(False)
        self._throttle.request()

    def set_parameter(self, name: str) -> None:
        if name not in self._records:
            raise KeyError(f"no parameter {name!r}; recorded: {', '.join(self._records)}")
        self._param.setCurrentText(name)
        self.refresh()

    def set_kind(self, kind: str) -> None:
        index = self._kind.findData(kind)
        if index < 0:
            raise ValueError(f"kind must be 'weights' or 'gradients', got {kind!r}")
        self._kind.setCurrentIndex(index)
        self.refresh()

    def refresh(self) -> None:
        self._throttle.dirty = True
        self._throttle.flush()

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        fg = QColor(colors["foreground"])
        for plot in (self.heat, self.latest):
            plot.setBackground(colors["background"])
            item = plot.getPlotItem()
            for side in ("left", "bottom"):
                axis = item.getAxis(side)
                axis.setPen(fg)
                axis.setTextPen(fg)
                axis.label.setDefaultTextColor(fg)

    # -- drawing ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self._throttle.shown()

    def _redraw(self) -> None:
        name = self._param.currentText()
        kind = self._kind.currentData()
        record = self._records.get(name, {}).get(kind)
        if record is None or not record.steps:
            self._image = np.zeros((0, 0))
            self._heat.clear()
            self._curve.setData([0, 1], [0])
            if self._records:
                self._status.setText(f"No {kind} recorded yet for {name}.")
            return
        steps = np.asarray(record.steps)
        lo = min(float(e[0]) for _, e in record.hists if len(e))
        hi = max(float(e[-1]) for _, e in record.hists if len(e))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        grid = np.linspace(lo, hi, VALUE_BINS + 1)
        columns = min(MAX_COLUMNS, max(len(steps), 1))
        if len(steps) > 1 and steps[-1] > steps[0]:
            # Each column shows the latest histogram at or before its step: time runs evenly across.
            times = np.linspace(steps[0], steps[-1], columns)
            chosen = np.clip(np.searchsorted(steps, times, side="right") - 1, 0, len(steps) - 1)
        else:
            chosen = np.arange(len(steps))[-columns:]
        image = np.empty((VALUE_BINS, len(chosen)))
        for col, i in enumerate(chosen):
            counts, edges = record.hists[i]
            image[:, col] = rebin(np.asarray(counts), np.asarray(edges), grid)
        if self._log.isChecked():
            image = np.log1p(image)
        self.scale.caption = (
            "log(1 + count), as a share of the column's largest"
            if self._log.isChecked()
            else "count, as a share of the column's largest"
        )
        self.scale.set_range(0.0, 1.0)
        peak = image.max(axis=0, keepdims=True)
        image = np.divide(image, peak, out=np.zeros_like(image), where=peak > 0)
        self._image = image
        self._heat.setImage(colormaps.apply(image, 0.0, 1.0, "viridis"), autoLevels=False, levels=(0, 255))
        span = max(float(steps[-1] - steps[0]), 1.0)
        self._heat.setRect(QRectF(float(steps[0]), lo, span, hi - lo))
        self.heat.getPlotItem().setRange(xRange=(steps[0], steps[0] + span), yRange=(lo, hi), padding=0.02)
        counts, edges = record.hists[-1]
        self._curve.setData(np.asarray(edges), np.asarray(counts, dtype=float))
        self._status.setText(
            f"{name} {kind}: {len(steps)} histograms, steps {steps[0]}–{steps[-1]}; "
            f"latest norm {record.norms[-1]:.4g}"
        )
