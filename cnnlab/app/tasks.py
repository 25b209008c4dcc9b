"""``BackgroundTask``: run one function in its own thread and hear about it in the GUI thread.

Loading MNIST takes about a second (gzip) and a download takes as long as the network wants, so neither
may run in the GUI thread. The function receives ``report(value)`` for progress and a
``threading.Event`` that is set when the user cancels; it returns a result or raises. All of the task's
signals are emitted by the task object itself, which lives in the GUI thread (the runner in the thread
relays through it), so slots and ``qtbot.waitSignal`` see them in the GUI thread.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

Work = Callable[[Callable[[Any], None], threading.Event], Any]


def describe_exception(exc: BaseException) -> str:
    """One readable line: the message when there is one, otherwise the kind of error."""
    text = str(exc).strip()
    return text if text else type(exc).__name__


class _Runner(QObject):
    done = Signal(object)
    failed = Signal(str, str)
    progress = Signal(object)
    ended = Signal()

    def __init__(self, work: Work, cancel: threading.Event) -> None:
        super().__init__()
        self._work = work
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        try:
            result = self._work(self.progress.emit, self._cancel)
        except Exception as exc:  # handed to the GUI thread; a thread must never swallow it
            self.failed.emit(describe_exception(exc), traceback.format_exc())
        else:
            self.done.emit(result)
        finally:
            self.ended.emit()


class BackgroundTask(QObject):
    done = Signal(object)  # the function's result
    failed = Signal(str, str)  # one-line message, traceback
    progress = Signal(object)  # whatever the function reported
    finished = Signal()  # after done or failed, once the thread has ended

    def __init__(self, work: Work, parent: QObject | None = None, name: str = "task") -> None:
        super().__init__(parent)
        self.name = name
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName(f"cnnlab-{name}")
        self._runner = _Runner(work, self._cancel)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._runner.progress.connect(self._on_progress)
        # Direct: the quit must not wait for the GUI thread, which may itself be waiting on this thread.
        self._runner.ended.connect(self._thread.quit, Qt.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._started = False
        self._finished = False

    def start(self) -> None:
        if self._started:
            raise RuntimeError(f"task {self.name} was already started")
        self._started = True
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        return self._started and not self._finished

    def wait(self, ms: int = 10_000) -> bool:
        """Block until the thread has ended (shutdown only; the signals are still delivered later)."""
        return self._thread.wait(ms) if self._started else True

    @Slot(object)
    def _on_done(self, result: object) -> None:
        self.done.emit(result)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self.failed.emit(message, details)

    @Slot(object)
    def _on_progress(self, value: object) -> None:
        self.progress.emit(value)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._finished = True
        self.finished.emit()
