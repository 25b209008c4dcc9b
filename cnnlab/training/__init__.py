"""cnnlab's training floor: one training session shared by the desktop app and the headless CLI.

Imports the engine and the data floors, never Qt.

- ``TrainConfig`` (config): a run's settings, frozen and JSON-serialisable.
- ``TrainingSession`` (session): ``run()`` yields ``Snapshot``s; ``pause``/``resume``/``step``/
  ``step_epoch``/``stop`` and ``set_live(...)`` steer it from any thread, between steps.
- ``Snapshot`` (snapshot): an immutable picture of the run (metrics, curves, copied weights).
"""

from cnnlab.training.config import LIVE_SETTINGS, ConfigError, TrainConfig
from cnnlab.training.metrics import confusion_matrix, per_class_accuracy
from cnnlab.training.session import TrainingSession
from cnnlab.training.snapshot import EVENTS, History, LayerStats, Snapshot

__all__ = [
    "EVENTS",
    "LIVE_SETTINGS",
    "ConfigError",
    "History",
    "LayerStats",
    "Snapshot",
    "TrainConfig",
    "TrainingSession",
    "confusion_matrix",
    "per_class_accuracy",
]
