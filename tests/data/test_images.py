"""One rule for preparing an image: alpha, polarity and framing, the same for every caller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import EmptyDrawing, ink_bright, load_dataset, prepare_image, preprocess_drawing
from cnnlab.data.images import find_ink, looks_framed, to_grey
from tests.data.test_preprocess import SEVEN, centre_of_mass, draw, ink_box


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_dataset("synthetic", synthetic_size=(10, 40), seed=5).test_images


def rgba(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.dstack([grey, grey, grey, alpha]).astype(np.uint8)


# ------------------------------------------------------------------------------------------ alpha


def test_ink_on_a_transparent_canvas_is_read_as_ink_on_paper():
    ink = draw(SEVEN)  # 0..255: how much ink each pixel holds
    reference = prepare_image(255 - ink)  # black ink on white paper
    # Dark ink on transparent paper; the transparent pixels' colour is black, as image editors store it.
    black_on_clear = rgba(np.zeros_like(ink), ink)
    np.testing.assert_allclose(prepare_image(black_on_clear), reference, atol=1e-6)
    # Light ink on transparent paper whose stored colour is white: the paper is dark.
    white_on_clear = rgba(np.full_like(ink, 255), ink)
    np.testing.assert_allclose(prepare_image(white_on_clear), reference, atol=1e-6)


def test_transparency_inside_opaque_paper_takes_the_paper_colour():
    ink = draw(SEVEN)
    grey = (255 - ink).astype(np.uint8)
    alpha = np.full_like(grey, 255)
    grey[100:140, 20:40], alpha[100:140, 20:40] = 0, 0  # a transparent hole stored as black
    np.testing.assert_allclose(prepare_image(rgba(grey, alpha)), prepare_image(255 - ink), atol=1e-6)


def test_an_opaque_alpha_channel_changes_nothing():
    canvas = draw(SEVEN)
    np.testing.assert_array_equal(
        prepare_image(rgba(canvas, np.full_like(canvas, 255))), prepare_image(canvas)
    )
    assert to_grey(np.dstack([canvas] * 3)).shape == canvas.shape


# ---------------------------------------------------------------------------------------- polarity


def test_dark_ink_on_grey_paper_is_found_dark():
    # A photo-like page: paper at 40% grey (darker than half), ink at 5%. Deciding by "is the paper
    # brighter than half" called this light ink; the rule looks at which side the image reaches further.
    ink = draw(SEVEN) / 255.0
    photo = 0.40 - 0.35 * ink
    found = find_ink(photo.astype(np.float32))
    assert found.dark and found.paper == pytest.approx(0.40) and found.level == pytest.approx(0.05)
    np.testing.assert_allclose(prepare_image(photo), prepare_image(draw(SEVEN)), atol=1e-5)


def test_every_caller_inverts_alike(digits):
    digit = digits[0]
    framed = prepare_image(digit)
    np.testing.assert_allclose(prepare_image(255 - digit), framed, atol=1e-6)  # 1 - (1 - x): an ulp
    np.testing.assert_allclose(ink_bright(255 - digit), ink_bright(digit), atol=1e-6)
    canvas = draw(SEVEN)
    np.testing.assert_allclose(ink_bright(255 - canvas), canvas / np.float32(255), atol=1e-6)


def test_no_contrast_is_an_empty_drawing_and_non_images_are_value_errors():
    for flat in (np.zeros((50, 50), np.uint8), np.full((28, 28), 0.7)):
        with pytest.raises(EmptyDrawing, match="empty"):
            prepare_image(flat)
        with pytest.raises(EmptyDrawing):
            ink_bright(flat)
    bad = [np.zeros(5), np.zeros((1, 9)), np.zeros((4, 4, 2)), np.array([["a", "b"], ["c", "d"]])]
    nan = np.zeros((10, 10))
    nan[3, 3] = np.nan
    for array in (*bad, nan):
        with pytest.raises(ValueError):
            prepare_image(array)


# ----------------------------------------------------------------------------------------- framing


def test_a_framed_28x28_digit_is_used_exactly_as_it_is(digits):
    for digit in digits:
        assert looks_framed(digit / np.float32(255))
        np.testing.assert_array_equal(prepare_image(digit), digit / np.float32(255))


def test_a_28x28_digit_off_centre_or_too_small_is_reframed(digits):
    digit = digits[1]
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    ink = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    corner = np.zeros_like(digit)
    corner[: ink.shape[0], : ink.shape[1]] = ink
    small = np.zeros_like(digit)
    half = ink[::2, ::2]
    small[10 : 10 + half.shape[0], 10 : 10 + half.shape[1]] = half
    for moved in (corner, small):
        assert not looks_framed(moved / np.float32(255))
        out = prepare_image(moved)
        cy, cx = centre_of_mass(out)
        assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5
        assert max(ink_box(out > 0.25)) in (19, 20, 21)
    # Where the digit stood does not matter: from the corner it comes out as it does from the centre.
    np.testing.assert_allclose(prepare_image(corner), prepare_image(digit, reframe=True), atol=1e-5)


def test_a_picture_filling_the_frame_keeps_it():
    # Fashion-MNIST's pictures fill all 28 pixels; shrinking them into 20 would lose what the net knows.
    coat = np.zeros((28, 28), np.uint8)
    coat[1:27, 3:25] = 180
    coat[5:20, 10:18] = 90
    np.testing.assert_array_equal(prepare_image(coat), coat / np.float32(255))
    assert max(ink_box(prepare_image(coat, reframe=True) > 0.25)) == 20


def test_reframe_can_be_forced_either_way(digits):
    digit = digits[2]
    assert not np.array_equal(prepare_image(digit, reframe=True), prepare_image(digit))
    np.testing.assert_array_equal(preprocess_drawing(digit), prepare_image(digit, reframe=True))
    with pytest.raises(ValueError, match="only a 28x28 image can keep its framing"):
        prepare_image(draw(SEVEN), reframe=False)


def test_a_speck_is_refused_at_every_size():
    speck = draw([(100, 100), (104, 102)], pen=10)
    with pytest.raises(EmptyDrawing, match="nearly empty"):
        prepare_image(speck)
    dot = np.zeros((28, 28), np.uint8)
    dot[14, 14] = 255
    with pytest.raises(EmptyDrawing, match="nearly empty"):
        prepare_image(dot)


@pytest.mark.realdata
def test_every_real_mnist_test_digit_is_kept_as_it_is(mnist_dir: Path):
    images = load_dataset("mnist", mnist_dir).test_images
    kept = [np.array_equal(prepare_image(d), d / np.float32(255)) for d in images[:3000]]
    assert all(kept), f"{kept.count(False)} of 3000 MNIST digits were changed"
