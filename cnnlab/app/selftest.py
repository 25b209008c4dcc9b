"""``cnnlab gui --self-test``: open the lab, train a few steps, classify a drawn stroke, exit 0 if all worked.

The packaging issue runs it against the frozen bundle, so it reads nothing from the source tree (assets
come through ``importlib.resources``) and keeps the user's settings untouched (a temporary QSettings
file). One line per check; the exit code is 0 only when every check passed.
"""

from __future__ import annotations

import math
import tempfile
import time
import traceback
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, QRectF, QSettings, Qt, qVersion
from PySide6.QtGui import QFontDatabase, QFontInfo, QFontMetrics, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication, QWidget

from cnnlab import __version__
from cnnlab.app.assets import asset

TRAIN_STEPS = 5
# Strokes in fractions of the pad, as a person would draw them: a 7, a 1 and a 0.
DIGIT_STROKES = {
    7: [[(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)]],
    1: [[(0.5, 0.18), (0.5, 0.82)]],
    0: [
        [
            (0.5, 0.2),
            (0.68, 0.3),
            (0.72, 0.5),
            (0.66, 0.72),
            (0.5, 0.8),
            (0.34, 0.72),
            (0.28, 0.5),
            (0.33, 0.3),
            (0.5, 0.2),
        ]
    ],
}
TIMEOUT_S = 120.0


