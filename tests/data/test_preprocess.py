"""Drawings into MNIST style: synthetic strokes always, and real MNIST digits when the data is there."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import EmptyDrawing, load_dataset, preprocess_drawing


def draw(points: list[tuple[float, float]], size: tuple[int, int] = (280, 280), pen: float = 18):
    """A white-on-black uint8 canvas with an anti-aliased polyline of ``pen`` pixels through (x, y) points."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    dist = np.full((h, w), np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        dist = np.minimum(dist, np.hypot(xx - x0 - t * dx, yy - y0 - t * dy))
    return np.rint(np.clip(pen / 2 - dist + 0.5, 0, 1) * 255).astype(np.uint8)


SEVEN = [(60, 50), (220, 50), (130, 250)]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    idx = np.arange(image.shape[0])
    mass = image.sum()
    return float(image.sum(axis=1) @ idx / mass), float(image.sum(axis=0) @ idx / mass)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


RING = [(140 + 80 * np.sin(t), 140 - 100 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]


def test_a_drawing_comes_out_mnist_shaped():
    for shape in (RING, SEVEN):
        out = preprocess_drawing(draw(shape))
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)
        assert max(ink_box(out > 0)) == 20
    # A balanced digit's centre of mass lands on (14, 14), within the half pixel whole shifts allow.
    cy, cx = centre_of_mass(preprocess_drawing(draw(RING)))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


SEVENS = [
    SEVEN,
    [(40, 40), (240, 40), (200, 80), (150, 200), (140, 270)],
    [(30, 30), (250, 30), (250, 60), (200, 120), (140, 275)],
    [(60, 60), (230, 45), (70, 260)],  # a tail sweeping to the lower left
]


@pytest.mark.parametrize("pen", [10, 22, 40])
@pytest.mark.parametrize("points", SEVENS, ids=["plain", "hooked", "serif", "sweeping"])
def test_a_top_heavy_digit_keeps_its_tail(points, pen: int):
    """Issue 12: the pad's preview cut off a 7's tail at the bottom edge. Centring a 7's mass (its top
    bar) pushed the tail out of the frame; now the digit is shifted back to keep a pixel of paper."""
    out = preprocess_drawing(draw(points, pen=pen))
    edges = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
    assert edges.max() == 0.0, "ink reached the frame's edge"
    assert max(ink_box(out > 0)) == 20, "the whole digit is there, 20 pixels tall"
    cy, _ = centre_of_mass(out)
    assert 12.0 < cy < 14.0  # moved up from the centre only as far as the tail needed


def test_position_and_canvas_size_do_not_matter():
    reference = preprocess_drawing(draw(SEVEN))
    moved = preprocess_drawing(draw([(x - 45, y + 20) for x, y in SEVEN]))
    np.testing.assert_allclose(moved, reference, atol=1e-5)
    small = preprocess_drawing(draw([(x / 2, y / 2) for x, y in SEVEN], size=(140, 160), pen=9))
    assert np.abs(small - reference).mean() < 0.02


def test_black_on_white_gives_the_same_result():
    canvas = draw(SEVEN)
    np.testing.assert_allclose(preprocess_drawing(255 - canvas), preprocess_drawing(canvas), atol=1e-6)


def test_input_types_agree():
    canvas = draw(SEVEN)
    reference = preprocess_drawing(canvas)
    as_float = canvas.astype(np.float32) / 255
    rgba = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
    for variant in (as_float, as_float.astype(np.float64), canvas.astype(np.float32), rgba, canvas > 127):
        assert np.abs(preprocess_drawing(variant) - reference).mean() < 0.01


def test_aspect_ratio_is_kept():
    tall = preprocess_drawing(draw([(140, 30), (140, 250)], pen=20))
    height, width = ink_box(tall > 0.05)
    assert height == 20 and width <= 5


def test_thin_and_thick_pens_both_give_saturated_strokes():
    for pen in (4, 12, 30):
        out = preprocess_drawing(draw(SEVEN, pen=pen))
        assert out.max() == pytest.approx(1.0)
    thin, thick = (preprocess_drawing(draw(SEVEN, pen=p)).sum() for p in (4, 30))
    assert thick > thin


