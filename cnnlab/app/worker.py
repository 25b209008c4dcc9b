"""Training in the background: each run is one task of the app's runner (``app.runner``).

The session's generator runs in the task's thread and is the only code that touches the live network.
Snapshots are immutable, so they cross threads as they are, and the runner hands the GUI only the newest
one when it lags (each snapshot carries the whole history, so nothing is lost by skipping one). Control
requests (pause, step, stop, live settings) call the session's thread-safe methods directly; the session
honours them between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from cnnlab.app.runner import TaskGroup, TaskHandle, TaskState, describe_exception
from cnnlab.data import DataError, Dataset
from cnnlab.engine import Checkpoint, CheckpointError, SpecError
from cnnlab.training import ConfigError, RunRecorder, RunStore, TrainConfig, TrainingSession

SessionFactory = Callable[..., TrainingSession]
# Errors a run's start may raise for a reason the user can fix (a spec that does not fit the data ...).
START_ERRORS = (ConfigError, SpecError, DataError, CheckpointError, ValueError, KeyError, MemoryError)
FIRST_MOVES = ("run", "pause", "step", "epoch")


def training_work(session: TrainingSession, recorder: RunRecorder | None):
    """The task of one run: iterate the session, record every snapshot, yield it to the GUI."""

    def work(state: TaskState):
        state.on_cancel(session.stop)
        try:
            for snapshot in session.run():
                if recorder is not None:
                    # Every snapshot, in this thread: the runs history must not miss an epoch end that
                    # the GUI skipped, and its final checkpoint is the session's own.
                    recorder.observe(snapshot)
                yield snapshot
        except Exception as exc:
            if recorder is not None:
                recorder.failed(describe_exception(exc))
            raise

    return work


@dataclass
class SweepProgress:
    """Where a sweep is: written by its task's thread, read by the GUI thread (plain Python only)."""

    sweep: Any
    index: int = 0
    session: TrainingSession | None = None
    results: list = field(default_factory=list)