class SelfTest:
    def __init__(
        self, app: QApplication, out: Callable[[str], None] = print, data_dir: str | None = None
    ) -> None:
        self.app = app
        self.out = out
        self.data_dir = data_dir
        self.results: list[bool] = []
        self.window = None
        self._tmp = tempfile.TemporaryDirectory(prefix="cnnlab-selftest-")

    def check(self, name: str, fn: Callable[[], str]) -> bool:
        try:
            detail = fn()
        except Exception as exc:
            message = str(exc).strip() or type(exc).__name__
            self.out(f"FAIL  {name}: {message}")
            for line in traceback.format_exc().strip().splitlines()[-3:]:
                self.out(f"      {line}")
            self.results.append(False)
            return False
        self.out(f"ok    {name}: {detail}")
        self.results.append(True)
        return True

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.app.processEvents(QEventLoop.AllEvents, 20)
            time.sleep(0.002)  # lets the training thread have the interpreter
        return True

    # -- the checks --------------------------------------------------------------------------------
    def platform(self) -> str:
        return f"cnnlab {__version__}, Qt {qVersion()}, platform '{self.app.platformName()}'"

    def fonts(self) -> str:
        # fontconfig always lists its generic names, even with no font file installed; only a glyph
        # that really renders proves that text will be readable.
        missing = (
            "no usable font: every text would render as empty boxes (install fontconfig and a font, "
            "e.g. fonts-dejavu-core)"
        )
        font = QApplication.font()
        family = QFontInfo(font).family()
        if not family or not QFontDatabase.families():
            raise RuntimeError(missing)
        if not QFontMetrics(font).inFont("A"):
            raise RuntimeError(f"{missing}; the font {family!r} has no glyph for 'A'")
        shapes = {letter: render_text(letter, font) for letter in "AB"}
        if not shapes["A"].any() or np.array_equal(shapes["A"], shapes["B"]):
            raise RuntimeError(f"{missing}; 'A' and 'B' render alike in {family!r}")
        return f"{family!r} renders real glyphs ({len(QFontDatabase.families())} families)"

    def assets(self) -> str:
        style = asset("styles", "base.qss").read_text(encoding="utf-8")
        icon = QImage.fromData(asset("icons", "cnnlab.png").read_bytes())
        if icon.isNull():
            raise RuntimeError("the application icon cannot be decoded")
        presets = sorted(p.name for p in asset("presets").iterdir() if p.name.endswith(".json"))
        return f"style sheet ({len(style)} chars), icon {icon.width()}x{icon.height()}, presets {presets}"

    def open_window(self) -> str:
        from cnnlab.app.main_window import MainWindow
        from cnnlab.training import RunStore

        settings = QSettings(str(Path(self._tmp.name) / "selftest.ini"), QSettings.IniFormat)
        runs = RunStore(Path(self._tmp.name) / "runs")
        self.window = MainWindow(
            settings, load_data=False, synthetic_size=(3_000, 500), run_store=runs, data_dir=self.data_dir
        )
        # The self-test answers the window's questions itself ("replace the trained network?"): a modal
        # dialog nobody can see would stop it.
        self.window.confirm = lambda question: True
        self.window.show()
        if not self.wait_until(lambda: self.window.shown_after_ms is not None, 10):
            raise RuntimeError("the window did not show")
        self.app.processEvents()
        missing = [
            key for key in ("controls", "progress", "dataset", "drawing") if self.window.panel(key) is None
        ]
        if missing:
            problems = "; ".join(self.window.view_errors.get(k, "missing").splitlines()[0] for k in missing)
            raise RuntimeError(f"panels not built: {', '.join(missing)} ({problems})")
        views = len(self.window.built_views())
        return (
            f"{self.window.width()}x{self.window.height()}, shown {self.window.shown_after_ms:.0f} ms after "
            f"start, {views} views built"
        )

    def load_data(self) -> str:
        from cnnlab.data import resolve

        window = self.window
        name = "mnist" if resolve("mnist", window.state.data_dir).found else "synthetic"
        if not window.data.choose(name) and name != "synthetic":
            name = "synthetic"
            window.data.choose(name)
        if not self.wait_until(
            lambda: window.state.dataset is not None or bool(window.state.data_problem), 60
        ):
            raise RuntimeError("the dataset did not load within 60 s")
        dataset = window.state.dataset
        if dataset is None:
            raise RuntimeError(window.state.data_problem)
        return f"{dataset.name}: {len(dataset.train_images):,} training images from {dataset.source}"

    def train(self) -> str:
        window = self.window
        window.state.update_config(eval_every=0)
        if not window.start_training():
            raise RuntimeError(window.last_error or "training did not start")

        def trained() -> bool:
            snap = window.state.snapshot
            failed = window.state.run_state in ("failed", "diverged")
            return failed or (snap is not None and snap.step >= TRAIN_STEPS)

        if not self.wait_until(trained, 60):
            raise RuntimeError(f"fewer than {TRAIN_STEPS} steps within 60 s")
        if window.state.run_state in ("failed", "diverged"):
            raise RuntimeError(window.state.run_message or window.last_error)
        window.stop_training()
        # is_running() turns false only once the run's last snapshot has been delivered to the views.
        if not self.wait_until(
            lambda: window.controller.active_threads() == 0 and not window.controller.is_running(), 30
        ):
            raise RuntimeError("the training thread did not end after Stop")
        if window.state.snapshot is None or window.state.snapshot.event != "stopped":
            raise RuntimeError("the run's last snapshot (stopped) did not reach the views")
        snap = window.state.snapshot
        if snap.loss is None or not math.isfinite(snap.loss):
            raise RuntimeError(f"the loss is {snap.loss}")
        return f"{snap.step} steps, loss {snap.loss:.3f}, {snap.images_per_s:,.0f} images/s, thread ended"

    def classify(self) -> str:
        """Draw three digits with the mouse on the pad, read by the trained network that ships with the lab:
        each must come out as the digit drawn (a network that can get them right, so a wrong answer means
        the pad, the preprocessing or the engine is broken)."""
        window = self.window
        if not window.open_pretrained():
            raise RuntimeError(window.last_error or "the trained network could not be loaded")
        panel = window.view("drawing")
        window.show_view("drawing")
        self.app.processEvents()
        pad = panel.pad
        results = []
        for digit, strokes in DIGIT_STROKES.items():
            panel.clear()
            for stroke in strokes:
                draw_stroke(pad, stroke)
            self.app.processEvents()
            probs = panel.predict_now()
            image = panel.current_input()
            if image is None or float(image.max()) <= 0:
                raise RuntimeError(f"the drawn {digit} left no ink in the 28x28 input")
            if probs is None:
                raise RuntimeError("the pad gave no probabilities")
            probs = np.asarray(probs, dtype=np.float64)
            if not math.isclose(probs.sum(), 1.0, abs_tol=1e-3):
                raise RuntimeError(f"probabilities that do not sum to 1: {probs}")
            top = int(np.argmax(probs))
            if top != digit:
                raise RuntimeError(f"a drawn {digit} was read as {top} ({probs[top]:.0%})")
            results.append(f"{digit} ({probs[top]:.0%})")
        panel.clear()
        return "drawn digits read right: " + ", ".join(results)

    def checkpoint(self) -> str:
        """Save the trained network through the window, reload it, and check it predicts the same."""
        from cnnlab.engine import load_checkpoint

        window = self.window
        path = Path(self._tmp.name) / "selftest-checkpoint.npz"
        before = window.state.inspector()
        if before is None:
            raise RuntimeError("there is no network to save")
        if not window.save_checkpoint_file(path):
            raise RuntimeError(window.last_error or "saving failed")
        if not self.wait_until(path.exists, 30):
            raise RuntimeError("the checkpoint file did not appear")
        loaded = load_checkpoint(path).build_network()
        probe = np.linspace(0, 1, 2 * 28 * 28, dtype=np.float32).reshape(2, 1, 28, 28)
        if not np.allclose(loaded.forward(probe), before.forward(probe), atol=1e-5):
            raise RuntimeError("the reloaded network predicts differently from the one the views showed")
        if not window.open_checkpoint_file(path):
            raise RuntimeError(window.last_error or "the window could not open the checkpoint")
        return f"saved and reloaded {path.stat().st_size:,} bytes ({loaded.num_params:,} parameters)"

    def close(self) -> str:
        window = self.window
        window.close()
        self.app.processEvents()
        if window.controller.active_threads():
            raise RuntimeError("a training thread is still running after closing")
        return "closed cleanly, no thread left running"

    def run(self) -> int:
        self.check("platform", self.platform)
        self.check("fonts", self.fonts)
        self.check("assets", self.assets)
        if self.check("window", self.open_window):
            if self.check("data", self.load_data) and self.check("training", self.train):
                self.check("checkpoint", self.checkpoint)
            self.check("drawing pad", self.classify)
            self.check("shutdown", self.close)
        passed = sum(self.results)
        ok = passed == len(self.results)
        self.out(f"self-test: {passed} of {len(self.results)} checks passed" + ("" if ok else " - FAILED"))
        self._tmp.cleanup()
        return 0 if ok else 1


