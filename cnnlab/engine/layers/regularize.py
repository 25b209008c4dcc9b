"""Layers that behave differently in training and evaluation: Dropout and BatchNorm."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.base import Layer, ParamLayer


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by
    1 / (1 - rate), so evaluation needs no rescaling and is the identity. Any shape."""

    kind = "dropout"

    def __init__(self, rate: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def forward_bl(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward_bl(self, dout):
        return dout if self._mask is None else dout * self._mask

    def _settings(self):
        return f"rate={self.rate}"


class BatchNorm(ParamLayer):
    """Normalise each channel (or feature) over the batch, then scale by gamma and shift by beta.

    Shapes: (N, C, H, W) -> same, statistics per channel over N, H, W; or (N, F) -> same, per feature.
    Training uses the batch's statistics and updates running averages (unbiased variance, as PyTorch);
    evaluation uses the running averages, so one image is classified the same alone or in a batch.
    """

    kind = "batchnorm"

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        self.channels, self.momentum, self.eps = int(channels), float(momentum), float(eps)
        self._set_params(gamma=np.ones(channels, dtype=dtype), beta=np.zeros(channels, dtype=dtype))
        self.buffers = {
            "running_mean": np.zeros(channels, dtype=dtype),
            "running_var": np.ones(channels, dtype=dtype),
        }
        self._cache: tuple | None = None

    def forward_bl(self, x, training):
        # Batch-last: channel first, so every statistic is a reduction over the trailing axes.
        axes = tuple(range(1, x.ndim))
        bshape = (-1,) + (1,) * (x.ndim - 1)
        if training:
            count = x.size // x.shape[0]
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(bshape)
            var = np.mean(centred * centred, axis=axes)
            m = self.momentum
            unbiased = var * (count / max(count - 1, 1))
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += m * unbiased
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centred = x - mean.reshape(bshape)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = centred * inv_std.reshape(bshape)
        self._cache = (xhat, inv_std, training, axes, bshape)
        return xhat * self.params["gamma"].reshape(bshape) + self.params["beta"].reshape(bshape)

    def backward_bl(self, dout):
        xhat, inv_std, training, axes, bshape = self._cache
        self.grads["gamma"][...] = np.sum(dout * xhat, axis=axes)
        self.grads["beta"][...] = np.sum(dout, axis=axes)
        scale = (self.params["gamma"] * inv_std).reshape(bshape)
        if not training:
            return dout * scale
        # Gradient through the batch mean and variance as well as through x itself.
        mean_d = np.mean(dout, axis=axes).reshape(bshape)
        mean_dx = np.mean(dout * xhat, axis=axes).reshape(bshape)
        return scale * (dout - mean_d - xhat * mean_dx)

    def _settings(self):
        return f"{self.channels}, momentum={self.momentum}, eps={self.eps}"
