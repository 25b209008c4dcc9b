"""Writing run files safely: plain JSON data, and atomic writes (a temporary file beside the target,
then a rename), so a crash or a full disk never leaves half a file where a good one was.

The atomic writer is the engine's (``write_atomic``, the one checkpoints use): files get the user's
umask, temporaries left by a killed save are removed by the next save, and a file that cannot be
written raises ``WriteError`` (an ``OSError``) with one line naming it and the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.engine.checkpoint import WriteError, describe_os_error, write_atomic

__all__ = [
    "WriteError",
    "append_lines",
    "describe_os_error",
    "jsonable",
    "write_atomic",
    "write_json",
    "write_npz",
]


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
    # numpy's stub lets **kwds stand for its allow_pickle: bool, so any dict of arrays is refused
    return write_atomic(path, lambda handle: np.savez(handle, **plain))  # type: ignore[arg-type]


def append_lines(path: str | Path, lines: list[str]) -> None:
    """Append text lines to ``path`` (a log readable while it grows); ``WriteError`` if it cannot be.

    Not atomic on purpose: a reader skips a last line cut short by a crash or a full disk.
    """
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
    except OSError as exc:
        raise WriteError(path, exc) from None
