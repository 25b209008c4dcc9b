"""``TrainConfig``: everything that defines a training run, as frozen, JSON-serialisable data.

The same config (with the same seed) gives the same run, number for number. Settings that may be
changed while a run is going (``LIVE_SETTINGS``) are changed through the session, which records each
change in the run's history; the config keeps the values the run started with.

The images a run uses: ``validation`` images are held out of the *training* set (chosen by the seed,
never trained on) and evaluated every ``eval_every`` steps and at each epoch end; ``train_limit`` then
keeps only the first N of the training images that remain. The test set is evaluated only at epoch ends
(see ``split``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import checks
from cnnlab.training.checks import ConfigError

__all__ = ["LIVE_SETTINGS", "RECOMMENDED", "ConfigError", "TrainConfig", "check_live", "recommended_settings"]

# What the learner may change in the middle of a run; each takes effect at the next step.
LIVE_SETTINGS = ("lr", "momentum", "weight_decay", "batch_size", "augment")

OPTIMIZER_NAMES = ("sgd", "adam", "adamw")
SCHEDULE_NAMES = ("constant", "cosine", "step")
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_SEED = 2**63 - 1
MAX_WORKERS = 256


# Per network (preset name) and dataset: settings that reach the lab's accuracy targets without tuning,
# measured on the real datasets with `cnnlab train` (seed 0 unless said): seed 98.7% after 3 epochs
# (seeds 1, 2: 98.9%, 98.7%); mnist99 99.3% after 5; mnist99 on Fashion-MNIST 91.7% after 5. The fully
# connected baseline needs more, smaller steps in 3 epochs: batch 64 gave 97.49%, batch 32 97.9%.
# Anything not named takes TrainConfig's defaults; values the user gives always win.
RECOMMENDED: dict[str, dict[str, Any]] = {
    "seed": {"epochs": 3},
    "fc-baseline": {"epochs": 3, "batch_size": 32},
    "lenet5": {"epochs": 5},
    "mnist99": {"epochs": 5},
}
RECOMMENDED_FOR_DATASET: dict[tuple[str, str], dict[str, Any]] = {}


def recommended_settings(spec_name: str | None, dataset: str = "mnist") -> dict[str, Any]:
    """The recommended settings (a dict of TrainConfig fields) for a network name and a dataset."""
    settings = dict(RECOMMENDED.get(spec_name or "", {}))
    settings.update(RECOMMENDED_FOR_DATASET.get((spec_name or "", dataset), {}))
    return settings


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
    # Images held out of the training set (chosen by the seed, never trained on) and evaluated during
    # the run; 0: none. The test set is only touched at epoch ends.
    validation: int = 1000
    eval_every: int = 200  # steps between validation evaluations (0: only at epoch ends)
    snapshot_every: int = 20  # at most this many steps between snapshots
    snapshot_seconds: float = 0.1  # ... and a snapshot at least this often while training
    # Train on only the first N training images left after the validation split (the lesson used 1,000).
    train_limit: int | None = None
    # Processes each step's batch is split across (``parallel``); 1: all in the calling thread. A run is
    # bit-identical for a given seed and worker count.
    workers: int = 1

    def __post_init__(self) -> None:
        problems = []
        for name, check in _FIELD_CHECKS.items():
            try:
                value = check(getattr(self, name))
            except ConfigError as exc:
                problems.append(str(exc))
            else:
                object.__setattr__(self, name, value)  # NumPy numbers become plain ones (JSON)
        if not isinstance(self.spec, NetSpec):
            problems.append(f"spec must be a NetSpec, got {type(self.spec).__name__}")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def recommended(cls, spec: NetSpec | str = "seed", dataset: str = "mnist", **changes: Any) -> TrainConfig:
        """A config with the recommended settings for this network (a preset name or a spec) and dataset,
        then ``changes`` on top."""
        if isinstance(spec, str):
            spec = load_preset(spec)
        settings = {**recommended_settings(spec.name, dataset), **changes}
        return cls(spec=spec, dataset=dataset, **settings)

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
        """Settings from plain data; ``ConfigError`` (one line) for anything unknown or mistyped.

        Settings written before the validation split came from the training set hold ``held_out`` (a
        subset of the test set) instead: they read as ``validation=0``, which keeps their training set
        whole, so a checkpoint of such a run still resumes exactly.
        """
        data = dict(checks.mapping(data, "the training settings"))
        if "held_out" in data:
            held = data.pop("held_out")
            data.setdefault("validation", 0)
            checks.whole(held, "held_out")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            names = sorted(unknown)
            more = f" and {len(names) - 5:,} more" if len(names) > 5 else ""
            listed = ", ".join(checks.shown(name, 30) for name in names[:5])
            raise ConfigError(f"unknown training setting(s): {listed}{more}")
        if "spec" in data:
            data["spec"] = NetSpec.from_dict(data["spec"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))


def _optional(check):
    return lambda value: None if value is None else check(value)


# Each field's check (see ``checks``): types are strict, NaN and infinities never pass.
_FIELD_CHECKS = {
    "dataset": lambda v: checks.text(v, "dataset", 64),
    "data_dir": _optional(
        lambda v: checks.text(os.fspath(v) if isinstance(v, os.PathLike) else v, "data_dir", 4096)
    ),
    "epochs": lambda v: checks.whole(v, "epochs", 1, MAX_EPOCHS),
    "batch_size": lambda v: checks.whole(v, "batch size", 1, MAX_BATCH),
    "optimizer": lambda v: checks.choice(v, "optimizer", OPTIMIZER_NAMES),
    "lr": lambda v: checks.real(v, "learning rate", above=0.0),
    "momentum": lambda v: checks.real(v, "momentum", 0.0, below=1.0),
    "nesterov": lambda v: checks.flag(v, "nesterov"),
    "weight_decay": lambda v: checks.real(v, "weight decay", 0.0),
    "schedule": lambda v: checks.choice(v, "schedule", SCHEDULE_NAMES),
    "step_every_epochs": lambda v: checks.whole(v, "step_every_epochs", 1, MAX_EPOCHS),
    "step_gamma": lambda v: checks.real(v, "step_gamma", above=0.0),
    "warmup_steps": lambda v: checks.whole(v, "warmup_steps", 0),
    "augment": lambda v: checks.flag(v, "augment"),
    "seed": lambda v: checks.whole(v, "seed", 0, MAX_SEED),
    "validation": lambda v: checks.whole(v, "validation", 0),
    "eval_every": lambda v: checks.whole(v, "eval_every", 0),
    "snapshot_every": lambda v: checks.whole(v, "snapshot_every", 1),
    "snapshot_seconds": lambda v: checks.real(v, "snapshot_seconds", 0.0),
    "train_limit": _optional(lambda v: checks.whole(v, "train_limit", 1)),
    "workers": lambda v: checks.whole(v, "workers", 1, MAX_WORKERS),
}


def check_live(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise live changes (``LIVE_SETTINGS``); ``ConfigError`` names what cannot work.

    Lenient about how a number is written (``"0.1"``, ``32.0``: values from text fields), strict about
    what it is: finite, in range, a whole number for the batch size.
    """
    unknown = set(changes) - set(LIVE_SETTINGS)
    if unknown:
        raise ConfigError(
            f"cannot change {', '.join(sorted(str(k) for k in unknown))} during a run "
            f"(live settings: {', '.join(LIVE_SETTINGS)})"
        )
    checked = dict(changes)
    try:
        for key in ("lr", "momentum", "weight_decay"):
            if key in checked:
                checked[key] = float(checked[key])
        if "batch_size" in checked:
            value = checked["batch_size"]
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"batch size must be a whole number, got {value}")
            checked["batch_size"] = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"a live setting is not a number: {checks.shown(str(exc), 80)}") from None
    for key in ("lr", "momentum", "weight_decay", "batch_size"):
        if key in checked:
            checked[key] = _FIELD_CHECKS[key](checked[key])
    if "augment" in checked:
        checked["augment"] = bool(checked["augment"])
    return checked