class TrainingController(QObject):
    """Starts, steers and stops training runs; everything it emits is emitted in the GUI thread.

    ``start`` creates the session in the GUI thread (so a bad spec or setting is refused at once, with its
    message) and runs it as a task. ``stop`` asks the run to end; its last snapshot still arrives.
    ``discard`` also stops it but ignores anything it still sends (Reset, or a new run replacing it).
    """

    snapshot = Signal(object)  # Snapshot of the current run (coalesced: the latest one)
    failed = Signal(str, str)  # the current run raised: one-line message, traceback
    runStarted = Signal(object)  # TrainingSession (read its run_id and config; never its network)
    runEnded = Signal(object)  # TrainingSession whose thread has ended (finished, stopped, failed)
    stateChanged = Signal()  # running or paused may have changed
    sweepEnded = Signal(object, object)  # Sweep, [SweepResult] of the runs trained (finished or cancelled)

    def __init__(
        self,
        parent: QObject | None = None,
        session_factory: SessionFactory = TrainingSession,
        run_store: RunStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_factory = session_factory
        self.run_store = run_store  # where each run is recorded (the runs history); None: not recorded
        self._tasks = TaskGroup(self)
        self._current: TaskHandle | None = None
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
        if first not in FIRST_MOVES:
            raise ValueError(f"unknown first move {first!r}")
        self.discard()
        kwargs: dict[str, Any] = {"checkpoint": checkpoint} if checkpoint is not None else {}
        session = self.session_factory(config, dataset, **kwargs)
        if first == "pause":
            session.pause()
        elif first == "step":
            session.step(1)
        elif first == "epoch":
            session.step_epoch()
        recorder = RunRecorder(self.run_store, session=session) if self.run_store is not None else None
        handle = self._tasks.run(training_work(session, recorder), f"train-{session.run_id}", start=False)
        handle.partial.connect(lambda snap, h=handle: self._deliver(h, snap))
        handle.failed.connect(lambda message, details, h=handle: self._on_failed(h, message, details))
        handle.finished.connect(lambda h=handle: self._on_run_ended(h))
        handle.session = session
        self._current = handle
        self.last_session = session
        handle.start()
        self.runStarted.emit(session)
        self.stateChanged.emit()
        return session

    def start_sweep(self, sweep, dataset: Dataset) -> TaskHandle:
        """Train a sweep's runs one after another in one background task (``training.sweep.run_sweep``),
        each a normal run recorded in the runs history; the runs' snapshots arrive as ``snapshot`` like a
        single run's, and Pause, Step and live settings steer the run under way. ``stop``/``discard``
        cancel the whole sweep. ``sweepEnded(sweep, results)`` comes once it is over (finished or
        cancelled). Raises ``ConfigError`` at once when one of its runs cannot work with ``dataset``."""
        from cnnlab.training.sweep import run_sweep

        self.discard()
        sweep.check(dataset)
        store = self.run_store
        # Plain Python, shared with the task's thread: attributes set on a Qt object from another thread
        # go through Qt's property lookup, which is not safe there.
        progress = SweepProgress(sweep)

        def work(state: TaskState):
            def on_session(index, session) -> None:
                progress.session, progress.index = session, index  # the run Pause and Step steer
                if state.cancelled:
                    session.stop()

            return run_sweep(
                sweep,
                dataset,
                store,
                on_snapshot=lambda index, snapshot: state.report(snapshot),
                cancel=state.event,
                on_session=on_session,
                on_result=progress.results.append,
            )

        handle = self._tasks.run(work, f"sweep-{sweep.id}", start=False)
        handle.sweep_progress = progress
        handle.progress.connect(lambda snap, h=handle: self._deliver(h, snap))
        handle.failed.connect(lambda message, details, h=handle: self._on_failed(h, message, details))
        handle.done.connect(lambda results: self.sweepEnded.emit(sweep, list(results)))
        handle.cancelled.connect(lambda: self.sweepEnded.emit(sweep, list(progress.results)))
        handle.finished.connect(lambda h=handle: self._on_run_ended(h))
        self._current = handle
        handle.start()
        self.stateChanged.emit()
        return handle

    @property
    def sweep(self):
        """The sweep under way (``training.sweep.Sweep``) and the index of its current run, or None."""
        handle = self._current
        progress = getattr(handle, "sweep_progress", None) if handle is not None else None
        if progress is None or handle.is_finished():
            return None
        return progress.sweep, progress.index

    # -- steering -------------------------------------------------------------------------------------
    @property
    def session(self) -> TrainingSession | None:
        """The current run's session (for its thread-safe methods only), or None."""
        handle = self._current
        if handle is None:
            return None
        progress = getattr(handle, "sweep_progress", None)
        return progress.session if progress is not None else handle.session

    def is_running(self) -> bool:
        """A run exists whose thread has not ended (it may be paused)."""
        return self._current is not None and not self._current.is_finished()

    def is_paused(self) -> bool:
        return self.is_running() and self.session is not None and self.session.paused

    def pause(self) -> None:
        if self.is_running() and self.session is not None:
            self.session.pause()
            self.stateChanged.emit()

    def resume(self) -> None:
        if self.is_running() and self.session is not None:
            self.session.resume()
            self.stateChanged.emit()

    def toggle_pause(self) -> None:
        if self.is_paused():
            self.resume()
        else:
            self.pause()

    def step(self, batches: int = 1) -> None:
        if self.is_running() and self.session is not None:
            self.session.step(batches)
            self.stateChanged.emit()

    def step_epoch(self) -> None:
        if self.is_running() and self.session is not None:
            self.session.step_epoch()
            self.stateChanged.emit()

    def set_live(self, **changes: Any) -> None:
        """Apply live settings to the current run (ConfigError for a bad value); no run: nothing to do."""
        if self.is_running() and self.session is not None:
            self.session.set_live(**changes)

    def stop(self) -> None:
        if self.is_running():
            if self.sweep is not None:
                self._current.cancel()  # a sweep stops as a whole: the run under way, and no later one
            elif self.session is not None:
                self.session.stop()
            self.stateChanged.emit()

    def discard(self) -> None:
        handle, self._current = self._current, None
        if handle is None:
            return
        handle.cancel()  # stops the session; what it still sends is ignored
        self.stateChanged.emit()

    # -- ending ---------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop every run and wait for their threads (closing the window). True if all ended in time."""
        self.discard()
        return self._tasks.shutdown(timeout_ms)

    def active_threads(self) -> int:
        return self._tasks.running_threads()

    def _deliver(self, handle: TaskHandle, snapshot) -> None:
        if handle is self._current:
            self.snapshot.emit(snapshot)

    def _on_failed(self, handle: TaskHandle, message: str, details: str) -> None:
        if handle is self._current:
            self.failed.emit(message, details)

    def _on_run_ended(self, handle: TaskHandle) -> None:
        progress = getattr(handle, "sweep_progress", None)
        if progress is not None:
            handle.session, progress.session = progress.session, None
        if handle is self._current:
            self._current = None
            self.runEnded.emit(handle.session)
        # An ended run's session (its network, data order, curves) is kept only as the last one.
        if handle.session is not self.last_session:
            handle.session = None
            self.stateChanged.emit()
