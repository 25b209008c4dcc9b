"""Edits of a ``NetSpec`` as plain functions, what validation learned per layer, and an undoable document.

The architecture editor never touches a live network: every edit here takes a spec and returns a new
one (``NetSpec`` is frozen), so undo is just putting the previous spec back.

- ``insert_layer``, ``remove_layer``, ``duplicate_layer``, ``move_layer``, ``set_setting``,
  ``set_kind`` and ``new_layer``: pure edits (no Qt), driven by each layer type's declaration
  (``cnnlab.engine.LAYER_TYPES``: settings, defaults, starters, families).
- ``analyse(spec, num_classes)``: per-layer ``LayerInfo`` (or None where unknown) and the first
  ``SpecError``; shapes are kept for the layers before the one that breaks, so the editor and the
  drawing can show how the maps shrink up to the problem.
- ``SpecDocument``: the current spec, its analysis and a ``QUndoStack``; ``push(new_spec, text,
  merge_key)`` records an edit, ``changed(NetSpec)`` tells the views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from cnnlab.engine import LAYER_TYPES, Budget, LayerInfo, NetSpec, SpecError, shape_text, validate


# -- pure edits -------------------------------------------------------------------------------------
def _starters(kind: str) -> dict[str, Any]:
    """What a freshly added layer starts with where its type has no default (its required settings)."""
    return {s.name: s.starter for s in LAYER_TYPES[kind].settings if s.required and s.starter is not None}


def new_layer(kind: str) -> dict[str, Any]:
    if kind not in LAYER_TYPES:
        raise KeyError(kind)
    return {"type": kind, **_starters(kind)}


def insert_layer(spec: NetSpec, index: int, layer: dict[str, Any]) -> NetSpec:
    layers = list(spec.layers)
    layers.insert(max(0, min(index, len(layers))), dict(layer))
    return spec.replace_layers(layers)


def remove_layer(spec: NetSpec, index: int) -> NetSpec:
    layers = list(spec.layers)
    del layers[index]
    return spec.replace_layers(layers)


def duplicate_layer(spec: NetSpec, index: int) -> NetSpec:
    copy = dict(spec.layers[index])
    # Two layers may not share a name; the copy takes an automatic one.
    copy.pop("name", None)
    return insert_layer(spec, index + 1, copy)


def move_layer(spec: NetSpec, source: int, target: int) -> NetSpec:
    """Move layer ``source`` so that it ends up at index ``target``."""
    layers = list(spec.layers)
    target = max(0, min(target, len(layers) - 1))
    layers.insert(target, layers.pop(source))
    return spec.replace_layers(layers)


def set_setting(spec: NetSpec, index: int, key: str, value: Any) -> NetSpec:
    """Set one setting; a value equal to the engine's default is left out so saved JSON stays minimal."""
    layer = dict(spec.layers[index])
    cls = LAYER_TYPES.get(layer.get("type"))
    setting = cls.setting(key) if cls is not None else None
    if setting is not None and not setting.required and _same(value, setting.default):
        layer.pop(key, None)
    else:
        layer[key] = value
    layers = list(spec.layers)
    layers[index] = layer
    return spec.replace_layers(layers)


def set_kind(spec: NetSpec, index: int, kind: str) -> NetSpec:
    """Change a layer's type (max <-> average pooling, one activation for another), keeping what fits."""
    old = spec.layers[index]
    cls = LAYER_TYPES[kind]
    layer = {"type": kind, **_starters(kind)}
    layer.update({k: v for k, v in old.items() if cls.setting(k) is not None or k == "name"})
    layers = list(spec.layers)
    layers[index] = layer
    return spec.replace_layers(layers)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and len(a) == 2 and a[0] == a[1]:
        a = a[0]
    return type(a) is type(b) and a == b


# -- what validation knows about each layer ---------------------------------------------------------
# Appended to a prefix of the layers so that validate reports their shapes even when the full spec
# fails: any shape can be flattened, and a dense layer gives the network something to learn.
_PROBE_TAIL = ({"type": "flatten"}, {"type": "dense", "units": 1})


