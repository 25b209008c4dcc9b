"""The window fits laptop and desktop screens: every workspace and view, with and without the lesson.

Each size runs in a fresh process (``tests/app/fit_check.py``) whose offscreen screen has that size and
window frames, so Qt places and sizes the window as it would on such a screen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("size", ["1280x800", "1366x768", "1920x1080"])
def test_every_workspace_and_view_fits_the_screen_and_the_window_never_grows(size):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.app.fit_check", size],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    sx, sy, sw, sh = report["screen"]
    assert report["visits"], report
    for visit in report["visits"]:
        x, y, w, h = visit["frame"]
        assert sx <= x and sy <= y and x + w <= sx + sw and y + h <= sy + sh, visit  # frame on the screen
        assert visit["size"] == report["first_size"], visit  # the window never grows by itself
        assert visit["minimum"][0] <= 1024, visit  # a 1024 px wide window still holds everything
    assert report["scrolling_tabs"] == [], report["scrolling_tabs"]  # no tab bar needs scroll arrows
    assert report["squeezed"] == [], report["squeezed"]  # no part is given less height than it needs
    assert {"curves", "drawing", "feature_maps", "filters", "predictions", "confusion", "runs"} <= set(
        report["views"]
    )
