"""Mini-batches, a validation split and on-the-fly augmentation, all driven by a ``np.random.Generator``.

The same generator state gives the same batches in the same order, and the same augmented pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cnnlab.data.datasets import to_float_nchw


def batch_indices(
    n: int, batch_size: int, rng: np.random.Generator | None = None, *, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` once, in batches of ``batch_size``.

    Shuffled with ``rng`` (in order without one). The last batch is smaller when ``batch_size`` does not
    divide ``n``; ``drop_last`` leaves it out instead (those items then wait for the next epoch's shuffle).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def validation_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into sorted, disjoint (train, validation) index arrays; the validation part has
    ``round(n * fraction)`` items chosen at random (at least one if ``fraction > 0`` and ``n > 1``)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    count = round(n * fraction)
    if fraction > 0 and n > 1:
        count = min(max(count, 1), n - 1)
    order = rng.permutation(n)
    return np.sort(order[count:]), np.sort(order[:count])


@dataclass(frozen=True)
class Augmentation:
    """Settings for ``augment``: shift in pixels, rotation in degrees, relative scale change (each +-)."""

    shift: float = 2.0
    rotate_deg: float = 10.0
    scale: float = 0.1

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment(images, rng, shift=self.shift, rotate_deg=self.rotate_deg, scale=self.scale)


def iterate_batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    *,
    drop_last: bool = False,
    augmentation: Augmentation | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of (x, y) batches: x float32 (B, 1, H, W) in [0, 1], y the matching labels.

    ``images`` may be uint8 (N, H, W), converted a batch at a time so the whole set is never held as
    float, or already float (N, C, H, W). ``augmentation`` (None for none) may differ from epoch to epoch.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    for idx in batch_indices(len(images), batch_size, rng, drop_last=drop_last):
        x = images[idx]
        x = to_float_nchw(x) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        if augmentation is not None:
            if rng is None:
                raise ValueError("augmentation needs a random generator")
            x = augmentation(x, rng)
        yield x, labels[idx]


def augment(
    images: np.ndarray,
    rng: np.random.Generator,
    shift: float = 2.0,
    rotate_deg: float = 10.0,
    scale: float = 0.1,
) -> np.ndarray:
    """Randomly shift, rotate and scale each image of a float batch (B, C, H, W); returns a new float32
    batch of the same shape.

    Each image gets its own shift in [-shift, shift] pixels (per axis), angle in [-rotate_deg, rotate_deg]
    and scale in [1 - scale, 1 + scale] about its centre. Every output pixel looks up where it came from
    (inverse mapping) and interpolates bilinearly; what comes from outside the image is background (0).
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"augment expects a batch shaped (B, C, H, W), got {x.shape}")
    b = len(x)
    angle = np.radians(rng.uniform(-rotate_deg, rotate_deg, b))
    zoom = rng.uniform(1.0 - scale, 1.0 + scale, b)
    ty, tx = rng.uniform(-shift, shift, (2, b))
    # A few images at a time keeps every temporary small: cache-sized, and under the size where malloc
    # maps fresh pages from the kernel, which made whole-batch work several times slower.
    out = np.empty_like(x)
    for i in range(0, b, _CHUNK):
        part = slice(i, i + _CHUNK)
        out[part] = _warp(x[part], angle[part], zoom[part], ty[part], tx[part])
    return out


_CHUNK = 8


def _warp(x: np.ndarray, angle: np.ndarray, zoom: np.ndarray, ty: np.ndarray, tx: np.ndarray) -> np.ndarray:
    b, c, h, w = x.shape
    # Output pixel p came from centre + R(-angle) (p - centre - t) / zoom; float32 halves the memory traffic.
    f32 = np.float32
    cos = (np.cos(angle) / zoom).astype(f32)[:, None, None]
    sin = (np.sin(angle) / zoom).astype(f32)[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    oy = (np.arange(h, dtype=f32) - f32(cy))[None, :, None] - ty.astype(f32)[:, None, None]
    ox = (np.arange(w, dtype=f32) - f32(cx))[None, None, :] - tx.astype(f32)[:, None, None]
    sy = cos * oy - sin * ox + f32(cy)
    sx = sin * oy + cos * ox + f32(cx)

    # Source coordinates are clipped to [-1, size], and a zero border (one pixel before, two after) catches
    # both neighbours of anything that falls outside, so lookups there read background.
    np.clip(sy, -1.0, h, out=sy)
    np.clip(sx, -1.0, w, out=sx)
    y0f = np.floor(sy)
    x0f = np.floor(sx)
    wy = (sy - y0f).reshape(b, 1, -1)
    wx = (sx - x0f).reshape(b, 1, -1)
    stride = w + 3
    plane = (h + 3) * stride
    padded = np.zeros((b, c, h + 3, stride), dtype=np.float32)
    padded[:, :, 1 : h + 1, 1 : w + 1] = x
    # Flat index of the top-left neighbour in the padded batch, per image and channel, worked out in
    # float64 (exact far beyond any batch size): NumPy's integer arithmetic is several times slower.
    offsets = (np.arange(b) * (c * plane))[:, None, None] + (np.arange(c) * plane)[None, :, None]
    base = ((y0f + 1) * stride + (x0f + 1)).reshape(b, 1, -1) + offsets
    corners = base.astype(np.intp)[None] + np.array([0, 1, stride, stride + 1])[:, None, None, None]
    v00, v01, v10, v11 = np.take(padded.ravel(), corners)
    # In place: fresh temporaries are what this costs most on systems where large allocations are slow.
    v01 -= v00
    v01 *= wx
    v01 += v00
    v11 -= v10
    v11 *= wx
    v11 += v10
    v11 -= v01
    v11 *= wy
    v11 += v01
    return v11.reshape(b, c, h, w)
