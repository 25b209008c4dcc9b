"""Data-parallel training: each step's batch is split across worker processes.

Why processes: measured on a 2-core machine, Python threads splitting the seed net's batch gained 1.2x
at best (the GIL changes hands between its many small NumPy calls), while two processes each running
one-thread BLAS scale to about 2x.

How: the calling process is worker 0 and trains its share on the session's own network; workers 1 to
N-1 are processes started once per run, with the spawn start method (the one that behaves the same on
every platform and in the frozen bundle), each with its own copy of the network and one BLAS thread.
The weights, the batch and every worker's gradients travel through shared memory
(``multiprocessing.shared_memory``): while the pool runs, the calling process's network keeps its
weights in the shared segment (the optimizer updates them there), every worker's network computes on
them and writes its gradients straight into its slot (their arrays are views of the segments), so
nothing is copied into or out of a worker at a step beyond its images' losses and logits. A pipe per
worker carries only "go" and "done", and each side polls it briefly before blocking (``SPIN_SECONDS``).
The gradients are added in worker order, so a run is bit-identical for a given seed and worker count,
and equals a one-worker run within float32 rounding (another order of summation; on the seed net at
batch 64, two workers cut the batch where its micro-batches are cut anyway).

Randomness: when the network has Dropout, the session's model generator draws one seed per worker at
every step, and each worker's masks come from a generator made from its seed: reproducible for a
given worker count (one worker keeps today's draws exactly).

Not split: a network with a layer whose training couples the images of a batch other than Dropout
(BatchNorm's statistics) trains on one worker, and so does a run whose processes cannot start; then
``note`` says why, in one line.

Clean-up: ``close()`` (also at garbage collection and at interpreter exit, through ``weakref.finalize``)
asks the workers to stop, terminates any that do not, and unlinks every shared-memory segment. Workers
ignore SIGINT (the terminal sends Ctrl+C to the whole process group: the session decides) and leave on
their own when their pipe closes, so a parent that dies abruptly leaves no process behind.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import time
import uuid
import weakref
from multiprocessing import shared_memory

import numpy as np

from cnnlab.engine import Budget, NetSpec, build
from cnnlab.engine.layers import Dropout
from cnnlab.training.config import MAX_WORKERS

START_TIMEOUT = 120.0  # seconds a worker may take to start (imports on a busy machine are slow)
STEP_TIMEOUT = 600.0  # seconds a worker may take for its share of one step before it counts as lost
SEGMENT_PREFIX = "cnnlab_"
# How long a process waiting for the other side polls its pipe before it blocks. Measured on the seed
# net at batch 64 on 2 idle cores: a worker that slept in the kernel between steps took 1.20 ms for
# its 32 images against 0.92 ms in a tight loop (a core woken from idle starts slow and cold), and
# blocking on both sides held two workers to 1.2x one. The gap a worker waits through is the calling
# process's serial part of a step (the optimizer, the next batch), well under this on the small nets
# where it matters; longer waits (evaluation, the GUI between runs) sleep as before.
SPIN_SECONDS = 0.002
ALIGN = 64  # bytes: each array in a shared segment starts on a cache line


class WorkerFailure(RuntimeError):
    """A worker process could not start or did not finish its share (the message says which, why)."""


def idle_cores(cores: int | None = None, load: float | None = None) -> int:
    """The cores nobody is using: the machine's (this process's affinity) minus the 1-minute load
    average, rounded, at least 1 and at most the machine's count."""
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): assume an idle machine
            load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def default_workers() -> int:
    """The worker count a run gets when none is given: ``CNNLAB_WORKERS`` if set (the test suite sets it
    to 1, so results never depend on the machine's load), else ``idle_cores()``."""
    given = os.environ.get("CNNLAB_WORKERS", "").strip()
    if given:
        try:
            value = int(given)
        except ValueError:
            value = 0
        if value >= 1:
            return min(value, MAX_WORKERS)
    return idle_cores()


def shares(n: int, workers: int) -> list[tuple[int, int]]:
    """How a batch of ``n`` images is split: [(start, stop), ...] for each worker in order, sizes
    differing by at most one (a worker may get nothing when ``n < workers``)."""
    base, extra = divmod(n, workers)
    out, start = [], 0
    for i in range(workers):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def coupled_layer(network) -> str | None:
    """The first layer whose training couples a batch's images in a way a split would change (not
    Dropout, whose draws are seeded per worker), or None."""
    for layer in network.layers:
        if not layer.splittable and not isinstance(layer, Dropout):
            return layer.name
    return None


