"""The architecture editor, driven like a learner would: menus, buttons, typing, keys, drops."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QWidget

from cnnlab.app.views.editor import ROW_MIME, TYPE_MIME, ArchitectureEditor
from cnnlab.engine import PRESET_NAMES, NetSpec, build, load_preset


@pytest.fixture
def editor(qtbot):
    widget = ArchitectureEditor()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    return widget


def kinds(editor):
    return [layer["type"] for layer in editor.spec().layers]


def choose_preset(editor, name):
    (action,) = [a for a in editor.preset_button.menu().actions() if a.text().startswith(f"{name} ")]
    action.trigger()


def press(qtbot, editor, key, modifiers=Qt.KeyboardModifier.NoModifier):
    editor.table.setFocus()
    qtbot.keyClick(editor.table, key, modifiers)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_building_each_preset_gives_the_engines_parameter_count(qtbot, editor, name):
    choose_preset(editor, name)
    expected = load_preset(name).num_params()
    assert editor.spec() == load_preset(name)
    assert editor.total_label.text() == f"Total: {expected:,} parameters"
    shown = [editor.table.item(row, 3).text() for row in range(1, editor.table.rowCount())]
    assert sum(int(text.replace(",", "")) for text in shown) == expected

    with qtbot.waitSignal(editor.buildRequested) as built:
        qtbot.mouseClick(editor.build_button, Qt.MouseButton.LeftButton)
    (spec,) = built.args
    assert spec == load_preset(name)
    assert build(spec, np.random.default_rng(0)).num_params == expected


def test_an_impossible_kernel_flags_its_row_and_blocks_build(qtbot, editor):
    cell = editor._cells[3]  # conv2, whose input is 13x13
    box = cell.editor("kernel")
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "14")
    assert editor.spec().layers[3]["kernel"] == 14

    assert not editor.is_valid()
    assert cell.message.isVisible()
    assert "14x14 kernel does not fit in its 13x13 input" in cell.message.text()
    assert editor.table.item(4, 2).text() == "?"
    assert editor.table.item(4, 0).background().color() != editor.table.item(3, 0).background().color()
    assert "layer 4" in editor.status_label.text()
    assert not editor.build_button.isEnabled()
    with qtbot.assertNotEmitted(editor.buildRequested):
        editor.request_build()
        qtbot.mouseClick(editor.build_button, Qt.MouseButton.LeftButton)

    # Rows before the problem still show their shapes; the typing was one undo step.
    assert editor.table.item(3, 2).text() == "13×13×8"
    editor.undo_stack().undo()
    assert editor.spec() == load_preset("seed")
    assert editor.is_valid() and editor.build_button.isEnabled() and not cell.message.isVisible()


def test_a_missing_head_is_flagged_then_explained_for_the_whole_network(qtbot, editor):
    editor.select_layer(7)
    press(qtbot, editor, Qt.Key.Key_Delete)
    assert kinds(editor)[-1] == "flatten"
    # The network now ends in 400 outputs for 10 classes: the last layer is the one to fix.
    assert "ends with 400 outputs but the data has 10 classes" in editor._cells[6].message.text()
    assert not editor.build_button.isEnabled()

    press(qtbot, editor, Qt.Key.Key_Delete)  # the flatten goes too: no row is to blame any more
    assert kinds(editor)[-1] == "maxpool2d"
    assert not any(cell.message.isVisible() for cell in editor._cells)
    assert editor.status_label.text().startswith("Cannot build: the network ends with a 16x5x5 feature map")
    assert not editor.build_button.isEnabled()


def test_the_last_layer_must_match_the_class_count(qtbot, editor):
    editor.set_layer_setting(7, "units", 5)
    assert not editor.is_valid()
    assert "10 classes" in editor._cells[7].message.text()
    editor.set_num_classes(5)
    assert editor.is_valid()


def test_keyboard_reorder_then_undo_and_redo(qtbot, editor):
    seed = kinds(editor)
    editor.select_layer(2)  # pool1
    press(qtbot, editor, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    moved = kinds(editor)
    assert moved == [seed[0], seed[2], seed[1], *seed[3:]]
    assert editor.current_layer() == 1
    press(qtbot, editor, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    press(qtbot, editor, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert kinds(editor) == [seed[0], seed[1], seed[3], seed[2], *seed[4:]]

    press(qtbot, editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(qtbot, editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert kinds(editor) == moved
    press(qtbot, editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.spec() == load_preset("seed")
    shift = Qt.KeyboardModifier.ShiftModifier
    press(qtbot, editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | shift)
    assert kinds(editor) == moved
    press(qtbot, editor, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    press(qtbot, editor, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert kinds(editor) == [seed[0], seed[1], seed[3], seed[2], *seed[4:]]
    assert not editor.redo_action.isEnabled()


def drop(editor, mime_type, payload, row, below=False):
    table = editor.table
    rect = table.visualRect(table.model().index(row, 0))
    offset = rect.height() // 4
    point = QPoint(rect.center().x(), rect.center().y() + (offset if below else -offset))
    mime = QMimeData()
    mime.setData(mime_type, payload.encode())
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    event = QDropEvent(QPointF(point), Qt.DropAction.MoveAction, mime, buttons, modifiers)
    table.dropEvent(event)
    return event


def test_dragging_a_row_reorders_and_undoes(qtbot, editor):
    seed = kinds(editor)
    with qtbot.waitSignal(editor.specChanged):
        event = drop(editor, ROW_MIME, "0", row=3, below=True)  # conv1 dropped below pool1
    assert event.dropAction() == Qt.DropAction.IgnoreAction  # the view must not delete the source row
    assert kinds(editor) == [seed[1], seed[2], seed[0], *seed[3:]]
    assert editor.current_layer() == 2
    with qtbot.waitSignal(editor.specChanged):
        drop(editor, ROW_MIME, "2", row=1)  # back above relu1
    assert editor.spec() == load_preset("seed")
    editor.undo_stack().undo()
    editor.undo_stack().undo()
    assert editor.spec() == load_preset("seed")
    assert editor.undo_stack().index() == 0


def test_palette_adds_and_rows_duplicate_and_remove(qtbot, editor):
    with qtbot.waitSignal(editor.specChanged):
        drop(editor, TYPE_MIME, "dropout", row=8)  # above the dense layer
    assert kinds(editor)[-2:] == ["dropout", "dense"]
    assert editor.table.item(8, 2).text() == "400"

    editor.select_layer(0)
    palette = editor.layer_palette
    item = palette.findItems("Batch normalisation", Qt.MatchFlag.MatchExactly)[0]
    palette.itemActivated.emit(item)
    assert kinds(editor)[:2] == ["conv2d", "batchnorm"]
    assert editor.table.item(2, 3).text() == "16"  # a scale and a shift for each of 8 channels

    editor.select_layer(0)
    press(qtbot, editor, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert kinds(editor)[:3] == ["conv2d", "conv2d", "batchnorm"]
    assert editor.is_valid() and editor.table.item(2, 2).text() == "24×24×8"
    press(qtbot, editor, Qt.Key.Key_Delete)
    assert kinds(editor)[:2] == ["conv2d", "batchnorm"]
    assert editor.undo_stack().count() == 4


def test_typing_into_a_field_is_one_undo_step(qtbot, editor):
    box = editor._cells[0].editor("filters")
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "32")
    assert editor.spec().layers[0]["filters"] == 32
    assert editor.table.item(1, 3).text() == "320"
    assert editor.undo_stack().count() == 1
    editor.undo_stack().undo()
    assert box.value() == 8 and editor.table.item(1, 3).text() == "80"


def test_pooling_kind_and_activation_switch_in_place(qtbot, editor):
    editor._cells[2].editor("kind").setCurrentIndex(1)
    assert editor.spec().layers[2] == {"type": "avgpool2d", "kernel": 2}
    relu = editor._cells[1].editor("function")
    relu.setCurrentIndex(relu.findData("leaky_relu"))
    assert editor.spec().layers[1] == {"type": "leaky_relu"}
    alpha = editor._cells[1].editor("alpha")
    assert alpha is not None and alpha.text() == "0.01"
    alpha.setText("abc")
    alpha.editingFinished.emit()
    assert "'alpha' must be a number" in editor._cells[1].message.text()


def test_non_square_kernel_and_padding_typed_as_text(qtbot, editor):
    box = editor._cells[0].editor("kernel")
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "3x5")
    assert editor.spec().layers[0]["kernel"] == [3, 5]
    assert editor.table.item(1, 2).text() == "26×24×8"
    padding = editor._cells[0].editor("padding")
    padding.setCurrentText("same")
    assert editor.table.item(1, 2).text() == "28×28×8"
    padding.setCurrentText("2")
    assert editor.spec().layers[0]["padding"] == 2


def test_saved_and_loaded_spec_is_identical(qtbot, editor, tmp_path):
    editor.load_preset("lenet5")
    editor.set_layer_setting(0, "kernel", [3, 5])
    editor.add_layer("dropout", 7)
    editor.set_layer_setting(7, "rate", 0.25)
    edited = editor.spec()
    path = tmp_path / "net.json"
    assert editor.save_file(path)
    assert NetSpec.from_json(path.read_text()) == edited

    editor.set_spec(load_preset("seed"), undoable=False)
    assert editor.load_file(path)
    assert editor.spec() == edited
    assert editor.spec().to_json() == edited.to_json()


def test_a_bad_file_is_reported_and_nothing_is_lost(qtbot, editor, tmp_path):
    editor.set_layer_setting(0, "filters", 12)
    before, steps = editor.spec(), editor.undo_stack().count()
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": [ {"type": "conv2d",, } ]}')
    assert not editor.load_file(bad)
    assert "Could not open bad.json: the spec is not valid JSON" in editor.notice_label.text()
    assert not editor.load_file(tmp_path / "missing.json")
    assert "Could not open missing.json: no such spec file" in editor.notice_label.text()
    assert editor.spec() == before and editor.undo_stack().count() == steps


def _seed_with(**changes):
    data = load_preset("seed").to_dict()
    for key, value in changes.items():
        if key == "input_shape":
            data["input_shape"] = value
        else:
            data["layers"][0][key] = value
    return json.dumps(data)


HOSTILE_FILES = {
    "filters of 2**31": (_seed_with(filters=2**31), "beyond any size"),
    "kernel of 10**20": (_seed_with(kernel=[3, 10**20]), "beyond any size"),
    "padding of -2**40": (_seed_with(padding=-(2**40)), "beyond any size"),
    "a 5000-digit number": (_seed_with(filters=12345).replace("12345", "9" * 5000), "not valid JSON"),
    "two input sizes": (_seed_with(input_shape=[28, 28]), "input_shape must be [channels, height, width]"),
    "fractional input": (_seed_with(input_shape=[1, 28.5, 28]), "whole number"),
    "text input": (_seed_with(input_shape=[1, "28", 28]), "whole number"),
    "huge input": (_seed_with(input_shape=[1, 28, 100_000]), "at most 4,096"),
    "input as a number": (_seed_with(input_shape=28), "input_shape must be"),
    "deep nesting": ('{"layers": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested 100,001 levels deep"),
    "deep kernel": (_seed_with(kernel=[[[[[[[[[3]]]]]]]]]), "nested"),
    "1,000 layers": (
        json.dumps({"layers": [{"type": "relu"}] * 1000}),
        "1,000 layers; a network may have at most 200",
    ),
    "100,000 layers": (json.dumps({"layers": [{"type": "relu"}] * 100_000}), "too large for a network spec"),
    "a list": ("[1, 2, 3]", "must be a JSON object"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_open_refuses_a_hostile_file_and_keeps_the_table(qtbot, editor, tmp_path, case):
    editor.set_layer_setting(0, "filters", 12)
    before, steps, rows = editor.spec(), editor.undo_stack().count(), editor.table.rowCount()
    text, words = HOSTILE_FILES[case]
    path = tmp_path / "hostile.json"
    path.write_text(text)
    assert not editor.load_file(path)
    notice = editor.notice_label.text()
    assert notice.startswith("Could not open hostile.json: ") and words in notice, notice
    assert "\n" not in notice and len(notice) < 300
    assert editor.spec() == before and editor.undo_stack().count() == steps
    assert editor.table.rowCount() == rows and editor.is_valid()
    assert editor._cells[0].editor("filters").value() == 12


def test_open_refuses_files_that_are_not_utf8_text_or_not_files(qtbot, editor, tmp_path):
    before = editor.spec()
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"name": "r\xe9seau", "layers": []}'.encode("latin-1"))
    assert not editor.load_file(latin)
    assert "latin.json: not a UTF-8 text file" in editor.notice_label.text()
    binary = tmp_path / "noise.json"
    binary.write_bytes(bytes(range(256)) * 4)
    assert not editor.load_file(binary)
    assert "noise.json: not a UTF-8 text file" in editor.notice_label.text()
    assert not editor.load_file(tmp_path)
    assert "is a folder, not a file" in editor.notice_label.text()
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # nobody writes to it: reading it the plain way would block forever
    assert not editor.load_file(fifo)
    assert "pipe.json: is a named pipe, not a file" in editor.notice_label.text()
    big = tmp_path / "big.json"
    big.write_text(" " * (2 << 20) + load_preset("seed").to_json())
    assert not editor.load_file(big)
    assert "too large for a network spec" in editor.notice_label.text()
    assert editor.spec() == before


def test_a_spec_beyond_the_editors_ranges_is_shown_flagged_without_overflow(qtbot, editor):
    spec = load_preset("seed")
    layers = [dict(layer) for layer in spec.layers]
    layers[0].update(filters=2**31 - 1, kernel=[3, 2**31 - 1])  # inside 2**31, far beyond any spin box
    layers[2].update(stride=10**9)
    layers[1] = {"type": "leaky_relu", "alpha": 1e308}
    assert editor.set_spec(spec.replace_layers(layers))
    assert not editor.is_valid()
    assert "'filters' must be at most 65,536" in editor._cells[0].message.text()
    assert editor._cells[0].editor("filters").value() == 65_536  # clamped for show, the spec unchanged
    assert editor.spec().layers[0]["filters"] == 2**31 - 1
    # Not even a spec: refused before any row is made, the current one kept.
    too_big = spec.replace_layers([{**layers[0], "filters": 2**40}, *layers[1:]])
    assert not editor.set_spec(too_big)
    assert "beyond any size" in editor.notice_label.text()
    assert editor.spec().layers[0]["filters"] == 2**31 - 1
    odd_input = NetSpec((1, "28", 28), spec.layers)
    assert not editor.set_spec(odd_input)
    assert editor.spec().input_shape == (1, 28, 28)


def test_a_network_above_the_budget_is_flagged_at_its_layer(qtbot, editor):
    editor.set_layer_setting(7, "units", 10)
    editor.add_layer("dense", 7)
    editor.set_layer_setting(7, "units", 1_000_000)
    message = editor._cells[7].message.text()
    assert "brings the network to 401,001,248 parameters (401,000,000 of them here)" in message
    assert "above the budget of 50,000,000" in message
    assert not editor.build_button.isEnabled()
    assert editor.table.item(8, 3).text() == "?"


def test_a_file_with_an_unknown_layer_loads_and_is_flagged(qtbot, editor, tmp_path):
    path = tmp_path / "odd.json"
    data = load_preset("seed").to_dict()
    data["layers"].insert(1, {"type": "softmax"})
    path.write_text(json.dumps(data))
    assert editor.load_file(path)
    assert "unknown layer type 'softmax'" in editor._cells[1].message.text()
    assert not editor.build_button.isEnabled()
    editor.select_layer(1)
    editor.remove_button.click()
    assert editor.is_valid()


def test_every_setting_explains_itself(qtbot, editor):
    for kind in ["conv2d", "maxpool2d", "dense", "dropout", "batchnorm", "leaky_relu", "elu"]:
        editor.add_layer(kind, 0)
        cell = editor._cells[0]
        named = [w for w in cell.findChildren(QWidget) if w.objectName()]
        editors = [w for w in named if not w.objectName().startswith("qt_")]
        assert editors, kind
        for widget in editors:
            assert widget.toolTip().strip(), (kind, widget.objectName())
    for index in range(editor.layer_palette.count()):
        assert editor.layer_palette.item(index).toolTip()


def test_built_spec_marks_later_edits(qtbot, editor):
    editor.set_built_spec(editor.spec())
    assert editor.build_button.text() == "Build network"
    editor.set_layer_setting(0, "filters", 4)
    assert editor.build_button.text().endswith("*")
    editor.set_build_enabled(False)
    assert not editor.build_button.isEnabled()


def test_a_new_layer_type_appears_in_the_editor_and_the_drawing_from_its_declaration(qtbot, monkeypatch):
    from cnnlab.app.views.architecture import ArchitectureView
    from cnnlab.engine import LAYER_TYPES
    from tests.engine.test_new_layer_type import SPEC, GlobalAvgPool2D

    monkeypatch.setitem(LAYER_TYPES, GlobalAvgPool2D.kind, GlobalAvgPool2D)
    editor = ArchitectureEditor(SPEC)
    qtbot.addWidget(editor)
    palette = [editor.layer_palette.item(i) for i in range(editor.layer_palette.count())]
    (item,) = [i for i in palette if i.data(Qt.ItemDataRole.UserRole) == "global_avgpool"]
    assert item.text() == "Global average pooling" and "whole feature map" in item.toolTip()
    assert editor.is_valid() and editor.table.item(3, 0).text().startswith("GAP1")
    shrink = editor._cells[2].editor("shrink")
    assert shrink.toolTip() == "Scales the mean by (1 - shrink)." and shrink.value() == pytest.approx(0.25)
    shrink.setValue(0.5)
    assert editor.spec().layers[2] == {"type": "global_avgpool", "shrink": 0.5}
    editor.add_layer("global_avgpool", 3)
    assert "needs an image-shaped input" in editor._cells[3].message.text()
    view = ArchitectureView(SPEC)
    qtbot.addWidget(view)
    assert [f"{box.name} {box.shape}" for box in view.boxes()][-2:] == ["GAP1 6", "FC1 10"]
    assert view.boxes()[-2].op == "ReLU + global average"
