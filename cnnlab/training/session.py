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

A loss, a gradient or a weight that turns NaN or infinite (or weights that explode) is caught at the step
where it happens; the run ends with a "diverged" snapshot and is put back to its last good step, its
weights, optimizer state, counters and curves all from that same step (and so is the checkpoint saved at
the end).

Images: the validation split is held out of the training images (``split``: chosen by the seed, never
trained on) and evaluated every ``eval_every`` steps and at each epoch end, together with a training
sample of the same size in evaluation mode (a fair partner for the overfitting check). The test set is
evaluated only at epoch ends. Every live change is recorded with the step, the images seen and the old
and new value (``Snapshot.history.changes``).

The parts, each in its own module: ``steering`` (requests from other threads, live settings),
``progress`` (counters and curves), ``stats`` (clock, throughput, norms, histograms), ``snapshots``
(building a snapshot), ``split`` (training and validation images), ``recovery`` (the last good point a
diverged run goes back to), ``resume``
(checkpoint metadata written and checked), ``optimization`` (the optimizer and the learning-rate
schedule), ``parallel`` (the batch split across worker processes, ``config.workers``; a snapshot's
``extra["workers_note"]`` says once why a run trains on one worker instead).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from cnnlab.data import Augmentation, Dataset, load_dataset, to_float_nchw
from cnnlab.engine import Budget, Checkpoint, build, save_checkpoint
from cnnlab.training import resume
from cnnlab.training.checks import check_input_shape
from cnnlab.training.config import LIVE_SETTINGS, TrainConfig
from cnnlab.training.files import WriteError
from cnnlab.training.metrics import evaluate_network, network_logits, scores
from cnnlab.training.optimization import LearningRate, build_optimizer, sync_optimizer
from cnnlab.training.parallel import WorkerPool
from cnnlab.training.progress import Progress, RunHistory
from cnnlab.training.recovery import GoodPoint
from cnnlab.training.snapshot import Change, Event, Snapshot
from cnnlab.training.snapshots import Cadence, make_snapshot
from cnnlab.training.split import DataSplit, split_training_set
from cnnlab.training.stats import (
    PROBE_IMAGES,
    LayerStatsMaker,
    RunClock,
    activation_stats,
    parameters_problem,
)
from cnnlab.training.steering import Gate, Steering

EVAL_CHUNK = 1000


def check_run(config: TrainConfig, dataset: Dataset, budget: Budget | None = None) -> DataSplit:
    """Whether ``config`` can train on ``dataset``, before anything is built: the network against the
    data's classes and image shape and within ``budget`` at the run's batch size (``SpecError``), and
    the training and validation images (``ConfigError``). Returns the split."""
    budget = (budget or Budget()).at_batch(config.batch_size)
    config.spec.validate(num_classes=len(dataset.class_names), budget=budget)
    check_input_shape(config.spec.input_shape, (1, *dataset.train_images.shape[1:]), dataset.name)
    return split_training_set(
        len(dataset.train_images),
        validation=config.validation,
        limit=config.train_limit,
        seed=config.seed,
        batch_size=config.batch_size,
        dataset=dataset.name,
    )


