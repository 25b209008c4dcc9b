"""The lab's main window: the curves in the middle, dock panels around them, menus, toolbar, status bar.

It wires the pieces together and owns nothing else: the ``AppState`` holds what is shown, the
``TrainingController`` runs training in a worker thread, the ``DataManager`` finds and loads data, and each
panel is a view built from ``panels.default_panels()``. Layout, theme and the last-used settings are kept
in a ``QSettings`` (pass one in to keep tests away from the user's settings).
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStyle,
    QTabBar,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from cnnlab import __version__
from cnnlab.app.actions import make_actions, shortcut_rows, soft_key_commands
from cnnlab.app.data_manager import DataManager
from cnnlab.app.panels import RIGHT, PanelSpec, default_panels
from cnnlab.app.state import AppState
from cnnlab.app.tasks import describe_exception
from cnnlab.app.theme import THEME_NAMES, Theme, apply_theme
from cnnlab.app.views.curves import CurvesView
from cnnlab.app.views.progress import STATE_WORDS
from cnnlab.app.worker import TrainingController
from cnnlab.data import DATASETS, DataError
from cnnlab.engine import Checkpoint, CheckpointError, NetSpec, SpecError, load_checkpoint, save_checkpoint
from cnnlab.training import ConfigError, RunStore, Snapshot, TrainConfig, TrainingSession

# Bump when the dock layout changes incompatibly: Qt then ignores a saved layout instead of misplacing.
LAYOUT_VERSION = 1

# The tab shown first in each tab group of the default layout.
DEFAULT_FRONT_TABS = ("drawing",)

RUN_EVENTS_TO_STATE = {"finished": "finished", "stopped": "stopped", "diverged": "diverged"}


USER_RUNS = object()  # "record runs in the user's data folder" (the runs history's default place)


def default_settings() -> QSettings:
    return QSettings("cnnlab", "cnnlab")


class ErrorBanner(QFrame):
    """A message across the top of the window: readable, dismissable, with details on request."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorBanner")
        self.setProperty("notice", "error")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details_button = QPushButton("Details...")
        self.details_button.setToolTip("Show the full technical report (for a bug report).")
        self.details_button.clicked.connect(self._show_details)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this message.")
        self.dismiss_button.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button, 0, Qt.AlignTop)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignTop)
        self.details = ""
        self._box: QMessageBox | None = None
        self.hide()

    def show_message(self, message: str, details: str = "", level: str = "error") -> None:
        self.setProperty("notice", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(message)
        self.details = details
        self.details_button.setVisible(bool(details))
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def _show_details(self) -> None:
        box = QMessageBox(QMessageBox.Warning, "cnnlab: details", self.label.text(), QMessageBox.Close, self)
        box.setDetailedText(self.details)
        box.open()  # not exec(): the window keeps running (and training) while it is open
        self._box = box


class PanelHolder(QWidget):
    """A dock's content, hidden while its tab is behind another one.

    Qt counts a panel in a tab behind another as visible, so its views would go on redrawing what
    nobody sees. Hiding the content makes it truly hidden (views skip their redraws and catch up in
    ``showEvent`` when their tab is chosen), while the holder keeps reporting the content's sizes, so
    choosing another tab does not resize the column.
    """

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.content = content
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(content)

    def set_content_shown(self, shown: bool) -> None:
        if self.content.isHidden() == shown:
            self.content.setVisible(shown)

    def sizeHint(self) -> QSize:
        return self.content.sizeHint().expandedTo(self.content.minimumSize())

    def minimumSizeHint(self) -> QSize:
        return self.content.minimumSizeHint().expandedTo(self.content.minimumSize())


class MainWindow(QMainWindow):
    """The desktop lab.

    ``add_panel(key, title, widget, area)`` docks a view; ``panel(key)`` / ``dock(key)`` find one.
    Training commands: ``start_training``, ``toggle_pause``, ``step_batch``, ``step_epoch``,
    ``stop_training``, ``reset``; ``build_spec(spec)`` switches the network (asking first if a run goes).
    """

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        state: AppState | None = None,
        panels: list[PanelSpec] | None = None,
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
        self.actions: dict[str, QAction] = make_actions(self)
        self.docks: dict[str, QDockWidget] = {}
        self._panel_widgets: dict[str, QWidget] = {}
        self._layout_restored = False
        self.panel_errors: dict[str, str] = {}
        self.last_error = ""
        # Tests replace this to answer "a run is going: stop it?" without a dialog.
        self.confirm = self._confirm_with_dialog
        self._start_when_loaded: str | None = None  # how to start once the data is loaded
        self._checkpoint_polls: list[tuple[object, Path, QTimer]] = []
        self._dialogs: list[QWidget] = []

        self._restore_settings_early()
        if data_dir:
            self.state.data_dir = str(data_dir)
        self.setWindowTitle("cnnlab")
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.AnimatedDocks | QMainWindow.AllowNestedDocks | QMainWindow.AllowTabbedDocks
        )

        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(4, 4, 4, 0)
        central_layout.setSpacing(4)
        self.banner = ErrorBanner()
        self.curves = CurvesView(self.state)
        self.curves.save_button.clicked.connect(self.export_plots)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.curves, 1)
        self.setCentralWidget(central)

        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        for spec in panels if panels is not None else default_panels():
            self._install_panel(spec)
        # The side columns run the full height; the bottom panels sit under the curves only.
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.resize(1280, 800)
        self._raise_default_tabs()
        self._default_layout = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        self._fix_tab_bars()
        self._apply_theme(self.state.theme)
        self._update_actions()
        if load_data:
            self.data.choose(self.state.dataset_name)

    # -- panels ------------------------------------------------------------------------------------
    def add_panel(
        self,
        key: str,
        title: str,
        widget: QWidget,
        area: Qt.DockWidgetArea = RIGHT,
        *,
        tabify_with: str | None = None,
        below: str | None = None,
        visible: bool = True,
        scroll: bool = False,
    ) -> QDockWidget:
        """Dock ``widget`` as a panel named ``key`` (its place is saved with the layout).

        ``tabify_with``/``below`` name another panel to share a tab group with or to stack under;
        ``scroll`` wraps the widget in a scroll area (a tall panel then cannot force a tall window).
        """
        if key in self.docks:
            raise ValueError(f"a panel called {key!r} already exists")
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")
        content = widget
        if scroll:
            content = QScrollArea()
            content.setWidgetResizable(True)
            content.setFrameShape(QFrame.NoFrame)
            content.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            content.setWidget(widget)
            # Scroll only vertically: the column is kept wide enough that nothing is cut off sideways.
            bar = content.verticalScrollBar().sizeHint().width()
            content.setMinimumWidth(widget.minimumSizeHint().width() + bar + 2)
        dock.setWidget(PanelHolder(content))
        self._panel_widgets[key] = widget
        dock.setFeatures(
            QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable
        )
        if tabify_with in self.docks:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        elif below in self.docks:
            self.splitDockWidget(self.docks[below], dock, Qt.Vertical)
        else:
            self.addDockWidget(area, dock)
        self.docks[key] = dock
        dock.visibilityChanged.connect(lambda visible, d=dock: self._on_dock_visibility(d, visible))
        dock.dockLocationChanged.connect(lambda _area: QTimer.singleShot(0, self._fix_tab_bars))
        dock.topLevelChanged.connect(lambda _floating: QTimer.singleShot(0, self._fix_tab_bars))
        toggle = dock.toggleViewAction()
        toggle.setToolTip(f"Show or hide the {title} panel.")
        self.panels_menu.addAction(toggle)
        if not visible:
            dock.hide()
        if getattr(self, "_default_layout", None) is not None:
            self.restoreDockWidget(dock)  # a panel added after start-up goes back where it was last time
        return dock

    @staticmethod
    def _on_dock_visibility(dock: QDockWidget, visible: bool) -> None:
        holder = dock.widget()
        if isinstance(holder, PanelHolder):
            holder.set_content_shown(visible)

    def panel(self, key: str) -> QWidget | None:
        """The view docked as ``key`` (the view itself, also when it sits in a scroll area)."""
        return self._panel_widgets.get(key)

    def dock(self, key: str) -> QDockWidget | None:
        return self.docks.get(key)

    def show_panel(self, key: str) -> None:
        dock = self.docks.get(key)
        if dock is not None:
            dock.show()
            dock.raise_()

    def _fix_tab_bars(self) -> None:
        """Dock tab bars cut long titles short ("Fea..."); show them whole and scroll the bar instead.

        Qt makes these tab bars itself (and new ones when panels are rearranged), so this runs after
        every change of the layout.
        """
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and bar.elideMode() != Qt.ElideNone:
                bar.setElideMode(Qt.ElideNone)
                bar.setUsesScrollButtons(True)

    def _raise_default_tabs(self) -> None:
        for key in DEFAULT_FRONT_TABS:
            if key in self.docks:
                self.docks[key].raise_()

    def _size_docks(self) -> None:
        """Default dock widths: the side columns as narrow as their panels allow, the curves the rest."""
        wanted = {"controls": 300, "drawing": max(440, self.width() // 3)}
        docks = [self.docks[k] for k in wanted if k in self.docks]
        widths = [wanted[k] for k in wanted if k in self.docks]
        self.resizeDocks(docks, widths, Qt.Horizontal)
        if "controls" in self.docks and "progress" in self.docks:
            # Controls get what they ask for (up to 60% of the column); the progress panel the rest.
            wanted = self.panel("controls").sizeHint().height() + 30
            column = self.height() - 120
            top = max(200, min(wanted, int(column * 0.6)))
            docks = [self.docks["controls"], self.docks["progress"]]
            self.resizeDocks(docks, [top, max(column - top, 150)], Qt.Vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._layout_restored and not getattr(self, "_sized_once", False):
            self._sized_once = True
            self._size_docks()

    def _install_panel(self, spec: PanelSpec) -> None:
        try:
            widget = spec.factory(self)
        except Exception as exc:  # one broken view must not keep the lab from opening
            self.panel_errors[spec.key] = f"{describe_exception(exc)}\n{traceback.format_exc()}"
            self.show_error(
                f"The {spec.title} panel could not be built: {describe_exception(exc)}",
                traceback.format_exc(),
            )
            return
        self.add_panel(
            spec.key,
            spec.title,
            widget,
            spec.area,
            tabify_with=spec.tabify_with,
            below=spec.below,
            visible=spec.visible,
            scroll=spec.scroll,
        )

    # -- menus, toolbar, status bar ----------------------------------------------------------------
    def _build_menus_and_toolbar(self) -> None:
        a = self.actions
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for key in ("open_checkpoint", "save_checkpoint", "export_plots"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])

        data_menu = menu.addMenu("&Data")
        self.dataset_group = QActionGroup(self)
        self.dataset_actions: dict[str, QAction] = {}
        for name, info in DATASETS.items():
            action = QAction(info.title, self, checkable=True)
            action.setToolTip(f"Train on {info.title}.")
            action.setStatusTip(f"Train on {info.title}.")
            action.triggered.connect(lambda _=False, n=name: self.data.choose(n))
            self.dataset_group.addAction(action)
            data_menu.addAction(action)
            self.dataset_actions[name] = action
        data_menu.addSeparator()
        for key in ("download", "choose_folder", "use_synthetic", "reload_data"):
            data_menu.addAction(a[key])

        train_menu = menu.addMenu("&Train")
        for key in ("start", "pause", "step", "step_epoch", "stop"):
            train_menu.addAction(a[key])
        train_menu.addSeparator()
        train_menu.addAction(a["reset"])

        view_menu = menu.addMenu("&View")
        self.panels_menu = view_menu.addMenu("&Panels")
        theme_menu = view_menu.addMenu("T&heme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in THEME_NAMES:
            action = QAction(name.capitalize(), self, checkable=True)
            action.setToolTip(f"Use the {name} theme.")
            action.triggered.connect(lambda _=False, n=name: self.state.set_theme(n))
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action
        theme_menu.addSeparator()
        theme_menu.addAction(a["toggle_theme"])
        view_menu.addAction(a["reset_layout"])

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(a["shortcuts"])
        help_menu.addAction(a["about"])

        toolbar = QToolBar("Training")
        toolbar.setObjectName("toolbar-training")
        toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for key in ("start", "pause", "step", "step_epoch", "stop", "reset"):
            toolbar.addAction(a[key])
        toolbar.addSeparator()
        toolbar.addAction(a["open_checkpoint"])
        toolbar.addAction(a["save_checkpoint"])
        self.addToolBar(Qt.TopToolBarArea, toolbar)
        self.toolbar = toolbar
        self.panels_menu.addAction(toolbar.toggleViewAction())

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_dataset = QLabel()
        self.status_dataset.setToolTip("The dataset the next run trains on.")
        self.status_run = QLabel()
        self.status_run.setToolTip("What training is doing.")
        bar.addPermanentWidget(self.status_dataset)
        bar.addPermanentWidget(self.status_run)

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

        c.snapshot.connect(self._on_snapshot)
        c.failed.connect(self._on_run_failed)
        c.runEnded.connect(self._on_run_ended)
        c.stateChanged.connect(self._update_actions)
        s.liveSettingsChanged.connect(self._on_live_settings)
        s.themeChanged.connect(self._apply_theme)
        s.runStateChanged.connect(lambda _: self._update_actions())
        s.dataStatusChanged.connect(self._update_data_status)
        s.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.buildRequested.connect(self.build_spec)
        self.data.loaded.connect(self._on_data_loaded)
        self.data.failed.connect(self.show_error)

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

    def reset(self) -> None:
        """Stop any run, clear the dashboard, and go back to fresh weights from the seed."""
        self._start_when_loaded = None
        self.controller.discard()
        self.state.clear_run()
        self.statusBar().showMessage("Reset: the network has fresh weights.", 5000)

    def build_spec(self, spec: NetSpec) -> bool:
        """Use a new network (from the editor). Asks first if a run is going; returns whether it was built."""
        if self.controller.is_running() and not self.confirm(
            "A training run is going. Stop it and build the new network with fresh weights?"
        ):
            return False
        try:
            spec.validate(num_classes=len(self.state.class_names))
        except SpecError as exc:
            self.show_error(f"This network cannot be built: {exc}")
            return False
        self.controller.discard()
        self.state.set_spec(spec)
        self.state.clear_run()
        self.statusBar().showMessage(f"Built a new network with {spec.num_params():,} parameters.", 5000)
        return True

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
                "Download it, choose a folder that holds it, or use the synthetic digits (Data menu or the "
                "Dataset panel).",
                level="warn",
            )
            self.show_panel("dataset")
            return False
        config = self.state.config.replace(dataset=dataset.name)
        checkpoint = self.state.checkpoint
        try:
            session = self.controller.start(config, dataset, checkpoint, first=first)
        except (ConfigError, SpecError, DataError, ValueError, KeyError) as exc:
            self.show_error(f"Training could not start: {describe_exception(exc)}", traceback.format_exc())
            self.state.set_run_state("failed", describe_exception(exc))
            return False
        self.banner.hide()
        self.state.start_run(session.run_id)
        if first in ("step", "pause"):
            self.state.set_run_state("paused")
        return True

    def _on_data_loaded(self, dataset) -> None:
        pending, self._start_when_loaded = self._start_when_loaded, None
        if pending is not None:
            self._begin_run(pending)
        elif self.state.run_state == "loading":
            self.state.set_run_state("idle")

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.state.set_snapshot(snapshot)
        if snapshot.event in RUN_EVENTS_TO_STATE:
            self.state.set_run_state(RUN_EVENTS_TO_STATE[snapshot.event], snapshot.message)
            if snapshot.event == "diverged":
                self.show_error(snapshot.message, level="warn")
        elif snapshot.paused:
            self.state.set_run_state("paused")
        else:
            self.state.set_run_state("running")
        self._update_run_status(snapshot)

    def _on_run_failed(self, message: str, details: str) -> None:
        self.state.set_run_state("failed", f"Training stopped with an error: {message}")
        self.show_error(f"Training stopped with an error: {message}", details)

    def _on_run_ended(self, session: TrainingSession) -> None:
        if self.state.run_state in ("running", "paused", "loading"):
            self.state.set_run_state("stopped", "Training stopped.")
        self._update_actions()

    def _on_live_settings(self, changes: dict) -> None:
        try:
            self.controller.set_live(**changes)
        except ConfigError as exc:
            self.show_error(str(exc), level="warn")

    def _update_actions(self) -> None:
        a = self.actions
        active = self.controller.is_running()
        paused = self.controller.is_paused()
        a["start"].setEnabled(not active or paused)
        a["start"].setText("&Resume" if active and paused else "&Start")
        a["pause"].setEnabled(active)
        a["pause"].setText("Resume" if paused else "&Pause")
        a["pause"].setIcon(self.style().standardIcon(QStyle.SP_MediaPlay if paused else QStyle.SP_MediaPause))
        a["stop"].setEnabled(active)
        a["step"].setEnabled(not active or paused)
        a["step_epoch"].setEnabled(not active or paused)
        self._update_run_status(self.state.snapshot)

    def _update_run_status(self, snapshot: Snapshot | None) -> None:
        words = STATE_WORDS.get(self.state.run_state, self.state.run_state)
        if snapshot is not None and self.state.run_state in ("running", "paused"):
            epoch = min(snapshot.epoch + 1, snapshot.epochs)
            words += f": epoch {epoch}/{snapshot.epochs}, step {snapshot.step:,}"
        self.status_run.setText(words)
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

    # -- messages ----------------------------------------------------------------------------------
    def show_error(self, message: str, details: str = "", level: str = "error") -> None:
        """Show a readable message in the window (never a modal dialog: training goes on)."""
        self.last_error = message
        self.banner.show_message(message, details, level)
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
        try:
            checkpoint = load_checkpoint(path)
        except (CheckpointError, OSError) as exc:
            self.show_error(f"Could not open the checkpoint: {describe_exception(exc)}")
            return False
        return self.use_checkpoint(checkpoint, Path(path).name)

    def use_checkpoint(self, checkpoint: Checkpoint, name: str) -> bool:
        """Use a saved network (a file, or a past run's): the views show it, Start continues from it."""
        if self.controller.is_running() and not self.confirm(
            "A training run is going. Stop it and load the saved network?"
        ):
            return False
        try:
            checkpoint.spec.validate()
        except SpecError as exc:
            self.show_error(f"The saved network cannot be built: {exc}")
            return False
        self.controller.discard()
        self.state.set_checkpoint(checkpoint)
        self.state.set_run_state("idle", f"Loaded {name}. Start continues training from it.")
        self.statusBar().showMessage(f"Loaded {name}", 8000)
        return True

    def save_checkpoint(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save a checkpoint", "cnnlab.npz", "cnnlab checkpoints (*.npz)"
        )
        if path:
            self.save_checkpoint_file(path)

    def save_checkpoint_file(self, path: str | Path) -> bool:
        """Save the network: from the training thread between two steps when a run is going."""
        path = Path(path)
        session = self.controller.session
        try:
            if session is not None and self.controller.is_running():
                future = session.request_checkpoint(path)
                self._poll_checkpoint(future, path)
                return True
            last = self.controller.last_session
            if last is not None and self.state.run_id == last.run_id:
                last.save_checkpoint(path)  # its thread has ended: the session is idle
            else:
                network = self.state.inspector()
                if network is None:
                    raise ValueError("there is no network to save")
                meta = {"config": self.state.config.to_dict(), "class_names": list(self.state.class_names)}
                save_checkpoint(path, network, metadata=meta)
        except (CheckpointError, OSError, ValueError) as exc:
            self.show_error(f"Could not save the checkpoint: {describe_exception(exc)}")
            return False
        self.statusBar().showMessage(f"Saved checkpoint {path}", 8000)
        return True

    def _poll_checkpoint(self, future, path: Path) -> None:
        timer = QTimer(self)
        timer.setInterval(50)

        def check() -> None:
            if not future.done():
                return
            timer.stop()
            self._checkpoint_polls[:] = [p for p in self._checkpoint_polls if p[2] is not timer]
            error = future.exception()
            if error is not None:
                self.show_error(f"Could not save the checkpoint: {describe_exception(error)}")
            else:
                self.statusBar().showMessage(f"Saved checkpoint {future.result()}", 8000)

        timer.timeout.connect(check)
        timer.start()
        self._checkpoint_polls.append((future, path, timer))

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

    def reset_layout(self) -> None:
        self.restoreState(self._default_layout, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self._raise_default_tabs()
        self._size_docks()
        self._fix_tab_bars()

    def show_shortcuts(self) -> QDialog:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(dialog)
        rows = shortcut_rows()
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Keys", "Command", "What it does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        table.setWordWrap(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        table.resizeRowsToContents()
        note = QLabel(
            "Single-key shortcuts work while no text field has the keyboard focus. Esc in the drawing pad "
            "clears the pad."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dialog.close)
        layout.addWidget(table)
        layout.addWidget(note)
        layout.addWidget(buttons)
        dialog.resize(760, 460)
        dialog.show()
        self._dialogs.append(dialog)
        self.shortcuts_table = table
        return dialog

    def show_about(self) -> QMessageBox:
        text = (
            f"<b>cnnlab {__version__}</b><br>A desktop lab for watching a convolutional network written "
            "from scratch in NumPy learn to read digits.<br><br>MNIST: Yann LeCun, Corinna Cortes and "
            "Christopher J. C. Burges (CC BY-SA 3.0). Fashion-MNIST: Zalando SE (MIT).<br>"
            "Built with PySide6 (Qt) and pyqtgraph."
        )
        box = QMessageBox(QMessageBox.Information, "About cnnlab", text, QMessageBox.Close, self)
        box.open()
        self._dialogs.append(box)
        return box

    # -- settings ----------------------------------------------------------------------------------
    def _restore_settings_early(self) -> None:
        """Theme, training settings and data choice: what the panels need before they are built."""
        s = self.settings
        theme = str(s.value("view/theme", "light"))
        if theme in THEME_NAMES:
            self.state.set_theme(theme)
        text = s.value("train/config")
        if text:
            # Settings from another version may not fit: the defaults are a good start then.
            with contextlib.suppress(ConfigError, SpecError, ValueError, TypeError, KeyError):
                self.state.set_config(TrainConfig.from_json(str(text)))
        name = str(s.value("data/name", self.state.config.dataset))
        if name in DATASETS:
            self.state.dataset_name = name
        folder = s.value("data/dir", "")
        self.state.data_dir = str(folder) if folder else None

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        layout = self.settings.value("window/state")
        if isinstance(layout, QByteArray) and not layout.isEmpty():
            self._layout_restored = self.restoreState(layout, LAYOUT_VERSION)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        s.setValue("view/theme", self.state.theme.name)
        s.setValue("train/config", self.state.config.to_json(indent=None))
        s.setValue("data/name", self.state.dataset_name)
        s.setValue("data/dir", self.state.data_dir or "")
        s.sync()

    def keyPressEvent(self, event) -> None:
        # Keys no focused widget wanted arrive here (see actions.Command.soft_keys).
        command = soft_key_commands().get(event.key()) if event.modifiers() == Qt.NoModifier else None
        if command is not None and self.actions[command].isEnabled():
            self.actions[command].trigger()
            event.accept()
            return
        super().keyPressEvent(event)

    # -- closing -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop training and background work and wait for their threads."""
        self._start_when_loaded = None
        for _, _, timer in self._checkpoint_polls:
            timer.stop()
        self.controller.shutdown()
        self.data.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
