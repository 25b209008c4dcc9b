"""Learning-rate schedules: each gives a multiplier of the base learning rate at a step.

A schedule returns a factor rather than a rate, so when the learner changes the base rate in the
middle of a run, the schedule keeps shaping it from that step on. Schedules are frozen, plain data
(``to_dict``/``schedule_from_dict``) so a training config can hold one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Constant:
    kind: str = field(default="constant", init=False)

    def factor(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """Multiply by ``gamma`` every ``step_size`` steps."""

    step_size: int
    gamma: float = 0.1
    kind: str = field(default="step", init=False)

    def factor(self, step: int) -> float:
        return self.gamma ** (step // max(self.step_size, 1))


@dataclass(frozen=True)
class Cosine:
    """Half a cosine from 1 down to ``final`` over ``total_steps``, then stay at ``final``."""

    total_steps: int
    final: float = 0.0
    kind: str = field(default="cosine", init=False)

    def factor(self, step: int) -> float:
        t = min(step / max(self.total_steps, 1), 1.0)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class Warmup:
    """Rise linearly from 1/steps to 1 over ``steps`` steps, then follow ``then`` (shifted).

    ``factor(step)`` counts steps from 0, so the first step already gets 1/steps. A caller that counts
    something else must convert: the training session counts images, and does its own warm-up in steps
    of the configured batch size (``training.optimization.LearningRate``) rather than use this one.
    """

    steps: int
    then: Constant | StepDecay | Cosine = field(default_factory=Constant)
    kind: str = field(default="warmup", init=False)

    def factor(self, step: int) -> float:
        if step < self.steps:
            return (step + 1) / self.steps
        return self.then.factor(step - self.steps)


Schedule = Constant | StepDecay | Cosine | Warmup

_KINDS = {"constant": Constant, "step": StepDecay, "cosine": Cosine, "warmup": Warmup}


def schedule_to_dict(schedule: Schedule) -> dict:
    return asdict(schedule)


def schedule_from_dict(data: dict) -> Schedule:
    data = dict(data)
    kind = data.pop("kind", "constant")
    if kind not in _KINDS:
        raise ValueError(f"unknown schedule {kind!r}; known: {', '.join(_KINDS)}")
    if kind == "warmup" and isinstance(data.get("then"), dict):
        data["then"] = schedule_from_dict(data["then"])
    return _KINDS[kind](**data)
