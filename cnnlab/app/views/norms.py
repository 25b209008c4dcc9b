"""Per-layer weight and gradient norms over the run, on log scales.

A gradient norm that shrinks by orders of magnitude from the last layer to the first is a vanishing
gradient; one that shoots up is an exploding one. Both become visible here long before the loss says so.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnlab.app.state import AppState
from cnnlab.app.theme import Theme, style_plot
from cnnlab.app.views.curves import hovered_x, nearest_index
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.training import Snapshot

REDRAW_MS = 500


def positive(values: np.ndarray) -> np.ndarray:
    """Norms for a log axis: zero (no gradient before the first step) and non-finite values become
    gaps, rather than points dragging the axis down to a made-up floor."""
    out = np.array(values, dtype=np.float64)
    out[~(np.isfinite(out) & (out > 0))] = np.nan
    return out


class NormsView(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("NormsView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.graphics = pg.GraphicsLayoutWidget()
        self.weight_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        self.grad_plot: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.grad_plot.setXLink(self.weight_plot)
        self.weight_plot.setTitle("Weight norm per layer")
        self.grad_plot.setTitle("Gradient norm per layer")
        self.weight_plot.setLabel("left", "‖W‖")
        self.grad_plot.setLabel("left", "‖∂L/∂W‖")
        self.grad_plot.setLabel("bottom", "step")
        for plot in (self.weight_plot, self.grad_plot):
            plot.setLogMode(y=True)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.addLegend(offset=(-10, 10))
            plot.getAxis("left").setWidth(58)
        self.curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}

        self.biases = QCheckBox("Show biases")
        self.biases.setToolTip(
            "Also draw the bias vectors' norms (weights only by default, to keep it readable)."
        )
        self.biases.toggled.connect(lambda _: self._rebuild_curves())
        self.readout = QLabel("Norms appear once training starts.")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.PlainText)
        self.readout.setToolTip("Each layer's norms at the step under the mouse (the latest otherwise).")
        bar = QHBoxLayout()
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.biases)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(bar)

        self._names: tuple[str, ...] = ()
        self._hover_x: float | None = None
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._throttle = Throttle(self, self._redraw, interval_ms=REDRAW_MS)
        state.snapshotChanged.connect(self._on_snapshot)
        state.themeChanged.connect(self._apply_theme)
        self._theme = state.theme
        self._apply_theme(state.theme)

    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        # Every snapshot carries the whole history, so the throttled redraw after the last one shows all;
        # a hidden view only notes that it is out of date.
        self._throttle.request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._throttle.shown()

    def shown_names(self) -> tuple[str, ...]:
        return tuple(self.curves)

    def _rebuild_curves(self) -> None:
        for weight_curve, grad_curve in self.curves.values():
            self.weight_plot.removeItem(weight_curve)
            self.grad_plot.removeItem(grad_curve)
        self.curves = {}
        show_bias = self.biases.isChecked()
        names = [n for n in self._names if show_bias or not n.endswith(".b")]
        for i, name in enumerate(names):
            color = self._theme.color(i)
            dashed = Qt.DashLine if name.endswith(".b") else Qt.SolidLine
            pen = pg.mkPen(color, width=2, style=dashed)
            self.curves[name] = (
                self.weight_plot.plot(name=name, pen=pen, connect="finite"),
                self.grad_plot.plot(name=name, pen=pen, connect="finite"),
            )
        self._redraw()

    def _redraw(self) -> None:
        snap = self.state.snapshot
        names = tuple(snap.history.weight_norms) if snap is not None else ()
        if names != self._names:
            self._names = names
            self._rebuild_curves()
            return
        if snap is None:
            self._show_readout()
            return
        h = snap.history
        for name, (weight_curve, grad_curve) in self.curves.items():
            weight_curve.setData(h.norm_steps, positive(h.weight_norms[name]))
            grad_curve.setData(h.norm_steps, positive(h.grad_norms[name]))
        self._show_readout()

    def _on_mouse_moved(self, pos) -> None:
        self._hover_x = hovered_x((self.weight_plot, self.grad_plot), pos)
        self._show_readout()

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self._hover_x = None
        self._show_readout()

    def _show_readout(self) -> None:
        snap = self.state.snapshot
        if snap is None or len(snap.history.norm_steps) == 0 or not self.curves:
            self.readout.setText("Norms appear once training starts.")
            return
        h = snap.history
        i = nearest_index(h.norm_steps, self._hover_x) if self._hover_x is not None else len(h.norm_steps) - 1
        parts = [f"Step {int(h.norm_steps[i]):,}:"]
        for name in self.curves:
            parts.append(f"{name} ‖W‖ {h.weight_norms[name][i]:.3g}, ‖grad‖ {h.grad_norms[name][i]:.2g}")
        self.readout.setText("  ".join(parts[:1]) + " " + ";  ".join(parts[1:]))

    def _apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.graphics.setBackground(theme.plot_background)
        for plot in (self.weight_plot, self.grad_plot):
            style_plot(plot, theme)
        self._rebuild_curves()
