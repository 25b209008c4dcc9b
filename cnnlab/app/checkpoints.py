"""Opening and saving checkpoints from the window.

A save while a run goes is served by the training thread between two steps (``request_checkpoint``
returns a ``Future``); its completion is relayed to the GUI thread by a signal, never polled.
"""

from __future__ import annotations

from concurrent.futures import Future
from importlib.resources import as_file
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnlab.app.runner import describe_exception
from cnnlab.engine import Checkpoint, CheckpointError, SpecError, load_checkpoint, save_checkpoint

PRETRAINED = "seed-mnist.npz"
PRETRAINED_NAME = "the trained seed network (98.6% on MNIST's test set)"

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow


class _FutureRelay(QObject):
    """Lives in the GUI thread; ``resolved`` is emitted from whichever thread completes the future and
    delivered (queued) here."""

    resolved = Signal(object)


class CheckpointCommands(QObject):
    saved = Signal(str)  # path
    opened = Signal(str)  # name

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._relay = _FutureRelay(self)
        self._relay.resolved.connect(self._on_future_done)
        self.pending = 0  # saves requested from the training thread and not yet done

    # -- opening -------------------------------------------------------------------------------------
    def open_file(self, path: str | Path) -> bool:
        w = self.window
        try:
            checkpoint = load_checkpoint(path)
        except (CheckpointError, SpecError, OSError, ValueError, MemoryError) as exc:
            w.show_error(f"Could not open the checkpoint: {describe_exception(exc)}", topic="checkpoint")
            return False
        return w.use_checkpoint(checkpoint, Path(path).name)

    def open_pretrained(self) -> bool:
        from cnnlab.app.assets import asset

        try:
            with as_file(asset("networks", PRETRAINED)) as path:
                checkpoint = load_checkpoint(path)
        except (CheckpointError, OSError) as exc:
            self.window.show_error(
                f"The trained network that ships with cnnlab cannot be read: {describe_exception(exc)}",
                topic="checkpoint",
            )
            return False
        return self.window.use_checkpoint(checkpoint, PRETRAINED_NAME)

    # -- saving --------------------------------------------------------------------------------------
    def save_file(self, path: str | Path) -> bool:
        """Save the network: from the training thread between two steps when a run is going."""
        w = self.window
        path = Path(path)
        session = w.controller.session
        try:
            if session is not None and w.controller.is_running():
                future = session.request_checkpoint(path)
                self.pending += 1
                future.add_done_callback(self._relay.resolved.emit)
                return True
            last = w.controller.last_session
            if last is not None and w.state.run_id == last.run_id:
                last.save_checkpoint(path)  # its thread has ended: the session is idle
            else:
                network = w.state.inspector()
                if network is None:
                    raise ValueError("there is no network to save")
                meta = {"config": w.state.config.to_dict(), "class_names": list(w.state.class_names)}
                save_checkpoint(path, network, metadata=meta)
        except (CheckpointError, OSError, ValueError) as exc:
            w.show_error(f"Could not save the checkpoint: {describe_exception(exc)}", topic="checkpoint")
            return False
        self._saved(str(path))
        return True

    def _on_future_done(self, future: Future) -> None:
        self.pending -= 1
        error = future.exception()
        if error is not None:
            self.window.show_error(
                f"Could not save the checkpoint: {describe_exception(error)}", topic="checkpoint"
            )
        else:
            self._saved(str(future.result()))

    def _saved(self, path: str) -> None:
        self.window.statusBar().showMessage(f"Saved checkpoint {path}", 8000)
        self.saved.emit(path)


def checkpoint_label(checkpoint: Checkpoint, name: str) -> str:
    meta = checkpoint.metadata if isinstance(checkpoint.metadata, dict) else {}
    step = meta.get("step")
    return f"{name} (step {step:,})" if isinstance(step, int) else name
