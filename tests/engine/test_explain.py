"""Explaining one unit: the sums add up, match the loop reference, and the receptive field is exact."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.engine import NetSpec, build, explain_unit, load_preset, receptive_field
from cnnlab.engine import reference as ref
from cnnlab.engine.layers.conv import resolve_padding

# Padding, stride, a non-square kernel, average pooling, every pointwise kind, two dense layers.
CUSTOM = NetSpec(
    (2, 17, 15),
    (
        {"type": "conv2d", "filters": 4, "kernel": 5, "padding": "same"},
        {"type": "tanh"},
        {"type": "avgpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 6, "kernel": [3, 2], "stride": 2, "padding": 1},
        {"type": "batchnorm"},
        {"type": "leaky_relu"},
        {"type": "maxpool2d", "kernel": 2, "stride": 1},
        {"type": "flatten"},
        {"type": "dense", "units": 12},
        {"type": "dropout", "rate": 0.2},
        {"type": "relu"},
        {"type": "dense", "units": 10},
    ),
)
SPECS = {"seed": load_preset("seed"), "lenet5": load_preset("lenet5"), "custom": CUSTOM}


def _network_and_acts(spec: NetSpec, seed: int = 1):
    rng = np.random.default_rng(seed)
    net = build(spec, rng)
    for layer in net.layers:  # as if BatchNorm had seen data: its affine map is not the identity
        if layer.kind == "batchnorm":
            layer.buffers["running_mean"][...] = 0.3
            layer.buffers["running_var"][...] = 2.0
    x = rng.random((1, *spec.input_shape), dtype=np.float32)
    return net, [a[0] for _, a in net.activations(x)]


@pytest.mark.parametrize("name", list(SPECS))
def test_every_units_explanation_adds_up(name):
    net, acts = _network_and_acts(SPECS[name])
    rng = np.random.default_rng(0)
    for index, a in enumerate(acts[1:]):
        for _ in range(5):
            unit = tuple(int(rng.integers(s)) for s in a.shape)
            ex = explain_unit(net, acts, index, unit)
            assert ex.value == pytest.approx(float(a[unit]), rel=1e-5, abs=1e-6)
            if ex.chain:  # pointwise layers are followed down; the total is the value below them
                below = acts[index - len(ex.chain) + 1][unit]
                assert ex.total == pytest.approx(float(below), rel=1e-4, abs=1e-5)
                assert ex.chain[-1][2] == pytest.approx(ex.value, rel=1e-6, abs=1e-7)
            else:
                assert ex.total == pytest.approx(ex.value, rel=1e-4, abs=1e-5)
                assert ex.kind == net.layers[index].kind


@pytest.mark.parametrize("name", list(SPECS))
def test_convolution_and_pooling_units_match_the_loop_reference(name):
    net, acts = _network_and_acts(SPECS[name], seed=3)
    rng = np.random.default_rng(1)
    checked = 0
    for j, layer in enumerate(net.layers):
        x = acts[j][None].astype(np.float64)
        if layer.kind == "conv2d":
            pads = resolve_padding(layer.padding, x.shape[2:], layer.kernel, layer.stride)
            W, b = layer.params["W"].astype(np.float64), layer.params["b"].astype(np.float64)
            expected = ref.conv2d_forward(x, W, b, layer.stride, pads)[0]
        elif layer.kind in ("maxpool2d", "avgpool2d"):
            mode = "max" if layer.kind == "maxpool2d" else "avg"
            expected = ref.pool_forward(x, layer.kernel, layer.stride, mode)[0]
        else:
            continue
        for _ in range(6):
            unit = tuple(int(rng.integers(s)) for s in expected.shape)
            ex = explain_unit(net, acts, j, unit)
            assert ex.total == pytest.approx(float(expected[unit]), rel=1e-5, abs=1e-6)
            if layer.kind == "conv2d":
                assert ex.patch.shape == ex.kernel.shape == (x.shape[1], *layer.kernel)
                assert ex.per_channel.sum() + ex.bias == pytest.approx(ex.total)
                np.testing.assert_array_equal(ex.kernel, W[unit[0]])
            else:
                assert ex.patch.shape == layer.kernel and ex.rule
            checked += 1
    assert checked >= 12


def test_receptive_fields_of_the_seed_net():
    net = build(load_preset("seed"), np.random.default_rng(0))
    shapes = [(1, 28, 28), (8, 26, 26), (8, 26, 26), (8, 13, 13), (16, 11, 11), (16, 11, 11), (16, 5, 5)]
    assert receptive_field(net, shapes, 0, 4, 7) == (4, 7, 6, 9)  # conv1: 3x3
    assert receptive_field(net, shapes, 2, 4, 7) == (8, 14, 11, 17)  # pool1: 4x4
    assert receptive_field(net, shapes, 3, 4, 6) == (8, 12, 15, 19)  # conv2: 8x8
    assert receptive_field(net, shapes, 5, 4, 4) == (16, 16, 25, 25)  # pool2: 10x10
    assert receptive_field(net, [*shapes, (400,)], 6, 0, 0) is None  # past the flatten: everything
    # A unit near the edge of a padded conv sees fewer pixels: clipped to the image.
    lenet = build(load_preset("lenet5"), np.random.default_rng(0))
    assert receptive_field(lenet, [(1, 28, 28)], 0, 0, 0) == (0, 0, 2, 2)


@pytest.mark.parametrize("name", list(SPECS))
def test_pixels_outside_the_receptive_field_do_not_change_the_unit(name):
    spec = SPECS[name]
    net, acts = _network_and_acts(spec, seed=5)
    rng = np.random.default_rng(2)
    for index, a in enumerate(acts[1:]):
        if a.ndim != 3:
            continue
        unit = tuple(int(rng.integers(s)) for s in a.shape)
        top, left, bottom, right = explain_unit(net, acts, index, unit).receptive_field
        changed = acts[0] + rng.normal(size=acts[0].shape).astype(np.float32)
        changed[:, top : bottom + 1, left : right + 1] = acts[0][:, top : bottom + 1, left : right + 1]
        again = net.activations(changed[None])[index + 1][1][0]
        assert again[unit] == pytest.approx(float(a[unit]), rel=1e-5, abs=1e-6), net.layers[index].name
        if index > 0:
            continue
        # ... and the first convolution's field is not larger than it must be: its corners matter.
        corner = acts[0].copy()
        corner[:, top, left] += 5.0
        corner[:, bottom, right] -= 5.0
        moved = net.activations(corner[None])[index + 1][1][0]
        assert moved[unit] != pytest.approx(float(a[unit]), rel=1e-7, abs=1e-9), net.layers[index].name


def test_a_flattened_unit_points_back_at_its_map_and_dense_terms_are_laid_out_as_maps():
    net, acts = _network_and_acts(load_preset("seed"))
    flat = [layer.name for layer in net.layers].index("flatten1")
    ex = explain_unit(net, acts, flat, (3 * 25 + 2 * 5 + 4,))  # channel 3, row 2, column 4 of pool2
    assert ex.source_unit == (3, 2, 4) and ex.source == "pool2[3, 2, 4]"
    assert ex.total == pytest.approx(float(acts[flat][3, 2, 4]))
    assert ex.receptive_field == explain_unit(net, acts, flat - 1, (3, 2, 4)).receptive_field
    dense = explain_unit(net, acts, flat + 1, (7,))
    assert dense.kind == "dense" and dense.contribution_map.shape == (16, 5, 5)
    np.testing.assert_allclose(dense.contribution_map.reshape(-1), dense.contributions)
    assert dense.contributions.sum() + dense.bias == pytest.approx(dense.total)


def test_an_input_pixel_explains_itself():
    net, acts = _network_and_acts(load_preset("seed"))
    ex = explain_unit(net, acts, -1, (0, 3, 9))
    assert ex.kind == "input" and ex.receptive_field == (3, 9, 3, 9)
    assert ex.total == pytest.approx(float(acts[0][0, 3, 9]))
