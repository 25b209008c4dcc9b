"""Feature maps: what every layer makes of one input, and how one unit's value came about.

Public API::

    from cnnlab.app.views.feature_maps import FeatureMapsView

    view = FeatureMapsView(state=None, parent=None)  # with an AppState: follows the inspector network,
                                                     # the dataset and the theme
    view.set_network(network, class_names=None)      # a Network (the inspector, or a checkpoint's)
    view.set_snapshot(snapshot)                      # or a private network holding a snapshot's weights
    view.set_dataset(dataset)                        # enables the "test image" source
    view.set_drawing(image)                          # the drawing pad's input (28, 28) or None; connect
                                                     #   DrawingPanel.inputChanged -> view.set_drawing
    view.show_test_image(index)                      # switch the source to a test image
    view.set_source("drawing" | "test")
    view.select_unit(layer, channel, y, x)           # what clicking a unit does; layer: a layer name or
                                                     #   "input"; flat layers: channel = the unit
    view.refresh()                                   # redraw now (otherwise at most ~12 times a second)
    view.layer_grid(name) -> ImageGrid; view.sections -> [(name, output shape), ...]

    unitSelected(str layer, int channel, int y, int x)

Every layer's output for the current input is shown in order (input, conv, activation, pool, ...,
flatten, dense), one tile per channel, titled with its shape. Clicking a unit frames its receptive field
on the input and shows the computation that produced it: for a convolution, the input patch, the filter
and their products per input channel, summed with the bias; for pooling, the window; for a dense layer,
the largest contributions; activations and other element-wise layers are followed down to that
computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.views.common import SnapshotNetwork, bind, class_names_for, theme_colors
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.grid_stack import GridStack
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.engine import Network
from cnnlab.engine.layers.conv import resolve_padding

REDRAW_MS = 80
ELEMENTWISE = {"relu", "leaky_relu", "elu", "tanh", "sigmoid", "batchnorm", "dropout"}
VECTOR_WIDTH = 40  # flat layers are folded into rows of this many units
SHOWN_CHANNELS = 16  # at most this many input channels in a unit's explanation


# -- the arithmetic behind one unit (pure NumPy, tested on its own) ---------------------------------
@dataclass
class UnitExplanation:
    """How the value of one unit came about. ``layer_index`` indexes ``network.layers`` (-1: the input)."""

    layer_index: int
    layer: str
    unit: tuple[int, ...]  # (c, y, x) for maps, (u,) for flat layers
    value: float
    kind: str  # the computing layer's kind: conv2d, maxpool2d, avgpool2d, dense, flatten, input
    source: str = ""  # the layer whose output the computation reads
    receptive_field: tuple[int, int, int, int] | None = None  # (top, left, bottom, right) on the input
    patch: np.ndarray | None = None  # conv: (C, kh, kw) input values; pool: (kh, kw) window
    kernel: np.ndarray | None = None  # conv: (C, kh, kw) weights
    products: np.ndarray | None = None  # conv: patch * kernel
    per_channel: np.ndarray | None = None  # conv: products summed per input channel
    bias: float = 0.0
    total: float = 0.0  # the computed value before the element-wise chain
    contributions: np.ndarray | None = None  # dense: input * weight per input unit
    contribution_map: np.ndarray | None = None  # dense after flatten: contributions as (C, H, W)
    chain: list[tuple[str, str, float]] = field(default_factory=list)  # (layer, kind, value after it)


def receptive_field(network: Network, shapes: list[tuple[int, ...]], index: int, y: int, x: int):
    """Input rows/columns (top, left, bottom, right), inclusive and clipped, that unit (y, x) of layer
    ``index``'s output depends on; ``shapes[j]`` is the input shape of layer j (C, H, W)."""
    top, bottom, left, right = y, y, x, x
    for j in range(index, -1, -1):
        layer = network.layers[j]
        if layer.kind == "conv2d":
            kh, kw = layer.kernel
            s = layer.stride
            pads = resolve_padding(layer.padding, shapes[j][1:], layer.kernel, s)
            top, bottom = top * s - pads[0], bottom * s - pads[0] + kh - 1
            left, right = left * s - pads[2], right * s - pads[2] + kw - 1
        elif layer.kind in ("maxpool2d", "avgpool2d"):
            kh, kw = layer.kernel
            s = layer.stride
            top, bottom = top * s, bottom * s + kh - 1
            left, right = left * s, right * s + kw - 1
        elif layer.kind not in ELEMENTWISE:
            return None
    h, w = shapes[0][1:]
    return max(top, 0), max(left, 0), min(bottom, h - 1), min(right, w - 1)


