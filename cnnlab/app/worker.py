"""Training in a worker thread: one ``QThread`` per run, iterating ``TrainingSession.run()``.

The session's generator runs in the worker thread and is the only code that touches the live network.
Snapshots are immutable, so they cross threads as they are; the GUI is told "a snapshot is waiting" at
most once until it takes it, so when the GUI lags it handles only the latest snapshot instead of a queue
of stale ones (each snapshot carries the whole history, so nothing is lost by skipping one).
Control requests (pause, step, stop, live settings) call the session's thread-safe methods directly;
the session honours them between steps.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cnnlab.app.tasks import describe_exception
from cnnlab.data import Dataset
from cnnlab.engine import Checkpoint
from cnnlab.training import RunRecorder, RunStore, Snapshot, TrainConfig, TrainingSession

SessionFactory = Callable[..., TrainingSession]


class TrainingWorker(QObject):
    """Lives in the run's thread. ``snapshotWaiting`` means ``take()`` has a new snapshot."""

    snapshotWaiting = Signal()
    failed = Signal(str, str)
    ended = Signal()

    def __init__(self, session: TrainingSession, recorder: RunRecorder | None = None) -> None:
        super().__init__()
        self.session = session
        self.recorder = recorder
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._announced = False

    @Slot()
    def run(self) -> None:
        try:
            for snapshot in self.session.run():
                if self.recorder is not None:
                    # Every snapshot, in this thread: the runs history must not miss an epoch end that
                    # the GUI skipped, and its final checkpoint is the session's own.
                    self.recorder.observe(snapshot)
                self._post(snapshot)
        except Exception as exc:  # reaches the user through the controller, never the void
            if self.recorder is not None:
                self.recorder.failed(describe_exception(exc))
            self.failed.emit(describe_exception(exc), traceback.format_exc())
        finally:
            self.ended.emit()

    def _post(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._latest = snapshot
            announced, self._announced = self._announced, True
        if not announced:
            self.snapshotWaiting.emit()

    def take(self) -> Snapshot | None:
        with self._lock:
            snapshot, self._latest = self._latest, None
            self._announced = False
        return snapshot


class _Run(QObject):
    """One run's session, worker and thread; lives in the GUI thread and relays the worker's signals."""

    def __init__(
        self, controller: TrainingController, session: TrainingSession, recorder: RunRecorder | None
    ) -> None:
        super().__init__(controller)
        self.controller = controller
        self.session = session
        self.discarded = False
        self.ended = False
        self.thread = QThread()
        self.thread.setObjectName(f"cnnlab-train-{session.run_id}")
        self.worker = TrainingWorker(session, recorder)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quitting must not wait for the GUI thread, which may be the one waiting for this thread.
        self.worker.ended.connect(self.thread.quit, Qt.DirectConnection)
        self.worker.snapshotWaiting.connect(self._on_snapshot_waiting)
        self.worker.failed.connect(self._on_failed)
        self.thread.finished.connect(self._on_finished)

    @Slot()
    def _on_snapshot_waiting(self) -> None:
        snapshot = self.worker.take()
        if snapshot is not None and not self.discarded:
            self.controller._deliver(self, snapshot)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        if not self.discarded:
            self.controller.failed.emit(message, details)

    @Slot()
    def _on_finished(self) -> None:
        self.ended = True
        # A snapshot posted just before the end may still be waiting if its signal was coalesced.
        self._on_snapshot_waiting()
        self.controller._on_run_ended(self)


class TrainingController(QObject):
    """Starts, steers and stops training runs; everything it emits is emitted in the GUI thread.

    ``start`` creates the session in the GUI thread (so a bad spec or setting is refused at once, with its
    message) and runs it in a new thread. ``stop`` asks the run to end; its last snapshot still arrives.
    ``discard`` also stops it but ignores anything it still sends (Reset, or a new run replacing it).
    """

    snapshot = Signal(object)  # Snapshot of the current run (coalesced: the latest one)
    failed = Signal(str, str)  # the current run raised: one-line message, traceback
    runStarted = Signal(object)  # TrainingSession (read its run_id and config; never its network)
    runEnded = Signal(object)  # TrainingSession whose thread has ended (finished, stopped, failed)
    stateChanged = Signal()  # running or paused may have changed

    def __init__(
        self,
        parent: QObject | None = None,
        session_factory: SessionFactory = TrainingSession,
        run_store: RunStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_factory = session_factory
        self.run_store = run_store  # where each run is recorded (the runs history); None: not recorded
        self._current: _Run | None = None
        self._others: list[_Run] = []  # discarded runs whose threads are still ending, and ended ones
        self.last_session: TrainingSession | None = None

    # -- starting -------------------------------------------------------------------------------------
    def start(
        self,
        config: TrainConfig,
        dataset: Dataset,
        checkpoint: Checkpoint | None = None,
        *,
        first: str = "run",
    ) -> TrainingSession:
        """Start a new run (the current one, if any, is discarded). Raises the session's errors.

        ``first``: "run" (train on), "pause" (wait for a command), "step" (one batch, then pause) or
        "epoch" (to the end of the first epoch, then pause). Set before the thread starts, so the run
        never shows a state it was not asked for.
        """
        if first not in ("run", "pause", "step", "epoch"):
            raise ValueError(f"unknown first move {first!r}")
        self.discard()
        self._forget_ended()
        kwargs: dict[str, Any] = {"checkpoint": checkpoint} if checkpoint is not None else {}
        session = self.session_factory(config, dataset, **kwargs)
        if first == "pause":
            session.pause()
        elif first == "step":
            session.step(1)
        elif first == "epoch":
            session.step_epoch()
        recorder = RunRecorder(self.run_store, session=session) if self.run_store is not None else None
        run = _Run(self, session, recorder)
        self._current = run
        self.last_session = session
        run.thread.start()
        self.runStarted.emit(session)
        self.stateChanged.emit()
        return session

    # -- steering -------------------------------------------------------------------------------------
    @property
    def session(self) -> TrainingSession | None:
        """The current run's session (for its thread-safe methods only), or None."""
        return self._current.session if self._current is not None else None

    def is_running(self) -> bool:
        """A run exists whose thread has not ended (it may be paused)."""
        return self._current is not None and not self._current.ended

    def is_paused(self) -> bool:
        return self.is_running() and self._current.session.paused

    def pause(self) -> None:
        if self.is_running():
            self._current.session.pause()
            self.stateChanged.emit()

    def resume(self) -> None:
        if self.is_running():
            self._current.session.resume()
            self.stateChanged.emit()

    def toggle_pause(self) -> None:
        if self.is_paused():
            self.resume()
        else:
            self.pause()

    def step(self, batches: int = 1) -> None:
        if self.is_running():
            self._current.session.step(batches)
            self.stateChanged.emit()

    def step_epoch(self) -> None:
        if self.is_running():
            self._current.session.step_epoch()
            self.stateChanged.emit()

    def set_live(self, **changes: Any) -> None:
        """Apply live settings to the current run (ConfigError for a bad value); no run: nothing to do."""
        if self.is_running():
            self._current.session.set_live(**changes)

    def stop(self) -> None:
        if self.is_running():
            self._current.session.stop()
            self.stateChanged.emit()

    def discard(self) -> None:
        run, self._current = self._current, None
        if run is None:
            return
        run.discarded = True
        run.session.stop()
        self._others.append(run)
        self.stateChanged.emit()

    # -- ending ---------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop every run and wait for their threads (closing the window). True if all ended in time."""
        self.discard()
        ok = True
        for run in list(self._others):
            ok = run.thread.wait(timeout_ms) and ok
        return ok

    def active_threads(self) -> int:
        runs = [*self._others, *([self._current] if self._current is not None else [])]
        return sum(1 for run in runs if run.thread.isRunning())

    def _deliver(self, run: _Run, snapshot: Snapshot) -> None:
        if run is self._current:
            self.snapshot.emit(snapshot)

    def _on_run_ended(self, run: _Run) -> None:
        if run is self._current:
            self._current = None
            self._others.append(run)
            self.runEnded.emit(run.session)
            self.stateChanged.emit()

    def _forget_ended(self) -> None:
        # Ended runs are kept until the next start, so their QThread is never deleted from inside its own
        # finished signal; then Python lets them go.
        kept = []
        for run in self._others:
            if run.ended and run.thread.isFinished():
                run.setParent(None)
            else:
                kept.append(run)
        self._others = kept
