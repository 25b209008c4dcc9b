"""Damaged and hostile checkpoints for the tests: a good checkpoint rewritten with other metadata or arrays.

The header is written with ``allow_nan=True``, as a hostile file could be (``json.loads`` reads ``NaN``
and ``Infinity``), which ``save_checkpoint`` itself never writes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

META_KEY = "__cnnlab__"


def read_raw(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a checkpoint file, the header as plain JSON data."""
    with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
        arrays = {key: np.array(npz[key]) for key in npz.files}
    header = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    return header, arrays


def write_raw(path: Path, header: Any, arrays: dict[str, np.ndarray]) -> Path:
    blob = np.frombuffer(json.dumps(header, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays, **{META_KEY: blob})
    return path


def rewrite(
    source: Path,
    target: Path,
    metadata: Callable[[Any], Any] | None = None,
    arrays: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> Path:
    """``source`` with its metadata replaced by ``metadata(old copy)`` and its arrays by ``arrays(old)``."""
    header, raw = read_raw(source)
    if metadata is not None:
        header["metadata"] = metadata(copy.deepcopy(header["metadata"]))
    if arrays is not None:
        raw = arrays(dict(raw))
    return write_raw(target, header, raw)


def set_path(data: Any, path: tuple, value: Any) -> Any:
    """``data`` with the item at ``path`` (keys and indices) replaced by ``value`` (``DELETE``: removed)."""
    if not path:
        return value
    holder = data
    for key in path[:-1]:
        holder = holder[key]
    if value is DELETE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return data


DELETE = object()


def paths(data: Any, prefix: tuple = (), max_items: int = 3) -> Iterator[tuple]:
    """Every path into ``data`` (only the first ``max_items`` items of a long list)."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, key), max_items)
    elif isinstance(data, list):
        for i, value in enumerate(data[:max_items]):
            yield from paths(value, (*prefix, i), max_items)
