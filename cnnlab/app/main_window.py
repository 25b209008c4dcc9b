"""The lab's main window: one set of run controls on top, workspaces chosen on the left, the lesson on the
right, a message banner and a status bar.

It wires the pieces together and owns nothing else: the ``AppState`` holds what is shown, the
``TrainingController`` runs training as a background task, the ``DataManager`` finds and loads data, and
each workspace (``app.workspaces``) is an arrangement of views built the first time it is opened. What
the window remembers (``app.settings``) is checked when read back, so nothing remembered can stop it from
opening. Pass a ``QSettings`` in to keep tests away from the user's settings.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.actions import make_actions, soft_key_commands
from cnnlab.app.checkpoints import CheckpointCommands
from cnnlab.app.collection import Collection
from cnnlab.app.data_manager import DataManager
from cnnlab.app.dialogs import about_box, shortcuts_dialog
from cnnlab.app.digits import DigitsCommands
from cnnlab.app.lesson.actions import LessonActions
from cnnlab.app.lesson.panel import LessonPanel
from cnnlab.app.menus import build_menus, build_status_bar, build_toolbar
from cnnlab.app.run_controls import say_what_the_run_controls_do
from cnnlab.app.runner import describe_exception
from cnnlab.app.settings import default_settings, describe_notes, read_settings
from cnnlab.app.state import AppState
from cnnlab.app.theme import Theme, apply_theme
from cnnlab.app.views.progress import STATE_WORDS
from cnnlab.app.views.sweep_panel import setting_title
from cnnlab.app.widgets.banner import Banner
from cnnlab.app.widgets.mode_bar import ModeBar
from cnnlab.app.widgets.view_frame import ViewFrame
from cnnlab.app.worker import START_ERRORS, TrainingController
from cnnlab.app.workspaces import VIEWS, WORKSPACES, ViewSpec, WorkspaceSpec, workspace_of
from cnnlab.data import DATASETS
from cnnlab.engine import Checkpoint, NetSpec, SpecError
from cnnlab.training import ConfigError, Event, RunStore, Snapshot, TrainConfig, TrainingSession

RUN_EVENTS_TO_STATE = {Event.FINISHED: "finished", Event.STOPPED: "stopped", Event.DIVERGED: "diverged"}
USER_RUNS = object()  # "record runs in the user's data folder" (the runs history's default place)
DEFAULT_SIZE = QSize(1280, 800)
LESSON_WIDTH = 270

__all__ = ["USER_RUNS", "MainWindow", "default_settings"]


class MainWindow(QMainWindow):
    """The desktop lab.

    ``view(key)`` finds a view (building its workspace if needed), ``show_view(key)`` brings it to the
    front, ``show_workspace(key)`` switches workspace. Training commands: ``start_training``,
    ``toggle_pause``, ``step_batch``, ``step_epoch``, ``stop_training``, ``reset``; ``build_spec(spec)``
    switches the network (asking first when that would discard a trained one).
    """

    firstShown = Signal(float)  # ms from the process start to the window's first frame

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        state: AppState | None = None,
        workspaces: tuple[WorkspaceSpec, ...] = WORKSPACES,
        views: dict[str, ViewSpec] | None = None,
        load_data: bool = True,
        synthetic_size: tuple[int, int] = (12_000, 2_000),
        run_store: RunStore | object | None = USER_RUNS,
        data_dir: str | None = None,
    ) -> None:
        """``run_store``: where runs are recorded (``USER_RUNS``: the user's data folder; None: nowhere).
        ``data_dir``: a data folder to use instead of the remembered one (``cnnlab gui --data-dir``)."""
        super().__init__()
        self.setObjectName("MainWindow")
        self.settings = settings if settings is not None else default_settings()
        self.state = state if state is not None else AppState(parent=self)
        self.run_store: RunStore | None = RunStore() if run_store is USER_RUNS else run_store
        self.controller = TrainingController(self, run_store=self.run_store)
        self.data = DataManager(self.state, self, synthetic_size=synthetic_size)
        self.checkpoints = CheckpointCommands(self)
        self.collection = Collection(parent=self)
        self.digits = DigitsCommands(self)
        self.lesson_actions = LessonActions(self)
        self.actions: dict[str, QAction] = make_actions(self)
        self.workspace_specs = {w.key: w for w in workspaces}
        self.view_specs = dict(VIEWS if views is None else views)
        self._workspaces: dict[str, QWidget] = {}
        self._views: dict[str, QWidget] = {}
        self._frames: dict[str, ViewFrame] = {}
        self._tab_of: dict[str, tuple[QTabWidget, int]] = {}
        self._splitters: dict[str, QSplitter] = {}
        self.view_errors: dict[str, str] = {}
        self.last_error = ""
        self.current_workspace = ""
        # Tests replace this to answer questions ("discard the trained network?") without a dialog.
        self.confirm = self._confirm_with_dialog
        self._start_when_loaded: str | None = None  # how to start once the data is loaded
        self._dialogs: list[QWidget] = []
        self._fitted = False

        self.remembered = read_settings(
            self.settings, self.state.check_spec_fits, tuple(self.workspace_specs)
        )
        self._apply_remembered_early()
        if data_dir:
            self.state.data_dir = str(data_dir)
        self.setWindowTitle("cnnlab")

        self._build_central()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        self._apply_theme(self.state.theme)
        self.resize(self._fitting_size(DEFAULT_SIZE))
        if self.remembered.geometry is not None:
            self.restoreGeometry(self.remembered.geometry)
        # The first workspace is built right after the window first shows (see showEvent), so the window
        # appears before its plots and their libraries are loaded; asking for a view builds it at once.
        self.current_workspace = self.remembered.workspace or next(iter(self.workspace_specs))
        self.mode_bar.set_current(self.current_workspace)
        self.shown_after_ms: float | None = None
        shown = self.remembered.lesson_shown
        self.set_lesson_visible(self.remembered.first_start if shown is None else shown)
        self.lesson.show_step(self.remembered.lesson_step if not self.remembered.first_start else 0)
        if self.remembered.notes:
            self.show_error(describe_notes(self.remembered.notes), level="warn", topic="settings")
        self._update_actions()
        self._update_network_status()
        # The dataset loads in the background once the window is up (its thread would compete with the
        # first frame for the interpreter).
        self._load_data_when_shown = load_data

    # -- the window's parts ------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.mode_bar = ModeBar()
        for i, spec in enumerate(self.workspace_specs.values()):
            self.mode_bar.add_mode(spec.key, spec.title, spec.tip)
            action = QAction(spec.name, self)
            action.setObjectName(f"action-workspace-{spec.key}")
            if i < 9:
                action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.setToolTip(spec.tip)
            action.triggered.connect(lambda _=False, k=spec.key: self.show_workspace(k))
            self.actions[f"workspace_{spec.key}"] = action
            self.addAction(action)
        self.mode_bar.chosen.connect(self.show_workspace)
        self.lesson_button = QToolButton()
        self.lesson_button.setObjectName("mode-lesson")
        self.lesson_button.setText("Lesson")
        self.lesson_button.setCheckable(True)
        self.lesson_button.setToolTip("Show or hide the guide through the lesson (F2)")
        self.lesson_button.toggled.connect(self.set_lesson_visible)
        self.mode_bar.add_bottom(self.lesson_button)

        self.banner = Banner()
        self.stack = QStackedWidget()
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.setSpacing(2)
        middle_layout.addWidget(self.banner)
        middle_layout.addWidget(self.stack, 1)

        self.lesson = LessonPanel()
        self.lesson.setupRequested.connect(self.lesson_actions.run_step)
        self.lesson.stepChanged.connect(self.lesson_actions.on_step_shown)
        self.lesson.closeRequested.connect(lambda: self.set_lesson_visible(False))

        self.body = QSplitter(Qt.Horizontal)
        self.body.setObjectName("body")
        self.body.setChildrenCollapsible(False)
        self.body.addWidget(middle)
        self.body.addWidget(self.lesson)
        self.body.setStretchFactor(0, 1)
        self.body.setStretchFactor(1, 0)

        central = QWidget()
        central.setObjectName("Central")
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.mode_bar)
        layout.addWidget(self.body, 1)
        self.setCentralWidget(central)

    def _build_menus_and_toolbar(self) -> None:
        build_menus(self)
        build_toolbar(self)

    def _build_status_bar(self) -> None:
        build_status_bar(self)

    def _connect(self) -> None:
        a, s, c = self.actions, self.state, self.controller
        a["start"].triggered.connect(self.start_training)
        a["pause"].triggered.connect(self.toggle_pause)
        a["step"].triggered.connect(self.step_batch)
        a["step_epoch"].triggered.connect(self.step_epoch)
        a["stop"].triggered.connect(self.stop_training)
        a["reset"].triggered.connect(self.reset)
        a["open_checkpoint"].triggered.connect(self.open_checkpoint)
        a["save_checkpoint"].triggered.connect(self.save_checkpoint)
        a["open_pretrained"].triggered.connect(self.open_pretrained)
        a["open_onnx"].triggered.connect(self.checkpoints.open_onnx_dialog)
        a["export_onnx"].triggered.connect(self.checkpoints.export_onnx_dialog)
        a["export_pytorch"].triggered.connect(self.checkpoints.export_pytorch_dialog)
        a["export_plots"].triggered.connect(self.export_plots)
        a["quit"].triggered.connect(self.close)
        a["download"].triggered.connect(lambda: self.data.download())
        a["choose_folder"].triggered.connect(self.data.choose_folder)
        a["use_synthetic"].triggered.connect(self.data.use_synthetic)
        a["reload_data"].triggered.connect(self.data.reload)
        a["toggle_theme"].triggered.connect(self.toggle_theme)
        a["reset_layout"].triggered.connect(self.reset_layout)
        a["shortcuts"].triggered.connect(self.show_shortcuts)
        a["about"].triggered.connect(self.show_about)
        a["lesson"].triggered.connect(lambda: self.set_lesson_visible(not self.lesson.isVisible()))

        c.snapshot.connect(self._on_snapshot)
        c.failed.connect(self._on_run_failed)
        c.runEnded.connect(self._on_run_ended)
        c.stateChanged.connect(self._update_actions)
        c.sweepEnded.connect(self._on_sweep_ended)
        s.liveSettingsChanged.connect(self._on_live_settings)
        s.themeChanged.connect(self._apply_theme)
        s.runStateChanged.connect(lambda _: self._update_actions())
        s.dataStatusChanged.connect(self._update_data_status)
        s.inspectorChanged.connect(lambda _: self._update_network_status())
        s.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.buildRequested.connect(self.build_spec)
        self.data.loaded.connect(self._on_data_loaded)
        self.data.failed.connect(lambda message, details: self.show_error(message, details, topic="data"))
        QApplication.instance().focusChanged.connect(self._on_focus_changed)

    # -- workspaces and views ----------------------------------------------------------------------
    def show_workspace(self, key: str) -> QWidget:
        if key not in self.workspace_specs:
            raise KeyError(f"no workspace called {key!r}")
        widget = self._build_workspace(key)
        self.stack.setCurrentWidget(widget)
        self.current_workspace = key
        self.mode_bar.set_current(key)
        return widget

    def _build_workspace(self, key: str) -> QWidget:
        if key in self._workspaces:
            return self._workspaces[key]
        spec = self.workspace_specs[key]
        splitter = QSplitter(Qt.Horizontal)
        splitter.setObjectName(f"workspace-{key}")
        splitter.setChildrenCollapsible(False)
        self._workspaces[key] = splitter
        self._splitters[key] = splitter
        self.stack.addWidget(splitter)
        for slot in spec.slots:
            frames = [frame for frame in (self._make_frame(v) for v in slot.views) if frame is not None]
            if len(frames) == 1:
                holder: QWidget = frames[0]
            else:
                holder = QTabWidget()
                holder.setObjectName(f"tabs-{'-'.join(slot.views)}")
                holder.setDocumentMode(True)
                holder.tabBar().setExpanding(False)
                for frame in frames:
                    frame.set_in_tab(True)
                    self._tab_of[frame.key] = (holder, holder.addTab(frame, self.view_specs[frame.key].title))
            holder.setMinimumWidth(slot.min_width)
            splitter.addWidget(holder)
        for i, slot in enumerate(spec.slots):
            splitter.setStretchFactor(i, slot.width)
        sizes = self.remembered.layout.get(key)
        valid = isinstance(sizes, list) and len(sizes) == splitter.count()
        if valid and all(isinstance(v, int) and 0 <= v < 100_000 for v in sizes):
            splitter.setSizes(sizes)
        else:
            splitter.setSizes([slot.width for slot in spec.slots])
        return splitter

    def _make_frame(self, key: str) -> ViewFrame | None:
        spec = self.view_specs.get(key)
        if spec is None:
            return None
        try:
            view = spec.factory(self)
        except Exception as exc:  # one broken view must not keep the lab from opening
            self.view_errors[key] = f"{describe_exception(exc)}\n{traceback.format_exc()}"
            self.show_error(
                f"The {spec.title} view could not be built: {describe_exception(exc)}",
                traceback.format_exc(),
            )
            return None
        self._views[key] = view
        content: QWidget = view
        if spec.scroll:
            area = QScrollArea()
            area.setObjectName(f"scroll-{key}")
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            area.setWidget(view)
            # Scroll only up and down: the column keeps the form's own width, so nothing is cut off.
            bar = area.verticalScrollBar().sizeHint().width()
            area.setMinimumWidth(view.minimumSizeHint().width() + bar + 2)
            content = area
        frame = ViewFrame(key, spec.title, spec.about, spec.help, content)
        self._frames[key] = frame
        return frame

    def view(self, key: str, build: bool = True) -> QWidget | None:
        """The view called ``key`` (built with its workspace the first time, unless ``build`` is False)."""
        if key not in self._views and build:
            workspace = workspace_of(key, tuple(self.workspace_specs.values()))
            if workspace is not None and workspace.key not in self._workspaces:
                self._build_workspace(workspace.key)
        return self._views.get(key)

    panel = view  # the name the views' tests and the self-test use

    def frame(self, key: str) -> ViewFrame | None:
        self.view(key)
        return self._frames.get(key)

    def show_view(self, key: str) -> QWidget | None:
        view = self.view(key)
        workspace = workspace_of(key, tuple(self.workspace_specs.values()))
        if view is None or workspace is None:
            return view
        self.show_workspace(workspace.key)
        if key in self._tab_of:
            tabs, index = self._tab_of[key]
            tabs.setCurrentIndex(index)
        return view

    show_panel = show_view

    def built_views(self) -> dict[str, QWidget]:
        return dict(self._views)

    @property
    def curves(self):
        return self.view("curves")

    def measure_on(self, source: str) -> None:
        self.digits.measure_on(source)

    def start_finetune(self, share: float, epochs: int, lr: float) -> bool:
        return self.digits.start_finetune(share, epochs, lr)

    def import_digits(self, folder: str) -> None:
        self.digits.import_digits(folder)

    def export_digits(self, folder: str, layout: str = "by-label") -> None:
        self.digits.export_digits(folder, layout)

    @property
    def finetune_results(self) -> list | None:
        return self.digits.results

    def show_results_on(self, source: str) -> None:
        predictions = self.show_view("predictions")
        if predictions is not None:
            predictions.set_source(source)

    def look_inside_test_image(self, index: int) -> None:
        """A test image onto the drawing pad and into the feature maps (from Predictions)."""
        for key in ("drawing", "feature_maps"):
            view = self.view(key)
            if view is not None:
                view.show_test_image(index)
        self.show_view("drawing")

    # -- the lesson --------------------------------------------------------------------------------
    def set_lesson_visible(self, visible: bool) -> None:
        visible = bool(visible)
        self.lesson.setVisible(visible)
        if self.lesson_button.isChecked() != visible:
            self.lesson_button.setChecked(visible)
        if visible:
            total = max(self.body.width(), 1)
            self.body.setSizes([max(total - LESSON_WIDTH, 1), LESSON_WIDTH])

    # -- size --------------------------------------------------------------------------------------
    def _fitting_size(self, wanted: QSize) -> QSize:
        """At least ``wanted`` (most of a larger screen), never more than the screen's free area less room
        for a window manager's frame."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return wanted
        free = screen.availableGeometry()
        width = max(wanted.width(), int(free.width() * 0.85))
        height = max(wanted.height(), int(free.height() * 0.88))
        return QSize(min(width, free.width() - 8), min(height, free.height() - 40))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            # The frame's size is known only once a window manager has framed the window.
            QTimer.singleShot(150, self.fit_to_screen)
            QTimer.singleShot(0, self._first_frame_shown)

    def _first_frame_shown(self) -> None:
        from cnnlab.app.startup import process_age_ms

        self.shown_after_ms = process_age_ms()
        self.firstShown.emit(self.shown_after_ms)
        if self._load_data_when_shown:
            self._load_data_when_shown = False
            self.data.choose(self.state.dataset_name)
        if self.stack.currentWidget() is None or self.current_workspace not in self._workspaces:
            self.show_workspace(self.current_workspace)

    def fit_to_screen(self) -> None:
        """Shrink and move the window so that all of it, frame included, lies on its screen."""
        screen = self.screen()
        if screen is None:
            return
        free = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        width = min(self.width(), free.width() - extra_w)
        height = min(self.height(), free.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        x = min(max(frame.x(), free.x()), free.right() - frame.width() + 1)
        y = min(max(frame.y(), free.y()), free.bottom() - frame.height() + 1)
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def reset_layout(self) -> None:
        """Every workspace's columns back to their default widths; the window back to fit the screen."""
        for key, splitter in self._splitters.items():
            splitter.setSizes([slot.width for slot in self.workspace_specs[key].slots])
        self.resize(self._fitting_size(DEFAULT_SIZE))
        self.fit_to_screen()

    # -- training commands -------------------------------------------------------------------------
    def start_training(self) -> bool:
        if self.controller.is_running():
            if self.controller.is_paused():
                self.controller.resume()
                return True
            self.statusBar().showMessage("Already training: Stop or Reset first to start a new run.", 5000)
            return False
        return self._begin_run("run")

    def toggle_pause(self) -> None:
        if self.controller.is_running():
            self.controller.toggle_pause()
            self.state.set_run_state("paused" if self.controller.is_paused() else "running")

    def step_batch(self) -> None:
        if self.controller.is_running():
            self.controller.step()
            self.state.set_run_state("paused")
        else:
            self._begin_run("step")

    def step_epoch(self) -> None:
        if self.controller.is_running():
            self.controller.step_epoch()
            self.state.set_run_state("running")
        else:
            self._begin_run("epoch")

    def stop_training(self) -> None:
        self._start_when_loaded = None
        self.controller.stop()

    def _may_discard(self, doing: str) -> bool:
        """Ask before an action drops a trained network from the views (True: go ahead)."""
        what = self.state.trained_description()
        if not what:
            return True
        kept = (
            " It stays in Compare, where you can load it again."
            if self.run_store is not None and self.state.run_id is not None
            else ""
        )
        return self.confirm(f"{doing} replaces the trained network ({what}).{kept} Go ahead?")

    def reset(self) -> bool:
        """Stop any run, clear the dashboard, and go back to fresh weights from the seed."""
        if not self._may_discard("Reset"):
            return False
        self._start_when_loaded = None
        self.controller.discard()
        self.state.clear_run()
        self.statusBar().showMessage("Reset: the network has fresh, untrained weights.", 5000)
        return True

    def build_spec(self, spec: NetSpec) -> bool:
        """Use a new network (from the editor). Asks first if that discards a trained network."""
        try:
            self.state.check_spec_fits(spec, num_classes=len(self.state.class_names))
        except (SpecError, ValueError, MemoryError) as exc:
            self.show_error(f"This network cannot be built: {describe_exception(exc)}", topic="build")
            return False
        if not self._may_discard("Building this network"):
            return False
        self.controller.discard()
        try:
            self.state.set_spec(spec)
        except (SpecError, ValueError, MemoryError) as exc:
            self.show_error(f"This network cannot be built: {describe_exception(exc)}", topic="build")
            return False
        self.state.clear_run()
        self.banner.clear("build")
        self.statusBar().showMessage(f"Built a new network with {spec.num_params():,} parameters.", 5000)
        return True

    def start_sweep(self, setting: str, values, base: TrainConfig | None = None) -> bool:
        """Train one run per value of ``setting`` (``training.sweep``), one after another, from ``base``
        (default: the current settings); each is a normal run in the history (Compare)."""
        from cnnlab.training.sweep import Sweep

        dataset = self.state.dataset
        if dataset is None:
            self.show_error(
                "There is no data to train on yet: choose or load a dataset (Data) first.",
                level="warn",
                topic="data",
            )
            return False
        base = (base or self.state.config).replace(dataset=dataset.name)
        if not self._may_discard("A comparison run"):
            return False
        try:
            sweep = Sweep(base, setting, list(values))
            self.controller.start_sweep(sweep, dataset)
        except START_ERRORS as exc:
            self.show_error(f"The comparison could not start: {describe_exception(exc)}", topic="training")
            return False
        self.banner.clear("training")
        self.state.set_run_state("running")
        panel = self.view("sweep", build=False)
        if panel is not None:
            panel.sweep_started(sweep)
        values = ", ".join(p.label for p in sweep.points)
        what = setting_title(sweep.setting)
        self.statusBar().showMessage(f"Comparing {len(sweep)} runs of {what}: {values}", 8000)
        return True

    def _on_sweep_ended(self, sweep, results) -> None:
        panel = self.view("sweep", build=False)
        if panel is not None:
            panel.sweep_ended(sweep, results)
        runs = self.view("runs", build=False)
        if runs is not None:
            runs.refresh()
            runs.set_checked([r.run_id for r in results if r.run_id])
        what = setting_title(sweep.setting)
        self.statusBar().showMessage(f"The comparison of {what} is done: see Compare.", 8000)

    def _begin_run(self, first: str) -> bool:
        dataset = self.state.dataset
        if dataset is None:
            if self.state.data_loading:
                self._start_when_loaded = first
                self.state.set_run_state("loading")
                self.statusBar().showMessage("Training starts as soon as the data is loaded.", 5000)
                return True
            self.show_error(
                f"There is no data to train on: {DATASETS[self.state.dataset_name].title} is not available. "
                "Download it, choose a folder that holds it, or use the synthetic digits (Data).",
                level="warn",
                topic="data",
            )
            self.show_view("dataset")
            return False
        config = self.state.config.replace(dataset=dataset.name)
        checkpoint = self.state.checkpoint
        try:
            session = self.controller.start(config, dataset, checkpoint, first=first)
        except START_ERRORS as exc:
            message = f"Training could not start: {describe_exception(exc)}"
            self.show_error(message, traceback.format_exc(), topic="training")
            self.state.set_run_state("failed", describe_exception(exc))
            return False
        self.banner.clear("training")
        self.state.start_run(session.run_id)
        if first in ("step", "pause"):
            self.state.set_run_state("paused")
        return True

    def _on_data_loaded(self, dataset) -> None:
        self.banner.clear("data")
        pending, self._start_when_loaded = self._start_when_loaded, None
        if pending is not None:
            self._begin_run(pending)
        elif self.state.run_state == "loading":
            self.state.set_run_state("idle")

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.state.set_snapshot(snapshot)
        sweep = self.controller.sweep
        if sweep is not None:
            panel = self.view("sweep", build=False)
            if panel is not None:
                panel.run_under_way(*sweep)
        if snapshot.event in RUN_EVENTS_TO_STATE:
            self.state.set_run_state(RUN_EVENTS_TO_STATE[snapshot.event], snapshot.message)
            if snapshot.event == Event.DIVERGED:
                self.show_error(snapshot.message, level="warn", topic="training")
        elif snapshot.paused:
            self.state.set_run_state("paused")
        else:
            self.state.set_run_state("running")
        self._update_run_status(snapshot)

    def _on_run_failed(self, message: str, details: str) -> None:
        self.state.set_run_state("failed", f"Training stopped with an error: {message}")
        self.show_error(f"Training stopped with an error: {message}", details, topic="training")

    def _on_run_ended(self, session: TrainingSession) -> None:
        if self.state.run_state in ("running", "paused", "loading"):
            self.state.set_run_state("stopped", "Training stopped.")
        self._update_actions()
        self.digits.run_ended(session)

    def _on_live_settings(self, changes: dict) -> None:
        try:
            self.controller.set_live(**changes)
        except ConfigError as exc:
            self.show_error(str(exc), level="warn", topic="settings")

    # -- what the controls say ---------------------------------------------------------------------
    def _update_actions(self) -> None:
        say_what_the_run_controls_do(self.actions, self.controller, self.state, self.style())
        self._update_run_status(self.state.snapshot)

    def _update_run_status(self, snapshot: Snapshot | None) -> None:
        words = STATE_WORDS.get(self.state.run_state, self.state.run_state)
        sweep = self.controller.sweep
        if sweep is not None and self.state.run_state in ("running", "paused"):
            run, index = sweep
            words = f"{words} run {index + 1} of {len(run)} ({run.setting} {run.points[index].label})"
        summary = words
        if snapshot is not None and self.state.run_state in ("running", "paused"):
            epoch = min(snapshot.epoch + 1, snapshot.epochs)
            words += f": epoch {epoch}/{snapshot.epochs}, step {snapshot.step:,}"
            summary = f"{words}" + (
                f" · test {snapshot.test_accuracy:.1%}" if snapshot.test_accuracy is not None else ""
            )
        self.status_run.setText(words)
        self.run_summary.setText(f"  {summary}  ")
        self.setWindowTitle(f"cnnlab - {self.status_dataset.text() or 'no data'} - {words}")

    def _update_data_status(self) -> None:
        s = self.state
        info = DATASETS.get(s.dataset_name)
        title = info.title if info is not None else s.dataset_name
        if s.data_loading:
            text = f"Loading {title}..."
        elif s.dataset is not None:
            text = "Synthetic digits" if s.dataset.is_synthetic else title
        else:
            text = f"{title}: not found"
        self.status_dataset.setText(text)
        action = self.dataset_actions.get(s.dataset_name)
        if action is not None:
            action.setChecked(True)
        self._update_run_status(s.snapshot)

    def _update_network_status(self) -> None:
        self.status_network.setText(f"Network: {self.state.inspector_description()}")

    # -- messages ----------------------------------------------------------------------------------
    def show_error(self, message: str, details: str = "", level: str = "error", topic: str = "") -> None:
        """Show a readable message in the window (never a modal dialog: training goes on)."""
        self.last_error = message
        self.banner.show_message(message, details, level, topic)
        self.statusBar().showMessage(message.splitlines()[0], 10_000)

    def _confirm_with_dialog(self, question: str) -> bool:
        answer = QMessageBox.question(self, "cnnlab", question, QMessageBox.Yes | QMessageBox.No)
        return answer == QMessageBox.Yes

    # -- files -------------------------------------------------------------------------------------
    def open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "cnnlab checkpoints (*.npz)")
        if path:
            self.open_checkpoint_file(path)

    def open_checkpoint_file(self, path: str | Path) -> bool:
        return self.checkpoints.open_file(path)

    def open_pretrained(self) -> bool:
        """The seed CNN trained on MNIST that ships with the lab (``assets/networks``)."""
        return self.checkpoints.open_pretrained()

    def use_checkpoint(self, checkpoint: Checkpoint, name: str) -> bool:
        """Use a saved network (a file, or a past run's): the views show it, Start continues from it."""
        try:
            self.state.check_spec_fits(checkpoint.spec)
        except (SpecError, ValueError, MemoryError) as exc:
            message = f"The saved network cannot be built: {describe_exception(exc)}"
            self.show_error(message, topic="checkpoint")
            return False
        if self.controller.is_running() and not self.confirm(
            "A training run is going. Stop it and load the saved network?"
        ):
            return False
        if not self.controller.is_running() and not self._may_discard("Loading a saved network"):
            return False
        self.controller.discard()
        self.state.set_checkpoint(checkpoint, name)
        self.state.set_run_state("idle", f"Loaded {name}. Continue trains it further.")
        self.banner.clear("checkpoint")
        self.statusBar().showMessage(f"Loaded {name}", 8000)
        self._update_actions()
        return True

    def save_checkpoint(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save a checkpoint", "cnnlab.npz", "cnnlab checkpoints (*.npz)"
        )
        if path:
            self.save_checkpoint_file(path)

    def save_checkpoint_file(self, path: str | Path) -> bool:
        return self.checkpoints.save_file(path)

    def export_plots(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the plots", "cnnlab-curves.png", "PNG images (*.png)"
        )
        if path:
            self.export_plots_file(path)

    def export_plots_file(self, path: str | Path) -> bool:
        try:
            self.curves.export_png(path)
        except Exception as exc:  # an exporter failure must not take the window down
            self.show_error(f"Could not export the plots: {describe_exception(exc)}", traceback.format_exc())
            return False
        self.statusBar().showMessage(f"Saved the plots to {path}", 8000)
        return True

    # -- look --------------------------------------------------------------------------------------
    def toggle_theme(self) -> None:
        self.state.set_theme("dark" if self.state.theme.name == "light" else "light")

    def _apply_theme(self, theme: Theme) -> None:
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, theme)
        self.theme_actions[theme.name].setChecked(True)

    def show_shortcuts(self):
        dialog, self.shortcuts_table = shortcuts_dialog(self)
        self._dialogs.append(dialog)
        return dialog

    def show_about(self) -> QMessageBox:
        box = about_box(self)
        self._dialogs.append(box)
        return box

    # -- keyboard ----------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        # Keys no focused widget wanted arrive here (see actions.Command.soft_keys).
        command = soft_key_commands().get(event.key()) if event.modifiers() == Qt.NoModifier else None
        if command is not None and self.actions[command].isEnabled():
            self.actions[command].trigger()
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        # A number or text field keeps the focus after Enter, and then swallows Space, S and E; Enter
        # there means "done typing", so the field hands the keyboard back to the window.
        if isinstance(new, (QAbstractSpinBox, QLineEdit)) and self.isAncestorOf(new):
            editor = new if isinstance(new, QLineEdit) else new.findChild(QLineEdit)
            if editor is not None and not editor.property("cnnlab_done_typing"):
                editor.setProperty("cnnlab_done_typing", True)
                editor.returnPressed.connect(self._done_typing)

    def _done_typing(self) -> None:
        self.stack.currentWidget().setFocus(Qt.OtherFocusReason)

    # -- settings ----------------------------------------------------------------------------------
    def _apply_remembered_early(self) -> None:
        """Theme, training settings and data choice: what the views need before they are built."""
        r = self.remembered
        self.state.set_theme(r.theme)
        if r.config is not None:
            self.state.set_config(r.config)
        if r.dataset is not None:
            self.state.dataset_name = r.dataset
        self.state.data_dir = r.data_dir

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("app/started", True)
        s.setValue("window/geometry", self.saveGeometry())
        layout = {key: splitter.sizes() for key, splitter in self._splitters.items()}
        s.setValue("window/layout", json.dumps(layout))
        s.setValue("window/workspace", self.current_workspace)
        s.setValue("lesson/shown", self.lesson.isVisible())
        s.setValue("lesson/step", self.lesson.index)
        s.setValue("view/theme", self.state.theme.name)
        s.setValue("train/config", self.state.config.to_json(indent=None))
        s.setValue("data/name", self.state.dataset_name)
        s.setValue("data/dir", self.state.data_dir or "")
        s.sync()

    # -- closing -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop training and background work and wait for their threads."""
        self._start_when_loaded = None
        self.lesson_actions.shutdown()
        self.checkpoints.shutdown()
        self.collection.shutdown()
        self.digits.shutdown()
        self.controller.shutdown()
        self.data.shutdown()
        self.state.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
