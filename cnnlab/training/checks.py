"""Checks of one value each, shared by the training settings, the CLI's arguments and a checkpoint's
metadata: strict about types (a bool is not a number, text is not a number, NaN is not a number) and
ranges, and each refusal is one ``ConfigError`` line naming the setting and the value it got (cut
short, so that a hostile value cannot flood the message).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Whole numbers are bounded before any arithmetic: counts of steps and images stay exact in float64.
MAX_COUNT = 2**53


class ConfigError(ValueError):
    """A setting that cannot work, named with its allowed values."""


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters (one line, whatever the value holds)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def whole(value: Any, what: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """An ``int`` (not a bool, not a float) from ``minimum`` to ``maximum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{what} must be a whole number, got {shown(value)}")
    if value < minimum:
        raise ConfigError(f"{what} must be at least {minimum:,}, got {shown(value)}")
    if value > maximum:
        raise ConfigError(f"{what} must be at most {maximum:,}, got {shown(value)}")
    return int(value)


def real(
    value: Any,
    what: str,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    above: float | None = None,
    below: float | None = None,
) -> float:
    """A finite number (an int or a float, not a bool and not text) within the bounds given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{what} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{what} must be a finite number, got {shown(value)}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{what} must be at least {minimum:g}, got {number:g}")
    if above is not None and number <= above:
        raise ConfigError(f"{what} must be above {above:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{what} must be at most {maximum:g}, got {number:g}")
    if below is not None and number >= below:
        raise ConfigError(f"{what} must be below {below:g}, got {number:g}")
    return number


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what} must be true or false, got {shown(value)}")
    return bool(value)


def text(value: Any, what: str, max_length: int = 200) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be text, got {shown(value)}")
    if len(value) > max_length:
        raise ConfigError(f"{what} must be at most {max_length} characters, got {len(value):,}")
    return value


def choice(value: Any, what: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed or not isinstance(value, str):
        raise ConfigError(f"{what} must be one of {', '.join(allowed)}, got {shown(value)}")
    return value


def mapping(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def sequence(value: Any, what: str, length: int | None = None, max_length: int = MAX_COUNT) -> list:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{what} must be a list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ConfigError(f"{what} must hold {length} values, got {len(value):,}")
    if len(value) > max_length:
        raise ConfigError(f"{what} must hold at most {max_length:,} values, got {len(value):,}")
    return list(value)


def check_input_shape(spec_shape: Any, image_shape: tuple[int, ...], source: str) -> None:
    """A network's input shape (C, H, W) against the images it is about to get from ``source``."""
    wanted, given = tuple(int(v) for v in spec_shape), tuple(int(v) for v in image_shape)
    if wanted != given:
        raise ConfigError(
            f"the network takes {_shape(wanted)} images but {source} gives {_shape(given)} images; "
            f"choose a network whose input_shape is {list(given)}"
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in shape)
