"""Runs and sweep results as rows: the columns ``cnnlab runs list``, ``runs export --csv`` and ``cnnlab
sweep`` show, as plain values (CSV, JSON) or as text (a table). Printing itself stays in ``cnnlab.cli``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.training.describe import optimizer_label
from cnnlab.training.files import write_atomic
from cnnlab.training.runs import RunInfo
from cnnlab.training.sweep import SweepResult


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header and the JSON key
    title: str  # the table's header
    value: Callable[[Any], Any]  # the plain value (CSV)
    text: Callable[[Any], str] = str  # how the table shows it


def percent(value: Any) -> str:
    return "-" if not _is_number(value) else f"{value:.2%}"


def number(value: Any) -> str:
    if not _is_number(value):
        return "-" if value is None else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def fixed(digits: int) -> Callable[[Any], str]:
    return lambda value: f"{value:.{digits}f}" if _is_number(value) else "-"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _setting(key: str) -> Callable[[RunInfo], Any]:
    return lambda info: info.config.get(key)


def _optimizer(info: RunInfo) -> str | None:
    c = info.config
    if "optimizer" not in c:
        return None
    return optimizer_label(str(c["optimizer"]), c.get("momentum", 0.9), bool(c.get("nesterov")))


def _init(info: RunInfo) -> str | None:
    inits = info.config.get("init")
    if not isinstance(inits, dict) or not inits:
        return None
    values = set(inits.values())
    return next(iter(values)) if len(values) == 1 else ";".join(f"{k}={v}" for k, v in inits.items())


def _changes(info: RunInfo) -> str:
    return "; ".join(f"step {c.step}: {c.setting} {number(c.old)} -> {number(c.new)}" for c in info.changes)


# What a run gave, in the same columns for a recorded run (RunInfo) and a sweep's result (SweepResult).
RESULT_COLUMNS: tuple[Column, ...] = (
    Column("test_accuracy", "test acc", lambda r: r.test_accuracy, percent),
    Column("train_accuracy", "train acc", lambda r: r.train_accuracy, percent),
    Column("best_validation_accuracy", "best val acc", lambda r: r.best_validation_accuracy, percent),
    Column("final_loss", "final loss", lambda r: r.final_loss, fixed(4)),
    Column("seconds", "seconds", lambda r: r.seconds, fixed(1)),
    Column("images_per_s", "img/s", lambda r: r.images_per_s, fixed(0)),
)

RUN_COLUMNS: tuple[Column, ...] = (
    Column("id", "id", lambda r: r.id),
    Column("name", "name", lambda r: r.name),
    Column("status", "status", lambda r: r.status),
    Column("network", "network", lambda r: r.spec_name or "custom"),
    Column("params", "params", lambda r: r.param_count, number),
    Column("dataset", "dataset", lambda r: r.dataset),
    Column("train_images", "train imgs", lambda r: r.train_images, number),
    Column("validation_images", "val imgs", lambda r: r.validation_images, number),
    Column("optimizer", "optimizer", _optimizer, number),
    Column("lr", "lr", _setting("lr"), number),
    Column("momentum", "momentum", _setting("momentum"), number),
    Column("weight_decay", "wd", _setting("weight_decay"), number),
    Column("schedule", "schedule", _setting("schedule"), number),
    Column("warmup_steps", "warm-up", _setting("warmup_steps"), number),
    Column("batch_size", "batch", _setting("batch_size"), number),
    Column("epochs", "epochs", _setting("epochs"), number),
    Column("augment", "augment", _setting("augment"), number),
    Column("init", "init", _init, number),
    Column("seed", "seed", _setting("seed"), number),
    *RESULT_COLUMNS,
    Column("changes", "live changes", _changes),
    Column("sweep", "sweep", lambda r: r.tags.get("sweep", "")),
    Column("created", "created", lambda r: r.created),
)
# What ``cnnlab runs list`` shows (the CSV has every column).
LIST_COLUMNS = (
    "id", "name", "status", "network", "params", "train_images", "optimizer", "lr", "batch_size", "epochs",
    "seed", "test_accuracy", "train_accuracy", "best_validation_accuracy", "final_loss", "seconds",
)  # fmt: skip


def sweep_columns(setting: str) -> tuple[Column, ...]:
    return (
        Column("value", setting, lambda r: r.label),
        *RESULT_COLUMNS,
        Column("status", "status", lambda r: r.status),
        Column("name", "run", lambda r: r.name),
    )


def table(items: Sequence[Any], columns: Sequence[Column]) -> str:
    """A text table, one row per item, numbers right-aligned."""
    rows = [[c.title for c in columns]]
    right = [False] * len(columns)
    for item in items:
        row = []
        for i, column in enumerate(columns):
            value = column.value(item)
            right[i] = right[i] or _is_number(value)
            row.append(column.text(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def run_table(runs: Sequence[RunInfo], keys: Sequence[str] = LIST_COLUMNS) -> str:
    chosen = {c.key: c for c in RUN_COLUMNS}
    return table(runs, [chosen[key] for key in keys])


def sweep_table(setting: str, results: Sequence[SweepResult]) -> str:
    return table(results, sweep_columns(setting))


def csv_text(items: Sequence[Any], columns: Sequence[Column] = RUN_COLUMNS) -> str:
    """Plain values, one row per item (None as an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for item in items:
        writer.writerow(["" if (v := c.value(item)) is None else v for c in columns])
    return out.getvalue()


def write_csv(path: str | Path, items: Sequence[Any], columns: Sequence[Column] = RUN_COLUMNS) -> Path:
    """``csv_text`` written atomically (``WriteError``, one line, when it cannot be)."""
    text = csv_text(items, columns)
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))
