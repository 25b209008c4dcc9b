"""Runs history: a run recorded from its snapshots, then listed, loaded, renamed and deleted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnlab.training import RunError, RunRecorder, RunStore, TrainingSession, runs_root
from tests.training.conftest import small_config


def record(dataset, store: RunStore, *, with_session=True, stop_at: int | None = None, name=None, **changes):
    session = TrainingSession(small_config(**changes), dataset)
    recorder = RunRecorder(store, session=session if with_session else None, name=name)
    snaps = []
    for snap in session.run():
        snaps.append(snap)
        recorder.observe(snap)
        if stop_at is not None and snap.step == stop_at:
            session.stop()
    assert recorder.error is None
    return session, recorder, snaps


def test_a_run_round_trips_through_the_store(tiny, tmp_path: Path):
    store = RunStore(tmp_path / "runs")
    session, recorder, snaps = record(tiny, store)
    final = snaps[-1]

    [info] = store.list()
    assert info.id == recorder.run_id and info.path == tmp_path / "runs" / recorder.run_id
    assert info.status == "finished" and info.name == "small" and info.user_name is None  # by its network
    assert info.dataset == "tiny" and info.spec_name == "small"
    assert info.param_count == session.network.num_params
    assert info.test_accuracy == final.test_accuracy
    assert info.best_test_accuracy == max(final.history.test_accuracy)
    assert info.epochs_planned == 2 and info.epochs_done == 2 and info.steps == 20
    assert [e.epoch for e in info.epochs] == [1, 2]
    assert info.epochs[-1].test_accuracy == final.test_accuracy
    assert info.config["lr"] == 0.05 and info.config["spec"]["name"] == "small"
    assert info.session_id == session.run_id and info.has_checkpoint
    assert info.confusion is not None and sum(map(sum, info.confusion)) == 100

    loaded = store.load(info.id)
    np.testing.assert_array_equal(loaded.curves["loss"], final.history.loss)
    np.testing.assert_array_equal(loaded.curves["test_accuracy"], final.history.test_accuracy)
    assert [line["step"] for line in loaded.metric_lines("eval")] == [4, 8, 10, 14, 18, 20]
    assert [line["epoch"] for line in loaded.metric_lines("epoch")] == [1, 2]

    network = store.load_network(info.id)
    for name, value in network.state_dict().items():
        np.testing.assert_array_equal(value, final.weights[name])
    # The session's own checkpoint: a recorded run can be resumed, optimizer state included.
    assert store.load_checkpoint(info.id).optimizer_state

    renamed = store.rename(info.id, "  first try ")
    assert renamed.name == "first try" and store.get(info.id).name == "first try"
    store.delete(info.id)
    assert store.list() == []
    with pytest.raises(RunError, match="no run"):
        store.get(info.id)


def test_runs_are_listed_newest_first_and_a_stopped_run_says_so(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    _, first, _ = record(tiny, store, epochs=1)
    _, second, snaps = record(tiny, store, with_session=False, stop_at=3, name="stopped one")
    assert [info.id for info in store.list()] == [second.run_id, first.run_id]
    info = store.get(second.run_id)
    assert info.status == "stopped" and info.name == "stopped one" and info.steps == 3
    assert "stopped" in info.message.lower() and info.epochs == ()
    # Without the session the recorder saves the snapshot's weights, still a loadable network.
    network = store.load_network(second.run_id)
    np.testing.assert_array_equal(network.state_dict()["conv1.W"], snaps[-1].weights["conv1.W"])


def test_annotate_and_failed(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    session = TrainingSession(small_config(), tiny)
    recorder = RunRecorder(store)
    run = session.run()
    recorder.observe(next(run))
    recorder.annotate(note="hello", test_accuracy=np.float32(0.5), per_class_accuracy=np.array([np.nan, 1.0]))
    recorder.failed("RuntimeError: boom")
    info = store.get(recorder.run_id)
    assert info.status == "failed" and info.message == "RuntimeError: boom"
    assert info.test_accuracy == 0.5 and info.per_class_accuracy == (None, 1.0)
    assert info.extra["note"] == "hello"
    session.stop()
    list(run)


def test_the_root_follows_cnnlab_home(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CNNLAB_HOME", str(tmp_path / "home"))
    assert runs_root() == tmp_path / "home" / "runs"
    assert RunStore().root == tmp_path / "home" / "runs"
    assert RunStore(tmp_path / "elsewhere").root == tmp_path / "elsewhere"
    monkeypatch.delenv("CNNLAB_HOME")
    assert runs_root().name == "runs" and "cnnlab" in str(runs_root())
    assert RunStore(tmp_path / "none").list() == []


def test_damaged_and_foreign_folders_are_left_out(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    _, recorder, _ = record(tiny, store, epochs=1)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.json").write_text("{not json")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.json").write_text(json.dumps({"no": "id"}))
    assert [info.id for info in store.list()] == [recorder.run_id]
    with pytest.raises(RunError, match="cannot be read"):
        store.get("junk")
    for bad in ("../x", "", "a/b"):
        with pytest.raises(RunError, match="not a run id"):
            store.get(bad)
    with pytest.raises(RunError, match="empty"):
        store.rename(recorder.run_id, "   ")


def test_a_metrics_line_cut_short_is_skipped(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    _, recorder, _ = record(tiny, store, epochs=1)
    with open(recorder.path / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"kind": "eval", "st')
    lines = store.load(recorder.run_id).metrics
    assert lines and all("kind" in line for line in lines)


def test_recording_problems_never_stop_training(tiny, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    session = TrainingSession(small_config(epochs=1), tiny)
    recorder = RunRecorder(RunStore(blocker / "runs"))
    for snap in session.run():
        recorder.observe(snap)
    assert snap.event == "finished"
    assert recorder.error is not None and "could not record" in recorder.error


def test_a_copied_run_folder_is_a_run_of_its_own(tiny, tmp_path: Path):
    import shutil

    store = RunStore(tmp_path / "runs")
    _, recorder, _ = record(tiny, store, stop_at=3)
    original = recorder.run_id
    shutil.copytree(store.root / original, store.root / f"{original}-backup")
    ids = {info.id for info in store.list()}
    assert ids == {original, f"{original}-backup"}
    store.delete(f"{original}-backup")  # deleting the copy never touches the original
    [left] = store.list()
    assert left.id == original and store.load_checkpoint(original).metadata["step"] == 3
    store.rename(original, "kept")
    assert json.loads((store.root / original / "run.json").read_text())["name"] == "kept"


def test_a_run_whose_recorder_is_gone_is_interrupted(tiny, tmp_path: Path):
    store = RunStore(tmp_path / "runs")
    session = TrainingSession(small_config(), tiny)
    recorder = RunRecorder(store, session=session)
    run = session.run()
    recorder.observe(next(run))
    [info] = store.list()
    assert info.status == "running"  # its lock is held, here, by this very process
    with pytest.raises(RunError, match="is still training; stop it before deleting it"):
        store.delete(info.id)
    recorder.close()  # as if its process had died
    assert store.get(info.id).status == "interrupted"
    for snapshot in run:  # the run itself goes on; its end is recorded as usual
        recorder.observe(snapshot)
    assert store.get(info.id).status == "finished"
    store.delete(info.id)


@pytest.mark.slow
def test_kill_9_of_a_training_process_leaves_an_interrupted_run(tmp_path: Path):
    import os
    import subprocess
    import sys

    from tests.training.test_writes import REPO

    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CNNLAB_HOME": str(home)}
    argv = [
        sys.executable,
        "-m",
        "cnnlab",
        "train",
        "--dataset",
        "synthetic",
        "--limit",
        "640",
        "--epochs",
        "500",
    ]
    with subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as child:
        try:
            for line in child.stdout:  # the first epoch's table row: its run.json says "running" by now
                if line.strip().startswith(b"1 "):
                    break
            [info] = RunStore(home / "runs").list()
            assert info.status == "running"
        finally:
            child.kill()
    [info] = RunStore(home / "runs").list()
    assert info.status == "interrupted" and info.steps > 0
