"""The offline fallback: handwriting-like digits generated in memory, normalised like MNIST.

Each digit 0-9 has a few pen-path templates (how people actually write it: a 1 with or without a flag, an
open or closed 4, a 7 with or without a bar ...), given as waypoints in a unit box (x right, y down) and
joined by Catmull-Rom splines. Every image then gets its own hand:

- the waypoints wobble (independently per point, so shapes change, not just poses);
- slant (shear), small rotation, width (aspect ratio) and a smooth elastic warp of the whole digit;
- pen width and edge softness, and a slowly varying pressure along the stroke.

The pen path is rendered as a line integral of a Gaussian along it, pushed through ``1 - exp(-gain * .)``
so the stroke core saturates like MNIST's and the edges fall off smoothly (anti-aliased for free). A
Gaussian is separable, so an image is a (28, K) by (K, 28) matrix product over the K samples of the path,
batched over images. Like MNIST (see ``preprocess``), the ink's bounding box fits 20x20 and its centre of
mass sits on pixel (14, 14). About 14,000 images take a fraction of a second.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from cnnlab.data.preprocess import BOX, CENTRE, SIZE

Stroke = list[tuple[float, float]]

# Spacing of path samples in the unit box. A unit becomes 15-22 pixels, so samples are under a pixel
# apart, and Gaussians of sigma >= 0.45 px summed at that spacing ripple by under 2%: no beads show.
_SPACING = 0.04
# How much one hand differs from another (unit-box lengths and degrees, standard deviations). More
# variety made a classifier trained on these digits do better on real MNIST, up to where digits stopped
# looking like digits.
WOBBLE = 0.04
ELASTIC = 0.035
ROTATION = 8.0


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int) -> Stroke:
    """Waypoints on an ellipse from ``start`` to ``stop`` degrees; 0 = right, 90 = bottom (y is down)."""
    angles = np.radians(np.linspace(start, stop, n))
    return [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in angles]


@dataclass(frozen=True)
class _Variant:
    weight: float
    strokes: tuple[Stroke, ...]
    closed: tuple[bool, ...]
    wobble: float


def _v(
    weight: float, *strokes: Stroke, closed: tuple[bool, ...] = (), wobble: float | None = None
) -> _Variant:
    """A way of writing a digit, drawn ``weight`` times as often as the others; ``wobble`` caps how far its
    waypoints wander (a 1 is a straight stroke, a 0 a smooth oval, in most hands)."""
    return _Variant(weight, strokes, closed or (False,) * len(strokes), WOBBLE if wobble is None else wobble)


def _templates() -> dict[int, list[_Variant]]:
    """How each digit is written. Strokes that share a point (a corner) share its wobble."""
    loop9 = _arc(0.45, 0.28, 0.3, 0.27, 0, 360, 13)[:-1]
    return {
        0: [
            _v(0.6, _arc(0.5, 0.5, 0.34, 0.47, -90, 270, 13)[:-1], closed=(True,), wobble=0.02),
            # started at the top and overshooting the start, as many people close a 0
            _v(0.4, _arc(0.5, 0.5, 0.34, 0.47, -70, 310, 14), wobble=0.02),
        ],
        1: [
            _v(0.6, [(0.52, 0.0), (0.5, 0.5), (0.48, 1.0)], wobble=0.015),
            _v(0.3, [(0.3, 0.2), (0.52, 0.0)], [(0.52, 0.0), (0.5, 0.5), (0.48, 1.0)], wobble=0.015),
            _v(
                0.1,
                [(0.3, 0.2), (0.52, 0.0)],
                [(0.52, 0.0), (0.5, 0.5), (0.48, 1.0)],
                [(0.3, 1.0), (0.7, 1.0)],
                wobble=0.015,
            ),
        ],
        2: [
            _v(
                0.7,
                [
                    (0.12, 0.25),
                    (0.3, 0.04),
                    (0.58, 0.0),
                    (0.82, 0.15),
                    (0.78, 0.4),
                    (0.55, 0.62),
                    (0.3, 0.82),
                    (0.1, 0.98),
                ],
                [(0.1, 0.98), (0.5, 0.96), (0.92, 0.97)],
            ),
            _v(
                0.3,
                [
                    (0.18, 0.22),
                    (0.33, 0.05),
                    (0.57, 0.01),
                    (0.77, 0.15),
                    (0.73, 0.38),
                    (0.5, 0.62),
                    (0.28, 0.84),
                    (0.2, 0.97),
                    (0.32, 0.98),
                    (0.36, 0.88),
                    (0.5, 0.92),
                    (0.88, 0.96),
                ],
            ),
        ],
        3: [
            _v(
                0.75,
                [(0.2, 0.12), (0.42, 0.01), (0.68, 0.06), (0.75, 0.25), (0.6, 0.42), (0.4, 0.47)],
                [(0.4, 0.47), (0.65, 0.53), (0.8, 0.73), (0.68, 0.93), (0.42, 1.0), (0.18, 0.9)],
            ),
            _v(
                0.25,
                [(0.2, 0.02), (0.78, 0.02)],
                [(0.78, 0.02), (0.45, 0.4)],
                [(0.45, 0.4), (0.7, 0.5), (0.8, 0.72), (0.66, 0.94), (0.4, 1.0), (0.18, 0.9)],
            ),
        ],
        4: [
            _v(
                0.4,
                [(0.45, 0.0), (0.28, 0.32), (0.12, 0.64)],
                [(0.12, 0.64), (0.5, 0.64), (0.88, 0.62)],
                [(0.7, 0.06), (0.69, 0.55), (0.68, 1.0)],
            ),
            _v(
                0.45,
                [(0.2, 0.0), (0.17, 0.3), (0.22, 0.55), (0.5, 0.6), (0.86, 0.53)],
                [(0.74, 0.0), (0.72, 0.5), (0.71, 1.0)],
            ),
            _v(
                0.15,
                [(0.66, 1.0), (0.66, 0.5), (0.66, 0.0)],
                [(0.66, 0.0), (0.1, 0.7)],
                [(0.1, 0.7), (0.9, 0.7)],
            ),
        ],
        5: [
            _v(
                0.5,
                [(0.82, 0.02), (0.52, 0.03), (0.25, 0.02)],
                [(0.25, 0.02), (0.23, 0.24), (0.2, 0.46)],
                [
                    (0.2, 0.46),
                    (0.45, 0.37),
                    (0.72, 0.45),
                    (0.84, 0.68),
                    (0.72, 0.9),
                    (0.45, 1.0),
                    (0.14, 0.9),
                ],
            ),
            # the bar added last, often apart from the body
            _v(
                0.5,
                [(0.27, 0.04), (0.25, 0.25), (0.22, 0.46)],
                [
                    (0.22, 0.46),
                    (0.45, 0.38),
                    (0.72, 0.45),
                    (0.85, 0.68),
                    (0.74, 0.9),
                    (0.48, 1.0),
                    (0.15, 0.9),
                ],
                [(0.31, 0.03), (0.6, 0.02), (0.88, 0.0)],
            ),
        ],
        6: [
            _v(
                0.7,
                [
                    (0.7, 0.0),
                    (0.45, 0.18),
                    (0.27, 0.45),
                    (0.2, 0.72),
                    (0.3, 0.93),
                    (0.52, 1.0),
                    (0.74, 0.9),
                    (0.8, 0.7),
                    (0.65, 0.52),
                    (0.42, 0.5),
                    (0.22, 0.66),
                ],
            ),
            _v(
                0.3,
                [
                    (0.65, 0.0),
                    (0.4, 0.25),
                    (0.25, 0.55),
                    (0.22, 0.8),
                    (0.37, 0.98),
                    (0.6, 0.97),
                    (0.74, 0.8),
                    (0.64, 0.62),
                    (0.42, 0.64),
                    (0.26, 0.8),
                ],
            ),
        ],
        7: [
            _v(0.55, [(0.12, 0.03), (0.5, 0.02), (0.88, 0.03)], [(0.88, 0.03), (0.64, 0.48), (0.48, 1.0)]),
            _v(
                0.2,
                [(0.12, 0.03), (0.5, 0.02), (0.88, 0.03)],
                [(0.88, 0.03), (0.64, 0.48), (0.48, 1.0)],
                [(0.4, 0.52), (0.82, 0.5)],
            ),
            _v(
                0.25,
                [(0.12, 0.15), (0.14, 0.04), (0.5, 0.03), (0.88, 0.03)],
                [(0.88, 0.03), (0.72, 0.35), (0.58, 0.68), (0.52, 1.0)],
            ),
        ],
        8: [
            _v(
                0.7,
                [
                    (0.74, 0.12),
                    (0.5, 0.0),
                    (0.25, 0.1),
                    (0.27, 0.3),
                    (0.5, 0.46),
                    (0.76, 0.62),
                    (0.78, 0.86),
                    (0.5, 1.0),
                    (0.22, 0.86),
                    (0.24, 0.62),
                    (0.5, 0.46),
                    (0.73, 0.3),
                    (0.74, 0.12),
                ],
            ),
            _v(
                0.3,
                _arc(0.5, 0.24, 0.24, 0.23, -90, 270, 11)[:-1],
                _arc(0.5, 0.73, 0.3, 0.27, -90, 270, 11)[:-1],
                closed=(True, True),
            ),
        ],
        9: [
            _v(0.6, loop9, [loop9[0], (0.73, 0.62), (0.68, 1.0)], closed=(True, False)),
            _v(0.4, loop9, [loop9[0], (0.72, 0.62), (0.54, 0.96), (0.3, 0.9)], closed=(True, False)),
        ],
    }


@dataclass(frozen=True)
class _Path:
    """A template ready to sample: ``samples = basis @ waypoints`` gives points evenly spaced along it."""

    weight: float
    waypoints: np.ndarray  # (P, 2)
    basis: np.ndarray  # (K, P)
    stroke_id: np.ndarray  # (K,) which stroke each sample belongs to
    arclength: np.ndarray  # (K,) position along its stroke, 0..1
    wobble: np.ndarray  # (P, 1) how far each waypoint may wander


def _catmull_rom(t: np.ndarray) -> np.ndarray:
    """Uniform Catmull-Rom weights of the four control points, (len(t), 4)."""
    t2, t3 = t * t, t * t * t
    return 0.5 * np.stack([-t + 2 * t2 - t3, 2 - 5 * t2 + 3 * t3, t + 4 * t2 - 3 * t3, -t2 + t3], axis=1)


def _stroke_basis(idx: list[int], closed: bool, n_points: int, waypoints: np.ndarray) -> np.ndarray:
    """Rows of weights over all waypoints giving samples evenly spaced in arc length along one stroke."""
    eye = np.eye(n_points)
    ctrl = [eye[i] for i in idx]
    if closed:
        ctrl = [ctrl[-1], *ctrl, ctrl[0], ctrl[1]]
    else:
        # Reflected phantom ends make the spline start and stop along the first and last legs.
        ctrl = [2 * ctrl[0] - ctrl[1], *ctrl, 2 * ctrl[-1] - ctrl[-2]]
    ctrl_arr = np.array(ctrl)
    dense_t = np.linspace(0.0, 1.0, 24, endpoint=False)
    cr = _catmull_rom(dense_t)
    rows = [cr @ ctrl_arr[j : j + 4] for j in range(len(ctrl) - 3)]
    rows.append(ctrl_arr[-2:-1])  # the last waypoint itself (for a closed stroke, the first again)
    dense = np.concatenate(rows)
    pts = dense @ waypoints
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    k = max(2, int(np.ceil(cum[-1] / _SPACING)) + 1)
    target = np.linspace(0.0, cum[-1], k)
    pos = np.interp(target, cum, np.arange(len(cum)))
    lo = np.minimum(pos.astype(int), len(dense) - 2)
    frac = (pos - lo)[:, None]
    return (1 - frac) * dense[lo] + frac * dense[lo + 1]


@functools.cache
def _paths() -> dict[int, tuple[_Path, ...]]:
    result = {}
    for digit, variants in _templates().items():
        paths = []
        for variant in variants:
            # Shared points (corners, a 9's loop meeting its tail) become one waypoint, so they stay joined.
            keys: dict[tuple[float, float], int] = {}
            stroke_idx = []
            for stroke in variant.strokes:
                stroke_idx.append([keys.setdefault((round(x, 6), round(y, 6)), len(keys)) for x, y in stroke])
            waypoints = np.array(list(keys), dtype=np.float64)
            # A waypoint may wobble by a sixth of the gap to its nearest neighbour along a stroke,
            # so a finely drawn loop keeps its shape instead of kinking.
            gap = np.full(len(waypoints), np.inf)
            blocks, ids, arcs = [], [], []
            for s, (idx, closed) in enumerate(zip(stroke_idx, variant.closed, strict=True)):
                ring = [*idx, idx[0]] if closed else idx
                for a, b in itertools.pairwise(ring):
                    d = float(np.linalg.norm(waypoints[a] - waypoints[b]))
                    gap[a], gap[b] = min(gap[a], d), min(gap[b], d)
                basis = _stroke_basis(idx, closed, len(waypoints), waypoints)
                blocks.append(basis)
                ids.append(np.full(len(basis), s))
                arcs.append(np.linspace(0.0, 1.0, len(basis)))
            paths.append(
                _Path(
                    variant.weight,
                    waypoints,
                    np.concatenate(blocks),
                    np.concatenate(ids),
                    np.concatenate(arcs),
                    np.minimum(variant.wobble, gap / 6)[:, None],
                )
            )
        result[digit] = tuple(paths)
    return result


def generate_digits(
    count: int, rng: np.random.Generator, *, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` synthetic digits: uint8 images (count, 28, 28) and int64 labels (count,), balanced over
    0-9 in random order. The same generator state gives the same images."""
    labels = rng.permutation(np.arange(count) % 10).astype(np.int64)
    images = np.empty((count, SIZE, SIZE), dtype=np.uint8)
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        images[start:stop] = _render_batch(labels[start:stop], rng)
    return images, labels


