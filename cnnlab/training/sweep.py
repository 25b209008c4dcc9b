"""Sweeps: change one setting, train one run per value, one after another, and compare what they gave.

``Sweep(base, setting, values)`` checks every value and makes one ``TrainConfig`` per value (the base
with that one thing changed); ``run_sweep(sweep, dataset, store)`` trains them in turn, each a normal run
recorded in the runs history (``RunRecorder``, tagged with the sweep's id, setting and value), and
returns one ``SweepResult`` per run::

    sweep = Sweep(TrainConfig(epochs=1, train_limit=6000), "lr", [0.001, 0.01, 0.1])
    results = run_sweep(sweep, load_dataset("mnist"), RunStore())
    for r in results:
        print(r.label, r.name, r.test_accuracy)        # "0.001", "seed · lr 0.001", 0.91...

The settings (``SETTINGS``; values may be given as text, as on the command line):

- ``lr``, ``momentum``, ``weight_decay``, ``batch_size``, ``epochs``, ``seed``, ``validation``,
  ``warmup_steps``, ``augment`` (on/off), ``schedule`` (constant, cosine, step), ``limit`` (the number
  of training images, ``all`` for every one);
- ``optimizer``: ``sgd`` (with momentum), ``plain-sgd`` (momentum 0), ``nesterov``, ``adam``, ``adamw``;
  ``name@rate`` also sets that run's learning rate (``adam@0.001``), since one rate rarely suits both;
- ``preset``: a list of networks (``seed``, ``fc-baseline``, ``lenet5``, ``mnist99``);
- ``pool``: ``max`` or ``avg``, for every pooling layer; ``activation``: ``relu``, ``leaky_relu``,
  ``elu``, ``tanh`` or ``sigmoid``, for every activation layer; ``init``: an initialiser for every
  convolution and dense layer;
- ``LAYER.SETTING``: one layer's setting, by the layer's name (``conv1.filters``, ``conv2.kernel``,
  ``dense1.units``, ``dropout1.rate``), or every layer of a kind (``conv.kernel``: every convolution;
  also ``dense``, ``pool``, ``dropout``). Kernels may be written ``5`` or ``5x5``.

Names may use ``-`` for ``_`` (``batch-size``). An unknown setting, a value that cannot be read or
cannot work (a kernel larger than its input), a repeated value or a network that does not fit the
data is refused before anything trains, in one ``ConfigError`` line naming the setting and the value.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.data import Dataset
from cnnlab.engine import INITIALISERS, LAYER_TYPES, PRESET_NAMES, Budget, NetSpec, SpecError, load_preset
from cnnlab.training.checks import ConfigError, shown
from cnnlab.training.config import SCHEDULE_NAMES, TrainConfig
from cnnlab.training.describe import describe_runs
from cnnlab.training.files import jsonable
from cnnlab.training.runs import RunRecorder, RunStore
from cnnlab.training.session import TrainingSession, check_run
from cnnlab.training.snapshot import Snapshot

MAX_VALUES = 50
OPTIMIZER_CHOICES = ("sgd", "plain-sgd", "nesterov", "adam", "adamw")
POOL_KINDS = {"max": "maxpool2d", "avg": "avgpool2d", "average": "avgpool2d"}
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
# Kinds of layer a "KIND.SETTING" sweep may name, and the layer types each covers.
LAYER_GROUPS = {
    "conv": ("conv2d",),
    "dense": ("dense",),
    "pool": ("maxpool2d", "avgpool2d"),
    "dropout": ("dropout",),
    "batchnorm": ("batchnorm",),
}
SETTINGS = (
    "lr", "momentum", "weight_decay", "batch_size", "epochs", "seed", "validation", "warmup_steps",
    "augment", "schedule", "limit", "optimizer", "preset", "pool", "activation", "init",
)  # fmt: skip
_ALIASES = {"train_limit": "limit", "network": "preset", "pooling": "pool", "learning_rate": "lr"}


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        return float(value)
    return float(str(value).strip())


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip().replace("_", "").replace(",", "")
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError
    return int(text)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "yes", "true", "1"):
        return True
    if text in ("off", "no", "false", "0"):
        return False
    raise ValueError


def _limit(value: Any) -> int | None:
    if value is None or str(value).strip().lower() in ("all", "none"):
        return None
    return _whole(value)


# The settings that are TrainConfig fields of their own, each with how a value given as text is read.
_CONFIG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "lr": _number,
    "momentum": _number,
    "weight_decay": _number,
    "batch_size": _whole,
    "epochs": _whole,
    "seed": _whole,
    "validation": _whole,
    "warmup_steps": _whole,
    "augment": _flag,
}


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: the value (as read), its text, and the settings it trains with."""

    index: int
    value: Any
    label: str  # the value as text: "0.001", "adam", "all", "5x5"
    config: TrainConfig


