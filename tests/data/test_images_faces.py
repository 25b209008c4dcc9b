"""Both faces prepare a file alike: ``cnnlab predict`` and the app's Open image decode with QImage and
hand the array to ``cnnlab.data.prepare_image`` (issue 16: they used to differ on alpha and on
re-framing 28x28 images). Needs Qt, offscreen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cnnlab import cli
from cnnlab.app.views.drawing import DrawingPanel
from cnnlab.data import load_dataset, prepare_image
from cnnlab.training import headless
from tests.data.test_preprocess import SEVEN, draw


class Recorder:
    """Stands in for a network: keeps what it is asked to classify."""

    spec = None  # no spec: nothing to check the input shape against

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.x = x.copy()
        return np.full((len(x), 10), 0.1)


def save(path: Path, array: np.ndarray) -> Path:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape[:2]
    if array.ndim == 2:
        image = QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(array.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    assert image.copy().save(str(path))
    return path


def pictures(tmp_path: Path) -> dict[str, Path]:
    ink = draw(SEVEN, size=(200, 240), pen=16)
    digit = load_dataset("synthetic", synthetic_size=(1, 3), seed=2).test_images[0]
    cornered = np.zeros_like(digit)
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    box = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    cornered[-box.shape[0] :, -box.shape[1] :] = box
    clear = np.zeros_like(ink)
    return {
        "black on transparent": save(tmp_path / "a.png", np.dstack([clear, clear, clear, ink])),
        "white on transparent": save(
            tmp_path / "b.png", np.dstack([clear + 255, clear + 255, clear + 255, ink])
        ),
        "dark on grey paper": save(tmp_path / "c.png", (200 - 0.7 * ink).astype(np.uint8)),
        "framed 28x28": save(tmp_path / "d.png", digit),
        "cornered 28x28": save(tmp_path / "e.png", 255 - cornered),
    }


@pytest.fixture
def panel(qtbot):
    p = DrawingPanel()
    qtbot.addWidget(p)
    return p


def test_predict_and_open_image_feed_the_network_the_same_pixels(tmp_path: Path, panel):
    for case, path in pictures(tmp_path).items():
        recorder = Recorder()
        headless.classify(recorder, [cli._read_image(str(path))], [str(d) for d in range(10)])
        from_cli = recorder.x[0, 0]
        panel.load_image_file(path)
        from_app = panel.current_input()
        np.testing.assert_array_equal(from_app, from_cli, err_msg=case)
        assert from_cli.shape == (28, 28) and from_cli.max() == pytest.approx(1.0, abs=0.2), case


def test_the_faces_follow_the_rule(tmp_path: Path, panel):
    paths = pictures(tmp_path)
    decoded = {case: cli._read_image(str(path)) for case, path in paths.items()}
    # Transparent paper: the ink is read the same whichever colour the clear pixels store.
    np.testing.assert_allclose(
        prepare_image(decoded["black on transparent"]),
        prepare_image(decoded["white on transparent"]),
        atol=1e-6,
    )
    # A framed 28x28 digit is fed exactly; a cornered one is moved to the centre.
    digit = decoded["framed 28x28"][..., 0]
    panel.load_image_file(paths["framed 28x28"])
    np.testing.assert_array_equal(panel.current_input(), digit / np.float32(255))
    panel.load_image_file(paths["cornered 28x28"])
    out = panel.current_input()
    mass = out.sum()
    cy, cx = out.sum(axis=1) @ np.arange(28) / mass, out.sum(axis=0) @ np.arange(28) / mass
    assert abs(cy - 14) < 1.5 and abs(cx - 14) < 1.5