def _render_batch(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    x, y, stroke, arc = _pen_paths(labels, rng)
    x, y = _hand(x, y, rng)
    # Each sample stands for half of each neighbouring segment of its stroke, so ink per unit of length
    # stays even however the warp spread the samples.
    seg = np.hypot(np.diff(x, axis=1), np.diff(y, axis=1))
    seg *= stroke[:, 1:] == stroke[:, :-1]
    weight = np.zeros_like(x)
    weight[:, 1:] += seg
    weight[:, :-1] += seg
    weight *= 0.5
    # Pen pressure drifts slowly along each stroke.
    cycles, phase = rng.uniform((0.3, 0.0), (1.2, 2 * np.pi), (n, 2)).astype(np.float32).T
    weight *= 1.0 + 0.2 * np.sin(2 * np.pi * cycles[:, None] * arc + phase[:, None])

    # The pen: sigma sets the edge softness, core the (saturated) intensity on the centre line,
    # together the width. The ink fades below 1/255 at `reach` from the centre line.
    sigma = rng.uniform(0.45, 0.8, n)
    core = np.exp(rng.uniform(np.log(2.5), np.log(12.0), n))
    reach = sigma * np.sqrt(2 * np.log(255 * core))
    gain = core / (np.sqrt(2 * np.pi) * sigma)

    # Fit the ink's bounding box to the 20-pixel box, centre of mass on (14, 14).
    box = BOX - rng.uniform(0.0, 0.8, n) - 2 * reach
    scale = (box / np.maximum(np.ptp(x, axis=1), np.ptp(y, axis=1))).astype(np.float32)
    mass = weight.sum(axis=1)
    x = (x - ((weight * x).sum(axis=1) / mass)[:, None]) * scale[:, None] + CENTRE
    y = (y - ((weight * y).sum(axis=1) / mass)[:, None]) * scale[:, None] + CENTRE
    weight *= scale[:, None]  # path length in pixels

    ink = _render(x, y, weight * gain.astype(np.float32)[:, None], sigma)
    np.negative(ink, out=ink)
    np.exp(ink, out=ink)
    images = np.rint((1.0 - ink) * 255.0).astype(np.uint8)
    return _recentre(images)


def _pen_paths(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Sampled pen paths with wobbled waypoints: x, y (n, K) in the unit box, and per sample its stroke
    number and position along the stroke. Shorter paths are padded by repeating their last point, a
    zero-length tail that carries no ink."""
    paths = _paths()
    n = len(labels)
    max_k = max(len(p.basis) for ps in paths.values() for p in ps)
    pts = np.empty((n, max_k, 2), dtype=np.float32)
    stroke = np.full((n, max_k), -1, dtype=np.int16)
    arc = np.zeros((n, max_k), dtype=np.float32)
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        if not rows.size:
            continue
        options = paths[digit]
        weights = np.array([p.weight for p in options])
        choice = rng.choice(len(options), size=rows.size, p=weights / weights.sum())
        for v, path in enumerate(options):
            sel = rows[choice == v]
            k = len(path.basis)
            wobble = rng.normal(0.0, 1.0, size=(sel.size, *path.waypoints.shape)) * path.wobble
            sampled = path.basis @ (path.waypoints + wobble)
            pts[sel, :k] = sampled
            pts[sel, k:] = sampled[:, -1:]
            stroke[sel, :k] = path.stroke_id
            arc[sel, :k] = path.arclength
    return pts[..., 0], pts[..., 1], stroke, arc


def _hand(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One writer's hand per image: elastic warp, slant, width and a small rotation, about the centre."""
    n = len(x)
    # Elastic warp: a smooth field made of three random plane waves, a few percent of the digit's size.
    f32 = np.float32
    fx, fy = (rng.normal(0.0, 0.8 * 2 * np.pi, (2, n, 3, 1))).astype(f32)
    phase = rng.uniform(0, 2 * np.pi, (n, 3, 1)).astype(f32)
    amp = rng.normal(0.0, ELASTIC, (n, 2, 3)).astype(f32)
    waves = np.sin(x[:, None, :] * fx + y[:, None, :] * fy + phase)  # (n, 3, K)
    shift = amp @ waves  # (n, 2, K)
    x = x + shift[:, 0] - 0.5
    y = y + shift[:, 1] - 0.5

    slant = np.clip(rng.normal(0.15, 0.2, n), -0.35, 0.6)
    width = rng.uniform(0.75, 1.3, n)
    angle = np.radians(rng.normal(0.0, ROTATION, n))
    cos, sin = np.cos(angle), np.sin(angle)
    # x' = width * x - slant * y (the top leans right), then the rotation.
    m00, m01 = (cos * width)[:, None], (-cos * slant - sin)[:, None]
    m10, m11 = (sin * width)[:, None], (-sin * slant + cos)[:, None]
    return (m00 * x + m01 * y).astype(f32), (m10 * x + m11 * y).astype(f32)


def _render(x: np.ndarray, y: np.ndarray, weight: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """sum_k weight_k * exp(-|pixel - p_k|^2 / (2 sigma^2)) at every pixel, (n, 28, 28).

    The Gaussian is separable, so this is gy @ gx.T with gy[n, row, k] and gx[n, col, k]. Across a straight
    stroke of weights = path length, the sum approximates sqrt(2 pi) sigma exp(-d^2 / (2 sigma^2)).
    """
    # Scaling coordinates by 1 / (sqrt(2) sigma) leaves exp(-(difference)^2).
    s = (1.0 / (np.sqrt(2.0) * sigma)).astype(np.float32)[:, None, None]
    grid = np.arange(SIZE, dtype=np.float32)[None, :, None] * s
    gy = grid - y[:, None, :] * s
    np.square(gy, out=gy)
    np.negative(gy, out=gy)
    np.exp(gy, out=gy)
    gy *= weight[:, None, :]
    gx = grid - x[:, None, :] * s
    np.square(gx, out=gx)
    np.negative(gx, out=gx)
    np.exp(gx, out=gx)
    return gy @ gx.transpose(0, 2, 1)


def _recentre(images: np.ndarray) -> np.ndarray:
    """Whole-pixel shifts so every image's centre of mass is within half a pixel of (14, 14), as in MNIST."""
    f = images.astype(np.float32)
    mass = f.sum(axis=(1, 2))
    idx = np.arange(SIZE, dtype=np.float32)
    cy = f.sum(axis=2) @ idx / mass
    cx = f.sum(axis=1) @ idx / mass
    dy = np.floor(CENTRE - cy + 0.5).astype(int)
    dx = np.floor(CENTRE - cx + 0.5).astype(int)
    for i in np.flatnonzero((dy != 0) | (dx != 0)):
        images[i] = _shift(images[i], dy[i], dx[i])
    return images


def _shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out
