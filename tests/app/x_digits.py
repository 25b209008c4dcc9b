"""Draw many digits on the real pad with the mouse, keep them as your digits, and measure the trained seed
network on them before and after fine-tuning (a script for issue 14's figures, not a test).

    DISPLAY=:99 QT_QPA_PLATFORM=xcb CNNLAB_DATA_DIR=... python -m tests.app.x_digits --per-digit 12

Each digit is a hand-made stroke template, bent the way hands vary (slant, size, place, pen width, a
little tremor) with a seeded generator, drawn through ``xdotool`` (real X input, 15 ms between moves)
and kept with its digit key, exactly as a learner does it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

TMP = Path(tempfile.mkdtemp(prefix="cnnlab-digits-"))
os.environ.setdefault("CNNLAB_MINE_DIR", str(TMP / "mine"))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnlab.app.main_window import MainWindow  # noqa: E402
from cnnlab.app.runtime import tune_for_gui  # noqa: E402
from cnnlab.training import RunStore  # noqa: E402
from tests.app.x_tour import draw, key, pump, wait_until  # noqa: E402


def arc(cx, cy, rx, ry, start, end, n=10):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]  # fmt: skip


TEMPLATES = {
    0: [arc(0.5, 0.5, 0.2, 0.3, -90, 270, 16)],
    1: [[(0.42, 0.3), (0.52, 0.2), (0.52, 0.8)]],
    2: [[*arc(0.5, 0.35, 0.18, 0.15, 200, 370, 8), (0.32, 0.8), (0.7, 0.8)]],
    3: [[*arc(0.48, 0.35, 0.17, 0.14, 200, 450, 9), *arc(0.48, 0.63, 0.19, 0.17, -90, 160, 9)]],
    4: [[(0.55, 0.2), (0.3, 0.6), (0.72, 0.6)], [(0.6, 0.35), (0.6, 0.82)]],
    5: [[(0.68, 0.2), (0.38, 0.2), (0.35, 0.45), *arc(0.48, 0.6, 0.2, 0.18, -110, 150, 10)]],
    6: [[(0.62, 0.2), (0.42, 0.38), *arc(0.5, 0.62, 0.17, 0.18, 200, 560, 14)]],
    7: [[(0.3, 0.22), (0.7, 0.22), (0.45, 0.82)]],
    8: [[*arc(0.5, 0.34, 0.15, 0.14, 90, 450, 12), *arc(0.5, 0.64, 0.18, 0.17, -90, 270, 14)]],
    9: [[*arc(0.5, 0.36, 0.17, 0.15, 0, 360, 12), (0.66, 0.38), (0.62, 0.82)]],
}  # fmt: skip


def vary(strokes, rng, wild: float = 1.0):
    """The template as one hand might draw it: slanted, sized, moved, with a little tremor; ``wild``
    widens every range (2: a hurried, careless hand)."""
    angle = math.radians(rng.uniform(-14, 14) * wild)
    shear = rng.uniform(-0.25, 0.25) * wild
    scale = rng.uniform(0.75, 1.1)
    squash = rng.uniform(1 - 0.2 * (wild - 1), 1 + 0.2 * (wild - 1)) if wild > 1 else 1.0
    dx, dy = rng.uniform(-0.08, 0.08, size=2)
    out = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = x - 0.5, y - 0.5
            x = x + shear * y
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            x, y = 0.5 + scale * squash * x + dx, 0.5 + scale * y + dy
            x, y = x + rng.normal(0, 0.006 * wild), y + rng.normal(0, 0.006 * wild)
            points.append((min(max(x, 0.03), 0.97), min(max(y, 0.03), 0.97)))
        out.append(points)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-digit", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.9)
    parser.add_argument("--wild", type=float, default=1.0, help="how careless the hand is (1, 2 ...)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    app = QApplication(sys.argv[:1])
    window = MainWindow(QSettings(str(TMP / "s.ini"), QSettings.IniFormat), run_store=RunStore(TMP / "runs"))
    window.confirm = lambda question: True
    window.show()
    tune_for_gui()
    wait_until(app, lambda: window.state.dataset is not None, 60)
    window.open_pretrained()
    key(app, "ctrl+2")
    pad = window.view("drawing")
    for _ in range(args.per_digit):
        for digit, template in TEMPLATES.items():
            pad.set_brush_width(float(rng.uniform(14, 34 + 20 * (args.wild - 1))))
            draw(app, pad.pad, vary(template, rng, args.wild))
            key(app, str(digit))
    wait_until(app, lambda: not window.collection.busy(), 60)
    state = window.collection.state
    print(f"kept {len(state)} digits, {int(state.test_mask.sum())} held out", flush=True)

    from cnnlab.training.metrics import evaluate_network

    network = window.state.inspector()
    held = state.test_mask
    for what, mask in (("all your digits", np.ones(len(state), bool)), ("the held-out fifth", held)):
        accuracy = evaluate_network(network, state.images[mask], state.labels[mask].astype(np.int64), 10)[0]
        print(f"before fine-tuning, on {what}: {accuracy:.1%} ({int(mask.sum())} digits)", flush=True)
    key(app, "ctrl+6")
    browser = window.view("mine")
    browser.epochs.setValue(args.epochs)
    browser.share.setValue(args.share)
    window.start_finetune(args.share, args.epochs, browser.lr.value())
    wait_until(app, lambda: window.finetune_results is not None, 600)
    for what, before, after in window.finetune_results:
        print(
            f"fine-tuned ({args.epochs} epochs, {args.share:.0%} MNIST): {what}: {before:.1%} -> {after:.1%}"
        )
    pump(app, 0.5)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
