"""Loss and accuracy against steps, live: the dashboard's main view.

Loss: every batch's (thin) and its moving average (thick), and the validation loss. Accuracy: the running
training accuracy of the epoch, the validation split's (training images set aside, never trained on),
and the full test set's, measured only at each epoch end. The
plot items are made once; each redraw only calls ``setData`` with the snapshot's history arrays.
Hovering shows the values at the step under the mouse; the plots can be saved as PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnlab.app.state import AppState
from cnnlab.app.theme import Theme, style_plot
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.training import Snapshot

REDRAW_MS = 250  # a few redraws a second: as fast as an eye follows a curve


def hovered_x(plots, pos: QPointF) -> float | None:
    """The x (in data units) under the mouse in whichever of ``plots`` it is over, else None."""
    for plot in plots:
        if plot.sceneBoundingRect().contains(pos):
            return plot.getViewBox().mapSceneToView(pos).x()
    return None


def nearest_index(steps: np.ndarray, x: float) -> int | None:
    """Index of the recorded step closest to ``x`` (None when nothing is recorded)."""
    if len(steps) == 0:
        return None
    i = int(np.searchsorted(steps, x))
    if i <= 0:
        return 0
    if i >= len(steps):
        return len(steps) - 1
    return i if steps[i] - x < x - steps[i - 1] else i - 1


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 times a power of ten that is at least ``value``."""
    if not value > 0:
        return 1.0
    scale = 10.0 ** np.floor(np.log10(value))
    for m in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * scale >= value * (1 - 1e-9):
            return float(m * scale)
    return float(10.0 * scale)


