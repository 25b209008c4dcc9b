"""One rule for preparing an image for the network: any decoded picture -> an MNIST-style 28x28.

The drawing pad, the app's Open image and the CLI's ``predict`` all come through ``prepare_image``, so a
picture is read the same way wherever it is opened (the faces decode files to arrays; this floor never
sees a file format):

1. **Grey and alpha.** RGB is averaged to grey. Transparent pixels are composited onto the image's own
   background: the colour of its opaque border or, when the border itself is transparent, the opposite
   of the ink (a black digit on a transparent canvas was drawn on white paper).
2. **Polarity.** The paper is the median colour of the border; the ink lies on whichever side of it
   (darker or brighter) the image reaches further. Dark ink on light paper is inverted: ink is bright.
3. **Framing.** A 28x28 image that is already framed is used as it is: one that looks like an MNIST
   digit (its centre of mass within a pixel of (14, 14), its ink 14 to 21 pixels tall or wide), or one
   whose ink fills the frame (26 pixels or more, as Fashion-MNIST's pictures do: shrinking those to 20
   pixels would only lose detail). Anything else is cropped to its ink, scaled to fit 20x20 and centred
   by its centre of mass (``preprocess.fit_and_centre``), as MNIST was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.data.errors import EmptyDrawing
from cnnlab.data.preprocess import BOX, CENTRE, SIZE, fit_and_centre

# Soft fringes fainter than this (after the contrast stretch) do not count towards the bounding box, so a
# blurry pen is measured by its stroke, not by its halo.
INK_THRESHOLD = 0.25
# Less contrast than this (a fraction of full scale) between ink and paper is an empty canvas.
MIN_CONTRAST = 0.25
# Ink whose bounding box is shorter than this fraction of the canvas is a speck (a click), not a digit.
MIN_EXTENT = 0.1
# A 28x28 image counts as already framed when its ink's longer side is in this range (MNIST: 14-20 at
# the threshold above, nearly always 20) and its centre of mass this close to the centre (MNIST: 0.5).
FRAMED_EXTENT = (14, 21)
FRAMED_CENTRE_TOLERANCE = 1.0
# Ink this long or longer fills a 28x28 frame (98% of Fashion-MNIST's test pictures; no MNIST digit).
FILLS_FRAME = 26


@dataclass(frozen=True)
class Ink:
    """Where an image's ink lies: ``paper`` and ``level`` (the ink's extreme) on the 0..1 grey scale."""

    paper: float
    level: float

    @property
    def dark(self) -> bool:
        return self.level < self.paper

    @property
    def contrast(self) -> float:
        return abs(self.level - self.paper)


def prepare_image(image: np.ndarray, *, reframe: bool | None = None, box: int = BOX) -> np.ndarray:
    """A decoded image -> an MNIST-style float32 (28, 28) in [0, 1], ink bright.

    ``image``: (H, W) grey or (H, W, 3 | 4) RGB(A); integers (0 .. the type's maximum), booleans, or
    floats (0 .. 1; floats above 1 are taken as 0 .. 255). ``reframe``: None (the rule above), True to
    always crop, scale and centre (a drawing), False to keep a 28x28 image's framing. Raises
    ``EmptyDrawing`` when there is no ink or only a speck, ``ValueError`` for a shape or type that is no
    image. Enlarging a tiny input uses area weighting, so it comes out a little blocky.
    """
    grey = to_grey(image)
    ink = find_ink(grey)
    if reframe is None:
        reframe = grey.shape != (SIZE, SIZE) or not looks_framed(_oriented(grey, ink))
    if not reframe:
        if grey.shape != (SIZE, SIZE):
            raise ValueError(f"only a 28x28 image can keep its framing, got {grey.shape[0]}x{grey.shape[1]}")
        return _oriented(grey, ink)
    bright = _stretched(grey, ink)
    rows = np.flatnonzero((bright > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((bright > INK_THRESHOLD).any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    extent = max(r1 - r0, c1 - c0)
    if extent < MIN_EXTENT * max(grey.shape):
        raise EmptyDrawing(
            f"the drawing is nearly empty: its ink spans only {extent} of {max(grey.shape)} pixels"
        )
    return fit_and_centre(bright[r0:r1, c0:c1], box=box)


def preprocess_drawing(image: np.ndarray, *, box: int = BOX) -> np.ndarray:
    """A drawing of any size -> MNIST-style float32 (28, 28): ``prepare_image`` always cropping to the ink,
    scaling it to fit ``box`` x ``box`` and centring it by its centre of mass."""
    return prepare_image(image, reframe=True, box=box)


def ink_bright(image: np.ndarray) -> np.ndarray:
    """An image at its own size, float32 (H, W) in [0, 1]: paper 0, the ink's extreme 1 (for showing a
    picture as the network will read it). Raises ``EmptyDrawing`` for an image with no ink."""
    grey = to_grey(image)
    return _stretched(grey, find_ink(grey))


def looks_framed(bright: np.ndarray) -> bool:
    """Whether an ink-bright 28x28 image is already framed (see the module text): MNIST-style, or filling
    the frame."""
    if bright.shape != (SIZE, SIZE):
        return False
    peak = float(bright.max())
    mass = float(bright.sum())
    if peak <= 0 or mass <= 0:
        return False
    ink = bright > INK_THRESHOLD * peak
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    if extent >= FILLS_FRAME:
        return True
    index = np.arange(SIZE, dtype=np.float64)
    cy = float(bright.sum(axis=1) @ index) / mass
    cx = float(bright.sum(axis=0) @ index) / mass
    centred = max(abs(cy - CENTRE), abs(cx - CENTRE)) <= FRAMED_CENTRE_TOLERANCE
    return centred and FRAMED_EXTENT[0] <= extent <= FRAMED_EXTENT[1]


def find_ink(grey: np.ndarray) -> Ink:
    """The paper (median border colour) and the ink's extreme of a grey image in [0, 1] (see polarity
    above); ``EmptyDrawing`` when the two are closer than ``MIN_CONTRAST``."""
    paper = float(np.median(_border(grey)))
    lo, hi = float(grey.min()), float(grey.max())
    # Ties go to bright ink, MNIST's own polarity.
    level = lo if paper - lo > hi - paper else hi
    ink = Ink(paper, level)
    if ink.contrast < MIN_CONTRAST:
        raise EmptyDrawing("the drawing is empty: there is no ink on the canvas")
    return ink


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3 | 4) of numbers or booleans -> float32 (H, W) in [0, 1], alpha composited onto
    the image's own background (see the module text)."""
    a = np.asarray(image)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"an image must be (H, W) or (H, W, 3|4), got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"an image must be at least 2x2 pixels, got {a.shape[0]}x{a.shape[1]}")
    if a.dtype.kind not in "buif":
        raise ValueError(f"an image must hold numbers, got dtype {a.dtype}")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
        full = 1.0
    elif a.dtype.kind in "ui":
        full = float(np.iinfo(a.dtype).max)
    else:
        if not np.isfinite(a).all():
            raise ValueError("an image must hold finite numbers, not NaN or infinity")
        full = 255.0 if a.max() > 1.0 else 1.0
    if a.ndim == 2:
        grey, alpha = a, None
    else:
        # Summed exactly, then divided once: a grey picture stored as RGB(A) comes out bit for bit as
        # the same picture stored grey (and uint8 as to_float_nchw makes it).
        exact = np.int64 if a.dtype.kind in "ui" else np.float64
        grey = a[..., :3].sum(axis=2, dtype=exact)
        full *= 3
        alpha = _unit(a[..., 3], full / 3) if a.shape[2] == 4 else None
    grey = _unit(grey, full)
    return grey if alpha is None else _composite(grey, alpha)