@dataclass(frozen=True)
class Analysis:
    """``infos[i]`` describes layer i, or is None where an earlier problem hides its shape."""

    infos: tuple[LayerInfo | None, ...]
    error: SpecError | None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def total_params(self) -> int:
        return sum(info.params for info in self.infos if info is not None)


def analyse(spec: NetSpec, num_classes: int | None = None) -> Analysis:
    count = len(spec.layers)
    try:
        infos = validate(spec)
    except SpecError as exc:
        known = exc.index if exc.index is not None else count
        return Analysis(_probe(spec, known), exc)
    error = None
    if num_classes is not None:
        try:
            validate(spec, num_classes)
        except SpecError as exc:
            error = exc
    return Analysis(tuple(infos), error)


def _probe(spec: NetSpec, known: int) -> tuple[LayerInfo | None, ...]:
    unknown = (None,) * (len(spec.layers) - known)
    if known == 0:
        return unknown
    try:
        # No budget: the probe's own dense layer may be large, and the real error is already known.
        infos = validate(spec.replace_layers([*spec.layers[:known], *_PROBE_TAIL]), budget=Budget.unlimited())
    except SpecError:
        return (None,) * len(spec.layers)
    return tuple(infos[:known]) + unknown


def display_name(info: LayerInfo) -> str:
    """ "conv1" -> "Conv1", "dense2" -> "FC2"; a name the learner chose is kept as it is."""
    cls = info.layer_type
    number = info.name[len(cls.name_prefix) :]
    if info.name.startswith(cls.name_prefix) and number.isdigit():
        return (cls.display_prefix or cls.name_prefix) + (number if cls.numbered else "")
    return info.name


def hwc_text(shape: tuple[int, ...]) -> str:
    """(8, 26, 26) -> "26×26×8", the lesson's height × width × channels; flat shapes as one number."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}×{w}×{c}"
    return f"{shape[0]:,}" if len(shape) == 1 else shape_text(shape)


# -- the undoable document --------------------------------------------------------------------------
class _SpecCommand(QUndoCommand):
    def __init__(self, document: SpecDocument, before: NetSpec, after: NetSpec, text: str, key) -> None:
        super().__init__(text)
        self._document, self._before, self._after, self._key = document, before, after, key

    def id(self) -> int:
        # Qt merges only commands with equal non-negative ids; the key decides in mergeWith.
        return 1 if self._key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, _SpecCommand) or other._key != self._key:
            return False
        self._after = other._after
        self.setText(other.text())
        self.setObsolete(self._after == self._before)
        return True

    def redo(self) -> None:
        self._document._set(self._after)

    def undo(self) -> None:
        self._document._set(self._before)


class SpecDocument(QObject):
    """The spec being edited, validated after every change, with undo and redo.

    ``changed(NetSpec)`` fires after every change, including undo and redo. Successive edits with the
    same ``merge_key`` (such as typing "12" into one field) become one undo step.
    """

    changed = Signal(object)

    def __init__(self, spec: NetSpec, num_classes: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._spec = spec
        self._num_classes = num_classes
        self._analysis = analyse(spec, num_classes)
        self.undo_stack = QUndoStack(self)

    @property
    def spec(self) -> NetSpec:
        return self._spec

    @property
    def analysis(self) -> Analysis:
        return self._analysis

    @property
    def num_classes(self) -> int | None:
        return self._num_classes

    def set_num_classes(self, num_classes: int | None) -> None:
        self._num_classes = num_classes
        self._set(self._spec, force=True)

    def push(self, spec: NetSpec, text: str, merge_key: Any = None) -> bool:
        """Record an edit; False (and nothing recorded) if it changes nothing."""
        if spec == self._spec:
            return False
        self.undo_stack.push(_SpecCommand(self, self._spec, spec, text, merge_key))
        return True

    def reset(self, spec: NetSpec) -> None:
        """Replace the spec and forget the undo history (a fresh start, not an edit)."""
        self.undo_stack.clear()
        self._set(spec, force=True)

    def _set(self, spec: NetSpec, force: bool = False) -> None:
        if spec == self._spec and not force:
            return
        self._spec = spec
        self._analysis = analyse(spec, self._num_classes)
        self.changed.emit(spec)
