"""Weight initialisers, chosen per layer by name in the spec.

Each draws from a ``np.random.Generator`` it is given (never global state). ``fan_in`` is the number
of inputs feeding one output unit (in_channels * kh * kw for a convolution), ``fan_out`` the number of
outputs one input feeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Initialiser = Callable[[tuple[int, ...], int, int, np.random.Generator], np.ndarray]


def _normal(std: float) -> Callable[[tuple[int, ...], np.random.Generator], np.ndarray]:
    return lambda shape, rng: rng.standard_normal(shape) * std


def _uniform(limit: float) -> Callable[[tuple[int, ...], np.random.Generator], np.ndarray]:
    return lambda shape, rng: rng.uniform(-limit, limit, shape)


def he_normal(shape, fan_in, fan_out, rng):
    """Keeps activation variance through ReLU layers: std = sqrt(2 / fan_in)."""
    return _normal(math.sqrt(2.0 / fan_in))(shape, rng)


def he_uniform(shape, fan_in, fan_out, rng):
    return _uniform(math.sqrt(6.0 / fan_in))(shape, rng)


def glorot_normal(shape, fan_in, fan_out, rng):
    """Balances forward and backward variance for tanh/sigmoid: std = sqrt(2 / (fan_in + fan_out))."""
    return _normal(math.sqrt(2.0 / (fan_in + fan_out)))(shape, rng)


def glorot_uniform(shape, fan_in, fan_out, rng):
    return _uniform(math.sqrt(6.0 / (fan_in + fan_out)))(shape, rng)


def lecun_normal(shape, fan_in, fan_out, rng):
    return _normal(math.sqrt(1.0 / fan_in))(shape, rng)


def lecun_uniform(shape, fan_in, fan_out, rng):
    return _uniform(math.sqrt(3.0 / fan_in))(shape, rng)


def small_normal(shape, fan_in, fan_out, rng):
    """The old habit of std 0.01, whatever the layer: deep nets trained with it learn slowly or not at all."""
    return _normal(0.01)(shape, rng)


INITIALISERS: dict[str, Initialiser] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "small_normal": small_normal,
}


def initialise(
    name: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32
) -> np.ndarray:
    try:
        init = INITIALISERS[name]
    except KeyError:
        known = ", ".join(sorted(INITIALISERS))
        raise ValueError(f"unknown initialiser {name!r}; known: {known}") from None
    return np.asarray(init(shape, fan_in, fan_out, rng), dtype=dtype)
