"""Screenshots of the lab at work (a script, not a test): ``python tests/app/make_screenshots.py OUT_DIR``.

Opens the main window at 1280x800 and 1920x1080, light and dark, trains the seed net for a few seconds
on whatever data resolves, draws a digit on the pad, and saves ``widget.grab()`` of each as PNG. Works
offscreen (``QT_QPA_PLATFORM=offscreen``) and under Xvfb.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings
from PySide6.QtWidgets import QApplication

from cnnlab.app.main_window import MainWindow
from cnnlab.app.runtime import tune_for_gui
from cnnlab.app.selftest import draw_stroke
from cnnlab.data import resolve
from cnnlab.training import RunStore


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.002)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0, help="training time before the shot")
    parser.add_argument("--sizes", nargs="+", default=["1280x800", "1920x1080"])
    parser.add_argument("--themes", nargs="+", default=["light", "dark"])
    parser.add_argument("--panels", action="store_true", help="also save each panel, brought to the front")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory()
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        for theme in args.themes:
            settings = QSettings(str(Path(tmp.name) / f"{size}-{theme}.ini"), QSettings.IniFormat)
            settings.setValue("view/theme", theme)
            runs = RunStore(Path(tmp.name) / "runs")
            window = MainWindow(settings, load_data=False, run_store=runs)
            window.resize(width, height)
            window.show()
            runtime = tune_for_gui()
            name = "mnist" if resolve("mnist").found else "synthetic"
            window.data.choose(name)
            while window.state.dataset is None:
                pump(app, 0.05)
            window.state.update_config(eval_every=100)
            window.start_training()
            pump(app, args.seconds)
            pad = window.panel("drawing")
            if pad is not None:
                draw_stroke(pad.pad, [(0.35, 0.22), (0.68, 0.22), (0.47, 0.82)])
            pump(app, 0.5)
            shot = window.grab()
            path = args.out / f"main-{size}-{theme}.png"
            shot.save(str(path))
            print(f"{path}: window {window.width()}x{window.height()}, step {window.state.snapshot.step}")
            if args.panels:
                for key, dock in window.docks.items():
                    window.show_panel(key)
                    pump(app, 0.6)
                    dock.grab().save(str(args.out / f"panel-{key}-{size}-{theme}.png"))
                window.show_panel("drawing")
            window.close()
            runtime.restore()
            pump(app, 0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
