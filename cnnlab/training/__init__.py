"""cnnlab's training floor: one training session shared by the desktop app and the headless CLI.

Imports the engine and the data floors, never Qt.

- ``TrainConfig`` (config): a run's settings, frozen and JSON-serialisable;
  ``TrainConfig.recommended("mnist99", "fashion-mnist")`` gives the settings that reach the lab's
  accuracy targets without tuning (``recommended_settings`` gives them as a dict).
- ``TrainingSession`` (session): ``run()`` yields ``Snapshot``s; ``pause``/``resume``/``step``/
  ``step_epoch``/``stop``, ``set_live(...)`` and ``request_checkpoint(path)`` steer it from any thread,
  between steps. ``TrainingSession(config, dataset, checkpoint=load_checkpoint(p))`` resumes exactly;
  a checkpoint that cannot be resumed from raises ``ResumeError`` (a ``ConfigError``) naming the field.
- ``Snapshot`` (snapshot): an immutable picture of the run (metrics, curves, copied weights); its
  ``event`` is an ``Event`` (a string enum: ``Event.DIVERGED == "diverged"``).
- ``RunRecorder`` / ``RunStore`` (runs): the runs history in the user's data folder (``CNNLAB_HOME``);
  each run records every setting (``run_settings``), its live changes and its results, and is named by
  what sets it apart from the others (``describe_runs``).
- ``Sweep`` / ``run_sweep`` (sweep): one setting, a list of values, one recorded run per value.
- ``all_hints`` (hints): what is happening in a run and what to try (not learning, diverged, overfitting,
  underfitting, dead ReLUs, vanishing or exploding gradients), as pure checks over a snapshot.
- ``split_training_set`` (split): the validation split held out of the training images, and the limit.
- ``headless``: what the CLI's ``train``, ``eval`` and ``predict`` do, without the printing.
- ``WriteError`` (files): an ``OSError`` whose message names the file that could not be written and why
  (a full disk, a read-only folder, a path below a file), in one line.
- ``limit_blas_threads`` (blas): how many threads NumPy's BLAS may use (one by default).
- ``parallel.WorkerPool``: data-parallel training (``TrainConfig.workers``): each step's batch split across
  spawn worker processes, weights and gradients in shared memory, summed in a fixed order;
  ``parallel.default_workers()`` (the idle cores, or ``CNNLAB_WORKERS``).
"""

from cnnlab.training.blas import limit_blas_threads
from cnnlab.training.config import (
    LIVE_SETTINGS,
    RECOMMENDED,
    ConfigError,
    TrainConfig,
    check_live,
    recommended_settings,
)
from cnnlab.training.describe import describe_runs, run_settings
from cnnlab.training.files import WriteError
from cnnlab.training.hints import Hint, all_hints
from cnnlab.training.metrics import confusion_matrix, per_class_accuracy
from cnnlab.training.resume import ResumeError
from cnnlab.training.runs import (
    EpochRecord,
    RunError,
    RunInfo,
    RunRecord,
    RunRecorder,
    RunStore,
    named_runs,
    runs_root,
)
from cnnlab.training.session import TrainingSession, check_run
from cnnlab.training.snapshot import (
    EVENTS,
    FINAL_EVENTS,
    ActivationStats,
    Change,
    Event,
    History,
    LayerStats,
    Snapshot,
)
from cnnlab.training.split import DataSplit, split_training_set
from cnnlab.training.sweep import Sweep, SweepPoint, SweepResult, run_sweep

__all__ = [
    "EVENTS",
    "FINAL_EVENTS",
    "LIVE_SETTINGS",
    "RECOMMENDED",
    "ActivationStats",
    "Change",
    "ConfigError",
    "DataSplit",
    "EpochRecord",
    "Event",
    "Hint",
    "History",
    "LayerStats",
    "ResumeError",
    "RunError",
    "RunInfo",
    "RunRecord",
    "RunRecorder",
    "RunStore",
    "Snapshot",
    "Sweep",
    "SweepPoint",
    "SweepResult",
    "TrainConfig",
    "TrainingSession",
    "WriteError",
    "all_hints",
    "check_live",
    "check_run",
    "confusion_matrix",
    "describe_runs",
    "limit_blas_threads",
    "named_runs",
    "per_class_accuracy",
    "recommended_settings",
    "run_settings",
    "run_sweep",
    "runs_root",
    "split_training_set",
]