class Sweep:
    """One setting and its values over a base config (see the module docstring).

    Iterating gives ``(value, config)`` pairs; ``points`` gives ``SweepPoint``s; ``names`` the runs'
    automatic names (what sets each apart: "seed · lr 0.1"). Raises ``ConfigError`` (one line).
    """

    def __init__(self, base: TrainConfig, setting: str, values: Iterable[Any], *, id: str | None = None):
        if not isinstance(base, TrainConfig):
            raise ConfigError(f"a sweep starts from a TrainConfig, got {type(base).__name__}")
        self.base = base
        self.setting = normalise_setting(setting)
        values = list(values)
        if not values:
            raise ConfigError(f"sweep {self.setting}: give at least one value")
        if len(values) > MAX_VALUES:
            raise ConfigError(f"sweep {self.setting}: at most {MAX_VALUES} values, got {len(values):,}")
        points = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(values):
            value, label, config = _apply(base, self.setting, raw)
            if label in seen:
                raise ConfigError(f"sweep {self.setting}: the value {label} is given twice")
            seen[label] = index
            points.append(SweepPoint(index, value, label, config))
        self.points: tuple[SweepPoint, ...] = tuple(points)
        self.id = id or uuid.uuid4().hex[:8]

    def __iter__(self):
        return iter([(point.value, point.config) for point in self.points])

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return f"Sweep({self.setting}={','.join(p.label for p in self.points)})"

    @property
    def configs(self) -> list[TrainConfig]:
        return [point.config for point in self.points]

    @property
    def names(self) -> list[str]:
        return describe_runs(self.configs)

    def check(self, dataset: Dataset, budget: Budget | None = None) -> None:
        """Every run against the data (network, image shape, classes, training-set size), before any
        trains; ``ConfigError`` naming the value whose run cannot work."""
        for point in self.points:
            try:
                check_run(point.config, dataset, budget)
            except (ConfigError, SpecError) as exc:
                raise ConfigError(f"sweep {self.setting}={point.label}: {exc}") from None


def normalise_setting(setting: Any) -> str:
    """The setting's canonical name (``batch-size`` -> ``batch_size``); ``ConfigError`` if unknown."""
    if not isinstance(setting, str) or not setting.strip():
        raise ConfigError(f"a sweep needs a setting to change, got {shown(setting)}")
    name = setting.strip().replace("-", "_").lower()
    name = _ALIASES.get(name, name)
    if name in SETTINGS or "." in name:
        return name
    raise ConfigError(
        f"cannot sweep {shown(setting)}; the settings are {', '.join(SETTINGS)}, or a layer's setting "
        "such as conv1.filters or conv.kernel"
    )


def _apply(base: TrainConfig, setting: str, raw: Any) -> tuple[Any, str, TrainConfig]:
    """(value as read, its text, the config with it); ConfigError naming the setting and the value."""
    try:
        value, label, config = _change(base, setting, raw)
        if setting in ("preset", "pool", "activation", "init") or "." in setting:
            config.spec.validate()
    except (ConfigError, SpecError) as exc:
        raise ConfigError(f"sweep {setting}={_text(raw)}: {exc}") from None
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"sweep {setting}: cannot read the value {shown(raw)}") from None
    return value, label, config


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value).strip() if isinstance(value, str) else shown(value)


