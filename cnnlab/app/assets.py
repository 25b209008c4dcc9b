"""Run-time files of the app (styles, icons), read only through ``importlib.resources``."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def asset(*parts: str) -> Traversable:
    """``cnnlab/assets/<parts...>``. Joined one step at a time: in the frozen app the package is a
    ``MultiplexedPath``, whose ``joinpath`` takes a single argument on Python 3.11."""
    path = files("cnnlab.assets")
    for part in parts:
        path = path / part
    return path
