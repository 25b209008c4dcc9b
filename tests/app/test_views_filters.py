"""Learned filters: one grid per conv layer with the right counts and shapes, modes, clicks, snapshots."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnlab.app.views.filters import FiltersView, conv_layers
from cnnlab.engine import NetSpec, build, load_preset
from tests.app.test_views_drawing import delete_widgets_now  # noqa: F401 (an autouse fixture)

CUSTOM = NetSpec.from_dict(
    {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 5, "padding": "same"},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel": 2},
            {"type": "conv2d", "filters": 6, "kernel": [3, 2], "stride": 2},
            {"type": "batchnorm"},
            {"type": "leaky_relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 12},
            {"type": "dropout", "rate": 0.2},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    }
)


@pytest.fixture
def view(qtbot):
    v = FiltersView()
    qtbot.addWidget(v)
    v.resize(900, 600)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (load_preset("seed"), {"conv1": (8, 1, 3, 3), "conv2": (16, 8, 3, 3)}),
        (CUSTOM, {"conv1": (4, 1, 5, 5), "conv2": (6, 4, 3, 2)}),
    ],
)
def test_grids_have_one_tile_per_filter_and_channel(view, spec, expected):
    net = build(spec, np.random.default_rng(0))
    assert dict(conv_layers(spec)) == expected
    view.set_network(net)
    view.refresh()
    assert view.stack.keys == tuple(expected)
    for name, (f, c, kh, kw) in expected.items():
        grid = view.layer_grid(name)
        assert grid.count == f * c
        assert grid.tile_shape == (kh, kw)
        if c > 1:
            assert grid.grid_shape == (f, c)  # rows = filters, columns = input channels
        assert name in view.stack.title(name).text()
    view.set_mode(channels="mean")
    for name, (f, _, kh, kw) in expected.items():
        assert view.layer_grid(name).count == f
        assert view.layer_grid(name).tile_shape == (kh, kw)


def test_colour_scales_shared_and_per_filter(view):
    net = build(load_preset("seed"), np.random.default_rng(0))
    w = net.layer("conv2").params["W"]
    view.set_network(net)
    view.set_mode(show="weights", channels="each", scale="shared")
    grid = view.layer_grid("conv2")
    peak = float(np.abs(w).max())
    assert grid.levels(0) == pytest.approx((-peak, peak))
    assert grid.levels(0) == grid.levels(77)
    view.set_mode(scale="filter")
    # Each filter is scaled to its own peak: its strongest weight reaches the end of the colour map.
    rgb_ranges = {grid.levels(i) for i in range(grid.count)}
    assert rgb_ranges == {(-1.0, 1.0)}


def test_click_on_a_filter_enlarges_it_with_values(qtbot, view):
    net = build(load_preset("seed"), np.random.default_rng(0))
    view.set_network(net)
    view.refresh()
    grid = view.layer_grid("conv2")
    with qtbot.waitSignal(view.filterSelected) as signal:
        tile = 5 * 8 + 3  # filter 5, input channel 3
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.map_to_widget(tile, 1.5, 1.5))
    assert signal.args == ["conv2", 5, 3]
    detail = view._detail
    assert detail.count == 1 and detail.tile_shape == (3, 3)
    np.testing.assert_allclose(detail._tiles[0], net.layer("conv2").params["W"][5, 3])
    assert detail._value_count == 9  # each weight printed on its cell
    assert "bias" in view._detail_text.text()


def test_snapshots_bring_weights_and_gradients(view):
    from cnnlab.data import load_dataset
    from cnnlab.training import TrainConfig, TrainingSession

    data = load_dataset("synthetic", synthetic_size=(40, 10), seed=1)
    session = TrainingSession(TrainConfig(epochs=1, batch_size=20, eval_every=0), data)
    snapshots = list(session.run())
    view.set_snapshot(snapshots[0])  # "started": no gradients yet
    view.set_mode(show="gradients")
    assert view.layer_grid("conv1").count == 0
    assert "No gradients yet" in view._status.text()
    view.set_snapshot(snapshots[-1])
    view.refresh()
    grid = view.layer_grid("conv1")
    assert grid.count == 8
    np.testing.assert_allclose(grid._tiles.reshape(8, 3, 3), snapshots[-1].grads["conv1.W"][:, 0])
    view.set_mode(show="weights")
    np.testing.assert_allclose(
        view.layer_grid("conv1")._tiles[:, :, :], snapshots[-1].weights["conv1.W"][:, 0]
    )


def test_a_network_without_convolutions(view):
    spec = load_preset("fc-baseline")
    view.set_network(build(spec, np.random.default_rng(0)))
    view.refresh()
    assert view.stack.keys == ()
    assert "no convolution" in view._status.text()
