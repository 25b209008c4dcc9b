"""The settings panel: the next run's hyperparameters (the run's buttons are the window's toolbar).

Each setting writes to the ``AppState`` config; settings that the session accepts mid-run (``LIVE_SETTINGS``)
stay editable while a run goes and reach it through the state's ``liveSettingsChanged``; the others are
locked until the run is stopped or reset, and say so.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnlab.app.settings import RANGES
from cnnlab.app.state import AppState, preset_of
from cnnlab.app.widgets.view_frame import wrapping_label
from cnnlab.engine import PRESET_NAMES, load_preset
from cnnlab.training import ConfigError, TrainConfig

CUSTOM = "custom"

PRESET_TITLES = {
    "seed": "Seed CNN (5k params)",
    "fc-baseline": "Fully connected (102k)",
    "lenet5": "LeNet-5 (62k)",
    "mnist99": "99% CNN (422k)",
    CUSTOM: "Custom (from the editor)",
}
OPTIMIZER_TITLES = {"sgd": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"}
SCHEDULE_TITLES = {"cosine": "Cosine decay", "constant": "Constant", "step": "Step decay (x0.1 per epoch)"}

TIPS = {
    "preset": "Which network to train; the architecture editor can make your own.",
    "optimizer": "How gradients turn into weight updates: SGD with momentum, or the adaptive Adam/AdamW.",
    "schedule": "How the learning rate changes over the run; cosine decay glides it down to zero at the end.",
    "epochs": "How many passes over the whole training set the run makes.",
    "seed": "The random seed for the initial weights and the batch order; the same seed gives the same run.",
    "lr": "How big a step the optimizer takes along the gradient; too high diverges, too low crawls.",
    "momentum": "How much of the previous update carries into the next (SGD), or Adam's beta1.",
    "weight_decay": "Pulls every weight a little towards zero at each step, which fights overfitting.",
    "batch_size": "How many images are averaged into each gradient step.",
    "augment": "Randomly shift, rotate and scale the training images slightly, so the network generalises.",
    "workers": "How many processes share each step's batch, one core each; the same seed and number "
    "of workers give the same run. It starts at the cores that are idle.",
    "train_limit": "How many training images each epoch uses (the lesson used 1,000); 'all' uses the "
    "whole training set.",
}
ALL_IMAGES = 0  # the training-set size spin box's "all" value
LOCKED_TIP = " (Locked during a run: Stop or Reset to change it.)"


class ControlsPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("ControlsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 6)

        self.run_group = QGroupBox("Network and run")
        run_form = QFormLayout(self.run_group)
        run_form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        run_form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        self.preset = QComboBox()
        for name in (*PRESET_NAMES, CUSTOM):
            self.preset.addItem(PRESET_TITLES.get(name, name), name)
        self.optimizer = QComboBox()
        for name, title in OPTIMIZER_TITLES.items():
            self.optimizer.addItem(title, name)
        self.schedule = QComboBox()
        for name, title in SCHEDULE_TITLES.items():
            self.schedule.addItem(title, name)
        self.epochs = QSpinBox()
        self.epochs.setRange(*(int(v) for v in RANGES["epochs"]))
        self.seed = QSpinBox()
        self.seed.setRange(*(int(v) for v in RANGES["seed"]))
        self.train_limit = QSpinBox()
        self.train_limit.setRange(ALL_IMAGES, int(RANGES["train_limit"][1]))
        self.train_limit.setSpecialValueText("all")
        self.train_limit.setSingleStep(1000)
        self.train_limit.setGroupSeparatorShown(True)
        run_form.addRow("Network", self.preset)
        run_form.addRow("Optimizer", self.optimizer)
        run_form.addRow("LR schedule", self.schedule)
        run_form.addRow("Epochs", self.epochs)
        run_form.addRow("Training images", self.train_limit)
        run_form.addRow("Seed", self.seed)
        self.workers = QSpinBox()
        self.workers.setRange(*(int(v) for v in RANGES["workers"]))
        run_form.addRow("Workers", self.workers)
        layout.addWidget(self.run_group)

        self.live_group = QGroupBox("Live settings")
        live_form = QFormLayout(self.live_group)
        live_form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        live_form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(*RANGES["lr"])
        self.lr.setStepType(QDoubleSpinBox.AdaptiveDecimalStepType)
        self.momentum = QDoubleSpinBox()
        self.momentum.setDecimals(3)
        self.momentum.setRange(*RANGES["momentum"])
        self.momentum.setSingleStep(0.05)
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setDecimals(5)
        self.weight_decay.setRange(*RANGES["weight_decay"])
        self.weight_decay.setStepType(QDoubleSpinBox.AdaptiveDecimalStepType)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(*(int(v) for v in RANGES["batch_size"]))
        self.augment = QCheckBox("Augment training images")
        live_form.addRow("Learning rate", self.lr)
        live_form.addRow("Momentum", self.momentum)
        live_form.addRow("Weight decay", self.weight_decay)
        live_form.addRow("Batch size", self.batch_size)
        live_form.addRow(self.augment)
        layout.addWidget(self.live_group)

        self.live_group.setToolTip(
            "These settings can be changed while the network trains; they apply from the next step."
        )
        self.note = wrapping_label("", "muted")
        layout.addWidget(self.note)
        layout.addStretch(1)

        self._editors = {
            "preset": self.preset,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "epochs": self.epochs,
            "seed": self.seed,
            "train_limit": self.train_limit,
            "workers": self.workers,
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "augment": self.augment,
        }
        for combo in (self.preset, self.optimizer, self.schedule):
            # Sized by a typical title, not the longest one, so the column stays narrow.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        for key, widget in self._editors.items():
            widget.setToolTip(TIPS[key])
            if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                # Typing "0.05" must not send 0, 0.0 and 0.05 to a running session: apply on Enter/focus-out.
                widget.setKeyboardTracking(False)

        self.preset.activated.connect(self._on_preset)
        self.optimizer.activated.connect(lambda: self._set(optimizer=self.optimizer.currentData()))
        self.schedule.activated.connect(lambda: self._set(schedule=self.schedule.currentData()))
        self.epochs.valueChanged.connect(lambda v: self._set(epochs=int(v)))
        self.seed.valueChanged.connect(lambda v: self._set(seed=int(v)))
        self.workers.valueChanged.connect(lambda v: self._set(workers=int(v)))
        self.train_limit.valueChanged.connect(self._on_train_limit)
        self.lr.valueChanged.connect(lambda v: self._set(lr=float(v)))
        self.momentum.valueChanged.connect(lambda v: self._set(momentum=float(v)))
        self.weight_decay.valueChanged.connect(lambda v: self._set(weight_decay=float(v)))
        self.batch_size.valueChanged.connect(lambda v: self._set(batch_size=int(v)))
        self.augment.toggled.connect(lambda v: self._set(augment=bool(v)))

        state.configChanged.connect(self._show_config)
        state.runStateChanged.connect(self._on_run_state)
        self._show_config(state.config)
        self._on_run_state(state.run_state)

    def _set(self, **changes) -> None:
        try:
            self.state.update_config(**changes)
        except ConfigError as exc:
            self.note.setText(str(exc))
            self._show_config(self.state.config)

    def _on_train_limit(self, value: int) -> None:
        if value == ALL_IMAGES:
            self._set(train_limit=None)
        else:
            self._set(train_limit=max(int(value), int(RANGES["train_limit"][0])))

    def _on_preset(self) -> None:
        name = self.preset.currentData()
        if name == CUSTOM:
            self._show_config(self.state.config)  # a custom network comes from the editor, not from here
            return
        self.state.set_spec(load_preset(name))

    def _show_config(self, config: TrainConfig) -> None:
        blockers = [QSignalBlocker(w) for w in self._editors.values()]
        preset = preset_of(config.spec) or CUSTOM
        self.preset.setCurrentIndex(self.preset.findData(preset))
        self.optimizer.setCurrentIndex(self.optimizer.findData(config.optimizer))
        self.schedule.setCurrentIndex(self.schedule.findData(config.schedule))
        self.epochs.setValue(config.epochs)
        self.seed.setValue(config.seed)
        self.workers.setValue(config.workers)
        self.train_limit.setValue(ALL_IMAGES if config.train_limit is None else config.train_limit)
        self.lr.setValue(config.lr)
        self.momentum.setValue(config.momentum)
        self.weight_decay.setValue(config.weight_decay)
        self.batch_size.setValue(config.batch_size)
        self.augment.setChecked(config.augment)
        del blockers
        self.momentum.setToolTip(
            TIPS["momentum"] if config.optimizer == "sgd" else "Adam's beta1: how much past gradients count."
        )

    def _on_run_state(self, run_state: str) -> None:
        active = run_state in ("running", "paused")
        self.run_group.setEnabled(not active)
        for key in ("preset", "optimizer", "schedule", "epochs", "seed", "train_limit", "workers"):
            self._editors[key].setToolTip(TIPS[key] + (LOCKED_TIP if active else ""))
        if active:
            self.note.setText(
                "Live settings apply from the next step. The network, optimizer, schedule, epochs, "
                "training images, seed and workers are fixed for this run: Stop or Reset to change them."
            )
        else:
            self.note.setText("Press Start (Ctrl+Enter) to train with these settings.")
