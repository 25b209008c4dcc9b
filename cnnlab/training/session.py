"""``TrainingSession``: one training run, as a generator of snapshots that can be steered while it runs.

The loop lives here, not in the model and not in a widget, so the desktop app's worker thread and the
headless CLI drive the very same code::

    session = TrainingSession(config, dataset)
    for snapshot in session.run():      # blocks while paused; ends when finished, stopped or diverged
        show(snapshot)

Other threads steer it with ``pause()``, ``resume()``, ``step()``, ``step_epoch()``, ``stop()``,
``set_live(lr=..., momentum=..., weight_decay=..., batch_size=..., augment=...)`` and
``request_checkpoint(path)``. Requests are honoured between steps, never in the middle of one; changes
take effect at the next step. While paused, a live change or a served checkpoint yields a fresh "paused"
snapshot, so a view shows the new settings at once. Only the thread iterating ``run()`` touches the live
network; everyone else reads snapshots.

Same config, same seed: the same weights and the same curves, bit for bit. A run saved with
``save_checkpoint`` (or ``request_checkpoint``) and resumed with ``TrainingSession(config, dataset,
checkpoint=load_checkpoint(path))`` continues exactly as if it had never stopped: step count, data order,
augmentation draws, optimizer state, live settings and the curves so far all come back.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from cnnlab.data import Augmentation, Dataset, load_dataset, to_float_nchw
from cnnlab.engine import (
    Budget,
    Checkpoint,
    Constant,
    Cosine,
    StepDecay,
    Warmup,
    build,
    make_optimizer,
    save_checkpoint,
)
from cnnlab.training.config import LIVE_SETTINGS, ConfigError, TrainConfig, check_live
from cnnlab.training.metrics import Smoother, evaluate_network
from cnnlab.training.snapshot import History, LayerStats, Snapshot, frozen

# Weights whose norm passes this have exploded even if they are still finite.
EXPLODED_NORM = 1e6
HIST_BINS = 30
# Histograms of a large layer cost more than everything else in a snapshot; during training they are
# refreshed at most this often (every other event refreshes them).
HIST_SECONDS = 1.0
# Images per second are averaged over about this many seconds of training.
RATE_WINDOW = 2.0
EVAL_CHUNK = 1000


class _Series:
    """Growing float arrays with amortised appends.

    Only ever appended to, so a read-only view of the recorded part never changes afterwards: snapshots
    share such views instead of copying whole curves every time.
    """

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
        view = self._data[name][: self.size]
        view.flags.writeable = False
        return view

    def last(self, name: str) -> float | None:
        return float(self._data[name][self.size - 1]) if self.size else None

    def to_lists(self) -> dict[str, list[float | None]]:
        """Plain lists for JSON; NaN and infinities become None (JSON has no such numbers)."""
        return {
            name: [v if math.isfinite(v) else None for v in array[: self.size].tolist()]
            for name, array in self._data.items()
        }

    def load(self, lists: dict[str, list[float | None]]) -> None:
        lists = {name: values for name, values in lists.items() if name in self._data}
        size = len(next(iter(lists.values()))) if lists else 0
        capacity = max(256, 1 << max(size - 1, 0).bit_length())
        for name in self._data:
            values = lists.get(name, [math.nan] * size)
            array = np.zeros(capacity)
            array[:size] = [math.nan if v is None else v for v in values]
            self._data[name] = array
        self.size = size


class _Throughput:
    """Images per second over the last ``window`` seconds of training intervals."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._parts: deque[tuple[int, float]] = deque()
        self._images = 0
        self._seconds = 0.0

    def add(self, images: int, seconds: float) -> None:
        self._parts.append((images, seconds))
        self._images += images
        self._seconds += seconds
        while len(self._parts) > 1 and self._seconds - self._parts[0][1] >= self.window:
            old_images, old_seconds = self._parts.popleft()
            self._images -= old_images
            self._seconds -= old_seconds

    @property
    def rate(self) -> float | None:
        return self._images / self._seconds if self._seconds > 0 else None