def _change(base: TrainConfig, setting: str, raw: Any) -> tuple[Any, str, TrainConfig]:
    if setting in _CONFIG_FIELDS:
        value = _CONFIG_FIELDS[setting](raw)
        return value, _text(value), base.replace(**{setting: value})
    if setting == "limit":
        value = _limit(raw)
        return value, "all" if value is None else _text(value), base.replace(train_limit=value)
    if setting == "schedule":
        value = _choice(raw, SCHEDULE_NAMES, "schedule")
        return value, value, base.replace(schedule=value)
    if setting == "optimizer":
        return _optimizer(base, raw)
    if setting == "preset":
        name = str(raw).strip()
        if name not in PRESET_NAMES:
            raise ConfigError(f"unknown network; the presets are {', '.join(PRESET_NAMES)}")
        return name, name, base.replace(spec=load_preset(name))
    if setting == "pool":
        kind = _choice(raw, tuple(POOL_KINDS), "pooling kind")
        label = "avg" if kind == "average" else kind
        spec = _each_layer(
            base.spec, LAYER_GROUPS["pool"], "pooling", lambda layer: {**layer, "type": POOL_KINDS[kind]}
        )
        return label, label, base.replace(spec=spec)
    if setting == "activation":
        kind = _choice(str(raw).strip().replace("-", "_").lower(), ACTIVATIONS, "activation")
        family = tuple(k for k, cls in LAYER_TYPES.items() if cls.family == "activation")
        spec = _each_layer(base.spec, family, "activation", lambda layer: _renamed({"type": kind}, layer))
        return kind, kind, base.replace(spec=spec)
    if setting == "init":
        name = _choice(raw, tuple(sorted(INITIALISERS)), "initialiser")
        spec = _each_layer(
            base.spec, ("conv2d", "dense"), "convolution or dense", lambda layer: {**layer, "init": name}
        )
        return name, name, base.replace(spec=spec)
    return _layer_setting(base, setting, raw)


def _choice(raw: Any, allowed: Sequence[str], what: str) -> str:
    value = str(raw).strip().lower() if isinstance(raw, str) else raw
    if value not in allowed:
        raise ConfigError(f"unknown {what}; choose from {', '.join(allowed)}")
    return value


def _optimizer(base: TrainConfig, raw: Any) -> tuple[Any, str, TrainConfig]:
    text = str(raw).strip().lower()
    name, _, rate = text.partition("@")
    name = _choice(name, OPTIMIZER_CHOICES, "optimizer")
    momentum = base.momentum or 0.9
    changes: dict[str, Any] = {
        "sgd": {"optimizer": "sgd", "momentum": momentum, "nesterov": False},
        "plain-sgd": {"optimizer": "sgd", "momentum": 0.0, "nesterov": False},
        "nesterov": {"optimizer": "sgd", "momentum": momentum, "nesterov": True},
        "adam": {"optimizer": "adam", "momentum": momentum, "nesterov": False},
        "adamw": {"optimizer": "adamw", "momentum": momentum, "nesterov": False},
    }[name]
    if rate:
        changes["lr"] = _number(rate)
    return text, text, base.replace(**changes)


def _renamed(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A replacement layer that keeps the old one's explicit name, if it had one."""
    return {**new, "name": old["name"]} if "name" in old else new


def _each_layer(spec: NetSpec, kinds: Sequence[str], what: str, change) -> NetSpec:
    layers = [change(dict(layer)) if layer.get("type") in kinds else dict(layer) for layer in spec.layers]
    if not any(layer.get("type") in kinds for layer in spec.layers):
        raise ConfigError(f"the network {spec.name or '(custom)'} has no {what} layer to change")
    return spec.replace_layers(layers)


def _layer_setting(base: TrainConfig, setting: str, raw: Any) -> tuple[Any, str, TrainConfig]:
    target, _, key = setting.partition(".")
    spec = base.spec
    infos = spec.validate()
    if target in LAYER_GROUPS:
        chosen = [info.index for info in infos if info.type in LAYER_GROUPS[target]]
        if not chosen:
            raise ConfigError(f"the network {spec.name or '(custom)'} has no {target} layer")
    else:
        chosen = [info.index for info in infos if info.name == target]
        if not chosen:
            names = ", ".join(info.name for info in infos)
            raise ConfigError(f"the network has no layer {shown(target)}; its layers are {names}")
    cls = LAYER_TYPES[infos[chosen[0]].type]
    declared = cls.setting(key)
    if declared is None or any(LAYER_TYPES[infos[i].type].setting(key) is None for i in chosen):
        allowed = ", ".join(s.name for s in cls.settings) or "no settings"
        raise ConfigError(f"{target} has no setting {shown(key)}; it takes {allowed}")
    value = declared.check(_read_layer_value(raw))
    layers = [dict(layer) for layer in spec.layers]
    for i in chosen:
        layers[i][key] = value
    return value, _text(value), base.replace(spec=spec.replace_layers(layers))


def _read_layer_value(raw: Any) -> Any:
    """A layer setting written as text: 5 -> 5, 0.3 -> 0.3, 5x5 or 3x5 -> [h, w], same -> "same"."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    size = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", text)
    if size:
        h, w = int(size.group(1)), int(size.group(2))
        return h if h == w else [h, w]
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


# -- running ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What one run of a sweep gave (``run_id`` is its id in the runs history, None if not recorded)."""

    index: int
    value: Any
    label: str
    name: str  # the run's automatic name among the sweep's runs
    status: str  # finished, stopped, diverged
    run_id: str | None
    test_accuracy: float | None  # the latest epoch end's (None if no epoch finished)
    train_accuracy: float | None
    best_validation_accuracy: float | None
    final_loss: float | None
    test_loss: float | None
    seconds: float
    images_per_s: float | None
    params: int
    steps: int
    images_seen: int
    config: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "config"}
        return jsonable({**data, "config": self.config.to_dict()})


