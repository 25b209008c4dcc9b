"""The layer contract every layer class follows.

Public shapes are NCHW (images) and (N, features) (flat), float32 unless a test asks for float64.
Inside a network, activations travel *batch-last*: (C, H, W, N) and (features, N). In that layout
im2col copies, pooling windows and the flatten step all run over long contiguous stretches (the batch
is innermost), and flatten becomes a free reshape; measured, it made pooling and its backward several
times faster than NCHW. Each layer therefore implements its maths once, batch-last
(``forward_bl``/``backward_bl``), and the public ``forward``/``backward`` translate from and to the
batch-first layout for callers that hold NCHW arrays.
"""

from __future__ import annotations

import numpy as np


def to_batch_last(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (..., N), contiguous."""
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))


def to_batch_first(x: np.ndarray) -> np.ndarray:
    """(..., N) -> (N, ...), contiguous."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 0))


class Layer:
    """One operation of the network, with its forward and backward pass.

    ``params`` and ``grads`` hold the same keys; ``backward`` overwrites ``grads`` (it does not
    accumulate). ``buffers`` holds state that is saved with the weights but never trained
    (BatchNorm's running statistics). A layer caches only what its backward needs.
    ``need_input_grad`` is cleared by the network for layers whose input gradient nobody uses
    (the first layer with weights), which saves a whole col2im pass per step.
    """

    kind = "layer"

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.name = self.kind
        self.need_input_grad = True

    # -- the public, batch-first API -------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x: (N, C, H, W) or (N, F) -> output in the same batch-first convention."""
        return to_batch_first(self.forward_bl(to_batch_last(x), training))

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: gradient of the loss w.r.t. the last ``forward`` output -> gradient w.r.t. its input."""
        dx = self.backward_bl(to_batch_last(dout))
        return None if dx is None else to_batch_first(dx)

    # -- the batch-last implementation -----------------------------------------------------------
    def forward_bl(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape (no batch axis) for a per-example input shape."""
        return input_shape

    def astype(self, dtype: np.dtype) -> None:
        """Convert parameters and buffers (float64 for gradient checks, float32 to train)."""
        for store in (self.params, self.grads, self.buffers):
            for key, value in store.items():
                store[key] = value.astype(dtype)

    def _settings(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings()})"


class ParamLayer(Layer):
    """A layer with weights: allocates its gradient arrays alongside its parameters."""

    def _set_params(self, **arrays: np.ndarray) -> None:
        self.params = dict(arrays)
        self.grads = {key: np.zeros_like(value) for key, value in arrays.items()}
