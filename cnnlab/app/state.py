"""``AppState``: the Qt-side model of the lab. Every view receives it in its constructor.

It holds what the views show: the training settings, the dataset, the latest snapshot of the run, the
theme, and an *inspector network*: a copy of the network built in the GUI thread from the latest
snapshot's weights (or from a loaded checkpoint, or fresh weights before any run), for views that run
the network themselves (the drawing pad, feature maps, saliency). Views never touch the live training
network, which belongs to the worker thread.

Views change the model through its methods; the model announces changes with signals. Whoever changes
something (the window, a control) does not also update the other views: they listen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from cnnlab.app.theme import THEME_NAMES, Theme, get_theme
from cnnlab.data import DATASETS, Dataset, Resolution
from cnnlab.engine import (
    PRESET_NAMES,
    Budget,
    Checkpoint,
    NetSpec,
    Network,
    build,
    load_preset,
    network_from_state,
)
from cnnlab.training import LIVE_SETTINGS, Event, Snapshot, TrainConfig
from cnnlab.training.parallel import default_workers

# Events after which the inspector is brought up to date at once rather than at the throttled pace.
SETTLED_EVENTS = frozenset(
    {Event.STARTED, Event.PAUSED, Event.EPOCH_END, Event.FINISHED, Event.STOPPED, Event.DIVERGED}
)

INSPECTOR_INTERVAL_MS = 500

RUN_STATES = ("idle", "loading", "running", "paused", "finished", "stopped", "diverged", "failed")


def app_default_config() -> TrainConfig:
    """The training floor's defaults, with snapshots a little sparser: the views redraw at most a few
    times a second, and each snapshot costs the training thread copies of weights and curves; training
    on the idle cores (``default_workers``)."""
    return TrainConfig(snapshot_seconds=0.2, snapshot_every=100, workers=default_workers())


def fresh_network(config: TrainConfig) -> Network:
    """The network a run with ``config`` starts from: same seed stream as ``TrainingSession`` uses."""
    init_seq, _ = np.random.SeedSequence(config.seed).spawn(2)
    return build(config.spec, np.random.default_rng(init_seq))


def preset_of(spec: NetSpec) -> str | None:
    """The preset this spec is (ignoring its name), or None for a custom network."""
    for name in PRESET_NAMES:
        preset = load_preset(name)
        if preset.layers == spec.layers and tuple(preset.input_shape) == tuple(spec.input_shape):
            return name
    return None


class AppState(QObject):
    configChanged = Signal(object)  # TrainConfig
    liveSettingsChanged = Signal(dict)  # {setting: value} for LIVE_SETTINGS the user just changed
    datasetChanged = Signal(object)  # Dataset | None, after a load ended (or was cleared)
    dataStatusChanged = Signal()  # dataset name, folder, loading, problem or resolution changed
    snapshotChanged = Signal(object)  # Snapshot | None (None: the dashboard was reset)
    runChanged = Signal(object)  # run_id of a new run, or None after a reset
    runStateChanged = Signal(str)  # one of RUN_STATES
    inspectorChanged = Signal(object)  # Network | None: new weights or a new network in the inspector
    themeChanged = Signal(object)  # Theme
    buildRequested = Signal(object)  # NetSpec: the architecture editor asks for a network to be built
    message = Signal(str)  # a line for the status bar

    def __init__(self, config: TrainConfig | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._config = config if config is not None else app_default_config()
        self.dataset: Dataset | None = None
        self.dataset_name: str = self._config.dataset
        self.data_dir: str | None = self._config.data_dir
        self.data_loading = False
        self.data_problem = ""  # why the chosen dataset is not available, in words
        self.resolution: Resolution | None = None
        self.snapshot: Snapshot | None = None
        self.run_id: str | None = None
        self.run_state = "idle"
        self.run_message = ""
        self.checkpoint: Checkpoint | None = None  # loaded from a file; the next Start continues from it
        self.checkpoint_name = ""
        self._theme = get_theme("light")

        self._inspector: Network | None = None
        self._inspector_source: tuple[Any, ...] | None = None  # what the inspector's weights came from
        self._inspector_wanted: tuple[Any, ...] | None = None
        # While training, the inspector follows the weights at most this often; views that need the very
        # latest weights call inspector(), which catches up at once.
        self._inspector_timer = QTimer(self)
        self._inspector_timer.setSingleShot(True)
        self._inspector_timer.setInterval(INSPECTOR_INTERVAL_MS)
        self._inspector_timer.timeout.connect(self._refresh_inspector)

    # -- settings ----------------------------------------------------------------------------------
    @property
    def config(self) -> TrainConfig:
        return self._config

    def set_config(self, config: TrainConfig) -> None:
        old = self._config
        self._config = config
        live = {k: getattr(config, k) for k in LIVE_SETTINGS if getattr(config, k) != getattr(old, k)}
        self.configChanged.emit(config)
        if live:
            self.liveSettingsChanged.emit(live)
        if (config.spec != old.spec or config.seed != old.seed) and self.snapshot is None:
            self._want_inspector(("fresh", config.seed, config.spec.to_json()), at_once=True)

    def update_config(self, **changes: Any) -> None:
        """Change some settings (``TrainConfig.replace``); raises ConfigError for impossible values."""
        if not changes:
            return
        self.set_config(self._config.replace(**changes))

    def set_spec(self, spec: NetSpec) -> None:
        self.check_spec_fits(spec)  # SpecError names the layer; nothing changes then
        self.checkpoint = None
        self.update_config(spec=spec)

    def check_spec_fits(self, spec: NetSpec, num_classes: int | None = None) -> None:
        """Raise ``SpecError`` (naming the layer and the budget) unless ``spec`` can be built within the
        engine's budget (parameters, and one training step's activations at the chosen batch size)."""
        spec.validate(num_classes=num_classes, budget=Budget().at_batch(self._config.batch_size))

    def request_build(self, spec: NetSpec) -> None:
        """For the architecture editor: build ``spec`` (the window asks first if a run is going)."""
        self.buildRequested.emit(spec)

    @property
    def preset(self) -> str | None:
        return preset_of(self._config.spec)

    # -- theme -------------------------------------------------------------------------------------
    @property
    def theme(self) -> Theme:
        return self._theme

    def set_theme(self, name: str) -> None:
        if name not in THEME_NAMES:
            raise ValueError(f"unknown theme {name!r}; the themes are {', '.join(THEME_NAMES)}")
        if name == self._theme.name:
            return
        self._theme = get_theme(name)
        self.themeChanged.emit(self._theme)

    # -- data --------------------------------------------------------------------------------------
    def set_data_status(
        self,
        *,
        name: str | None = None,
        data_dir: str | type[Ellipsis] | None = ...,
        loading: bool | None = None,
        problem: str | None = None,
        resolution: Resolution | type[Ellipsis] | None = ...,
    ) -> None:
        if name is not None:
            self.dataset_name = name
        if data_dir is not ...:
            self.data_dir = data_dir
        if loading is not None:
            self.data_loading = loading
        if problem is not None:
            self.data_problem = problem
        if resolution is not ...:
            self.resolution = resolution
        self.dataStatusChanged.emit()

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.dataset = dataset
        if dataset is not None:
            self.dataset_name = dataset.name
            self.data_problem = ""
            if self._config.dataset != dataset.name:
                self.update_config(dataset=dataset.name)
        self.data_loading = False
        self.datasetChanged.emit(dataset)
        self.dataStatusChanged.emit()

    @property
    def class_names(self) -> tuple[str, ...]:
        if self.snapshot is not None:
            return self.snapshot.class_names
        if self.dataset is not None:
            return self.dataset.class_names
        info = DATASETS.get(self.dataset_name)
        return info.class_names if info is not None else tuple(str(d) for d in range(10))

    # -- the run -----------------------------------------------------------------------------------
    def start_run(self, run_id: str) -> None:
        # A loaded checkpoint is where this run starts: once started, the run's own weights take over.
        self.checkpoint = None
        self.run_id = run_id
        self.snapshot = None
        self.runChanged.emit(run_id)
        self.set_run_state("running")

    def set_run_state(self, run_state: str, message: str = "") -> None:
        if run_state not in RUN_STATES:
            raise ValueError(f"unknown run state {run_state!r}")
        if run_state == self.run_state and message == self.run_message:
            return
        self.run_state, self.run_message = run_state, message
        self.runStateChanged.emit(run_state)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        if snapshot.run_id != self.run_id:
            self.run_id = snapshot.run_id
            self.runChanged.emit(snapshot.run_id)
        self.snapshotChanged.emit(snapshot)
        if "workers_note" in snapshot.extra:
            self.message.emit(snapshot.extra["workers_note"])
        self._want_inspector(
            ("snapshot", snapshot.run_id, snapshot.step), at_once=snapshot.event in SETTLED_EVENTS
        )

    def clear_run(self) -> None:
        """Reset: forget the run's snapshot; the inspector goes back to the fresh weights."""
        self.snapshot = None
        self.run_id = None
        self.checkpoint = None
        self.checkpoint_name = ""
        self.runChanged.emit(None)
        self.snapshotChanged.emit(None)
        self.set_run_state("idle")
        self._want_inspector(("fresh", self._config.seed, self._config.spec.to_json()), at_once=True)

    def set_checkpoint(self, checkpoint: Checkpoint, name: str = "") -> None:
        """A loaded checkpoint: its network goes to the inspector, its settings to the config."""
        self.checkpoint = checkpoint
        self.checkpoint_name = name
        self.snapshot = None
        self.run_id = None
        self.runChanged.emit(None)
        self.snapshotChanged.emit(None)
        saved = checkpoint.metadata.get("config")
        config = self._config.replace(spec=checkpoint.spec)
        if isinstance(saved, dict):
            # Settings from another version may not fit: keep ours then, the network is what matters.
            with contextlib.suppress(ValueError, TypeError, KeyError, RecursionError):
                config = TrainConfig.from_dict({**saved, "spec": checkpoint.spec.to_dict()})
        self._config = config
        self.configChanged.emit(config)
        self._want_inspector(("checkpoint", id(checkpoint)), at_once=True)

    # -- what the views are showing -----------------------------------------------------------------
    @property
    def trained_steps(self) -> int:
        """Optimizer steps behind the weights the views show (0: fresh random weights)."""
        if self.snapshot is not None:
            return int(self.snapshot.step)
        if self.checkpoint is not None:
            meta = self.checkpoint.metadata
            step = meta.get("step") if isinstance(meta, dict) else None
            return int(step) if isinstance(step, int) and step > 0 else 1
        return 0

    @property
    def is_untrained(self) -> bool:
        return self.trained_steps == 0

    def inspector_description(self) -> str:
        """In a few words, whose weights the views show: untrained, a run's, or a checkpoint's."""
        if self.checkpoint is not None and self.snapshot is None:
            return f"loaded from {self.checkpoint_name}" if self.checkpoint_name else "loaded checkpoint"
        if self.snapshot is None or self.snapshot.step == 0:
            return f"untrained (random weights, seed {self._config.seed})"
        snap = self.snapshot
        words = f"trained {snap.step:,} steps"
        if snap.test_accuracy is not None:
            where = "your held-out digits" if snap.dataset.startswith("mine") else "test"
            words += f", {where} {snap.test_accuracy:.1%}"
        return words

    def trained_description(self) -> str:
        """What would be lost by replacing the network (empty when it is untrained)."""
        if self.is_untrained:
            return ""
        return self.inspector_description()

    def shutdown(self) -> None:
        """End background work owned by the state (the shared test-set evaluator)."""
        self._inspector_timer.stop()
        for child in self.children():
            stop = getattr(child, "shutdown", None)
            if callable(stop):
                stop()

    # -- the inspector network ---------------------------------------------------------------------
    def inspector(self) -> Network | None:
        """The GUI thread's copy of the network, up to date with the latest weights (built on demand)."""
        if self._inspector_wanted is None:
            self._inspector_wanted = ("fresh", self._config.seed, self._config.spec.to_json())
        if self._inspector_wanted != self._inspector_source:
            self._refresh_inspector()
        return self._inspector

    def _want_inspector(self, source: tuple[Any, ...], at_once: bool) -> None:
        self._inspector_wanted = source
        if at_once:
            self._inspector_timer.stop()
            self._refresh_inspector()
        elif not self._inspector_timer.isActive():
            self._inspector_timer.start()

    def _refresh_inspector(self) -> None:
        wanted = self._inspector_wanted
        if wanted is None or wanted == self._inspector_source:
            return
        kind = wanted[0]
        try:
            if kind == "snapshot" and self.snapshot is not None:
                self._load_weights(self.snapshot.spec, self.snapshot.weights)
            elif kind == "checkpoint" and self.checkpoint is not None:
                self._load_weights(self.checkpoint.spec, self.checkpoint.weights)
            else:
                self._inspector = fresh_network(self._config)
        except (ValueError, KeyError, MemoryError) as exc:  # a spec the engine refuses: views show nothing
            self._inspector = None
            self.message.emit(f"cannot build the network for the views: {exc}")
        self._inspector_source = wanted
        self.inspectorChanged.emit(self._inspector)

    def _load_weights(self, spec: NetSpec, weights: Mapping[str, np.ndarray]) -> None:
        self._inspector = network_from_state(spec, weights, reuse=self._inspector)