def with_alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class CurvesView(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("CurvesView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setToolTip("")
        self.loss_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        self.acc_plot: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.acc_plot.setXLink(self.loss_plot)
        self.loss_plot.setLabel("left", "loss")
        self.acc_plot.setLabel("left", "accuracy", units="%")
        self.acc_plot.setLabel("bottom", "step (batches trained)")
        self.loss_plot.setTitle("Loss")
        self.acc_plot.setTitle("Accuracy")
        self.acc_plot.setLimits(yMin=-5, yMax=105)
        for plot in (self.loss_plot, self.acc_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            for side in ("left", "bottom"):
                # Grid lines at labelled ticks only: the minor ones cost most of a repaint.
                plot.getAxis(side).setStyle(maxTickLevel=0)
            # The view follows the run in coarse steps (see _follow_ranges), so the axes, whose redraw
            # is the expensive part of a repaint, change only now and then.
            plot.disableAutoRange()
            plot.getViewBox().sigRangeChangedManually.connect(self._on_user_zoom)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            plot.getAxis("left").setWidth(58)  # equal axis widths keep the two plots' steps aligned
            plot.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" reads worse than 0.005
        # Loss falls to the lower right and accuracy climbs to the upper right: legends go where they don't.
        self.loss_plot.addLegend(offset=(-10, 10))
        self.acc_plot.addLegend(offset=(-10, -10))

        self.loss_raw = self.loss_plot.plot(name="batch loss")
        self.loss_smooth = self.loss_plot.plot(name="smoothed")
        self.loss_held = self.loss_plot.plot(name="validation loss", symbol="o", symbolSize=5)
        self.acc_train = self.acc_plot.plot(name="training (this epoch)")
        self.acc_held = self.acc_plot.plot(name="validation", symbol="o", symbolSize=5)
        self.acc_test = self.acc_plot.plot(name="test (epoch end)", symbol="s", symbolSize=9)
        self.epoch_lines: list[pg.InfiniteLine] = []
        self.hover_lines = [pg.InfiniteLine(angle=90, movable=False) for _ in range(2)]
        for plot, line in zip((self.loss_plot, self.acc_plot), self.hover_lines, strict=True):
            line.setVisible(False)
            line.setZValue(20)
            plot.addItem(line, ignoreBounds=True)
        self.empty_text = pg.TextItem("Press Start (Ctrl+Enter): the curves appear here.", anchor=(0.5, 0.5))
        self.loss_plot.addItem(self.empty_text, ignoreBounds=True)
        self.empty_text.setPos(0.5, 0.5)

        self.readout = QLabel()
        self.readout.setTextFormat(Qt.PlainText)
        self.readout.setWordWrap(True)
        self.readout.setToolTip("The values at the step under the mouse (the latest values otherwise).")
        self.log_loss = QCheckBox("Log-scale loss")
        self.log_loss.setToolTip(
            "Show the loss on a logarithmic axis, where late small improvements stay visible."
        )
        self.log_loss.toggled.connect(self._set_log_loss)
        self.follow = QCheckBox("Follow the run")
        self.follow.setChecked(True)
        self.follow.setToolTip(
            "Keep the whole run in view as it grows; zooming or panning with the mouse turns this off."
        )
        self.follow.toggled.connect(lambda on: on and self._follow_ranges(force=True))
        self.save_button = QPushButton("Save PNG...")
        self.save_button.setToolTip("Save both plots as a PNG image.")
        bar = QHBoxLayout()
        bar.addWidget(self.follow)
        bar.addWidget(self.log_loss)
        bar.addStretch(1)
        bar.addWidget(self.save_button)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        layout.addLayout(bar)

        self._hover_x: float | None = None
        self._ranges: tuple | None = None
        self._setting_range = False
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._throttle = Throttle(self, self._redraw, interval_ms=REDRAW_MS)
        state.snapshotChanged.connect(self._on_snapshot)
        state.themeChanged.connect(self._apply_theme)
        self._apply_theme(state.theme)
        self._redraw()

    # -- updates -----------------------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        # Every snapshot carries the whole history, so the throttled redraw after the last one shows all;
        # a hidden view only notes that it is out of date.
        self._throttle.request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._throttle.shown()

    def flush(self) -> None:
        """Redraw now (tests and exports)."""
        self._throttle.flush()
        self._redraw()

    def _redraw(self) -> None:
        snap = self.state.snapshot
        if snap is None:
            for item in (self.loss_raw, self.loss_smooth, self.loss_held, self.acc_train, self.acc_held):
                item.setData([], [])
            self.acc_test.setData([], [])
            self._set_epoch_lines(np.zeros(0))
            self.empty_text.setVisible(True)
            self._centre_empty_text()
            self._show_readout()
            return
        h = snap.history
        self.empty_text.setVisible(len(h.steps) == 0)
        if len(h.steps) == 0:
            self._centre_empty_text()
        self.loss_raw.setData(h.steps, h.loss)
        self.loss_smooth.setData(h.steps, h.loss_smooth)
        self.loss_held.setData(h.eval_steps, h.validation_loss)
        self.acc_train.setData(h.steps, h.train_accuracy * 100.0)
        self.acc_held.setData(h.eval_steps, h.validation_accuracy * 100.0)
        self.acc_test.setData(h.epoch_steps, h.test_accuracy * 100.0)
        self._set_epoch_lines(h.epoch_steps)
        self._follow_ranges()
        self._show_readout()

    def _follow_ranges(self, force: bool = False) -> None:
        """Show the whole run, with bounds rounded to steps that change rarely as it grows."""
        snap = self.state.snapshot
        if not self.follow.isChecked() or snap is None or len(snap.history.steps) == 0:
            return
        h = snap.history
        x = (0.0, nice_ceiling(max(float(h.steps[-1]), 10.0) * 1.02))
        losses = np.concatenate([h.loss_smooth, h.validation_loss, h.loss[-200:]])
        losses = losses[np.isfinite(losses)]
        top = float(losses.max()) if len(losses) else 1.0
        if self.log_loss.isChecked():
            positive = losses[losses > 0]
            low = float(positive.min()) if len(positive) else 1e-3
            loss_y = (np.floor(np.log10(low)), np.ceil(np.log10(max(top, low * 10))))
        else:
            loss_y = (0.0, nice_ceiling(top * 1.05))
        # The first few batches' accuracy (near chance) would squeeze the rest of the run into a thin
        # band at the top; the axis starts at the 2nd percentile instead, which early on is chance.
        accs = np.concatenate([h.train_accuracy, h.validation_accuracy, h.test_accuracy]) * 100.0
        accs = accs[np.isfinite(accs)]
        low_acc = float(np.percentile(accs, 2)) if len(accs) else 0.0
        # At least the top tenth of the axis, even when every accuracy is 100% (a 100-101 axis says nothing).
        acc_y = (max(0.0, min(np.floor(low_acc / 10.0) * 10.0, 90.0)), 101.0)
        wanted = (x, loss_y, acc_y)
        if force or wanted != self._ranges:
            self._ranges = wanted
            self._setting_range = True
            try:
                self.loss_plot.setRange(xRange=x, yRange=loss_y, padding=0)
                self.acc_plot.setRange(yRange=acc_y, padding=0)
            finally:
                self._setting_range = False

    def _on_user_zoom(self, *_) -> None:
        if not self._setting_range:
            self.follow.setChecked(False)

    def _centre_empty_text(self) -> None:
        (x0, x1), (y0, y1) = self.loss_plot.viewRange()
        self.empty_text.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def _set_epoch_lines(self, epoch_steps: np.ndarray) -> None:
        # Epoch boundaries, two lines per epoch (one per plot); created only when an epoch ends.
        wanted = 2 * len(epoch_steps)
        while len(self.epoch_lines) > wanted:
            line = self.epoch_lines.pop()
            self._plot_for_line(len(self.epoch_lines)).removeItem(line)
        while len(self.epoch_lines) < wanted:
            line = pg.InfiniteLine(angle=90, movable=False, pen=self._epoch_pen)
            self._plot_for_line(len(self.epoch_lines)).addItem(line, ignoreBounds=True)
            self.epoch_lines.append(line)
        for i, step in enumerate(epoch_steps):
            self.epoch_lines[2 * i].setValue(float(step))
            self.epoch_lines[2 * i + 1].setValue(float(step))

    def _plot_for_line(self, index: int) -> pg.PlotItem:
        return self.loss_plot if index % 2 == 0 else self.acc_plot

    # -- hover -------------------------------------------------------------------------------------
    def _on_mouse_moved(self, pos: QPointF) -> None:
        self._hover_x = hovered_x((self.loss_plot, self.acc_plot), pos)
        self._show_readout()

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self._hover_x = None
        self._show_readout()

    def _show_readout(self) -> None:
        snap = self.state.snapshot
        steps = snap.history.steps if snap is not None else np.zeros(0)
        i = nearest_index(steps, self._hover_x) if self._hover_x is not None else None
        for line in self.hover_lines:
            line.setVisible(i is not None)
            if i is not None:
                line.setValue(float(steps[i]))
        self.readout.setText(self.readout_text(i))

    def readout_text(self, i: int | None = None) -> str:
        """The values at history index ``i`` (None: the latest), in words."""
        snap = self.state.snapshot
        if snap is None or len(snap.history.steps) == 0:
            return "No training yet. Hover over the plots to read values."
        h = snap.history
        latest = i is None
        i = len(h.steps) - 1 if i is None else i
        step = int(h.steps[i])
        parts = [
            f"{'Latest: step' if latest else 'Step'} {step:,}",
            f"loss {h.loss[i]:.4f} (smoothed {h.loss_smooth[i]:.4f})",
            f"training {h.train_accuracy[i]:.1%}",
        ]
        j = nearest_index(h.eval_steps, step)
        if j is not None and h.eval_steps[j] <= step:
            parts.append(f"validation {h.validation_accuracy[j]:.1%} (step {int(h.eval_steps[j]):,})")
        k = int(np.searchsorted(h.epoch_steps, step, side="right")) - 1
        if k >= 0:
            parts.append(f"test {h.test_accuracy[k]:.1%} (epoch {k + 1})")
        parts.append(f"lr {h.lr[i]:.3g}")
        return "  ·  ".join(parts)

    # -- look --------------------------------------------------------------------------------------
    def _set_log_loss(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self._follow_ranges(force=True)

    def _apply_theme(self, theme: Theme) -> None:
        self.graphics.setBackground(theme.plot_background)
        for plot in (self.loss_plot, self.acc_plot):
            style_plot(plot, theme)
        c0, c1, c2 = theme.color(0), theme.color(1), theme.color(2)
        self.loss_raw.setPen(pg.mkPen(with_alpha(c0, 90), width=1))
        # Whole-pixel widths: wide and fractional pens cost the software renderer a third of a repaint.
        self.loss_smooth.setPen(pg.mkPen(c0, width=2))
        self.loss_held.setPen(pg.mkPen(c1, width=1))
        self.loss_held.setSymbolBrush(pg.mkBrush(c1))
        self.loss_held.setSymbolPen(pg.mkPen(c1))
        self.acc_train.setPen(pg.mkPen(c0, width=2))
        self.acc_held.setPen(pg.mkPen(c1, width=1))
        self.acc_held.setSymbolBrush(pg.mkBrush(c1))
        self.acc_held.setSymbolPen(pg.mkPen(c1))
        self.acc_test.setPen(pg.mkPen(c2, width=2, style=Qt.DashLine))
        self.acc_test.setSymbolBrush(pg.mkBrush(c2))
        self.acc_test.setSymbolPen(pg.mkPen(theme.plot_foreground))
        self._epoch_pen = pg.mkPen(with_alpha(theme.plot_foreground, 90), width=1, style=Qt.DotLine)
        for line in self.epoch_lines:
            line.setPen(self._epoch_pen)
        for line in self.hover_lines:
            line.setPen(pg.mkPen(with_alpha(theme.accent, 160), width=1))
        self.empty_text.setColor(theme.muted)

    # -- export ------------------------------------------------------------------------------------
    def export_png(self, path: str | Path, width: int | None = None) -> Path:
        """Save both plots as one PNG (``width`` in pixels; the view's own size by default)."""
        self.flush()
        exporter = pg.exporters.ImageExporter(self.graphics.scene())
        if width is not None:
            exporter.parameters()["width"] = int(width)
        path = Path(path)
        exporter.export(str(path))
        return path
