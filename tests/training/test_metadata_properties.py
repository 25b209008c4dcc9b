"""Property test: random and adversarial checkpoint metadata through the very paths ``cnnlab train
--resume`` and ``cnnlab eval`` take, in a subprocess whose address space is capped (so a regression that
allocates without bound fails there instead of taking the machine down). Each case is refused in one
line or runs; never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.data import load_dataset
from cnnlab.engine import load_preset
from cnnlab.training import TrainConfig, TrainingSession
from tests.training.test_writes import REPO

LIMIT = 3 * 2**29  # 1.5 GiB
EXAMPLES = int(os.environ.get("CNNLAB_FUZZ_EXAMPLES", "200"))


def saved_at(dataset, path: Path, steps: int | None) -> Path:
    """A checkpoint of the seed net on 64 images: after ``steps`` steps (mid-epoch), or at the end."""
    config = TrainConfig(spec=load_preset("seed"), dataset="mnist", epochs=1, batch_size=16, train_limit=64,
                         validation=20, eval_every=2)  # fmt: skip
    session = TrainingSession(config, dataset)
    if steps is not None:
        session.pause()
        session.step(steps)
    run = session.run()
    for snapshot in run:
        if steps is not None and snapshot.event == "paused" and snapshot.step == steps:
            session.save_checkpoint(path)
            session.stop()
    if steps is None:
        session.save_checkpoint(path)
    return path


@pytest.mark.slow
def test_hostile_metadata_is_refused_in_one_line_or_resumes(tmp_path: Path, fake_data_dir: Path):
    dataset = load_dataset("mnist", fake_data_dir)
    bases = [saved_at(dataset, tmp_path / "mid.npz", 3), saved_at(dataset, tmp_path / "end.npz", None)]
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "CNNLAB_DATA_DIR"},
        "PYTHONPATH": str(REPO),
        "CNNLAB_HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no dataset found but the one given
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    argv = [str(LIMIT), str(EXAMPLES), str(fake_data_dir), str(work), *map(str, bases)]
    result = subprocess.run(
        [sys.executable, "-m", "tests.training.fuzz_metadata", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rlimit_as"] == LIMIT and report["capped"]
    assert report["examples"] >= EXAMPLES
    # Both outcomes happen: the strategy reaches good checkpoints and bad ones.
    assert report["refused"] > 0 and report["resumed"] > 0 and report["evaluated"] > 0
    print(report)
