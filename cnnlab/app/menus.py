"""The window's menus, toolbar and status bar, built from its shared actions (``app.actions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QToolBar, QToolButton

from cnnlab.app.theme import THEME_NAMES
from cnnlab.data import DATASETS

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    """File, Data, Train, View and Help, from the window's shared actions."""
    a = window.actions
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    for key in ("open_checkpoint", "open_pretrained", "open_onnx", "save_checkpoint"):
        file_menu.addAction(a[key])
    file_menu.addSeparator()
    for key in ("export_onnx", "export_pytorch", "export_plots"):
        file_menu.addAction(a[key])
    window.checkpoints.explain_unavailable(a)
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])

    data_menu = menu.addMenu("&Data")
    window.dataset_group = QActionGroup(window)
    window.dataset_actions: dict[str, QAction] = {}
    for name, info in DATASETS.items():
        action = QAction(info.title, window, checkable=True)
        action.setToolTip(f"Train on {info.title}.")
        action.setStatusTip(f"Train on {info.title}.")
        action.triggered.connect(lambda _=False, n=name: window.data.choose(n))
        window.dataset_group.addAction(action)
        data_menu.addAction(action)
        window.dataset_actions[name] = action
    data_menu.addSeparator()
    for key in ("download", "choose_folder", "use_synthetic", "reload_data"):
        data_menu.addAction(a[key])

    train_menu = menu.addMenu("&Train")
    for key in ("start", "pause", "step", "step_epoch", "stop"):
        train_menu.addAction(a[key])
    train_menu.addSeparator()
    train_menu.addAction(a["reset"])

    view_menu = menu.addMenu("&View")
    for spec in window.workspace_specs.values():
        view_menu.addAction(a[f"workspace_{spec.key}"])
    view_menu.addSeparator()
    view_menu.addAction(a["lesson"])
    theme_menu = view_menu.addMenu("T&heme")
    window.theme_group = QActionGroup(window)
    window.theme_actions: dict[str, QAction] = {}
    for name in THEME_NAMES:
        action = QAction(name.capitalize(), window, checkable=True)
        action.setToolTip(f"Use the {name} theme.")
        action.triggered.connect(lambda _=False, n=name: window.state.set_theme(n))
        window.theme_group.addAction(action)
        theme_menu.addAction(action)
        window.theme_actions[name] = action
    theme_menu.addSeparator()
    theme_menu.addAction(a["toggle_theme"])
    view_menu.addAction(a["reset_layout"])

    help_menu = menu.addMenu("&Help")
    help_menu.addAction(a["shortcuts"])
    help_menu.addAction(a["about"])


def build_toolbar(window: MainWindow) -> None:
    """The run controls (the only ones), and a line saying where the run is."""
    a = window.actions
    toolbar = QToolBar("Training")
    toolbar.setObjectName("toolbar-training")
    toolbar.setMovable(False)
    toolbar.setFloatable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    for key in ("start", "pause", "step", "step_epoch", "stop", "reset"):
        toolbar.addAction(a[key])
    toolbar.addSeparator()
    window.run_summary = QLabel()
    window.run_summary.setObjectName("RunSummary")
    window.run_summary.setToolTip("Where the current run is (details in Train > Progress).")
    window.run_summary.setMinimumWidth(10)
    toolbar.addWidget(window.run_summary)
    window.addToolBar(Qt.TopToolBarArea, toolbar)
    window.toolbar = toolbar
    for button in toolbar.findChildren(QToolButton):
        button.setFocusPolicy(Qt.NoFocus)  # Space must stay the window's pause key


def build_status_bar(window: MainWindow) -> None:
    bar = window.statusBar()
    window.status_network = QLabel()
    window.status_network.setToolTip("Which weights the views are showing.")
    window.status_dataset = QLabel()
    window.status_dataset.setToolTip("The dataset the next run trains on.")
    window.status_run = QLabel()
    window.status_run.setToolTip("What training is doing.")
    bar.addPermanentWidget(window.status_network)
    bar.addPermanentWidget(window.status_dataset)
    bar.addPermanentWidget(window.status_run)
