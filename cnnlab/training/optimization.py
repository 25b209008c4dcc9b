"""The run's optimizer and its learning-rate schedule, built from the config and the live settings."""

from __future__ import annotations

from typing import Any

from cnnlab.engine import Constant, Cosine, Network, Optimizer, StepDecay, make_optimizer
from cnnlab.training.config import TrainConfig

# The state each optimizer keeps per parameter array (what a checkpoint's optimizer state must hold).
SLOT_KEYS = {"sgd": ("velocity",), "adam": ("m", "v"), "adamw": ("m", "v")}


def build_optimizer(config: TrainConfig, network: Network, live: dict[str, Any]) -> Optimizer:
    settings: dict[str, Any] = {"lr": live["lr"], "weight_decay": live["weight_decay"]}
    if config.optimizer == "sgd":
        settings.update(momentum=live["momentum"], nesterov=config.nesterov)
    else:
        # Adam's first-moment decay is what the lab's momentum control steers (see engine.optim).
        settings.update(beta1=live["momentum"])
    return make_optimizer(config.optimizer, network, **settings)


def sync_optimizer(optimizer: Optimizer, live: dict[str, Any]) -> None:
    """Live momentum and weight decay into the optimizer (the learning rate is set at every step)."""
    optimizer.momentum = live["momentum"]
    optimizer.weight_decay = live["weight_decay"]


class LearningRate:
    """The base rate times the config's schedule, counted in images so that a batch-size change in the
    middle of a run keeps the schedule's shape.

    Warm-up is given in steps of the configured batch size: step ``k`` (from 1) of it uses ``k /
    warmup_steps`` of the rate, so even the first step learns (counting the images seen *before* the
    step, as the schedule does, would give it ``1 / (warmup_steps * batch_size)``: a wasted step). The
    schedule after it starts from its own beginning.
    """

    def __init__(self, config: TrainConfig, n_train: int) -> None:
        total = config.epochs * n_train
        self.schedule: Constant | StepDecay | Cosine
        if config.schedule == "cosine":
            self.schedule = Cosine(total_steps=total)
        elif config.schedule == "step":
            self.schedule = StepDecay(step_size=config.step_every_epochs * n_train, gamma=config.step_gamma)
        else:
            self.schedule = Constant()
        self.warmup_images = config.warmup_steps * config.batch_size

    def factor(self, images_seen: int, batch_size: int) -> float:
        """The multiplier of the base rate for the batch of ``batch_size`` images after ``images_seen``."""
        if images_seen < self.warmup_images:
            return min((images_seen + batch_size) / self.warmup_images, 1.0)
        return self.schedule.factor(images_seen - self.warmup_images)

    def rate(self, live: dict[str, Any], images_seen: int) -> float:
        return float(live["lr"] * self.factor(images_seen, int(live["batch_size"])))
