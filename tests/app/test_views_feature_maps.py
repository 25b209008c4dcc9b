"""Feature maps: every layer's output with the right counts and shapes, and units explained exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnlab.app.views.feature_maps import FeatureMapsView, fold_vector
from cnnlab.data import load_dataset
from cnnlab.engine import build, load_preset
from tests.app.test_views_drawing import delete_widgets_now  # noqa: F401 (an autouse fixture)
from tests.app.test_views_filters import CUSTOM


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_size=(10, 20), seed=2)


@pytest.fixture
def view(qtbot):
    v = FeatureMapsView()
    qtbot.addWidget(v)
    v.resize(1100, 760)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.mark.parametrize("spec", [load_preset("seed"), CUSTOM], ids=["seed", "custom"])
def test_one_section_per_layer_with_its_shape(view, data, spec):
    net = build(spec, np.random.default_rng(0))
    view.set_network(net, data.class_names)
    view.set_dataset(data)
    view.show_test_image(3)
    view.refresh()
    infos = spec.validate()
    expected = [("input", (1, 28, 28))] + [(i.name, i.output_shape) for i in infos]
    assert view.sections == expected
    assert view.stack.keys == tuple(name for name, _ in expected)
    for name, shape in expected:
        grid = view.layer_grid(name)
        if len(shape) == 3:
            assert grid.count == shape[0]  # one tile per channel
            assert grid.tile_shape == shape[1:]
            assert "x".join(map(str, shape)) in view.stack.title(name).text()
        else:
            assert grid.count == 1
            assert grid.tile_shape == fold_vector(np.zeros(shape[0])).shape
    # The maps are the engine's activations for that image.
    acts = dict(net.activations(data.test_images[3:4, None].astype(np.float32) / 255))
    name = infos[0].name
    np.testing.assert_allclose(view.layer_grid(name)._tiles, acts[name][0], rtol=1e-6)


def test_follows_the_drawing_and_test_images(view, data):
    net = build(load_preset("seed"), np.random.default_rng(0))
    view.set_network(net)
    view.refresh()
    assert view.stack.keys == ()  # nothing to show yet
    drawing = np.zeros((28, 28), np.float32)
    drawing[10:18, 6:22] = 1.0
    view.set_drawing(drawing)
    view.refresh()
    np.testing.assert_array_equal(view.layer_grid("input")._tiles[0], drawing)
    view.set_dataset(data)
    view.show_test_image(5)
    view.refresh()
    np.testing.assert_allclose(view.layer_grid("input")._tiles[0], data.test_images[5] / 255)
    view.set_drawing(None)  # the pad was cleared while a test image is shown: keep it
    view.refresh()
    np.testing.assert_allclose(view.layer_grid("input")._tiles[0], data.test_images[5] / 255)


def test_clicking_a_unit_explains_it(qtbot, view, data):
    net = build(load_preset("seed"), np.random.default_rng(0))
    view.set_network(net, data.class_names)
    view.set_dataset(data)
    view.show_test_image(0)
    view.refresh()
    grid = view.layer_grid("conv2")
    view.stack.ensureWidgetVisible(grid)
    qtbot.wait(50)
    with qtbot.waitSignal(view.unitSelected) as signal:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.map_to_widget(9, 4.5, 6.5))
    assert signal.args == ["conv2", 9, 4, 6]
    # The explanation shows 8 input channels: patch, filter and products.
    assert view._patch.count == 8 and view._patch.tile_shape == (3, 3)
    np.testing.assert_allclose(view._kernel._tiles, net.layer("conv2").params["W"][9])
    assert "bias" in view._sum.text()
    assert view._rf._highlight.isVisible()
    rect = view._rf._highlight.rect()
    assert (rect.width(), rect.height()) == (8, 8)
    ex = view.select_unit("dense1", 3)
    assert ex.kind == "dense" and ex.contribution_map.shape == (16, 5, 5)
    assert view._patch.count == 16
    ex = view.select_unit("pool1", 2, 5, 5)
    assert ex.kind == "maxpool2d" and ex.total == pytest.approx(ex.patch.max())
    with pytest.raises(KeyError, match="no layer named"):
        view.select_unit("conv9", 0, 0, 0)
