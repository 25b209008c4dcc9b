"""The progress panel: where the run is (epoch, step, speed, time left) and what its numbers mean.

It also gives the seed lesson's overfitting hint in words: when the network does much better on the
images it trains on than on the test images, it is memorising rather than learning.
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
from cnnlab.training import Snapshot

# The lesson's threshold: a train/test accuracy gap above 10 points is called possible overfitting.
OVERFIT_GAP = 0.10
# Below the warning, a gap this large is worth watching.
WATCH_GAP = 0.03

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


def overfitting_hint(snapshot: Snapshot | None, threshold: float = OVERFIT_GAP) -> tuple[str, str]:
    """(level, words): level is "none", "good", "watch" or "warn".

    Compares the last finished epoch's training accuracy with the full test set's, as the lesson does.
    Before an epoch has finished there is no fair pair: the running training accuracy still averages in
    the first clumsy batches.
    """
    if snapshot is None or not len(snapshot.history.epoch_steps):
        return "none", (
            "Checked at the end of each epoch: the epoch's training accuracy against the test accuracy. "
            f"A gap above {threshold * 100:.0f} points means the network memorises its training images."
        )
    history = snapshot.history
    train, test = float(history.epoch_train_accuracy[-1]), float(history.test_accuracy[-1])
    other = "test"
    gap = train - test
    numbers = f"training {train:.1%}, {other} {test:.1%}"
    if gap > threshold:
        return "warn", (
            f"Possible overfitting: the network gets {train:.1%} of its training images right but only "
            f"{test:.1%} of the {other} images (a gap of {gap * 100:.1f} points). It is memorising its "
            "examples. Try more data or augmentation, weight decay or dropout, or stop earlier."
        )
    if gap > WATCH_GAP:
        return "watch", (
            f"Training and {other} accuracy are drifting apart ({numbers}, a gap of {gap * 100:.1f} "
            f"points); above {threshold * 100:.0f} points it would be overfitting."
        )
    return "good", f"Good generalisation: {numbers} (gap {gap * 100:.1f} points)."


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
                "Held-out accuracy",
                "Accuracy on a fixed subset of test images, checked during the epoch.",
            ),
            ("test", "Test accuracy", "Accuracy on the whole test set, measured at the end of each epoch."),
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

        self.hint_frame = QFrame()
        self.hint_frame.setObjectName("OverfittingHint")
        hint_layout = QVBoxLayout(self.hint_frame)
        hint_layout.setContentsMargins(8, 6, 8, 6)
        hint_title = QLabel("Overfitting check")
        hint_title.setProperty("role", "heading")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint_frame.setToolTip(
            f"Compares training and test accuracy; a gap above {OVERFIT_GAP * 100:.0f} points means the "
            "network memorises its training images instead of learning digits."
        )
        hint_layout.addWidget(hint_title)
        hint_layout.addWidget(self.hint)
        layout.addWidget(self.hint_frame)
        layout.addStretch(1)

        self.level = "none"
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
            v["held"].setText(percent(snap.held_out_accuracy))
            v["test"].setText(percent(snap.test_accuracy))
            epoch_fraction = 1.0 if snap.epoch >= snap.epochs else snap.progress
            self.epoch_bar.setValue(round(1000 * epoch_fraction))
            done = snap.steps_per_epoch if snap.epoch >= snap.epochs else snap.step_in_epoch
            self.epoch_bar.setFormat(f"{done:,} of {snap.steps_per_epoch:,} steps ({epoch_fraction:.0%})")
            self.run_bar.setValue(round(1000 * snap.overall_progress))
            self.run_bar.setFormat(f"epoch {epoch_shown} of {snap.epochs} ({snap.overall_progress:.0%})")
        level, text = overfitting_hint(snap)
        self.level = level
        self.hint.setText(text)
        notice = {"warn": "warn", "watch": "info", "good": "good"}.get(level, "")
        if self.hint_frame.property("notice") != notice:
            self.hint_frame.setProperty("notice", notice)
            # A dynamic property changes the style only after the widget is re-polished.
            self.hint_frame.style().unpolish(self.hint_frame)
            self.hint_frame.style().polish(self.hint_frame)
