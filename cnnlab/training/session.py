"""``TrainingSession``: one training run, as a generator of snapshots that can be steered while it runs.

The loop lives here, not in the model and not in a widget, so the desktop app's worker thread and the
headless CLI drive the very same code::

    session = TrainingSession(config, dataset)
    for snapshot in session.run():      # blocks while paused; ends when finished, stopped or diverged
        show(snapshot)

Other threads steer it with ``pause()``, ``resume()``, ``step()``, ``step_epoch()``, ``stop()`` and
``set_live(lr=..., momentum=..., weight_decay=..., batch_size=..., augment=...)``. Requests are
honoured between steps, never in the middle of one; changes take effect at the next step.
Only the thread iterating ``run()`` touches the live network; everyone else reads snapshots.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from cnnlab.data import Augmentation, Dataset, load_dataset, to_float_nchw
from cnnlab.engine import (
    Checkpoint,
    Constant,
    Cosine,
    StepDecay,
    Warmup,
    build,
    make_optimizer,
    save_checkpoint,
    softmax_cross_entropy,
)
from cnnlab.training.config import LIVE_SETTINGS, ConfigError, TrainConfig
from cnnlab.training.metrics import Smoother, confusion_matrix, per_class_accuracy
from cnnlab.training.snapshot import History, LayerStats, Snapshot, frozen

# Weights whose norm passes this have exploded even if they are still finite.
EXPLODED_NORM = 1e6
HIST_BINS = 30


class _Series:
    """Growing float arrays with amortised appends (a Python list of floats per step would do too,
    but copying it into arrays for every snapshot would cost more)."""

    def __init__(self, *names: str) -> None:
        self._data = {name: np.zeros(256) for name in names}
        self.size = 0

    def append(self, **values: float) -> None:
        if self.size == len(next(iter(self._data.values()))):
            for name, array in self._data.items():
                self._data[name] = np.concatenate([array, np.zeros_like(array)])
        for name, value in values.items():
            self._data[name][self.size] = value
        self.size += 1

    def get(self, name: str) -> np.ndarray:
        return frozen(self._data[name][: self.size])

    def to_lists(self) -> dict[str, list[float]]:
        return {name: array[: self.size].tolist() for name, array in self._data.items()}

    def load(self, lists: dict[str, list[float]]) -> None:
        for name, values in lists.items():
            for _ in range(len(values) - len(self._data[name])):
                self._data[name] = np.concatenate([self._data[name], np.zeros_like(self._data[name])])
            self._data[name][: len(values)] = values
        self.size = len(next(iter(lists.values()))) if lists else 0


class TrainingSession:
    """A training run. See the module docstring for how to drive and steer it."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        *,
        checkpoint: Checkpoint | None = None,
        run_id: str | None = None,
        clock=time.perf_counter,
    ) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir)
        self.class_names = tuple(self.dataset.class_names)
        num_classes = len(self.class_names)
        config.spec.validate(num_classes=num_classes)  # SpecError names the layer before anything is built
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._clock = clock

        init_seq, data_seq = np.random.SeedSequence(config.seed).spawn(2)
        # One stream for weights and dropout, one for batch order and augmentation: changing the
        # architecture does not change which images come in which order.
        self._model_rng = np.random.default_rng(init_seq)
        self._data_rng = np.random.default_rng(data_seq)

        images, labels = self.dataset.train_images, self.dataset.train_labels
        if config.train_limit is not None:
            images, labels = images[: config.train_limit], labels[: config.train_limit]
        self._train_images, self._train_labels = images, labels
        held = min(config.held_out, len(self.dataset.test_images))
        self._held_x = to_float_nchw(self.dataset.test_images[:held])
        self._held_y = self.dataset.test_labels[:held]

        self.network = build(config.spec, self._model_rng)
        self._live: dict[str, Any] = {
            "lr": config.lr,
            "momentum": config.momentum,
            "weight_decay": config.weight_decay,
            "batch_size": config.batch_size,
            "augment": config.augment,
        }
        self.optimizer = self._make_optimizer()
        self._schedule = self._make_schedule()
        self._augmentation = Augmentation()

        # Progress.
        self.step_count = 0
        self.epoch = 0
        self._pos = 0  # position in the current epoch's order
        self._order: np.ndarray | None = None
        self._order_state: dict | None = None  # data rng state the current epoch's order was drawn from
        self.images_seen = 0
        self._elapsed = 0.0
        self._epoch_loss_sum = 0.0
        self._epoch_correct = 0
        self._epoch_seen = 0
        self._epoch_started = 0.0
        self._smooth = Smoother(0.95)
        self._rate = Smoother(0.9)
        self._last_loss: float | None = None
        self._held: tuple[float, float] | None = None  # latest held-out accuracy and loss
        self._by_class: tuple[np.ndarray, np.ndarray] | None = None  # latest per-class accuracy, confusion
        self._test_accuracy: float | None = None
        self._last_eval_step = 0
        self._last_snapshot_step = -1
        self._last_snapshot_time = 0.0
        self._stats: tuple[LayerStats, ...] = ()
        self._good: tuple[int, dict, dict] | None = None

        self._steps = _Series("step", "loss", "loss_smooth", "train_accuracy", "lr")
        self._evals = _Series("step", "accuracy", "loss")
        self._epochs = _Series("step", "train_loss", "train_accuracy", "test_accuracy", "seconds")
        self._norm_steps = _Series("step")
        self._norm_names = [name for name, _, _ in self.network.named_parameters()]
        self._weight_norms = _Series(*self._norm_names)
        self._grad_norms = _Series(*self._norm_names)

        # Requests from other threads, guarded by one condition variable.
        self._cond = threading.Condition()
        self._paused = False
        self._stop = False
        self._budget = 0  # steps allowed while paused
        self._pause_at_epoch_end = False
        self._pending: dict[str, Any] = {}
        self._checkpoint_requests: list[tuple[Path, Future]] = []

        if checkpoint is not None:
            self._restore(checkpoint)

    # -- steering (any thread) ----------------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._budget = 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._pause_at_epoch_end = False
            self._cond.notify_all()

    def step(self, batches: int = 1) -> None:
        """While paused: train exactly ``batches`` more batches, then pause again."""
        with self._cond:
            self._paused = True
            self._budget += max(int(batches), 0)
            self._cond.notify_all()

    def step_epoch(self) -> None:
        """Train to the end of the current epoch, then pause."""
        with self._cond:
            self._paused = False
            self._pause_at_epoch_end = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def set_live(self, **changes: Any) -> None:
        """Change live settings (``LIVE_SETTINGS``); they apply at the next step, without a reset."""
        unknown = set(changes) - set(LIVE_SETTINGS)
        if unknown:
            raise ConfigError(f"cannot change {', '.join(sorted(unknown))} during a run")
        checked = self._check_live(changes)
        with self._cond:
            self._pending.update(checked)
            self._cond.notify_all()

    def request_checkpoint(self, path: str | Path) -> Future:
        """Ask the training thread to save a checkpoint between steps; the future gives the path."""
        future: Future = Future()
        with self._cond:
            self._checkpoint_requests.append((Path(path), future))
            self._cond.notify_all()
        return future

    # -- the loop (the training thread) -------------------------------------------------------------
    def run(self) -> Iterator[Snapshot]:
        cfg = self.config
        yield self._snapshot("started", running=True)
        self._remember_good()
        while self.epoch < cfg.epochs:
            if self._order is None:
                self._start_epoch()
            while self._pos < len(self._order):
                gate = self._wait_until_allowed()
                while gate == "paused":
                    yield self._snapshot("paused", paused=True)
                    gate = self._wait_until_allowed(block=True)
                if gate == "stop":
                    yield self._finish("stopped", "Training stopped. The network keeps what it learned.")
                    return
                diverged = self._train_one_batch()
                if diverged:
                    yield self._finish("diverged", diverged)
                    return
                if cfg.eval_every and self.step_count - self._last_eval_step >= cfg.eval_every:
                    self._evaluate_held_out()
                    yield self._snapshot("eval")
                elif self._snapshot_due():
                    yield self._snapshot("step")
                problem = self._check_weights()
                if problem:
                    yield self._finish("diverged", problem)
                    return
            self._end_epoch()
            yield self._snapshot("epoch_end")
            with self._cond:
                if self._pause_at_epoch_end:
                    self._pause_at_epoch_end = False
                    self._paused = True
        finished_message = (
            f"Finished {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}: "
            f"test accuracy {self._test_accuracy:.2%}."
        )
        yield self._finish("finished", finished_message)

    # -- inside the loop ------------------------------------------------------------------------------
    def _wait_until_allowed(self, block: bool = False) -> str:
        """'go', 'stop' or (unless ``block``) 'paused'. Applies pending settings, serves checkpoints."""
        with self._cond:
            while True:
                self._apply_pending()
                self._serve_checkpoints()
                if self._stop:
                    return "stop"
                if not self._paused:
                    return "go"
                if self._budget > 0:
                    self._budget -= 1
                    return "go"
                if not block:
                    return "paused"
                self._cond.wait(timeout=0.5)

    def _apply_pending(self) -> None:
        if not self._pending:
            return
        self._live.update(self._pending)
        self._pending = {}
        self.optimizer.momentum = self._live["momentum"]
        self.optimizer.weight_decay = self._live["weight_decay"]

    def _serve_checkpoints(self) -> None:
        requests, self._checkpoint_requests = self._checkpoint_requests, []
        for path, future in requests:
            try:
                future.set_result(self.save_checkpoint(path))
            except Exception as exc:  # reported to the requester, never lost in the training thread
                future.set_exception(exc)

    def _start_epoch(self) -> None:
        self._order_state = self._data_rng.bit_generator.state
        self._order = self._data_rng.permutation(len(self._train_images))
        self._pos = 0
        self._epoch_loss_sum = 0.0
        self._epoch_correct = 0
        self._epoch_seen = 0
        self._epoch_started = self._elapsed

    def _train_one_batch(self) -> str:
        """One optimizer step. Returns a message if the loss went NaN/inf (weights already restored)."""
        started = self._clock()
        bs = int(self._live["batch_size"])
        idx = self._order[self._pos : self._pos + bs]
        x = to_float_nchw(self._train_images[idx])
        if self._live["augment"]:
            x = self._augmentation(x, self._data_rng)
        y = self._train_labels[idx]
        lr = self._current_lr()
        self.optimizer.lr = lr
        loss, logits = self.network.compute_gradients(x, y)
        if not math.isfinite(loss):
            return self._diverge(f"The loss became {loss} at step {self.step_count + 1}")
        self.optimizer.step()
        self._pos += len(idx)
        self.step_count += 1
        self.images_seen += len(idx)
        correct = int(np.sum(logits.argmax(axis=1) == y))
        self._epoch_correct += correct
        self._epoch_seen += len(idx)
        self._epoch_loss_sum += loss * len(idx)
        self._last_loss = loss
        smooth = self._smooth.update(loss)
        seconds = self._clock() - started
        self._elapsed += seconds
        self._rate.update(len(idx) / max(seconds, 1e-9))
        self._steps.append(
            step=self.step_count,
            loss=loss,
            loss_smooth=smooth,
            train_accuracy=self._epoch_correct / self._epoch_seen,
            lr=lr,
        )
        return ""

    def _current_lr(self) -> float:
        return float(self._live["lr"] * self._schedule.factor(self.images_seen))

    def _end_epoch(self) -> None:
        seconds = self._elapsed - self._epoch_started
        self._evaluate_test()
        self._epochs.append(
            step=self.step_count,
            train_loss=self._epoch_loss_sum / max(self._epoch_seen, 1),
            train_accuracy=self._epoch_correct / max(self._epoch_seen, 1),
            test_accuracy=self._test_accuracy,
            seconds=seconds,
        )
        self.epoch += 1
        self._order = None

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        logits = np.concatenate(
            [self.network.forward(x[i : i + 1000], training=False) for i in range(0, len(x), 1000)]
        )
        loss, _ = softmax_cross_entropy(logits, y)
        predictions = logits.argmax(axis=1)
        confusion = confusion_matrix(y, predictions, len(self.class_names))
        return float(np.mean(predictions == y)), loss, per_class_accuracy(confusion), confusion

    def _evaluate_held_out(self) -> None:
        accuracy, loss, per_class, confusion = self._evaluate(self._held_x, self._held_y)
        self._held = (accuracy, loss)
        self._by_class = (per_class, confusion)
        self._last_eval_step = self.step_count
        self._evals.append(step=self.step_count, accuracy=accuracy, loss=loss)

    def _evaluate_test(self) -> None:
        x = to_float_nchw(self.dataset.test_images)
        accuracy, _, per_class, confusion = self._evaluate(x, self.dataset.test_labels)
        self._test_accuracy = accuracy
        self._by_class = (per_class, confusion)

    def evaluate_test(self) -> dict[str, Any]:
        """Full test-set accuracy, per-class accuracy and confusion of the live network (owner thread)."""
        x = to_float_nchw(self.dataset.test_images)
        accuracy, loss, per_class, confusion = self._evaluate(x, self.dataset.test_labels)
        return {"accuracy": accuracy, "loss": loss, "per_class_accuracy": per_class, "confusion": confusion}

    # -- divergence ---------------------------------------------------------------------------------
    def _remember_good(self) -> None:
        self._good = (self.step_count, self.network.state_dict(), self._copy_optimizer_state())

    def _copy_optimizer_state(self) -> dict:
        return {k: np.array(v, copy=True) for k, v in self.optimizer.state_dict().items()}

    def _check_weights(self) -> str:
        """At snapshot points: NaN/inf or exploding weights stop the run; healthy ones are remembered."""
        if self.step_count != self._last_snapshot_step:
            return ""
        for stats in self._stats:
            if not math.isfinite(stats.weight_norm) or stats.weight_norm > EXPLODED_NORM:
                what = "became NaN or infinite" if not math.isfinite(stats.weight_norm) else "exploded"
                return self._diverge(f"The weights of {stats.name} {what} at step {self.step_count}")
        self._remember_good()
        return ""

    def _diverge(self, what: str) -> str:
        good_step, weights, optim = self._good
        self.network.load_state_dict(weights)
        self.optimizer.load_state_dict(optim)
        lr = self._live["lr"]
        return (
            f"{what} (learning rate {lr:g}): training diverged. The network was put back to its weights "
            f"from step {good_step}, so nothing learned before is lost. Try a lower learning rate, "
            f"such as {lr / 10:g}."
        )

    # -- snapshots ----------------------------------------------------------------------------------
    def _snapshot_due(self) -> bool:
        cfg = self.config
        now = self._clock()
        return (
            self.step_count - self._last_snapshot_step >= cfg.snapshot_every
            or now - self._last_snapshot_time >= cfg.snapshot_seconds
        )

    def _finish(self, event: str, message: str) -> Snapshot:
        return self._snapshot(event, message=message, running=False)

    def _layer_stats(self) -> tuple[LayerStats, ...]:
        stats = []
        for name, param, grad in self.network.named_parameters():
            w = param.astype(np.float64, copy=False)
            g = grad.astype(np.float64, copy=False)
            wn, gn = float(np.linalg.norm(w)), float(np.linalg.norm(g))
            wh = np.histogram(w, bins=HIST_BINS) if math.isfinite(wn) else (np.zeros(HIST_BINS), np.zeros(1))
            gh = np.histogram(g, bins=HIST_BINS) if math.isfinite(gn) else (np.zeros(HIST_BINS), np.zeros(1))
            stats.append(
                LayerStats(name, wn, gn, (frozen(wh[0]), frozen(wh[1])), (frozen(gh[0]), frozen(gh[1])))
            )
        return tuple(stats)

    def _snapshot(
        self, event: str, message: str = "", running: bool = True, paused: bool = False
    ) -> Snapshot:
        cfg = self.config
        self._last_snapshot_step = self.step_count
        self._last_snapshot_time = self._clock()
        self._stats = self._layer_stats()
        if not self._norm_steps.size or self._norm_steps.get("step")[-1] != self.step_count:
            self._norm_steps.append(step=self.step_count)
            self._weight_norms.append(**{s.name: s.weight_norm for s in self._stats})
            self._grad_norms.append(**{s.name: s.grad_norm for s in self._stats})
        steps_per_epoch = math.ceil(len(self._train_images) / int(self._live["batch_size"]))
        step_in_epoch = math.ceil(self._pos / int(self._live["batch_size"])) if self._order is not None else 0
        rate = self._rate.value if self.step_count else 0.0
        left = len(self._train_images) - self._pos if self._order is not None else len(self._train_images)
        held, by_class = self._held, self._by_class
        history = History(
            steps=self._steps.get("step"),
            loss=self._steps.get("loss"),
            loss_smooth=self._steps.get("loss_smooth"),
            train_accuracy=self._steps.get("train_accuracy"),
            lr=self._steps.get("lr"),
            eval_steps=self._evals.get("step"),
            held_out_accuracy=self._evals.get("accuracy"),
            held_out_loss=self._evals.get("loss"),
            epoch_steps=self._epochs.get("step"),
            epoch_train_loss=self._epochs.get("train_loss"),
            epoch_train_accuracy=self._epochs.get("train_accuracy"),
            test_accuracy=self._epochs.get("test_accuracy"),
            epoch_seconds=self._epochs.get("seconds"),
            norm_steps=self._norm_steps.get("step"),
            weight_norms=MappingProxyType({n: self._weight_norms.get(n) for n in self._norm_names}),
            grad_norms=MappingProxyType({n: self._grad_norms.get(n) for n in self._norm_names}),
        )
        weights = self.network.state_dict()  # fresh copies already: only mark them read-only
        for array in weights.values():
            array.setflags(write=False)
        grads = {n: frozen(g) for n, _, g in self.network.named_parameters()} if self.step_count else {}
        return Snapshot(
            run_id=self.run_id,
            event=event,
            step=self.step_count,
            epoch=self.epoch,
            epochs=cfg.epochs,
            step_in_epoch=step_in_epoch,
            steps_per_epoch=steps_per_epoch,
            images_seen=self.images_seen,
            loss=self._last_loss,
            loss_smooth=self._smooth.value if self.step_count else None,
            train_accuracy=self._epoch_correct / self._epoch_seen if self._epoch_seen else None,
            held_out_accuracy=held[0] if held else None,
            test_accuracy=self._test_accuracy,
            per_class_accuracy=frozen(by_class[0]) if by_class else None,
            confusion=frozen(by_class[1]) if by_class else None,
            lr=self._current_lr(),
            hyperparameters=MappingProxyType(dict(self._live)),
            images_per_s=rate,
            seconds_left_epoch=left / rate if rate > 0 else None,
            elapsed=self._elapsed,
            spec=cfg.spec,
            class_names=self.class_names,
            weights=MappingProxyType(weights),
            grads=MappingProxyType(grads),
            layer_stats=self._stats,
            history=history,
            message=message,
            running=running,
            paused=paused,
        )

    # -- building blocks ----------------------------------------------------------------------------
    def _make_optimizer(self):
        cfg, live = self.config, self._live
        settings: dict[str, Any] = {"lr": live["lr"], "weight_decay": live["weight_decay"]}
        if cfg.optimizer == "sgd":
            settings.update(momentum=live["momentum"], nesterov=cfg.nesterov)
        else:
            settings.update(beta1=live["momentum"] if live["momentum"] > 0 else 0.9)
        return make_optimizer(cfg.optimizer, self.network, **settings)

    def _make_schedule(self):
        """Schedules count images, not steps, so that a batch-size change mid-run keeps their shape."""
        cfg = self.config
        total = cfg.epochs * len(self._train_images)
        if cfg.schedule == "cosine":
            schedule = Cosine(total_steps=total)
        elif cfg.schedule == "step":
            schedule = StepDecay(
                step_size=cfg.step_every_epochs * len(self._train_images), gamma=cfg.step_gamma
            )
        else:
            schedule = Constant()
        if cfg.warmup_steps:
            schedule = Warmup(steps=cfg.warmup_steps * cfg.batch_size, then=schedule)
        return schedule

    @staticmethod
    def _check_live(changes: dict[str, Any]) -> dict[str, Any]:
        checked = dict(changes)
        if "lr" in checked and not float(checked["lr"]) > 0:
            raise ConfigError(f"learning rate must be above 0, got {checked['lr']}")
        if "momentum" in checked and not 0 <= float(checked["momentum"]) < 1:
            raise ConfigError(f"momentum must be at least 0 and below 1, got {checked['momentum']}")
        if "weight_decay" in checked and float(checked["weight_decay"]) < 0:
            raise ConfigError(f"weight decay must be at least 0, got {checked['weight_decay']}")
        if "batch_size" in checked and int(checked["batch_size"]) < 1:
            raise ConfigError(f"batch size must be at least 1, got {checked['batch_size']}")
        for key in ("lr", "momentum", "weight_decay"):
            if key in checked:
                checked[key] = float(checked[key])
        if "batch_size" in checked:
            checked["batch_size"] = int(checked["batch_size"])
        if "augment" in checked:
            checked["augment"] = bool(checked["augment"])
        return checked

    # -- checkpoints --------------------------------------------------------------------------------
    def checkpoint_metadata(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "config": self.config.to_dict(),
            "class_names": list(self.class_names),
            "dataset": self.dataset.name,
            "step": self.step_count,
            "epoch": self.epoch,
            "pos": self._pos if self._order is not None else 0,
            "images_seen": self.images_seen,
            "elapsed": self._elapsed,
            "live": dict(self._live),
            "order_state": _jsonable_state(self._order_state) if self._order is not None else None,
            "data_rng": _jsonable_state(self._data_rng.bit_generator.state),
            "model_rng": _jsonable_state(self._model_rng.bit_generator.state),
            "smooth": self._smooth.state(),
            "epoch_totals": [self._epoch_loss_sum, self._epoch_correct, self._epoch_seen],
            "test_accuracy": self._test_accuracy,
            "history": {
                "steps": self._steps.to_lists(),
                "evals": self._evals.to_lists(),
                "epochs": self._epochs.to_lists(),
            },
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Save network, optimizer state and progress (call from the training thread, or when idle)."""
        return save_checkpoint(path, self.network, self.optimizer, metadata=self.checkpoint_metadata())

    def _restore(self, checkpoint: Checkpoint) -> None:
        meta = checkpoint.metadata
        self.network.load_state_dict(checkpoint.weights)
        if checkpoint.optimizer_state:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        if "step" not in meta:  # weights only (a checkpoint from elsewhere): start a fresh run from them
            return
        self.run_id = meta.get("run_id", self.run_id)
        self.step_count = int(meta["step"])
        self.epoch = int(meta["epoch"])
        self.images_seen = int(meta["images_seen"])
        self._elapsed = float(meta.get("elapsed", 0.0))
        self._live.update({k: v for k, v in meta.get("live", {}).items() if k in LIVE_SETTINGS})
        self._apply_pending()
        self._data_rng.bit_generator.state = meta["data_rng"]
        self._model_rng.bit_generator.state = meta["model_rng"]
        if meta.get("order_state") is not None:
            # Re-draw the interrupted epoch's order, then continue where it stopped.
            current = self._data_rng.bit_generator.state
            self._data_rng.bit_generator.state = meta["order_state"]
            self._start_epoch()
            self._data_rng.bit_generator.state = current
            self._pos = int(meta["pos"])
            self._epoch_loss_sum, self._epoch_correct, self._epoch_seen = meta["epoch_totals"]
        self._smooth.load(meta["smooth"])
        self._test_accuracy = meta.get("test_accuracy")
        history = meta.get("history", {})
        self._steps.load(history.get("steps", {}))
        self._evals.load(history.get("evals", {}))
        self._epochs.load(history.get("epochs", {}))
        self._last_eval_step = self.step_count


def _jsonable_state(state: dict | None) -> dict | None:
    """NumPy bit-generator states hold Python ints and dicts only, so JSON keeps them exactly."""
    return None if state is None else {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
