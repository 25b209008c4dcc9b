"""Learned filters: every convolution layer's kernels as a grid, updated as training goes.

Public API::

    from cnnlab.app.views.filters import FiltersView

    view = FiltersView(state=None, parent=None)   # with an AppState: follows snapshots (weights and
                                                  # gradients), else the inspector network, and the theme
    view.set_snapshot(snapshot)                   # weights and last-step gradients from a Snapshot (or None)
    view.set_network(network, class_names=None)   # weights of a Network (a loaded checkpoint); no gradients
    view.set_weights(spec, weights, grads=None)   # the same from plain mappings ("conv1.W" -> (F, C, kh, kw))
    view.set_mode(show="weights"|"gradients", channels="each"|"mean", scale="shared"|"filter")
    view.select_filter(layer_name, filter_index, channel=None)   # what clicking a tile does
    view.refresh()                                # redraw now (otherwise redraws are throttled, 5 per second)
    view.layer_grid(layer_name) -> ImageGrid      # the grid of one layer (tests, exports)

    filterSelected(str layer, int filter, int channel)   # channel -1 in "mean" mode

Layout: one section per conv layer, rows = filters, columns = input channels ("each") or one tile per
filter (the mean over input channels). Weights use a diverging map (blue < 0 < red) on a range symmetric
around zero, shared by the layer or per filter. Clicking a tile shows that kernel enlarged with its values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from cnnlab.app.views.common import bind, theme_colors
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.grid_stack import GridStack
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.engine import NetSpec

REDRAW_MS = 200


def conv_layers(spec: NetSpec) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(name, weight shape (F, C, kh, kw)) of every conv layer of a spec."""
    out = []
    for info in spec.validate():
        if info.type == "conv2d":
            k = info.settings["kernel"]
            kh, kw = (k, k) if isinstance(k, int) else tuple(k)
            out.append((info.name, (info.output_shape[0], info.input_shape[0], kh, kw)))
    return out


