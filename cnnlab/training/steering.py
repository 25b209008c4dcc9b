"""Requests to a running session from other threads: pause, step, stop, live settings, checkpoints.

Every request goes through one condition variable and is honoured by the training thread between two
steps (``Steering.gate``), never in the middle of one. The live settings themselves live here too: the
training thread reads ``settings`` freely (only it changes them, under the lock), other threads see
them with the pending changes through ``live``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from enum import Enum
from pathlib import Path
from typing import Any

from cnnlab.training.config import check_live

SaveFn = Callable[[Path, Future], None]
# Called with the lock held, in the training thread: [(setting, old value, new value)] just applied.
ChangeFn = Callable[[list[tuple[str, Any, Any]]], None]


class Gate(Enum):
    GO = "go"
    STOP = "stop"
    PAUSED = "paused"


class Steering:
    """The session's request flags and live settings, safe to touch from any thread."""

    def __init__(self, settings: dict[str, Any], save: SaveFn) -> None:
        self.settings = dict(settings)
        self._save = save
        self._cond = threading.Condition()
        self._paused = False
        self._stop = False
        self._budget = 0  # steps allowed while paused
        self._pause_at_epoch_end = False
        self._pending: dict[str, Any] = {}
        self._requests: list[tuple[Path, Future]] = []
        self.ended = False

    # -- from any thread ----------------------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._budget = 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._pause_at_epoch_end = False
            self._cond.notify_all()

    def step(self, batches: int = 1) -> None:
        with self._cond:
            self._paused = True
            self._budget += max(int(batches), 0)
            self._cond.notify_all()

    def step_epoch(self) -> None:
        with self._cond:
            self._paused = False
            self._budget = 0
            self._pause_at_epoch_end = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused and not self.ended

    @property
    def live(self) -> dict[str, Any]:
        with self._cond:
            return {**self.settings, **self._pending}

    def set_live(self, **changes: Any) -> None:
        checked = check_live(changes)
        with self._cond:
            self._pending.update(checked)
            self._cond.notify_all()

    def request_checkpoint(self, path: str | Path) -> Future:
        future: Future = Future()
        with self._cond:
            if not self.ended:
                self._requests.append((Path(path), future))
                self._cond.notify_all()
                return future
        self._save(Path(path), future)  # nothing trains any more: save at once, in the calling thread
        return future

    # -- from the training thread -------------------------------------------------------------------
    def gate(self, block: bool, on_change: ChangeFn) -> Gate:
        """GO, STOP or PAUSED; applies pending settings and serves checkpoint requests first.

        Blocking, it waits while paused and returns PAUSED again only when something a view should show
        happened (a live change, a saved checkpoint).
        """
        while True:
            with self._cond:
                changed = self._apply_pending(on_change)
                requests, self._requests = self._requests, []
                if not requests:
                    if self._stop:
                        return Gate.STOP
                    if not self._paused:
                        return Gate.GO
                    if self._budget > 0:
                        self._budget -= 1
                        return Gate.GO
                    if not block or changed:
                        return Gate.PAUSED
                    self._cond.wait(timeout=0.5)
                    continue
            # Saving takes a while: outside the lock, so steering calls from other threads never wait.
            for path, future in requests:
                self._save(path, future)
            if block:
                return Gate.PAUSED

    def epoch_ended(self) -> None:
        """A ``step_epoch`` request is done: pause here."""
        with self._cond:
            if self._pause_at_epoch_end:
                self._pause_at_epoch_end = False
                self._paused = True

    def finish(self) -> list[tuple[Path, Future]]:
        """The run has ended: later requests are served at once; returns those still waiting."""
        with self._cond:
            self.ended = True
            requests, self._requests = self._requests, []
        return requests

    def _apply_pending(self, on_change: ChangeFn) -> bool:
        pending, self._pending = self._pending, {}
        applied = []
        for key, value in pending.items():
            old = self.settings[key]
            if old != value:
                self.settings[key] = value
                applied.append((key, old, value))
        if applied:
            on_change(applied)
        return bool(applied)
