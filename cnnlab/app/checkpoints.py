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
from PySide6.QtWidgets import QFileDialog

from cnnlab.app.runner import TaskGroup, TaskHandle, describe_exception
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
    exported = Signal(str)  # the file or folder written

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._relay = _FutureRelay(self)
        self._relay.resolved.connect(self._on_future_done)
        self._tasks = TaskGroup(self)
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

    # -- ONNX and PyTorch (cnnlab.bridge), off the GUI thread: importing onnx alone takes most of a second
    def explain_unavailable(self, actions) -> None:
        """Grey out the formats this installation cannot write, saying why in their tooltips."""
        from cnnlab.bridge import unavailable

        for key, fmt in (("open_onnx", "onnx"), ("export_onnx", "onnx"), ("export_pytorch", "pytorch")):
            reason = unavailable(fmt)
            if reason:
                actions[key].setEnabled(False)
                actions[key].setToolTip(reason)

    def open_onnx_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open an ONNX model", "", "ONNX models (*.onnx)")
        if path:
            self.open_onnx_file(path)

    def open_onnx_file(self, path: str | Path) -> TaskHandle:
        path = Path(path)

        def work(state):
            from cnnlab.bridge import read_onnx

            return read_onnx(path)

        task = self._tasks.run(work, "open-onnx", start=False)
        task.done.connect(lambda checkpoint: self.window.use_checkpoint(checkpoint, path.name))
        task.failed.connect(
            lambda message, details: self.window.show_error(
                f"Could not open the ONNX model: {message}", details, topic="checkpoint"
            )
        )
        self.window.statusBar().showMessage(f"Reading {path.name}...", 5000)
        return task.start()

    def export_onnx_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export the network as ONNX", "cnnlab.onnx", "ONNX models (*.onnx)"
        )
        if path:
            self.export(path, "onnx")

    def export_pytorch_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Export for PyTorch into a folder")
        if folder:
            self.export(folder, "pytorch")

    def export(self, target: str | Path, fmt: str) -> TaskHandle | None:
        """Export the network the views show (a private copy of it) as ``fmt`` ("onnx" or "pytorch")."""
        from cnnlab.app.views.common import private_copy

        w = self.window
        network = w.state.inspector()
        if network is None:
            w.show_error("There is no network to export.", topic="checkpoint")
            return None
        copy, names, dataset = private_copy(network), list(w.state.class_names), w.state.dataset_name
        target = Path(target)

        def work(state):
            if fmt == "onnx":
                from cnnlab.bridge import export_onnx

                return [export_onnx(copy, target, class_names=names, dataset=dataset)]
            from cnnlab.bridge import export_pytorch

            written = export_pytorch(copy, target, class_names=names, dataset=dataset)
            return [written.model, written.weights, written.readme]

        task = self._tasks.run(work, f"export-{fmt}", start=False)
        task.done.connect(lambda paths: self._exported(fmt, paths))
        task.failed.connect(
            lambda message, details: w.show_error(f"Could not export: {message}", details, topic="checkpoint")
        )
        return task.start()

    def _exported(self, fmt: str, paths: list) -> None:
        where = paths[0] if fmt == "onnx" else Path(paths[0]).parent
        self.window.statusBar().showMessage(f"Exported the network to {where}", 8000)
        self.exported.emit(str(where))

    def shutdown(self) -> None:
        self._tasks.shutdown()

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
