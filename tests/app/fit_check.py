"""Open the lab on a screen of a given size and report how it fits (run by tests/app/test_fit.py).

``python -m tests.app.fit_check WIDTHxHEIGHT``: a fresh process on Qt's offscreen platform with one
screen of that size (and window frames), so the window is placed as a window manager would place it.
Visits every workspace and every tab with the lesson shown, and prints one JSON object: the screen, the
window's frame after each visit, its minimum size, and any tab bar that would need scroll arrows.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def squeezed(window) -> list[dict]:
    """Visible widgets given less height than their layout needs: their children overlap or are cut."""
    from PySide6.QtWidgets import QAbstractScrollArea, QWidget

    found = []
    for widget in window.findChildren(QWidget):
        layout = widget.layout()
        if layout is None or not widget.isVisible() or widget.width() <= 1:
            continue
        if any(isinstance(a, QAbstractScrollArea) for a in _ancestors(widget)):
            continue  # inside a scroll area, content may be taller than its viewport
        need = layout.minimumSize().height()  # (a height-for-width is a preference: the pad's square)
        if widget.height() + 2 < need:
            name = widget.objectName() or type(widget).__name__
            found.append({"widget": name, "height": widget.height(), "needs": need, "width": widget.width()})
    return found


def _ancestors(widget):
    parent = widget.parentWidget()
    while parent is not None:
        yield parent
        parent = parent.parentWidget()


def main(size: str) -> int:
    width, height = (int(v) for v in size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="cnnlab-fit-"))
    config = tmp / "screen.json"
    config.write_text(
        json.dumps(
            {
                "windowFrameMargins": True,
                "screens": [{"name": "s", "x": 0, "y": 0, "width": width, "height": height, "dpr": 1}],
            }
        )
    )
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QTabBar

    app = QApplication(sys.argv[:1])
    from cnnlab.app.main_window import MainWindow

    settings = QSettings(str(tmp / "settings.ini"), QSettings.IniFormat)
    window = MainWindow(settings, load_data=False, run_store=None, synthetic_size=(300, 100))
    window.confirm = lambda question: True
    window.show()
    for _ in range(20):
        app.processEvents()
    window.fit_to_screen()
    app.processEvents()
    first = window.size()
    report = {
        "screen": window.screen().availableGeometry().getRect(),
        "visits": [],
        "scrolling_tabs": [],
        "squeezed": [],
    }

    def visit(name: str) -> None:
        for _ in range(5):
            app.processEvents()
        frame = window.frameGeometry().getRect()
        hint = window.minimumSizeHint()
        report["visits"].append(
            {
                "where": name,
                "frame": frame,
                "size": [window.width(), window.height()],
                "minimum": [hint.width(), hint.height()],
                "lesson": window.lesson.isVisible(),
            }
        )
        report["squeezed"].extend({"where": name, **w} for w in squeezed(window))
        for bar in window.findChildren(QTabBar):
            if bar.isVisible() and bar.sizeHint().width() > bar.width():
                report["scrolling_tabs"].append({"where": name, "tabs": bar.count(), "width": bar.width()})

    for lesson in (True, False):
        window.set_lesson_visible(lesson)
        for key, spec in window.workspace_specs.items():
            window.show_workspace(key)
            visit(f"{key} (lesson {'shown' if lesson else 'hidden'})")
            for view in spec.views:
                window.show_view(view)
                visit(f"{key}/{view}")
    report["first_size"] = [first.width(), first.height()]
    report["minimum"] = [window.minimumSizeHint().width(), window.minimumSizeHint().height()]
    report["views"] = sorted(window.built_views())
    window.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