def render_text(text: str, font) -> np.ndarray:
    """``text`` drawn black on white in ``font``: uint8 (32, 32), 0 = ink."""
    image = QImage(32, 32, QImage.Format.Format_Grayscale8)
    image.fill(255)
    painter = QPainter(image)
    painter.setFont(font)
    painter.setPen(Qt.black)
    painter.drawText(QRectF(0, 0, 32, 32), Qt.AlignCenter, text)
    painter.end()
    stride = image.bytesPerLine()
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * 32).reshape(32, stride)[:, :32]
    return 255 - pixels


def draw_stroke(widget: QWidget, points: list[tuple[float, float]], steps: int = 12) -> None:
    """Drag the mouse through ``points`` (fractions of the drawing area), as a user would draw.

    The drawing area is the widget's ``canvas_rect()`` when it has one (a square canvas centred in a
    wider widget), otherwise the whole widget.
    """
    area = widget.canvas_rect() if hasattr(widget, "canvas_rect") else QRectF(widget.rect())

    def at(x: float, y: float) -> QPointF:
        return QPointF(area.x() + x * area.width(), area.y() + y * area.height())

    path = []
    for (x0, y0), (x1, y1) in pairwise(points):
        for i in range(steps):
            t = i / steps
            path.append(at(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    path.append(at(*points[-1]))

    def send(kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
        event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.NoModifier)
        QApplication.sendEvent(widget, event)

    send(QEvent.MouseButtonPress, path[0], Qt.LeftButton, Qt.LeftButton)
    for pos in path[1:]:
        send(QEvent.MouseMove, pos, Qt.NoButton, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, path[-1], Qt.LeftButton, Qt.NoButton)


def run_self_test(app: QApplication, out: Callable[[str], None] = print, data_dir: str | None = None) -> int:
    return SelfTest(app, out, data_dir).run()
