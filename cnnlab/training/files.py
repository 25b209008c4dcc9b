"""Writing run files safely: plain JSON data, and atomic writes (a temporary file beside the target,
then a rename), so a crash or a full disk never leaves half a file where a good one was."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Plain JSON data: NumPy values become Python ones, NaN and infinities None, paths text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, *, one_line_values: bool = False) -> Path:
    """``data`` as indented JSON (through ``jsonable``), written atomically.

    ``one_line_values``: a dict's values each on one line (a confusion matrix stays readable as a whole
    instead of one number per line), and a list of records one record per line.
    """
    data = jsonable(data)
    if one_line_values and isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                rows = ",\n".join(f"    {json.dumps(v, allow_nan=False)}" for v in value)
                lines.append(f"  {json.dumps(key)}: [\n{rows}\n  ]")
            else:
                lines.append(f"  {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
        text = "{\n" + ",\n".join(lines) + "\n}\n"
    else:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Arrays as an uncompressed ``.npz`` (read back with ``allow_pickle=False``), written atomically."""
    plain = {name: np.asarray(value) for name, value in arrays.items()}
    return write_atomic(path, lambda handle: np.savez(handle, **plain))
