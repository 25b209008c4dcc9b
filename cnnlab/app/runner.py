"""The one way the app runs work in the background: a plain function or generator, run in its own thread.

Work is written without Qt, like a training step or a download: it takes a ``TaskState`` and may
``state.report(value)`` progress, yield partial results (a generator), check ``state.cancelled`` (or call
``state.check()``, which raises ``Cancelled``), and return a result or raise. ``run_task`` runs it in a
``QThread`` and hands back a ``TaskHandle`` that lives in the GUI thread, so every signal reaches its slots
(and ``qtbot.waitSignal``) in the GUI thread::

    def work(state):
        for i in range(100):
            state.check()
            state.report(i / 100)
        return "done"

    handle = run_task(work, parent=window, name="example")
    handle.done.connect(print)              # "done"
    handle.failed.connect(show_error)       # (one-line message, traceback)
    handle.finished.connect(...)            # always last, once the thread has ended

Progress and partial results are *coalesced*: when the GUI thread lags, it is handed only the newest
value, never a queue of stale ones (a training run's snapshots each carry the whole history, and a
download's progress is a running total, so skipping one loses nothing). Nothing is polled: the thread
announces a waiting value once, and the handle takes it in the GUI thread.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

_NOTHING = object()


class Cancelled(Exception):
    """Raised by ``TaskState.check()`` once the task was asked to stop."""


def describe_exception(exc: BaseException) -> str:
    """One readable line: the message when there is one, otherwise the kind of error."""
    text = str(exc).strip()
    return text if text else type(exc).__name__


class _Mailbox:
    """The newest value of one kind (progress or partial), handed from the thread to the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Any = _NOTHING
        self._announced = False

    def put(self, value: Any) -> bool:
        """Store ``value``; True when the GUI thread must be told (it was not told since its last take)."""
        with self._lock:
            self._value = value
            announced, self._announced = self._announced, True
        return not announced

    def take(self) -> Any:
        with self._lock:
            value, self._value = self._value, _NOTHING
            self._announced = False
        return value


