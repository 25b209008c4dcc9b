"""Finding, loading and downloading datasets for the window, always off the GUI thread.

Loading MNIST (gzip) takes about a second and a download as long as the network wants; both run as a
task of the app's runner. A newer request supersedes an older one: a load that ends after the user chose
another dataset is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from cnnlab.app.runner import TaskGroup, TaskHandle
from cnnlab.app.state import AppState
from cnnlab.data import DATASETS, Dataset, DownloadProgress, fetch, load_dataset, resolve

KEEP = object()  # "leave the data folder as it is"


class DataManager(QObject):
    loaded = Signal(object)  # Dataset, in use from now on
    failed = Signal(str, str)  # a load or a download failed: one-line message, details
    downloadFinished = Signal(str)  # dataset name, downloaded and about to be loaded

    def __init__(
        self,
        state: AppState,
        parent: QWidget | None = None,
        *,
        fetcher: Callable[..., Path] = fetch,
        synthetic_size: tuple[int, int] = (12_000, 2_000),
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.fetcher = fetcher
        self.synthetic_size = synthetic_size
        self._window = parent
        self._generation = 0
        self._tasks = TaskGroup(self)
        self.progress_dialog: QProgressDialog | None = None

    # -- choosing and loading -----------------------------------------------------------------------
    def choose(self, name: str, data_dir: str | object | None = KEEP) -> bool:
        """Use dataset ``name`` (optionally from ``data_dir``): load it in the background if it is found.

        Returns whether a load was started; otherwise the state says what is missing and where we looked.
        """
        if name not in DATASETS:
            self.failed.emit(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})", "")
            return False
        folder = self.state.data_dir if data_dir is KEEP else data_dir
        self._generation += 1
        resolution = resolve(name, folder)
        self.state.set_data_status(name=name, data_dir=folder, problem="", resolution=resolution)
        self.state.update_config(dataset=name, data_dir=folder)
        if not resolution.found:
            self.state.set_dataset(None)
            places = "\n".join(f"  {place.describe()}" for place in resolution.looked)
            self.state.set_data_status(problem=f"Looked in:\n{places}")
            return False
        self._load(name, folder)
        return True

    def reload(self) -> bool:
        return self.choose(self.state.dataset_name)

    def use_synthetic(self) -> bool:
        return self.choose("synthetic")

    def is_busy(self) -> bool:
        return self._tasks.busy()

    def _load(self, name: str, folder: str | None) -> None:
        generation = self._generation
        self.state.set_data_status(loading=True)
        size = self.synthetic_size

        def work(state) -> Dataset:
            return load_dataset(name, folder, synthetic_size=size)

        task = self._tasks.run(work, f"load-{name}")
        task.done.connect(lambda dataset: self._on_loaded(generation, dataset))
        task.failed.connect(lambda message, details: self._on_load_failed(generation, message, details))

    def _on_loaded(self, generation: int, dataset: Dataset) -> None:
        if generation != self._generation:
            return
        self.state.set_dataset(dataset)
        words = "synthetic digits (generated)" if dataset.is_synthetic else dataset.source
        self.state.message.emit(f"{dataset.name}: {len(dataset.train_images):,} training images from {words}")
        self.loaded.emit(dataset)

    def _on_load_failed(self, generation: int, message: str, details: str) -> None:
        if generation != self._generation:
            return
        self.state.set_dataset(None)
        self.state.set_data_status(problem=message)
        self.failed.emit(f"Could not load {self.state.dataset_name}: {message}", details)

    # -- a folder ------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        """Ask for a folder (a dialog), then use it."""
        start = self.state.data_dir or str(Path.home())
        folder = QFileDialog.getExistingDirectory(
            self._window, "Choose a folder that holds mnist/ (or the mnist folder itself)", start
        )
        if folder:
            self.use_folder(folder)

    def use_folder(self, folder: str | Path) -> bool:
        """Use ``folder`` as the data folder. The dataset's own folder (``.../mnist``) is accepted too."""
        folder = Path(folder)
        name = self.state.dataset_name
        if name not in DATASETS or not DATASETS[name].files:
            name = "mnist"
        if folder.name in DATASETS and not (folder / name).is_dir():
            name, folder = folder.name, folder.parent
        return self.choose(name, str(folder))

    # -- downloading ---------------------------------------------------------------------------------
    def download(self, name: str | None = None) -> TaskHandle | None:
        """Download ``name`` (default: the chosen dataset, or MNIST) with a cancellable progress dialog."""
        name = name or self.state.dataset_name
        if name not in DATASETS or not DATASETS[name].files:
            name = "mnist"
        info = DATASETS[name]
        dialog = QProgressDialog(f"Downloading {info.title}...", "Cancel", 0, 1000, self._window)
        dialog.setWindowTitle("Download")
        dialog.setWindowModality(Qt.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        self.progress_dialog = dialog
        fetcher = self.fetcher

        def work(state) -> Path:
            return fetcher(name, progress=state.report, cancel=state.event)

        task = self._tasks.run(work, f"download-{name}", start=False)
        dialog.canceled.connect(task.cancel)
        task.progress.connect(lambda report: self._on_download_progress(dialog, info.title, report))
        task.done.connect(lambda folder: self._on_downloaded(name, folder))
        task.failed.connect(lambda message, details: self._on_download_failed(task, name, message, details))
        task.cancelled.connect(lambda: self._on_download_failed(task, name, "cancelled", ""))
        task.finished.connect(dialog.close)
        dialog.show()
        task.start()
        return task

    def _on_download_progress(self, dialog: QProgressDialog, title: str, report: DownloadProgress) -> None:
        fraction = (report.file_index + report.bytes_done / max(report.bytes_total, 1)) / report.file_count
        dialog.setValue(round(1000 * min(fraction, 1.0)))
        rate = f", {report.rate_bytes_per_s / 1e6:.1f} MB/s" if report.rate_bytes_per_s else ""
        dialog.setLabelText(
            f"Downloading {title}\n{report.file} ({report.file_index + 1} of {report.file_count}): "
            f"{report.bytes_done / 1e6:.1f} of {report.bytes_total / 1e6:.1f} MB{rate}"
        )

    def _on_downloaded(self, name: str, folder: Path) -> None:
        self.state.message.emit(f"{name} downloaded to {folder}")
        self.downloadFinished.emit(name)
        # The cache is searched after the explicit folder and the environment; name it so it is used.
        self.choose(
            name, str(Path(folder).parent) if resolve(name, self.state.data_dir).folder != folder else KEEP
        )

    def _on_download_failed(self, task: TaskHandle, name: str, message: str, details: str) -> None:
        if task.is_cancelled:
            self.state.message.emit(f"Download of {name} cancelled; nothing partial was kept")
            return
        self.failed.emit(f"Could not download {name}: {message}", details)

    # -- housekeeping --------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 5_000) -> None:
        """Cancel downloads and wait for every thread (closing the window)."""
        self._tasks.shutdown(timeout_ms)
