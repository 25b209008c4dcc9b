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
    window.dataset_group, window.dataset_actions = _choices(
        window,
        data_menu,
        {name: (info.title, f"Train on {info.title}.") for name, info in DATASETS.items()},
        lambda name: window.data.choose(name),
        status_tips=True,
    )
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
    window.theme_group, window.theme_actions = _choices(
        window,
        theme_menu,
        {name: (name.capitalize(), f"Use the {name} theme.") for name in THEME_NAMES},
        lambda name: window.state.set_theme(name),
    )
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


def _choices(window, menu, items: dict, choose, status_tips: bool = False):
    """One checkable action per item ({name: (text, tip)}) in ``menu``, exclusive in a new group, each
    calling ``choose(name)``: returns (the group, {name: action})."""
    group = QActionGroup(window)
    actions: dict[str, QAction] = {}
    for name, (text, tip) in items.items():
        action = QAction(text, window, checkable=True)
        action.setToolTip(tip)
        if status_tips:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _=False, n=name: choose(n))
        group.addAction(action)
        menu.addAction(action)
        actions[name] = action
    return group, actions


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