class TrainingSession:
    """A training run. See the module docstring for how to drive and steer it.

    ``checkpoint``: continue from it (its metadata, written by ``save_checkpoint``, restores the whole
    run; a checkpoint without it only provides starting weights). ``checkpoint_path``: where to save a
    checkpoint automatically when the run ends (finished, stopped or diverged).
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        *,
        checkpoint: Checkpoint | None = None,
        run_id: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        checkpoint_path: str | Path | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir)
        self.class_names = tuple(self.dataset.class_names)
        num_classes = len(self.class_names)
        # At the run's own batch size: SpecError names the layer before anything is built.
        budget = (budget or Budget()).at_batch(config.batch_size)
        config.spec.validate(num_classes=num_classes, budget=budget)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.resumed_from: str | None = None
        self._clock = clock

        init_seq, data_seq = np.random.SeedSequence(config.seed).spawn(2)
        # One stream for weights and dropout, one for batch order and augmentation: changing the
        # architecture does not change which images come in which order.
        self._model_rng = np.random.default_rng(init_seq)
        self._data_rng = np.random.default_rng(data_seq)

        images, labels = self.dataset.train_images, self.dataset.train_labels
        if config.train_limit is not None:
            images, labels = images[: config.train_limit], labels[: config.train_limit]
        if len(images) == 0:
            raise ConfigError(f"dataset {self.dataset.name!r} has no training images")
        self._train_images, self._train_labels = images, labels
        held = min(config.held_out, len(self.dataset.test_images))
        self._held_x = to_float_nchw(self.dataset.test_images[:held])
        self._held_y = self.dataset.test_labels[:held]

        self.network = build(config.spec, self._model_rng, budget=budget)
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
        self._epoch_step = 0  # steps taken in the current epoch
        self.images_seen = 0
        self._epoch_loss_sum = 0.0
        self._epoch_correct = 0
        self._epoch_seen = 0
        self._epoch_started = 0.0
        self._smooth = Smoother(0.95)
        self._last_loss: float | None = None
        self._held: tuple[float, float] | None = None  # latest held-out accuracy and loss
        self._by_class: tuple[np.ndarray, np.ndarray] | None = None  # latest per-class accuracy, confusion
        self._test_accuracy: float | None = None
        self._last_eval_step = 0
        self._changes: list[tuple[int, str, Any]] = []

        # Time: wall clock while not paused; throughput from intervals between consecutive steps.
        self._elapsed_base = 0.0
        self._running_since: float | None = None
        self._meter = _Throughput()
        self._tick: float | None = None  # start of the previous step, None after a pause or evaluation
        self._tick_images = 0
        self._step_rate: float | None = None  # the last step's own rate, until the meter has intervals

        # Snapshots.
        self._last_snapshot_step = -1
        self._last_snapshot_time = -math.inf
        self._hists: dict[str, tuple[tuple, tuple]] = {}
        self._hist_time = -math.inf
        self._good: tuple[Snapshot, dict[str, np.ndarray]] | None = None  # last healthy snapshot

        self._steps = _Series("step", "loss", "loss_smooth", "train_accuracy", "lr")
        self._evals = _Series("step", "accuracy", "loss")
        self._epochs = _Series(
            "step", "train_loss", "train_accuracy", "test_accuracy", "seconds", "test_loss"
        )
        self._norm_steps = _Series("step")
        self._norm_names = [name for name, _, _ in self.network.named_parameters()]
        self._weight_norms = _Series(*self._norm_names) if self._norm_names else None
        self._grad_norms = _Series(*self._norm_names) if self._norm_names else None

        # Requests from other threads, guarded by one condition variable.
        self._cond = threading.Condition()
        self._paused = False
        self._stop = False
        self._budget = 0  # steps allowed while paused
        self._pause_at_epoch_end = False
        self._pending: dict[str, Any] = {}
        self._checkpoint_requests: list[tuple[Path, Future]] = []
        self._started = False
        self._ended = False

        if checkpoint is not None:
            self._restore(checkpoint)

    # -- steering (any thread) ----------------------------------------------------------------------
    def pause(self) -> None:
        """Pause before the next step (cancels steps still owed by ``step``)."""
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
        """Train exactly ``batches`` more batches, then pause (a running session pauses after them)."""
        with self._cond:
            self._paused = True
            self._budget += max(int(batches), 0)
            self._cond.notify_all()

    def step_epoch(self) -> None:
        """Train to the end of the current epoch, then pause."""
        with self._cond:
            self._paused = False
            self._budget = 0
            self._pause_at_epoch_end = True
            self._cond.notify_all()

    def stop(self) -> None:
        """End the run before the next step; the last snapshot has event "stopped"."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused and not self._ended

    @property
    def ended(self) -> bool:
        """True once ``run()`` has yielded its last snapshot (or was closed)."""
        return self._ended

    @property
    def live(self) -> dict[str, Any]:
        """The live settings as they will be at the next step (pending changes included)."""
        with self._cond:
            return {**self._live, **self._pending}

    def set_live(self, **changes: Any) -> None:
        """Change live settings (``LIVE_SETTINGS``); they apply at the next step, without a reset.

        Raises ``ConfigError`` for an unknown setting or a value that cannot work.
        """
        checked = check_live(changes)
        with self._cond:
            self._pending.update(checked)
            self._cond.notify_all()

    def request_checkpoint(self, path: str | Path) -> Future:
        """Save a checkpoint between steps; the future gives the path (or the error).

        From any thread. Before ``run()`` starts the request waits for its first step boundary; once the
        run has ended it is saved at once, in the calling thread (nothing trains any more).
        """
        future: Future = Future()
        with self._cond:
            if not self._ended:
                self._checkpoint_requests.append((Path(path), future))
                self._cond.notify_all()
                return future
        self._save_into(Path(path), future)
        return future

    # -- the loop (the training thread) -------------------------------------------------------------
    def run(self) -> Iterator[Snapshot]:
        """Train, yielding snapshots; see the module docstring. A session runs once."""
        if self._started:
            raise RuntimeError("this training session has already run; start a new one")
        self._started = True
        try:
            yield from self._loop()
        finally:
            self._clock_pause()
            with self._cond:
                self._ended = True
                requests, self._checkpoint_requests = self._checkpoint_requests, []
            for path, future in requests:
                self._save_into(path, future)

    def _loop(self) -> Generator[Snapshot, None, None]:
        cfg = self.config
        self._clock_run()
        extra = {"resumed_from": self.resumed_from} if self.resumed_from else {}
        if (yield from self._emit("started", extra=extra)):
            return
        while self.epoch < cfg.epochs:
            if self._order is None:
                self._start_epoch()
            while self._pos < len(self._order):
                gate = self._gate(block=False)
                if gate == "paused":
                    self._clock_pause()
                    while gate == "paused":
                        if (yield from self._emit("paused", paused=True)):
                            return
                        gate = self._gate(block=True)
                    self._clock_run()
                if gate == "stop":
                    message = (
                        f"Training stopped at step {self.step_count}. The network keeps what it learned."
                    )
                    yield from self._emit("stopped", message=message, final=True)
                    return
                problem = self._train_one_batch()
                if problem:
                    yield self._diverged(problem)
                    return
                event = None
                if self._eval_due():
                    self._evaluate_held_out()
                    event = "eval"
                elif self._snapshot_due():
                    event = "step"
                if event and (yield from self._emit(event)):
                    return
            self._end_epoch()
            if (yield from self._emit("epoch_end")):
                return
            with self._cond:
                if self._pause_at_epoch_end:
                    self._pause_at_epoch_end = False
                    self._paused = True
        accuracy = f"test accuracy {self._test_accuracy:.2%}" if self._test_accuracy is not None else "done"
        message = f"Finished {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}: {accuracy}."
        yield from self._emit("finished", message=message, final=True)

    # -- inside the loop ------------------------------------------------------------------------------
    def _gate(self, block: bool) -> str:
        """'go', 'stop' or 'paused'. Applies pending settings and serves checkpoint requests.

        Blocking, it waits while paused and returns 'paused' again only when something a view should
        show happened (a live change, a saved checkpoint).
        """
        while True:
            with self._cond:
                changed = self._apply_pending()
                requests, self._checkpoint_requests = self._checkpoint_requests, []
                if not requests:
                    if self._stop:
                        return "stop"
                    if not self._paused:
                        return "go"
                    if self._budget > 0:
                        self._budget -= 1
                        return "go"
                    if not block or changed:
                        return "paused"
                    self._cond.wait(timeout=0.5)
                    continue
            # Saving takes a while: outside the lock, so steering calls from other threads never wait.
            for path, future in requests:
                self._save_into(path, future)
            self._tick = None
            if block:
                return "paused"

    def _apply_pending(self) -> bool:
        """Apply pending live settings (call with the lock held); True if any value changed."""
        pending, self._pending = self._pending, {}
        changed = False
        for key, value in pending.items():
            if self._live[key] != value:
                self._live[key] = value
                self._changes.append((self.step_count, key, value))
                changed = True
        if changed:
            self._sync_optimizer()
        return changed

    def _sync_optimizer(self) -> None:
        self.optimizer.momentum = self._live["momentum"]
        self.optimizer.weight_decay = self._live["weight_decay"]

    def _save_into(self, path: Path, future: Future) -> None:
        try:
            future.set_result(self.save_checkpoint(path))
        except Exception as exc:  # reported to the requester, never lost in the training thread
            future.set_exception(exc)

    def _start_epoch(self) -> None:
        self._order_state = self._data_rng.bit_generator.state
        self._order = self._data_rng.permutation(len(self._train_images))
        self._pos = 0
        self._epoch_step = 0
        self._epoch_loss_sum = 0.0
        self._epoch_correct = 0
        self._epoch_seen = 0
        self._epoch_started = self._elapsed()

    def _train_one_batch(self) -> str:
        """One optimizer step. Returns a problem if the loss went NaN/inf (nothing was updated then)."""
        started = self._clock()
        if self._tick is not None:
            self._meter.add(self._tick_images, started - self._tick)
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
            return f"The loss became {loss} at step {self.step_count + 1}"
        self.optimizer.step()
        n = len(idx)
        self._pos += n
        self._epoch_step += 1
        self.step_count += 1
        self.images_seen += n
        self._epoch_correct += int(np.count_nonzero(logits.argmax(axis=1) == y))
        self._epoch_seen += n
        self._epoch_loss_sum += loss * n
        self._last_loss = loss
        smooth = self._smooth.update(loss)
        self._steps.append(
            step=self.step_count,
            loss=loss,
            loss_smooth=smooth,
            train_accuracy=self._epoch_correct / self._epoch_seen,
            lr=lr,
        )
        self._tick, self._tick_images = started, n
        self._step_rate = n / max(self._clock() - started, 1e-9)
        return ""

    def _current_lr(self) -> float:
        return float(self._live["lr"] * self._schedule.factor(self.images_seen))

    def _end_epoch(self) -> None:
        loss, accuracy = self._evaluate_test()
        self._epochs.append(
            step=self.step_count,
            train_loss=self._epoch_loss_sum / max(self._epoch_seen, 1),
            train_accuracy=self._epoch_correct / max(self._epoch_seen, 1),
            test_accuracy=accuracy,
            seconds=self._elapsed() - self._epoch_started,
            test_loss=loss,
        )
        self.epoch += 1
        self._order = None
        self._tick = None

    # -- evaluation ---------------------------------------------------------------------------------
    def _evaluate(self, images: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(accuracy, mean loss, per-class accuracy, confusion) of the live network in evaluation mode."""
        return evaluate_network(self.network, images, y, len(self.class_names), EVAL_CHUNK)

    def _evaluate_held_out(self) -> None:
        accuracy, loss, per_class, confusion = self._evaluate(self._held_x, self._held_y)
        self._held = (accuracy, loss)
        self._by_class = (per_class, confusion)
        self._last_eval_step = self.step_count
        self._evals.append(step=self.step_count, accuracy=accuracy, loss=loss)
        self._tick = None

    def _evaluate_test(self) -> tuple[float, float]:
        accuracy, loss, per_class, confusion = self._evaluate(
            self.dataset.test_images, self.dataset.test_labels
        )
        self._test_accuracy = accuracy
        self._by_class = (per_class, confusion)
        return loss, accuracy

    # -- snapshots and divergence -------------------------------------------------------------------
    def _eval_due(self) -> bool:
        every = self.config.eval_every
        return bool(self._held_y.size and every and self.step_count - self._last_eval_step >= every)

    def _snapshot_due(self) -> bool:
        cfg = self.config
        return (
            self.step_count - self._last_snapshot_step >= cfg.snapshot_every
            or self._clock() - self._last_snapshot_time >= cfg.snapshot_seconds
        )

    def _emit(
        self,
        event: str,
        *,
        message: str = "",
        paused: bool = False,
        final: bool = False,
        extra: dict | None = None,
    ) -> Generator[Snapshot, None, bool]:
        """Yield a snapshot of ``event``, unless the weights went bad since the last one: then yield the
        run's "diverged" end instead and return True (the run must end)."""
        now = self._clock()
        stats = self._layer_stats(full=event != "step" or now - self._hist_time >= HIST_SECONDS)
        problem = _weights_problem(stats)
        if problem:
            yield self._diverged(f"{problem} at step {self.step_count}")
            return True
        extra = dict(extra or {})
        if final:
            self._clock_pause()
            self._save_final(extra)
        snapshot = self._snapshot(
            event, stats, message=message, running=not final, paused=paused, extra=extra
        )
        self._good = (snapshot, {k: v.copy() for k, v in self.optimizer.state_dict().items()})
        yield snapshot
        return final

    def _diverged(self, what: str) -> Snapshot:
        """Put back the last healthy weights and optimizer state; the run's last snapshot says so."""
        if self._good is None:  # weights bad from the start (a checkpoint's): nothing better to go back to
            self._clock_pause()
            stats = self._layer_stats(full=True)
            return self._snapshot("diverged", stats, message=f"{what}: training cannot start.", running=False)
        good, optimizer_state = self._good
        self.network.load_state_dict(dict(good.weights))
        self.optimizer.load_state_dict(optimizer_state)
        lr = self._live["lr"]
        message = (
            f"{what} (learning rate {lr:g}): training diverged. The network was put back to its weights "
            f"from step {good.step}, so nothing learned before is lost. Try a lower learning rate, "
            f"such as {lr / 10:g}."
        )
        self._clock_pause()
        extra: dict[str, Any] = {"restored_step": good.step}
        self._save_final(extra)
        return self._snapshot(
            "diverged",
            good.layer_stats,
            message=message,
            running=False,
            extra=extra,
            weights=good.weights,
            grads=good.grads,
        )

    def _save_final(self, extra: dict) -> None:
        if self.checkpoint_path is None:
            return
        try:
            extra["checkpoint"] = str(self.save_checkpoint(self.checkpoint_path))
        except (OSError, ValueError) as exc:  # a full disk must not turn a good run into a crash
            extra["checkpoint_error"] = f"could not save {self.checkpoint_path}: {exc}"

    def _layer_stats(self, full: bool) -> tuple[LayerStats, ...]:
        """Norms of every parameter and its gradient; histograms only when ``full`` (or first seen)."""
        stats = []
        trained = self.step_count > 0
        for name, param, grad in self.network.named_parameters():
            wn = _norm(param)
            gn = _norm(grad) if trained else 0.0
            hists = self._hists.get(name)
            if full or hists is None:
                hists = (_histogram(param, wn), _histogram(grad, gn) if trained else _empty_histogram())
                self._hists[name] = hists
            stats.append(LayerStats(name, wn, gn, *hists))
        if full:
            self._hist_time = self._clock()
        return tuple(stats)

    def _snapshot(
        self,
        event: str,
        stats: tuple[LayerStats, ...],
        *,
        message: str = "",
        running: bool = True,
        paused: bool = False,
        extra: dict | None = None,
        weights: Any = None,
        grads: Any = None,
    ) -> Snapshot:
        cfg = self.config
        self._last_snapshot_step = self.step_count
        self._last_snapshot_time = self._clock()
        if self._weight_norms is not None and self._norm_steps.last("step") != self.step_count:
            self._norm_steps.append(step=self.step_count)
            self._weight_norms.append(**{s.name: s.weight_norm for s in stats})
            self._grad_norms.append(**{s.name: s.grad_norm for s in stats})
        if weights is None:
            fresh = self.network.state_dict()  # fresh copies already: only mark them read-only
            for array in fresh.values():
                array.flags.writeable = False
            weights = MappingProxyType(fresh)
        if grads is None:
            grads = MappingProxyType(
                {n: frozen(g) for n, _, g in self.network.named_parameters()} if self.step_count else {}
            )
        n_train = len(self._train_images)
        bs = int(self._live["batch_size"])
        in_epoch = self._order is not None
        pos = self._pos if in_epoch else 0
        step_in_epoch = self._epoch_step if in_epoch else 0
        steps_per_epoch = step_in_epoch + math.ceil((n_train - pos) / bs)
        rate = (self._meter.rate or self._step_rate or 0.0) if self.step_count else 0.0
        left_epoch = n_train - pos
        later_epochs = max(cfg.epochs - self.epoch - 1, 0)
        left_run = left_epoch + later_epochs * n_train if self.epoch < cfg.epochs else 0
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
            weight_norms=MappingProxyType(
                {n: self._weight_norms.get(n) for n in self._norm_names} if self._weight_norms else {}
            ),
            grad_norms=MappingProxyType(
                {n: self._grad_norms.get(n) for n in self._norm_names} if self._grad_norms else {}
            ),
            changes=tuple(self._changes),
            test_loss=self._epochs.get("test_loss"),
        )
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
            loss_smooth=self._smooth.value if self._smooth.count else None,
            train_accuracy=self._epoch_correct / self._epoch_seen if self._epoch_seen else None,
            held_out_accuracy=held[0] if held else None,
            test_accuracy=self._test_accuracy,
            per_class_accuracy=frozen(by_class[0]) if by_class else None,
            confusion=frozen(by_class[1]) if by_class else None,
            lr=self._current_lr(),
            hyperparameters=MappingProxyType(dict(self._live)),
            images_per_s=rate,
            seconds_left_epoch=left_epoch / rate if rate > 0 and running else None,
            elapsed=self._elapsed(),
            spec=cfg.spec,
            class_names=self.class_names,
            weights=weights,
            grads=grads,
            layer_stats=stats,
            history=history,
            message=message,
            running=running,
            paused=paused,
            extra=MappingProxyType(dict(extra or {})),
            seconds_left=left_run / rate if rate > 0 and running else None,
            config=cfg,
            dataset=self.dataset.name,
            held_out_loss=held[1] if held else None,
        )

    # -- time ---------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        since = self._running_since
        return self._elapsed_base + (self._clock() - since if since is not None else 0.0)

    def _clock_run(self) -> None:
        if self._running_since is None:
            self._running_since = self._clock()

    def _clock_pause(self) -> None:
        if self._running_since is not None:
            self._elapsed_base += self._clock() - self._running_since
            self._running_since = None
        self._tick = None

    # -- building blocks ----------------------------------------------------------------------------
    def _make_optimizer(self):
        cfg, live = self.config, self._live
        settings: dict[str, Any] = {"lr": live["lr"], "weight_decay": live["weight_decay"]}
        if cfg.optimizer == "sgd":
            settings.update(momentum=live["momentum"], nesterov=cfg.nesterov)
        else:
            # Adam's first-moment decay is what the lab's momentum control steers (see engine.optim).
            settings.update(beta1=live["momentum"])
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

    # -- checkpoints --------------------------------------------------------------------------------
    def checkpoint_metadata(self) -> dict[str, Any]:
        """Everything besides weights and optimizer state that a resumed run needs (plain JSON data)."""
        return {
            "run_id": self.run_id,
            "config": self.config.to_dict(),
            "class_names": list(self.class_names),
            "dataset": self.dataset.name,
            "step": self.step_count,
            "epoch": self.epoch,
            "pos": self._pos if self._order is not None else 0,
            "epoch_step": self._epoch_step if self._order is not None else 0,
            "images_seen": self.images_seen,
            "elapsed": self._elapsed(),
            "epoch_started": self._epoch_started,
            "live": dict(self._live),
            "changes": [list(change) for change in self._changes],
            "order_state": _jsonable_state(self._order_state) if self._order is not None else None,
            "data_rng": _jsonable_state(self._data_rng.bit_generator.state),
            "model_rng": _jsonable_state(self._model_rng.bit_generator.state),
            "smooth": self._smooth.state(),
            "epoch_totals": [self._epoch_loss_sum, self._epoch_correct, self._epoch_seen],
            "last_loss": _finite_or_none(self._last_loss),
            "test_accuracy": _finite_or_none(self._test_accuracy),
            "held_out": [_finite_or_none(v) for v in self._held] if self._held else None,
            "last_eval_step": self._last_eval_step,
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
        try:
            self.network.load_state_dict(checkpoint.weights)
        except ValueError as exc:
            raise ConfigError(f"the checkpoint does not fit this network: {exc}") from None
        if checkpoint.path is not None:
            self.resumed_from = str(checkpoint.path)
        if "step" not in meta:  # weights only (a checkpoint from elsewhere): start a fresh run from them
            return
        same_optimizer = (meta.get("optimizer") or {}).get("kind", self.optimizer.kind) == self.optimizer.kind
        if checkpoint.optimizer_state and same_optimizer:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.run_id = meta.get("run_id", self.run_id)
        self.step_count = int(meta["step"])
        self.epoch = int(meta["epoch"])
        self.images_seen = int(meta["images_seen"])
        self._elapsed_base = float(meta.get("elapsed", 0.0))
        self._live.update({k: v for k, v in meta.get("live", {}).items() if k in LIVE_SETTINGS})
        self._sync_optimizer()
        self._changes = [tuple(change) for change in meta.get("changes", [])]
        self._data_rng.bit_generator.state = meta["data_rng"]
        self._model_rng.bit_generator.state = meta["model_rng"]
        if meta.get("order_state") is not None:
            # Re-draw the interrupted epoch's order, then continue where it stopped.
            current = self._data_rng.bit_generator.state
            self._data_rng.bit_generator.state = meta["order_state"]
            self._start_epoch()
            self._data_rng.bit_generator.state = current
            self._pos = int(meta["pos"])
            self._epoch_step = int(meta.get("epoch_step", 0))
            self._epoch_loss_sum, self._epoch_correct, self._epoch_seen = meta["epoch_totals"]
            self._epoch_started = float(meta.get("epoch_started", self._elapsed_base))
        self._smooth.load(meta["smooth"])
        self._last_loss = meta.get("last_loss")
        self._test_accuracy = meta.get("test_accuracy")
        if meta.get("held_out"):
            accuracy, loss = meta["held_out"]
            self._held = (math.nan if accuracy is None else accuracy, math.nan if loss is None else loss)
        history = meta.get("history", {})
        self._steps.load(history.get("steps", {}))
        self._evals.load(history.get("evals", {}))
        self._epochs.load(history.get("epochs", {}))
        self._last_eval_step = int(meta.get("last_eval_step", self.step_count))


def _norm(array: np.ndarray) -> float:
    flat = array.ravel()
    # In the array's own precision: float32 BLAS is fast, and a norm too large for it has exploded anyway.
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.dot(flat, flat)))


