"""Runs that describe themselves: a run's full settings as one flat record, and names made from what
sets each run apart from the others it is shown with.

``run_settings(config, train_images=..., validation_images=...)`` is what a run records as its
``config``: every ``TrainConfig`` field (the network's spec included) plus what follows from them and
the data: ``network`` (the spec's name), ``params``, ``init`` (each conv/dense layer's initialiser,
defaults filled in), ``train_images`` and ``validation_images`` (the counts the run really used).

``describe_runs(items)`` names each of a list of runs (``TrainConfig``s, ``RunInfo``s or such
settings dicts) by its network and by the settings in which it differs from the others::

    describe_runs([base, base.replace(lr=0.1), kernel5, fc, base.replace(batch_size=16)])
    # ["seed", "seed · lr 0.1", "seed · 5x5 filters", "fc-baseline", "seed · batch 16"]

For each setting that is not the same in every run, a run names its value when it differs from the
value most runs share (or always, when no value is shared by more runs than any other). Differences
inside networks of one name are told in words (kernel size, filter counts, pooling kind, activation,
initialisation, extra or missing layers); a network too different for a few words, or one without a
name, is "custom (N params)". Two runs that would get the same name are numbered.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from cnnlab.engine import LAYER_TYPES, LayerInfo, NetSpec, SpecError
from cnnlab.training.checks import ConfigError
from cnnlab.training.config import TrainConfig

if TYPE_CHECKING:
    pass

SEPARATOR = " · "
# Keys of a run's settings that follow from the TrainConfig fields and the data (not settings of their own).
DERIVED_KEYS = ("network", "params", "init", "train_images", "validation_images")
# A network that differs from its namesakes in more than this many ways is called "custom".
MAX_SPEC_WORDS = 3
_WEIGHTED = ("conv2d", "dense")


def run_settings(
    config: TrainConfig, *, train_images: int | None = None, validation_images: int | None = None
) -> dict[str, Any]:
    """Every setting of a run as plain JSON data (see the module docstring)."""
    data = config.to_dict()
    spec = config.spec
    try:
        infos = spec.validate()
    except SpecError:
        infos = []
    data.update(
        network=spec.name or "",
        params=sum(info.params for info in infos),
        init={info.name: info.settings.get("init") for info in infos if info.type in _WEIGHTED},
        train_images=train_images,
        validation_images=validation_images,
    )
    return data


def train_config(settings: Mapping[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` inside a run's settings (``ConfigError``/``SpecError`` if it is damaged)."""
    known = {f.name for f in fields(TrainConfig)} | {"held_out"}
    return TrainConfig.from_dict({k: v for k, v in settings.items() if k in known})


def optimizer_label(optimizer: str, momentum: float, nesterov: bool = False) -> str:
    """ "sgd", "plain-sgd" (no momentum), "nesterov", "adam" or "adamw"."""
    if optimizer == "sgd":
        if not momentum:
            return "plain-sgd"
        return "nesterov" if nesterov else "sgd"
    return optimizer


# -- naming ---------------------------------------------------------------------------------------------
def describe_runs(items: Sequence[Any]) -> list[str]:
    """A name for each run of ``items`` (``TrainConfig``, ``RunInfo`` or a run's settings dict), made
    from what sets it apart from the others; the same length and order as ``items``."""
    runs = [_Run.of(item) for item in items]
    words: list[list[str]] = [[] for _ in runs]
    _describe_networks(runs, words)
    for key, show in _FACTS:
        values = [run.facts.get(key) for run in runs]
        for i in _shown(values):
            if values[i] is not None:
                text = show(values[i], runs[i])
                if text:
                    words[i].append(text)
    names = [SEPARATOR.join([run.label, *w]) for run, w in zip(runs, words, strict=True)]
    return _numbered(names)


def _shown(values: list[Any]) -> list[int]:
    """Which runs name their value of one setting: those that differ from the value most runs share;
    all when no value is shared by more runs than every other; none when all agree. Runs to which the
    setting does not apply (None: plain SGD's momentum) neither count nor show it."""
    keys = [None if v is None else _key(v) for v in values]
    counts = Counter(k for k in keys if k is not None)
    if len(counts) <= 1:
        return []
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        return [i for i, k in enumerate(keys) if k is not None]
    return [i for i, k in enumerate(keys) if k is not None and k != top]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _numbered(names: list[str]) -> list[str]:
    counts = Counter(names)
    seen: Counter = Counter()
    out = []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            if seen[name] > 1:
                name = f"{name} ({seen[name]})"
        out.append(name)
    return out


