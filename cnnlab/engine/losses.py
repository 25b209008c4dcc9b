"""Softmax and the softmax cross-entropy loss."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from logits; shifting by the max keeps exp from overflowing."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (N, K) against integer ``labels`` (N,), and its gradient.

    Returns (loss, dlogits) with dlogits (N, K) = (softmax(logits) - one_hot(labels)) / N. The loss is
    computed from log-softmax, never log(softmax), so a confident wrong answer gives a large finite
    loss instead of log(0).
    """
    n = logits.shape[0]
    rows = np.arange(n)
    labels = np.asarray(labels, dtype=np.intp)
    logp = log_softmax(logits, axis=1)
    loss = float(-logp[rows, labels].mean())
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def softmax_cross_entropy_parts(
    logits: np.ndarray, labels: np.ndarray, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """``softmax_cross_entropy`` for one part of a batch of ``total`` examples: each example's loss (n,)
    and dlogits (n, K) divided by ``total``. The parts' losses, concatenated, average to the batch's
    loss, and their dlogits are the batch's rows, to the bit."""
    n = logits.shape[0]
    rows = np.arange(n)
    labels = np.asarray(labels, dtype=np.intp)
    logp = log_softmax(logits, axis=1)
    each = -logp[rows, labels]
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= total
    return each, dlogits
