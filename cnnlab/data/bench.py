"""``cnnlab data bench``: how fast the data floor does its work, printed as figures (never asserted in tests).

Each figure is the median of several timed rounds, so one busy moment on the machine does not set it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.batching import augment
from cnnlab.data.datasets import DATASETS, load_dataset, resolve
from cnnlab.data.errors import DataError
from cnnlab.data.idx import read_idx
from cnnlab.data.images import prepare_image
from cnnlab.data.synthetic import generate_digits


@dataclass(frozen=True)
class Figure:
    what: str
    seconds: float  # the median time of one call
    rounds: int

    def line(self) -> str:
        value = f"{self.seconds * 1e3:10.3f} ms" if self.seconds < 1 else f"{self.seconds:10.2f} s "
        return f"{self.what:<58}{value}  (median of {self.rounds})"


def median_time(fn: Callable[[], object], rounds: int, warm_up: int = 1) -> float:
    for _ in range(warm_up):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(data_dir: str | Path | None = None) -> tuple[list[Figure], list[str]]:
    """The figures, and notes on what could not be measured (e.g. MNIST not found)."""
    rng = np.random.default_rng(0)
    digit = generate_digits(1, np.random.default_rng(1))[0][0]
    canvas = 255 - np.kron(digit, np.ones((10, 10), np.uint8))  # a 280x280 pad: dark ink on white
    photo = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
    batch = rng.random((64, 1, 28, 28), dtype=np.float32)
    figures = [
        Figure(
            "synthetic: 12,000 + 2,000 digits generated",
            median_time(lambda: load_dataset("synthetic"), rounds=3, warm_up=0),
            3,
        ),
        Figure(
            "augment: a batch of 64 (shift, rotate, scale)",
            median_time(lambda: augment(batch, rng), rounds=200),
            200,
        ),
        Figure(
            "prepare_image: a 280x280 uint8 pad canvas",
            median_time(lambda: prepare_image(canvas), rounds=300),
            300,
        ),
        Figure(
            "prepare_image: a 280x280 RGBA picture",
            median_time(lambda: prepare_image(photo), rounds=300),
            300,
        ),
        Figure(
            "prepare_image: a framed 28x28 digit",
            median_time(lambda: prepare_image(digit), rounds=1000),
            1000,
        ),
    ]
    notes = []
    mnist = resolve("mnist", data_dir)
    if mnist.folder is None:
        notes.append("MNIST not found, so its reading was not measured (cnnlab data fetch mnist)")
        return figures, notes
    images = mnist.folder / DATASETS["mnist"].files["train_images"].filename
    try:
        figures.append(
            Figure(
                "read_idx: MNIST's 60,000 training images (gzip)",
                median_time(lambda: read_idx(images, "images"), rounds=5),
                5,
            )
        )
        figures.append(
            Figure(
                "load_dataset: all of MNIST",
                median_time(lambda: load_dataset("mnist", data_dir), rounds=3),
                3,
            )
        )
    except DataError as exc:
        notes.append(f"MNIST could not be read: {exc}")
    return figures, notes


def run_data_bench(data_dir: str | Path | None = None) -> int:
    figures, notes = measure(data_dir)
    for figure in figures:
        print(figure.line())
    for note in notes:
        print(f"note: {note}")
    return 0
