"""Hypothesis feeds random and adversarial specs through the CLI's and the editor's paths, in a child
process whose address space is capped (see tests/hostile_specs.py): every case builds with its
predicted shapes or is refused with a SpecError naming the layer, and no case can exhaust memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT = 3 << 29  # 1.5 GiB of address space for the child and everything it starts
ROOT = Path(__file__).resolve().parents[1]


def run_child(mode: str) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile_specs", str(LIMIT), mode],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["limit"] == LIMIT  # the cap really was in force
    return report


@pytest.mark.slow
def test_random_and_adversarial_specs_through_the_library_and_the_editor():
    report = run_child("library")
    assert report["cases"] >= 100 and report["built"] >= 10 and report["refused"] >= 50, report
    assert report["maxrss_kib"] < LIMIT // 1024


@pytest.mark.slow
def test_random_and_adversarial_specs_through_train_spec():
    report = run_child("cli")
    assert report["cases"] >= 8 and report["refused"] >= 1 and report["built"] >= 1, report
    assert report["children_maxrss_kib"] < LIMIT // 1024