class _Run:
    """What naming needs of one run: its network, its layers (if they can be read) and its settings."""

    def __init__(self, settings: Mapping[str, Any], changes: Sequence[Any] = ()) -> None:
        spec_data = settings.get("spec")
        self.spec: NetSpec | None = None
        self.layers: list[LayerInfo] = []
        try:
            self.spec = NetSpec.from_dict(spec_data) if isinstance(spec_data, dict) else None
            self.layers = self.spec.validate() if self.spec is not None else []
        except (SpecError, ValueError):
            self.spec, self.layers = None, []
        name = settings.get("network")
        if name is None and self.spec is not None:
            name = self.spec.name
        params = settings.get("params")
        if not isinstance(params, int):
            params = sum(info.params for info in self.layers)
        self.name = str(name or "")
        self.params = params
        self.label = self.name or f"custom ({params:,} params)"
        self.facts = _facts(settings, changes)

    @classmethod
    def of(cls, item: Any) -> _Run:
        if isinstance(item, TrainConfig):
            return cls(run_settings(item))
        config = getattr(item, "config", None)
        if isinstance(config, Mapping):  # a RunInfo
            return cls(config, getattr(item, "changes", ()))
        if isinstance(item, Mapping):
            if isinstance(item.get("config"), Mapping):  # a run record: {"config": ..., "changes": [...]}
                return cls(item["config"], item.get("changes") or ())
            return cls(item)
        raise ConfigError(f"cannot describe a run from {type(item).__name__}")


def _facts(s: Mapping[str, Any], changes: Sequence[Any]) -> dict[str, Any]:
    label = optimizer_label(str(s.get("optimizer", "sgd")), s.get("momentum", 0.9), bool(s.get("nesterov")))
    facts: dict[str, Any] = {
        "dataset": s.get("dataset"),
        "optimizer": label,
        "lr": s.get("lr"),
        # Plain SGD has no momentum: its label says so already.
        "momentum": None if label == "plain-sgd" else s.get("momentum"),
        "weight_decay": s.get("weight_decay"),
        "schedule": _schedule(s),
        "warmup_steps": s.get("warmup_steps"),
        "batch_size": s.get("batch_size"),
        "augment": s.get("augment"),
        "epochs": s.get("epochs"),
        "train_limit": s.get("train_limit", "all") or "all",
        "validation": s.get("validation"),
        "seed": s.get("seed"),
    }
    last: dict[str, Any] = {}
    for change in changes:
        setting, new = _change_parts(change)
        if setting is not None:
            last[setting] = new
    facts["changes"] = sorted(last.items())  # [] (not None): no change is a value of its own
    return facts


def _change_parts(change: Any) -> tuple[str | None, Any]:
    if isinstance(change, Mapping):
        return change.get("setting"), change.get("new")
    if isinstance(change, (list, tuple)) and len(change) in (3, 5):
        return change[-3] if len(change) == 5 else change[1], change[-1]
    return None, None


def _schedule(s: Mapping[str, Any]) -> Any:
    kind = s.get("schedule")
    if kind == "step":
        return ["step", s.get("step_every_epochs"), s.get("step_gamma")]
    return kind


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _schedule_words(value: Any, run: _Run) -> str:
    if isinstance(value, list):
        _, every, gamma = value
        return f"lr ×{_number(gamma)} every {_number(every)} epochs"
    return {"constant": "constant lr", "cosine": "cosine lr"}.get(str(value), f"{value} schedule")


_FACTS: tuple[tuple[str, Callable[[Any, _Run], str]], ...] = (
    ("dataset", lambda v, r: str(v)),
    ("optimizer", lambda v, r: str(v)),
    ("lr", lambda v, r: f"lr {_number(v)}"),
    ("momentum", lambda v, r: f"momentum {_number(v)}"),
    ("weight_decay", lambda v, r: f"weight decay {_number(v)}" if v else "no weight decay"),
    ("schedule", _schedule_words),
    ("warmup_steps", lambda v, r: f"warm-up {_number(v)}" if v else "no warm-up"),
    ("batch_size", lambda v, r: f"batch {_number(v)}"),
    ("augment", lambda v, r: "augmented" if v else "not augmented"),
    ("epochs", lambda v, r: f"{_number(v)} epoch{'s' if v != 1 else ''}"),
    ("train_limit", lambda v, r: "all images" if v == "all" else f"{_number(v)} images"),
    ("validation", lambda v, r: f"validation {_number(v)}" if v else "no validation"),
    ("seed", lambda v, r: f"seed {_number(v)}"),
    ("changes", lambda v, r: ", ".join(f"{k} → {_number(n)} live" for k, n in v)),
)


