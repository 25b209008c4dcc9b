"""``cnnlab sweep`` and ``cnnlab runs``: the documented table and JSON, and one line for each mistake."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.training.test_cli_training import assert_one_line_error, run

SWEEP_KEYS = {"value", "label", "name", "status", "run_id", "test_accuracy", "train_accuracy",
              "best_validation_accuracy", "final_loss", "seconds", "images_per_s", "params",
              "config"}  # fmt: skip
RUN_KEYS = {"id", "name", "status", "config", "changes", "test_accuracy", "train_accuracy", "params",
            "seconds", "best_validation_accuracy", "final_loss", "images_per_s", "tags"}  # fmt: skip


def sweep_args(data: Path, *more: str) -> list[str]:
    return ["sweep", "--preset", "seed", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "1",
            "--limit", "128", "--batch-size", "32", "--validation", "64", *more]  # fmt: skip


def test_sweep_prints_a_table_and_records_its_runs(capsys, tmp_path: Path, fake_data_dir: Path, cnnlab_home):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, *sweep_args(fake_data_dir, "--vary", "lr=0.01,0.1", "--out", str(out)))
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("Sweep ") and "lr = 0.01, 0.1" in lines[0]
    assert "128 training, 64 validation" in lines[0]
    header = lines[1].split()
    assert header[:8] == ["lr", "test", "acc", "train", "acc", "best", "val", "acc"]
    assert "final loss" in lines[1] and "seconds" in lines[1]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["0.01", "0.1"] and all(row[1].endswith("%") for row in rows)
    assert all("finished" in row for row in rows)
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["setting"] == "lr" and [r["value"] for r in summary["runs"]] == [0.01, 0.1]
    with open(out / "sweep.csv", newline="") as handle:
        assert [row["value"] for row in csv.DictReader(handle)] == ["0.01", "0.1"]
    assert "cnnlab runs list --sweep" in err

    code, stdout, _ = run(capsys, "runs", "list", "--json", "--sweep", summary["sweep"])
    assert code == 0
    runs = [json.loads(line) for line in stdout.strip().splitlines()]
    assert len(runs) == 2 and all(set(r) >= RUN_KEYS for r in runs)
    assert sorted(r["name"] for r in runs) == ["seed · lr 0.01", "seed · lr 0.1"]
    for r in runs:
        c = r["config"]
        counts = (c["network"], c["train_images"], c["validation_images"], c["batch_size"])
        assert counts == ("seed", 128, 64, 32)
        assert {"optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup_steps",
                "augment", "init", "seed", "dataset", "spec", "params"} <= set(c)  # fmt: skip
        assert r["changes"] == [] and r["tags"]["sweep"] == summary["sweep"]


def test_sweep_json_prints_one_object_per_run(capsys, fake_data_dir: Path, cnnlab_home):
    code, stdout, err = run(capsys, *sweep_args(fake_data_dir, "--vary", "batch-size=16,32", "--json"))
    assert code == 0, err
    objects = [json.loads(line) for line in stdout.strip().splitlines()]
    assert len(objects) == 2 and all(set(o) >= SWEEP_KEYS for o in objects)
    assert [o["value"] for o in objects] == [16, 32]
    assert [o["config"]["batch_size"] for o in objects] == [16, 32]
    assert objects[0]["name"] == "seed · batch 16" and objects[0]["run_id"]


@pytest.mark.parametrize(
    ("vary", "words"),
    [
        ("lr", "--vary takes SETTING=V1,V2,..."),
        ("lr=0.1,,0.2", "an empty value between commas"),
        ("speed=1,2", "cannot sweep 'speed'"),
        ("lr=0.1,0.1", "the value 0.1 is given twice"),
        ("limit=8,64", "sweep limit=8: a training-set limit of 8 images is less than one batch of 32"),
        ("conv.kernel=3,40", "sweep conv.kernel=40: Layer 1 (conv2d): the 40x40 kernel does not fit"),
    ],
)
def test_sweep_refusals_are_one_line_before_anything_trains(capsys, fake_data_dir, cnnlab_home, vary, words):
    code, _, err = run(capsys, *sweep_args(fake_data_dir, "--vary", vary))
    assert_one_line_error(code, err, words)
    assert not (cnnlab_home / "runs").exists() or not any((cnnlab_home / "runs").iterdir())


def test_runs_list_show_and_export(capsys, tmp_path: Path, fake_data_dir: Path, cnnlab_home):
    code, _, err = run(capsys, "train", "--data-dir", str(fake_data_dir), "--limit", "64", "--epochs", "1",
                       "--batch-size", "32", "--validation", "32", "--name", "mine")  # fmt: skip
    assert code == 0, err
    code, stdout, _ = run(capsys, "runs", "list")
    header, row = stdout.strip().splitlines()
    for title in ("id", "name", "status", "network", "params", "train imgs", "optimizer", "lr", "batch",
                  "test acc", "train acc", "best val", "loss", "seconds"):  # fmt: skip
        assert title in header
    assert "mine" in row and "finished" in row and "5,258" in row and "0.05" in row
    code, stdout, _ = run(capsys, "runs", "list", "--json")
    [info] = [json.loads(line) for line in stdout.strip().splitlines()]
    assert info["name"] == "mine" and info["config"]["train_images"] == 64

    code, stdout, _ = run(capsys, "runs", "show", info["id"])
    assert code == 0 and stdout.startswith(f"mine  ({info['id']})")
    assert "64 training images, 32 validation images" in stdout and "epoch 1:" in stdout
    assert "initialisation: conv1 he_normal, conv2 he_normal, dense1 glorot_uniform" in stdout

    target = tmp_path / "runs.csv"
    code, stdout, _ = run(capsys, "runs", "export", "--csv", str(target))
    assert code == 0 and "Wrote 1 run to" in stdout
    with open(target, newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["id"] == info["id"] and row["train_images"] == "64" and row["batch_size"] == "32"
    assert float(row["test_accuracy"]) == pytest.approx(info["test_accuracy"])

    code, stdout, _ = run(capsys, "runs", "rename", info["id"], "")
    assert code == 0 and stdout.strip() == f"{info['id']}: seed"  # back to its automatic name
    code, _, err = run(capsys, "runs", "show", "no-such-run")
    assert_one_line_error(code, err, "no run 'no-such-run'")