class WorkerPool:
    """A network's ``compute_gradients`` and evaluation ``forward``, each batch split across ``workers``
    processes (see the module).

    ``workers``: the count asked for; ``active``: the count in use (1 after a fall-back, with ``note``
    saying why). ``start()`` launches the processes without waiting for them; the first step waits.
    """

    def __init__(self, network, workers: int, *, start_timeout: float = START_TIMEOUT) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
        self.network = network
        self.workers = workers
        self.active = workers
        self.note = ""
        self.start_timeout = start_timeout
        self._dropouts = [layer for layer in network.layers if isinstance(layer, Dropout)]
        self._classes = network.num_classes  # asked once: the spec validates itself to answer
        self._procs: list = []
        self._conns: list = []
        self._waiters: list[Waiter] = []
        self._segments: list[shared_memory.SharedMemory] = []
        self._batch: shared_memory.SharedMemory | None = None
        self._capacity = 0
        self._layout: BatchLayout | None = None
        self._arrays: list[np.ndarray] = []
        self._ready = False
        self._finalizer: weakref.finalize | None = None
        self._bound: list[tuple] = []  # (layer, key, view): the network's weights living in shared memory
        self._slots: list[list[np.ndarray]] = []
        if workers > 1:
            coupled = coupled_layer(network)
            if coupled is not None:
                self._fall_back(f"{coupled} couples the images of a batch (its statistics)")
            elif network.spec is None:
                self._fall_back("the network has no spec to copy it from")

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the worker processes (once; returns without waiting for them to be ready)."""
        if self.active <= 1 or self._procs:
            return
        try:
            self._start()
        except (OSError, RuntimeError, ValueError, ImportError) as exc:
            self._fall_back(f"the worker processes could not start: {_one_line(exc)}")

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        params = [p for _, p, _ in self.network.named_parameters()]
        dtype = self.network.dtype
        size = span(params)
        self._finalizer = weakref.finalize(self, _shut_down, self._procs, self._conns, self._segments)
        weights = self._new_segment(size)
        gradients = self._new_segment(size * (self.active - 1))
        self._bind_weights(_views(weights.buf, params, 0))
        self._slots = [_views(gradients.buf, params, i * size) for i in range(self.active - 1)]
        spec = self.network.spec.to_dict()
        for slot in range(self.active - 1):
            here, there = context.Pipe()
            proc = context.Process(
                target=serve,
                args=(there, spec, dtype.str, weights.name, gradients.name, slot),
                name=f"cnnlab-worker-{slot + 1}",
                daemon=True,  # multiprocessing ends it at exit even if nothing else does
            )
            self._conns.append(here)
            self._waiters.append(Waiter(here))
            try:
                proc.start()
            finally:
                there.close()  # the parent's copy: without closing it, a dead worker's pipe never ends
            self._procs.append(proc)

    def _bind_weights(self, shared: list[np.ndarray]) -> None:
        """Move the network's weights into the shared weights segment: each layer's array becomes its
        view there (same values), so the optimizer's in-place updates are what every worker reads,
        with no copy at each step (mnist99: 1.7 MB a step)."""
        views = iter(shared)
        for layer in self.network.layers:
            for key, param in layer.params.items():
                view = next(views)
                np.copyto(view, param)
                layer.params[key] = view
                self._bound.append((layer, key, view))

    def _unbind_weights(self) -> None:
        """Give the network private copies of its weights again (before the segment goes)."""
        for layer, key, view in self._bound:
            if layer.params.get(key) is view:
                layer.params[key] = view.copy()
        self._bound = []

    def close(self) -> None:
        """Stop the workers and free the shared memory (safe to call more than once); the network keeps
        its weights, in its own memory again."""
        self._unbind_weights()
        self._slots = []  # views of a segment: let go before it is closed
        self._waiters = []
        self._batch, self._layout, self._arrays = None, None, []
        if self._finalizer is not None:
            self._finalizer()

    def _new_segment(self, size: int) -> shared_memory.SharedMemory:
        name = SEGMENT_PREFIX + uuid.uuid4().hex[:16]
        segment = shared_memory.SharedMemory(name=name, create=True, size=max(size, 1))
        self._segments.append(segment)
        return segment

    def _fall_back(self, reason: str) -> None:
        self.close()
        self.note = f"{reason}: training on one worker instead of {self.workers}"
        self.active = 1

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and the curious)."""
        return [p.pid for p in self._procs if p.pid is not None]

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self._segments]

    # -- one step -----------------------------------------------------------------------------------
    def compute_gradients(
        self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[float, np.ndarray]:
        """The network's ``compute_gradients(x, labels)`` (mean loss, logits (N, K)), computed in
        parts; ``rng`` draws the workers' dropout seeds (the session's model generator). The gradients
        land in the network's ``grads``. A worker that fails makes this step and the rest of the run
        fall back to one worker (``note``)."""
        if not self._ready_for_work(len(x)):
            return self.network.compute_gradients(x, labels)
        x = np.ascontiguousarray(x, dtype=self.network.dtype)
        labels = np.asarray(labels)
        seeds = None
        if self._dropouts:
            seeds = (rng if rng is not None else np.random.default_rng()).integers(0, 2**63, self.active)
        try:
            return self._step(x, labels, seeds)
        except (WorkerFailure, OSError) as exc:  # OSError: a larger batch segment (shared memory full)
            self._fall_back(_reason(exc))
            return self.network.compute_gradients(x, labels)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The network's ``forward``: in evaluation mode, logits (N, K) computed in parts across the
        workers (the session's evaluations); a training-mode pass, or a small batch, stays whole."""
        if training or len(x) < 2 * self.active or not self._ready_for_work(len(x)):
            return self.network.forward(x, training)
        x = np.ascontiguousarray(x, dtype=self.network.dtype)
        try:
            own_stop, busy, (_, _, logits_out, _) = self._hand_out("infer", x, None, None)
            own = self.network.forward(x[:own_stop], False)
            for slot in busy:
                self._receive(slot, STEP_TIMEOUT, "done")
        except (WorkerFailure, OSError) as exc:
            self._fall_back(_reason(exc))
            return self.network.forward(x, training)
        return np.concatenate([own, logits_out[own_stop : len(x)]])

    def _ready_for_work(self, n: int) -> bool:
        """Whether the workers take part (started and ready; a failure falls back here)."""
        if self.active <= 1 or n < 2:
            return False
        if not self._procs:
            self.start()
        if self.active > 1 and not self._ready:
            try:
                self._wait_ready()
            except WorkerFailure as exc:
                self._fall_back(str(exc))
        return self.active > 1

    def _hand_out(self, kind: str, x, labels, seeds) -> tuple[int, list[int], list[np.ndarray]]:
        """The workers' images into shared memory (the weights live there: ``_bind_weights``), then each
        worker its share of ``x``: returns (where the calling process's share ends, the busy workers,
        the batch's arrays)."""
        n = len(x)
        for layer, key, view in self._bound:
            param = layer.params[key]
            if param is not view:  # replaced since (a new array put in its place): take it in
                if param.shape != view.shape or param.dtype != view.dtype:
                    raise WorkerFailure(f"{layer.name}.{key} changed shape or type during the run")
                np.copyto(view, param)
                layer.params[key] = view
        batch, layout, arrays = self._batch_for(n, x.shape[1:], self._classes)
        parts = shares(n, self.active)
        own_stop = parts[0][1]
        arrays[0][own_stop:n] = x[own_stop:]
        if labels is not None:
            arrays[1][own_stop:n] = labels[own_stop:]
        busy = []
        for slot, (start, stop) in enumerate(parts[1:]):
            if stop > start:
                seed = None if seeds is None else int(seeds[slot + 1])
                self._send(slot, (kind, batch.name, layout.key, start, stop, n, seed))
                busy.append(slot)
        return own_stop, busy, arrays

    def _step(self, x, labels, seeds) -> tuple[float, np.ndarray]:
        n = len(x)
        own_stop, busy, (_, _, logits_out, losses_out) = self._hand_out("step", x, labels, seeds)
        # The calling process always has a share (the first one is never the smaller).
        own = self._own_share(x[:own_stop], labels[:own_stop], n, None if seeds is None else int(seeds[0]))
        for slot in busy:
            self._receive(slot, STEP_TIMEOUT, "done")
        grads = [g for _, _, g in self.network.named_parameters()]
        for slot in busy:
            for g, part in zip(grads, self._slots[slot], strict=True):
                g += part
        losses = np.concatenate([own[0], losses_out[own_stop:n]])
        logits = np.concatenate([own[1], logits_out[own_stop:n]])
        return float(losses.mean()), logits

    def _own_share(self, x, labels, total, seed):
        kept = [layer.rng for layer in self._dropouts]
        if seed is not None:
            rng = np.random.default_rng(seed)
            for layer in self._dropouts:
                layer.rng = rng
        try:
            return self.network.part_gradients(x, labels, total)
        finally:
            for layer, old in zip(self._dropouts, kept, strict=True):
                layer.rng = old

    def _batch_for(self, n: int, image_shape, classes: int):
        """The shared batch segment, its layout and arrays: made larger when a batch does not fit (the
        batch size is live), laid out once per segment and image shape."""
        image_shape = tuple(image_shape)
        if self._batch is None or n > self._capacity:
            if self._batch is not None:
                old = self._batch
                self._batch, self._layout, self._arrays = None, None, []
                self._segments.remove(old)
                _free(old)  # the workers attach to the new one by name at their next step
            capacity = max(n, 1)
            size = batch_layout(capacity, image_shape, classes, self.network.dtype).size
            self._batch, self._capacity = self._new_segment(size), capacity
        layout = self._layout
        if layout is None or layout.image_shape != image_shape or layout.classes != classes:
            layout = batch_layout(self._capacity, image_shape, classes, self.network.dtype)
            if layout.size > self._batch.size:  # another image shape: a segment of its own
                self._capacity = 0
                return self._batch_for(n, image_shape, classes)
            self._layout, self._arrays = layout, layout.arrays(self._batch.buf)
        return self._batch, layout, self._arrays

    # -- talking to the workers ---------------------------------------------------------------------
    def _wait_ready(self) -> None:
        for slot in range(len(self._procs)):
            self._receive(slot, self.start_timeout, "ready")
        self._ready = True

    def _send(self, slot: int, message: tuple) -> None:
        try:
            self._conns[slot].send(message)
        except (OSError, ValueError) as exc:
            proc = self._procs[slot]
            proc.join(timeout=1.0)  # a closed pipe is most often a worker that ended: say so
            if proc.exitcode is not None:
                raise WorkerFailure(f"worker {slot + 1} ended (exit code {proc.exitcode})") from None
            raise WorkerFailure(f"worker {slot + 1} cannot be reached: {_one_line(exc)}") from None

    def _receive(self, slot: int, timeout: float, expected: str) -> tuple:
        conn, proc = self._conns[slot], self._procs[slot]
        waited = 0.0
        try:
            while not self._waiters[slot].ready(1.0):
                waited += 1.0
                if not proc.is_alive():
                    raise WorkerFailure(f"worker {slot + 1} ended (exit code {proc.exitcode})")
                if waited >= timeout:
                    raise WorkerFailure(f"worker {slot + 1} did not answer within {timeout:g} s")
            message = conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerFailure(f"worker {slot + 1} ended ({_one_line(exc) or 'its pipe closed'})") from None
        if message[0] == "error":
            raise WorkerFailure(f"worker {slot + 1} failed: {message[1]}")
        if message[0] != expected:
            raise WorkerFailure(f"worker {slot + 1} said {message[0]!r}, not {expected!r}")
        return message


class BatchLayout:
    """Where a batch of ``capacity`` images lies in the shared batch segment: the images, their labels
    (int64), the logits (capacity, K) and each image's loss, each 64-byte aligned."""

    def __init__(self, capacity: int, image_shape, classes: int, dtype) -> None:
        self.capacity, self.image_shape, self.classes = capacity, tuple(image_shape), classes
        self.dtype = np.dtype(dtype)
        self.fields = []
        offset = 0
        for shape, kind in (
            ((capacity, *self.image_shape), self.dtype),
            ((capacity,), np.dtype(np.int64)),
            ((capacity, classes), self.dtype),
            ((capacity,), self.dtype),
        ):
            self.fields.append((offset, shape, kind))
            offset += -(-int(np.prod(shape)) * kind.itemsize // 64) * 64
        self.size = offset
        self.key = (capacity, self.image_shape, classes)  # what a worker needs to lay it out alike

    def arrays(self, buffer) -> list[np.ndarray]:
        return [np.ndarray(shape, kind, buffer=buffer, offset=offset) for offset, shape, kind in self.fields]


def batch_layout(capacity: int, image_shape, classes: int, dtype) -> BatchLayout:
    return BatchLayout(capacity, image_shape, classes, dtype)


def span(params: list[np.ndarray]) -> int:
    """Bytes that ``_views`` of ``params`` take in a segment (each array cache-line aligned)."""
    return sum(_aligned(p.nbytes) for p in params)


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _views(buffer, params: list[np.ndarray], start: int) -> list[np.ndarray]:
    """Arrays shaped like ``params``, one after the other in ``buffer`` from byte ``start`` (a multiple
    of ``ALIGN``), each starting on a cache line."""
    views, offset = [], start
    for p in params:
        views.append(np.ndarray(p.shape, p.dtype, buffer=buffer, offset=offset))
        offset += _aligned(p.nbytes)
    return views


class Waiter:
    """Waits for a message on one connection: polls it without sleeping for up to ``spin`` seconds,
    then blocks (see ``SPIN_SECONDS``). The pipe stays the only signal, so no wake-up can be lost."""

    def __init__(self, conn, spin: float = SPIN_SECONDS) -> None:
        self.conn, self.spin = conn, spin
        self._poller = None
        if hasattr(select, "poll"):  # one poll object, asked with timeout 0: a single cheap system call
            self._poller = select.poll()
            self._poller.register(conn.fileno(), select.POLLIN)

    def ready(self, timeout: float) -> bool:
        """Whether a message (or the end of the pipe) is there within ``timeout`` seconds."""
        if self._poll_now():
            return True
        end = time.perf_counter() + min(self.spin, timeout)
        while time.perf_counter() < end:
            if self._poll_now():
                return True
        rest = timeout - self.spin
        return rest > 0 and self.conn.poll(rest)

    def _poll_now(self) -> bool:
        if self._poller is None:
            return self.conn.poll()
        return bool(self._poller.poll(0))


def _close(segment: shared_memory.SharedMemory) -> None:
    # A view of it still alive (an interrupted step's frame): the mapping goes with the last view.
    with contextlib.suppress(BufferError):
        segment.close()


def _free(segment: shared_memory.SharedMemory) -> None:
    _close(segment)
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


def _shut_down(procs: list, conns: list, segments: list) -> None:
    """Ask every worker to stop, wait a little, terminate the rest; free every segment."""
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("stop",))
    for proc in procs:
        proc.join(timeout=5.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
    for conn in conns:
        conn.close()
    for segment in segments:
        _free(segment)
    procs.clear()
    conns.clear()
    segments.clear()


def _reason(exc: Exception) -> str:
    if isinstance(exc, WorkerFailure):
        return str(exc)
    return f"shared memory could not be had: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# -- the worker process ------------------------------------------------------------------------------
def serve(conn, spec: dict, dtype: str, weights_name: str, gradients_name: str, slot: int) -> None:
    """A worker's life: build the network on the shared weights, then for each "step" message compute
    its share of the batch, its gradients landing in its slot, until "stop" or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the session's to handle
    attached: list[shared_memory.SharedMemory] = []
    try:
        try:
            from cnnlab.training.blas import limit_blas_threads

            limit_blas_threads(1)
            network = build(
                NetSpec.from_dict(spec), np.random.default_rng(0), np.dtype(dtype), Budget.unlimited()
            )
            weights = _attach(weights_name, attached)
            gradients = _attach(gradients_name, attached)
            share_arrays(network, weights.buf, gradients.buf, slot)
            dropouts = [layer for layer in network.layers if isinstance(layer, Dropout)]
            waiter = Waiter(conn)
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {_one_line(exc)}"))
            return
        conn.send(("ready", os.getpid()))
        batch = None
        arrays: list[np.ndarray] = []
        key = None
        while True:
            try:
                while not waiter.ready(3600.0):
                    pass
                message = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            if message[0] not in ("step", "infer"):
                return
            kind, name, layout_key, start, stop, total, seed = message
            try:
                if batch is None or batch.name != name:
                    arrays, key = [], None
                    if batch is not None:
                        attached.remove(batch)
                        _close(batch)
                    batch = _attach(name, attached)
                if key != layout_key:
                    capacity, image_shape, classes = layout_key
                    arrays = batch_layout(capacity, image_shape, classes, np.dtype(dtype)).arrays(batch.buf)
                    key = layout_key
                images, marks, logits_out, losses_out = arrays
                if kind == "infer":
                    logits_out[start:stop] = network.forward(images[start:stop], training=False)
                else:
                    if seed is not None:
                        rng = np.random.default_rng(seed)
                        for layer in dropouts:
                            layer.rng = rng
                    losses, logits = network.part_gradients(images[start:stop], marks[start:stop], total)
                    losses_out[start:stop] = losses
                    logits_out[start:stop] = logits
                del images, marks, logits_out, losses_out
                conn.send(("done",))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {_one_line(exc)}"))
    finally:
        for segment in attached:  # views still alive keep their mapping until the process ends
            _close(segment)


def share_arrays(network, weights, gradients, slot: int) -> None:
    """Make a worker's network compute on the shared weights and write its gradients straight into its
    slot of the gradients segment (layers read ``params`` and fill ``grads`` in place at every pass):
    no copy in or out at each step."""
    params = [p for _, p, _ in network.named_parameters()]
    shared = iter(_views(weights, params, 0))
    own = iter(_views(gradients, params, slot * span(params)))
    for layer in network.layers:
        for key in layer.params:
            layer.params[key] = next(shared)
            layer.grads[key] = next(own)


def _attach(name: str, attached: list) -> shared_memory.SharedMemory:
    segment = shared_memory.SharedMemory(name=name)
    attached.append(segment)
    return segment
