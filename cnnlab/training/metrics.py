"""Small metric helpers shared by the session, the CLI and the views' tests."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from cnnlab.data import to_float_nchw
from cnnlab.engine import log_softmax


class Evaluates(Protocol):
    """What the metrics need of a network: an engine ``Network`` or a ``WorkerPool`` spreading it."""

    def forward(self, x: np.ndarray, training: bool = ...) -> np.ndarray: ...


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts; rows are the true class, columns the predicted class."""
    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal over row sums); NaN for a class with no examples."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


def evaluate_network(
    network: Evaluates, images: np.ndarray, labels: np.ndarray, num_classes: int, chunk: int = 1000
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(accuracy, mean cross-entropy, per-class accuracy, confusion) in evaluation mode. ``network``:
    anything with a network's ``forward`` (a ``parallel.WorkerPool`` too).

    ``images`` are uint8 (N, H, W), converted a chunk at a time so the whole set is never held as
    float, or already float (N, C, H, W).
    """
    return scores(network_logits(network, images, num_classes, chunk), labels, num_classes)


def network_logits(network: Evaluates, images: np.ndarray, num_classes: int, chunk: int = 1000) -> np.ndarray:
    """(N, K) logits in evaluation mode, ``chunk`` images at a time (see ``evaluate_network``)."""
    logits = np.empty((len(images), num_classes), dtype=np.float32)
    for i in range(0, len(images), chunk):
        part = images[i : i + chunk]
        x = to_float_nchw(part) if part.dtype == np.uint8 else part
        logits[i : i + chunk] = network.forward(x, training=False)
    return logits


def scores(
    logits: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(accuracy, mean cross-entropy, per-class accuracy, confusion) of (N, K) logits."""
    predictions = logits.argmax(axis=1)
    with np.errstate(all="ignore"):
        loss = (
            float(-np.mean(log_softmax(logits)[np.arange(len(labels)), labels])) if len(labels) else math.nan
        )
    confusion = confusion_matrix(labels, predictions, num_classes)
    accuracy = float(np.mean(predictions == labels)) if len(labels) else math.nan
    return accuracy, loss, per_class_accuracy(confusion), confusion
