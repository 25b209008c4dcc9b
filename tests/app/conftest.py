"""Fixtures for the main-window tests: a temporary settings file, a tiny dataset, the real window.

Names are prefixed (``lab_...``) so they do not shadow the views' own module fixtures.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QSettings, QThread, QTimer
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
    # Python's cyclic collector runs in whichever thread happens to allocate; a training thread that
    # collects a dead window's Python wrappers deletes Qt widgets outside the GUI thread, which can
    # deadlock (seen: a QMenu's destructor waiting for the interpreter in the training thread). As in
    # the app (runtime.tune_for_gui), collections happen in the GUI thread only: after every test.
    was_enabled = gc.isenabled()
    gc.disable()
    yield runtime
    if was_enabled:
        gc.enable()
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
    qapp.setProperty("cnnlab_theme", None)


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


def _alive(kind):
    return [o for o in gc.get_objects() if isinstance(o, kind) and shiboken6.isValid(o)]


@pytest.fixture(autouse=True)
def nothing_left_behind(qapp):
    """After every app test (and after pytest-qt closed its widgets): no thread still running, no timer
    still ticking, no window still shown. A leak here would slow or crash the tests that follow, and in
    the app it would be work going on behind the user's back."""
    shown_before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
    yield
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qapp.processEvents()
    gc.collect()  # here, in the GUI thread (see gui_threads), never in a training thread
    deadline = time.monotonic() + 10
    while any(t.isRunning() for t in _alive(QThread)) and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    running = [t.objectName() or repr(t) for t in _alive(QThread) if t.isRunning()]
    ticking = [
        f"{t.objectName() or 'timer'} (parent {type(t.parent()).__name__})"
        for t in _alive(QTimer)
        if t.isActive() and not t.isSingleShot()
    ]
    windows = [
        f"{type(w).__name__} {w.windowTitle()!r}"
        for w in QApplication.topLevelWidgets()
        if w.isVisible() and id(w) not in shown_before
    ]
    assert not running, f"threads still running after the test: {running}"
    assert not ticking, f"timers still ticking after the test: {ticking}"
    assert not windows, f"windows still shown after the test: {windows}"
