"""The compare view on real recorded runs (tiny ones, on the synthetic digits): curves, bars, rename,
delete, reloading a run's network and architecture."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from cnnlab.app.views.compare import NAME, PARAMS, TEST, CompareView, epoch_axis
from cnnlab.app.views.editor import ArchitectureEditor
from cnnlab.data import load_dataset
from cnnlab.engine import Checkpoint, load_preset
from cnnlab.training import TrainConfig, TrainingSession
from cnnlab.training.runs import RunRecorder, RunStore


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two finished runs, the CNN recorded after the fully connected net (so it is listed first)."""
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    dataset = load_dataset("synthetic", synthetic_size=(740, 200))  # 640 to train on, 100 for validation
    for preset, name in (("fc-baseline", "fully connected"), ("seed", "CNN")):
        config = TrainConfig(spec=load_preset(preset), dataset="synthetic", epochs=2, batch_size=64,
                             validation=100, eval_every=4)  # fmt: skip
        session = TrainingSession(config, dataset)
        recorder = RunRecorder(store, name=name, session=session)
        for snapshot in session.run():
            recorder.observe(snapshot)
        assert recorder.error is None
    return root


@pytest.fixture
def store(recorded, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(recorded, root)
    return RunStore(root)


@pytest.fixture
def view(qtbot, store):
    widget = CompareView(store=store)
    qtbot.addWidget(widget)
    widget.resize(1000, 800)
    widget.show()
    qtbot.waitExposed(widget)
    widget.confirm = lambda question: pytest.fail(f"unexpected question: {question}")
    return widget


@pytest.mark.slow
def test_runs_are_listed_and_both_are_drawn(view, store):
    runs = view.runs()
    assert [info.name for info in runs] == ["CNN", "fully connected"]
    assert view.checked_ids() == [info.id for info in runs]
    table = view.table
    assert table.item(0, PARAMS).text() == "5,258" and table.item(1, PARAMS).text() == "101,770"
    assert table.item(0, TEST).text() == f"{100 * runs[0].test_accuracy:.2f}%"

    for info in runs:
        record = store.load(info.id)
        curves = view._curves[info.id]
        x, y = curves.loss.getOriginalDataset()  # getData() is in log10 on the log axis
        assert len(x) == len(record.curves["steps"])
        np.testing.assert_allclose(y, record.curves["loss_smooth"])
        np.testing.assert_allclose(x[[9, -1]], [10 / 10, 2.0], rtol=0.02)  # 10 steps per epoch
        x, y = curves.test.getData()
        np.testing.assert_allclose(x, [1.0, 2.0])
        np.testing.assert_allclose(y, 100 * record.curves["test_accuracy"])

    x, y = view.scatter.getData()  # parameters (log10) against test accuracy: the lesson's picture
    np.testing.assert_allclose(10**x, [5_258.0, 101_770.0])
    np.testing.assert_allclose(y, [100 * info.test_accuracy for info in runs])
    np.testing.assert_allclose(view.test_bars.opts["height"], [100 * info.test_accuracy for info in runs])
    assert "19.4× fewer parameters" in view.summary.text()
    assert [label.toPlainText() for label in view._scatter_labels[:2]] == ["CNN", "fully connected"]


def test_unticking_a_run_removes_its_curves(view):
    cnn, fc = view.runs()
    view.table.item(1, NAME).setCheckState(Qt.CheckState.Unchecked)
    assert view.checked_ids() == [cnn.id]
    assert fc.id not in view._curves
    np.testing.assert_allclose(10 ** view.scatter.getData()[0], [5_258.0])
    assert "Tick two runs" in view.summary.text()
    view.set_checked([cnn.id, fc.id])
    assert len(view.loss_plot.listDataItems()) == 2


def test_rename_by_editing_the_name(view, store):
    cnn = view.runs()[0]
    view.table.item(0, NAME).setText("CNN, 2 epochs")
    assert store.get(cnn.id).name == "CNN, 2 epochs"
    assert view.table.item(0, NAME).text() == "CNN, 2 epochs"
    assert view._curves[cnn.id].loss.name() == "CNN, 2 epochs"
    assert view.rename_run(cnn.id, "   ")  # no name of its own: back to what sets it apart
    assert "automatic name" in view.notice.text()
    assert store.get(cnn.id).name == store.get(cnn.id).auto_name


def test_delete_asks_first(view, store):
    cnn, fc = view.runs()
    questions = []
    view.confirm = lambda q: questions.append(q) or False
    view.select_run(fc.id)
    view.delete_button.click()
    assert len(questions) == 1 and "fully connected" in questions[0]
    assert len(store.list()) == 2

    view.confirm = lambda q: True
    assert view.delete_run(fc.id)
    assert [info.id for info in store.list()] == [cnn.id]
    assert view.table.rowCount() == 1 and fc.id not in view._curves
    assert not (store.root / fc.id).exists()


def test_reload_a_finished_runs_network_and_architecture(qtbot, view, store):
    cnn = view.runs()[0]
    view.select_run(cnn.id)
    assert view.load_button.isEnabled()
    with qtbot.waitSignal(view.networkRequested) as loaded:
        view.load_button.click()
    checkpoint, info = loaded.args
    assert isinstance(checkpoint, Checkpoint) and info.id == cnn.id
    assert checkpoint.spec == load_preset("seed")
    network = checkpoint.build_network()
    assert network.num_params == 5_258

    editor = ArchitectureEditor()
    qtbot.addWidget(editor)
    view.specRequested.connect(editor.set_spec)
    view.select_run(view.runs()[1].id)
    view.spec_button.click()
    assert editor.spec() == load_preset("fc-baseline")


def test_a_run_without_a_network_cannot_be_loaded(view, store):
    fc = view.runs()[1]
    (store.root / fc.id / "checkpoint.npz").unlink()
    view.refresh()
    view.select_run(fc.id)
    assert not view.load_button.isEnabled()
    assert view.load_network(fc.id) is False
    assert "no saved network" in view.notice.text()


def test_damaged_runs_are_reported_not_fatal(qtbot, store, tmp_path):
    cnn, fc = store.list()
    (store.root / fc.id / "curves.npz").write_bytes(b"not an npz")
    (store.root / "broken").mkdir()
    (store.root / "broken" / "run.json").write_text("{")
    view = CompareView(store=store)
    qtbot.addWidget(view)
    assert [info.id for info in view.runs()] == [cnn.id, fc.id]
    assert "cannot be read" in view.notice.text()
    assert len(view.loss_plot.listDataItems()) == 2


def test_empty_store_and_png_export(qtbot, tmp_path, view):
    empty = CompareView(store=RunStore(tmp_path / "none"))
    qtbot.addWidget(empty)
    assert empty.runs() == [] and not empty.empty_label.isHidden()
    path = tmp_path / "compare.png"
    assert view.export_png(path)
    assert not QImage(str(path)).isNull()


def test_epoch_axis_maps_steps_through_epoch_ends():
    x = epoch_axis(np.array([0, 5, 10, 15, 20, 25]), np.array([10, 20]))
    np.testing.assert_allclose(x, [0, 0.5, 1, 1.5, 2, 2.5])
    x = epoch_axis(np.array([3, 9]), np.array([6]))
    np.testing.assert_allclose(x, [0.5, 1.5])