class FiltersView(QWidget):
    filterSelected = Signal(str, int, int)

    def __init__(self, state=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetSpec | None = None
        self._layers: list[tuple[str, tuple[int, int, int, int]]] = []
        self._weights: Mapping[str, np.ndarray] = {}
        self._grads: Mapping[str, np.ndarray] = {}
        self._step: int | None = None
        self._selected: tuple[str, int, int] | None = None
        self._throttle = Throttle(self, self._redraw, REDRAW_MS)

        self._show = QComboBox()
        self._show.addItem("Weights", "weights")
        self._show.addItem("Gradients (last step)", "gradients")
        self._channels = QComboBox()
        self._channels.addItem("Each input channel", "each")
        self._channels.addItem("Mean over channels", "mean")
        self._scale = QComboBox()
        self._scale.addItem("Shared colour scale", "shared")
        self._scale.addItem("Colour scale per filter", "filter")
        for box in (self._show, self._channels, self._scale):
            box.currentIndexChanged.connect(self.refresh)
        self._status = QLabel()
        self._status.setProperty("role", "muted")
        bar = FlowLayout(spacing=6)
        for w in (self._show, self._channels, self._scale):
            bar.addWidget(w)

        self.stack = GridStack(self, max_tile_px=56)
        self.stack.tileClicked.connect(self._on_tile)
        self._detail_title = QLabel("Click a filter to see it enlarged with its values.")
        self._detail_title.setWordWrap(True)
        self._detail = ImageGrid(self, tile_px=200)
        self._detail.setMinimumSize(180, 180)
        self._detail_text = QLabel()
        self._detail_text.setWordWrap(True)
        self._detail_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self._detail_title)
        side_layout.addWidget(self._detail, 1)
        self.detail_scale = ColorScale("weight value", "diverging")
        self.detail_scale.hide()
        side_layout.addWidget(self.detail_scale)
        side_layout.addWidget(self._detail_text)
        splitter = AdaptiveSplitter(threshold=520)
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.stack.setMinimumWidth(200)
        splitter.setSizes([600, 260])

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self._status)
        self._show_empty()
        bind(self, state, snapshot=True)
        if state is not None:
            # Without a run (a fresh or loaded network) the weights come from the inspector network.
            def from_inspector(net) -> None:
                if state.snapshot is None:
                    self.set_network(net)

            state.inspectorChanged.connect(from_inspector)
            if state.snapshot is None:
                from_inspector(state.inspector())

    # -- public API ---------------------------------------------------------------------------------
    def set_snapshot(self, snapshot) -> None:
        if snapshot is None:
            return
        self.set_weights(snapshot.spec, snapshot.weights, snapshot.grads, step=snapshot.step)

    def set_network(self, network, class_names=None) -> None:
        if network is None or network.spec is None:
            self.set_weights(None, {})
            return
        self.set_weights(network.spec, network.state_dict(), None)

    def set_weights(self, spec: NetSpec | None, weights, grads=None, step: int | None = None) -> None:
        if spec is not self._spec and (spec is None or self._spec is None or spec != self._spec):
            self._spec = spec
            self._layers = conv_layers(spec) if spec is not None else []
            self.stack.set_sections([(name, "") for name, _ in self._layers])
            if self._selected is not None and self._selected[0] not in dict(self._layers):
                self._selected = None
        self._weights = weights
        self._grads = grads or {}
        self._step = step
        self._throttle.request()

    def set_mode(
        self, show: str | None = None, channels: str | None = None, scale: str | None = None
    ) -> None:
        for box, value in ((self._show, show), (self._channels, channels), (self._scale, scale)):
            if value is not None:
                index = box.findData(value)
                if index < 0:
                    raise ValueError(f"unknown option {value!r}")
                box.blockSignals(True)
                box.setCurrentIndex(index)
                box.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        self._throttle.dirty = True
        self._throttle.flush()

    def layer_grid(self, name: str) -> ImageGrid:
        return self.stack.grid(name)

    def select_filter(self, layer: str, index: int, channel: int | None = None) -> None:
        self._selected = (layer, int(index), -1 if channel is None else int(channel))
        self._show_detail()
        self.filterSelected.emit(*self._selected)

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        self.stack.set_colors(colors["background"], colors["foreground"])
        self._detail.set_colors(colors["background"], colors["foreground"])
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self._throttle.shown()

    def _kernels(self, name: str) -> np.ndarray | None:
        source = self._grads if self._show.currentData() == "gradients" else self._weights
        array = source.get(f"{name}.W")
        return None if array is None else np.asarray(array)

    def _show_empty(self) -> None:
        if not self._layers:
            self._status.setText(
                "This network has no convolution layers." if self._spec else "No network yet."
            )

    def _redraw(self) -> None:
        if not self._layers:
            self._show_empty()
            return
        mode = self._channels.currentData()
        per_filter = self._scale.currentData() == "filter"
        showing = self._show.currentData()
        missing = []
        for name, (f, c, kh, kw) in self._layers:
            grid = self.stack.grid(name)
            kernels = self._kernels(name)
            if kernels is None:
                grid.clear()
                missing.append(name)
                continue
            if mode == "mean" or c == 1:
                tiles, columns = kernels.mean(axis=1), min(f, 8)
                layout = f"{f} filters, mean over {c} input channels" if c > 1 else f"{f} filters"
                captions = [f"{i + 1}" for i in range(f)]
            else:
                tiles, columns = kernels.reshape(f * c, kh, kw), c
                layout = f"{f} filters (rows 1-{f}) x {c} input channels (columns 1-{c})"
                captions = [f"{i + 1}·{j + 1}" for i in range(f) for j in range(c)]
            if per_filter:
                # One range per filter, shared by its channels, so channels of a filter stay comparable.
                per = np.abs(kernels).reshape(f, -1).max(axis=1)
                per = np.repeat(per, c) if mode != "mean" else np.abs(tiles).reshape(f, -1).max(axis=1)
                tiles = tiles / np.maximum(per, 1e-12)[:, None, None]
                scale = (-1.0, 1.0)
            else:
                scale = "shared"
            grid.set_tiles(tiles, columns=columns, cmap="diverging", scale=scale, captions=captions)
            peak = float(np.abs(kernels).max()) if kernels.size else 0.0
            self.stack.title(name).setText(
                f"<b>{name}</b> · {kh}x{kw} kernels · {layout} · largest |{showing[0]}| = {peak:.3g}"
            )
        self.stack.relayout()
        step = f" at step {self._step}" if self._step is not None else ""
        if missing and showing == "gradients":
            self._status.setText("No gradients yet: they appear after the first training step.")
        else:
            self._status.setText(
                f"{showing.capitalize()}{step}. Blue is negative, white zero, red positive; "
                f"{'each filter has its own range' if per_filter else 'one range per layer'}."
            )
        self._show_detail()

    def _on_tile(self, key: str, index: int, row: int, col: int) -> None:
        shape = dict(self._layers).get(key)
        if shape is None:
            return
        if self._channels.currentData() == "mean":
            self.select_filter(key, index, None)
        else:
            self.select_filter(key, *divmod(index, shape[1]))

    def _show_detail(self) -> None:
        if self._selected is None:
            return
        name, index, channel = self._selected
        kernels = self._kernels(name)
        shapes = dict(self._layers)
        if kernels is None or name not in shapes or index >= shapes[name][0]:
            self._detail.clear()
            self._detail_text.setText("")
            return
        f, c = shapes[name][:2]
        kernel = kernels[index].mean(axis=0) if channel < 0 else kernels[index, min(channel, c - 1)]
        which = "mean over input channels" if channel < 0 else f"input channel {channel + 1}"
        self._detail_title.setText(f"<b>{name}</b>, filter {index + 1}, {which}")
        reach = float(np.abs(kernel).max()) if kernel.size else 0.0
        self.detail_scale.set_range(-reach, reach, "diverging")
        self.detail_scale.show()
        self._detail.set_tiles(
            kernel[None], columns=1, cmap="diverging", scale="shared", values=kernel.size <= 81
        )
        bias = self._weights.get(f"{name}.b")
        lines = [f"{self._show.currentData()}: min {kernel.min():.4f}, max {kernel.max():.4f}"]
        lines.append(f"L2 norm of the whole filter: {np.linalg.norm(kernels[index]):.4f}")
        if bias is not None and self._show.currentData() == "weights":
            lines.append(f"bias: {float(np.asarray(bias)[index]):.4f}")
        self._detail_text.setText("\n".join(lines))
        grid = self.stack.grid(name)
        tile = index if channel < 0 or self._channels.currentData() == "mean" else index * c + channel
        grid.set_highlight(tile)
        for other in self.stack.keys:
            if other != name:
                self.stack.grid(other).set_highlight(None)
