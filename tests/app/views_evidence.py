"""Evidence for the inspection views (issue 6): drawing latency, traced-digit accuracy, screenshots.

    export CNNLAB_DATA_DIR=/path/to/data      # the folder holding mnist/
    python tests/app/views_evidence.py latency     [--checkpoint net.npz]
    python tests/app/views_evidence.py trace       [--checkpoint net.npz] [--count 200] [--seed 0]
    python tests/app/views_evidence.py screenshots [--epochs 2] [--out resources/screenshots]

Without ``--checkpoint`` the seed net is trained on real MNIST first (one epoch: about 10 s on an idle
machine). Runs offscreen; strokes are real mouse press/move/release events sent to the drawing pad.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnlab.data import load_dataset, preprocess_drawing, to_float_nchw  # noqa: E402
from cnnlab.engine import load_checkpoint  # noqa: E402


def network_and_data(args):
    dataset = load_dataset("mnist")
    if args.checkpoint:
        return load_checkpoint(args.checkpoint).build_network(), dataset, None
    from cnnlab.training import TrainConfig, TrainingSession

    started = time.perf_counter()
    session = TrainingSession(TrainConfig(epochs=args.epochs), dataset)
    snapshots = list(session.run())
    last = snapshots[-1]
    print(
        f"trained the seed net for {args.epochs} epoch(s) in {time.perf_counter() - started:.1f} s: "
        f"test accuracy {last.test_accuracy:.2%}"
    )
    if args.save:
        from cnnlab.engine import save_checkpoint

        print("saved", save_checkpoint(args.save, session.network))
    return session.network, dataset, snapshots


def widget_point(pad, x: float, y: float) -> QPoint:
    from cnnlab.app.views.drawing import CANVAS

    rect = pad.canvas_rect()
    return QPoint(round(rect.x() + x * rect.width() / CANVAS), round(rect.y() + y * rect.height() / CANVAS))


def draw(app, pad, strokes, settle: bool = True) -> list[float]:
    """Mouse strokes on the pad; returns the wall time of each move including the repaint (ms)."""
    walls = []
    for stroke in strokes:
        QTest.mousePress(
            pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point(pad, *stroke[0])
        )
        for x, y in stroke[1:]:
            t = time.perf_counter()
            QTest.mouseMove(pad, widget_point(pad, x, y))
            if settle:
                app.processEvents()
            walls.append((time.perf_counter() - t) * 1000)
        QTest.mouseRelease(
            pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point(pad, *stroke[-1])
        )
    app.processEvents()
    return walls


def cmd_latency(args) -> None:
    from cnnlab.app.views.drawing import DrawingPanel
    from tests.app.test_views_drawing import digit_strokes

    app = QApplication.instance() or QApplication([])
    network, dataset, _ = network_and_data(args)
    panel = DrawingPanel(predictor=network, class_names=dataset.class_names)
    panel.resize(900, 560)
    panel.show()
    app.processEvents()
    walls = []
    for i in range(20):
        panel.clear()
        strokes = digit_strokes(dataset.test_images[i])
        # Densify: a real mouse reports every few pixels.
        dense = [
            [
                (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                for (x0, y0), (x1, y1) in itertools.pairwise(s)
                for t in (0.0, 0.5)
            ]
            + [s[-1]]
            for s in strokes
        ]
        walls += draw(app, panel.pad, dense)
    lat = np.array(panel.latencies_ms)
    compute = np.array(panel.compute_ms)
    x = panel.current_input()
    canvas = panel.pad.canvas_array()
    timings = {}
    for name, fn in (
        ("preprocess 280x280 canvas", lambda: preprocess_drawing(canvas)),
        ("forward + softmax, batch 1", lambda: network.predict_proba(x[None, None])),
        ("bar chart update", lambda: panel.bars.set_values(panel.probabilities())),
    ):
        fn()
        t = time.perf_counter()
        for _ in range(200):
            fn()
        timings[name] = (time.perf_counter() - t) / 200 * 1000
    print(f"{len(lat)} updates from {len(walls)} mouse moves over 20 traced digits")
    print(
        f"mouse event -> bars updated: median {np.median(lat):.2f} ms, p90 {np.percentile(lat, 90):.2f} ms, "
        f"max {lat.max():.2f} ms"
    )
    print(f"the update itself (preprocess, forward, preview, bars): median {np.median(compute):.2f} ms")
    print(
        f"mouse event -> window repainted (offscreen raster): median {np.median(walls):.2f} ms, "
        f"p90 {np.percentile(walls, 90):.2f} ms"
    )
    for name, ms in timings.items():
        print(f"  {name}: {ms:.3f} ms")


def cmd_trace(args) -> None:
    from cnnlab.app.views.drawing import DrawingPanel
    from tests.app.test_views_drawing import digit_strokes

    app = QApplication.instance() or QApplication([])
    network, dataset, _ = network_and_data(args)
    panel = DrawingPanel(predictor=network, class_names=dataset.class_names)
    panel.resize(900, 560)
    panel.show()
    app.processEvents()
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(dataset.test_images), args.count, replace=False)
    direct = network.predict_proba(to_float_nchw(dataset.test_images[picks])).argmax(axis=1)
    right, confusions = 0, []
    for i, true_direct in zip(picks, direct, strict=True):
        panel.clear()
        draw(app, panel.pad, digit_strokes(dataset.test_images[i]), settle=False)
        probs = panel.predict_now()
        guess = -1 if probs is None else int(np.argmax(probs))
        right += int(guess == dataset.test_labels[i])
        if guess != dataset.test_labels[i]:
            confusions.append((int(i), int(dataset.test_labels[i]), guess, int(true_direct)))
    rate = right / len(picks)
    print(f"traced {len(picks)} random MNIST test digits (seed {args.seed}) as mouse strokes on the pad")
    print(f"recognised {right} of {len(picks)} = {rate:.1%}")
    base = float(np.mean(direct == dataset.test_labels[picks]))
    print(f"(the same network on the original test images: {base:.1%})")
    print("misses (test index, true, traced guess, guess on the original):", confusions[:20])


def cmd_screenshots(args) -> None:
    from cnnlab.app.views.confusion import ConfusionView
    from cnnlab.app.views.drawing import DrawingPanel
    from cnnlab.app.views.evaluation import evaluate
    from cnnlab.app.views.feature_maps import FeatureMapsView
    from cnnlab.app.views.filters import FiltersView
    from cnnlab.app.views.histograms import HistogramsView
    from cnnlab.app.views.predictions import PredictionsView
    from tests.app.test_views_drawing import digit_strokes

    app = QApplication.instance() or QApplication([])
    args.checkpoint = None  # screenshots need the snapshots of a real run (histograms, gradients)
    network, dataset, snapshots = network_and_data(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def save(widget, name: str) -> None:
        for _ in range(3):
            app.processEvents()
            time.sleep(0.1)
        path = out / name
        widget.grab().save(str(path))
        print("wrote", path)

    names = dataset.class_names
    drawing = DrawingPanel(predictor=network, class_names=names)
    drawing.set_dataset(dataset)
    drawing.resize(900, 520)
    drawing.show()
    app.processEvents()
    draw(app, drawing.pad, digit_strokes(dataset.test_images[args.digit]))
    drawing.set_saliency(True)
    save(drawing, "drawing.png")

    filters = FiltersView()
    filters.resize(1000, 640)
    filters.show()
    filters.set_snapshot(snapshots[-1])
    filters.refresh()
    filters.select_filter("conv1", 2, 0)
    save(filters, "filters.png")

    maps = FeatureMapsView()
    maps.resize(1200, 820)
    maps.show()
    maps.set_network(network, names)
    maps.set_dataset(dataset)
    maps.set_drawing(drawing.current_input())
    maps.refresh()
    maps.select_unit("conv2", *strongest_unit(maps, "conv2"))
    save(maps, "feature-maps.png")

    evaluation = evaluate(network, dataset.test_images, dataset.test_labels, names)
    predictions = PredictionsView()
    predictions.resize(1000, 700)
    predictions.show()
    predictions.set_evaluation(evaluation)
    predictions.select_image(int(predictions.shown_indices()[8]))
    save(predictions, "predictions.png")
    predictions.set_filter("mistakes")
    predictions.select_image(int(predictions.shown_indices()[0]))
    save(predictions, "mistakes.png")

    confusion = ConfusionView()
    confusion.resize(1000, 820)
    confusion.show()
    confusion.set_evaluation(evaluation)
    m = evaluation.confusion().copy()
    np.fill_diagonal(m, 0)
    confusion.select_cell(*np.unravel_index(int(m.argmax()), m.shape))
    save(confusion, "confusion.png")

    histograms = HistogramsView()
    histograms.resize(1000, 420)
    histograms.show()
    for snap in snapshots:
        histograms.set_snapshot(snap)
    histograms.set_parameter("dense1.W")
    save(histograms, "histograms.png")


def strongest_unit(view, layer: str) -> tuple[int, int, int]:
    a = view._acts[view._names.index(layer)]
    c, y, x = np.unravel_index(int(np.argmax(a)), a.shape)
    return int(c), int(y), int(x)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("latency", "trace", "screenshots"))
    parser.add_argument("--checkpoint", help="a cnnlab checkpoint (.npz); default: train the seed net")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--save", help="save the network trained here to this checkpoint file")
    parser.add_argument("--count", type=int, default=200, help="digits to trace")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digit", type=int, default=0, help="test image traced for the drawing screenshot")
    parser.add_argument("--out", default=str(ROOT / "resources" / "screenshots"))
    args = parser.parse_args()
    {"latency": cmd_latency, "trace": cmd_trace, "screenshots": cmd_screenshots}[args.command](args)


if __name__ == "__main__":
    main()
