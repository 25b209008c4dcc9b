"""A careful, plain NumPy seed net: the yardstick ``cnnlab bench`` measures the engine against.

The seed net (Conv 8@3x3 - ReLU - MaxPool 2 - Conv 16@3x3 - ReLU - MaxPool 2 - Dense 10 on 1x28x28)
written out by hand for this one architecture, with what ``NOTES.md`` records as paying off on small
CNNs in NumPy, and nothing cleverer:

- activations batch-last, (C, H, W, n): im2col copies, pooling windows and the flatten step run over
  long contiguous stretches;
- im2col by one slice copy per kernel offset into a preallocated column matrix (ones row for the
  bias), then one matrix product; col2im by one slice-add per kernel offset;
- max pooling of each window's four positions by element-wise maxima, its backward pass routing each
  window's gradient to its first maximum (as PyTorch does, so ties send it once);
- the batch in micro-batches of 32, so each one's arrays stay in the L2 cache, gradients added up;
- float32 throughout, buffers allocated once.

It keeps no generality (no padding, strides or other layer types) and fuses nothing: each layer is
a separate, textbook step. The engine must be at least as fast as this on the same minute. It trains
with SGD and momentum, like the bench's engine figures, and starts from the engine network's weights,
so its gradients can be checked against the engine's (tests/training/test_bench.py).
"""

from __future__ import annotations

import numpy as np


