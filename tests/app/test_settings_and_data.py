"""Settings that survive a restart, and the dataset panel's three ways out when MNIST is missing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from cnnlab.app.settings import RANGES
from cnnlab.data import DATASETS, DownloadCancelled, DownloadProgress, write_idx
from cnnlab.data import datasets as datasets_module
from tests.app.conftest import make_lab

WAIT = 20_000


@pytest.fixture
def no_mnist_anywhere(tmp_path, monkeypatch):
    """No CNNLAB_DATA_DIR and an empty user cache: MNIST is missing, whatever this machine holds."""
    monkeypatch.delenv("CNNLAB_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setattr(datasets_module, "cache_root", lambda: cache)
    return cache


def write_fake_mnist(folder: Path, train: int = 200, test: int = 50) -> None:
    """IDX files with MNIST's names (random pixels): enough for resolve and load_dataset."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    names = {role: f.filename for role, f in DATASETS["mnist"].files.items()}
    for split, n in (("train", train), ("test", test)):
        write_idx(folder / names[f"{split}_images"], rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / names[f"{split}_labels"], (np.arange(n) % 10).astype(np.uint8))


@pytest.mark.slow
def test_settings_round_trip(qtbot, lab_settings, restore_app_look):
    first = make_lab(qtbot, lab_settings)
    first.state.set_theme("dark")
    first.state.update_config(lr=0.0123, batch_size=32, epochs=7, seed=42, optimizer="adam", augment=True)
    first.panel("controls").preset.setCurrentIndex(first.panel("controls").preset.findData("lenet5"))
    first.panel("controls")._on_preset()
    workers = int(RANGES["workers"][1])  # the machine's cores
    first.panel("controls").workers.setValue(workers)
    first.data.use_folder(str(Path("/nonexistent/data")))
    first.resize(1300, 760)
    first.show_workspace("build")
    first.set_lesson_visible(False)
    qtbot.waitUntil(lambda: not first.data.is_busy(), timeout=WAIT)
    first.close()

    second = make_lab(qtbot, lab_settings)
    cfg = second.state.config
    assert second.state.theme.name == "dark"
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.seed, cfg.optimizer, cfg.augment) == (
        0.0123,
        32,
        7,
        42,
        "adam",
        True,
    )
    assert second.state.preset == "lenet5"
    assert second.state.data_dir == "/nonexistent/data"
    assert second.current_workspace == "build" and second.mode_bar.buttons["build"].isChecked()
    assert not second.lesson.isVisible()
    # The offscreen screen is 800x600, so Qt fits a restored width to the window's minimum; the height
    # (above the screen's, yet kept) and the saved bytes show the geometry went through.
    assert second.height() == 760
    assert lab_settings.value("window/geometry") is not None
    controls = second.panel("controls")
    assert controls.lr.value() == pytest.approx(0.0123) and controls.batch_size.value() == 32
    assert cfg.workers == workers and controls.workers.value() == workers
    second.close()


def test_unreadable_settings_fall_back_to_defaults(qtbot, lab_settings, restore_app_look):
    lab_settings.setValue("train/config", "{not json")
    lab_settings.setValue("view/theme", "purple")
    lab_settings.setValue("window/state", b"garbage")
    window = make_lab(qtbot, lab_settings)
    assert window.state.theme.name == "light"
    assert window.state.config.lr == 0.05
    window.close()


def test_missing_mnist_says_so_and_offers_three_ways(
    qtbot, lab_settings, restore_app_look, no_mnist_anywhere
):
    window = make_lab(qtbot, lab_settings)
    assert not window.data.choose("mnist")
    panel = window.panel("dataset")
    assert panel.notice_kind() == "missing"
    assert "was not found" in panel.notice_title.text()
    assert str(no_mnist_anywhere) in panel.notice_text.text()  # says where it looked
    for button in (panel.download_button, panel.notice_folder_button, panel.synthetic_button):
        assert not button.isHidden() and button.toolTip()
    assert "MB" in panel.download_button.text()

    assert not window.start_training()  # nothing to train on: a message, and the dataset panel
    assert "no data to train on" in window.last_error

    with qtbot.waitSignal(window.data.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.synthetic_button, Qt.LeftButton)
    assert window.state.dataset.is_synthetic
    assert panel.notice_kind() == "synthetic"
    assert "not real MNIST" in panel.notice_title.text()
    assert "cnnlab data fetch mnist" in panel.notice_text.text()
    assert panel.samples.count() == 32
    assert set(panel.samples.captions()) <= set(DATASETS["synthetic"].class_names)
    window.close()


def test_choose_a_folder_holding_mnist(qtbot, lab_settings, restore_app_look, no_mnist_anywhere, tmp_path):
    write_fake_mnist(tmp_path / "data" / "mnist")
    window = make_lab(qtbot, lab_settings)
    with qtbot.waitSignal(window.data.loaded, timeout=WAIT):
        assert window.data.use_folder(tmp_path / "data" / "mnist")  # the dataset folder itself is fine
    assert window.state.dataset.name == "mnist" and len(window.state.dataset.train_images) == 200
    assert window.state.data_dir == str(tmp_path / "data")
    assert window.panel("dataset").notice_kind() == ""
    assert "200" in window.panel("dataset").fields["train"].text()
    window.close()


