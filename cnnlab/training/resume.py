"""Resume state: everything besides weights that a checkpoint must hold for a run to continue exactly.

``checkpoint_metadata(session)`` writes it as plain JSON data. ``read_resume_state`` reads it back and
checks every field (type, range, and what it must agree with: the training set's size, the random
generator's kind, the curves' lengths) before anything is used, so a damaged or hostile checkpoint is
refused with one ``ResumeError`` line naming the file and the field, never half-restored.
``check_weights`` and ``check_optimizer_state`` do the same for the arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlab.engine import Checkpoint, NetSpec, Network, Optimizer
from cnnlab.training import checks
from cnnlab.training.checks import ConfigError
from cnnlab.training.config import LIVE_SETTINGS, MAX_EPOCHS, check_live
from cnnlab.training.optimization import SLOT_KEYS
from cnnlab.training.progress import EPOCH_FIELDS, EVAL_FIELDS, STEP_FIELDS, Progress
from cnnlab.training.snapshot import Change
from cnnlab.training.stats import Smoother

if TYPE_CHECKING:
    from cnnlab.training.session import TrainingSession

MAX_CHANGES = 1_000_000
_U128 = 2**128 - 1
_HISTORY_FIELDS = {"steps": STEP_FIELDS, "evals": EVAL_FIELDS, "epochs": EPOCH_FIELDS}


class ResumeError(ConfigError):
    """A checkpoint whose metadata or arrays cannot be resumed from; names the file and the field."""


def checkpoint_metadata(session: TrainingSession) -> dict[str, Any]:
    """Everything besides weights and optimizer state that a resumed run needs (plain JSON data)."""
    p = session.progress
    return {
        "run_id": session.run_id,
        "config": session.config.to_dict(),
        "class_names": list(session.class_names),
        "dataset": session.dataset.name,
        "step": p.step,
        "epoch": p.epoch,
        "pos": p.pos if p.in_epoch else 0,
        "epoch_step": p.epoch_step if p.in_epoch else 0,
        "images_seen": p.images_seen,
        "elapsed": session.clock.elapsed(),
        "train_seconds": session.clock.train_seconds,
        "epoch_started": p.epoch_started,
        "live": dict(session.steering.settings),
        # [step, images seen, setting, old value, new value] (older checkpoints: [step, setting, new])
        "changes": [list(change) for change in p.changes],
        "order_state": _jsonable_state(p.order_state) if p.in_epoch else None,
        "data_rng": _jsonable_state(session.data_rng.bit_generator.state),
        "model_rng": _jsonable_state(session.model_rng.bit_generator.state),
        "smooth": p.smooth.state(),
        "epoch_totals": [p.epoch_loss_sum, p.epoch_correct, p.epoch_seen],
        "last_loss": _finite_or_none(p.last_loss),
        "test_accuracy": _finite_or_none(p.test_accuracy),
        "validation": [_finite_or_none(v) for v in p.validation] if p.validation else None,
        "last_eval_step": p.last_eval_step,
        "history": session.history.to_metadata(),
    }


@dataclass(frozen=True)
class ResumeState:
    """A checked resume point. ``progress.order`` is None: the session re-draws the interrupted epoch's
    order from ``progress.order_state``."""

    run_id: str | None
    progress: Progress
    live: dict[str, Any]
    data_rng: dict
    model_rng: dict
    elapsed: float
    history: dict[str, dict[str, list[float | None]]]
    train_seconds: float = 0.0


def file_label(checkpoint: Checkpoint) -> str:
    return Path(checkpoint.path).name if checkpoint.path is not None else "the checkpoint"


def read_resume_state(checkpoint: Checkpoint, *, n_train: int) -> ResumeState | None:
    """The checked resume point of ``checkpoint``, or None if it holds weights only (no ``step``).

    ``n_train``: the training set's size now (the saved position in the epoch must fit in it).
    """
    meta = checkpoint.metadata
    try:
        checks.mapping(meta, "the metadata")
        if "step" not in meta:
            return None
        return _read(meta, n_train)
    except ConfigError as exc:
        raise ResumeError(f"{file_label(checkpoint)}: cannot resume from its metadata: {exc}") from None


def _read(meta: dict, n_train: int) -> ResumeState:
    step = checks.whole(meta["step"], "step")
    elapsed = checks.real(meta.get("elapsed", 0.0), "elapsed", 0.0)
    p = Progress(
        step=step,
        epoch=checks.whole(meta.get("epoch"), "epoch", 0, MAX_EPOCHS),
        images_seen=checks.whole(meta.get("images_seen"), "images_seen"),
        last_eval_step=checks.whole(meta.get("last_eval_step", step), "last_eval_step", 0, step),
        last_loss=_optional_real(meta.get("last_loss"), "last_loss"),
        test_accuracy=_optional_real(meta.get("test_accuracy"), "test_accuracy", 0.0, 1.0),
        smooth=_smoother(meta.get("smooth"), "smooth"),
    )
    run_id = meta.get("run_id")
    if run_id is not None:
        checks.text(run_id, "run_id", 64)
    key = "validation" if "validation" in meta else "held_out"  # its name before the validation split
    held = meta.get(key)
    if held is not None:
        accuracy, loss = checks.sequence(held, key, length=2)
        accuracy = _optional_real(accuracy, f"{key}[0]", 0.0, 1.0)
        loss = _optional_real(loss, f"{key}[1]")
        p.validation = (math.nan if accuracy is None else accuracy, math.nan if loss is None else loss)
    order_state = meta.get("order_state")
    if order_state is not None:
        p.order_state = _rng_state(order_state, "order_state")
        try:
            p.pos = checks.whole(meta.get("pos"), "pos", 0, n_train)
        except ConfigError as exc:
            raise ConfigError(
                f"{exc} (the training set has {n_train:,} images now: was --limit changed?)"
            ) from None
        p.epoch_step = checks.whole(meta.get("epoch_step", 0), "epoch_step")
        totals = checks.sequence(meta.get("epoch_totals"), "epoch_totals", length=3)
        p.epoch_loss_sum = checks.real(totals[0], "epoch_totals[0]", 0.0)
        p.epoch_seen = checks.whole(totals[2], "epoch_totals[2]", 0, p.pos)
        p.epoch_correct = checks.whole(totals[1], "epoch_totals[1]", 0, p.epoch_seen)
        p.epoch_started = checks.real(meta.get("epoch_started", elapsed), "epoch_started", 0.0)
    live = _live(meta.get("live", {}))
    p.changes = _changes(meta.get("changes", []), step, p.images_seen)
    return ResumeState(
        run_id=run_id,
        progress=p,
        live=live,
        data_rng=_rng_state(meta.get("data_rng"), "data_rng"),
        model_rng=_rng_state(meta.get("model_rng"), "model_rng"),
        elapsed=elapsed,
        history=_history(meta.get("history", {})),
        # Not kept before 0.3: the wall-clock time stands in for it.
        train_seconds=checks.real(meta.get("train_seconds", elapsed), "train_seconds", 0.0),
    )


def _optional_real(value: Any, what: str, minimum: float | None = None, maximum: float | None = None):
    return None if value is None else checks.real(value, what, minimum, maximum)


def _smoother(value: Any, what: str) -> Smoother:
    state = checks.mapping(value, what)
    return Smoother(
        weight=checks.real(state.get("weight"), f"{what}.weight", above=0.0, below=1.0),
        avg=checks.real(state.get("avg"), f"{what}.avg"),
        count=checks.whole(state.get("count"), f"{what}.count"),
    )


def _live_value(key: str, value: Any, what: str) -> Any:
    """One live setting, strictly typed (a checkpoint holds JSON numbers, never text), then in range."""
    if key == "augment":
        checks.flag(value, what)
    elif key == "batch_size":
        checks.whole(value, what, 1)
    else:
        checks.real(value, what)
    try:
        return check_live({key: value})[key]
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _live(value: Any) -> dict[str, Any]:
    live = checks.mapping(value, "live")
    # Settings a later cnnlab might add are left out, not refused.
    return {key: _live_value(key, live[key], f"live.{key}") for key in LIVE_SETTINGS if key in live}


def _changes(value: Any, step: int, images_seen: int) -> list[Change]:
    changes = []
    for i, item in enumerate(checks.sequence(value, "changes", max_length=MAX_CHANGES)):
        what = f"changes[{i}]"
        item = checks.sequence(item, what)
        if len(item) == 3:  # written before the images seen and the old value were kept
            (at, key, new), seen, old = item, None, None
        elif len(item) == 5:
            at, seen, key, old, new = item
        else:
            raise ConfigError(f"{what} must hold 5 values (or 3), got {len(item):,}")
        at = checks.whole(at, f"{what} step", 0, step)
        if seen is not None:
            seen = checks.whole(seen, f"{what} images seen", 0, images_seen)
        key = checks.choice(key, f"{what} setting", LIVE_SETTINGS)
        new = _live_value(key, new, f"{what} value")
        if old is not None:
            old = _live_value(key, old, f"{what} old value")
        changes.append(Change(at, seen, key, old, new))
    return changes


def _rng_state(value: Any, what: str) -> dict:
    """A NumPy PCG64 state, checked field by field (NumPy itself would accept floats and cut them)."""
    state = checks.mapping(value, what)
    if state.get("bit_generator") != "PCG64":
        raise ConfigError(f"{what} is not the state of a PCG64 random generator")
    inner = checks.mapping(state.get("state"), f"{what}.state")
    clean = {
        "bit_generator": "PCG64",
        "state": {
            "state": checks.whole(inner.get("state"), f"{what}.state.state", 0, _U128),
            "inc": checks.whole(inner.get("inc"), f"{what}.state.inc", 0, _U128),
        },
        "has_uint32": checks.whole(state.get("has_uint32"), f"{what}.has_uint32", 0, 1),
        "uinteger": checks.whole(state.get("uinteger"), f"{what}.uinteger", 0, 2**32 - 1),
    }
    try:
        np.random.PCG64().state = clean
    except (TypeError, ValueError, OverflowError, KeyError) as exc:
        raise ConfigError(f"{what} is not a usable random state ({checks.shown(str(exc), 60)})") from None
    return clean


def _history(value: Any) -> dict[str, dict[str, list[float | None]]]:
    history = checks.mapping(value, "history")
    clean = {}
    for part, names in _HISTORY_FIELDS.items():
        series = checks.mapping(history.get(part, {}), f"history.{part}")
        lists = {}
        for name in names:
            if name in series:
                lists[name] = _curve(series[name], f"history.{part}.{name}")
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{name} {len(v):,}" for name, v in lists.items())
            raise ConfigError(f"history.{part} holds curves of different lengths ({shown})")
        clean[part] = lists
    return clean


def _curve(value: Any, what: str) -> list[float | None]:
    values = checks.sequence(value, what)
    for i, v in enumerate(values):
        if v is not None:
            checks.real(v, f"{what}[{i}]", -1e300, 1e300)
    return values


# -- arrays ---------------------------------------------------------------------------------------------
def check_weights(checkpoint: Checkpoint, network: Network, spec: NetSpec) -> None:
    """Load the checkpoint's weights into ``network`` (built from ``spec``), or say which network each is
    for when they do not fit."""
    try:
        network.load_state_dict(checkpoint.weights)
    except ValueError:
        raise ResumeError(
            f"{file_label(checkpoint)}: this checkpoint is for a network with "
            f"{describe_network(checkpoint.spec, spec)}, the current one has "
            f"{describe_network(spec, checkpoint.spec)}"
        ) from None


def describe_network(spec: NetSpec, other: NetSpec | None = None) -> str:
    """A short description: layers, parameters, input, and the first layer that differs from ``other``."""
    layers = spec.to_dict()["layers"]
    text = f"{len(layers)} layers, {spec.num_params():,} parameters, input {_shape(spec.input_shape)}"
    if other is None:
        return text
    if tuple(spec.input_shape) != tuple(other.input_shape):
        return text
    theirs = other.to_dict()["layers"]
    for i, layer in enumerate(layers):
        if i >= len(theirs) or _layer_text(layer) != _layer_text(theirs[i]):
            return f"{text}; layer {i + 1} {_layer_text(layer)}"
    return text


def _shape(shape) -> str:
    return "x".join(str(v) for v in shape)


def _layer_text(layer: dict) -> str:
    settings = ", ".join(f"{k}={checks.shown(v, 20)}" for k, v in layer.items() if k not in ("type", "name"))
    return f"{layer.get('type')}({settings})" if settings else str(layer.get("type"))


def optimizer_kind(checkpoint: Checkpoint, default: str) -> str:
    """The kind of optimizer whose state the checkpoint holds (``default`` when it does not say)."""
    value = checkpoint.metadata.get("optimizer")
    if value is None:
        return default
    try:
        return checks.text(checks.mapping(value, "optimizer").get("kind", default), "optimizer.kind", 32)
    except ConfigError as exc:
        raise ResumeError(f"{file_label(checkpoint)}: cannot resume from its metadata: {exc}") from None


def check_optimizer_state(
    checkpoint: Checkpoint, flat: dict[str, np.ndarray], optimizer: Optimizer
) -> dict[str, np.ndarray]:
    """``flat`` (a checkpoint's optimizer state) checked against ``optimizer``'s kind and its network:
    every key names a parameter and one of the optimizer's slots, shapes match, values are finite."""
    try:
        return _optimizer_state(flat, optimizer)
    except ConfigError as exc:
        raise ResumeError(f"{file_label(checkpoint)}: cannot resume its optimizer state: {exc}") from None


def _optimizer_state(flat: dict[str, np.ndarray], optimizer: Optimizer) -> dict[str, np.ndarray]:
    params = {name: param for name, param, _ in optimizer.network.named_parameters()}
    slots = SLOT_KEYS.get(optimizer.kind, ())
    seen: dict[str, set[str]] = {}
    for key, value in flat.items():
        if key == "steps":
            if value.shape != () or value.dtype.kind not in "iu":
                raise ConfigError(f"'steps' must be one whole number, got {value.dtype} {value.shape}")
            checks.whole(int(value), "'steps'")
            continue
        name, _, slot = key.rpartition("/")
        if name not in params:
            raise ConfigError(f"{checks.shown(key)} names a parameter this network does not have")
        if slot not in slots:
            raise ConfigError(
                f"{checks.shown(key)} is not part of {optimizer.kind}'s state ({', '.join(slots)})"
            )
        if value.shape != params[name].shape:
            raise ConfigError(f"{key!r} has shape {value.shape}, the parameter has {params[name].shape}")
        if value.dtype.kind != "f" or not np.all(np.isfinite(value)):
            raise ConfigError(f"{key!r} must hold finite floating-point numbers")
        seen.setdefault(name, set()).add(slot)
    for name, found in seen.items():
        if found != set(slots):
            raise ConfigError(f"the state of {name} lacks {', '.join(sorted(set(slots) - found))}")
    return flat


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _jsonable_state(state: dict | None) -> dict | None:
    """NumPy bit-generator states hold Python ints and dicts only, so JSON keeps them exactly."""
    return None if state is None else {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