def _histogram(array: np.ndarray, norm: float) -> tuple[np.ndarray, np.ndarray]:
    if not math.isfinite(norm):
        return _empty_histogram()
    lo, hi = float(array.min()), float(array.max())
    spread = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    # Edges in float64: float32 ones collapse when values differ by a few ulps (a bias after one step).
    lo, hi = np.float64(lo), np.float64(lo + spread)
    counts, edges = np.histogram(array, bins=HIST_BINS, range=(lo, hi))
    counts.flags.writeable = False
    edges.flags.writeable = False
    return counts, edges


def _empty_histogram() -> tuple[np.ndarray, np.ndarray]:
    return frozen(np.zeros(HIST_BINS, dtype=np.int64)), frozen(np.zeros(HIST_BINS + 1))


def _weights_problem(stats: tuple[LayerStats, ...]) -> str:
    for s in stats:
        if not math.isfinite(s.weight_norm):
            return f"The weights of {s.name} became too large to represent (NaN or infinite)"
        if s.weight_norm > EXPLODED_NORM:
            return f"The weights of {s.name} exploded (norm {s.weight_norm:.3g})"
    return ""


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _jsonable_state(state: dict | None) -> dict | None:
    """NumPy bit-generator states hold Python ints and dicts only, so JSON keeps them exactly."""
    return None if state is None else {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
