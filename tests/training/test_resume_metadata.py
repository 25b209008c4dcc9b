"""A checkpoint's metadata and optimizer arrays are checked, field by field, before a run resumes from it:
each damaged or hostile value is refused in one line naming the file and the field, never a traceback."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cnnlab.engine import CheckpointError, load_checkpoint, load_preset
from cnnlab.training import ConfigError, ResumeError, TrainingSession
from tests.training.conftest import small_config
from tests.training.hostile import DELETE, rewrite, set_path


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints saved in the middle of an epoch (order, totals and curves all present): SGD and Adam."""
    from tests.training.conftest import cached_dataset

    folder = tmp_path_factory.mktemp("saved")
    paths = {}
    for kind in ("sgd", "adam"):
        session = TrainingSession(small_config(optimizer=kind), cached_dataset())
        session.pause()
        run = session.run()
        session.step(13)
        for snapshot in run:
            if snapshot.event == "paused" and snapshot.step == 13:
                break
        paths[kind] = session.save_checkpoint(folder / f"{kind}.npz")
        session.stop()
        list(run)
    return paths


def resume(path: Path, tiny, **changes) -> TrainingSession:
    return TrainingSession(small_config(**changes), tiny, checkpoint=load_checkpoint(path))


def edit(*pairs):
    """A metadata rewrite setting each (path, value) pair."""

    def apply(meta):
        for path, value in pairs:
            meta = set_path(meta, path, value)
        return meta

    return apply


METADATA_CASES = [
    (edit((("live", "batch_size"), 0)), "live.batch_size must be at least 1, got 0"),
    (edit((("live", "batch_size"), -3)), "live.batch_size"),
    (edit((("live", "batch_size"), 2.5)), "live.batch_size must be a whole number"),
    (edit((("live", "lr"), "0.1")), "live.lr must be a number, got '0.1'"),
    (edit((("live", "lr"), math.nan)), "live.lr must be a finite number"),
    (edit((("live", "momentum"), 1.0)), "live.momentum"),
    (edit((("live", "augment"), "yes")), "live.augment must be true or false"),
    (edit((("live",), [1, 2])), "live must be a JSON object"),
    (edit((("data_rng",), "junk")), "data_rng must be a JSON object"),
    (edit((("data_rng", "state", "state"), 1.5)), "data_rng.state.state must be a whole number"),
    (edit((("data_rng", "state", "inc"), 2**200)), "data_rng.state.inc must be at most"),
    (edit((("model_rng", "bit_generator"), "MT19937")), "model_rng is not the state of a PCG64"),
    (edit((("order_state", "has_uint32"), 7)), "order_state.has_uint32 must be at most 1"),
    (edit((("order_state", "uinteger"), -1)), "order_state.uinteger must be at least 0"),
    (edit((("smooth", "weight"), 1.5)), "smooth.weight must be below 1"),
    (edit((("smooth",), [])), "smooth must be a JSON object"),
    (edit((("smooth", "count"), None)), "smooth.count must be a whole number, got None"),
    (edit((("history", "steps", "loss"), [0.5])), "history.steps holds curves of different lengths"),
    (edit((("history", "steps", "loss", 0), "x")), "history.steps.loss[0] must be a number"),
    (edit((("history", "evals", "step", 0), math.inf)), "history.evals.step[0]"),
    (edit((("history",), [])), "history must be a JSON object"),
    (edit((("history", "epochs"), 3)), "history.epochs must be a JSON object"),
    (edit((("step",), -1)), "step must be at least 0"),
    (edit((("step",), 2**80)), "step must be at most"),
    (edit((("step",), "13")), "step must be a whole number"),
    (edit((("epoch",), DELETE)), "epoch must be a whole number, got None"),
    (edit((("pos",), 10**6)), "pos must be at most 320"),
    (edit((("epoch_totals",), [1.0, 2])), "epoch_totals must hold 3 values"),
    (edit((("epoch_totals", 1), 10**9)), "epoch_totals[1]"),
    (edit((("changes",), [[1, "epochs", 3]])), "changes[0] setting must be one of"),
    (edit((("changes",), [[99, "lr", 0.1]])), "changes[0] step must be at most 13"),
    (edit((("changes",), [[1, "batch_size", 0]])), "changes[0] value"),
    (edit((("changes",), "x")), "changes must be a list"),
    (edit((("changes",), [[1, "lr"]])), "changes[0] must hold 5 values (or 3)"),
    (edit((("changes",), [[1, 999, "lr", 0.05, 0.1]])), "changes[0] images seen must be at most"),
    (edit((("changes",), [[1, 32, "lr", "x", 0.1]])), "changes[0] old value"),
    (edit((("run_id",), 5)), "run_id must be text"),
    (edit((("run_id",), "x" * 10_000)), "run_id must be at most 64 characters"),
    (edit((("last_loss",), "NaN")), "last_loss must be a number"),
    (edit((("validation",), [2.0, 0.1])), "validation[0] must be at most 1"),
    (edit((("validation",), [0.5])), "validation must hold 2 values"),
    (edit((("elapsed",), -5)), "elapsed must be at least 0"),
    (edit((("last_eval_step",), 14)), "last_eval_step must be at most 13"),
    (edit((("optimizer",), "sgd")), "optimizer must be a JSON object"),
    (edit((("optimizer",), {"kind": 7})), "optimizer.kind must be text"),
]


