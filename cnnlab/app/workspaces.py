"""The lab's workspaces: a few places matched to what a learner does, each an arrangement of views.

A *view* (``ViewSpec``) is one widget with a key, a title, a line saying what it shows and a short help
text; its factory receives the main window (``window.state`` is the ``AppState``, ``window.actions`` the
shared commands, ``window.view(key)`` another view). A *workspace* (``WorkspaceSpec``) lays its views out
side by side in a splitter; a slot with several views shows them as tabs. Workspaces are built the first
time they are opened, so start-up builds only the first one.

To add a view: write ``MyView(state)`` in ``cnnlab/app/views/``, add a ``ViewSpec`` to ``VIEWS`` and put
its key in a workspace's slots. Keys name the view in tests and in remembered layouts: keep them stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow


@dataclass(frozen=True)
class ViewSpec:
    key: str
    title: str
    factory: Callable[[MainWindow], QWidget]
    about: str  # one line: what am I seeing?
    help: str = ""  # two or three sentences: how to read it
    scroll: bool = False  # wrap in a vertical scroll area (a tall form must not force a tall window)


@dataclass(frozen=True)
class Slot:
    """One column of a workspace: a view, or several views as tabs."""

    views: tuple[str, ...]
    width: int  # preferred width in pixels at a 1280 px window; columns share what is left in proportion
    min_width: int = 200


@dataclass(frozen=True)
class WorkspaceSpec:
    key: str
    title: str  # on the mode bar (may hold a line break)
    tip: str
    slots: tuple[Slot, ...]

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(key for slot in self.slots for key in slot.views)

    @property
    def name(self) -> str:
        return self.title.replace("\n", " ")


# -- view factories ----------------------------------------------------------------------------------
def _controls(window: MainWindow) -> QWidget:
    from cnnlab.app.views.controls import ControlsPanel

    return ControlsPanel(window.state)


def _curves(window: MainWindow) -> QWidget:
    from cnnlab.app.views.curves import CurvesView

    view = CurvesView(window.state)
    view.save_button.clicked.connect(window.export_plots)
    return view


def _progress(window: MainWindow) -> QWidget:
    from cnnlab.app.views.progress import ProgressPanel

    return ProgressPanel(window.state)


def _norms(window: MainWindow) -> QWidget:
    from cnnlab.app.views.norms import NormsView

    return NormsView(window.state)


def _histograms(window: MainWindow) -> QWidget:
    from cnnlab.app.views.histograms import HistogramsView

    return HistogramsView(window.state)


def _keys_local(view: QWidget) -> None:
    """A view's own shortcuts (Esc, Delete, Ctrl+Z ...) act only while it has the keyboard focus;
    window-wide they would take the window's keys (Esc stops training) everywhere."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QShortcut

    for shortcut in view.findChildren(QShortcut):
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)


def _say_when_untrained(window: MainWindow, view: QWidget) -> None:
    """Views that show the network's answers say so when they come from random weights."""
    state = window.state

    def update(*_) -> None:
        view.set_untrained(state.is_untrained)

    state.inspectorChanged.connect(update)
    state.runChanged.connect(update)
    update()


def _drawing(window: MainWindow) -> QWidget:
    from cnnlab.app.views.drawing import DrawingPanel

    panel = DrawingPanel(window.state)
    _keys_local(panel)
    _say_when_untrained(window, panel)
    panel.set_collection(window.collection)
    return panel


def _feature_maps(window: MainWindow) -> QWidget:
    from cnnlab.app.views.feature_maps import FeatureMapsView

    view = FeatureMapsView(window.state)
    pad = window.view("drawing")
    if pad is not None:
        pad.inputChanged.connect(view.set_drawing)
        view.set_drawing(pad.current_input())
    return view


def _filters(window: MainWindow) -> QWidget:
    from cnnlab.app.views.filters import FiltersView

    return FiltersView(window.state)


def _predictions(window: MainWindow) -> QWidget:
    from cnnlab.app.views.predictions import PredictionsView

    view = PredictionsView(window.state)
    view.imageActivated.connect(window.look_inside_test_image)
    _say_when_untrained(window, view)
    view.offer_your_digits(True)
    view.sourceChosen.connect(window.measure_on)
    return view


def _confusion(window: MainWindow) -> QWidget:
    from cnnlab.app.views.confusion import ConfusionView

    view = ConfusionView(window.state)
    _say_when_untrained(window, view)
    return view


