"""The architecture editor: change the network as plain data (a ``NetSpec``), see its shapes, build it.

Public API::

    editor = ArchitectureEditor(spec=None, num_classes=10, parent=None)  # None: the seed preset
    editor.spec() -> NetSpec                  # what is being edited (valid or not)
    editor.set_spec(spec, undoable=True)      # show another spec (a reloaded run's network ...)
    editor.analysis() -> Analysis             # per-layer LayerInfo and the first SpecError (spec_edit)
    editor.is_valid() -> bool
    editor.set_num_classes(n)                 # the data's class count; the last layer must match
    editor.set_build_enabled(flag)            # the window may hold Build back (while stopping a run)
    editor.set_built_spec(spec)               # the spec of the network in use; edits since are marked
    editor.load_preset(name)                  # one of cnnlab.engine.PRESET_NAMES, undoable
    editor.load_file(path) -> bool            # JSON spec (or a run's config.json); a file that is not one, or
                                              # is too large, deep or odd to be a spec, is refused with a
                                              # message and the spec being edited stays as it was
    editor.save_file(path) -> bool
    editor.undo_stack() -> QUndoStack
    editor.request_build()                    # what the Build button does

Signals::

    specChanged(NetSpec)        # after every edit, undo and redo, valid or not
    validityChanged(bool)       # the spec became buildable / unbuildable
    buildRequested(NetSpec)     # the learner pressed Build on a valid spec; the window asks (if a run is
                                # going), stops the run cleanly, builds fresh weights, then calls
                                # set_built_spec(spec)

The panel lists the layers (the input first); each row has its settings as editors, its output shape
(height × width × channels, like the lesson's drawing) and its parameter count; the total is below.
A spec that cannot be built is flagged at the row that breaks it with the engine's own message, and
Build is disabled; the rest of the app is not affected. Keys: Alt+Up/Alt+Down move the current layer,
Delete removes it, Ctrl+D duplicates it, Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo. Layers are
also reordered by dragging rows, and added by dragging a type from the palette (or double-clicking it).

The rows, the table and the palette live in ``editor_rows``; the edits, the per-layer analysis and the
undo stack in ``spec_edit`` (``SpecDocument``); the drawing of the architecture in ``architecture``.
"""

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.views.editor_rows import (
    ERROR_BACKGROUND,
    ERROR_TEXT,
    ROW_MIME,
    TYPE_MIME,
    UNKNOWN_TEXT,
    LayerPalette,
    LayerTable,
    SettingsCell,
    error_color,
)
from cnnlab.app.views.spec_edit import (
    Analysis,
    SpecDocument,
    display_name,
    duplicate_layer,
    hwc_text,
    insert_layer,
    move_layer,
    new_layer,
    remove_layer,
    set_kind,
    set_setting,
)
from cnnlab.engine import LAYER_TYPES, PRESET_NAMES, NetSpec, SpecError, load_preset, read_spec_file

__all__ = ["ROW_MIME", "TYPE_MIME", "ArchitectureEditor"]

PRESET_HELP = {
    "seed": "The lesson's CNN: two 3×3 conv blocks with max pooling, then one dense layer.",
    "fc-baseline": "The lesson's fully connected comparison: 784 → 128 → 10, no convolutions.",
    "lenet5": "LeCun's 1998 LeNet-5: 5×5 convolutions, tanh and average pooling.",
    "mnist99": "Two padded conv blocks of 32 and 64 filters and a dropout head; reaches 99%+.",
}