class TaskState:
    """What a running task sees of the outside world: cancellation and a way to report progress."""

    def __init__(self, on_progress: Callable[[Any], None] | None = None) -> None:
        self._cancel = threading.Event()
        self._on_progress = on_progress
        self._on_cancel: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()
        for callback in list(self._on_cancel):
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the cancelling thread) when the task is cancelled: to stop a session."""
        self._on_cancel.append(callback)
        if self.cancelled:
            callback()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def report(self, value: Any) -> None:
        if self._on_progress is not None:
            self._on_progress(value)

    @property
    def event(self) -> threading.Event:
        """The cancel flag as a ``threading.Event`` (for floors below that take one, e.g. a download)."""
        return self._cancel


class _Worker(QObject):
    """Lives in the task's thread and runs it; only ever announces, the handle takes the values."""

    progressWaiting = Signal()
    partialWaiting = Signal()
    done = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, work: Callable[[TaskState], Any], state: TaskState) -> None:
        super().__init__()
        self.work = work
        self.state = state
        self.progress_box = _Mailbox()
        self.partial_box = _Mailbox()
        state._on_progress = self._progress

    def _progress(self, value: Any) -> None:
        if self.progress_box.put(value):
            self.progressWaiting.emit()

    @Slot()
    def run(self) -> None:
        try:
            result = self.work(self.state)
            if inspect.isgenerator(result):
                result = self._drain(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # handed to the GUI thread: a thread must never swallow an error
            self.failed.emit(describe_exception(exc), traceback.format_exc())
        else:
            if self.state.cancelled:
                self.cancelled.emit()
            else:
                self.done.emit(result)
        finally:
            self.ended.emit()

    def _drain(self, generator) -> Any:
        while True:
            try:
                value = next(generator)
            except StopIteration as stop:
                return stop.value
            if self.partial_box.put(value):
                self.partialWaiting.emit()


class TaskHandle(QObject):
    """A running task, seen from the GUI thread. Every signal is emitted here, in the GUI thread.

    Order: any number of ``progress``/``partial``; then exactly one of ``done``, ``failed`` or
    ``cancelled``; then ``finished`` once the thread has ended. The last partial a task yielded is
    always delivered before ``done``/``failed``/``cancelled``.
    """

    progress = Signal(object)
    partial = Signal(object)
    done = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, work: Callable[[TaskState], Any], parent: QObject | None, name: str) -> None:
        super().__init__(parent)
        self.name = name
        self.state = TaskState()
        self.result: Any = None
        self.error = ""
        self.outcome = ""  # "", then "done", "failed" or "cancelled"
        self._thread = QThread()
        self._thread.setObjectName(f"cnnlab-{name}")
        self._worker = _Worker(work, self.state)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressWaiting.connect(self._take_progress)
        self._worker.partialWaiting.connect(self._take_partial)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        # Direct: quitting must not wait for the GUI thread, which may itself be waiting for this thread.
        self._worker.ended.connect(self._thread.quit, Qt.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._started = False
        self._finished = False

    # -- control --------------------------------------------------------------------------------------
    def start(self) -> TaskHandle:
        if self._started:
            raise RuntimeError(f"task {self.name} was already started")
        self._started = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self.state.cancelled

    def is_running(self) -> bool:
        return self._started and not self._finished

    def is_finished(self) -> bool:
        return self._finished

    def thread_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, ms: int = 10_000) -> bool:
        """Block until the thread has ended (closing the window only; signals still arrive later)."""
        return self._thread.wait(ms) if self._started else True

    # -- relays (GUI thread) --------------------------------------------------------------------------
    @Slot()
    def _take_progress(self) -> None:
        value = self._worker.progress_box.take()
        if value is not _NOTHING:
            self.progress.emit(value)

    @Slot()
    def _take_partial(self) -> None:
        value = self._worker.partial_box.take()
        if value is not _NOTHING:
            self.partial.emit(value)

    def _flush(self) -> None:
        # A value announced just before the end may still wait if its announcement was coalesced.
        self._take_progress()
        self._take_partial()

    @Slot(object)
    def _on_done(self, result: object) -> None:
        self._flush()
        self.result, self.outcome = result, "done"
        self.done.emit(result)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self._flush()
        self.error, self.outcome = message, "failed"
        self.failed.emit(message, details)

    @Slot()
    def _on_cancelled(self) -> None:
        self._flush()
        self.outcome = "cancelled"
        self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._finished = True
        self.finished.emit()


def run_task(
    work: Callable[[TaskState], Any], parent: QObject | None = None, name: str = "task", start: bool = True
) -> TaskHandle:
    """Run ``work(state)`` in a new thread (see the module docstring); ``start=False`` to connect first."""
    handle = TaskHandle(work, parent, name)
    return handle.start() if start else handle


class TaskGroup(QObject):
    """The tasks one owner started: it keeps them alive while they run and ends them all at shutdown."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handles: list[TaskHandle] = []
        self._closed = False

    def run(self, work: Callable[[TaskState], Any], name: str, start: bool = True) -> TaskHandle:
        """A handle for ``work`` in a thread of its own (started unless ``start`` is False). After
        ``shutdown`` the handle is cancelled and never started: no thread may outlive its owner (Qt
        aborts the process when a running QThread is destroyed)."""
        self._forget_finished()
        handle = run_task(work, self, name, start=False)
        if self._closed:
            handle.cancel()
            return handle
        self._handles.append(handle)
        return handle.start() if start else handle

    def _forget_finished(self) -> None:
        # A finished handle is dropped only at the next run, never from inside its own finished signal.
        kept = []
        for handle in self._handles:
            if handle.is_finished() and not handle.thread_running():
                handle.setParent(None)
            else:
                kept.append(handle)
        self._handles = kept

    def busy(self) -> bool:
        return any(h.is_running() for h in self._handles)

    def running_threads(self) -> int:
        return sum(1 for h in self._handles if h.thread_running())

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel every task and wait for its thread; True if all ended in time. Later tasks never start."""
        self._closed = True
        for handle in self._handles:
            handle.cancel()
        ok = True
        for handle in self._handles:
            ok = handle.wait(timeout_ms) and ok
        return ok