class TrainingSession:
    """A training run. See the module docstring for how to drive and steer it.

    ``checkpoint``: continue from it (its metadata, written by ``save_checkpoint``, restores the whole
    run; a checkpoint without it only provides starting weights). ``checkpoint_path``: where to save a
    checkpoint automatically when the run ends (finished, stopped or diverged).

    Raises ``ConfigError`` before anything trains when the network does not fit the dataset (its input
    shape, its number of classes: a ``SpecError``), when the training set is empty or the validation
    split and ``train_limit`` leave fewer images than one batch (``split``), or when the checkpoint
    cannot be resumed from (``resume.ResumeError``, a ``ConfigError``: another network, or a
    metadata field or optimizer array that is damaged).
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
        # At the run's own batch size: SpecError names the layer before anything is built.
        self.split = check_run(config, self.dataset, budget)
        budget = (budget or Budget()).at_batch(config.batch_size)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.resumed_from: str | None = None
        self.clock = RunClock(clock)

        init_seq, data_seq = np.random.SeedSequence(config.seed).spawn(2)
        # One stream for weights and dropout, one for batch order and augmentation: changing the
        # architecture does not change which images come in which order.
        self.model_rng = np.random.default_rng(init_seq)
        self.data_rng = np.random.default_rng(data_seq)

        images, labels = self.dataset.train_images, self.dataset.train_labels
        # Batches are gathered through the index (no copy of the training set is made).
        self._train_index = self.split.train
        self._train_images, self._train_labels = images, labels
        self.n_train = self.split.n_train
        self.n_validation = self.split.n_validation
        # The validation images, then a training sample as large: evaluated together, in chunks of the
        # test set's size (the engine keeps its buffers per batch shape, so fewer shapes cost less).
        sample = self.split.train[: self.n_validation]
        rows = np.concatenate([self.split.validation, sample])
        self._eval_x, self._eval_y = to_float_nchw(images[rows]), labels[rows]
        self._val_y = self._eval_y[: self.n_validation]
        # Dead units are counted on the first training images: the sample's own, when it has enough.
        n = self.n_validation
        if n >= PROBE_IMAGES:
            self._probe_x = self._eval_x[n : n + PROBE_IMAGES]
        else:
            self._probe_x = to_float_nchw(images[self.split.train[:PROBE_IMAGES]])

        self.network = build(config.spec, self.model_rng, budget=budget)
        # Its processes start when the run does and end with it (``run``'s finally).
        self.parallel = WorkerPool(self.network, config.workers)
        self.steering = Steering({k: getattr(config, k) for k in LIVE_SETTINGS}, save=self._save_into)
        self.optimizer = build_optimizer(config, self.network, self.steering.settings)
        self._lr = LearningRate(config, self.n_train)
        self._augmentation = Augmentation()
        self.progress = Progress()
        self.history = RunHistory([name for name, _, _ in self.network.named_parameters()])
        self._cadence = Cadence(config.snapshot_every, config.snapshot_seconds)
        self._stats = LayerStatsMaker(self.clock.now)
        self.activation_stats: tuple = ()  # the latest ActivationStats, refreshed with the histograms
        self._good: GoodPoint | None = None  # see recovery
        self._started = False
        self._noted = False
        if checkpoint is not None:
            self._restore(checkpoint)

    # -- steering (any thread): see steering.Steering ------------------------------------------------
    def pause(self) -> None:
        """Pause before the next step (cancels steps still owed by ``step``)."""
        self.steering.pause()

    def resume(self) -> None:
        self.steering.resume()

    def step(self, batches: int = 1) -> None:
        """Train exactly ``batches`` more batches, then pause (a running session pauses after them)."""
        self.steering.step(batches)

    def step_epoch(self) -> None:
        """Train to the end of the current epoch, then pause."""
        self.steering.step_epoch()

    def stop(self) -> None:
        """End the run before the next step; the last snapshot has event "stopped"."""
        self.steering.stop()

    @property
    def paused(self) -> bool:
        return self.steering.paused

    @property
    def ended(self) -> bool:
        """True once ``run()`` has yielded its last snapshot (or was closed)."""
        return self.steering.ended

    @property
    def live(self) -> dict[str, Any]:
        """The live settings as they will be at the next step (pending changes included)."""
        return self.steering.live

    def set_live(self, **changes: Any) -> None:
        """Change live settings (``LIVE_SETTINGS``); they apply at the next step, without a reset.

        Raises ``ConfigError`` for an unknown setting or a value that cannot work.
        """
        self.steering.set_live(**changes)

    def request_checkpoint(self, path: str | Path) -> Future:
        """Save a checkpoint between steps; the future gives the path (or the error).

        From any thread. Before ``run()`` starts the request waits for its first step boundary; once the
        run has ended it is saved at once, in the calling thread (nothing trains any more).
        """
        return self.steering.request_checkpoint(path)

    # The counters most callers want.
    @property
    def step_count(self) -> int:
        return self.progress.step

    @property
    def epoch(self) -> int:
        return self.progress.epoch

    @property
    def images_seen(self) -> int:
        return self.progress.images_seen

    def current_lr(self) -> float:
        """The learning rate of the next step (base rate times the schedule)."""
        return self._lr.rate(self.steering.settings, self.progress.images_seen)

    # -- the loop (the training thread) -------------------------------------------------------------
    def run(self) -> Iterator[Snapshot]:
        """Train, yielding snapshots; see the module docstring. A session runs once."""
        if self._started:
            raise RuntimeError("this training session has already run; start a new one")
        self._started = True
        try:
            self.parallel.start()
            yield from self._loop()
        finally:
            self.parallel.close()
            self.clock.pause()
            for path, future in self.steering.finish():
                self._save_into(path, future)

    def _loop(self) -> Generator[Snapshot, None, None]:
        cfg = self.config
        self.clock.run()
        extra = {"resumed_from": self.resumed_from} if self.resumed_from else {}
        if (yield from self._emit(Event.STARTED, extra=extra)):
            return
        while self.progress.epoch < cfg.epochs:
            if self.progress.order is None:
                self._start_epoch()
            while self.progress.pos < len(self.progress.epoch_order()):
                gate = self.steering.gate(False, self._on_live_change)
                if gate is Gate.PAUSED:
                    self.clock.pause()
                    while gate is Gate.PAUSED:
                        yield from self._emit(Event.PAUSED, paused=True)
                        gate = self.steering.gate(True, self._on_live_change)
                    self.clock.run()
                if gate is Gate.STOP:
                    step = self.progress.step
                    message = f"Training stopped at step {step}. The network keeps what it learned."
                    yield from self._emit(Event.STOPPED, message=message, final=True)
                    return
                problem, rollback = self._train_one_batch()
                if problem:
                    yield self._diverged(problem, rollback)
                    return
                event = None
                if self._eval_due():
                    self._evaluate_validation()
                    event = Event.EVAL
                elif self._cadence.due(self.progress.step, self.clock.now()):
                    event = Event.STEP
                if event:
                    yield from self._emit(event)
            self._end_epoch()
            yield from self._emit(Event.EPOCH_END)
            self.steering.epoch_ended()
        accuracy = self.progress.test_accuracy
        result = f"test accuracy {accuracy:.2%}" if accuracy is not None else "done"
        message = f"Finished {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}: {result}."
        yield from self._emit(Event.FINISHED, message=message, final=True)

    def _on_live_change(self, applied: list[tuple[str, Any, Any]]) -> None:
        p = self.progress
        for key, old, new in applied:
            p.changes.append(Change(p.step, p.images_seen, key, old, new))
        sync_optimizer(self.optimizer, self.steering.settings)

    def _start_epoch(self) -> None:
        p = self.progress
        p.order_state = self.data_rng.bit_generator.state
        p.order = self.data_rng.permutation(self.n_train)
        p.pos = p.epoch_step = p.epoch_correct = p.epoch_seen = 0
        p.epoch_loss_sum = 0.0
        p.epoch_started = self.clock.elapsed()

    def _train_one_batch(self) -> tuple[str, bool]:
        """One optimizer step. Returns (problem, rollback): "" if all went well; else what went wrong,
        and whether the weights were already changed (then the last good point must come back)."""
        p, live = self.progress, self.steering.settings
        started = self.clock.step_started()
        idx = p.epoch_order()[p.pos : p.pos + int(live["batch_size"])]
        draws = self.data_rng.bit_generator.state, self.model_rng.bit_generator.state
        rows = self._train_index[idx]
        x = to_float_nchw(self._train_images[rows])
        if live["augment"]:
            x = self._augmentation(x, self.data_rng)
        y = self._train_labels[rows]
        lr = self.current_lr()
        self.optimizer.lr = lr
        loss, logits = self.parallel.compute_gradients(x, y, self.model_rng)
        problem = (
            f"The loss became {loss}"
            if not math.isfinite(loss)
            else parameters_problem(self.network, gradients=True)
        )
        if problem:
            # Nothing was updated: the last step's state stands, once this step's random draws are undone.
            self.data_rng.bit_generator.state, self.model_rng.bit_generator.state = draws
            return f"{problem} at step {p.step + 1}", False
        self.optimizer.step()
        problem = parameters_problem(self.network)
        if problem:
            return f"{problem} at step {p.step + 1}", True
        n = len(idx)
        p.pos += n
        p.epoch_step += 1
        p.step += 1
        p.images_seen += n
        p.epoch_correct += int(np.count_nonzero(logits.argmax(axis=1) == y))
        p.epoch_seen += n
        p.epoch_loss_sum += loss * n
        p.last_loss = loss
        smooth = p.smooth.update(loss)
        accuracy = p.epoch_correct / p.epoch_seen
        self.clock.step_done(started, n)
        self.history.steps.append(
            step=p.step,
            loss=loss,
            loss_smooth=smooth,
            train_accuracy=accuracy,
            lr=lr,
            images_seen=p.images_seen,
            elapsed=self.clock.elapsed(),
        )
        return "", False

    def _end_epoch(self) -> None:
        p = self.progress
        if self._val_y.size and p.last_eval_step != p.step:
            self._evaluate_validation()
        elapsed = self.clock.elapsed()
        loss, accuracy = self._evaluate_test()
        self.history.epochs.append(
            step=p.step,
            train_loss=p.epoch_loss_sum / max(p.epoch_seen, 1),
            train_accuracy=p.epoch_correct / max(p.epoch_seen, 1),
            test_accuracy=accuracy,
            seconds=elapsed - p.epoch_started,
            test_loss=loss,
            images_seen=p.images_seen,
            elapsed=elapsed,
        )
        p.epoch += 1
        p.order = None
        self.clock.break_interval()

    # -- evaluation ---------------------------------------------------------------------------------
    def _eval_due(self) -> bool:
        every = self.config.eval_every
        return bool(self._val_y.size and every and self.progress.step - self.progress.last_eval_step >= every)

    def _evaluate_validation(self) -> None:
        """The validation split, and a training sample of its size, both in evaluation mode."""
        p = self.progress
        classes, n = len(self.class_names), self.n_validation
        elapsed = self.clock.elapsed()
        logits = network_logits(self.parallel, self._eval_x, classes, EVAL_CHUNK)  # on every worker
        accuracy, loss, per_class, confusion = scores(logits[:n], self._val_y, classes)
        train_accuracy = scores(logits[n:], self._eval_y[n:], classes)[0]
        p.validation, p.by_class, p.last_eval_step = (accuracy, loss), (per_class, confusion), p.step
        self.history.evals.append(
            step=p.step,
            accuracy=accuracy,
            loss=loss,
            train_accuracy=train_accuracy,
            images_seen=p.images_seen,
            elapsed=elapsed,
        )
        self.clock.break_interval()

    def _evaluate_test(self) -> tuple[float, float]:
        accuracy, loss, per_class, confusion = evaluate_network(
            self.parallel,
            self.dataset.test_images,
            self.dataset.test_labels,
            len(self.class_names),
            EVAL_CHUNK,
        )
        self.progress.test_accuracy = accuracy
        self.progress.by_class = (per_class, confusion)
        return loss, accuracy

    # -- snapshots and divergence -------------------------------------------------------------------
    def _emit(
        self, event: Event, *, message: str = "", paused: bool = False, final: bool = False, extra=None
    ) -> Generator[Snapshot, None, bool]:
        """Yield a snapshot of ``event`` and keep it as the point to go back to. Returns True when the run
        must end (a final event, or weights that are bad from the start: then a "diverged" one)."""
        p = self.progress
        if event is Event.STARTED:
            problem = parameters_problem(self.network)
            if problem:
                yield self._diverged(f"{problem} at step {p.step}", rollback=True)
                return True
        full = event is not Event.STEP or self._stats.histograms_due()
        stats = self._stats.make(self.network, trained=p.step > 0, full=full)
        if full and event is not Event.PAUSED:
            self.activation_stats = activation_stats(self.network, self._probe_x)
        extra = dict(extra or {})
        if self.parallel.note and not self._noted:  # said once: one worker instead of several, and why
            extra["workers_note"] = self.parallel.note
            self._noted = True
        if final:
            self.clock.pause()
            self._save_final(extra)
        self.history.record_norms(p.step, stats)
        self._cadence.mark(p.step, self.clock.now())
        snapshot = make_snapshot(
            self, event, stats, message=message, running=not final, paused=paused, extra=extra
        )
        self._good = GoodPoint.capture(self, snapshot)
        yield snapshot
        return final

    def _diverged(self, what: str, rollback: bool) -> Snapshot:
        """The run's last snapshot after a NaN/inf or an explosion. Without ``rollback`` the state is
        still the last step's (nothing was updated); with it, the last good point comes back."""
        self.clock.pause()
        good = self._good
        if rollback and good is None:  # weights bad from the start (a checkpoint's): nothing to go back to
            stats = self._stats.make(self.network, trained=self.progress.step > 0, full=True)
            return make_snapshot(
                self, Event.DIVERGED, stats, message=f"{what}: training cannot start.", running=False
            )
        weights = grads = None
        if rollback and good is not None:  # (rollback without a good point returned above)
            good.restore(self)
            weights, grads = good.snapshot.weights, good.snapshot.grads
        else:
            grads = MappingProxyType({})  # the failed step's gradients belong to no step that counts
        lr = self.steering.settings["lr"]
        message = (
            f"{what} (learning rate {lr:g}): training diverged. The network was put back to its state after "
            f"step {self.progress.step}, so nothing learned before is lost. Try a lower learning rate, "
            f"such as {lr / 10:g}."
        )
        extra: dict[str, Any] = {"restored_step": self.progress.step}
        self._save_final(extra)
        self.activation_stats = activation_stats(self.network, self._probe_x)
        stats = self._stats.make(self.network, trained=self.progress.step > 0, full=True, grads=grads)
        return make_snapshot(
            self,
            Event.DIVERGED,
            stats,
            message=message,
            running=False,
            extra=extra,
            weights=weights,
            grads=grads,
        )

    def _save_final(self, extra: dict) -> None:
        if self.checkpoint_path is None:
            return
        try:
            extra["checkpoint"] = str(self.save_checkpoint(self.checkpoint_path))
        except WriteError as exc:  # a full disk must not turn a good run into a crash
            extra["checkpoint_error"] = str(exc)
        except (OSError, ValueError) as exc:
            extra["checkpoint_error"] = f"could not save {self.checkpoint_path}: {exc}"

    # -- checkpoints: see resume ---------------------------------------------------------------------
    def checkpoint_metadata(self) -> dict[str, Any]:
        """Everything besides weights and optimizer state that a resumed run needs (plain JSON data)."""
        return resume.checkpoint_metadata(self)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Save network, optimizer state and progress (call from the training thread, or when idle).

        Raises ``WriteError`` (an ``OSError``, one line) when the file cannot be written.
        """
        return save_checkpoint(path, self.network, self.optimizer, metadata=self.checkpoint_metadata())

    def _save_into(self, path: Path, future: Future) -> None:
        try:
            future.set_result(self.save_checkpoint(path))
        except Exception as exc:  # reported to the requester, never lost in the training thread
            future.set_exception(exc)
        finally:
            self.clock.break_interval()  # saving is not training time

    def _restore(self, checkpoint: Checkpoint) -> None:
        """Everything is checked before anything is changed (a refused checkpoint leaves no trace)."""
        resume.check_weights(checkpoint, self.network, self.config.spec)
        if checkpoint.path is not None:
            self.resumed_from = str(checkpoint.path)
        state = resume.read_resume_state(checkpoint, n_train=self.n_train)
        if state is None:  # weights only (a checkpoint from elsewhere): start a fresh run from them
            return
        kind = resume.optimizer_kind(checkpoint, default=self.optimizer.kind)
        if checkpoint.optimizer_state and kind == self.optimizer.kind:
            flat = resume.check_optimizer_state(checkpoint, checkpoint.optimizer_state, self.optimizer)
            self.optimizer.load_state_dict(flat)
        if state.run_id:
            self.run_id = state.run_id
        self.clock.base = state.elapsed
        self.clock.train_seconds = state.train_seconds
        self.steering.settings.update(state.live)
        sync_optimizer(self.optimizer, self.steering.settings)
        self.data_rng.bit_generator.state = state.data_rng
        self.model_rng.bit_generator.state = state.model_rng
        p = state.progress
        if p.order_state is not None:  # re-draw the interrupted epoch's order, then continue where it was
            order_rng = np.random.default_rng()
            order_rng.bit_generator.state = p.order_state
            p.order = order_rng.permutation(self.n_train)
        self.progress = p
        self.history.load(state.history)
