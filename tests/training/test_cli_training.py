"""``cnnlab train``, ``eval`` and ``predict``: what they write, and one clear line for every user error."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from cnnlab import cli
from cnnlab.data import datasets
from cnnlab.engine import load_checkpoint
from cnnlab.training import RunRecorder, RunStore
from tests.training.conftest import make_dataset


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == cli.EXIT_USER_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cnnlab: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, fake_data_dir: Path) -> Path:
    """One quick run of ``cnnlab train`` shared by the eval and predict tests: its --out folder."""
    out = tmp_path_factory.mktemp("trained")
    code = cli.main(
        ["train", "--data-dir", str(fake_data_dir), "--limit", "320", "--epochs", "2", "--out", str(out),
         "--no-record"]
    )  # fmt: skip
    assert code == 0
    return out


def test_train_limit_writes_checkpoint_and_metrics(capsys, tmp_path: Path, fake_data_dir: Path, cnnlab_home):
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "train", "--preset", "seed", "--dataset", "mnist", "--data-dir", str(fake_data_dir),
        "--epochs", "2", "--limit", "320", "--batch-size", "32", "--lr", "0.05", "--seed", "3",
        "--out", str(out), "--name", "quick",
    )  # fmt: skip
    assert code == 0, err
    # The validation split is held out of the 640 training images first (a sixth of them at most).
    assert (
        "Training seed (5,258 parameters) on mnist: 320 training, 106 validation (held out of the training "
        "set) and 200 test images" in stdout
    )
    assert "Settings: SGD, lr 0.05 (cosine), momentum 0.9, batch 32, 2 epochs, seed 3" in stdout
    assert "epoch  train loss  train acc  test acc" in stdout
    assert "Test accuracy:" in stdout and "Confusion matrix" in stdout

    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert len(metrics["per_class_accuracy"]) == 10
    assert np.array(metrics["confusion"]).shape == (10, 10) and np.sum(metrics["confusion"]) == 200
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    for epoch in metrics["epochs"]:
        assert {"train_loss", "train_accuracy", "test_accuracy", "seconds"} <= set(epoch)
    assert metrics["epochs"][-1]["test_accuracy"] == metrics["test_accuracy"]
    assert metrics["status"] == "finished" and metrics["steps"] == 20
    assert metrics["config"]["seed"] == 3 and metrics["config"]["train_limit"] == 320

    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint.metadata["step"] == 20 and checkpoint.optimizer_state
    [info] = RunStore().list()
    assert info.name == "quick" and info.status == "finished"
    assert info.test_accuracy == metrics["test_accuracy"]
    assert f"Run recorded in {info.path}" in stdout


def test_train_a_spec_file_with_adam(capsys, tmp_path: Path, fake_data_dir: Path):
    from tests.training.conftest import SMALL_SPEC

    spec = tmp_path / "mine.json"
    spec.write_text(SMALL_SPEC.replace_layers(SMALL_SPEC.layers).to_json().replace('"small"', '""'))
    code, stdout, err = run(
        capsys, "train", "--spec", str(spec), "--data-dir", str(fake_data_dir), "--limit", "64",
        "--epochs", "1", "--optimizer", "adam", "--lr", "0.001", "--augment", "--no-record",
    )  # fmt: skip
    assert code == 0, err
    assert "Training mine (" in stdout and "Settings: adam, lr 0.001 (cosine), batch 64" in stdout
    assert "augmentation on" in stdout


def test_resume_continues_to_more_epochs(capsys, tmp_path: Path, trained: Path, fake_data_dir: Path):
    out = tmp_path / "more"
    code, stdout, err = run(
        capsys, "train", "--resume", str(trained / "checkpoint.npz"), "--epochs", "3",
        "--data-dir", str(fake_data_dir), "--out", str(out), "--no-record",
    )  # fmt: skip
    assert code == 0, err
    assert "Resuming from" in stdout and "at step 10, epoch 3" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]  # the earlier epochs come along
    assert metrics["steps"] == 15 and metrics["config"]["epochs"] == 3


def test_ctrl_c_stops_cleanly_and_still_saves(capsys, tmp_path: Path, fake_data_dir: Path, monkeypatch):
    observe = RunRecorder.observe
    sent = []

    def interrupt_after_step_1(self, snapshot):
        observe(self, snapshot)
        if snapshot.step >= 1 and not sent:
            sent.append(snapshot.step)
            signal.raise_signal(signal.SIGINT)  # what Ctrl+C does, at a known moment

    monkeypatch.setattr(RunRecorder, "observe", interrupt_after_step_1)
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "train", "--data-dir", str(fake_data_dir), "--limit", "640", "--batch-size", "32",
        "--out", str(out),
    )  # fmt: skip
    assert code == 130
    assert "Stopping after this step" in err and "Traceback" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "stopped" and metrics["steps"] == sent[0]
    assert metrics["test_accuracy"] is not None and len(metrics["confusion"]) == 10
    assert load_checkpoint(out / "checkpoint.npz").metadata["step"] == metrics["steps"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_missing_data_says_where_it_looked(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(datasets, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    code, _, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nothing"))
    assert_one_line_error(
        code, err, str(tmp_path / "nothing" / "mnist"), "cnnlab data fetch mnist", "--dataset synthetic"
    )


def test_bad_spec_json(capsys, tmp_path: Path):
    spec = tmp_path / "net.json"
    spec.write_text("{not json")
    code, _, err = run(capsys, "train", "--spec", str(spec), "--dataset", "synthetic")
    assert_one_line_error(code, err, "net.json", "not valid JSON")
    spec.write_text(json.dumps({"layers": [{"type": "conv2d", "filters": 0}]}))
    code, _, err = run(capsys, "train", "--spec", str(spec), "--dataset", "synthetic")
    assert_one_line_error(code, err, "net.json")
    code, _, err = run(capsys, "train", "--spec", str(tmp_path / "absent.json"))
    assert_one_line_error(code, err, "absent.json", "no such spec file")


def test_unknown_preset_optimizer_and_bad_settings(capsys):
    code, _, err = run(capsys, "train", "--preset", "resnet")
    assert_one_line_error(code, err, "unknown preset 'resnet'", "seed")
    code, _, err = run(capsys, "train", "--optimizer", "rmsprop", "--dataset", "synthetic")
    assert_one_line_error(code, err, "optimizer must be one of sgd, adam, adamw")
    code, _, err = run(capsys, "train", "--lr", "-1", "--dataset", "synthetic")
    assert_one_line_error(code, err, "argument --lr: must be above 0, got -1", "cnnlab train --help")


def test_corrupt_checkpoint(capsys, tmp_path: Path, fake_data_dir: Path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is no checkpoint")
    for argv in (
        ["eval", str(bad), "--data-dir", str(fake_data_dir)],
        ["predict", str(bad), str(tmp_path / "x.png")],
        ["train", "--resume", str(bad), "--data-dir", str(fake_data_dir)],
    ):
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, "bad.npz")
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.npz"))
    assert_one_line_error(code, err, "missing.npz", "no such file")


def test_eval_prints_and_speaks_json(capsys, trained: Path, fake_data_dir: Path):
    checkpoint = str(trained / "checkpoint.npz")
    code, stdout, err = run(capsys, "eval", checkpoint, "--data-dir", str(fake_data_dir))
    assert code == 0, err
    assert "Test accuracy:" in stdout and "on 200 images" in stdout and "Per-class accuracy" in stdout
    code, stdout, _ = run(
        capsys, "eval", checkpoint, "--data-dir", str(fake_data_dir), "--json", "--limit", "50"
    )
    result = json.loads(stdout)
    assert result["count"] == 50 and result["dataset"] == "mnist"
    assert 0 <= result["accuracy"] <= 1 and np.array(result["confusion"]).sum() == 50
    expected = json.loads((trained / "metrics.json").read_text())["test_accuracy"]
    code, stdout, _ = run(capsys, "eval", checkpoint, "--data-dir", str(fake_data_dir), "--json")
    assert json.loads(stdout)["accuracy"] == pytest.approx(expected)


def write_png(path: Path, image: np.ndarray) -> Path:
    from PySide6.QtGui import QImage

    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    qimage = QImage(image.data, w, h, w, QImage.Format.Format_Grayscale8)
    assert qimage.save(str(path))
    return path


def test_predict_reads_images_and_ranks_classes(capsys, tmp_path: Path, trained: Path):
    digits = make_dataset(20, 1, seed=5)
    big = np.kron(255 - digits.train_images[0], np.ones((4, 4), dtype=np.uint8))  # dark ink on white
    first = write_png(tmp_path / "one.png", big)
    second = write_png(tmp_path / "two.png", digits.train_images[1])
    checkpoint = str(trained / "checkpoint.npz")
    code, stdout, err = run(capsys, "predict", checkpoint, str(first), str(second), "--json", "--top", "2")
    assert code == 0, err
    result = json.loads(stdout)
    assert [r["image"] for r in result] == [str(first), str(second)]
    for r in result:
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 2 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert r["top"][0]["name"] == str(r["top"][0]["class"])
    code, stdout, _ = run(capsys, "predict", checkpoint, str(first))
    assert stdout.startswith(f"{first}: ") and stdout.count("%") == 3


def test_predict_errors_are_one_line(capsys, tmp_path: Path, trained: Path):
    checkpoint = str(trained / "checkpoint.npz")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    code, _, err = run(capsys, "predict", checkpoint, str(junk))
    assert_one_line_error(code, err, "junk.png", "cannot read the image")
    code, _, err = run(capsys, "predict", checkpoint, str(tmp_path / "absent.png"))
    assert_one_line_error(code, err, "absent.png", "no such image file")
    blank = write_png(tmp_path / "blank.png", np.full((50, 50), 255, dtype=np.uint8))
    code, _, err = run(capsys, "predict", checkpoint, str(blank))
    assert_one_line_error(code, err, "blank.png", "empty")
