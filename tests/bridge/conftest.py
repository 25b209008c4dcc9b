"""Fixtures for the bridge's tests: MNIST test digits when the real files are there."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data.idx import read_idx
from tests.conftest import real_data_dir


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """200 real MNIST test digits as the networks take them: (200, 1, 28, 28) float32 in [0, 1]."""
    folder = real_data_dir()
    if folder is None:
        pytest.skip("real MNIST not available: set CNNLAB_DATA_DIR to a folder holding mnist/")
    images = read_idx(folder / "mnist" / "t10k-images-idx3-ubyte.gz")[:200]
    return (images.astype(np.float32) / 255.0)[:, None]
