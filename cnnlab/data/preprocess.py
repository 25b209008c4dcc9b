"""MNIST's framing recipe, applied to an ink bounding box (``images.prepare_image`` finds the ink).

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled to fit a 20x20 box keeping its aspect
ratio, anti-aliased, and pasted into 28x28 so that its centre of mass lands on the centre, shifting by whole
pixels. In real MNIST the centre of mass sits at row 14.0, column 14.0 (pixel centres at integer indices,
spread +-0.29 from the rounding), so that is the target here too. One departure: a lopsided digit whose
centring would push ink to the frame's edge is shifted back just enough to keep a ``MARGIN`` of paper.
"""

from __future__ import annotations

import numpy as np

from cnnlab.data.errors import EmptyDrawing

SIZE = 28
BOX = 20
CENTRE = 14.0
# The centring by centre of mass never pushes ink into (or past) the outermost rows and columns: a 7's
# mass sits in its top bar, and centring it alone used to cut off the end of its tail.
MARGIN = 1


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
    top = _inside(int(np.floor(CENTRE - cy + 0.5)), small.shape[0])
    left = _inside(int(np.floor(CENTRE - cx + 0.5)), small.shape[1])
    _paste(out, small, top, left)
    return np.clip(out, 0.0, 1.0, out=out)


def _inside(start: int, length: int) -> int:
    """``start`` moved as little as needed to keep ``length`` pixels within the frame, inside MARGIN."""
    highest = SIZE - MARGIN - length
    if highest < MARGIN:  # a box larger than the frame less its margins: centred, clipped at both ends
        return (SIZE - length) // 2
    return min(max(start, MARGIN), highest)


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
