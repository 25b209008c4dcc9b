"""Reading what a user hands us (spec files, checkpoints) without trusting it.

Only regular files are opened: a named pipe would block ``open`` or ``read`` forever, and a device
such as /dev/zero never ends. Sizes are checked before anything is read, and JSON's nesting depth is
measured before it is parsed, so a hostile file is refused by what it says about itself, cheaply,
instead of by running out of memory or stack. Problems are ``ValueError`` with the reason in words;
the system's own errors stay ``OSError``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Any, BinaryIO

import numpy as np

_KINDS = (
    (stat.S_ISDIR, "is a folder, not a file"),
    (stat.S_ISFIFO, "is a named pipe, not a file"),
    (stat.S_ISCHR, "is a device, not a file"),
    (stat.S_ISBLK, "is a device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file; ValueError says what it is otherwise.

    The file is opened without blocking (a FIFO with no writer would hang a plain ``open``) and its
    kind is taken from the open descriptor, so it cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            reason = next((words for test, words in _KINDS if test(mode)), "is not a regular file")
            raise ValueError(reason)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (checked before reading, and while reading,
    in case it grows)."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise ValueError(f"is {size_text(size)}, too large for a {what} (at most {size_text(max_bytes)})")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"grew past {size_text(max_bytes)} while being read")
    return data


def size_text(n: int) -> str:
    """Bytes in words: 1536 -> "1.5 KiB"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


# A JSON string, escapes included (the "unrolled loop" form, linear time).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_CHUNK = 1 << 20


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (0 for a bare number), without parsing it.

    Brackets inside strings do not count. Counted with NumPy a megabyte at a time, so that even a
    text of brackets only costs milliseconds and little memory.
    """
    codes = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "replace"), dtype=np.uint8)
    deepest = level = 0
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start : start + _CHUNK]
        step = (chunk == ord("[")).astype(np.int64) + (chunk == ord("{"))
        step -= (chunk == ord("]")) + (chunk == ord("}"))
        levels = np.cumsum(step) + level
        if len(levels):
            deepest = max(deepest, int(levels.max()))
            level = int(levels[-1])
    return deepest


def loads_json(text: str, max_depth: int) -> Any:
    """``json.loads(text)``, refused with a ValueError if it nests deeper than ``max_depth`` (checked first:
    Python's parser recurses once per level) or holds a number Python will not convert."""
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"it is nested {depth:,} levels deep; at most {max_depth} are expected")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise ValueError(str(exc) or type(exc).__name__) from None
