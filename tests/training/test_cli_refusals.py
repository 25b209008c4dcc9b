"""The CLI refuses what cannot work in one line, before any work starts: numbers at parse time, settings
in TrainConfig, a network whose input does not fit the data, a checkpoint that cannot be resumed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cnnlab import cli
from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import ConfigError, TrainConfig, TrainingSession
from tests.training.hostile import rewrite, set_path
from tests.training.test_cli_training import assert_one_line_error, run

BAD_ARGUMENTS = [
    (["train", "--weight-decay", "nan"], "argument --weight-decay: must be a finite number, got 'nan'"),
    (["train", "--weight-decay", "-0.1"], "argument --weight-decay: must be at least 0"),
    (["train", "--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["train", "--seed", "1.5"], "argument --seed: must be a whole number, got '1.5'"),
    (["train", "--lr", "inf"], "argument --lr: must be a finite number"),
    (["train", "--lr", "0"], "argument --lr: must be above 0"),
    (["train", "--lr", "fast"], "argument --lr: must be a number, got 'fast'"),
    (["train", "--momentum", "1"], "argument --momentum: must be below 1"),
    (["train", "--momentum=-inf"], "argument --momentum: must be a finite number"),
    (["train", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["train", "--epochs", "2.5"], "argument --epochs: must be a whole number"),
    (["train", "--batch-size", "-5"], "argument --batch-size: must be at least 1"),
    (["train", "--limit", "0"], "argument --limit: must be at least 1"),
    (["bench", "--batches", "0"], "argument --batches: must be at least 1, got 0"),
    (["bench", "--batches", "64", "-2"], "must be at least 1"),
    (["bench", "--seconds", "nan"], "argument --seconds: must be a finite number"),
    (["bench", "--seconds", "0"], "argument --seconds: must be above 0"),
    (["eval", "x.npz", "--limit", "-1"], "argument --limit: must be at least 1, got -1"),
    (["predict", "x.npz", "y.png", "--top", "0"], "argument --top: must be at least 1"),
    (["--blas-threads", "0", "train"], "argument --blas-threads: must be at least 1"),
]


@pytest.mark.parametrize(("argv", "words"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_numbers_that_cannot_work_are_refused_at_parse_time(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, words)
    assert out == ""


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"weight_decay": math.nan}, "weight decay must be a finite number"),
        ({"momentum": math.nan}, "momentum must be a finite number"),
        ({"lr": math.inf}, "learning rate must be a finite number"),
        ({"lr": "0.1"}, "learning rate must be a number, got '0.1'"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"epochs": True}, "epochs must be a whole number, got True"),
        ({"epochs": 10**12}, "epochs must be at most 10,000"),
        ({"batch_size": 2.0}, "batch size must be a whole number"),
        ({"step_gamma": math.nan}, "step_gamma must be a finite number"),
        ({"snapshot_seconds": -1.0}, "snapshot_seconds must be at least 0"),
        ({"augment": "no"}, "augment must be true or false"),
        ({"train_limit": 0}, "train_limit must be at least 1"),
        ({"dataset": None}, "dataset must be text"),
    ],
)
def test_train_config_refuses_nan_and_wrong_types(changes, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        TrainConfig(**changes)


def test_settings_from_json_come_back_as_plain_numbers():
    import numpy as np

    config = TrainConfig(epochs=np.int64(2), lr=np.float32(0.5))
    assert type(config.epochs) is int and type(config.lr) is float
    assert json.loads(config.to_json())["epochs"] == 2


COLOUR_NET = {
    "name": "colour",
    "input_shape": [3, 32, 32],
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}],
}


def test_a_network_for_other_images_is_refused_before_training(capsys, tmp_path: Path, fake_data_dir, tiny):
    spec = NetSpec.from_dict(COLOUR_NET)
    with pytest.raises(ConfigError) as caught:
        TrainingSession(TrainConfig(spec=spec, dataset="tiny"), tiny)
    assert str(caught.value) == (
        "the network takes 3x32x32 images but tiny gives 1x28x28 images; choose a network whose "
        "input_shape is [1, 28, 28]"
    )
    path = tmp_path / "colour.json"
    path.write_text(json.dumps(COLOUR_NET))
    code, out, err = run(
        capsys, "train", "--spec", str(path), "--data-dir", str(fake_data_dir), "--no-record"
    )
    assert_one_line_error(code, err, "the network takes 3x32x32 images but mnist gives 1x28x28 images")
    assert "Training" not in out


def test_eval_and_predict_check_the_input_shape(capsys, tmp_path: Path, fake_data_dir):
    import numpy as np

    from cnnlab.engine import build, save_checkpoint

    net = build(NetSpec.from_dict(COLOUR_NET), np.random.default_rng(0))
    path = save_checkpoint(tmp_path / "colour.npz", net, metadata={"dataset": "mnist"})
    code, _, err = run(capsys, "eval", str(path), "--data-dir", str(fake_data_dir))
    assert_one_line_error(code, err, "the network takes 3x32x32 images but mnist gives 1x28x28")
    image = tmp_path / "digit.png"
    from tests.training.test_cli_training import write_png

    write_png(image, np.pad(np.full((10, 10), 255, np.uint8), 9))
    code, _, err = run(capsys, "predict", str(path), str(image))
    assert_one_line_error(code, err, "the network takes 3x32x32 images but an image prepared MNIST-style")


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory: pytest.TempPathFactory, fake_data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("cli-run")
    argv = ["train", "--data-dir", str(fake_data_dir), "--limit", "64", "--epochs", "1", "--out", str(out),
            "--no-record"]  # fmt: skip
    assert cli.main(argv) == 0
    return out / "checkpoint.npz"


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("live", "batch_size"), 0, "live.batch_size must be at least 1, got 0"),
        (("live", "lr"), "0.1", "live.lr must be a number"),
        (("data_rng",), [1], "data_rng must be a JSON object"),
        (("history", "steps", "loss"), [], "history.steps holds curves of different lengths"),
        (("config",), [], "its training settings cannot be used: config must be a JSON object"),
        (("config", "lr"), "fast", "its training settings cannot be used: learning rate must be a number"),
        (("config", "epochs"), None, "epochs must be a whole number, got None"),
        (("config", "lost_setting"), 1, "unknown training setting(s): 'lost_setting'"),
        (("dataset",), {"a": 1}, None),  # the config's dataset wins when resuming; eval says the field
    ],
)
def test_resume_and_eval_of_damaged_metadata_are_one_line(
    capsys, tmp_path: Path, fake_data_dir, cli_checkpoint, path, value, words
):
    hostile = rewrite(cli_checkpoint, tmp_path / "hostile.npz", metadata=lambda m: set_path(m, path, value))
    code, out, err = run(
        capsys, "train", "--resume", str(hostile), "--data-dir", str(fake_data_dir), "--no-record"
    )
    if words is None:
        assert code == 0, err
        code, out, err = run(capsys, "eval", str(hostile), "--data-dir", str(fake_data_dir))
        assert_one_line_error(code, err, "hostile.npz: its metadata field dataset must be text")
        return
    assert_one_line_error(code, err, "hostile.npz", words)


def test_a_resumed_run_keeps_the_checkpoints_own_network(
    capsys, tmp_path: Path, fake_data_dir, cli_checkpoint
):
    """The config's copy of the network cannot swap in another (a huge one): the checkpoint's own is used."""
    other = load_preset("mnist99").to_dict()
    hostile = rewrite(
        cli_checkpoint, tmp_path / "swap.npz", metadata=lambda m: set_path(m, ("config", "spec"), other)
    )
    code, out, err = run(
        capsys, "train", "--resume", str(hostile), "--data-dir", str(fake_data_dir), "--no-record"
    )
    assert code == 0, err
    assert "Training seed (5,258 parameters)" in out


def test_an_internal_error_is_one_line_and_debug_shows_where(capsys, monkeypatch):
    from cnnlab.training import headless

    def broken(*args, **kwargs):
        raise RuntimeError("something broke\nin two lines")

    monkeypatch.setattr(headless, "load_spec", broken)
    code, _, err = run(capsys, "train", "--preset", "seed")
    assert code == cli.EXIT_INTERNAL_ERROR and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("cnnlab: internal error: RuntimeError: something broke in two lines (run again")
    with pytest.raises(RuntimeError, match="something broke"):
        cli.main(["--debug", "train", "--preset", "seed"])


def test_one_helper_limits_blas_threads():
    from threadpoolctl import threadpool_info

    from cnnlab.training import limit_blas_threads

    def blas_threads() -> set[int]:
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    before = blas_threads()
    limiter = limit_blas_threads(1)
    try:
        assert blas_threads() == {1}
    finally:
        limiter.restore_original_limits()
    assert blas_threads() == before
    with pytest.raises(ValueError, match="at least 1"):
        limit_blas_threads(0)
