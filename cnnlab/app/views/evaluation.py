"""The test set classified by a network: what the prediction gallery and the confusion matrix show.

``Evaluation`` is plain data (images, labels, probabilities) with the questions the views ask of it.
``TestEvaluator`` computes one as a task of the app's runner (off the GUI thread, so the window stays
fluid), on a private copy of the network's weights (so weights that change half-way cannot mix), at most
once per ``interval_ms`` and only while one of its views is visible::

    evaluator = TestEvaluator(parent, interval_ms=4000)   # or TestEvaluator.shared(state): one per AppState
    evaluator.set_network(network, class_names); evaluator.set_dataset(dataset)
    evaluator.evaluated.connect(view.set_evaluation)      # Evaluation
    evaluator.evaluate_now() -> Evaluation | None          # synchronous (tests, scripts)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from cnnlab.app.runner import TaskGroup, TaskHandle
from cnnlab.app.views.common import class_names_for, private_copy
from cnnlab.data import to_float_nchw
from cnnlab.engine import Network

CHUNK = 500  # images per forward pass: progress is reported and cancellation checked between chunks


@dataclass(frozen=True)
class Evaluation:
    images: np.ndarray  # uint8 (N, H, W), the dataset's test images
    labels: np.ndarray  # int (N,)
    probs: np.ndarray  # float32 (N, K)
    class_names: tuple[str, ...]
    predictions: np.ndarray = field(init=False)
    confidence: np.ndarray = field(init=False)  # probability of the predicted class

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictions", self.probs.argmax(axis=1))
        object.__setattr__(self, "confidence", self.probs.max(axis=1))

    @property
    def count(self) -> int:
        return len(self.labels)

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.count else 0.0

    def confusion(self) -> np.ndarray:
        """(K, K) counts, rows = true class, columns = predicted class."""
        k = len(self.class_names)
        return np.bincount(self.labels * k + self.predictions, minlength=k * k).reshape(k, k)

    def per_class_accuracy(self) -> np.ndarray:
        m = self.confusion()
        totals = m.sum(axis=1)
        return np.divide(np.diag(m), totals, out=np.full(len(totals), np.nan), where=totals > 0)

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the images with this (true, predicted) pair, most confident first."""
        idx = np.flatnonzero((self.labels == true) & (self.predictions == predicted))
        return idx[np.argsort(-self.confidence[idx], kind="stable")]

    def mistakes(self) -> np.ndarray:
        """Indices of the misclassified images, most confident (most wrong) first."""
        idx = np.flatnonzero(~self.correct)
        return idx[np.argsort(-self.confidence[idx], kind="stable")]


def evaluate(network: Network, images: np.ndarray, labels: np.ndarray, class_names) -> Evaluation:
    probs = network.predict_proba(to_float_nchw(images)).astype(np.float32)
    return Evaluation(images, labels, probs, tuple(class_names))


