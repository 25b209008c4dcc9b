"""``TrainConfig``: everything that defines a training run, as frozen, JSON-serialisable data.

The same config (with the same seed) gives the same run, number for number. Settings that may be
changed while a run is going (``LIVE_SETTINGS``) are changed through the session, which records each
change in the run's history; the config keeps the values the run started with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from cnnlab.engine import NetSpec, load_preset

# What the learner may change in the middle of a run; each takes effect at the next step.
LIVE_SETTINGS = ("lr", "momentum", "weight_decay", "batch_size", "augment")

OPTIMIZER_NAMES = ("sgd", "adam", "adamw")
SCHEDULE_NAMES = ("constant", "cosine", "step")


class ConfigError(ValueError):
    """A setting that cannot work, named with its allowed values."""


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings.

    Defaults give a newcomer a good run without tuning: SGD with Nesterov-free momentum 0.9,
    learning rate 0.05 with a cosine decay to zero over the run, batch 64.
    """

    spec: NetSpec = field(default_factory=lambda: load_preset("seed"))
    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 3
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "constant" | "cosine" (to 0 at the end of the run) | "step"
    step_every_epochs: int = 1  # for the "step" schedule: multiply by step_gamma every this many epochs
    step_gamma: float = 0.1
    warmup_steps: int = 0
    augment: bool = False
    seed: int = 0
    # Held-out subset (from the test set's start, fixed) for fast evaluation during an epoch.
    held_out: int = 1000
    eval_every: int = 200  # steps between fast evaluations (0: only at epoch ends)
    snapshot_every: int = 20  # at most this many steps between snapshots
    snapshot_seconds: float = 0.1  # ... and a snapshot at least this often while training
    train_limit: int | None = None  # use only the first N training images (quick experiments, tests)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch size must be at least 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZER_NAMES:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZER_NAMES)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULE_NAMES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULE_NAMES)}, got {self.schedule!r}")
        if not self.lr > 0:
            problems.append(f"learning rate must be above 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be at least 0 and below 1, got {self.momentum}")
        if self.weight_decay < 0:
            problems.append(f"weight decay must be at least 0, got {self.weight_decay}")
        if self.train_limit is not None and self.train_limit < 1:
            problems.append(f"train_limit must be at least 1, got {self.train_limit}")
        if problems:
            raise ConfigError("; ".join(problems))

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "spec"}
        data["spec"] = self.spec.to_dict()
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        if "spec" in data:
            data["spec"] = NetSpec.from_dict(data["spec"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))


def config_summary(config: TrainConfig) -> dict[str, Any]:
    """The settings worth showing in a table of runs (no spec)."""
    data = asdict(config)
    data.pop("spec")
    return data