class SeedNetReference:
    """The seed net's training step and inference, for a fixed input size of 1x28x28.

    Weights are copied from ``weights`` ("conv1.W" (8, 1, 3, 3), "conv1.b", "conv2.W" (16, 8, 3, 3),
    "conv2.b", "dense1.W" (400, 10), "dense1.b"): the engine's ``state_dict()`` of the seed preset.
    """

    MICRO = 32

    def __init__(self, weights: dict[str, np.ndarray], lr: float = 0.01, momentum: float = 0.9) -> None:
        f32 = np.float32
        w1, w2 = weights["conv1.W"], weights["conv2.W"]
        # [W | b] so that the columns' ones row adds the bias inside the product.
        self.a1 = np.concatenate([w1.reshape(8, 9), weights["conv1.b"][:, None]], axis=1).astype(f32)
        self.a2 = np.concatenate([w2.reshape(16, 72), weights["conv2.b"][:, None]], axis=1).astype(f32)
        self.w3 = np.array(weights["dense1.W"], dtype=f32)  # (400, 10)
        self.b3 = np.array(weights["dense1.b"], dtype=f32)
        self.params = [self.a1, self.a2, self.w3, self.b3]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum = lr, momentum
        self._buffers: dict[int, dict[str, np.ndarray]] = {}

    # -- buffers -----------------------------------------------------------------------------------
    def _buf(self, n: int) -> dict[str, np.ndarray]:
        """Every array one micro-batch of ``n`` needs, made once: fresh large arrays cost page faults."""
        found = self._buffers.get(n)
        if found is None:
            shapes = {
                "x": (28, 28, n),
                "cols1": (10, 26, 26, n),
                "a1": (8, 26, 26, n),
                "p1": (8, 13, 13, n),
                "cols2": (73, 11, 11, n),
                "a2": (16, 11, 11, n),
                "p2": (16, 5, 5, n),
                "logits": (10, n),
                "dp2": (400, n),
                "da2": (16, 11, 11, n),
                "dcols2": (72, 11, 11, n),
                "dp1": (8, 13, 13, n),
                "da1": (8, 26, 26, n),
                "left1": (8, 13, 13, n),
                "left2": (16, 5, 5, n),
                "zeros": (8 * 26 * 26 * n,),
            }
            found = {key: np.zeros(shape, np.float32) for key, shape in shapes.items()}
            found["cols1"][9] = 1.0
            found["cols2"][72] = 1.0
            self._buffers[n] = found
        return found

    # -- layers ------------------------------------------------------------------------------------
    @staticmethod
    def _pool(a: np.ndarray, out: np.ndarray, rows: int, cols: int) -> None:
        """2x2 max pool of (C, H, W, n) over the first ``rows`` x ``cols`` positions (floored) into out."""
        np.maximum(a[:, 0:rows:2, 0:cols:2], a[:, 0:rows:2, 1:cols:2], out=out)
        np.maximum(out, a[:, 1:rows:2, 0:cols:2], out=out)
        np.maximum(out, a[:, 1:rows:2, 1:cols:2], out=out)

    @staticmethod
    def _unpool(a, top, grad, da, left, rows: int, cols: int) -> None:
        """The pool's backward pass into ``da`` (zeros outside the windows): each window's gradient
        goes to the first position holding its maximum; ``left`` is scratch of top's shape."""
        left[...] = grad
        for u, v in ((0, 0), (0, 1), (1, 0), (1, 1)):
            target = da[:, u:rows:2, v:cols:2]
            np.multiply(left, a[:, u:rows:2, v:cols:2] == top, out=target)
            left -= target

    def _forward(self, x: np.ndarray, b: dict[str, np.ndarray]) -> np.ndarray:
        """x (28, 28, n) -> logits (10, n); the activations backward needs stay in ``b``."""
        n = x.shape[-1]
        cols1, a1, p1, cols2, a2, p2 = b["cols1"], b["a1"], b["p1"], b["cols2"], b["a2"], b["p2"]
        for i in range(3):
            for j in range(3):
                cols1[3 * i + j] = x[i : i + 26, j : j + 26]
        np.matmul(self.a1, cols1.reshape(10, -1), out=a1.reshape(8, -1))
        # Against an array of zeros NumPy takes its SIMD loop; against the scalar 0, a slower one.
        zeros = b["zeros"]
        np.maximum(a1, zeros.reshape(a1.shape), out=a1)
        self._pool(a1, p1, 26, 26)
        grid2 = cols2[:72].reshape(8, 3, 3, 11, 11, n)
        for i in range(3):
            for j in range(3):
                grid2[:, i, j] = p1[:, i : i + 11, j : j + 11]
        np.matmul(self.a2, cols2.reshape(73, -1), out=a2.reshape(16, -1))
        np.maximum(a2, zeros[: a2.size].reshape(a2.shape), out=a2)
        self._pool(a2, p2, 10, 10)  # the 11th row and column fall outside every window
        logits = b["logits"]
        np.matmul(self.w3.T, p2.reshape(400, n), out=logits)
        logits += self.b3[:, None]
        return logits

    def _backward(self, dlogits: np.ndarray, b: dict[str, np.ndarray]) -> None:
        """dlogits (10, n) -> adds this micro-batch's gradients to ``self.grads``."""
        n = dlogits.shape[-1]
        g1, g2, g3, gb3 = self.grads
        a1, p1, a2, p2, da1, da2 = b["a1"], b["p1"], b["a2"], b["p2"], b["da1"], b["da2"]
        g3 += p2.reshape(400, n) @ dlogits.T
        gb3 += dlogits.sum(axis=1)
        dp2 = b["dp2"]
        np.matmul(self.w3, dlogits, out=dp2)
        # Row and column 10 of da2 stay zero: no window reads them.
        self._unpool(a2, p2, dp2.reshape(p2.shape), da2, b["left2"], 10, 10)
        da2 *= a2 > 0  # ReLU: a2 is positive exactly where its input was
        dz2 = da2.reshape(16, -1)
        g2 += dz2 @ b["cols2"].reshape(73, -1).T
        dcols2 = b["dcols2"]
        np.matmul(self.a2[:, :72].T, dz2, out=dcols2.reshape(72, -1))
        dcols2 = dcols2.reshape(8, 3, 3, 11, 11, n)
        dp1 = b["dp1"]
        dp1.fill(0)
        for i in range(3):
            for j in range(3):
                dp1[:, i : i + 11, j : j + 11] += dcols2[:, i, j]
        self._unpool(a1, p1, dp1, da1, b["left1"], 26, 26)
        da1 *= a1 > 0
        g1 += da1.reshape(8, -1) @ b["cols1"].reshape(10, -1).T

    # -- the public steps --------------------------------------------------------------------------
    def gradients(self, images: np.ndarray, labels: np.ndarray) -> float:
        """images (N, 1, 28, 28) float32, labels (N,) -> mean cross-entropy; fills ``self.grads``."""
        total = len(images)
        for g in self.grads:
            g.fill(0)
        loss = 0.0
        for start in range(0, total, self.MICRO):
            xs = images[start : start + self.MICRO, 0]
            n = len(xs)
            b = self._buf(n)
            x = b["x"]
            x[...] = xs.transpose(1, 2, 0)
            logits = self._forward(x, b)
            shifted = logits - logits.max(axis=0)
            e = np.exp(shifted)
            s = e.sum(axis=0)
            ys = labels[start : start + n]
            cols = np.arange(n)
            loss -= float((shifted[ys, cols] - np.log(s)).sum())
            dlogits = e / s
            dlogits[ys, cols] -= 1.0
            dlogits *= np.float32(1.0 / total)
            self._backward(dlogits, b)
        return loss / total

    def train_step(self, images: np.ndarray, labels: np.ndarray) -> float:
        """One SGD-momentum step on a batch; returns its loss."""
        loss = self.gradients(images, labels)
        for p, g, v in zip(self.params, self.grads, self.velocity, strict=True):
            v *= self.momentum
            v += g
            p -= self.lr * v
        return loss

    def predict(self, images: np.ndarray) -> np.ndarray:
        """images (N, 1, 28, 28) -> logits (N, 10), in micro-batches."""
        out = []
        for start in range(0, len(images), self.MICRO):
            xs = images[start : start + self.MICRO, 0]
            b = self._buf(len(xs))
            b["x"][...] = xs.transpose(1, 2, 0)
            out.append(self._forward(b["x"], b).T.copy())
        return np.concatenate(out)

    def named_gradients(self) -> dict[str, np.ndarray]:
        """The gradients under the engine's names and shapes (for checking against the engine)."""
        g1, g2, g3, gb3 = self.grads
        return {
            "conv1.W": g1[:, :9].reshape(8, 1, 3, 3),
            "conv1.b": g1[:, 9],
            "conv2.W": g2[:, :72].reshape(16, 8, 3, 3),
            "conv2.b": g2[:, 72],
            "dense1.W": g3,
            "dense1.b": gb3,
        }
