"""Colour lookup tables as (256, 3) uint8 arrays, and the few colours the views share.

Weights and gradients use a diverging map (blue negative, white zero, red positive) on a symmetric range,
so zero always looks the same; activations use viridis, as the lesson does; images use grey.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyqtgraph as pg

CORRECT = (46, 125, 50)  # green, readable on white and on mid-grey
WRONG = (198, 40, 40)  # red
HIGHLIGHT = (255, 160, 0)  # selection frames and the top guess
NEUTRAL = (96, 125, 139)  # the other bars

_NAMES = {"diverging": "CET-D1A", "viridis": "viridis", "heat": "inferno"}


@cache
def lut(name: str) -> np.ndarray:
    """A read-only (256, 3) uint8 table: "grey", "blues", "diverging", "viridis" or "heat"."""
    if name == "grey":
        ramp = np.arange(256, dtype=np.uint8)
        table = np.stack([ramp, ramp, ramp], axis=1)
    elif name == "blues":
        # White for nothing, deepening to navy: counts on paper, zero cells stay blank.
        stops = np.array([[255, 255, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]])
        x = np.linspace(0, 1, len(stops))
        t = np.linspace(0, 1, 256)
        table = np.stack([np.interp(t, x, stops[:, i]) for i in range(3)], axis=1).round().astype(np.uint8)
    else:
        table = pg.colormap.get(_NAMES[name]).getLookupTable(0.0, 1.0, 256, alpha=False)
        table = np.ascontiguousarray(table[:, :3], dtype=np.uint8)
    table.setflags(write=False)
    return table


def is_symmetric(name: str) -> bool:
    """Whether a map is meant for values around zero (its range is then made symmetric)."""
    return name == "diverging"


def apply(values: np.ndarray, lo: float, hi: float, name: str) -> np.ndarray:
    """Map values to RGB (…, 3) uint8 over [lo, hi]; NaN stays NaN-free black (callers mask it)."""
    span = hi - lo if hi > lo else 1.0
    scaled = (np.nan_to_num(values, nan=lo) - lo) * (255.0 / span)
    index = np.clip(scaled, 0, 255).astype(np.uint8)
    return lut(name)[index]
