"""The progress panel: where the run is (epoch, step, speed, time left) and what its numbers mean.

Below the numbers, the training floor's checks (``cnnlab.training.hints``) say in words what is going
on and what to try: not learning, diverged, overfitting, underfitting, dead ReLUs, vanishing or exploding
gradients, or, when none of these fires and the network does well, that it is generalising.
"""

from __future__ import annotations

import math

from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.state import AppState
from cnnlab.app.widgets.throttle import Throttle
from cnnlab.app.widgets.view_frame import wrapping_label
from cnnlab.training import Snapshot
from cnnlab.training.hints import all_hints

MAX_HINTS = 4


STATE_WORDS = {
    "idle": "Ready",
    "loading": "Loading data...",
    "running": "Training",
    "paused": "Paused",
    "finished": "Finished",
    "stopped": "Stopped",
    "diverged": "Diverged",
    "failed": "Failed",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def seconds_left_total(snapshot: Snapshot) -> float | None:
    """Time to the end of the run at the recent speed (pauses excluded)."""
    if snapshot.images_per_s <= 0 or not snapshot.running:
        return None if snapshot.running else 0.0
    batch = float(snapshot.hyperparameters.get("batch_size", 64))
    steps_left = max(snapshot.steps_per_epoch * snapshot.epochs - snapshot.step, 0)
    return steps_left * batch / snapshot.images_per_s


NO_CHECKS_YET = (
    "The checks look at the run as it trains: whether it learns at all, diverges, overfits or underfits, "
    "whether ReLU units die, and whether gradients vanish or explode. Each says what to try."
)
LEVEL_NOTICE = {"problem": "warn", "warning": "info", "good": "good"}


class ProgressPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("ProgressPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.status = QLabel()
        self.status.setProperty("role", "big")
        self.status.setToolTip("What the run is doing now.")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setProperty("role", "muted")
        layout.addWidget(self.status)
        layout.addWidget(self.detail)

        self.epoch_bar = QProgressBar()
        self.epoch_bar.setRange(0, 1000)
        self.epoch_bar.setToolTip(
            "How far through the current epoch (one pass over the training set) the run is."
        )
        self.run_bar = QProgressBar()
        self.run_bar.setRange(0, 1000)
        self.run_bar.setToolTip("How far through all planned epochs the run is.")

        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        rows = (
            ("epoch", "Epoch", "Which pass over the training set this is, of how many."),
            ("step", "Step", "Optimizer steps (batches) taken so far in the whole run."),
            ("speed", "Speed", "Training images processed per second, recently."),
            ("left", "Time left", "At the recent speed: to the end of this epoch, and of the whole run."),
            ("elapsed", "Elapsed", "Time spent training (pauses not counted)."),
            ("lr", "Learning rate", "The step size used now: the base rate times the schedule."),
            ("loss", "Loss", "Cross-entropy of the last batch, and its smoothed value."),
            ("train", "Train accuracy", "Share of this epoch's training images the network got right."),
            (
                "held",
                "Validation accuracy",
                "Accuracy on the validation split: training images set aside and never trained on, "
                "checked during the epoch.",
            ),
            (
                "test",
                "Test accuracy",
                "Accuracy on the whole test set, measured only at the end of each epoch.",
            ),
            ("split", "Images", "Training images per epoch, and the validation images held out of them."),
        )
        for i, (key, title, tip) in enumerate(rows):
            name = QLabel(title)
            name.setToolTip(tip)
            value = QLabel("-")
            value.setProperty("role", "value")
            value.setWordWrap(True)  # a longer value wraps in a narrow column instead of being cut off
            value.setToolTip(tip)
            grid.addWidget(name, i, 0)
            grid.addWidget(value, i, 1)
            self.values[key] = value
        grid.setColumnStretch(1, 1)
        epoch_label = QLabel("This epoch")
        run_label = QLabel("Whole run")
        layout.addWidget(epoch_label)
        layout.addWidget(self.epoch_bar)
        layout.addWidget(run_label)
        layout.addWidget(self.run_bar)
        layout.addLayout(grid)

        checks_title = QLabel("Checks")
        checks_title.setProperty("role", "heading")
        checks_title.setToolTip(NO_CHECKS_YET)
        layout.addWidget(checks_title)
        self.hint_frames: list[tuple[QFrame, QLabel, QLabel]] = []
        for _ in range(MAX_HINTS):
            frame = QFrame()
            frame.setObjectName("Hint")
            frame_layout = QVBoxLayout(frame)
            frame_layout.setContentsMargins(8, 5, 8, 5)
            title = QLabel()
            title.setProperty("role", "heading")
            words = wrapping_label()
            frame_layout.addWidget(title)
            frame_layout.addWidget(words)
            frame.hide()
            layout.addWidget(frame)
            self.hint_frames.append((frame, title, words))
        self.no_hint = wrapping_label(NO_CHECKS_YET, "muted")
        layout.addWidget(self.no_hint)
        layout.addStretch(1)

        self.level = "none"
        self.hints: list = []
        self._throttle = Throttle(self, self._redraw, interval_ms=200)
        state.snapshotChanged.connect(self._on_snapshot)
        state.runStateChanged.connect(lambda _: self._redraw())
        self._redraw()

    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        # Every snapshot carries the whole history, so the throttled redraw after the last one shows all;
        # a hidden view only notes that it is out of date.
        self._throttle.request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._throttle.shown()

    def _redraw(self) -> None:
        state, snap = self.state, self.state.snapshot
        words = STATE_WORDS.get(state.run_state, state.run_state)
        self.status.setText(words)
        if state.run_message:
            self.detail.setText(state.run_message)
        elif snap is None:
            self.detail.setText(
                "Press Start (Ctrl+Enter) to train, or Step (S) to train one batch at a time."
            )
        else:
            self.detail.setText("")
        self.detail.setVisible(bool(self.detail.text()))
        v = self.values
        if snap is None:
            for label in v.values():
                label.setText("-")
            self.epoch_bar.setValue(0)
            self.run_bar.setValue(0)
            # The bars' texts belong to the run they showed: a new network has done nothing yet.
            self.epoch_bar.setFormat("not started")
            self.run_bar.setFormat("not started")
        else:
            epoch_shown = min(snap.epoch + 1, snap.epochs)
            v["epoch"].setText(f"{epoch_shown} of {snap.epochs}")
            v["step"].setText(f"{snap.step:,}")
            v["speed"].setText(f"{snap.images_per_s:,.0f} images/s" if snap.images_per_s > 0 else "-")
            total_left = seconds_left_total(snap)
            epoch_left = snap.seconds_left_epoch if snap.running else 0.0
            v["left"].setText(f"{format_duration(epoch_left)} epoch, {format_duration(total_left)} run")
            v["elapsed"].setText(format_duration(snap.elapsed))
            v["lr"].setText(f"{snap.lr:.3g}")
            if snap.loss is None:
                v["loss"].setText("-")
            else:
                v["loss"].setText(f"{snap.loss:.3f}  (smoothed {snap.loss_smooth:.3f})")
            v["train"].setText(percent(snap.train_accuracy))
            v["held"].setText(percent(snap.validation_accuracy))
            v["split"].setText(
                f"{snap.train_images:,} to train on, {snap.validation_images:,} for validation"
                if snap.validation_images
                else f"{snap.train_images:,} to train on (no validation split)"
            )
            v["test"].setText(percent(snap.test_accuracy))
            epoch_fraction = 1.0 if snap.epoch >= snap.epochs else snap.progress
            self.epoch_bar.setValue(round(1000 * epoch_fraction))
            done = snap.steps_per_epoch if snap.epoch >= snap.epochs else snap.step_in_epoch
            self.epoch_bar.setFormat(f"{done:,} of {snap.steps_per_epoch:,} steps ({epoch_fraction:.0%})")
            self.run_bar.setValue(round(1000 * snap.overall_progress))
            self.run_bar.setFormat(f"epoch {epoch_shown} of {snap.epochs} ({snap.overall_progress:.0%})")
        self.hints = all_hints(snap)
        self.level = self.hints[0].level if self.hints else "none"
        self.no_hint.setVisible(not self.hints)
        for k, (frame, title, words) in enumerate(self.hint_frames):
            hint = self.hints[k] if k < len(self.hints) else None
            frame.setVisible(hint is not None)
            if hint is None:
                continue
            title.setText(hint.title)
            words.setText(hint.words)
            notice = LEVEL_NOTICE.get(hint.level, "")
            if frame.property("notice") != notice:
                frame.setProperty("notice", notice)
                # A dynamic property changes the style only after the widget is re-polished.
                frame.style().unpolish(frame)
                frame.style().polish(frame)