# -- networks in words ----------------------------------------------------------------------------------
def _describe_networks(runs: list[_Run], words: list[list[str]]) -> None:
    """Words for how networks of one name differ (the name itself is each run's label)."""
    groups: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(run.label, []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        specs = [_spec_key(runs[i]) for i in members]
        if len(set(specs)) < 2:
            continue
        skeletons = [_skeleton(runs[i]) for i in members]
        common = Counter(skeletons).most_common(1)[0][0]
        same = [i for i, sk in zip(members, skeletons, strict=True) if sk == common]
        for i, text in zip(same, _setting_words([runs[i] for i in same]), strict=True):
            words[i].extend(text)
        reference = _reference(runs, same)
        for i, sk in zip(members, skeletons, strict=True):
            if sk != common:
                words[i].extend(_structure_words(runs[i], reference))


def _spec_key(run: _Run) -> str:
    return _key([[info.type, info.settings] for info in run.layers]) if run.layers else "?"


def _skeleton(run: _Run) -> tuple:
    """The layers' families in order (a max and an average pool share one): what must match for two
    networks to be compared setting by setting."""
    return tuple(LAYER_TYPES[info.type].family or info.type for info in run.layers)


def _reference(runs: list[_Run], members: list[int]) -> _Run:
    keys = [_spec_key(runs[i]) for i in members]
    top = Counter(keys).most_common(1)[0][0]
    return runs[members[keys.index(top)]]


def _setting_words(group: list[_Run]) -> list[list[str]]:
    """For networks with the same layers: the settings (and kinds) that differ, per run, in words."""
    n_layers = len(group[0].layers)
    shown: list[dict[tuple[int, str], Any]] = [{} for _ in group]
    for index in range(n_layers):
        # Settings of one layer type only (a leaky ReLU's alpha) go without saying: its kind says it.
        common = set.intersection(*(set(run.layers[index].settings) for run in group))
        keys = ["kind", *sorted(common)]
        for key in keys:
            values = [_layer_value(run.layers[index], key) for run in group]
            for i in _shown(values):
                shown[i][(index, key)] = values[i]
    out = []
    for run, mine in zip(group, shown, strict=True):
        text = _layer_words(run, mine)
        out.append(text if len(text) <= MAX_SPEC_WORDS else [f"custom ({run.params:,} params)"])
    return out


def _layer_value(info: LayerInfo, key: str) -> Any:
    return info.type if key == "kind" else info.settings.get(key)


def _layer_words(run: _Run, shown: dict[tuple[int, str], Any]) -> list[str]:
    """Group shown values by setting: one phrase when every layer of that kind has it, else per layer."""
    words: list[str] = []
    by_key: dict[tuple[str, str], list[int]] = {}
    for index, key in shown:
        by_key.setdefault((_group(run.layers[index], key), key), []).append(index)
    for (group, key), indices in by_key.items():
        all_of_family = [
            i
            for i, info in enumerate(run.layers)
            if _group(info, key) == group and (key == "kind" or key in info.settings)
        ]
        values = [_layer_value(run.layers[i], key) for i in indices]
        whole = indices == all_of_family and len(set(map(_key, values))) == 1
        if key == "filters" and indices == all_of_family:
            counts = "/".join(_number(run.layers[i].settings["filters"]) for i in all_of_family)
            words.append(f"{counts} filters")
        elif whole:
            words.append(_phrase(run.layers[indices[0]], key, values[0], every=True))
        else:
            pairs = zip(indices, values, strict=True)
            words.extend(_phrase(run.layers[i], key, v, every=False) for i, v in pairs)
    return words


def _group(info: LayerInfo, key: str) -> str:
    """Layers whose setting ``key`` is told as one phrase when they all share a value: a family (every
    convolution, every pooling layer), or every layer with weights for the initialisation."""
    if key == "init":
        return "weighted"
    return LAYER_TYPES[info.type].family or info.type


def _size(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return f"{value}x{value}"


def _phrase(info: LayerInfo, key: str, value: Any, *, every: bool) -> str:
    cls = LAYER_TYPES[info.type]
    where = "" if every else f"{info.name} "
    if key == "kind":
        if cls.family == "pooling":
            return f"{where}{getattr(cls, 'choice_label', info.type)} pooling"
        return f"{where}{info.type.replace('_', ' ')}"
    if key == "kernel":
        noun = "filters" if info.type == "conv2d" else "pooling" if cls.family == "pooling" else "kernel"
        return f"{where}{_size(value)} {noun}"
    if key == "filters":
        return f"{where}{_number(value)} filters"
    if key == "units":
        return f"{where}{_number(value)} units"
    if key == "init":
        return f"{where}{value} init"
    if key == "padding":
        return f"{where}{value} padding" if isinstance(value, str) else f"{where}padding {value}"
    return f"{where}{key} {_number(value)}"


def _structure_words(run: _Run, reference: _Run) -> list[str]:
    """Extra and missing layers against the reference network, or "custom" when that takes too many
    words (or the layers cannot be read)."""
    if not run.layers or not reference.layers:
        return [f"custom ({run.params:,} params)"]
    mine = [_layer_token(info) for info in run.layers]
    theirs = [_layer_token(info) for info in reference.layers]
    words: list[str] = []
    matcher = difflib.SequenceMatcher(a=theirs, b=mine, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("insert", "replace"):
            words.extend(f"+ {_layer_text(info)}" for info in run.layers[b0:b1])
        if op in ("delete", "replace"):
            words.extend(f"no {info.name}" for info in reference.layers[a0:a1])
    if len(words) > MAX_SPEC_WORDS:
        return [f"custom ({run.params:,} params)"]
    return words


def _layer_token(info: LayerInfo) -> str:
    return _key([info.type, info.settings])


def _layer_text(info: LayerInfo) -> str:
    s = info.settings
    if info.type == "conv2d":
        return f"conv {s['filters']} {_size(s['kernel'])}"
    if info.type == "dense":
        return f"dense {s['units']}"
    if info.type == "dropout":
        return f"dropout {s.get('rate', '')}".strip()
    return info.type.replace("_", " ")
