"""Shared test set-up: Qt offscreen, the real-data location, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Qt aborts without a display unless told to render offscreen; set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs whose worker count is not given get one worker, not the machine's idle cores: results must not
# depend on the load (tests of data-parallel training ask for their workers).
os.environ.setdefault("CNNLAB_WORKERS", "1")

# The in-process property tests draw the same cases on every run, so a run's verdict never depends on
# the luck of the draw; CNNLAB_HYPOTHESIS=explore draws new ones (and keeps what fails in .hypothesis/).
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("CNNLAB_HYPOTHESIS", "fixed"))

REPO_ROOT = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path | None:
    """The folder holding real ``mnist/`` and ``fashion-mnist/``, from ``CNNLAB_DATA_DIR``."""
    value = os.environ.get("CNNLAB_DATA_DIR")
    if not value:
        return None
    path = Path(value)
    return path if (path / "mnist").is_dir() else None


@pytest.fixture(autouse=True)
def isolated_mine(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The learner's own digits (``mine``) of every test live in a fresh folder, never the real one."""
    folder = tmp_path_factory.mktemp("mine", numbered=True) / "collection"
    monkeypatch.setenv("CNNLAB_MINE_DIR", str(folder))
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def mnist_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real MNIST not available: set CNNLAB_DATA_DIR to a folder holding mnist/")
    return path