def _editor(window: MainWindow) -> QWidget:
    from cnnlab.app.views.editor import ArchitectureEditor

    state = window.state
    editor = ArchitectureEditor(spec=state.config.spec, num_classes=len(state.class_names))
    _keys_local(editor)
    editor.set_built_spec(state.config.spec)

    def built(spec) -> None:
        if window.build_spec(spec):
            editor.set_built_spec(spec)

    def follow(config) -> None:
        # A preset chosen in the settings, or a checkpoint's network, shows up in the editor too.
        if config.spec != editor.spec():
            editor.set_spec(config.spec)
        editor.set_built_spec(config.spec)

    editor.buildRequested.connect(built)
    state.configChanged.connect(follow)
    state.datasetChanged.connect(lambda ds: ds is not None and editor.set_num_classes(ds.num_classes))
    return editor


def _network_drawing(window: MainWindow) -> QWidget:
    from cnnlab.app.views.architecture import ArchitectureView

    view = ArchitectureView(spec=window.state.config.spec, num_classes=len(window.state.class_names))
    editor = window.view("editor", build=False)
    if editor is not None:
        editor.specChanged.connect(view.set_spec)
    else:
        window.state.configChanged.connect(lambda config: view.set_spec(config.spec))
    return view


def _runs(window: MainWindow) -> QWidget:
    from cnnlab.app.views.compare import CompareView

    view = CompareView(window.state, store=window.run_store)

    def edit(spec) -> None:
        editor = window.view("editor")
        if editor is not None:
            editor.set_spec(spec)
            window.show_view("editor")

    view.networkRequested.connect(lambda checkpoint, info: window.use_checkpoint(checkpoint, info.name))
    view.specRequested.connect(edit)
    return view


def _sweep(window: MainWindow) -> QWidget:
    from cnnlab.app.views.sweep_panel import SweepPanel

    panel = SweepPanel()
    panel.runRequested.connect(
        lambda setting, values, epochs, images: window.start_sweep(
            setting, values, window.state.config.replace(epochs=epochs, train_limit=images)
        )
    )
    panel.cancelRequested.connect(window.stop_training)
    window.state.themeChanged.connect(panel.apply_theme)
    panel.apply_theme(window.state.theme)
    return panel


def _dataset(window: MainWindow) -> QWidget:
    from cnnlab.app.views.dataset_panel import DatasetPanel

    panel = DatasetPanel(window.state)
    panel.datasetChosen.connect(window.data.choose)
    panel.downloadRequested.connect(window.data.download)
    panel.chooseFolderRequested.connect(window.data.choose_folder)
    panel.useSyntheticRequested.connect(window.data.use_synthetic)
    return panel


def _mine(window: MainWindow) -> QWidget:
    from cnnlab.app.views.mine_browser import MineBrowser

    view = MineBrowser(window.collection)
    view.measureRequested.connect(lambda: window.show_results_on("mine-all"))
    view.fineTuneRequested.connect(window.start_finetune)
    view.importRequested.connect(window.import_digits)
    view.exportRequested.connect(window.export_digits)
    return view


