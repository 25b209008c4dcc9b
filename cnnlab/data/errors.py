"""Errors of the data floor.

Every message is one self-contained line naming the file (or dataset) and what is wrong, because the CLI
prints ``str(exc)`` as it is and the app shows it in a dialog.
"""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """A data problem the user can fix: a missing, damaged or mismatched file, a failed download."""


class DataFileError(DataError):
    """One data file is unusable; ``path`` and ``problem`` say which and why ("<name>: <problem>")."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


class IdxError(DataFileError):
    """An IDX file is malformed: wrong magic number, cut short, extra bytes, not gzip, bad labels, or a
    header promising more than the size budget."""


class UnreadableFile(DataFileError):
    """A data file cannot be opened: missing, a folder, a pipe or device rather than a regular file, or
    permission denied."""


class ChecksumError(DataError):
    """A file's SHA-256 or size differs from the published one."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetNotFound(DataError):
    """A dataset's files are in none of the places cnnlab looks."""


class DownloadError(DataError):
    """Every mirror failed for a file; the message lists each mirror's failure."""


class DownloadCancelled(DataError):
    """The user cancelled a download; nothing partial was kept."""


class CollectionError(DataFileError):
    """A file of the learner's own digits collection (``mine``) is damaged, or disagrees with the other
    files of the collection (a different number of samples, another label)."""


class NotEnoughSamples(DataError):
    """The learner's own digits collection holds too few samples for what was asked (none at all, or none
    in the part held out for testing)."""


class EmptyDrawing(DataError):
    """The canvas holds no drawing (or only a speck), so there is nothing to classify."""
