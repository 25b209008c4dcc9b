"""Turn a drawing into what an MNIST image is, so a network trained on MNIST can read it.

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled to fit a 20x20 box keeping its aspect
ratio, anti-aliased, and pasted into 28x28 so that its centre of mass lands on the centre, shifting by whole
pixels. In real MNIST the centre of mass sits at row 14.0, column 14.0 (pixel centres at integer indices,
spread +-0.29 from the rounding), so that is the target here too.
"""

from __future__ import annotations

import numpy as np

from cnnlab.data.errors import EmptyDrawing

SIZE = 28
BOX = 20
CENTRE = 14.0
# Soft fringes fainter than this (after the contrast stretch) do not count towards the bounding box, so a
# blurry pen is measured by its stroke, not by its halo.
INK_THRESHOLD = 0.25
# Less contrast than this between ink and background is an empty canvas, not a faint digit.
MIN_CONTRAST = 0.25
# Ink whose bounding box is shorter than this fraction of the canvas is a speck (a click), not a digit.
MIN_EXTENT = 0.1


def preprocess_drawing(image: np.ndarray, *, box: int = BOX) -> np.ndarray:
    """A drawing of any size -> an MNIST-style float32 (28, 28) image in [0, 1], ink bright.

    ``image`` is (H, W) or (H, W, 3|4) with alpha ignored; integers (0 .. the type's maximum) or floats
    (0 .. 1; floats above 1 are taken as 0 .. 255). White-on-black and black-on-white are both accepted:
    the background is the majority colour of the border. Raises ``EmptyDrawing`` for an empty canvas or a
    speck. Enlarging a tiny input uses area weighting, so it comes out a little blocky.
    """
    a = _to_grey(image)
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    background = float(np.median(border))
    full = float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else (255.0 if a.max() > 1.0 else 1.0)
    # Work on the raw canvas in its own units; only the cropped digit is ever converted to float.
    dark_ink = background > full / 2
    ink_level = float(a.min() if dark_ink else a.max())
    contrast = abs(ink_level - background)
    if contrast < MIN_CONTRAST * full:
        raise EmptyDrawing("the drawing is empty: there is no ink on the canvas")
    if dark_ink:
        ink = a < background - INK_THRESHOLD * contrast
    else:
        ink = a > background + INK_THRESHOLD * contrast
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = r1 - r0, c1 - c0
    if max(h, w) < MIN_EXTENT * max(a.shape):
        raise EmptyDrawing(
            f"the drawing is nearly empty: its ink spans only {max(h, w)} of {max(a.shape)} pixels"
        )
    crop = a[r0:r1, c0:c1].astype(np.float32)
    crop -= background
    crop *= np.float32(1.0 / (ink_level - background))
    np.clip(crop, 0.0, 1.0, out=crop)
    return fit_and_centre(crop, box=box)


def fit_and_centre(crop: np.ndarray, *, box: int = BOX) -> np.ndarray:
    """Scale an ink bounding box (float, ink bright) to fit ``box`` x ``box`` keeping its aspect ratio,
    with area-averaging anti-aliasing, and paste it into 28x28 with its centre of mass at (14, 14)."""
    h, w = crop.shape
    scale = box / max(h, w)
    crop = crop.astype(np.float32, copy=False)
    # Averaging whole k x k blocks first is a cheap reshape-sum (one axis at a time: NumPy's two-axis
    # reduction is several times slower); the exact resample then handles the fractional rest.
    k = int(1.0 / scale + 1e-6)
    if k >= 2:
        padded = np.zeros((-(-h // k) * k, -(-w // k) * k), dtype=np.float32)
        padded[:h, :w] = crop
        rows = padded.reshape(padded.shape[0] // k, k, padded.shape[1]).sum(axis=1)
        crop = rows.reshape(rows.shape[0], rows.shape[1] // k, k).sum(axis=2) * np.float32(1.0 / (k * k))
        scale, h, w = scale * k, h / k, w / k
    small = _area_resample(_area_resample(crop, scale, h).T, scale, w).T
    peak = small.max()
    if peak <= 0:
        raise EmptyDrawing("the drawing is empty: there is no ink on the canvas")
    # A thin pen shrunk tenfold greys out; MNIST strokes are saturated, so stretch the brightest to 1.
    small *= 1.0 / peak
    mass = small.sum()
    cy = small.sum(axis=1) @ np.arange(small.shape[0], dtype=np.float32) / mass
    cx = small.sum(axis=0) @ np.arange(small.shape[1], dtype=np.float32) / mass
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    _paste(out, small, int(np.floor(CENTRE - cy + 0.5)), int(np.floor(CENTRE - cx + 0.5)))
    return np.clip(out, 0.0, 1.0, out=out)


def _area_resample(a: np.ndarray, scale: float, length: float) -> np.ndarray:
    """Resize axis 0, whose content spans ``length`` pixels (zeros may follow), by ``scale`` with exact
    area averaging (a box filter).

    Each output pixel is the integral of the piecewise-constant source over its footprint: the whole
    source pixels inside it (one ``add.reduceat`` pass) plus the fractions at both ends. This avoids a
    BLAS matrix product, whose thread start-up costs milliseconds on a busy machine. The output length is
    ``ceil(len * scale)``, the fractional remainder split between both ends.
    """
    extent = length * scale
    n_out = max(1, int(np.ceil(extent - 1e-6)))
    offset = (n_out - extent) / 2
    # Source coordinates of the output pixels' edges: a whole part and a fraction of the next pixel.
    pos = np.clip((np.arange(n_out + 1) - offset) / scale, 0.0, a.shape[0])
    whole = np.minimum(pos.astype(np.intp), a.shape[0] - 1)
    frac = (pos - whole).astype(np.float32).reshape(-1, *([1] * (a.ndim - 1)))
    blocks = np.add.reduceat(a, whole, axis=0)[:-1]
    # reduceat yields a[i] rather than 0 for an empty range (two edges inside one source pixel).
    blocks[whole[:-1] >= whole[1:]] = 0.0
    edge = frac * a[whole]
    return (blocks + edge[1:] - edge[:-1]) * np.float32(scale)


def _paste(out: np.ndarray, small: np.ndarray, top: int, left: int) -> None:
    """out[top:, left:] = small, clipped to out's edges (a lopsided digit may lose a rim, as in MNIST)."""
    h, w = small.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, out.shape[0]), min(left + w, out.shape[1])
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = small[y0 - top : y1 - top, x0 - left : x1 - left]


def _to_grey(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        grey = a[..., :3].mean(axis=2, dtype=np.float32)
        a = grey.round().astype(a.dtype) if a.dtype.kind in "ui" else grey
    elif a.ndim != 2:
        raise ValueError(f"a drawing must be (H, W) or (H, W, 3|4), got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"a drawing must be at least 2x2 pixels, got {a.shape[0]}x{a.shape[1]}")
    if a.dtype.kind == "b":
        return a.astype(np.uint8) * np.uint8(255)
    if a.dtype.kind not in "uif":
        raise ValueError(f"a drawing must hold numbers, got dtype {a.dtype}")
    return a