VIEWS: dict[str, ViewSpec] = {
    v.key: v
    for v in (
        ViewSpec(
            "controls",
            "Settings",
            _controls,
            "What the next run trains, and how.",
            "The network, optimizer, schedule, epochs, seed and training-set size are fixed once a run "
            "starts. The live settings (learning rate, momentum, weight decay, batch size, augmentation) "
            "can be changed while it trains and apply from the next step.",
            scroll=True,
        ),
        ViewSpec(
            "curves",
            "Loss and accuracy",
            _curves,
            "How wrong the network is (loss) and how often it is right (accuracy), step by step.",
            "Each step trains on one batch. The thin line is each batch's loss, the thick one its moving "
            "average. Validation is measured during the epoch on images the network never trains on; the "
            "test set is measured only at each epoch's end (squares). Hover to read the values.",
        ),
        ViewSpec(
            "norms",
            "Weight norms",
            _norms,
            "How large each layer's weights and gradients are, over the run (log scale).",
            "Weights that grow without bound, or gradients that shrink towards zero in the first layers, "
            "are the classic signs of exploding or vanishing gradients.",
        ),
        ViewSpec(
            "histograms",
            "Weight histograms",
            _histograms,
            "How the values of one layer's weights or gradients are spread, over the run.",
            "Each column is a histogram at one moment (darker: more values in that bin). A spread that "
            "widens steadily is learning; one that collapses to zero, or explodes, is not.",
        ),
        ViewSpec(
            "progress",
            "Progress and checks",
            _progress,
            "Where the run is, how fast it goes, and what its numbers say.",
            "The checks below the numbers watch for the usual problems (not learning, diverging, "
            "overfitting) and say what to try.",
            scroll=True,
        ),
        ViewSpec(
            "drawing",
            "Drawing pad",
            _drawing,
            "Draw a digit: the network reads it as you draw.",
            "What you draw is cropped, scaled and centred the way MNIST's digits were made (the small "
            "preview), then fed to the network. The bars are its probability for each class.",
        ),
        ViewSpec(
            "feature_maps",
            "Feature maps",
            _feature_maps,
            "What every layer makes of the drawn (or a chosen test) image.",
            "Each small image is one channel of a layer's output: bright where the filter found its "
            "pattern. Click a unit to see the patch of the input it looks at and the sum it computes.",
        ),
        ViewSpec(
            "filters",
            "Filters",
            _filters,
            "The weights each convolution has learned, one small image per filter.",
            "Before training the filters are random noise; after a few hundred steps the first layer's "
            "filters turn into edge and stroke detectors. Click one to enlarge it.",
        ),
        ViewSpec(
            "predictions",
            "Predictions",
            _predictions,
            "The test images with the network's answer; mistakes in red, the most confident first.",
            "Double-click an image to look inside: it goes onto the drawing pad and into the feature maps.",
        ),
        ViewSpec(
            "confusion",
            "Confusion matrix",
            _confusion,
            "Which digits the network mixes up: rows are the true class, columns its answer.",
            "The diagonal counts the right answers. A bright cell off the diagonal is a pair of classes "
            "the network confuses; click it to list those images. The bars give each class's accuracy.",
        ),
        ViewSpec(
            "editor",
            "Architecture editor",
            _editor,
            "The network as a list of layers, with each layer's output shape and parameters.",
            "Add, remove, reorder or change layers; a layer that cannot work is flagged with the reason. "
            "Build makes the new network with fresh weights.",
        ),
        ViewSpec(
            "network",
            "Network drawing",
            _network_drawing,
            "The network drawn as blocks, sized by the shapes that flow through it.",
        ),
        ViewSpec(
            "sweep",
            "Change one thing",
            _sweep,
            "Pick one setting and some values: one run per value, then their results side by side.",
            "This is how the lesson's exercises are done: the same network and data, one setting changed, "
            "everything else the same (the settings in Train). Each run is kept in the history, named "
            "by what sets it apart, and drawn beside the others in Runs.",
            scroll=True,
        ),
        ViewSpec(
            "runs",
            "Runs",
            _runs,
            "Every run so far, with its settings and results, to compare side by side.",
            "Tick runs to overlay their curves. Load a run's network to look inside it, or open its "
            "architecture in the editor.",
        ),
        ViewSpec(
            "dataset",
            "Dataset",
            _dataset,
            "Which images the network learns from, and where they come from.",
            "MNIST is 70,000 handwritten digits; Fashion-MNIST the same format with ten kinds of clothing. "
            "Without a download, synthetic digits let you try everything at once.",
            scroll=True,
        ),
        ViewSpec(
            "mine",
            "Your digits",
            _mine,
            "The digits you drew and kept on the pad: a dataset of your own handwriting.",
            "A network that reads MNIST well often misreads digits drawn with a mouse. Keep some (Look "
            "inside: draw, then press the digit's number), test the network on them, and fine-tune it on "
            "them mixed with MNIST so it learns your hand without forgetting MNIST. One in five of your "
            "digits is held out: it is never trained on, so it measures the effect honestly.",
        ),
    )
}

WORKSPACES: tuple[WorkspaceSpec, ...] = (
    WorkspaceSpec(
        "train",
        "Train",
        "Train the network and watch it learn: settings, curves, progress (Ctrl+1)",
        (
            Slot(("controls",), 270, 230),
            Slot(("curves", "norms", "histograms"), 640, 300),
            Slot(("progress",), 290, 190),
        ),
    ),
    WorkspaceSpec(
        "inspect",
        "Look\ninside",
        "Draw a digit and see what every layer of the network does with it (Ctrl+2)",
        (Slot(("drawing",), 560, 300), Slot(("feature_maps", "filters"), 640, 300)),
    ),
    WorkspaceSpec(
        "results",
        "Test\nresults",
        "How the network does on the test set: its answers, its mistakes, what it confuses (Ctrl+3)",
        (Slot(("predictions",), 640, 300), Slot(("confusion",), 560, 260)),
    ),
    WorkspaceSpec(
        "build",
        "Build",
        "Change the network's architecture and build it (Ctrl+4)",
        (Slot(("editor",), 620, 420), Slot(("network",), 580, 240)),
    ),
    WorkspaceSpec(
        "compare",
        "Compare",
        "Compare runs: their settings, curves and results (Ctrl+5)",
        (Slot(("sweep",), 400, 280), Slot(("runs",), 800, 420)),
    ),
    WorkspaceSpec(
        "data",
        "Data",
        "Choose, download or generate the images to learn from (Ctrl+6)",
        (Slot(("dataset",), 520, 300), Slot(("mine",), 680, 380)),
    ),
)


def workspace_of(view_key: str, workspaces: tuple[WorkspaceSpec, ...] = WORKSPACES) -> WorkspaceSpec | None:
    for workspace in workspaces:
        if view_key in workspace.views:
            return workspace
    return None
