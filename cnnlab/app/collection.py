"""``Collection``: the learner's own digits (``cnnlab.data.mine``), seen from the GUI thread.

The drawing pad keeps drawings here and the Data workspace browses, relabels and deletes them. Every change
is a commit to disk with syncs (tens of milliseconds), so it runs as a task of the app's runner; changes
are done one after another in the order asked, and ``changed`` carries the collection as it then is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnlab.app.runner import TaskGroup
from cnnlab.data.mine import MineState, MineStore


class Collection(QObject):
    changed = Signal(object)  # MineState
    failed = Signal(str)  # one line: what could not be done and why
    added = Signal(int, int)  # sample id, label (a drawing was kept)

    def __init__(self, root: str | Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = MineStore(root)
        self.state: MineState | None = None
        self._tasks = TaskGroup(self)
        self._queue: deque[tuple[str, Callable[[MineStore], Any]]] = deque()
        self._busy = False
        self.refresh()

    # -- what the views ask for ------------------------------------------------------------------------
    def refresh(self) -> None:
        self._submit("read", lambda store: None)

    def keep(self, image: np.ndarray, label: int, strokes=None) -> None:
        """Save a drawing (the 28x28 the network sees, and the pad's strokes) with its true label."""
        image = np.array(image, copy=True)
        self._submit("keep", lambda store: ("added", store.add(image, int(label), strokes), int(label)))

    def undo_last(self) -> None:
        self._submit("undo", lambda store: store.undo_last())

    def delete(self, ids) -> None:
        ids = [int(i) for i in ids]
        self._submit("delete", lambda store: store.delete(ids))

    def relabel(self, sample_id: int, label: int) -> None:
        self._submit("relabel", lambda store: store.relabel(int(sample_id), int(label)))

    def import_images(self, pairs, label: int | None = None) -> None:
        """``pairs``: (name, decoded array) from the face; labels from the names unless ``label``."""
        pairs = list(pairs)
        self._submit("import", lambda store: store.import_images(pairs, label=label))

    def export_pngs(self, folder: str | Path, encode, layout: str = "by-label") -> None:
        self._submit("export", lambda store: store.export_pngs(folder, encode, layout))

    def busy(self) -> bool:
        return self._busy or bool(self._queue)

    def shutdown(self) -> None:
        self._queue.clear()
        self._tasks.shutdown()

    # -- one change at a time ----------------------------------------------------------------------------
    def _submit(self, what: str, change: Callable[[MineStore], Any]) -> None:
        self._queue.append((what, change))
        if not self._busy:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            self._busy = False
            return
        self._busy = True
        what, change = self._queue.popleft()
        store = self.store

        def work(task_state):
            result = change(store)
            return result, store.read()

        task = self._tasks.run(work, f"collection-{what}", start=False)
        task.done.connect(self._on_done)
        task.failed.connect(lambda message, details, w=what: self.failed.emit(f"Could not {w}: {message}"))
        task.finished.connect(self._next)
        task.start()

    def _on_done(self, outcome) -> None:
        result, state = outcome
        self.state = state
        self.changed.emit(state)
        if isinstance(result, tuple) and len(result) == 3 and result[0] == "added":
            self.added.emit(result[1], result[2])