@pytest.mark.parametrize(("change", "words"), METADATA_CASES, ids=[w[:40] for _, w in METADATA_CASES])
def test_damaged_metadata_is_refused_naming_the_field(saved, tiny, tmp_path: Path, change, words):
    path = rewrite(saved["sgd"], tmp_path / "hostile.npz", metadata=change)
    with pytest.raises(ResumeError) as caught:
        resume(path, tiny)
    message = str(caught.value)
    assert message.startswith("hostile.npz: ") and words in message
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_metadata_that_is_not_an_object_is_refused_when_read(saved, tmp_path: Path):
    for value, kind in (([1, 2], "list"), (5, "int"), ("x", "str")):
        path = rewrite(saved["sgd"], tmp_path / "list.npz", metadata=lambda _m, v=value: v)
        with pytest.raises(CheckpointError, match=f"list.npz: its metadata is a JSON {kind}, not an object"):
            load_checkpoint(path)


def test_a_checkpoint_that_is_still_good_resumes(saved, tiny, tmp_path: Path):
    """Settings a later cnnlab might add are ignored; a weights-only checkpoint starts a fresh run."""
    path = rewrite(saved["sgd"], tmp_path / "later.npz", metadata=edit((("live", "future"), 1)))
    assert resume(path, tiny).step_count == 13
    path = rewrite(saved["sgd"], tmp_path / "weights.npz", metadata=lambda _m: {})
    session = resume(path, tiny)
    assert session.step_count == 0 and session.optimizer.steps == 0


def arrays_edit(fn):
    def apply(arrays):
        fn(arrays)
        return arrays

    return apply


OPTIMIZER_CASES = [
    ("sgd", lambda a: a.update({"opt/conv1.W/velocity": np.zeros((2, 2), np.float32)}), "has shape (2, 2)"),
    ("sgd", lambda a: a.update({"opt/ghost.W/velocity": np.zeros(3, np.float32)}), "does not have"),
    ("sgd", lambda a: a.update({"opt/conv1.W/m": np.zeros((4, 1, 3, 3), np.float32)}), "not part of sgd's"),
    ("sgd", lambda a: a["opt/conv1.b/velocity"].fill(np.nan), "must hold finite floating-point numbers"),
    ("sgd", lambda a: a.update({"opt/steps": np.array([1, 2])}), "steps has shape (2,)"),
    ("sgd", lambda a: a.update({"opt/steps": np.array(-4)}), "'steps' must be at least 0"),
    ("sgd", lambda a: a.update({"opt/conv1.b/velocity": np.zeros(4, np.int64)}), "floating-point"),
    ("adam", lambda a: a.pop("opt/dense1.W/v"), "the state of dense1.W lacks v"),
]


@pytest.mark.parametrize(("kind", "change", "words"), OPTIMIZER_CASES, ids=[w for _, _, w in OPTIMIZER_CASES])
def test_damaged_optimizer_state_is_refused(saved, tiny, tmp_path: Path, kind, change, words):
    path = rewrite(saved[kind], tmp_path / "opt.npz", arrays=arrays_edit(change))
    # Shapes and kinds are refused by the engine as the file is read; what only a session knows (which
    # optimizer the run uses) when it resumes. Either way one line names the file and the array.
    with pytest.raises((ResumeError, CheckpointError), match=r"opt\.npz: ") as caught:
        resume(path, tiny, optimizer=kind)
    assert words in str(caught.value)


def test_a_checkpoint_for_another_network_says_which_each_is(saved, tiny):
    with pytest.raises(ResumeError) as caught:
        TrainingSession(
            small_config(spec=load_preset("seed")), tiny, checkpoint=load_checkpoint(saved["sgd"])
        )
    message = str(caught.value)
    small = small_config().spec.num_params()
    assert message.startswith(
        f"sgd.npz: this checkpoint is for a network with 6 layers, {small:,} parameters"
    )
    assert "the current one has" in message and "layer 1 conv2d(filters=4, kernel=3)" in message
    assert "\n" not in message


def test_a_refused_checkpoint_leaves_the_saved_file_untouched(saved, tiny, tmp_path: Path):
    path = rewrite(saved["sgd"], tmp_path / "bad.npz", metadata=edit((("live", "batch_size"), 0)))
    before = path.read_bytes()
    with pytest.raises(ResumeError):
        resume(path, tiny)
    assert path.read_bytes() == before
