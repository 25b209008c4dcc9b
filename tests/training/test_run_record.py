"""Runs that describe themselves: every setting and every live change in run.json, rewritten while the run
trains, read back the same; records written before (format 1) still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnlab.training import Change, RunRecorder, RunStore, TrainConfig, TrainingSession, run_settings
from cnnlab.training.snapshot import Event
from tests.training.conftest import small_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_record_round_trips_every_setting(tiny, tmp_path: Path):
    config = small_config(epochs=1, weight_decay=1e-4, schedule="step", step_gamma=0.5, warmup_steps=2,
                          augment=True, seed=5, train_limit=256, nesterov=True)  # fmt: skip
    session = TrainingSession(config, tiny)
    recorder = RunRecorder(RunStore(tmp_path), session=session, tags={"sweep": "abc", "sweep_value": "0.1"})
    for snap in session.run():
        recorder.observe(snap)
    info = RunStore(tmp_path).get(recorder.run_id)
    assert info.train_config() == config  # every TrainConfig field, the spec included
    c = info.config
    assert (c["network"], c["params"], c["train_images"], c["validation_images"]) == ("small", 6810, 256, 64)
    assert c["init"] == {"conv1": "he_normal", "dense1": "he_normal"}  # the spec's defaults, filled in
    assert info.train_images == 256 and info.validation_images == 64
    assert info.tags == {"sweep": "abc", "sweep_value": "0.1"}
    assert info.status == "finished" and info.test_accuracy == snap.test_accuracy
    assert info.train_accuracy == snap.train_accuracy and info.final_loss == snap.loss_smooth
    assert info.best_validation_accuracy == pytest.approx(max(snap.history.validation_accuracy))
    assert info.images_per_s == pytest.approx(snap.images_seen / snap.train_seconds)
    assert 0 < snap.train_seconds < snap.elapsed  # the steps alone, without evaluations
    assert info.seconds == snap.elapsed and info.params == session.network.num_params
    as_json = info.to_dict()
    for key in ("id", "name", "status", "config", "changes", "test_accuracy", "train_accuracy", "params",
                "seconds", "best_validation_accuracy", "final_loss", "images_per_s"):  # fmt: skip
        assert key in as_json, key
    assert json.loads(json.dumps(as_json)) == as_json


def test_a_live_learning_rate_change_is_in_the_record_and_the_history(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    session = TrainingSession(small_config(epochs=1, schedule="constant"), tiny)
    recorder = RunRecorder(store, session=session)
    run = session.run()
    for snap in run:
        recorder.observe(snap)
        if snap.step == 3:
            session.set_live(lr=0.01)
        if snap.step == 6:
            session.set_live(batch_size=16)
    expected = (Change(3, 96, "lr", 0.05, 0.01), Change(6, 192, "batch_size", 32, 16))
    assert snap.history.changes == expected
    steps = snap.history.steps
    np.testing.assert_allclose(snap.history.lr[steps <= 3], 0.05)
    np.testing.assert_allclose(snap.history.lr[steps > 3], 0.01)
    info = store.get(recorder.run_id)
    assert info.changes == expected
    assert info.config["lr"] == 0.05  # what the run started with; the change is in the timeline
    raw = json.loads((recorder.path / "run.json").read_text())
    assert raw["changes"][0] == {"step": 3, "images_seen": 96, "setting": "lr", "old": 0.05, "new": 0.01}


def test_run_json_follows_a_running_run_at_most_once_a_second(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    clock = FakeClock()
    session = TrainingSession(small_config(epochs=2, eval_every=2), tiny)
    recorder = RunRecorder(store, session=session, clock=clock)
    writes = []
    original = recorder._write_info

    def counted():
        writes.append(session.step_count)
        original()

    recorder._write_info = counted
    run = session.run()
    recorder.observe(next(run))  # started: the record exists at once
    assert store.get(recorder.run_id).status == "running" and writes == [0]
    for snap in run:
        recorder.observe(snap)
        if snap.step == 4 and snap.event == Event.EVAL:
            break
    # Two evaluations, but the clock stood still: not a second since the last write.
    assert writes == [0] and store.get(recorder.run_id).steps == 0
    clock.now += 1.0
    session.set_live(lr=0.02)
    snap = next(run)  # step 5, with the change: worth showing, and a second has passed
    recorder.observe(snap)
    info = store.get(recorder.run_id)
    assert writes == [0, 5] and info.steps == 5 and info.status == "running"
    assert info.changes == (Change(4, 128, "lr", 0.05, 0.02),)
    assert info.validation_accuracy == snap.validation_accuracy
    for snap in run:
        recorder.observe(snap)
    # Epoch ends and the end are written whatever the clock says; nothing else was (it stood still).
    assert writes == [0, 5, 10, 20, 20] and store.get(recorder.run_id).status == "finished"


def test_a_paused_run_is_written_as_paused(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    session = TrainingSession(small_config(), tiny)
    recorder = RunRecorder(store, session=session, write_interval=0.0)
    run = session.run()
    for snap in run:
        recorder.observe(snap)
        if snap.step == 2:
            session.pause()
        if snap.event == Event.PAUSED:
            break
    info = store.get(recorder.run_id)
    assert info.paused and info.steps == 2 and info.status == "running"
    session.stop()
    for snap in run:
        recorder.observe(snap)
    assert store.get(recorder.run_id).status == "stopped"


def test_names_the_user_gave_and_clearing_them(tiny, tmp_path: Path):
    store = RunStore(tmp_path)
    for name, lr in (("mine", 0.05), (None, 0.1)):
        session = TrainingSession(small_config(epochs=1, lr=lr), tiny)
        recorder = RunRecorder(store, name=name)
        for snap in session.run():
            recorder.observe(snap)
    named, auto = sorted(store.list(), key=lambda info: info.config["lr"])
    assert (named.name, named.user_name) == ("mine", "mine")
    assert (auto.name, auto.user_name, auto.auto_name) == ("small · lr 0.1", None, "small · lr 0.1")
    assert named.auto_name == "small · lr 0.05"
    cleared = store.clear_name(named.id)
    assert cleared.user_name is None and json.loads((named.path / "run.json").read_text())["name"] is None
    assert {info.name for info in store.list()} == {"small · lr 0.05", "small · lr 0.1"}


def test_a_format_1_record_still_reads(tmp_path: Path):
    folder = tmp_path / "20250101-000000-old"
    folder.mkdir()
    config = TrainConfig().to_dict()
    config.pop("validation")
    config["held_out"] = 1000
    old = {
        "format": 1, "id": folder.name, "name": "seed on mnist", "created": "2025-01-01T00:00:00+00:00",
        "status": "finished", "dataset": "mnist", "spec_name": "seed", "param_count": 5258,
        "epochs_planned": 3, "config": config, "test_accuracy": 0.98, "steps": 10, "images_seen": 640,
        "elapsed": 2.0, "epochs": [{"epoch": 1, "step": 10, "train_loss": 0.3, "train_accuracy": 0.9,
                                    "test_accuracy": 0.98, "test_loss": 0.1, "seconds": 2.0}],
    }  # fmt: skip
    (folder / "run.json").write_text(json.dumps(old))
    np.savez(folder / "curves.npz", steps=np.arange(3.0), held_out_accuracy=np.array([0.5, 0.6, 0.7]))
    store = RunStore(tmp_path)
    [info] = store.list()
    # Its made-up name is not the user's: the run is called by its network.
    assert info.user_name is None and info.name == "seed"
    assert info.train_accuracy == 0.9 and info.images_per_s == 320.0 and info.test_loss == 0.1
    assert info.config["params"] == 5258 and info.config["init"]["conv1"] == "he_normal"
    assert info.train_config().validation == 0  # its training set stays whole
    curves = store.load(info.id).curves
    np.testing.assert_array_equal(curves["validation_accuracy"], curves["held_out_accuracy"])
    renamed = store.rename(info.id, "seed on mnist")  # given by the user now: kept as the user's
    assert renamed.user_name == "seed on mnist"


def test_run_settings_of_a_config():
    settings = run_settings(TrainConfig(train_limit=1000), train_images=1000, validation_images=1000)
    assert settings["network"] == "seed" and settings["params"] == 5258
    assert settings["init"] == {"conv1": "he_normal", "conv2": "he_normal", "dense1": "glorot_uniform"}
    assert TrainConfig.from_dict({k: v for k, v in settings.items() if k in TrainConfig().to_dict()}) == (
        TrainConfig(train_limit=1000)
    )


def test_training_time_survives_a_resume(tiny, tmp_path: Path):
    from cnnlab.engine import load_checkpoint

    first = TrainingSession(small_config(), tiny)
    run = first.run()
    for snap in run:
        if snap.step == 5:
            break
    path = first.save_checkpoint(tmp_path / "half.npz")
    resumed = TrainingSession(small_config(), tiny, checkpoint=load_checkpoint(path))
    assert resumed.clock.train_seconds == first.clock.train_seconds > 0
    first.stop()
    list(run)
