"""Fine-tuning on your own digits helps on them and does not make the network forget MNIST (issue 14).

The "own digits" are deliberately unusual ones the seed net reads badly: MNIST digits drawn with a much
thicker pen, or pushed 4 pixels off centre. ``tests/data/test_cli_mine.py`` runs the same commands on
generated digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import MineStore, load_dataset
from cnnlab.engine import load_checkpoint


def unusual_digits(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 28, 28) -> the same digits, every other one thick (a 5x5 pen) and the rest shifted by
    4 pixels up, down, left or right (paper fills in)."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    thick = np.max([padded[:, i : i + 28, j : j + 28] for i in range(5) for j in range(5)], axis=0)
    out = thick.copy()
    for k in range(1, len(images), 2):
        dy, dx = ((4, 0), (-4, 0), (0, 4), (0, -4))[rng.integers(4)]
        shifted = np.zeros((28, 28), np.uint8)
        shifted[max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = images[k][
            max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)
        ]
        out[k] = shifted
    return out


@pytest.mark.slow
@pytest.mark.realdata
def test_fine_tuning_on_unusual_digits_helps_on_them_and_keeps_mnist(mnist_dir: Path, isolated_mine: Path):
    from threadpoolctl import threadpool_limits

    from cnnlab.training import TrainConfig, TrainingSession, headless

    mnist = load_dataset("mnist", mnist_dir)
    rng = np.random.default_rng(14)
    picked = rng.choice(len(mnist.train_images), 1000, replace=False)
    MineStore(isolated_mine).add_many(
        list(unusual_digits(mnist.train_images[picked], rng)), mnist.train_labels[picked].tolist()
    )
    mix = load_dataset("mine+mnist:0.8", mnist_dir)
    mine = mix.primary
    assert len(mine.test_images) == 200 and len(mix.train_images) == 4000  # 800 own + 3200 from MNIST

    with threadpool_limits(limits=1, user_api="blas"):
        seed = TrainingSession(TrainConfig(epochs=1), mnist)  # the seed net, one epoch on MNIST
        for _ in seed.run():
            pass
        start = seed.save_checkpoint(Path(isolated_mine).parent / "seed.npz")
        before_mine = headless.evaluate(seed.network, mine).accuracy
        before_mnist = headless.evaluate(seed.network, mnist).accuracy
        # What 'cnnlab train --init-from seed.npz --dataset mine --mix mnist:0.8 --lr 0.02 --epochs 10' does.
        config = TrainConfig(spec=seed.config.spec, dataset=mix.name, lr=0.02, epochs=10)
        tuned = TrainingSession(config, mix, checkpoint=headless.starting_weights(load_checkpoint(start)))
        for _ in tuned.run():
            pass
        after_mine = headless.evaluate(tuned.network, mine).accuracy
        after_mnist = headless.evaluate(tuned.network, mnist).accuracy

    # Measured: 56.0% -> 71.0% on the held-out unusual digits, MNIST 97.94% -> 97.84%.
    assert before_mine < 0.75  # they are unusual indeed
    assert after_mine >= before_mine + 0.08
    assert after_mnist >= before_mnist - 0.005
