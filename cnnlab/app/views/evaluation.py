"""The test set classified by a network: what the prediction gallery and the confusion matrix show.

``Evaluation`` is plain data (images, labels, probabilities) with the questions the views ask of it.
``TestEvaluator`` computes one in the GUI thread, in chunks between events so the window stays responsive,
on a private copy of the network's weights (so weights that change half-way cannot mix), at most once per
``interval_ms`` and only while one of its views is visible::

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

from cnnlab.app.views.common import class_names_for, private_copy
from cnnlab.data import to_float_nchw
from cnnlab.engine import Network

CHUNK = 250  # images in the first event-loop turn of an evaluation; then sized to CHUNK_MS
CHUNK_MS = 15.0  # work per turn: short enough that drawing and curves stay fluid, even for big nets


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
        self.evaluation: Evaluation | None = None
        self._viewers: list[QWidget] = []
        self._wanted = False
        self._last_start = -1e9
        self._job: dict | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(0)
        self._tick.timeout.connect(self._work)
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

    def set_dataset(self, dataset) -> None:
        self._dataset = dataset
        self._request(at_once=True)

    def evaluate_now(self) -> Evaluation | None:
        """Evaluate synchronously with the current network and dataset; emits ``evaluated``."""
        self._tick.stop()
        self._job = None
        data = self._data()
        if data is None:
            return None
        self._wanted = False
        self.evaluation = evaluate(self._network, *data, self._class_names)
        self.evaluated.emit(self.evaluation)
        return self.evaluation

    # -- scheduling ---------------------------------------------------------------------------------
    def _data(self):
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
        self._job = {
            "network": private_copy(self._network),
            "images": images,
            "labels": labels,
            "names": self._class_names,
            "parts": [],
            "done": 0,
            "chunk": CHUNK,
        }
        self._tick.start()

    def _work(self) -> None:
        job = self._job
        if job is None:
            self._tick.stop()
            return
        start = job["done"]
        chunk = job["images"][start : start + job["chunk"]]
        began = time.perf_counter()
        job["parts"].append(job["network"].predict_proba(to_float_nchw(chunk)).astype(np.float32))
        took_ms = max((time.perf_counter() - began) * 1000, 0.1)
        job["chunk"] = int(np.clip(len(chunk) * CHUNK_MS / took_ms, 16, 2000))
        job["done"] = start + len(chunk)
        total = len(job["images"])
        self.progress.emit(job["done"], total)
        if job["done"] >= total:
            self._tick.stop()
            self._job = None
            self.evaluation = Evaluation(
                job["images"], job["labels"], np.concatenate(job["parts"]), job["names"]
            )
            self.evaluated.emit(self.evaluation)
            if self._wanted:
                self._maybe_start()
