"""The pieces of the architecture editor's table: one row's settings editors, the table, the palette.

``SettingsCell`` builds a layer's editors from its type's declaration in the engine (``LAYER_TYPES``:
each setting's kind, range, default and help; the family it can switch within), with one kind of widget
per kind of setting and no code per layer type; ``LayerTable`` turns drags and drops into move/insert
requests, and ``LayerPalette`` offers the layer types to drag in. ``editor.ArchitectureEditor`` puts
them together.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QPoint, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QDropEvent, QPalette, QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.widgets.flow_layout import FlowLayout
from cnnlab.engine import LAYER_TYPES
from cnnlab.engine.layers import family_of
from cnnlab.engine.layers.settings import Setting, number_text

TYPE_MIME = "application/x-cnnlab-layer-type"
ROW_MIME = "application/x-cnnlab-layer-row"

ERROR_BACKGROUND = QColor("#fde3e1")
ERROR_TEXT = QColor("#b3261e")
ERROR_CAPTION = QColor("#3b1512")
UNKNOWN_TEXT = QColor("#8a8a8a")


def error_color(widget: QWidget) -> QColor:
    """Red that reads on the widget's background, light or dark theme."""
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ff8a7a") if dark else ERROR_TEXT


def _spin(minimum: int, maximum: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setAccelerated(True)
    return box


class KernelSpin(QSpinBox):
    """A spin box for a kernel size showing "3×3"; accepts "5" or a non-square "3x5"."""

    def __init__(self, minimum: int = 1, maximum: int = 99) -> None:
        self._pair: list[int] | None = None
        super().__init__()
        self.setRange(minimum, maximum)

    def size_value(self) -> int | list[int]:
        return list(self._pair) if self._pair else self.value()

    def set_size_value(self, value: Any) -> None:
        if isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value):
            pair = None if value[0] == value[1] else [int(v) for v in value]
            number = int(value[0])
        elif _is_int(value):
            pair, number = None, int(value)
        else:
            return
        if _size_from_text(self.lineEdit().text()) == (pair or number):
            return  # the learner may be typing this very value: leave the text alone
        with QSignalBlocker(self):
            self._pair = pair
            number = _clamp(self, number)  # beyond the range (the row says why): Qt would overflow
            self.setValue(number)
            self.lineEdit().setText(self.textFromValue(number))

    def textFromValue(self, value: int) -> str:
        if self._pair and self._pair[0] == value:
            return f"{self._pair[0]}×{self._pair[1]}"
        return f"{value}×{value}"

    def valueFromText(self, text: str) -> int:
        numbers = _numbers(text)
        if len(numbers) == 2 and numbers[0] != numbers[1]:
            self._pair = numbers
        else:
            self._pair = None
        return numbers[0] if numbers else self.value()

    def validate(self, text: str, pos: int):
        cleaned = text.replace("×", "x").replace(" ", "")
        parts = cleaned.split("x")
        if len(parts) > 2 or not all(p.isdigit() or p == "" for p in parts):
            return QValidator.State.Invalid, text, pos
        if not parts[0] or not all(0 < int(p) <= self.maximum() for p in parts if p):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos

    def stepBy(self, steps: int) -> None:
        # Stepping a non-square kernel makes it square again, which is what the arrows suggest.
        self._pair = None
        super().stepBy(steps)


def _size_from_text(text: str) -> int | list[int] | None:
    numbers = _numbers(text)
    if len(numbers) == 1 or (len(numbers) == 2 and numbers[0] == numbers[1]):
        return numbers[0]
    return numbers if len(numbers) == 2 else None


def _emit_size(emit, key: str, text: str) -> None:
    size = _size_from_text(text)
    if size is not None:
        emit(key, size)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(text: str) -> list[int]:
    parts = text.replace("×", "x").replace(" ", "").split("x")
    return [int(p) for p in parts if p.isdigit()]


