"""A drawing of the network like the lesson's: boxes sized by each layer's shape, arrows, parameter counts.

Public API::

    view = ArchitectureView(spec=None, num_classes=None, parent=None)
    view.set_spec(spec)                 # redraw for another spec (valid or not); cheap, call on every edit
    view.spec() -> NetSpec | None
    view.to_image(scale=2.0) -> QImage  # the drawing on white, at scale x its natural size
    view.export_png(path, scale=2.0) -> bool
    view.boxes() -> list[Box]           # what is drawn (for tests and tooltips)

Wiring: ``editor.specChanged.connect(view.set_spec)``. A right click offers "Save as PNG…".

Each box is a layer that is not pointwise (input, convolution, pooling, flatten, dense: each type
declares whether it is, and its few words, in the engine); activations, batch normalisation and
dropout are written on the arrow into the next box, as the lesson writes "ReLU + Pool". An
image-shaped box is as tall as its maps are high and as wide as the logarithm of its channel count;
a flat one is a thin bar. Labels follow the lesson: "Conv1" over "26×26×8" (height × width ×
channels). If the spec cannot be built, the drawing stops at the layer that breaks it, drawn dashed in
red with the engine's message. In a narrow, tall panel the chain wraps into two or three rows when
that draws it a fifth larger or more (an export is always the one-row drawing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QFileDialog, QMenu, QSizePolicy, QWidget

from cnnlab.app.views.spec_edit import analyse, display_name, hwc_text
from cnnlab.engine import LAYER_TYPES, NetSpec

# The lesson's colours by layer family: conv and pool boxes alternate between two shades so neighbours
# stay apart. A family not listed (a new layer type's) is drawn grey.
COLORS = {
    "input": ("#add8e6",),
    "convolution": ("#90ee90", "#f08080"),
    "pooling": ("#ffffe0", "#dda0dd"),
    "reshape": ("#ffdab9",),
    "dense": ("#b0c4de", "#c6d7ea"),
}
OTHER_COLORS = ("#dddddd",)
ARROW = QColor("#1f4fd1")
ERROR = QColor("#b3261e")
PAPER = QColor("white")
INK = QColor("#111111")
SOFT_INK = QColor("#555555")

MARGIN = 24
MIN_GAP = 56
ROW_TURN = 14  # the margin a wrapped chain's connecting line runs in


@dataclass
class Box:
    """One drawn layer: ``rect`` in drawing coordinates, the texts under it, the arrow label into it."""

    name: str
    shape: str
    params: int
    kind: str
    dims: tuple[int, ...] = ()  # the output shape as the engine stores it; () for a broken box
    rect: QRectF = field(default_factory=QRectF)
    column: QRectF = field(default_factory=QRectF)  # the box's slot, as wide as its labels
    color: str = "#dddddd"
    depth: int = 0  # how many shadow sheets behind the box suggest its channels
    op: str = ""  # written over the arrow into this box
    broken: str = ""  # the engine's message if this layer breaks the spec
    row: int = 0  # which row of the drawing the box is in (a narrow panel wraps the chain)
    mid: float = 0.0  # the height its arrows run at


def _box_size(shape: tuple[int, ...]) -> tuple[float, float, int]:
    """Width, height and shadow sheets of a box for a layer's output shape."""
    if len(shape) == 3:
        c, h, _ = shape
        return 14 + 10 * math.log2(c + 1), 26 + 5 * min(h, 40), min(3, int(math.log2(c + 1)) // 2)
    return 14.0, 34 + 22 * math.log10(max(shape[0], 1)), 0


class ArchitectureView(QWidget):
    def __init__(
        self, spec: NetSpec | None = None, num_classes: int | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._spec: NetSpec | None = None
        self._num_classes = num_classes
        self._boxes: list[Box] = []
        self._notes: list[str] = []
        self._title = ""
        self._problem = ""
        self._size = QSize(400, 200)
        self._natural = QSize(self._size)
        self._rows = 1
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 140)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        if spec is not None:
            self.set_spec(spec)

    # -- public API --------------------------------------------------------------------------------
    def spec(self) -> NetSpec | None:
        return self._spec

    def boxes(self) -> list[Box]:
        return list(self._boxes)

    def set_spec(self, spec: NetSpec) -> None:
        self._spec = spec
        self._lay_out(spec)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return self._natural  # the one-row drawing: what the panel would like, whatever it got

    def to_image(self, scale: float = 2.0) -> QImage:
        """The lesson's one-row drawing, whatever the panel shows."""
        self._place(1)
        try:
            return self._render(scale)
        finally:
            self._fit()

    def _render(self, scale: float) -> QImage:
        image = QImage(
            int(self._size.width() * scale), int(self._size.height() * scale), QImage.Format.Format_ARGB32
        )
        image.fill(PAPER)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.scale(scale, scale)
        self._draw(painter)
        painter.end()
        return image

    def export_png(self, path: str | Path, scale: float = 2.0) -> bool:
        return self.to_image(scale).save(str(path), "PNG")

    # -- layout ------------------------------------------------------------------------------------
    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        base = QFont(self.font())
        bold = QFont(base)
        bold.setBold(True)
        italic = QFont(base)
        italic.setItalic(True)
        title = QFont(bold)
        title.setPointSizeF(base.pointSizeF() * 1.25)
        self._title_font, self._bold, self._italic = title, bold, italic
        return title, bold, italic

    def _lay_out(self, spec: NetSpec) -> None:
        analysis = analyse(spec, self._num_classes)
        shape = tuple(spec.input_shape)
        image = len(shape) == 3 and all(isinstance(v, int) and 0 < v <= 1 << 16 for v in shape)
        dims = shape if image else (1, 1, 1)
        text = hwc_text(shape) if image else str(list(shape))[:30]
        boxes: list[Box] = [Box("Input", text, 0, "input", dims, color=COLORS["input"][0])]
        _, _, boxes[0].depth = _box_size(dims)
        pending: list[str] = []
        counts: dict[str, int] = {}
        notes: list[str] = []
        error = analysis.error
        for index, info in enumerate(analysis.infos):
            if error is not None and error.index == index:
                kind = spec.layers[index].get("type")
                known = isinstance(kind, str) and kind in LAYER_TYPES
                label = LAYER_TYPES[kind].label.lower() if known else str(kind)[:30]
                boxes.append(
                    Box(
                        f"Layer {index + 1}",
                        "?",
                        0,
                        str(kind)[:30],
                        color="#ffffff",
                        broken=error.reason,
                        op=" + ".join([*pending, label]),
                    )
                )
                break
            if info is None:
                break
            cls = info.layer_type
            if cls.pointwise:
                pending.append(info.describe())
                if info.params:
                    notes.append(f"{display_name(info)}: {info.params:,}")
                continue
            shades = COLORS.get(cls.family, OTHER_COLORS)
            color = shades[counts.get(cls.family, 0) % len(shades)]
            counts[cls.family] = counts.get(cls.family, 0) + 1
            box = Box(
                display_name(info),
                hwc_text(info.output_shape),
                info.params,
                info.type,
                info.output_shape,
                color=color,
            )
            box.op = " + ".join([*pending, info.describe()])
            pending = []
            boxes.append(box)
            if info.params:
                notes.append(f"{display_name(info)}: {info.params_formula()}")
        if error is None and boxes[-1].kind == "dense":
            pending.append("softmax")
        self._tail = " + ".join(pending)
        self._boxes, self._notes = boxes, notes
        self._total = analysis.total_params
        name = spec.name or "network"
        self._title = f"{name}: {analysis.total_params:,} parameters"
        if error is not None:
            self._title = f"{name} (cannot be built)"
        self._problem = ""
        if error is not None:
            where = f"Layer {error.index + 1}: " if error.index is not None else ""
            self._problem = f"Cannot build: {where}{error.reason}"
        self._fit()

    def _place(self, rows: int = 1) -> None:
        """Positions for the boxes in ``rows`` rows of about equal count (one row is the lesson's
        drawing; a narrow, tall panel reads better with the chain wrapped, as a page of text)."""
        title_font, bold, italic = self._fonts()
        plain = QFontMetricsF(self.font())
        fb, fi, ft = QFontMetricsF(bold), QFontMetricsF(italic), QFontMetricsF(title_font)
        sizes = []
        for box in self._boxes:
            if box.broken:
                sizes.append((60.0, 90.0, 0))
            else:
                sizes.append(_box_size(box.dims))
        ops = [box.op for box in self._boxes[1:]] + [self._tail]
        band = max(2, *(len(_wrap(op)) for op in ops)) * fi.height() + 4
        rows = max(1, min(rows, len(self._boxes)))
        per_row = math.ceil(len(self._boxes) / rows)
        self._rows = math.ceil(len(self._boxes) / per_row)
        self._band = band
        y = MARGIN + ft.height()
        width = 0.0
        self._op_rects: list[tuple[QRectF, str]] = []
        self._row_tops: list[float] = []
        for r in range(self._rows):
            members = range(r * per_row, min((r + 1) * per_row, len(self._boxes)))
            tallest = max(sizes[i][1] for i in members)
            self._row_tops.append(y)
            top = y + band + 14
            mid = top + tallest / 2
            x = MARGIN
            for i in members:
                box, (w, h, depth) = self._boxes[i], sizes[i]
                label_w = max(
                    fb.horizontalAdvance(box.name),
                    plain.horizontalAdvance(box.shape),
                    plain.horizontalAdvance(_params_text(box.params)),
                )
                column = max(w + 2 * 4 * (depth or 0), label_w)
                if i > 0:
                    if i == members.start:  # room on the left for the line coming down from the row above
                        x += ROW_TURN
                    op_w = max((fi.horizontalAdvance(line) for line in _wrap(box.op)), default=0)
                    gap = max(MIN_GAP, op_w + 12)
                    self._op_rects.append((QRectF(x, top - band - 8, gap, band), box.op))
                    x += gap
                box.depth = depth
                box.row, box.mid = r, mid
                box.rect = QRectF(x + (column - w) / 2, mid - h / 2, w, h)
                box.column = QRectF(x, top, column, tallest)
                x += column
            if r == self._rows - 1 and self._tail:
                x += max(MIN_GAP, fi.horizontalAdvance(self._tail) + 16)
            width = max(width, x + ROW_TURN + MARGIN if r < self._rows - 1 else x + MARGIN)
            y = top + tallest + 8 + fb.height() + 2 * plain.height() + 16
        self._notes_top = y
        note_lines = [*self._notes]
        if self._notes:
            so_far = "Total" if not self._problem else "So far"
            note_lines.append(f"{so_far}: {self._total:,} parameters")
        self._note_lines = note_lines
        notes_w = max((plain.horizontalAdvance(line) for line in note_lines), default=0) + 24
        problem_lines = _wrap(self._problem, 90) if self._problem else []
        self._problem_lines = problem_lines
        problem_w = max((fb.horizontalAdvance(line) for line in problem_lines), default=0)
        width = max(
            width,
            notes_w + 2 * MARGIN,
            problem_w + 2 * MARGIN,
            ft.horizontalAdvance(self._title) + 2 * MARGIN,
        )
        height = y + (len(note_lines) * plain.height() + 16 if note_lines else 0)
        height += len(problem_lines) * fb.height() + (10 if problem_lines else 0) + MARGIN
        self._size = QSize(math.ceil(width), math.ceil(height))

    def _fit(self) -> None:
        """The number of rows that draws the network largest in this widget (one unless wrapping gains
        a fifth or more)."""
        if not self._boxes:
            return
        self._place(1)
        self._natural = QSize(self._size)
        best, best_scale = 1, self.scale_for(self._size)
        for rows in (2, 3):
            if rows > len(self._boxes):
                break
            self._place(rows)
            scale = self.scale_for(self._size)
            if scale > best_scale * 1.2:
                best, best_scale = rows, scale
        self._place(best)

    def scale_for(self, size: QSize) -> float:
        """How much a drawing of ``size`` is scaled to fit this widget."""
        return min(self.width() / max(size.width(), 1), self.height() / max(size.height(), 1))

    @property
    def rows(self) -> int:
        return self._rows

    def resizeEvent(self, event) -> None:  # Qt's name
        super().resizeEvent(event)
        self._fit()

    # -- painting ----------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), PAPER)
        if self._spec is None or self._size.isEmpty():
            return
        scale = min(self.width() / self._size.width(), self.height() / self._size.height())
        painter.translate(
            (self.width() - self._size.width() * scale) / 2, (self.height() - self._size.height() * scale) / 2
        )
        painter.scale(scale, scale)
        self._draw(painter)

    def _draw(self, painter: QPainter) -> None:
        if not self._boxes:
            return
        plain = QFontMetricsF(self.font())
        fb = QFontMetricsF(self._bold)
        painter.setFont(self._title_font)
        painter.setPen(INK)
        painter.drawText(
            QRectF(0, MARGIN, self._size.width(), QFontMetricsF(self._title_font).height()),
            Qt.AlignmentFlag.AlignHCenter,
            self._title,
        )

        for i, box in enumerate(self._boxes):
            if i > 0:
                before = self._boxes[i - 1]
                color = ERROR if box.broken else ARROW
                start = QPointF(before.rect.right() + 4 + 4 * before.depth, before.mid)
                end = QPointF(box.rect.left() - 4, box.mid)
                if before.row != box.row:
                    # Down from the end of one row, back along the gap between the rows, into the next.
                    turn_y = self._row_tops[box.row] - 4
                    right = before.column.right() + ROW_TURN / 2
                    left = MARGIN + ROW_TURN / 2
                    painter.setPen(QPen(color, 2))
                    painter.drawPolyline(
                        QPolygonF(
                            [start, QPointF(right, start.y()), QPointF(right, turn_y), QPointF(left, turn_y),
                             QPointF(left, box.mid)]
                        )
                    )  # fmt: skip
                    start = QPointF(left, box.mid)
                self._arrow(painter, start, end, color)
                rect, text = self._op_rects[i - 1]
                painter.setFont(self._italic)
                painter.setPen(ERROR if box.broken else ARROW)
                painter.drawText(
                    rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, "\n".join(_wrap(text))
                )
            self._box(painter, box)
            below = box.column.bottom() + 8
            painter.setFont(self._bold)
            painter.setPen(ERROR if box.broken else INK)
            column = QRectF(box.column.left() - 20, below, box.column.width() + 40, fb.height())
            painter.drawText(column, Qt.AlignmentFlag.AlignHCenter, box.name)
            painter.setFont(self.font())
            painter.drawText(column.translated(0, fb.height()), Qt.AlignmentFlag.AlignHCenter, box.shape)
            if box.params:
                painter.setPen(SOFT_INK)
                painter.drawText(
                    column.translated(0, fb.height() + plain.height()),
                    Qt.AlignmentFlag.AlignHCenter,
                    _params_text(box.params),
                )
        if self._tail and not self._boxes[-1].broken:
            last = self._boxes[-1]
            start = QPointF(last.rect.right() + 4, last.mid)
            tail_w = max(MIN_GAP, QFontMetricsF(self._italic).horizontalAdvance(self._tail) + 16)
            end = QPointF(last.column.right() + tail_w, last.mid)
            self._arrow(painter, start, end, ARROW)
            painter.setFont(self._italic)
            painter.setPen(ARROW)
            rect = QRectF(
                start.x(), last.mid - 3 * plain.height() - 6, end.x() - start.x(), 3 * plain.height()
            )
            painter.drawText(
                rect,
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                "\n".join(_wrap(self._tail)),
            )
        y = self._notes_top
        if self._note_lines:
            painter.setFont(self.font())
            height = len(self._note_lines) * plain.height() + 12
            width = max(plain.horizontalAdvance(line) for line in self._note_lines) + 24
            panel = QRectF((self._size.width() - width) / 2, y, width, height)
            painter.setPen(QPen(QColor("#c9c27a"), 1))
            painter.setBrush(QColor("#fffbe0"))
            painter.drawRoundedRect(panel, 6, 6)
            painter.setPen(INK)
            for k, line in enumerate(self._note_lines):
                if k == len(self._note_lines) - 1:
                    painter.setFont(self._bold)
                painter.drawText(
                    QRectF(panel.left() + 12, y + 6 + k * plain.height(), width, plain.height()),
                    Qt.AlignmentFlag.AlignLeft,
                    line,
                )
            y += height + 10
        if self._problem_lines:
            painter.setFont(self._bold)
            painter.setPen(ERROR)
            for k, line in enumerate(self._problem_lines):
                painter.drawText(
                    QRectF(MARGIN, y + k * fb.height(), self._size.width() - 2 * MARGIN, fb.height()),
                    Qt.AlignmentFlag.AlignHCenter,
                    line,
                )

    def _box(self, painter: QPainter, box: Box) -> None:
        if box.broken:
            pen = QPen(ERROR, 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor("#fde3e1"))
            painter.drawRect(box.rect)
            painter.setFont(self._title_font)
            painter.drawText(box.rect, Qt.AlignmentFlag.AlignCenter, "!")
            return
        painter.setPen(QPen(INK, 2))
        # Shadow sheets behind the box hint that it is a stack of feature maps.
        for k in range(box.depth, 0, -1):
            painter.setBrush(QColor(box.color).darker(100 + 8 * k))
            painter.drawRect(box.rect.translated(4 * k, -4 * k))
        painter.setBrush(QColor(box.color))
        painter.drawRect(box.rect)

    @staticmethod
    def _arrow(painter: QPainter, start: QPointF, end: QPointF, color: QColor) -> None:
        if end.x() - start.x() < 8:
            return
        painter.setPen(QPen(color, 2))
        painter.drawLine(start, QPointF(end.x() - 6, end.y()))
        head = QPolygonF([end, QPointF(end.x() - 10, end.y() - 5), QPointF(end.x() - 10, end.y() + 5)])
        path = QPainterPath()
        path.addPolygon(head)
        painter.fillPath(path, color)

    # -- export ------------------------------------------------------------------------------------
    def _menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction("Save as PNG…", self._save_dialog)
        menu.exec(self.mapToGlobal(pos))

    def _save_dialog(self) -> None:
        name = (self._spec.name if self._spec is not None else "") or "architecture"
        path, _ = QFileDialog.getSaveFileName(self, "Save the drawing", f"{name}.png", "PNG image (*.png)")
        if path:
            self.export_png(path)


def _params_text(params: int) -> str:
    return f"{params:,} params" if params else ""


def _wrap(text: str, width: int = 18) -> list[str]:
    """Split an arrow label at " + " (and long lines at spaces) so it fits over a short arrow."""
    lines: list[str] = []
    for part in text.split(" + "):
        part = part if not lines else "+ " + part
        for piece in part.split("\n"):
            line = ""
            for word in piece.split(" "):
                if line and len(line) + 1 + len(word) > width:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            if line:
                lines.append(line)
    return lines
