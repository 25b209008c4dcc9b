"""Batch normalisation: each channel normalised over the batch, then rescaled."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.layers.base import ParamLayer
from cnnlab.engine.layers.settings import Fraction, Number


class BatchNorm(ParamLayer):
    """Normalise each channel (or feature) over the batch, then scale by gamma and shift by beta.

    Shapes: (N, C, H, W) -> same, statistics per channel over N, H, W; or (N, F) -> same, per feature.
    Training uses the batch's statistics and updates running averages (unbiased variance, as PyTorch);
    evaluation uses the running averages, so one image is classified the same alone or in a batch.
    """

    kind = "batchnorm"
    label = "Batch normalisation"
    description = "Normalises each channel over the batch, then rescales it with learned gamma and beta."
    name_prefix, display_prefix = "bn", "BN"
    family = "normalisation"
    # Its statistics couple the images of a batch: cut into micro-batches, it would normalise otherwise.
    splittable = False
    pointwise = True
    settings = (
        Fraction(
            "momentum",
            0.1,
            help="How quickly the running mean and variance used for evaluation follow each batch.",
        ),
        Number(
            "eps",
            1e-5,
            help="A small number added to the variance so the normalisation never divides by zero.",
            above=0.0,
            largest=1.0,
        ),
    )

    @classmethod
    def weight_shapes(cls, s, shape):
        return {"gamma": (shape[0],), "beta": (shape[0],)}

    @classmethod
    def buffer_shapes(cls, s, shape):
        return {"running_mean": (shape[0],), "running_var": (shape[0],)}

    @classmethod
    def step_elements(cls, s, shape, out):
        return 4 * math.prod(out)  # output, the normalised input kept for backward, two temporaries

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(shape[0], s["momentum"], s["eps"], dtype)

    @classmethod
    def describe(cls, s):
        return "batch norm"

    @classmethod
    def params_formula(cls, s, shape, out, params):
        return f"a scale and a shift per channel: 2×{shape[0]:,} = {params:,}"

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        self.channels, self.momentum, self.eps = int(channels), float(momentum), float(eps)
        self._set_params(gamma=np.ones(channels, dtype=dtype), beta=np.zeros(channels, dtype=dtype))
        self.buffers = {
            "running_mean": np.zeros(channels, dtype=dtype),
            "running_var": np.ones(channels, dtype=dtype),
        }
        self._cache: tuple = ()  # what forward left for backward

    def config(self):
        return {"momentum": self.momentum, "eps": self.eps}

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