def explain_unit(
    network: Network, acts: list[np.ndarray], index: int, unit: tuple[int, ...]
) -> UnitExplanation:
    """Explain unit ``unit`` of layer ``index``'s output; ``acts[0]`` is the input and ``acts[j + 1]``
    layer j's output, each without the batch axis (as ``network.activations`` gives them, batch 1)."""
    value = float(acts[index + 1][unit])
    name = "input" if index < 0 else network.layers[index].name
    shapes = [a.shape for a in acts]
    # Walk down through element-wise layers to the layer that computes something from many inputs.
    chain = []
    j = index
    while j >= 0 and network.layers[j].kind in ELEMENTWISE:
        chain.append((network.layers[j].name, network.layers[j].kind, float(acts[j + 1][unit])))
        j -= 1
    chain.reverse()
    spatial = len(unit) == 3
    rf = receptive_field(network, shapes, index, unit[1], unit[2]) if spatial else None
    if index >= 0 and rf is None and spatial:
        rf = (0, 0, shapes[0][1] - 1, shapes[0][2] - 1)
    ex = UnitExplanation(index, name, unit, value, "input", receptive_field=rf, chain=chain)
    if j < 0:
        ex.total = float(acts[0][unit])
        if index < 0 and spatial:
            ex.receptive_field = (unit[1], unit[2], unit[1], unit[2])
        return ex
    layer = network.layers[j]
    x = acts[j]  # the computing layer's input
    ex.kind, ex.source = layer.kind, "input" if j == 0 else network.layers[j - 1].name
    if layer.kind == "conv2d":
        c, y0, x0 = unit
        kh, kw = layer.kernel
        s = layer.stride
        t, b, left, r = resolve_padding(layer.padding, x.shape[1:], layer.kernel, s)
        padded = np.pad(x, ((0, 0), (t, b), (left, r))) if (t or b or left or r) else x
        ex.patch = padded[:, y0 * s : y0 * s + kh, x0 * s : x0 * s + kw].astype(np.float64)
        ex.kernel = np.asarray(layer.params["W"][c], dtype=np.float64)
        ex.products = ex.patch * ex.kernel
        ex.per_channel = ex.products.sum(axis=(1, 2))
        ex.bias = float(layer.params["b"][c])
        ex.total = float(ex.per_channel.sum() + ex.bias)
    elif layer.kind in ("maxpool2d", "avgpool2d"):
        c, y0, x0 = unit
        kh, kw = layer.kernel
        s = layer.stride
        ex.patch = x[c, y0 * s : y0 * s + kh, x0 * s : x0 * s + kw].astype(np.float64)
        ex.total = float(ex.patch.max() if layer.kind == "maxpool2d" else ex.patch.mean())
    elif layer.kind == "dense":
        (u,) = unit
        w = np.asarray(layer.params["W"][:, u], dtype=np.float64)
        ex.contributions = x.astype(np.float64) * w
        ex.bias = float(layer.params["b"][u])
        ex.total = float(ex.contributions.sum() + ex.bias)
        if j >= 1 and network.layers[j - 1].kind == "flatten" and acts[j - 1].ndim == 3:
            ex.contribution_map = ex.contributions.reshape(acts[j - 1].shape)
    elif layer.kind == "flatten":
        (u,) = unit
        ex.total = float(x.reshape(-1)[u])
        if x.ndim == 3:
            c, y0, x0 = np.unravel_index(u, x.shape)
            ex.unit = (u,)
            ex.patch = np.array([[ex.total]])
            ex.receptive_field = receptive_field(network, shapes, j - 1, int(y0), int(x0)) if j >= 1 else None
            ex.source = f"{ex.source}[{c}, {y0}, {x0}]"
    else:
        ex.total = value
    return ex


