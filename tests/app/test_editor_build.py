"""Build from the editor inside the main window: the filter grid follows the new filter count."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from cnnlab.app import main_window
from cnnlab.app.workspaces import Slot, WorkspaceSpec

ONE_PLACE = (
    WorkspaceSpec(
        "both", "Both", "the editor beside the filters", (Slot(("editor",), 500), Slot(("filters",), 500))
    ),
)


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = main_window.MainWindow(settings, workspaces=ONE_PLACE, load_data=False, run_store=None)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()


def test_after_build_the_filter_grid_shows_the_new_filter_count(qtbot, window):
    editor, filters = window.panel("editor"), window.panel("filters")
    assert editor is not None and filters is not None, window.view_errors
    filters.refresh()
    qtbot.waitUntil(lambda: filters.layer_grid("conv1").count == 8)

    box = editor._cells[0].editor("filters")
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "12")
    assert filters.layer_grid("conv1").count == 8  # editing alone changes no network

    with qtbot.waitSignal(editor.buildRequested):
        qtbot.mouseClick(editor.build_button, Qt.MouseButton.LeftButton)
    assert window.state.config.spec == editor.spec()
    qtbot.waitUntil(lambda: filters.layer_grid("conv1").count == 12)
    # conv2 now sees 12 input channels: 16 filters x 12 channels.
    qtbot.waitUntil(lambda: filters.layer_grid("conv2").count == 16 * 12)
    assert editor.build_button.text() == "Build network"  # the built spec is the edited one
