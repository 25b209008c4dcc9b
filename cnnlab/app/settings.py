"""What the lab remembers between starts, and how it is checked when read back.

Start-up must never fail because of what was remembered: a settings file may come from another version,
be edited by hand, or hold a network that cannot be built on this machine. Every value is checked on load
(type, range, and for the network: buildable within the engine's budget); a bad one falls back to its
default and the window says so in one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from cnnlab.app.theme import THEME_NAMES
from cnnlab.data import DATASETS
from cnnlab.engine import SpecError
from cnnlab.training import ConfigError, TrainConfig

# The ranges the settings' editors accept; a remembered value outside them would not fit the controls.
RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, 200),
    "seed": (0, 2**31 - 1),
    "lr": (1e-5, 10.0),
    "momentum": (0.0, 0.999),
    "weight_decay": (0.0, 1.0),
    "batch_size": (1, 4096),
    "train_limit": (100, 10_000_000),
    "workers": (1, os.cpu_count() or 1),  # a settings file from a larger machine falls back here
}
MAX_SETTING_CHARS = 1_000_000  # a remembered config is a few kB; anything huge is not ours


def default_settings() -> QSettings:
    return QSettings("cnnlab", "cnnlab")


def check_config(config: TrainConfig, budget_check=None) -> list[str]:
    """What is wrong with a config for the window's controls (empty when it fits), without changing it."""
    problems = []
    for name, (low, high) in RANGES.items():
        value = getattr(config, name)
        if value is None:
            continue
        if not low <= value <= high:
            problems.append(f"{name.replace('_', ' ')} {value!r} (must be {low:g} to {high:g})")
    try:
        if budget_check is not None:
            budget_check(config.spec)
        else:
            config.spec.validate()
    except (SpecError, ValueError, MemoryError, OverflowError, RecursionError) as exc:
        problems.append(f"the network ({exc})")
    return problems


@dataclass
class Remembered:
    """The values read back, each valid; ``notes`` says what was put back to its default and why."""

    theme: str = "light"
    config: TrainConfig | None = None  # None: the default
    dataset: str | None = None
    data_dir: str | None = None
    geometry: QByteArray | None = None
    layout: dict[str, Any] = field(default_factory=dict)
    workspace: str | None = None
    lesson_shown: bool | None = None
    lesson_step: int = 0
    first_start: bool = True
    notes: list[str] = field(default_factory=list)


def _text(settings: QSettings, key: str) -> str | None:
    value = settings.value(key)
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_SETTING_CHARS else None


def read_settings(settings: QSettings, budget_check=None, workspaces: tuple[str, ...] = ()) -> Remembered:
    """Read and check every remembered value (see the module docstring); never raises."""
    out = Remembered()
    out.first_start = settings.value("app/started") is None
    theme = _text(settings, "view/theme")
    if theme in THEME_NAMES:
        out.theme = theme
    elif theme is not None:
        out.notes.append(f"theme {theme!r}")
    _read_config(settings, budget_check, out)
    name = _text(settings, "data/name")
    if name in DATASETS:
        out.dataset = name
    elif name:
        out.notes.append(f"dataset {name[:40]!r}")
    folder = _text(settings, "data/dir")
    out.data_dir = folder or None
    _read_window(settings, workspaces, out)
    shown = settings.value("lesson/shown")
    if shown is not None:
        out.lesson_shown = str(shown).lower() in ("true", "1")
    try:
        out.lesson_step = max(0, min(int(settings.value("lesson/step", 0)), 1000))
    except (TypeError, ValueError):
        out.lesson_step = 0
    return out


def _read_config(settings: QSettings, budget_check, out: Remembered) -> None:
    """The remembered training settings into ``out``, or a note saying why they were dropped."""
    text = _text(settings, "train/config")
    if text:
        try:
            config = TrainConfig.from_json(text)
        except (ConfigError, SpecError, ValueError, TypeError, KeyError, RecursionError) as exc:
            out.notes.append(f"the training settings ({str(exc).splitlines()[0][:120]})")
        else:
            problems = check_config(config, budget_check)
            if problems:
                out.notes.append("; ".join(problems))
            else:
                out.config = config
    elif settings.value("train/config") is not None:
        out.notes.append("the training settings (not text)")


def _read_window(settings: QSettings, workspaces: tuple[str, ...], out: Remembered) -> None:
    """The window's remembered geometry, layout and workspace into ``out`` (what cannot work is left out)."""
    geometry = settings.value("window/geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        out.geometry = geometry
    layout = _text(settings, "window/layout")
    if layout:
        try:
            data = json.loads(layout)
        except ValueError:
            data = None
        if isinstance(data, dict):
            out.layout = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)}
    workspace = _text(settings, "window/workspace")
    if workspace in workspaces:
        out.workspace = workspace


def describe_notes(notes: list[str]) -> str:
    return (
        "Some remembered settings could not be used and were put back to their defaults: "
        + "; ".join(notes)
        + "."
    )