def fold_vector(v: np.ndarray) -> np.ndarray:
    """A flat layer's output (F,) as one (rows, <= VECTOR_WIDTH) tile, NaN-padded."""
    n = v.size
    width = min(n, VECTOR_WIDTH)
    rows = -(-n // width)
    out = np.full(rows * width, np.nan, dtype=np.float32)
    out[:n] = v
    return out.reshape(rows, width)


def _fmt(v: float) -> str:
    return f"{v:+.3f}"


class FeatureMapsView(QWidget):
    unitSelected = Signal(str, int, int, int)

    def __init__(self, state=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._network: Network | None = None
        self._class_names: tuple[str, ...] = ()
        self._snapnet = SnapshotNetwork()
        self._dataset = None
        self._drawing: np.ndarray | None = None
        self._source = "drawing"
        self._acts: list[np.ndarray] = []
        self._names: list[str] = []
        self._selected: tuple[str, tuple[int, ...]] | None = None
        self._input_label = ""
        self._rng = np.random.default_rng()
        self._throttle = Throttle(self, self._redraw, REDRAW_MS)

        self._source_box = QComboBox()
        self._source_box.addItem("Drawing pad", "drawing")
        self._source_box.addItem("Test image", "test")
        self._source_box.currentIndexChanged.connect(
            lambda _: self.set_source(self._source_box.currentData())
        )
        self._index = QSpinBox()
        self._index.setRange(0, 0)
        self._index.setEnabled(False)
        self._index.valueChanged.connect(lambda i: self.show_test_image(i))
        self._random = QPushButton("Random")
        self._random.setEnabled(False)
        self._random.clicked.connect(self._random_test_image)
        self._scale = QComboBox()
        self._scale.addItem("Colour scale per layer", "shared")
        self._scale.addItem("Colour scale per map", "tile")
        self._scale.currentIndexChanged.connect(self.refresh)
        bar = FlowLayout(spacing=6)
        for w in (QLabel("Input:"), self._source_box, self._index, self._random, self._scale):
            bar.addWidget(w)

        self.stack = GridStack(self, max_tile_px=120, min_tile_px=24)
        self.stack.tileClicked.connect(self._on_tile)
        self._status = QLabel()
        self._status.setWordWrap(True)

        # The explanation of one unit.
        self._ex_title = QLabel("Click a unit in any map to see where its value comes from.")
        self._ex_title.setWordWrap(True)
        self._ex_title.setTextFormat(Qt.TextFormat.RichText)
        self._rf = ImageGrid(self, tile_px=140)
        self._rf.setFixedSize(150, 150)
        self._rf.setToolTip("The unit's receptive field: the input pixels its value depends on")
        self._patch_label, self._patch = QLabel(), ImageGrid(self, tile_px=40)
        self._kernel_label, self._kernel = QLabel(), ImageGrid(self, tile_px=40)
        self._product_label, self._product = QLabel(), ImageGrid(self, tile_px=40)
        for grid in (self._patch, self._kernel, self._product):
            grid.setMinimumHeight(60)
        self._sum = QLabel()
        self._sum.setWordWrap(True)
        self._sum.setTextFormat(Qt.TextFormat.RichText)
        self._sum.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self._ex_title)
        rf_row = QHBoxLayout()
        rf_row.addWidget(self._rf)
        rf_row.addWidget(self._sum, 1)
        side_layout.addLayout(rf_row)
        for label, grid in (
            (self._patch_label, self._patch),
            (self._kernel_label, self._kernel),
            (self._product_label, self._product),
        ):
            label.setWordWrap(True)
            side_layout.addWidget(label)
            side_layout.addWidget(grid, 1)
        side_layout.addStretch(0)
        side.setMinimumWidth(260)

        splitter = AdaptiveSplitter(threshold=600)
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([560, 380])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self._status)
        self._clear_explanation()
        bind(self, state, network=True, dataset=True)

    # -- public API ---------------------------------------------------------------------------------
    @property
    def sections(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(n, a.shape) for n, a in zip(self._names, self._acts, strict=True)]

    def set_network(self, network: Network | None, class_names=None) -> None:
        self._network = network
        self._class_names = class_names_for(network, class_names)
        self._throttle.request()

    def set_snapshot(self, snapshot) -> None:
        if snapshot is not None:
            self.set_network(self._snapnet.update(snapshot), snapshot.class_names)

    def set_dataset(self, dataset) -> None:
        self._dataset = dataset
        has = dataset is not None and len(dataset.test_images) > 0
        self._index.blockSignals(True)
        self._index.setRange(0, len(dataset.test_images) - 1 if has else 0)
        self._index.blockSignals(False)
        self._index.setEnabled(has)
        self._random.setEnabled(has)
        if has and self._source == "drawing" and self._drawing is None:
            self.set_source("test")
        self._throttle.request()

    def set_drawing(self, image: np.ndarray | None) -> None:
        self._drawing = None if image is None else np.asarray(image, dtype=np.float32)
        if self._drawing is not None and self._source != "drawing":
            self.set_source("drawing")
        if self._source == "drawing":
            self._throttle.request()

    def set_source(self, source: str) -> None:
        if source not in ("drawing", "test"):
            raise ValueError(f"source must be 'drawing' or 'test', got {source!r}")
        self._source = source
        index = self._source_box.findData(source)
        if self._source_box.currentIndex() != index:
            self._source_box.blockSignals(True)
            self._source_box.setCurrentIndex(index)
            self._source_box.blockSignals(False)
        self._throttle.request()

    def show_test_image(self, index: int) -> None:
        if self._dataset is None:
            raise RuntimeError("no dataset: call set_dataset first")
        if self._index.value() != index:
            self._index.blockSignals(True)
            self._index.setValue(index)
            self._index.blockSignals(False)
        self.set_source("test")

    def current_input(self) -> np.ndarray | None:
        if self._source == "test" and self._dataset is not None:
            i = self._index.value()
            label = self._dataset.class_names[int(self._dataset.test_labels[i])]
            self._input_label = f"test image #{i} (a {label})"
            return self._dataset.test_images[i].astype(np.float32) / 255.0
        self._input_label = "the drawing"
        return self._drawing

    def refresh(self) -> None:
        self._throttle.dirty = True
        self._throttle.flush()

    def layer_grid(self, name: str) -> ImageGrid:
        return self.stack.grid(name)

    def select_unit(self, layer: str, channel: int, y: int = 0, x: int = 0) -> UnitExplanation | None:
        if layer not in self._names:
            raise KeyError(f"no layer named {layer!r}; the layers are {', '.join(self._names)}")
        shape = self._acts[self._names.index(layer)].shape
        unit = (int(channel), int(y), int(x)) if len(shape) == 3 else (int(channel),)
        self._selected = (layer, unit)
        explanation = self._explain()
        self.stack.ensureWidgetVisible(self.stack.grid(layer), 0, 10)
        self.unitSelected.emit(layer, int(channel), int(y), int(x))
        return explanation

    def apply_theme(self, theme) -> None:
        colors = theme_colors(theme)
        self.stack.set_colors(colors["background"], colors["foreground"])
        for grid in (self._rf, self._patch, self._kernel, self._product):
            grid.set_colors(colors["background"], colors["foreground"])
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self._throttle.shown()

    def _random_test_image(self) -> None:
        if self._dataset is not None:
            self.show_test_image(int(self._rng.integers(len(self._dataset.test_images))))

    def _redraw(self) -> None:
        net = self._network
        x = self.current_input()
        if net is None or x is None:
            self._status.setText(
                "No network yet." if net is None else "Draw a digit on the pad, or choose a test image."
            )
            self.stack.set_sections([])
            self._acts, self._names = [], []
            self._clear_explanation()
            return
        shape = tuple(net.spec.input_shape) if net.spec is not None else (1, 28, 28)
        if x.ndim == 2:
            x = x[None]
        if x.shape != shape:
            self._status.setText(f"This network takes {'x'.join(map(str, shape))} inputs, not {x.shape}.")
            return
        outputs = net.activations(x[None])
        self._names = [name for name, _ in outputs]
        self._acts = [a[0] for _, a in outputs]
        kinds = ["input"] + [layer.kind for layer in net.layers]
        sections = []
        for name, kind, a in zip(self._names, kinds, self._acts, strict=True):
            what = "" if kind == "input" else f" ({kind})"
            sections.append((name, f"<b>{name}</b>{what} · {'x'.join(map(str, a.shape))}"))
        self.stack.set_sections(sections)
        scale = self._scale.currentData()
        for name, a in zip(self._names, self._acts, strict=True):
            grid = self.stack.grid(name)
            if a.ndim == 3:
                columns = min(a.shape[0], 8)
                grid.set_tiles(a, columns=columns, cmap="grey" if name == "input" else "viridis", scale=scale)
            else:
                grid.set_tiles(fold_vector(a)[None], columns=1, cmap="viridis", scale="shared")
        last = self._acts[-1]
        if last.ndim == 1 and len(last) == len(self._class_names):
            top = int(np.argmax(last))
            self.stack.title(self._names[-1]).setText(
                sections[-1][1] + f" · largest: {self._class_names[top]} ({last[top]:+.2f})"
            )
        self.stack.relayout()
        self._status.setText(
            f"Input: {self._input_label}. Brighter is larger; "
            f"{'each map has its own range' if scale == 'tile' else 'one range per layer'}. "
            "Click a unit to see how its value was computed."
        )
        if self._selected is not None and self._selected[0] in self._names:
            self._explain()
        else:
            self._clear_explanation()

    def _on_tile(self, key: str, index: int, row: int, col: int) -> None:
        a = self._acts[self._names.index(key)]
        if a.ndim == 3:
            self.select_unit(key, index, row, col)
        else:
            unit = row * min(a.size, VECTOR_WIDTH) + col
            if unit < a.size:
                self.select_unit(key, unit)

    # -- the explanation ----------------------------------------------------------------------------
    def _clear_explanation(self) -> None:
        self._selected = None
        for grid in (self._rf, self._patch, self._kernel, self._product):
            grid.clear()
            grid.hide()
        for label in (self._patch_label, self._kernel_label, self._product_label, self._sum):
            label.setText("")
        self._ex_title.setText("Click a unit in any map to see where its value comes from.")
        for key in self.stack.keys:
            self.stack.grid(key).set_highlight(None)

    def _explain(self) -> UnitExplanation | None:
        if self._selected is None or self._network is None:
            return None
        layer, unit = self._selected
        index = self._names.index(layer) - 1
        ex = explain_unit(self._network, self._acts, index, unit)
        # Frame the unit in its map, and nothing elsewhere.
        for key in self.stack.keys:
            self.stack.grid(key).set_highlight(None)
        grid = self.stack.grid(layer)
        if len(unit) == 3:
            grid.set_highlight(unit[0], (unit[1], unit[2]))
        else:
            width = min(self._acts[index + 1].size, VECTOR_WIDTH)
            grid.set_highlight(0, divmod(unit[0], width))
        where = f"channel {unit[0]}, row {unit[1]}, column {unit[2]}" if len(unit) == 3 else f"unit {unit[0]}"
        self._ex_title.setText(f"<b>{layer}</b>, {where}: value <b>{ex.value:.4f}</b>")
        image = self._acts[0]
        self._rf.show()
        self._rf.set_tiles(
            image[:1] if image.ndim == 3 else image[None], columns=1, cmap="grey", scale=(0, 1)
        )
        if ex.receptive_field is not None:
            t, left, b, r = ex.receptive_field
            self._rf.set_region(0, t, left, b, r)
        else:
            self._rf.set_highlight(None)  # a flat layer's unit sees the whole input
        for grid in (self._patch, self._kernel, self._product):
            grid.clear()
            grid.hide()
        for label in (self._patch_label, self._kernel_label, self._product_label):
            label.setText("")
            label.hide()
        self._sum.setText(self._describe(ex))
        if ex.kind == "conv2d":
            self._show_conv(ex)
        elif ex.kind in ("maxpool2d", "avgpool2d"):
            self._patch_label.setText(f"The {ex.patch.shape[0]}x{ex.patch.shape[1]} window of {ex.source}:")
            self._reveal(self._patch_label, self._patch)
            self._patch.set_tiles(
                ex.patch[None], columns=1, cmap="viridis", values=True, value_format="{:.2f}"
            )
        elif ex.kind == "dense" and ex.contribution_map is not None:
            cmap = ex.contribution_map
            self._patch_label.setText(
                f"Each input's contribution (input x weight), laid out as {ex.source}'s "
                f"{'x'.join(map(str, cmap.shape))} maps; red pushes the value up, blue down:"
            )
            self._reveal(self._patch_label, self._patch)
            self._patch.set_tiles(cmap, columns=min(len(cmap), 8), cmap="diverging", scale="shared")
        return ex

    @staticmethod
    def _reveal(*widgets: QWidget) -> None:
        for w in widgets:
            w.show()

    def _show_conv(self, ex: UnitExplanation) -> None:
        c = len(ex.per_channel)
        order = np.argsort(-np.abs(ex.per_channel))[:SHOWN_CHANNELS] if c > 1 else np.arange(c)
        order = np.sort(order)
        which = f" (the {len(order)} input channels contributing most)" if c > len(order) else ""
        kh, kw = ex.kernel.shape[1:]
        show_values = len(order) <= 2 and kh * kw <= 49
        captions = [f"ch {i}: {_fmt(ex.per_channel[i])}" for i in order]
        self._reveal(
            self._patch_label,
            self._patch,
            self._kernel_label,
            self._kernel,
            self._product_label,
            self._product,
        )
        self._patch_label.setText(f"Input patch from {ex.source}{which}:")
        self._patch.set_tiles(
            ex.patch[order], columns=min(len(order), 8), cmap="viridis", values=show_values, caption_lines=0
        )
        self._kernel_label.setText(
            f"Filter {ex.unit[0]} of {ex.layer if not ex.chain else self._conv_name(ex)}:"
        )
        self._kernel.set_tiles(
            ex.kernel[order], columns=min(len(order), 8), cmap="diverging", values=show_values
        )
        self._product_label.setText("Patch x filter, summed per channel:")
        self._product.set_tiles(
            ex.products[order],
            columns=min(len(order), 8),
            cmap="diverging",
            values=show_values,
            captions=captions if c > 1 else None,
            caption_lines=1 if c > 1 else 0,
        )

    def _conv_name(self, ex: UnitExplanation) -> str:
        j = ex.layer_index - len(ex.chain)
        return self._network.layers[j].name if self._network is not None and j >= 0 else ex.layer

    def _describe(self, ex: UnitExplanation) -> str:
        lines = []
        if ex.kind == "input":
            lines.append(f"An input pixel: {ex.total:.4f}.")
        elif ex.kind == "conv2d":
            if len(ex.per_channel) > 1:
                terms = " ".join(_fmt(v) for v in ex.per_channel[:8])
                more = " …" if len(ex.per_channel) > 8 else ""
                lines.append(f"Σ patch x filter per input channel ({len(ex.per_channel)}):<br>{terms}{more}")
                lines.append(f"= {ex.per_channel.sum():+.4f}")
            else:
                lines.append(f"Σ patch x filter = {ex.per_channel.sum():+.4f}")
            lines.append(f"+ bias {ex.bias:+.4f} = <b>{ex.total:+.4f}</b>")
        elif ex.kind == "maxpool2d":
            lines.append(f"The largest value in the window: <b>{ex.total:.4f}</b>")
        elif ex.kind == "avgpool2d":
            lines.append(f"The mean of the window: <b>{ex.total:.4f}</b>")
        elif ex.kind == "dense":
            order = np.argsort(-np.abs(ex.contributions))[:6]
            parts = ", ".join(f"#{i}: {_fmt(ex.contributions[i])}" for i in order)
            lines.append(f"Σ of {len(ex.contributions)} inputs x weights = {ex.contributions.sum():+.4f}")
            lines.append(f"+ bias {ex.bias:+.4f} = <b>{ex.total:+.4f}</b>")
            lines.append(f"largest terms: {parts}")
        elif ex.kind == "flatten":
            lines.append(f"Copied from {ex.source}: {ex.total:.4f}")
        for layer, kind, value in ex.chain:
            lines.append(f"→ {layer} ({kind}) = <b>{value:+.4f}</b>")
        return "<br>".join(lines)
