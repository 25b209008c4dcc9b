"""How one unit's value came about: its receptive field on the input and the computation behind it.

The lab's feature-map view draws what ``explain_unit`` returns; the arithmetic is here, below the app,
and each layer type supplies its own part (``Layer.unit_window`` and ``Layer.explain_unit``)::

    acts = [a[0] for _, a in network.activations(x[None])]   # the input, then every layer's output
    ex = explain_unit(network, acts, index, unit)            # unit (c, y, x) of layer ``index``'s output
    ex.value, ex.total, ex.receptive_field, ex.chain ...

Pointwise layers (activations, batch normalisation, dropout) are followed down to the layer that
computes something from many inputs; ``chain`` lists them with the value after each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnlab.engine.network import Network

Box = tuple[int, int, int, int]  # (top, left, bottom, right), inclusive


@dataclass
class UnitExplanation:
    """How the value of one unit came about. ``layer_index`` indexes ``network.layers`` (-1: the input).

    ``kind`` is the computing layer's kind ("input" for a pixel); the arrays are float64 copies: a
    convolution fills ``patch``, ``kernel``, ``products`` (each (C, kh, kw)) and ``per_channel`` (C,);
    pooling ``patch`` (kh, kw) and ``rule``; a dense layer ``contributions`` (F,) and, after a flatten
    of feature maps, ``contribution_map`` (C, H, W); a flatten ``rule`` and ``source_unit``.
    """

    layer_index: int
    layer: str
    unit: tuple[int, ...]  # (c, y, x) for maps, (u,) for flat layers
    value: float
    kind: str
    source: str = ""  # the layer whose output the computation reads (with the position it copies)
    receptive_field: Box | None = None  # on the input, clipped to it
    rule: str = ""  # the computation in words, where it is not a weighted sum
    patch: np.ndarray | None = None
    kernel: np.ndarray | None = None
    products: np.ndarray | None = None
    per_channel: np.ndarray | None = None
    bias: float = 0.0
    total: float = 0.0  # the computed value before the pointwise chain
    contributions: np.ndarray | None = None
    contribution_map: np.ndarray | None = None
    source_unit: tuple[int, ...] | None = None
    chain: list[tuple[str, str, float]] = field(default_factory=list)  # (layer, kind, value after it)


def receptive_field(
    network: Network, shapes: list[tuple[int, ...]], index: int, y: int, x: int
) -> Box | None:
    """Input rows/columns (top, left, bottom, right), inclusive and clipped, that unit (y, x) of layer
    ``index``'s output depends on; ``shapes[j]`` is the input shape of layer j (C, H, W). None if some
    layer on the way reads all of its input (a dense layer)."""
    box = (y, x, y, x)
    for j in range(index, -1, -1):
        window = network.layers[j].unit_window(shapes[j])
        if window is None:
            return None
        box = window.back(box)
    h, w = shapes[0][1:]
    top, left, bottom, right = box
    return max(top, 0), max(left, 0), min(bottom, h - 1), min(right, w - 1)


def explain_unit(
    network: Network, acts: list[np.ndarray], index: int, unit: tuple[int, ...]
) -> UnitExplanation:
    """Explain unit ``unit`` of layer ``index``'s output; ``acts[0]`` is the input and ``acts[j + 1]``
    layer j's output, each without the batch axis (as ``network.activations`` gives them, batch 1)."""
    value = float(acts[index + 1][unit])
    name = "input" if index < 0 else network.layers[index].name
    shapes = [a.shape for a in acts]
    chain = []
    j = index
    while j >= 0 and network.layers[j].pointwise:
        chain.append((network.layers[j].name, network.layers[j].kind, float(acts[j + 1][unit])))
        j -= 1
    chain.reverse()
    spatial = len(unit) == 3
    rf = receptive_field(network, shapes, index, unit[1], unit[2]) if spatial else None
    if index >= 0 and rf is None and spatial:
        rf = (0, 0, shapes[0][1] - 1, shapes[0][2] - 1)
    ex = UnitExplanation(index, name, unit, value, "input", receptive_field=rf, chain=chain)
    if j < 0:
        ex.total = float(acts[0][unit])
        if index < 0 and spatial:
            ex.receptive_field = (unit[1], unit[2], unit[1], unit[2])
        return ex
    layer = network.layers[j]
    ex.kind, ex.source = layer.kind, "input" if j == 0 else network.layers[j - 1].name
    computed = layer.explain_unit(acts[j], unit)
    if computed is None:
        ex.total = value
        return ex
    ex.total, ex.rule, ex.bias = computed.total, computed.rule, computed.bias
    ex.patch, ex.kernel, ex.products = computed.patch, computed.kernel, computed.products
    ex.per_channel, ex.contributions = computed.per_channel, computed.contributions
    below = acts[j - 1] if j >= 1 else None
    if computed.contributions is not None and below is not None and _is_flattened(below, acts[j]):
        # The inputs of a dense layer after a flatten are feature maps: show the terms as maps.
        ex.contribution_map = computed.contributions.reshape(below.shape)
    if computed.source is not None and len(computed.source) == 3:
        c, y0, x0 = computed.source
        ex.source_unit = computed.source
        ex.source = f"{ex.source}[{c}, {y0}, {x0}]"
        ex.receptive_field = receptive_field(network, shapes, j - 1, y0, x0) if j >= 1 else (y0, x0, y0, x0)
    return ex


def _is_flattened(maps: np.ndarray, flat: np.ndarray) -> bool:
    return maps.ndim == 3 and flat.ndim == 1 and maps.size == flat.size
