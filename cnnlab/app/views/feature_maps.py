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
computation. The arithmetic is the engine's (``cnnlab.engine.explain``); this view only draws it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.views.common import SnapshotNetwork, bind, class_names_for, theme_colors
from cnnlab.app.widgets.adaptive import AdaptiveSplitter
from cnnlab.app.widgets.color_scale import ColorScale
from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.app.widgets.grid_stack import GridStack
from cnnlab.app.widgets.image_grid import ImageGrid
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.engine import Network, UnitExplanation, explain_unit

REDRAW_MS = 80
VECTOR_WIDTH = 40  # flat layers are folded into rows of this many units
SHOWN_CHANNELS = 16  # at most this many input channels in a unit's explanation


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
            grid.setToolTip("Click to see the patch, the filter and their products large, with values")
            grid.tileClicked.connect(lambda *_: self.enlarge_explanation())
        self.enlarge_button = QPushButton("Enlarge…")
        self.enlarge_button.setToolTip("The patch, the filter and their products, large, with every value")
        self.enlarge_button.clicked.connect(self.enlarge_explanation)
        self.enlarge_button.hide()
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
        side_layout.addWidget(self.enlarge_button)
        side_layout.addStretch(0)
        side.setMinimumWidth(260)

        def stacked(width: int, height: int) -> list[int]:
            # Stacked, the maps take nearly all the height until a unit is chosen to be explained.
            hint = self._ex_title.sizeHint().height() + 24
            side_height = height * 3 // 5 if self._selected is not None else hint
            return [max(height - side_height, 1), side_height]

        # The explanation scrolls rather than squeezing its pictures into each other in a short column.
        side_area = QScrollArea()
        side_area.setWidgetResizable(True)
        side_area.setFrameShape(QFrame.NoFrame)
        side_area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        side_area.setWidget(side)
        side_area.setMinimumWidth(side.minimumWidth())
        side = side_area
        splitter = AdaptiveSplitter(threshold=600, stacked_sizes=stacked)
        self._split = splitter
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([560, 380])
        self.scale = ColorScale("activation (the ranges are in each layer's title)", "viridis")
        self.scale.set_words("the layer's lowest", "", "its highest")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.scale)
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
        self._split.restack()
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
            values = f" · values {_fmt(float(a.min()))} to {_fmt(float(a.max()))}" if a.size else ""
            sections.append((name, f"<b>{name}</b>{what} · {'x'.join(map(str, a.shape))}{values}"))
        self.stack.set_sections(sections)
        scale = self._scale.currentData()
        for name, a in zip(self._names, self._acts, strict=True):
            grid = self.stack.grid(name)
            if a.ndim == 3:
                columns = min(a.shape[0], 8)
                numbers = [str(i + 1) for i in range(a.shape[0])] if a.shape[0] > 1 else None
                grid.set_tiles(
                    a,
                    columns=columns,
                    cmap="grey" if name == "input" else "viridis",
                    scale=scale,
                    captions=numbers,
                )
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
    def enlarge_explanation(self) -> QWidget | None:
        """A window with the unit's computation drawn large enough to read every value."""
        if self._last_conv is None or self._selected is None:
            return None
        from cnnlab.app.views.unit_breakdown import UnitBreakdownDialog

        ex, order = self._last_conv
        dialog = UnitBreakdownDialog(self, ex, order, self._sum.text(), self._conv_name(ex))
        dialog.show()
        self._enlarged = dialog
        return dialog

    def _clear_explanation(self) -> None:
        self._selected = None
        self._last_conv = None
        self.enlarge_button.hide()
        if hasattr(self, "_split"):
            self._split.restack()
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
        # Counted from 1, as the lesson numbers filters and the maps' tiles are numbered.
        if len(unit) == 3:
            where = f"channel {unit[0] + 1}, row {unit[1] + 1}, column {unit[2] + 1}"
        else:
            where = f"unit {unit[0] + 1}"
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
        if ex.kernel is not None:
            self._show_conv(ex)
        elif ex.patch is not None:
            self._patch_label.setText(f"The {ex.patch.shape[0]}x{ex.patch.shape[1]} window of {ex.source}:")
            self._reveal(self._patch_label, self._patch)
            self._patch.set_tiles(
                ex.patch[None], columns=1, cmap="viridis", values=True, value_format="{:.2f}"
            )
        elif ex.contribution_map is not None:
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
        captions = [f"ch {i + 1}: {_fmt(ex.per_channel[i])}" for i in order]
        self._last_conv = (ex, order)
        self.enlarge_button.show()
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
            f"Filter {ex.unit[0] + 1} of {ex.layer if not ex.chain else self._conv_name(ex)}:"
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
        elif ex.per_channel is not None:
            if len(ex.per_channel) > 1:
                terms = " ".join(_fmt(v) for v in ex.per_channel[:8])
                more = " …" if len(ex.per_channel) > 8 else ""
                lines.append(f"Σ patch x filter per input channel ({len(ex.per_channel)}):<br>{terms}{more}")
                lines.append(f"= {ex.per_channel.sum():+.4f}")
            else:
                lines.append(f"Σ patch x filter = {ex.per_channel.sum():+.4f}")
            lines.append(f"+ bias {ex.bias:+.4f} = <b>{ex.total:+.4f}</b>")
        elif ex.contributions is not None:
            order = np.argsort(-np.abs(ex.contributions))[:6]
            parts = ", ".join(f"#{i}: {_fmt(ex.contributions[i])}" for i in order)
            lines.append(f"Σ of {len(ex.contributions)} inputs x weights = {ex.contributions.sum():+.4f}")
            lines.append(f"+ bias {ex.bias:+.4f} = <b>{ex.total:+.4f}</b>")
            lines.append(f"largest terms: {parts}")
        elif ex.source_unit is not None:
            lines.append(f"{ex.rule.capitalize()} {ex.source}: {ex.total:.4f}")
        elif ex.rule:
            lines.append(f"{ex.rule.capitalize()}: <b>{ex.total:.4f}</b>")
        else:
            lines.append(f"{ex.kind}: <b>{ex.total:.4f}</b>")
        for layer, kind, value in ex.chain:
            lines.append(f"→ {layer} ({kind}) = <b>{value:+.4f}</b>")
        return "<br>".join(lines)
