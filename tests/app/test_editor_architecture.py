"""The architecture drawing: the lesson's boxes and labels, updated with the editor, saved as PNG."""

from __future__ import annotations

import itertools

from PySide6.QtGui import QColor, QImage

from cnnlab.app.views.architecture import ArchitectureView
from cnnlab.app.views.editor import ArchitectureEditor
from cnnlab.engine import load_preset


def labels(view):
    return [f"{box.name} {box.shape}" for box in view.boxes()]


def test_seed_is_drawn_like_the_lesson(qtbot):
    view = ArchitectureView(load_preset("seed"))
    qtbot.addWidget(view)
    view.resize(1200, 500)  # room for the lesson's one row
    view.show()
    qtbot.waitExposed(view)
    assert view.rows == 1
    assert labels(view) == [
        "Input 28×28×1",
        "Conv1 26×26×8",
        "Pool1 13×13×8",
        "Conv2 11×11×16",
        "Pool2 5×5×16",
        "Flatten 400",
        "FC1 10",
    ]
    boxes = view.boxes()
    assert [box.params for box in boxes] == [0, 80, 0, 1_168, 0, 0, 4_010]
    assert [box.op for box in boxes[1:]] == [
        "3×3 conv",
        "ReLU + 2×2 max pool",
        "3×3 conv",
        "ReLU + 2×2 max pool",
        "reshape",
        "fully connected",
    ]
    # Boxes are as tall as the maps are high, and wider the more channels they hold.
    heights = [box.rect.height() for box in boxes[:5]]
    assert heights == sorted(heights, reverse=True)
    assert boxes[3].rect.width() > boxes[1].rect.width() > boxes[0].rect.width()
    assert all(a.rect.right() < b.rect.left() for a, b in itertools.pairwise(boxes))
    assert "Total: 5,258 parameters" in view._note_lines


def test_the_drawing_follows_the_editor_and_shows_where_it_breaks(qtbot):
    editor = ArchitectureEditor()
    view = ArchitectureView(editor.spec())
    qtbot.addWidget(editor)
    qtbot.addWidget(view)
    editor.specChanged.connect(view.set_spec)

    editor.load_preset("mnist99")
    assert [box.name for box in view.boxes()][-2:] == ["FC1", "FC2"]
    assert view.boxes()[1].shape == "28×28×32" and view.boxes()[1].op == "3×3 conv\nsame padding"
    assert view.boxes()[-1].op == "ReLU + dropout 0.3 + fully connected"

    editor.load_preset("seed")
    editor.set_layer_setting(3, "kernel", 14)
    boxes = view.boxes()
    assert [box.name for box in boxes] == ["Input", "Conv1", "Pool1", "Layer 4"]
    assert "14x14 kernel does not fit" in boxes[-1].broken
    assert "(cannot be built)" in view._title

    editor.undo_stack().undo()
    assert not any(box.broken for box in view.boxes()) and len(view.boxes()) == 7


def test_export_png_at_twice_the_size(qtbot, tmp_path):
    view = ArchitectureView(load_preset("seed"))
    qtbot.addWidget(view)
    path = tmp_path / "seed.png"
    assert view.export_png(path, scale=2.0)
    image = QImage(str(path))
    assert image.width() == 2 * view.sizeHint().width()
    assert image.height() == 2 * view.sizeHint().height()
    # Something was drawn: the conv1 box's green is in the middle of its rectangle.
    centre = view.boxes()[1].rect.center() * 2
    assert QColor(image.pixel(centre.toPoint())) == QColor("#90ee90")


def test_fully_connected_baseline_has_no_image_boxes(qtbot):
    view = ArchitectureView(load_preset("fc-baseline"))
    qtbot.addWidget(view)
    assert labels(view) == ["Input 28×28×1", "Flatten 784", "FC1 128", "FC2 10"]
    assert view.boxes()[-1].op == "ReLU + fully connected"
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    assert not view.grab().isNull()


def test_a_narrow_tall_panel_wraps_the_chain_in_rows_and_draws_it_larger(qtbot):
    view = ArchitectureView(load_preset("mnist99"))
    qtbot.addWidget(view)
    view.resize(1400, 500)
    view.show()
    qtbot.waitExposed(view)
    assert view.rows == 1
    view.resize(430, 600)  # the Build workspace's drawing on a laptop screen with the lesson open
    assert view.rows > 1
    assert view.scale_for(view._size) > 1.5 * view.scale_for(view.sizeHint())  # larger than one row
    boxes = view.boxes()
    assert [box.row for box in boxes] == sorted(box.row for box in boxes)  # in order, row after row
    for a, b in itertools.pairwise(boxes):
        if a.row == b.row:
            assert a.rect.right() < b.rect.left() and a.mid == b.mid  # left to right along a row
        else:
            assert b.rect.top() > a.column.bottom()  # the next row starts below the last
    image = view.to_image(scale=1.0)  # an export is the lesson's one row, whatever the panel shows
    assert (image.width(), image.height()) == (view.sizeHint().width(), view.sizeHint().height())
    assert view.rows > 1  # and the panel keeps its rows
