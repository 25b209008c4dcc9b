"""A tour of the lab in a real window, driven by real input, with screenshots (a script, not a test).

    Xvfb :99 -screen 0 1280x800x24 &  DISPLAY=:99 openbox &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb CNNLAB_DATA_DIR=... python -m tests.app.x_tour OUT --theme light

Clicks, drags and keys go through ``xdotool`` (the X server's own input, events ~15 ms apart so Qt does
not merge them) at the places the widgets report; each picture is ``import -window root``. The lab runs
with settings, runs and digits of its own in a temporary folder, so the user's are never touched.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TMP = Path(tempfile.mkdtemp(prefix="cnnlab-tour-"))
os.environ.setdefault("CNNLAB_MINE_DIR", str(TMP / "mine"))

from PySide6.QtCore import QEventLoop, QPoint, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from cnnlab.app.main_window import MainWindow  # noqa: E402
from cnnlab.app.runtime import tune_for_gui  # noqa: E402
from cnnlab.training import RunStore  # noqa: E402

STROKES = {  # a person's digits, in fractions of the pad
    3: [[(0.3, 0.22), (0.6, 0.2), (0.65, 0.35), (0.45, 0.48), (0.68, 0.6), (0.62, 0.78), (0.3, 0.8)]],
    7: [[(0.28, 0.24), (0.7, 0.24), (0.42, 0.82)]],
    1: [[(0.52, 0.18), (0.5, 0.82)]],
    0: [[(0.5, 0.2), (0.68, 0.3), (0.72, 0.5), (0.66, 0.72), (0.5, 0.8), (0.34, 0.72), (0.28, 0.5),
         (0.33, 0.3), (0.5, 0.2)]],
    4: [[(0.6, 0.8), (0.6, 0.2), (0.28, 0.6), (0.75, 0.6)]],
}  # fmt: skip


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.005)


def xdo(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True)


def screen_point(widget: QWidget, x: float, y: float) -> QPoint:
    return widget.mapToGlobal(QPoint(int(x), int(y)))


def click(app, widget: QWidget) -> None:
    p = screen_point(widget, widget.width() / 2, widget.height() / 2)
    xdo("mousemove", str(p.x()), str(p.y()))
    pump(app, 0.05)
    xdo("click", "1")
    pump(app, 0.3)


def key(app, *keys: str) -> None:
    for k in keys:
        xdo("key", k)
        pump(app, 0.05)
    pump(app, 0.3)


def draw(app, pad, strokes, jitter: float = 0.0) -> None:
    """Drag the mouse along each stroke on the pad's canvas, 15 ms between moves."""
    area = pad.canvas_rect()
    for stroke in strokes:
        points = []
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            for i in range(8):
                t = i / 8
                points.append((x0 + (x1 - x0) * t + jitter, y0 + (y1 - y0) * t))
        points.append((stroke[-1][0] + jitter, stroke[-1][1]))
        first = screen_point(
            pad, area.x() + points[0][0] * area.width(), area.y() + points[0][1] * area.height()
        )
        xdo("mousemove", str(first.x()), str(first.y()))
        pump(app, 0.03)
        xdo("mousedown", "1")
        for x, y in points[1:]:
            p = screen_point(pad, area.x() + x * area.width(), area.y() + y * area.height())
            xdo("mousemove", str(p.x()), str(p.y()))
            pump(app, 0.015)
        xdo("mouseup", "1")
        pump(app, 0.1)


def shoot(out: Path, name: str, app) -> None:
    pump(app, 0.6)
    subprocess.run(["import", "-window", "root", str(out / f"{name}.png")], check=True)
    print("saved", out / f"{name}.png", flush=True)


def wait_until(app, predicate, seconds: float = 180) -> None:
    end = time.monotonic() + seconds
    while not predicate() and time.monotonic() < end:
        pump(app, 0.1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--theme", default="light")
    parser.add_argument("--quick", action="store_true", help="workspaces only: no sweeps, no fine-tuning")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    settings = QSettings(str(TMP / "settings.ini"), QSettings.IniFormat)
    settings.setValue("view/theme", args.theme)
    window = MainWindow(settings, run_store=RunStore(TMP / "runs"))
    window.confirm = lambda question: True
    window.show()
    tune_for_gui()
    wait_until(app, lambda: window.state.dataset is not None, 60)
    shoot(args.out, "01-welcome-train", app)

    # Look inside with the trained network, drawing with the mouse.
    window.open_pretrained()
    key(app, "ctrl+2")
    pad = window.view("drawing")
    draw(app, pad.pad, STROKES[3])
    window.view("drawing").set_saliency(True)
    shoot(args.out, "02-look-inside-drawn-3", app)
    window.view("drawing").set_saliency(False)
    fm = window.view("feature_maps")
    fm.select_unit("conv2", 3, 5, 5)
    shoot(args.out, "03-look-inside-unit", app)
    # Keep digits of one's own: draw, then press the digit's key.
    for round_ in range(4):
        for digit, strokes in STROKES.items():
            draw(app, pad.pad, strokes, jitter=0.02 * (round_ - 1.5))
            key(app, str(digit))
    wait_until(app, lambda: not window.collection.busy(), 30)
    draw(app, pad.pad, STROKES[7])
    shoot(args.out, "04-keeping-your-digits", app)

    key(app, "ctrl+3")
    window.view("predictions").evaluator.evaluate_now()
    shoot(args.out, "05-test-results", app)
    key(app, "ctrl+4")
    shoot(args.out, "06-build", app)
    key(app, "ctrl+6")
    shoot(args.out, "07-data-your-digits", app)

    if not args.quick:
        key(app, "ctrl+5")
        panel = window.view("sweep")
        for setting, values, name in (
            ("lr", "0.001, 0.01, 0.1", "08-compare-lr-sweep"),
            ("batch_size", "16, 32, 64", "09-compare-batch-sweep"),
            ("preset", "seed, fc-baseline", "10-compare-cnn-vs-fc"),
        ):
            panel.choose(setting, values)
            click(app, panel.run_button)
            wait_until(app, lambda: window.controller.is_running(), 10)
            wait_until(app, lambda: not window.controller.is_running(), 300)
            pump(app, 1.0)
            shoot(args.out, name, app)
            if setting == "preset":
                window.view("runs").tabs.setCurrentIndex(2)
                shoot(args.out, "11-compare-params-vs-accuracy", app)
        key(app, "ctrl+6")
        browser = window.view("mine")
        window.open_pretrained()
        browser.epochs.setValue(3)
        click(app, browser.finetune_button)
        wait_until(app, lambda: window.finetune_results is not None, 300)
        key(app, "ctrl+6")
        shoot(args.out, "12-data-before-after", app)
        print("before/after:", window.finetune_results, flush=True)
        key(app, "ctrl+1")
        shoot(args.out, "13-train-after-runs", app)

    key(app, "F2")
    key(app, "ctrl+1")
    shoot(args.out, "14-train-no-lesson", app)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
