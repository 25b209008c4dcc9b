"""Your digits, the window's side of them: what Test results measures, importing and exporting pictures,
and fine-tuning the network on your digits mixed with MNIST with a before/after measurement.

The collection itself is ``app.collection.Collection``; the views are the pad's keep row and the Data
workspace's browser (``views.mine_browser``). Measuring runs off the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from cnnlab.app.runner import TaskGroup, describe_exception
from cnnlab.app.worker import START_ERRORS
from cnnlab.data import DataError
from cnnlab.engine import Checkpoint

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow


class DigitsCommands(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._tasks = TaskGroup(self)
        self._job: dict | None = None  # the fine-tuning run going, and what it is measured against
        self.results: list | None = None  # (what, before, after) of the last fine-tuning

    def shutdown(self) -> None:
        self._tasks.shutdown()

    def run_ended(self, session) -> None:
        """The window tells of every run's end: a fine-tuning run's end is measured."""
        if self._job is not None and session is not None and session.run_id == self._job["run"]:
            self._finetune_ended()

    def measure_on(self, source: str) -> None:
        """What Test results measures: "test" (the dataset's test set), "mine-all" or "mine-test" (your
        digits, all of them or the held-out fifth that training on them never sees)."""
        from cnnlab.app.views.evaluation import TestEvaluator

        evaluator = TestEvaluator.shared(self.window.state)
        state = self.window.collection.state
        if source == "test":
            evaluator.use_images(None)
            return
        if state is None or not len(state):
            self.window.show_error(
                "You have no digits of your own yet: draw one on the pad (Look inside) and press its number "
                "to keep it.",
                level="warn",
                topic="collection",
            )
            return
        keep = state.test_mask if source == "mine-test" else np.ones(len(state), bool)
        if not keep.any():
            self.window.show_error(
                "None of your digits is held out for testing yet: keep a few more.", level="warn"
            )
            return
        words = "of your digits (held out)" if source == "mine-test" else "of your digits"
        evaluator.use_images(state.images[keep], state.labels[keep].astype(np.int64), words)

    def import_digits(self, folder: str) -> None:
        """Add a folder of PNG/JPEG pictures to your digits (decoded with QImage in the save's thread)."""
        from cnnlab.app.views.drawing import qimage_to_rgba
        from cnnlab.data.mine import image_files

        try:
            files = image_files(folder)
        except DataError as exc:
            self.window.show_error(f"Could not import: {exc}", topic="collection")
            return
        pairs = []
        for name, path in files:
            image = QImage(str(path))
            if image.isNull():
                self.window.show_error(
                    f"Could not import: {name} is not a picture Qt can read", topic="collection"
                )
                return
            pairs.append((name, qimage_to_rgba(image)))
        self.window.collection.import_images(pairs)
        self.window.statusBar().showMessage(f"Importing {len(pairs)} pictures from {folder}...", 5000)

    def export_digits(self, folder: str, layout: str = "by-label") -> None:
        from cnnlab.app.views.drawing import png_bytes

        self.window.collection.export_pngs(folder, png_bytes, layout)
        self.window.statusBar().showMessage(f"Exporting your digits to {folder}...", 5000)

    def start_finetune(self, share: float, epochs: int, lr: float) -> bool:
        """Train the network the views show further on your digits mixed with MNIST (``share`` of each
        batch from MNIST); before and after, measure it on your held-out digits and on MNIST's test set."""
        from cnnlab.app.views.common import private_copy
        from cnnlab.data import MixedDataset, load_mine, mix_datasets
        from cnnlab.training.headless import starting_weights

        base = self.window.state.dataset
        if isinstance(base, MixedDataset):
            base = base.other
        network = self.window.state.inspector()
        if base is None or network is None:
            self.window.show_error(
                "Fine-tuning needs MNIST loaded (Data) and a network.", level="warn", topic="data"
            )
            return False
        try:
            mine = load_mine(self.window.collection.store.root)
            mix = mix_datasets(mine, base, float(share), seed=self.window.state.config.seed)
        except (DataError, ValueError) as exc:
            self.window.show_error(f"Fine-tuning cannot start: {describe_exception(exc)}", topic="collection")
            return False
        before = private_copy(network)
        checkpoint = starting_weights(Checkpoint(network.spec, before.state_dict()))
        config = self.window.state.config.replace(
            dataset=mix.name,
            epochs=int(epochs),
            lr=float(lr),
            train_limit=None,
            spec=network.spec,
            validation=0,  # your digits have their own held-out part; none of them is set aside again
        )
        try:
            session = self.window.controller.start(config, mix, checkpoint)
        except START_ERRORS as exc:
            self.window.show_error(
                f"Fine-tuning could not start: {describe_exception(exc)}", topic="training"
            )
            return False
        self._job = {"run": session.run_id, "mine": mine, "base": base, "before": before}
        self.window.state.start_run(session.run_id)
        self.window.show_view("curves")
        return True

    def _finetune_ended(self) -> None:
        """Before and after, on your held-out digits and on MNIST's test set, off the GUI thread."""
        from cnnlab.app.views.common import private_copy
        from cnnlab.training.metrics import evaluate_network

        job, self._job = self._job, None
        after = self.window.state.inspector()
        if job is None or after is None or self.window.state.run_id != job["run"]:
            return
        after = private_copy(after)
        mine, base = job["mine"], job["base"]

        def work(task_state):
            rows = []
            for what, data in (("your held-out digits", mine), (f"{base.name} test set", base)):
                k = len(data.class_names)
                accuracy = [evaluate_network(n, data.test_images, data.test_labels, k)[0]
                            for n in (job["before"], after)]  # fmt: skip
                rows.append((what, accuracy[0], accuracy[1]))
            return rows

        task = self._tasks.run(work, "finetune-measure", start=False)
        task.done.connect(self._show_before_after)
        task.start()

    def _show_before_after(self, rows) -> None:
        self.results = rows
        browser = self.window.view("mine")
        if browser is not None:
            browser.set_before_after(rows)
        words = "; ".join(f"{what}: {a:.1%} -> {b:.1%}" for what, a, b in rows)
        self.window.statusBar().showMessage(f"Fine-tuned. {words}", 15000)