def test_empty_and_nearly_empty_canvases_are_refused():
    blank = np.zeros((280, 280), np.uint8)
    for canvas in (blank, blank + 255, blank + 17):
        with pytest.raises(EmptyDrawing, match="empty"):
            preprocess_drawing(canvas)
    faint = np.random.default_rng(0).integers(0, 30, (280, 280)).astype(np.uint8)
    with pytest.raises(EmptyDrawing):
        preprocess_drawing(faint)
    speck = draw([(100, 100), (104, 102)], pen=10)
    with pytest.raises(EmptyDrawing, match="nearly empty") as info:
        preprocess_drawing(speck)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(28,), (1, 28), (2, 3, 5, 5), (28, 28, 2)])
def test_bad_shapes_are_refused(shape):
    with pytest.raises(ValueError):
        preprocess_drawing(np.zeros(shape))


def test_preprocessing_has_no_hidden_state():
    """The pad calls this on every stroke (its speed: ``cnnlab data bench``): the same canvas always
    gives the same image, whatever came before, and the canvas is left as it was."""
    canvas = draw(SEVEN)
    canvas.setflags(write=False)
    first = preprocess_drawing(canvas)
    preprocess_drawing(draw([(40, 40), (240, 240)], pen=30))
    preprocess_drawing(255 - canvas)
    np.testing.assert_array_equal(preprocess_drawing(canvas), first)
    np.testing.assert_array_equal(canvas, draw(SEVEN))
    first[:] = 0  # the result is the caller's own array
    assert preprocess_drawing(canvas).max() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- with real MNIST


def _nearest_centroid(images: np.ndarray, labels: np.ndarray):
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(10)])

    def predict(batch: np.ndarray) -> np.ndarray:
        flat = batch.reshape(len(batch), -1)
        return np.argmin(((flat[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)

    return predict


def _upscale(digit: np.ndarray, smooth: bool) -> np.ndarray:
    """28x28 -> 280x280: blocky (each pixel a 10x10 square) or smooth (bilinear, like a soft pen)."""
    if not smooth:
        return np.kron(digit, np.ones((10, 10), dtype=np.uint8))
    src, dst = np.arange(28), (np.arange(280) + 0.5) / 10 - 0.5
    cols = np.stack([np.interp(dst, src, column) for column in digit.T.astype(np.float64)], axis=1)
    return np.rint(np.stack([np.interp(dst, src, row) for row in cols])).astype(np.uint8)


def _off_centre(big: np.ndarray, k: int) -> np.ndarray:
    """The inked part of ``big`` pushed towards a corner of a 280x280 canvas (which corner depends on k)."""
    rows = np.flatnonzero(big.any(axis=1))
    cols = np.flatnonzero(big.any(axis=0))
    ink = big[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    canvas = np.zeros((280, 280), np.uint8)
    top = 3 if k % 2 else 280 - ink.shape[0] - 3
    left = 3 if k % 3 else 280 - ink.shape[1] - 3
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize(("smooth", "mean_limit", "same_class"), [(False, 0.01, 0.98), (True, 0.05, 0.93)])
def test_mnist_digit_upscaled_and_moved_comes_back(
    mnist_dir: Path, smooth: bool, mean_limit: float, same_class: float
):
    ds = load_dataset("mnist", mnist_dir)
    originals = ds.test_images[:300]
    errors, recovered = [], []
    for k, digit in enumerate(originals):
        canvas = _off_centre(_upscale(digit, smooth), k)
        out = preprocess_drawing(canvas)
        np.testing.assert_allclose(preprocess_drawing(255 - canvas), out, atol=1e-6)
        errors.append(np.abs(out - digit / 255).mean())
        recovered.append(out)
    errors = np.array(errors)
    how = "smooth" if smooth else "blocky"
    print(f"\nMNIST {how} x10 round trip: mean |difference| {errors.mean():.4f} (worst {errors.max():.4f})")
    assert errors.mean() < mean_limit

    # The class a (simple, data-floor-only) classifier sees does not change. A bilinear blow-up also blurs
    # the digit (tent filter, then box filter), so it cannot come back exactly.
    predict = _nearest_centroid(ds.train_images, ds.train_labels)
    before = predict(originals.astype(np.float32) / 255)
    after = predict(np.stack(recovered))
    agreement = (before == after).mean()
    print(f"nearest-centroid prediction unchanged for {agreement:.1%} of 300 digits")
    assert agreement >= same_class