SnapshotFn = Callable[[int, Snapshot], None]
SessionFn = Callable[[int, TrainingSession], None]


def run_sweep(
    sweep: Sweep,
    dataset: Dataset,
    store: RunStore | None = None,
    on_snapshot: SnapshotFn | None = None,
    cancel: threading.Event | None = None,
    *,
    on_session: SessionFn | None = None,
    on_result: Callable[[SweepResult], None] | None = None,
    out: str | Path | None = None,
    budget: Budget | None = None,
) -> list[SweepResult]:
    """Train the sweep's runs one after another; returns a result per run trained.

    Every run is first checked against ``dataset`` (``Sweep.check``: nothing trains if one cannot
    work). Each is recorded in ``store`` (None: not recorded) with ``tags`` naming the sweep.
    ``on_snapshot(index, snapshot)`` sees every snapshot of run ``index``; ``on_session(index,
    session)`` each session before it starts (to steer it: pause, live settings); ``on_result`` each
    result as its run ends. ``cancel``: once set, the run under way stops at its next snapshot (between
    steps) and no later run starts. ``out``: each run's final checkpoint is saved as
    ``out/<index>-<value>/checkpoint.npz``.
    """
    sweep.check(dataset, budget)
    names = sweep.names
    results: list[SweepResult] = []
    for point, name in zip(sweep.points, names, strict=True):
        if cancel is not None and cancel.is_set():
            break
        result = _run_point(sweep, point, name, dataset, store, on_snapshot, cancel, on_session, out, budget)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.status != "finished" and cancel is not None and cancel.is_set():
            break
    return results


def _run_point(
    sweep, point, name, dataset, store, on_snapshot, cancel, on_session, out, budget
) -> SweepResult:
    target = None
    if out is not None:
        slug = re.sub(r"[^A-Za-z0-9.@_-]+", "_", point.label)[:40]
        target = Path(out) / f"{point.index + 1:02d}-{slug}" / "checkpoint.npz"
    session = TrainingSession(point.config, dataset, checkpoint_path=target, budget=budget)
    tags = {
        "sweep": sweep.id,
        "sweep_setting": sweep.setting,
        "sweep_value": point.label,
        "sweep_index": point.index,
        "sweep_size": len(sweep),
    }
    recorder = RunRecorder(store, session=session, tags=tags) if store is not None else None
    if on_session is not None:
        on_session(point.index, session)
    last = None
    try:
        for snapshot in session.run():
            last = snapshot
            if recorder is not None:
                recorder.observe(snapshot)
            if on_snapshot is not None:
                on_snapshot(point.index, snapshot)
            if cancel is not None and cancel.is_set():
                session.stop()
    except Exception as exc:
        if recorder is not None:
            recorder.failed(str(exc) or type(exc).__name__)
        raise
    h = last.history
    train = last.train_accuracy
    if train is None and len(h.epoch_steps):
        train = float(h.epoch_train_accuracy[-1])
    test_loss = float(h.test_loss[-1]) if h.test_loss is not None and len(h.test_loss) else None
    return SweepResult(
        index=point.index,
        value=point.value,
        label=point.label,
        name=name,
        status=str(last.event),
        run_id=recorder.run_id if recorder is not None else None,
        test_accuracy=last.test_accuracy,
        train_accuracy=train,
        best_validation_accuracy=last.best_validation_accuracy,
        final_loss=last.loss_smooth,
        test_loss=test_loss,
        seconds=last.elapsed,
        images_per_s=last.images_seen / last.train_seconds if last.train_seconds > 0 else None,
        params=point.config.spec.num_params(),
        steps=last.step,
        images_seen=last.images_seen,
        config=point.config,
    )
