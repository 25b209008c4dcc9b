"""``Throttle``: run a redraw at most once per interval, and not while its widget is hidden.

Snapshots arrive up to ten times a second and a drawing stroke asks for an update on every mouse move;
heavy views redraw at the rate an eye can follow instead. The first request after a quiet spell runs at
the next turn of the event loop (so a single change shows at once); requests inside the interval fold
into one run at its end. A hidden widget (a docked panel in a background tab) is only marked dirty and
redraws when it is shown again (``Throttle.shown`` from the widget's ``showEvent``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget


class Throttle(QObject):
    def __init__(self, widget: QWidget, callback: Callable[[], None], interval_ms: int = 100) -> None:
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self.interval_ms = int(interval_ms)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._last = -1e9
        self.dirty = False

    def request(self) -> None:
        self.dirty = True
        if self._timer.isActive():
            return
        wait = self.interval_ms / 1000.0 - (time.perf_counter() - self._last)
        self._timer.start(max(0, int(wait * 1000)))

    def shown(self) -> None:
        if self.dirty:
            self.request()

    def flush(self) -> None:
        """Run now if anything is pending, visible or not (tests, exports)."""
        self._timer.stop()
        if self.dirty:
            self._run()

    def _fire(self) -> None:
        if not self._widget.isVisible():
            return  # stays dirty; shown() picks it up
        self._run()

    def _run(self) -> None:
        self.dirty = False
        self._last = time.perf_counter()
        self._callback()