class ArchitectureEditor(QWidget):
    """The architecture editor panel (see the module docstring for the API)."""

    specChanged = Signal(object)
    validityChanged = Signal(bool)
    buildRequested = Signal(object)

    def __init__(
        self, spec: NetSpec | None = None, num_classes: int | None = 10, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._document = SpecDocument(spec if spec is not None else load_preset("seed"), num_classes, self)
        self._cells: list[SettingsCell] = []
        self._row_kinds: list[Any] = []
        self._build_allowed = True
        self._built_spec: NetSpec | None = None
        self._was_valid: bool | None = None
        self._last_dir = ""
        self._make_widgets()
        self._make_shortcuts()
        self._document.changed.connect(self._on_changed)
        self._refresh()

    # -- public API --------------------------------------------------------------------------------
    def spec(self) -> NetSpec:
        return self._document.spec

    def set_spec(self, spec: NetSpec, undoable: bool = True, text: str = "Replace the network") -> bool:
        """Show ``spec``; False (with a message, the current spec kept) if it is not even a spec's shape:
        too many layers, an odd input shape, numbers beyond 2**31."""
        try:
            NetSpec.from_dict(spec.to_dict())
        except (SpecError, TypeError, ValueError) as exc:
            self._show_notice(f"Cannot show that network: {exc}. Nothing was changed.", error=True)
            return False
        if undoable:
            self._document.push(spec, text)
        else:
            self._document.reset(spec)
        return True

    def analysis(self) -> Analysis:
        return self._document.analysis

    def is_valid(self) -> bool:
        return self._document.analysis.valid

    def set_num_classes(self, num_classes: int | None) -> None:
        self._document.set_num_classes(num_classes)

    def set_build_enabled(self, enabled: bool) -> None:
        self._build_allowed = enabled
        self._update_build_button()

    def set_built_spec(self, spec: NetSpec | None) -> None:
        self._built_spec = spec
        self._update_build_button()

    def undo_stack(self) -> QUndoStack:
        return self._document.undo_stack

    def load_preset(self, name: str) -> None:
        self._document.push(load_preset(name), f"Load the {name} preset")

    def load_file(self, path: str | Path) -> bool:
        path = Path(path)
        try:
            spec = read_spec_file(path)
        except SpecError as exc:
            self._show_notice(f"Could not open {exc}. Nothing was changed.", error=True)
            return False
        self._document.push(spec, f"Open {path.name}")
        self._show_notice(f"Opened {path.name}.")
        return True

    def save_file(self, path: str | Path) -> bool:
        path = Path(path)
        try:
            path.write_text(self.spec().to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            self._show_notice(f"Could not save {path.name}: {exc.strerror or exc}", error=True)
            return False
        self._show_notice(f"Saved {path.name}.")
        return True

    def request_build(self) -> None:
        if self.is_valid() and self._build_allowed:
            self.buildRequested.emit(self.spec())

    # -- widgets -----------------------------------------------------------------------------------
    def _make_widgets(self) -> None:
        stack = self._document.undo_stack
        # Own actions rather than createUndoAction: its text grows with each command's description,
        # which would make the toolbar jump; the description goes to the tooltip instead.
        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.undo_action.triggered.connect(stack.undo)
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(stack.redo)
        for action, can, text, word in (
            (self.undo_action, stack.canUndoChanged, stack.undoTextChanged, "Undo"),
            (self.redo_action, stack.canRedoChanged, stack.redoTextChanged, "Redo"),
        ):
            action.setEnabled(False)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            can.connect(action.setEnabled)
            text.connect(lambda t, a=action, w=word: a.setToolTip(f"{w}: {t}" if t else w))
            self.addAction(action)

        self.preset_button = QToolButton()
        self.preset_button.setText("Presets")
        self.preset_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.preset_button.setToolTip("Start from a ready-made network (undoable).")
        menu = QMenu(self.preset_button)
        for name in PRESET_NAMES:
            action = menu.addAction(f"{name}  ({load_preset(name).num_params():,} parameters)")
            action.setToolTip(PRESET_HELP.get(name, ""))
            action.triggered.connect(lambda _=False, n=name: self.load_preset(n))
        menu.setToolTipsVisible(True)
        self.preset_button.setMenu(menu)

        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Load a network spec from a JSON file.")
        self.open_button.clicked.connect(self._open_dialog)
        self.save_button = QToolButton()
        self.save_button.setText("Save…")
        self.save_button.setToolTip("Save this network spec as JSON (even if it cannot be built yet).")
        self.save_button.clicked.connect(self._save_dialog)
        undo_button, redo_button = QToolButton(), QToolButton()
        undo_button.setDefaultAction(self.undo_action)
        redo_button.setDefaultAction(self.redo_action)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("network name")
        self.name_edit.setToolTip("A name for this network, saved in its JSON and shown with its runs.")
        self.name_edit.editingFinished.connect(self._rename)

        top = QHBoxLayout()
        for widget in (self.preset_button, self.open_button, self.save_button, undo_button, redo_button):
            top.addWidget(widget)
        top.addSpacing(12)
        top.addWidget(QLabel("Name"))
        top.addWidget(self.name_edit, 1)

        self.layer_palette = LayerPalette()
        self.layer_palette.itemActivated.connect(
            lambda item: self.add_layer(item.data(Qt.ItemDataRole.UserRole))
        )
        palette_box = QWidget()
        palette_layout = QVBoxLayout(palette_box)
        palette_layout.setContentsMargins(0, 0, 0, 0)
        palette_layout.addWidget(QLabel("Add a layer"))
        palette_layout.addWidget(self.layer_palette)

        self.table = LayerTable()
        self.table.moveRequested.connect(self.move_layer)
        self.table.insertRequested.connect(lambda kind, index: self.add_layer(kind, index))
        self.table.horizontalHeader().sectionResized.connect(lambda *_: self._fit_rows())

        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected layer (Delete).")
        self.remove_button.clicked.connect(lambda: self._on_current(self.remove_layer))
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.setToolTip("Add a copy of the selected layer right after it (Ctrl+D).")
        self.duplicate_button.clicked.connect(lambda: self._on_current(self.duplicate_layer))
        self.up_button = QPushButton("Move up")
        self.up_button.setToolTip("Move the selected layer one place up (Alt+Up), or drag its row.")
        self.up_button.clicked.connect(lambda: self._step_current(-1))
        self.down_button = QPushButton("Move down")
        self.down_button.setToolTip("Move the selected layer one place down (Alt+Down), or drag its row.")
        self.down_button.clicked.connect(lambda: self._step_current(1))
        row_buttons = QHBoxLayout()
        for button in (self.remove_button, self.duplicate_button, self.up_button, self.down_button):
            row_buttons.addWidget(button)
        row_buttons.addStretch(1)

        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addLayout(row_buttons)

        splitter = QSplitter()
        splitter.addWidget(palette_box)
        splitter.addWidget(table_box)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)

        self.total_label = QLabel()
        self.total_label.setStyleSheet("font-weight: bold;")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.build_button = QPushButton("Build network")
        self.build_button.setDefault(False)
        self.build_button.clicked.connect(self.request_build)
        bottom = QHBoxLayout()
        bottom.addWidget(self.total_label)
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.build_button)

        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notice_label)
        layout.addLayout(bottom)

    def _make_shortcuts(self) -> None:
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (
            ("Alt+Up", lambda: self._step_current(-1)),
            ("Alt+Down", lambda: self._step_current(1)),
            ("Delete", lambda: self._on_current(self.remove_layer)),
            ("Ctrl+D", lambda: self._on_current(self.duplicate_layer)),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(context)
            shortcut.activated.connect(slot)

    # -- edits -------------------------------------------------------------------------------------
    def current_layer(self) -> int | None:
        row = self.table.currentRow()
        return row - 1 if 1 <= row <= len(self.spec().layers) else None

    def select_layer(self, index: int) -> None:
        if 0 <= index < len(self.spec().layers):
            self.table.selectRow(index + 1)

    def add_layer(self, kind: str, index: int | None = None) -> None:
        if index is None:
            current = self.current_layer()
            index = len(self.spec().layers) if current is None else current + 1
        spec = insert_layer(self.spec(), index, new_layer(kind))
        self._push(spec, f"Add {LAYER_TYPES[kind].label.lower()}", select=index)

    def remove_layer(self, index: int) -> None:
        name = self._layer_name(index)
        spec = remove_layer(self.spec(), index)
        self._push(spec, f"Remove {name}", select=min(index, len(spec.layers) - 1))

    def duplicate_layer(self, index: int) -> None:
        spec = duplicate_layer(self.spec(), index)
        self._push(spec, f"Duplicate {self._layer_name(index)}", select=index + 1)

    def move_layer(self, source: int, target: int) -> None:
        count = len(self.spec().layers)
        target = max(0, min(target, count - 1))
        if not 0 <= source < count or source == target:
            return
        direction = "up" if target < source else "down"
        self._push(
            move_layer(self.spec(), source, target),
            f"Move {self._layer_name(source)} {direction}",
            select=target,
        )

    def set_layer_setting(self, index: int, key: str, value: Any) -> None:
        spec = set_setting(self.spec(), index, key, value)
        self._push(spec, f"Set {self._layer_name(index)} {key} to {value}", merge=(index, key))

    def set_layer_kind(self, index: int, kind: str) -> None:
        spec = set_kind(self.spec(), index, kind)
        self._push(spec, f"Make {self._layer_name(index)} {LAYER_TYPES[kind].label.lower()}", select=index)

    def _push(self, spec: NetSpec, text: str, select: int | None = None, merge: Any = None) -> None:
        self._document.push(spec, text, merge)
        if select is not None:
            self.select_layer(select)

    def _on_current(self, action) -> None:
        index = self.current_layer()
        if index is not None:
            action(index)

    def _step_current(self, delta: int) -> None:
        index = self.current_layer()
        if index is not None:
            self.move_layer(index, index + delta)

    def _layer_name(self, index: int) -> str:
        info = self.analysis().infos[index] if index < len(self.analysis().infos) else None
        if info is not None:
            return info.name
        kind = self.spec().layers[index].get("type")
        return f"layer {index + 1}" + (f" ({kind})" if isinstance(kind, str) else "")

    def _rename(self) -> None:
        name = self.name_edit.text().strip()
        spec = self.spec()
        if name != spec.name:
            self._document.push(NetSpec(spec.input_shape, spec.layers, name), f"Rename to {name!r}")

    # -- files -------------------------------------------------------------------------------------
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a network spec", self._last_dir, "JSON (*.json)")
        if path:
            self._last_dir = str(Path(path).parent)
            self.load_file(path)

    def _save_dialog(self) -> None:
        suggested = str(Path(self._last_dir or ".") / f"{self.spec().name or 'network'}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save the network spec", suggested, "JSON (*.json)")
        if path:
            self._last_dir = str(Path(path).parent)
            self.save_file(path)

    def _show_notice(self, text: str, error: bool = False) -> None:
        color = error_color(self).name() if error else self.palette().color(self.foregroundRole()).name()
        self.notice_label.setStyleSheet(f"color: {color};" + (" font-weight: bold;" if error else ""))
        self.notice_label.setText(text)
        self.notice_label.show()

    # -- keeping the rows in step with the spec ----------------------------------------------------
    def _on_changed(self, spec: NetSpec) -> None:
        self.notice_label.hide()  # an old "Saved ..." or "Could not read ..." no longer applies
        self._refresh()
        self.specChanged.emit(spec)

    def _refresh(self) -> None:
        spec, analysis = self.spec(), self.analysis()
        kinds = [layer.get("type") for layer in spec.layers]
        if kinds != self._row_kinds:
            self._rebuild_rows(spec)
        for cell, layer in zip(self._cells, spec.layers, strict=True):
            cell.show_layer(layer)
        self._show_input_row(spec)
        error = analysis.error
        for index, info in enumerate(analysis.infos):
            broken = error is not None and error.index == index
            self._show_row(index, spec.layers[index], info, error.reason if broken else None)
        if self.name_edit.text() != spec.name and not self.name_edit.hasFocus():
            self.name_edit.setText(spec.name)
        self._show_totals(analysis)
        self._fit_rows()
        self._update_build_button()
        if analysis.valid != self._was_valid:
            self._was_valid = analysis.valid
            self.validityChanged.emit(analysis.valid)

    def _rebuild_rows(self, spec: NetSpec) -> None:
        current = self.table.currentRow()
        self.table.setRowCount(0)
        self.table.setRowCount(len(spec.layers) + 1)
        self._cells = []
        for index, layer in enumerate(spec.layers):
            cell = SettingsCell(layer)
            cell.edited.connect(lambda key, value, i=index: self.set_layer_setting(i, key, value))
            cell.kindChosen.connect(lambda kind, i=index: self.set_layer_kind(i, kind))
            cell.focused.connect(lambda i=index: self.table.selectRow(i + 1))
            self.table.setCellWidget(index + 1, 1, cell)
            self._cells.append(cell)
        self._row_kinds = [layer.get("type") for layer in spec.layers]
        self.table.setVerticalHeaderLabels(["in"] + [str(i + 1) for i in range(len(spec.layers))])
        if 0 < current < self.table.rowCount():
            self.table.selectRow(current)

    def _show_input_row(self, spec: NetSpec) -> None:
        shape = tuple(spec.input_shape)
        image = len(shape) == 3 and all(isinstance(v, int) for v in shape)
        text = hwc_text(shape) if image else str(list(shape))[:40]
        channels = f"{shape[0]} channel" + ("s" if shape[0] != 1 else "") if image else ""
        self._set_item(0, 0, "Input", "The images the network sees (set by the dataset).")
        self._set_item(0, 1, f"{shape[1]}×{shape[2]} image, {channels}" if channels else text)
        self._set_item(0, 2, text)
        self._set_item(0, 3, "0")
        for column in (0, 1, 2, 3):
            self.table.item(0, column).setFlags(Qt.ItemFlag.ItemIsEnabled)

    def _show_row(self, index: int, layer: dict[str, Any], info, error: str | None) -> None:
        row = index + 1
        kind = layer.get("type")
        ltype = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
        label = ltype.label if ltype else f"unknown: {str(kind)[:30]!r}"
        name = display_name(info) if info is not None else label
        tip = f"{ltype.description}" if ltype else "This layer type is not known to the engine."
        # The type goes on a second line unless the name already says it ("ReLU1", "Flatten").
        same = info is not None and name.lower().startswith(label.lower().replace(" ", ""))
        self._set_item(row, 0, name if same else f"{name}\n{label}" if info is not None else label, tip)
        if info is not None:
            shape_tip = f"{info.output_shape} as the engine stores it (channels, height, width)"
            self._set_item(row, 2, hwc_text(info.output_shape), shape_tip)
            self._set_item(row, 3, f"{info.params:,}", info.params_formula())
        else:
            self._set_item(row, 2, "?", "Unknown until the layer flagged above is fixed.")
            self._set_item(row, 3, "?")
        for column in (0, 2, 3):
            item = self.table.item(row, column)
            # None (not an empty brush) gives the colours back to the table's palette and theme.
            item.setData(Qt.ItemDataRole.BackgroundRole, QBrush(ERROR_BACKGROUND) if error else None)
            foreground = ERROR_TEXT if error else UNKNOWN_TEXT if info is None else None
            item.setData(Qt.ItemDataRole.ForegroundRole, QBrush(foreground) if foreground else None)
            if column == 3:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._cells[index].show_error(error)

    def _set_item(self, row: int, column: int, text: str, tip: str = "") -> None:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            self.table.setItem(row, column, item)
        if item.text() != text:
            item.setText(text)
        item.setToolTip(tip)

    def _show_totals(self, analysis: Analysis) -> None:
        error = analysis.error
        if error is None:
            self.total_label.setText(f"Total: {analysis.total_params:,} parameters")
            self.status_label.setText("")
            return
        self.total_label.setText("Total: ?")
        where = f"layer {error.index + 1}: " if error.index is not None else ""
        self.status_label.setStyleSheet(f"color: {error_color(self).name()};")
        self.status_label.setText(f"Cannot build: {where}{error.reason}")

    def _update_build_button(self) -> None:
        valid = self.is_valid()
        self.build_button.setEnabled(valid and self._build_allowed)
        if not valid:
            tip = "Fix the flagged layer first."
        elif not self._build_allowed:
            tip = "Building is not possible right now."
        else:
            tip = "Make this network with fresh weights (a running training is stopped first)."
        edited = self._built_spec is not None and self._built_spec != self.spec()
        self.build_button.setText("Build network*" if edited else "Build network")
        if edited:
            tip += " The network in use differs from this spec."
        self.build_button.setToolTip(tip)

    def _fit_rows(self) -> None:
        width = self.table.columnWidth(1)
        base = self.table.fontMetrics().height() * 2 + 10
        self.table.setRowHeight(0, base)
        for index, cell in enumerate(self._cells):
            layout = cell.layout()
            height = layout.heightForWidth(width) if layout.hasHeightForWidth() else cell.sizeHint().height()
            self.table.setRowHeight(index + 1, max(base, height))