def test_start_while_loading_starts_when_the_data_is_there(qtbot, lab_settings, restore_app_look):
    window = make_lab(qtbot, lab_settings)
    window.data.use_synthetic()
    assert window.state.data_loading
    assert window.start_training()
    assert window.state.run_state == "loading"
    qtbot.waitUntil(lambda: window.state.snapshot is not None, timeout=WAIT)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=WAIT)
    window.close()


def test_download_shows_progress_and_can_be_cancelled(
    qtbot, lab_settings, restore_app_look, no_mnist_anywhere
):
    window = make_lab(qtbot, lab_settings)
    started = threading.Event()

    def endless_fetch(name, progress=None, cancel=None, **_):
        total = 9_912_422
        done = 0
        while not cancel.is_set():
            done = min(done + 100_000, total)
            progress(DownloadProgress("train-images-idx3-ubyte.gz", done, total, 1e6, 5.0, "", 0, 4))
            started.set()
            cancel.wait(0.02)
        raise DownloadCancelled("download of mnist cancelled; nothing partial was kept")

    window.data.fetcher = endless_fetch
    messages = []
    window.state.message.connect(messages.append)
    task = window.data.download("mnist")
    dialog = window.data.progress_dialog
    qtbot.waitUntil(lambda: started.is_set() and dialog.value() > 0, timeout=WAIT)
    assert dialog.isVisible()
    assert "train-images-idx3-ubyte.gz" in dialog.labelText()
    cancel_button = dialog.findChild(QPushButton)
    assert cancel_button.text() == "Cancel"
    with qtbot.waitSignal(task.finished, timeout=WAIT):
        qtbot.mouseClick(cancel_button, Qt.LeftButton)
    assert any("cancelled" in m for m in messages)
    assert not window.banner.isVisible(), "a cancel is not an error"
    assert window.state.dataset is None
    window.close()


def test_download_then_use(qtbot, lab_settings, restore_app_look, no_mnist_anywhere):
    window = make_lab(qtbot, lab_settings)

    def fake_fetch(name, progress=None, cancel=None, **_):
        folder = datasets_module.cache_root() / name
        write_fake_mnist(folder)
        progress(DownloadProgress("t10k-labels-idx1-ubyte.gz", 10, 10, None, 0.0, "", 3, 4))
        return folder

    window.data.fetcher = fake_fetch
    with qtbot.waitSignal(window.data.loaded, timeout=WAIT):
        window.data.download("mnist")
    assert window.state.dataset.name == "mnist"
    assert not window.data.progress_dialog.isVisible()
    window.close()


def test_a_failed_download_is_shown(qtbot, lab_settings, restore_app_look, no_mnist_anywhere):
    window = make_lab(qtbot, lab_settings)

    def failing_fetch(name, progress=None, cancel=None, **_):
        raise OSError("network is unreachable")

    window.data.fetcher = failing_fetch
    task = window.data.download("mnist")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT)
    assert "network is unreachable" in window.banner.text()
    qtbot.waitUntil(lambda: not task.is_running(), timeout=WAIT)
    window.close()


@pytest.mark.parametrize(
    ("remembered", "words"),
    [
        ({"epochs": 10**12}, "epochs"),
        ({"lr": 1e9}, "lr"),
        ({"workers": 200}, "workers 200 (must be 1 to"),  # remembered on a larger machine
        (
            {"spec": {"name": "big", "input_shape": [3, 28, 28],
                      "layers": [{"type": "flatten"}, {"type": "dense", "units": 10**6}]}},
            "the network",
        ),
        ({"spec": {"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", "filters": 10**9}]}}, "network"),
    ],
)  # fmt: skip
def test_a_remembered_value_that_cannot_work_falls_back_with_a_note(
    qtbot, lab_settings, restore_app_look, remembered, words
):
    """The app must start whatever was remembered: a bad value goes back to its default, and says so."""
    from cnnlab.training import TrainConfig

    data = TrainConfig().to_dict()
    data.update(remembered)
    import json

    lab_settings.setValue("train/config", json.dumps(data))
    window = make_lab(qtbot, lab_settings)
    config = window.state.config
    assert config.epochs != 10**12 and config.lr != 1e9 and config.spec.name == "seed"  # the defaults
    assert window.banner.isVisible() and "put back to their defaults" in window.banner.text()
    assert words in window.banner.text()
    assert window.view("controls") is not None  # every view still builds
    window.close()
    again = make_lab(qtbot, lab_settings)  # and the next start is a clean one
    assert not (again.banner.isVisible() and "defaults" in again.banner.text())
    again.close()


def test_a_remembered_window_larger_than_the_screen_is_fitted(qtbot, lab_settings, restore_app_look):
    from PySide6.QtCore import QRect

    first = make_lab(qtbot, lab_settings)
    first.setGeometry(QRect(-500, -400, 5000, 4000))
    first.close()
    second = make_lab(qtbot, lab_settings)
    second.fit_to_screen()
    free = second.screen().availableGeometry()
    frame = second.frameGeometry()
    assert free.contains(frame), (free, frame)
    second.close()