class SettingsCell(QWidget):
    """One layer's settings as editors, and the engine's message when this layer breaks the spec.

    ``edited(key, value)`` when the learner changes a setting, ``kindChosen(kind)`` when the pooling
    kind or the activation changes; ``show_layer(layer)`` updates the editors without echoing back.
    """

    edited = Signal(str, object)
    kindChosen = Signal(str)
    focused = Signal()

    def __init__(self, layer: dict[str, Any]) -> None:
        super().__init__()
        kind = layer.get("type")
        self.kind = kind if isinstance(kind, str) else None
        self._setters: dict[str, Any] = {}
        self._captions: list[QLabel] = []
        self.kind_box: QComboBox | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 2)
        outer.setSpacing(2)
        line = FlowLayout(spacing=10)
        # Stretches above and below centre the editors in rows made taller by the layer column's text.
        outer.addStretch(1)
        outer.addLayout(line)
        ltype = LAYER_TYPES.get(self.kind)
        kinds = family_of(self.kind) if ltype else ()
        if kinds:
            box = QComboBox()
            for kind in kinds:
                member = LAYER_TYPES[kind]
                box.addItem(member.choice_label or member.label, kind)
                box.setItemData(box.count() - 1, member.description, Qt.ItemDataRole.ToolTipRole)
            box.currentIndexChanged.connect(lambda _=0: self.kindChosen.emit(box.currentData()))
            self.kind_box = box
            self._add(line, ltype.family_caption or "type", box, ltype.family_help)
            self._setters["type"] = lambda v: box.setCurrentIndex(max(0, box.findData(v)))
        if ltype is not None:
            for setting in ltype.settings:
                self._add(line, setting.name, self._editor(setting), setting.help)
        elif layer.get("type") is not None:
            note = QLabel("(unknown layer type: remove it, or fix the JSON)")
            line.addWidget(note)
        if ltype is not None and not ltype.settings and not kinds:
            none = QLabel("no settings")
            none.setEnabled(False)  # greyed by the palette, in either theme
            line.addWidget(none)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {ERROR_TEXT.name()}; font-weight: bold;")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        outer.addWidget(self.message)
        outer.addStretch(1)
        self.show_layer(layer)

    # -- building the editors ----------------------------------------------------------------------
    def _add(self, line: FlowLayout, caption: str, editor: QWidget, text: str) -> None:
        # Caption and editor in one box, so a narrow row wraps between settings, never inside one.
        pair = QWidget()
        pair_layout = QHBoxLayout(pair)
        pair_layout.setContentsMargins(0, 0, 0, 0)
        pair_layout.setSpacing(4)
        label = QLabel(caption)
        self._captions.append(label)
        label.setToolTip(text)
        editor.setToolTip(text)
        editor.setObjectName(caption)
        label.setBuddy(editor)
        editor.installEventFilter(self)
        pair_layout.addWidget(label)
        pair_layout.addWidget(editor)
        line.addWidget(pair)

    def _editor(self, setting: Setting) -> QWidget:
        """One editor for one setting, chosen by the setting's kind (``Setting.widget``)."""
        emit, key = self.edited.emit, setting.name
        widget = setting.widget
        if widget == "whole":
            optional = bool(setting.none_text)
            box = _spin(setting.minimum - 1 if optional else setting.minimum, setting.maximum)
            if optional:  # the value below the range stands for None
                box.setSpecialValueText(setting.none_text)
            low = box.minimum()
            box.valueChanged.connect(lambda v: emit(key, None if optional and v == low else v))
            self._setters[key] = lambda v: _set_int(box, low if v is None else v)
            return box
        if widget == "size":
            box = KernelSpin(setting.minimum, setting.maximum)
            box.valueChanged.connect(lambda _: emit(key, box.size_value()))
            # Typing "3x5" over "3×3" changes the kernel but not the spin box's value.
            box.lineEdit().textEdited.connect(lambda text: _emit_size(emit, key, text))
            self._setters[key] = box.set_size_value
            return box
        if widget in ("padding", "choice"):
            box = QComboBox()
            if widget == "padding":
                box.setEditable(True)
                box.addItems(["valid", "same", "1", "2"])
                box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
                box.setMinimumContentsLength(5)
                box.currentTextChanged.connect(lambda t: emit(key, _padding_value(t)))
            else:
                box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
                box.addItems(list(setting.choices))
                box.currentTextChanged.connect(lambda t: emit(key, t))
            self._setters[key] = lambda v: _set_text(box, _text(v))
            return box
        if widget == "fraction":
            box = QDoubleSpinBox()
            box.setRange(0.0, 0.99)
            box.setSingleStep(0.05)
            box.setDecimals(2)
            box.valueChanged.connect(lambda v: emit(key, round(v, 4)))
            self._setters[key] = lambda v: _set_float(box, v)
            return box
        # Free numbers (alpha, eps): text, so that anything typed reaches the engine's checks.
        edit = QLineEdit()
        edit.setMaximumWidth(80)
        edit.editingFinished.connect(lambda: emit(key, _number_value(edit.text())))
        self._setters[key] = lambda v: _set_line(edit, v)
        return edit

    # -- showing a layer ---------------------------------------------------------------------------
    def show_layer(self, layer: dict[str, Any]) -> None:
        ltype = LAYER_TYPES.get(self.kind)
        if ltype is None:
            return
        values = {**ltype.defaults(), **layer}
        for key, setter in self._setters.items():
            if key in values:
                setter(values[key])

    def show_error(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        # Only a flagged row paints its own background; others stay transparent so the table's
        # selection and theme show through.
        if text:
            palette = self.palette()
            palette.setColor(self.backgroundRole(), ERROR_BACKGROUND)  # Base inside a table
            self.setPalette(palette)
        else:
            self.setPalette(QPalette())  # an empty palette: inherit the table's (and the theme's) again
        self.setAutoFillBackground(bool(text))
        # Captions must stay dark on the pale red even in the dark theme; a style sheet, because
        # palettes do not reliably reach children once the application has a style sheet.
        for caption in self._captions:
            caption.setStyleSheet(f"color: {ERROR_CAPTION.name()};" if text else "")

    def editor(self, key: str) -> QWidget | None:
        return self.findChild(QWidget, key)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.FocusIn:
            self.focused.emit()
        return False


def _clamp(box: QSpinBox, value: int) -> int:
    """Into the box's range in Python: a value of 2**31 or more would overflow inside Qt."""
    return max(box.minimum(), min(box.maximum(), value))


def _set_int(box: QSpinBox, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and box.value() != value:
        with QSignalBlocker(box):
            box.setValue(_clamp(box, value))


def _set_float(box: QDoubleSpinBox, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    try:
        value = float(value)
    except OverflowError:  # an int beyond any float
        return
    if math.isfinite(value):
        value = max(box.minimum(), min(box.maximum(), value))
        if abs(box.value() - value) > 1e-9:
            with QSignalBlocker(box):
                box.setValue(value)


def _text(value: Any) -> str:
    """A setting's value as text; a huge whole number is described, not spelled out."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < 60 else number_text(value)
    return "" if value is None else str(value)


def _set_text(box: QComboBox, text: str) -> None:
    if box.currentText() != text:
        with QSignalBlocker(box):
            index = box.findText(text)
            if index >= 0:
                box.setCurrentIndex(index)
            if box.isEditable():
                box.setEditText(text)


def _set_line(edit: QLineEdit, value: Any) -> None:
    text = _text(value)
    if edit.text() != text and not edit.hasFocus():
        with QSignalBlocker(edit):
            edit.setText(text)


def _padding_value(text: str) -> Any:
    text = text.strip()
    return int(text) if text.isdigit() else text


def _number_value(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


class LayerTable(QTableWidget):
    """The rows of layers; drags rows to reorder and accepts layer types dropped from the palette.

    Drops are turned into requests (``moveRequested(source, target)``, ``insertRequested(kind, index)``,
    layer indices, the input row excluded) instead of letting the view move cells itself: the spec is
    the truth and the rows are rebuilt from it.
    """

    moveRequested = Signal(int, int)
    insertRequested = Signal(str, int)

    def __init__(self) -> None:
        super().__init__(0, 4)
        self.setHorizontalHeaderLabels(["Layer", "Settings", "Output", "Params"])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDragDropOverwriteMode(False)
        self.setWordWrap(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

    def mimeTypes(self) -> list[str]:
        return [ROW_MIME, TYPE_MIME]

    def startDrag(self, actions) -> None:
        row = self.currentRow()
        if row < 1:
            return
        mime = QMimeData()
        mime.setData(ROW_MIME, str(row - 1).encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        rect = self.visualRect(self.model().index(row, 0)).united(
            self.visualRect(self.model().index(row, self.columnCount() - 1))
        )
        drag.setPixmap(self.viewport().grab(rect))
        drag.setHotSpot(QPoint(12, rect.height() // 2))
        drag.exec(Qt.DropAction.MoveAction)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(ROW_MIME) or event.mimeData().hasFormat(TYPE_MIME):
            super().dragEnterEvent(event)  # starts the view's drag state (the drop indicator)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(ROW_MIME) or event.mimeData().hasFormat(TYPE_MIME):
            super().dragMoveEvent(event)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        target = self.drop_index(event.position().toPoint())
        # Nothing must be removed by the view after the drag (that is what a MoveAction would do).
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        self.setState(QAbstractItemView.State.NoState)
        self.viewport().update()
        if mime.hasFormat(TYPE_MIME):
            kind = bytes(mime.data(TYPE_MIME).data()).decode()
            # Later: the spec changes, rows are rebuilt, and that must not happen inside the drag.
            QTimer.singleShot(0, lambda: self.insertRequested.emit(kind, target))
        elif mime.hasFormat(ROW_MIME) and event.source() in (None, self):  # not another editor's row
            source = int(bytes(mime.data(ROW_MIME).data()).decode())
            final = target - 1 if target > source else target
            if final != source:
                QTimer.singleShot(0, lambda: self.moveRequested.emit(source, final))

    def drop_index(self, pos: QPoint) -> int:
        """The layer index a drop at ``pos`` inserts before (the input row counts as before layer 0)."""
        row = self.rowAt(pos.y())
        if row < 0:
            return self.rowCount() - 1
        rect = self.visualRect(self.model().index(row, 0))
        after = pos.y() > rect.center().y()
        return max(0, row - 1 + (1 if after else 0)) if row > 0 else 0


class LayerPalette(QListWidget):
    """The layer types, to drag into the table or double-click to add after the current layer."""

    def __init__(self) -> None:
        super().__init__()
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        for kind, ltype in LAYER_TYPES.items():
            item = QListWidgetItem(ltype.label)
            item.setData(Qt.ItemDataRole.UserRole, kind)
            item.setToolTip(f"{ltype.description}\nDrag into the list, or double-click to add.")
            self.addItem(item)
        self.setMaximumWidth(150)

    def mimeTypes(self) -> list[str]:
        return [TYPE_MIME]

    def startDrag(self, actions) -> None:
        item = self.currentItem()
        if item is None:
            return
        mime = QMimeData()
        mime.setData(TYPE_MIME, item.data(Qt.ItemDataRole.UserRole).encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)
