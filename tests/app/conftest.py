"""Fixtures for the main-window tests: a temporary settings file, a tiny dataset, the real window.

Names are prefixed (``lab_...``) so they do not shadow the views' own module fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from cnnlab.data import load_dataset
from cnnlab.training import RunStore


@pytest.fixture(scope="package", autouse=True)
def gui_threads(qapp):
    """As ``run_app`` sets the process up: one BLAS thread and a short switch interval; put back after
    the app tests. (Its garbage-collection policy changes when objects die, which the views' own tests
    do not expect; the responsiveness test applies it for itself.)"""
    from cnnlab.app.runtime import tune_for_gui

    runtime = tune_for_gui(collector=False)
    yield runtime
    runtime.restore()


@pytest.fixture(scope="session")
def tiny_dataset():
    """704 training and 128 test synthetic digits: ten batches of 64 per epoch once the quick lab's
    validation split (64 images, held out of the training set) is taken."""
    return load_dataset("synthetic", synthetic_size=(704, 128), seed=0)


@pytest.fixture
def lab_settings(tmp_path) -> QSettings:
    """Settings in a file of the test's own, never the user's."""
    return QSettings(str(tmp_path / "cnnlab-test.ini"), QSettings.IniFormat)


@pytest.fixture
def restore_app_look(qapp):
    """The window themes the whole application; put the look back for the tests that follow."""
    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    yield
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)


def make_lab(qtbot, settings: QSettings, dataset=None, quick: bool = False):
    """A shown main window; ``quick`` sets a run up for tests (many short epochs, small evaluations)."""
    from cnnlab.app.main_window import MainWindow

    runs = RunStore(Path(settings.fileName()).parent / "runs")
    window = MainWindow(settings, load_data=False, synthetic_size=(640, 128), run_store=runs)
    qtbot.addWidget(window)
    # Questions ("discard the trained network?") are answered yes and kept, never shown as a dialog.
    window.asked = []
    window.confirm = lambda question: window.asked.append(question) is None
    if quick:
        window.state.update_config(epochs=30, validation=64, eval_every=5)
        window.resize(1280, 800)
    if dataset is not None:
        window.state.set_dataset(dataset)
    window.show()
    return window


@pytest.fixture
def lab(qtbot, lab_settings, tiny_dataset, restore_app_look):
    """The real main window with the tiny dataset loaded; every thread has ended after the test."""
    window = make_lab(qtbot, lab_settings, tiny_dataset, quick=True)
    yield window
    window.close()
    qtbot.waitUntil(lambda: window.controller.active_threads() == 0, timeout=10_000)
    assert QApplication.instance() is not None
