"""The dock panels the main window builds at start-up, in order, and where each goes by default.

To add a view: write ``MyView(state)`` in ``cnnlab/app/views/`` and append a ``PanelSpec`` here, e.g.::

    PanelSpec("filters", "Filters", lambda w: FiltersView(w.state), RIGHT, tabify_with="norms")

``factory`` receives the main window (``window.state`` is the ``AppState``; ``window.actions`` the shared
QActions). ``key`` names the dock in the saved layout, so keep it stable. ``tabify_with`` puts the panel
in the same tab group as another panel; ``below`` stacks it under another one; ``scroll`` wraps it in a
scroll area. A factory that raises does not stop the window: the panel is left out and the error is
shown in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow

LEFT = Qt.LeftDockWidgetArea
RIGHT = Qt.RightDockWidgetArea
BOTTOM = Qt.BottomDockWidgetArea
TOP = Qt.TopDockWidgetArea


@dataclass(frozen=True)
class PanelSpec:
    key: str
    title: str
    factory: Callable[[MainWindow], QWidget]
    area: Qt.DockWidgetArea = RIGHT
    tabify_with: str | None = None
    below: str | None = None
    visible: bool = True
    scroll: bool = False  # wrap in a scroll area, so a tall panel does not force a tall window


def _controls(window: MainWindow) -> QWidget:
    from cnnlab.app.views.controls import ControlsPanel

    return ControlsPanel(window.state, window.actions)


def _progress(window: MainWindow) -> QWidget:
    from cnnlab.app.views.progress import ProgressPanel

    return ProgressPanel(window.state)


def _dataset(window: MainWindow) -> QWidget:
    from cnnlab.app.views.dataset_panel import DatasetPanel

    panel = DatasetPanel(window.state)
    panel.datasetChosen.connect(window.data.choose)
    panel.downloadRequested.connect(window.data.download)
    panel.chooseFolderRequested.connect(window.data.choose_folder)
    panel.useSyntheticRequested.connect(window.data.use_synthetic)
    return panel


def _norms(window: MainWindow) -> QWidget:
    from cnnlab.app.views.norms import NormsView

    return NormsView(window.state)


def _pad_keys_local(panel: QWidget) -> None:
    """A panel's own shortcuts (Esc, Delete, Ctrl+Z ...) act only while it has the keyboard focus;
    window-wide they would take the window's keys (Esc stops training) everywhere."""
    from PySide6.QtGui import QShortcut

    for shortcut in panel.findChildren(QShortcut):
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)


def _drawing(window: MainWindow) -> QWidget:
    from cnnlab.app.views.drawing import DrawingPanel

    panel = DrawingPanel(window.state)
    _pad_keys_local(panel)
    return panel


def _feature_maps(window: MainWindow) -> QWidget:
    from cnnlab.app.views.feature_maps import FeatureMapsView

    view = FeatureMapsView(window.state)
    pad = window.panel("drawing")
    if pad is not None:
        pad.inputChanged.connect(view.set_drawing)
        view.set_drawing(pad.current_input())
    return view


def _filters(window: MainWindow) -> QWidget:
    from cnnlab.app.views.filters import FiltersView

    return FiltersView(window.state)


def _show_test_image(window: MainWindow, index: int) -> None:
    """ "Look inside" a test image: onto the pad and into the feature maps."""
    for key in ("drawing", "feature_maps"):
        view = window.panel(key)
        if view is not None:
            view.show_test_image(index)
    window.show_panel("drawing")


def _predictions(window: MainWindow) -> QWidget:
    from cnnlab.app.views.predictions import PredictionsView

    view = PredictionsView(window.state)
    view.imageActivated.connect(lambda index: _show_test_image(window, index))
    return view


def _confusion(window: MainWindow) -> QWidget:
    from cnnlab.app.views.confusion import ConfusionView

    return ConfusionView(window.state)


def _histograms(window: MainWindow) -> QWidget:
    from cnnlab.app.views.histograms import HistogramsView

    return HistogramsView(window.state)


def _editor(window: MainWindow) -> QWidget:
    from cnnlab.app.views.editor import ArchitectureEditor

    state = window.state
    editor = ArchitectureEditor(spec=state.config.spec, num_classes=len(state.class_names))
    _pad_keys_local(editor)
    editor.set_built_spec(state.config.spec)

    def built(spec) -> None:
        if window.build_spec(spec):
            editor.set_built_spec(spec)

    def follow(config) -> None:
        # A preset chosen in the controls, or a checkpoint's network, shows up in the editor too.
        if config.spec != editor.spec():
            editor.set_spec(config.spec)
        editor.set_built_spec(config.spec)

    editor.buildRequested.connect(built)
    state.configChanged.connect(follow)
    state.datasetChanged.connect(lambda ds: ds is not None and editor.set_num_classes(ds.num_classes))
    return editor


def _drawing_of_network(window: MainWindow) -> QWidget:
    from cnnlab.app.views.architecture import ArchitectureView

    view = ArchitectureView(spec=window.state.config.spec, num_classes=len(window.state.class_names))
    editor = window.panel("editor")
    if editor is not None:
        editor.specChanged.connect(view.set_spec)
    else:
        window.state.configChanged.connect(lambda config: view.set_spec(config.spec))
    return view


def _runs(window: MainWindow) -> QWidget:
    from cnnlab.app.views.compare import CompareView

    view = CompareView(window.state, store=window.run_store)

    def edit(spec) -> None:
        editor = window.panel("editor")
        if editor is not None:
            editor.set_spec(spec)
            window.show_panel("editor")

    view.networkRequested.connect(lambda checkpoint, info: window.use_checkpoint(checkpoint, info.name))
    view.specRequested.connect(edit)
    return view


def default_panels() -> list[PanelSpec]:
    """The lab's panels: the run's controls and progress on the left, the curves in the middle, and on
    the right, one tab each, what the network does (the pad and the inspection views), the data, how
    the weights change, what the network is (the editor) and past runs."""
    tab = "drawing"
    return [
        PanelSpec("controls", "Controls", _controls, LEFT, scroll=True),
        PanelSpec("progress", "Progress", _progress, LEFT, below="controls", scroll=True),
        PanelSpec("drawing", "Drawing pad", _drawing, RIGHT),
        PanelSpec("feature_maps", "Feature maps", _feature_maps, RIGHT, tabify_with=tab),
        PanelSpec("filters", "Filters", _filters, RIGHT, tabify_with=tab),
        PanelSpec("predictions", "Predictions", _predictions, RIGHT, tabify_with=tab),
        PanelSpec("confusion", "Confusion", _confusion, RIGHT, tabify_with=tab),
        PanelSpec("dataset", "Dataset", _dataset, RIGHT, tabify_with=tab),
        PanelSpec("norms", "Norms", _norms, RIGHT, tabify_with=tab),
        PanelSpec("histograms", "Histograms", _histograms, RIGHT, tabify_with=tab),
        PanelSpec("editor", "Architecture", _editor, RIGHT, tabify_with=tab),
        PanelSpec("network", "Network drawing", _drawing_of_network, RIGHT, tabify_with=tab),
        PanelSpec("runs", "Runs", _runs, RIGHT, tabify_with=tab),
    ]
