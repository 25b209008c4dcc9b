"""How fluid the window stays while it trains: a benchmark, not a test.

``python -m cnnlab.app.bench_gui --seconds 20`` opens the main window (offscreen without a display),
trains the seed net on MNIST (synthetic digits if MNIST is not found) in the app's own worker thread,
and meanwhile measures the GUI event loop with a 5 ms timer: a gap between two ticks longer than 5 ms is
time the loop could not answer the mouse. It also draws on the pad while training (a mouse move every
30 ms, as a hand would), so the figures include the inference the pad does. Prints the longest stall,
the 99th percentile and the training speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

TICK_MS = 5
DRAW_MS = 30


@dataclass(frozen=True)
class LoopStats:
    seconds: float
    ticks: int
    longest_ms: float
    p99_ms: float
    p50_ms: float
    steps: int
    images_per_s: float
    snapshots: int
    pad_updates: int

    def lines(self) -> list[str]:
        return [
            f"event loop over {self.seconds:.1f} s: {self.ticks} ticks of a {TICK_MS} ms timer",
            f"  longest gap between ticks (longest stall): {self.longest_ms:.1f} ms",
            f"  99th percentile gap:                       {self.p99_ms:.1f} ms",
            f"  median gap:                                {self.p50_ms:.1f} ms",
            f"training: {self.steps} steps, {self.images_per_s:,.0f} images/s in the worker thread",
            f"snapshots shown: {self.snapshots}; pad predictions while drawing: {self.pad_updates}",
        ]


class _Hand:
    """Draws zig-zag strokes on the pad with mouse events, clearing it every few strokes."""

    def __init__(self, pad_panel) -> None:
        self.panel = pad_panel
        self.pad = pad_panel.pad
        self.t = 0
        self.pressed = False

    def move(self) -> None:
        area = self.pad.canvas_rect()
        self.t += 1
        phase = self.t % 40
        x = area.x() + area.width() * (0.25 + 0.5 * abs(((phase / 10) % 2) - 1))
        y = area.y() + area.height() * (0.2 + 0.6 * phase / 40)
        pos = QPointF(x, y)
        if phase == 0:
            if self.pressed:
                self._send(QEvent.MouseButtonRelease, pos, Qt.LeftButton, Qt.NoButton)
            if self.t % 160 == 0:
                self.panel.clear()
            self._send(QEvent.MouseButtonPress, pos, Qt.LeftButton, Qt.LeftButton)
            self.pressed = True
        else:
            self._send(QEvent.MouseMove, pos, Qt.NoButton, Qt.LeftButton)

    def _send(self, kind, pos, button, buttons) -> None:
        event = QMouseEvent(kind, pos, self.pad.mapToGlobal(pos), button, buttons, Qt.NoModifier)
        QApplication.sendEvent(self.pad, event)


def settle(seconds: float = 0.5) -> None:
    """Let a freshly shown window lay itself out and paint once: that is start-up, not training."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def measure_event_loop(window, seconds: float, draw: bool = True) -> LoopStats:
    """Train in ``window`` (its dataset already loaded) for ``seconds`` while timing the event loop.

    Starts the run, measures, then stops the run and waits for its thread to end.
    """
    settle()
    gaps: list[float] = []
    last = [0.0]
    counts = {"snapshots": 0, "pad": 0}

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def count_snapshot(_snapshot) -> None:
        counts["snapshots"] += 1

    def count_pad(_probs) -> None:
        counts["pad"] += 1

    loop = QEventLoop()
    ticker = QTimer()
    ticker.setTimerType(Qt.PreciseTimer)
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(tick)
    hand_timer = QTimer()
    hand_timer.setInterval(DRAW_MS)
    pad_panel = window.panel("drawing")
    if draw and pad_panel is not None:
        hand = _Hand(pad_panel)
        hand_timer.timeout.connect(hand.move)
        pad_panel.probabilitiesChanged.connect(count_pad)
    window.state.snapshotChanged.connect(count_snapshot)

    if not window.start_training():
        raise RuntimeError(window.last_error or "training did not start")
    # Measure from the first snapshot on: before it, the run is still being set up.
    started = QEventLoop()
    window.state.snapshotChanged.connect(started.quit)
    QTimer.singleShot(30_000, started.quit)
    started.exec()
    window.state.snapshotChanged.disconnect(started.quit)
    first = window.state.snapshot
    t0 = time.perf_counter()
    last[0] = t0
    ticker.start()
    hand_timer.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    ticker.stop()
    hand_timer.stop()
    elapsed = time.perf_counter() - t0
    end = window.state.snapshot
    window.state.snapshotChanged.disconnect(count_snapshot)
    if draw and pad_panel is not None:
        pad_panel.probabilitiesChanged.disconnect(count_pad)
    window.stop_training()
    deadline = time.monotonic() + 30
    while window.controller.active_threads() and time.monotonic() < deadline:
        loop.processEvents(QEventLoop.AllEvents, 50)

    ms = np.asarray(gaps) * 1000.0 if gaps else np.zeros(1)
    steps = (end.step - first.step) if end is not None and first is not None else 0
    images = (end.images_seen - first.images_seen) if end is not None and first is not None else 0
    return LoopStats(
        seconds=elapsed,
        ticks=len(gaps),
        longest_ms=float(ms.max()),
        p99_ms=float(np.percentile(ms, 99)),
        p50_ms=float(np.percentile(ms, 50)),
        steps=steps,
        images_per_s=images / elapsed if elapsed > 0 else 0.0,
        snapshots=counts["snapshots"],
        pad_updates=counts["pad"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.app.bench_gui", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to train while measuring")
    parser.add_argument("--dataset", default="mnist", help="mnist (the default), fashion-mnist or synthetic")
    parser.add_argument("--preset", default="seed", help="the network to train")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-draw", action="store_true", help="do not draw on the pad while training")
    parser.add_argument("--size", default="1280x800", help="window size")
    args = parser.parse_args(argv)

    if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnlab.app.main import _hide_offscreen_noise
    from cnnlab.app.main_window import MainWindow
    from cnnlab.app.runtime import tune_for_gui
    from cnnlab.data import resolve
    from cnnlab.engine import load_preset
    from cnnlab.training import RunStore

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _hide_offscreen_noise()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "bench.ini"), QSettings.IniFormat)
        window = MainWindow(settings, load_data=False, run_store=RunStore(Path(tmp) / "runs"))
        width, height = (int(v) for v in args.size.split("x"))
        window.resize(width, height)
        window.show()
        runtime = tune_for_gui()  # as run_app does
        name = args.dataset
        if name != "synthetic" and not resolve(name).found:
            print(f"{name} not found: measuring on the synthetic digits instead")
            name = "synthetic"
        window.data.choose(name)
        deadline = time.monotonic() + 60
        while window.state.dataset is None and time.monotonic() < deadline:
            app.processEvents(QEventLoop.AllEvents, 50)
            time.sleep(0.01)
        if window.state.dataset is None:
            print(f"could not load {name}: {window.state.data_problem}")
            return 1
        window.state.update_config(spec=load_preset(args.preset), batch_size=args.batch_size, epochs=50)
        print(
            f"{args.preset} net, batch {args.batch_size}, on {window.state.dataset!r}, window {args.size}, "
            f"platform {app.platformName()}, drawing on the pad: {not args.no_draw}"
        )
        stats = measure_event_loop(window, args.seconds, draw=not args.no_draw)
        window.close()
        runtime.restore()
    for line in stats.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
