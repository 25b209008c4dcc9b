"""The kinds of setting a layer type declares, each with its own check, range and default.

A layer class lists its settings (``Layer.settings``); the spec checks every value with them, the
architecture editor picks one editor per setting kind (``Setting.widget``) and shows ``help`` as its
tooltip. ``check`` returns the cleaned value or raises ``ValueError`` with the reason in plain words.
Every whole number is range-checked by comparison alone, so a value like 10**100 is refused before any
arithmetic is done with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnlab.engine.init import INITIALISERS

# Sizes must stay below 2**31: Qt's spin boxes, NumPy's shapes on every platform and the editor all hold
# them in 32 bits. Every declared maximum is far below this.
MAX_WHOLE = 2**31 - 1


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a setting that must be given


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a hostile value cannot make a huge message."""
    if isinstance(value, int) and not isinstance(value, bool):
        return number_text(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number_text(value: int) -> str:
    """1234567 -> "1,234,567"; a number of more than 18 digits is only described (str() of a huge int is
    itself slow, and refused by Python above 4,300 digits)."""
    if value.bit_length() < 60:
        return f"{value:,}"
    return f"{'-' if value < 0 else ''}a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"


def whole(value: Any, minimum: int, maximum: int = MAX_WHOLE) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"must be a whole number, got {short(value)}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"must be at least {minimum:,}, got {number_text(value)}")
    if value > maximum:
        raise ValueError(f"must be at most {maximum:,}, got {number_text(value)}")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting of a layer type. ``starter`` is what a freshly added layer starts with when the
    setting has no default (the editor's choice, so that a new layer is valid at once)."""

    name: str
    default: Any = REQUIRED
    help: str = ""
    starter: Any = None
    widget: ClassVar[str] = "text"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Whole(Setting):
    """A whole number in [minimum, maximum]; with ``none_text``, None is allowed too and shown so."""

    minimum: int = 1
    maximum: int = 4096
    none_text: str = ""
    widget: ClassVar[str] = "whole"

    def check(self, value):
        if value is None and self.none_text:
            return None
        return whole(value, self.minimum, self.maximum)


@dataclass(frozen=True)
class Size(Setting):
    """A window size: one number (square) or [height, width], each in [minimum, maximum]."""

    minimum: int = 1
    maximum: int = 4096
    widget: ClassVar[str] = "size"

    def check(self, value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"must be one number or [height, width], got {short(value)}")
            return [whole(v, self.minimum, self.maximum) for v in value]
        return whole(value, self.minimum, self.maximum)


@dataclass(frozen=True)
class Padding(Setting):
    """'valid', 'same', or a whole number of pixels in [0, maximum]."""

    maximum: int = 4096
    widget: ClassVar[str] = "padding"

    def check(self, value):
        if isinstance(value, str):
            if value not in ("valid", "same"):
                raise ValueError(f"must be 'valid', 'same' or a whole number of pixels, got {short(value)}")
            return value
        return whole(value, 0, self.maximum)


@dataclass(frozen=True)
class Choice(Setting):
    """One of a fixed set of names."""

    choices: tuple[str, ...] = ()
    widget: ClassVar[str] = "choice"

    def check(self, value):
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError(f"must be one of {', '.join(sorted(self.choices))}; got {short(value)}")
        return value


@dataclass(frozen=True)
class Fraction(Setting):
    """A number in [0, 1)."""

    widget: ClassVar[str] = "fraction"

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number between 0 and 1, got {short(value)}")
        if not 0.0 <= value < 1.0:
            raise ValueError(f"must be at least 0 and below 1, got {short(value)}")
        return float(value)


@dataclass(frozen=True)
class Number(Setting):
    """A finite number of at most ``largest`` in size; with ``above``, it must be larger than that.

    The size is bounded because a layer multiplies activations by it: a slope of 1e38 overflows float32
    on the first forward pass."""

    above: float | None = None
    largest: float = 1e6
    widget: ClassVar[str] = "number"

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise ValueError(f"must be a number, got {short(value)}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be above {self.above:g}, got {short(value)}")
        if abs(value) > self.largest:
            raise ValueError(f"must be between {-self.largest:g} and {self.largest:g}, got {short(value)}")
        return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def layer_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty text, got {short(value)}")
    if len(value.strip()) > 64:
        raise ValueError(f"must be at most 64 characters, got {len(value.strip()):,}")
    return value.strip()


# Shared by every layer with weights.
INIT = Choice(
    "init",
    "he_normal",
    help="How the starting weights are drawn: He suits ReLU-like activations, Glorot suits tanh and sigmoid.",
    choices=tuple(sorted(INITIALISERS)),
)