class TestEvaluator(QObject):
    __test__ = False  # not a pytest class, despite the name

    evaluated = Signal(object)  # Evaluation
    progress = Signal(int, int)  # images done, total

    def __init__(
        self, parent: QObject | None = None, interval_ms: int = 4000, limit: int | None = None
    ) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.limit = limit  # evaluate only the first N test images (None: all)
        self._network: Network | None = None
        self._class_names: tuple[str, ...] = ()
        self._dataset = None
        self._images: tuple[np.ndarray, np.ndarray, str] | None = None
        self.evaluation: Evaluation | None = None
        self._viewers: list[QWidget] = []
        self._wanted = False
        self._last_start = -1e9
        self._job: TaskHandle | None = None
        self._tasks = TaskGroup(self)
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._maybe_start)

    @classmethod
    def shared(cls, state) -> TestEvaluator:
        """The one evaluator of an ``AppState``, following its inspector network and dataset."""
        found = state.findChild(cls, "cnnlab-test-evaluator")
        if found is not None:
            return found
        evaluator = cls(state)
        evaluator.setObjectName("cnnlab-test-evaluator")
        state.inspectorChanged.connect(lambda net: evaluator.set_network(net, state.class_names))
        state.datasetChanged.connect(evaluator.set_dataset)
        evaluator.set_dataset(state.dataset)
        evaluator.set_network(state.inspector(), state.class_names)
        return evaluator

    def register(self, viewer: QWidget) -> None:
        """A view showing the results; nothing is evaluated while none of them is visible."""
        self._viewers.append(viewer)
        viewer.destroyed.connect(self._forget_dead_viewers)

    def _forget_dead_viewers(self) -> None:
        self._viewers = [v for v in self._viewers if shiboken6.isValid(v)]

    def viewer_shown(self) -> None:
        if self._wanted:
            self._maybe_start()

    def set_network(self, network: Network | None, class_names=None) -> None:
        self._network = network
        self._class_names = class_names_for(network, class_names)
        self._request()

    def use_images(
        self, images: np.ndarray | None, labels: np.ndarray | None = None, title: str = ""
    ) -> None:
        """Evaluate on these images instead of the dataset's test set (your digits); None: the test set."""
        self._images = None if images is None else (np.asarray(images), np.asarray(labels), title)
        self._request(at_once=True)

    @property
    def source_title(self) -> str:
        """What the evaluation is measured on, in words."""
        if self._images is not None:
            return self._images[2]
        return "test images"

    def set_dataset(self, dataset) -> None:
        self._dataset = dataset
        self._request(at_once=True)

    def evaluate_now(self) -> Evaluation | None:
        """Evaluate synchronously with the current network and dataset; emits ``evaluated``."""
        self._cancel_job()
        data = self._data()
        if data is None:
            return None
        self._wanted = False
        self.evaluation = evaluate(self._network, *data, self._class_names)
        self.evaluated.emit(self.evaluation)
        return self.evaluation

    # -- scheduling ---------------------------------------------------------------------------------
    def _data(self):
        if self._network is not None and self._images is not None:
            images, labels, _ = self._images
            if self.limit is not None:
                images, labels = images[: self.limit], labels[: self.limit]
            return images, labels
        if self._network is None or self._dataset is None:
            return None
        images, labels = self._dataset.test_images, self._dataset.test_labels
        if self.limit is not None:
            images, labels = images[: self.limit], labels[: self.limit]
        return images, labels

    def _request(self, at_once: bool = False) -> None:
        self._wanted = True
        if at_once:
            self._last_start = -1e9
        self._maybe_start()

    def _maybe_start(self) -> None:
        if not self._wanted or self._job is not None:
            return
        # A viewer may have been deleted (its panel closed, a test ended): forget it rather than ask
        # a dead C++ object whether it is visible.
        self._viewers = [v for v in self._viewers if shiboken6.isValid(v)]
        if self._viewers and not any(v.isVisible() for v in self._viewers):
            return  # viewer_shown() starts it
        wait = self.interval_ms / 1000 - (time.perf_counter() - self._last_start)
        if wait > 0:
            if not self._later.isActive():
                self._later.start(int(wait * 1000) + 1)
            return
        data = self._data()
        if data is None:
            return
        self._wanted = False
        self._last_start = time.perf_counter()
        images, labels = data
        network, names = private_copy(self._network), self._class_names

        def work(task_state) -> Evaluation:
            parts = []
            for start in range(0, len(images), CHUNK):
                task_state.check()
                chunk = images[start : start + CHUNK]
                parts.append(network.predict_proba(to_float_nchw(chunk)).astype(np.float32))
                task_state.report((start + len(chunk), len(images)))
            probs = np.concatenate(parts) if parts else np.zeros((0, len(names)), np.float32)
            return Evaluation(images, labels, probs, names)

        job = self._tasks.run(work, "evaluate-test-set", start=False)
        job.progress.connect(lambda done_total: self.progress.emit(*done_total))
        job.done.connect(lambda evaluation, j=job: self._on_done(j, evaluation))
        job.finished.connect(lambda j=job: self._on_finished(j))
        self._job = job
        job.start()

    def _cancel_job(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.cancel()

    def _on_done(self, job: TaskHandle, evaluation: Evaluation) -> None:
        if job is not self._job:
            return  # superseded by a synchronous evaluation
        self.evaluation = evaluation
        self.evaluated.emit(evaluation)

    def _on_finished(self, job: TaskHandle) -> None:
        if job is self._job:
            self._job = None
            if self._wanted:
                self._maybe_start()

    def busy(self) -> bool:
        return self._job is not None

    def shutdown(self, timeout_ms: int = 5_000) -> bool:
        self._cancel_job()
        self._later.stop()
        return self._tasks.shutdown(timeout_ms)
