"""``--max-params`` and ``--max-activation-mib``: the budget a spec read by train, eval or predict fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab import cli
from cnnlab.engine import build, load_preset, save_checkpoint


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *words: str) -> str:
    assert code == cli.EXIT_USER_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnlab: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def seed_files(tmp_path):
    spec = tmp_path / "seed.json"
    spec.write_text(load_preset("seed").to_json())  # 5,258 parameters
    checkpoint = save_checkpoint(tmp_path / "seed.npz", build(load_preset("seed"), np.random.default_rng(0)))
    return spec, checkpoint


TRAIN = ("--dataset", "synthetic", "--limit", "64", "--epochs", "1", "--no-record")  # one batch of 64


@pytest.mark.slow
def test_the_flags_set_the_budget_of_train_eval_and_predict(capsys, seed_files, tmp_path):
    spec, checkpoint = seed_files
    code, _, err = run(capsys, "train", "--spec", str(spec), *TRAIN, "--max-params", "5000")
    one_line_error(code, err, "seed.json: Layer 8 (dense)", "5,258 parameters", "above the budget of 5,000")
    code, _, err = run(capsys, "train", "--preset", "seed", *TRAIN, "--max-params", "5000")
    one_line_error(code, err, "Layer 8 (dense)", "above the budget of 5,000")
    code, _, err = run(capsys, "train", "--spec", str(spec), *TRAIN, "--max-activation-mib", "1")
    one_line_error(code, err, "seed.json: Layer ", "at batch 64", "above the budget of 1.0 MiB")
    code, _, err = run(capsys, "eval", str(checkpoint), "--dataset", "synthetic", "--max-params", "5000")
    one_line_error(code, err, "seed.npz: the network it describes is invalid", "above the budget of 5,000")
    code, _, err = run(capsys, "predict", str(checkpoint), "none.png", "--max-params", "5000")
    one_line_error(code, err, "seed.npz:", "above the budget of 5,000")
    # Just above the network, all three go ahead.
    code, out, err = run(
        capsys, "train", "--spec", str(spec), *TRAIN, "--max-params", "6000", "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    code, out, err = run(
        capsys, "eval", str(checkpoint), "--dataset", "synthetic", "--max-params", "6000", "--json"
    )
    assert code == 0 and "accuracy" in json.loads(out), err


def test_the_activation_budget_follows_the_batch_size(capsys, seed_files):
    spec, _ = seed_files
    code, _, err = run(
        capsys, "train", "--spec", str(spec), *TRAIN, "--max-activation-mib", "1", "--batch-size", "2"
    )
    assert code == 0, err


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5"])
def test_a_budget_flag_must_be_a_positive_whole_number(capsys, value):
    assert cli.main(["eval", "x.npz", "--max-params", value]) == 2
    err = capsys.readouterr().err
    assert "--max-params" in err and len(err.strip().splitlines()) == 1
