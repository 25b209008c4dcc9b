"""Opening data files without surprises: only regular files, and never an open that can block.

A FIFO named like a data file would block ``open()`` until a writer appears (the lab hung), and a device
such as ``/dev/zero`` reads forever. So a file is stat-ed before it is opened, opened with ``O_NONBLOCK``
(which makes opening a FIFO return at once instead of waiting), and stat-ed again through the open
descriptor, in case the name was swapped in between.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

from cnnlab.data.errors import UnreadableFile

_KIND_WORDS = (
    (stat.S_ISDIR, "is a folder, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def kind_problem(mode: int) -> str | None:
    """None for a regular file, else what the ``st_mode`` says it is, in words."""
    if stat.S_ISREG(mode):
        return None
    for test, words in _KIND_WORDS:
        if test(mode):
            return words
    return "is not a regular file"


def os_problem(exc: OSError) -> str:
    """An OSError in a few words ("no such file", "permission denied", ...), without the errno noise."""
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOTDIR:
        return "a part of its path is a file, not a folder"
    return (exc.strerror or type(exc).__name__).lower()


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be used as a data file (from its metadata only, nothing is opened), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return os_problem(exc)
    except ValueError:  # a NUL byte in the name
        return "is not a valid file name"
    return kind_problem(mode)


def open_regular(path: str | Path) -> io.BufferedReader:
    """Open a regular file for binary reading; ``UnreadableFile`` for anything else, before any read.

    The size the caller may trust is ``os.fstat(f.fileno()).st_size``.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise UnreadableFile(path, problem)
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"):  # O_BINARY: Windows only
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be opened ({os_problem(exc)})") from exc
    try:
        problem = kind_problem(os.fstat(fd).st_mode)
        if problem is not None:
            raise UnreadableFile(path, problem)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