def _unit(values: np.ndarray, full: float) -> np.ndarray:
    """float32 values / full, clipped to [0, 1] (divided, not multiplied by a rounded reciprocal)."""
    if values.dtype == np.float64:
        out = (values / full).astype(np.float32)
    else:
        out = values.astype(np.float32)
        if full != 1.0:
            out /= np.float32(full)
    return np.clip(out, 0.0, 1.0, out=out)


def _composite(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if alpha.min() >= 1.0:
        return grey
    opaque = alpha > 0.5
    border_opaque = _border(opaque)
    if border_opaque.mean() >= 0.5:
        background = float(np.median(_border(grey)[border_opaque]))
    else:
        # The transparent part is the paper; its stored colour means nothing (often black), so the paper
        # is the opposite of the ink drawn on it.
        weight = float(alpha.sum())
        ink = float((grey * alpha).sum()) / weight if weight > 0 else 0.0
        background = 1.0 if ink < 0.5 else 0.0
    return grey * alpha + np.float32(background) * (1.0 - alpha)


def _oriented(grey: np.ndarray, ink: Ink) -> np.ndarray:
    """Ink bright, paper at 0, no contrast stretch (an MNIST image comes back exactly)."""
    out = (ink.paper - grey) if ink.dark else (grey - np.float32(ink.paper))
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _stretched(grey: np.ndarray, ink: Ink) -> np.ndarray:
    """Ink bright, paper 0, the ink's extreme 1."""
    out = (grey - np.float32(ink.paper)) * np.float32(1.0 / (ink.level - ink.paper))
    return np.clip(out, 0.0, 1.0, out=out)


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
