"""``run_app``: the desktop lab's entry point (``cnnlab`` with no arguments, ``cnnlab gui``).

Nothing happens at import: the QApplication is created here, when asked for, so importing the app floor
(tests, the CLI's help) costs no window and no display.
"""

from __future__ import annotations

import os
import sys

from cnnlab import __version__
from cnnlab.app.assets import asset


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _hide_offscreen_noise() -> None:
    """The offscreen platform reports, once per dock, a feature it lacks; that is not news to anyone."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message: str) -> None:
        if "does not support propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def run_app(
    self_test: bool = False,
    argv: list[str] | None = None,
    data_dir: str | None = None,
    startup_time: bool = False,
) -> int:
    """Open the lab and run until it is closed; with ``self_test``, run the self-test instead.

    ``data_dir``: a folder holding ``mnist/`` (or ``fashion-mnist/``), searched first (``--data-dir``).
    Returns the exit code. Without a display the self-test renders offscreen; the lab itself says how
    to get a display instead of letting Qt abort.
    """
    if not has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        if not self_test:
            print(
                "cnnlab: no display found (DISPLAY and WAYLAND_DISPLAY are not set). Run it in a desktop "
                "session, or set QT_QPA_PLATFORM=offscreen to run without showing a window.",
                file=sys.stderr,
            )
            return 2
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtGui import QIcon, QImage, QPixmap
    from PySide6.QtWidgets import QApplication

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _hide_offscreen_noise()
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("cnnlab")
    app.setOrganizationName("cnnlab")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("cnnlab")
    icon = QImage.fromData(asset("icons", "cnnlab.png").read_bytes())
    if not icon.isNull():
        app.setWindowIcon(QIcon(QPixmap.fromImage(icon)))

    from cnnlab.app.runtime import tune_for_gui

    if self_test:
        from cnnlab.app.selftest import run_self_test

        tune_for_gui()
        return run_self_test(app, data_dir=data_dir)

    from cnnlab.app.main_window import MainWindow

    window = MainWindow(data_dir=data_dir)
    if startup_time:
        # Measure and leave: the figure for how fast the lab opens (issue 17's start-up target).
        def report(ms: float) -> None:
            print(f"window shown {ms:.0f} ms after start")
            window.close()

        window.firstShown.connect(report)
    # After the first frame (and the first workspace) are up: the settings freeze the objects made so far
    # out of garbage collection, and loading their helpers must not delay the window's first frame.
    # Before the dataset's loading thread starts (right after this signal): from then on, garbage is
    # collected in the GUI thread only, never in a background thread that would delete Qt objects.
    runtime = []
    window.firstShown.connect(lambda _ms: runtime.append(tune_for_gui()))
    window.show()
    return int(app.exec())
