"""``cnnlab gui --self-test`` in a fresh process, as the packaged app will run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.slow  # the whole program in a fresh process: trains, saves, draws
def test_self_test_passes_offscreen_on_synthetic_digits(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CNNLAB_DATA_DIR", "DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # no MNIST in the cache: the synthetic digits are used
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    out = subprocess.run(
        [sys.executable, "-m", "cnnlab", "gui", "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # away from the source tree
        timeout=300,
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stdout + out.stderr
    checks = (
        "platform",
        "fonts",
        "assets",
        "window",
        "data",
        "training",
        "checkpoint",
        "drawing pad",
        "shutdown",
    )
    for check in checks:
        assert any(line.startswith(f"ok    {check}:") for line in lines), (check, out.stdout)
    assert "synthetic" in out.stdout
    assert lines[-1] == f"self-test: {len(checks)} of {len(checks)} checks passed"
    assert not (tmp_path / "config" / "cnnlab").exists(), "the self-test must not write the user's settings"


@pytest.mark.skipif(sys.platform != "linux", reason="only X11/Wayland sessions lack a display this way")
def test_without_a_display_the_lab_explains_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run(
        [sys.executable, "-m", "cnnlab"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 2
    assert "no display found" in out.stderr


@pytest.mark.slow
def test_the_drawing_check_refuses_a_network_that_cannot_read_digits(qtbot, qapp, monkeypatch, tmp_path):
    """The self-test's pad check must fail when the answers are wrong, not accept any class."""
    import numpy as np

    from cnnlab.app.selftest import SelfTest
    from cnnlab.engine import Checkpoint, build, load_preset

    lines = []
    check = SelfTest(qapp, lines.append)
    check.open_window()
    window = check.window
    qtbot.addWidget(window)
    untrained = build(load_preset("seed"), np.random.default_rng(3))
    fake = Checkpoint(untrained.spec, untrained.state_dict(), None, {}, None)
    monkeypatch.setattr(window, "open_pretrained", lambda: window.use_checkpoint(fake, "untrained"))
    assert not check.check("drawing pad", check.classify)
    failure = next(line for line in lines if line.startswith("FAIL"))
    assert failure.startswith("FAIL  drawing pad: a drawn") and "was read as" in failure
    window.close()
    check._tmp.cleanup()


def test_glyphs_are_told_apart_by_the_font_check(qapp):
    from PySide6.QtWidgets import QApplication

    from cnnlab.app.selftest import render_text

    a, b = render_text("A", QApplication.font()), render_text("B", QApplication.font())
    assert a.any() and b.any() and not np.array_equal(a, b)


@pytest.mark.slow  # a fresh process
@pytest.mark.realdata
def test_the_startup_time_is_printed_and_the_lab_closes_cleanly_with_the_data_still_to_load(tmp_path):
    # The window closes from its first frame, before the dataset's thread would start: no thread may be
    # left to outlive the window (Qt aborts the process when a running QThread is destroyed).
    if not os.environ.get("CNNLAB_DATA_DIR"):
        pytest.skip("needs CNNLAB_DATA_DIR (real MNIST, whose loading takes a moment)")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-m", "cnnlab", "gui", "--startup-time"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "QThread" not in out.stderr, out.stderr
        assert re.fullmatch(r"window shown \d+ ms after start", out.stdout.strip()), out.stdout
