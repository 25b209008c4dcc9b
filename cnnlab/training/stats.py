"""Statistics of a run while it trains: its clock and throughput, the smoothed loss, each parameter
array's norms and histograms (with the check that the weights are still healthy), and how many of each
ReLU layer's units are dead."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np

from cnnlab.engine import Network
from cnnlab.training.snapshot import ActivationStats, LayerStats, frozen

# Weights whose norm passes this have exploded even if they are still finite.
EXPLODED_NORM = 1e6
HIST_BINS = 30
# Histograms of a large layer cost more than everything else in a snapshot; during training they are
# refreshed at most this often (every other event refreshes them).
HIST_SECONDS = 1.0
# Images per second are averaged over about this many seconds of training.
RATE_WINDOW = 2.0
# Dead units are counted on this many training images (a fixed batch, in evaluation mode), this many at a
# time (the training batch's usual size: the layers' buffers for it exist already).
PROBE_IMAGES = 128
PROBE_CHUNK = 32
# The layer types whose units can die (zero for every input, so no gradient flows back through them).
DYING_KINDS = ("relu",)


class Smoother:
    """Exponential moving average with bias correction, so the first values are not pulled to 0."""

    def __init__(self, weight: float = 0.95, avg: float = 0.0, count: int = 0) -> None:
        self.weight, self._avg, self._count = weight, avg, count

    def update(self, value: float) -> float:
        self._count += 1
        self._avg = self.weight * self._avg + (1 - self.weight) * value
        return self.value

    @property
    def count(self) -> int:
        return self._count

    @property
    def value(self) -> float:
        if self._count == 0:
            return math.nan
        return self._avg / (1 - self.weight**self._count)

    def copy(self) -> Smoother:
        return Smoother(self.weight, self._avg, self._count)

    def state(self) -> dict:
        return {"avg": self._avg, "count": self._count, "weight": self.weight}

    def load(self, state: dict) -> None:
        """Put back a ``state()`` (checked by the caller: see ``resume``)."""
        self._avg, self._count, self.weight = state["avg"], state["count"], state["weight"]


class Throughput:
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


class RunClock:
    """Wall-clock seconds of the run while it is not paused, and the throughput of recent steps.

    A step's interval runs from its start to the next step's start, so the time between two steps (a
    snapshot, the consumer's work) counts as training time; pauses, evaluations and checkpoint saves
    break the interval (``break_interval``) and do not. ``train_seconds`` adds up the steps themselves
    (forward, backward, update): images seen over it is the training speed, whatever else the run did.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.now = clock
        self.base = 0.0  # seconds run before the current stretch (or before a resume)
        self._running_since: float | None = None
        self._meter = Throughput()
        self._tick: float | None = None  # start of the previous step, None after a break
        self._tick_images = 0
        self._step_rate: float | None = None  # the last step's own rate, until the meter has intervals
        self.train_seconds = 0.0

    def elapsed(self) -> float:
        since = self._running_since
        return self.base + (self.now() - since if since is not None else 0.0)

    def run(self) -> None:
        if self._running_since is None:
            self._running_since = self.now()

    def pause(self) -> None:
        if self._running_since is not None:
            self.base += self.now() - self._running_since
            self._running_since = None
        self._tick = None

    def break_interval(self) -> None:
        self._tick = None

    def step_started(self) -> float:
        started = self.now()
        if self._tick is not None:
            self._meter.add(self._tick_images, started - self._tick)
        return started

    def step_done(self, started: float, images: int) -> None:
        self._tick, self._tick_images = started, images
        took = self.now() - started
        self.train_seconds += took
        self._step_rate = images / max(took, 1e-9)

    @property
    def rate(self) -> float:
        """Images per second recently (0.0 before the first step)."""
        return self._meter.rate or self._step_rate or 0.0


def norm(array: np.ndarray) -> float:
    flat = array.ravel()
    # In the array's own precision: float32 BLAS is fast, and a norm too large for it has exploded anyway.
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.dot(flat, flat)))


def parameters_problem(network: Network, *, gradients: bool = False) -> str:
    """What is wrong with the network's weights (or, ``gradients``, its gradients), or "" if nothing.

    One BLAS dot product per array: cheap enough to run after every step, so a run that goes bad is
    caught at the step where it happens. Gradients are only checked for NaN and infinities.
    """
    what = "gradients" if gradients else "weights"
    for name, param, grad in network.named_parameters():
        value = norm(grad if gradients else param)
        if not math.isfinite(value):
            return f"The {what} of {name} became too large to represent (NaN or infinite)"
        if not gradients and value > EXPLODED_NORM:
            return f"The weights of {name} exploded (norm {value:.3g})"
    return ""


class LayerStatsMaker:
    """Per-parameter norms for every snapshot, histograms at most every ``HIST_SECONDS`` in training."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._hists: dict[str, tuple[tuple, tuple]] = {}
        self._hist_time = -math.inf

    def histograms_due(self) -> bool:
        return self._clock() - self._hist_time >= HIST_SECONDS

    def make(
        self, network: Network, *, trained: bool, full: bool, grads: Mapping[str, np.ndarray] | None = None
    ) -> tuple[LayerStats, ...]:
        """Norms of every parameter and its gradient; histograms only when ``full`` (or first seen).

        ``trained`` False: no gradient yet (norm 0, empty histogram). ``grads``: use these gradients
        instead of the network's (a restored state's); an empty mapping means none are known.
        """
        stats = []
        for name, param, grad in network.named_parameters():
            if grads is not None:
                grad = grads.get(name)
            has_grad = trained and grad is not None
            wn = norm(param)
            gn = norm(grad) if has_grad else 0.0
            hists = self._hists.get(name)
            if full or hists is None:
                hists = (histogram(param, wn), histogram(grad, gn) if has_grad else empty_histogram())
                self._hists[name] = hists
            stats.append(LayerStats(name, wn, gn, *hists))
        if full:
            self._hist_time = self._clock()
        return tuple(stats)


def histogram(array: np.ndarray, norm_value: float) -> tuple[np.ndarray, np.ndarray]:
    """(counts (HIST_BINS,), edges (HIST_BINS + 1,)), read-only; empty when ``norm_value`` is not finite."""
    if not math.isfinite(norm_value):
        return empty_histogram()
    lo, hi = float(array.min()), float(array.max())
    spread = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    # Edges in float64: float32 ones collapse when values differ by a few ulps (a bias after one step).
    lo, hi = np.float64(lo), np.float64(lo + spread)
    counts, edges = np.histogram(array, bins=HIST_BINS, range=(lo, hi))
    counts.flags.writeable = False
    edges.flags.writeable = False
    return counts, edges


def empty_histogram() -> tuple[np.ndarray, np.ndarray]:
    return frozen(np.zeros(HIST_BINS, dtype=np.int64)), frozen(np.zeros(HIST_BINS + 1))


def activation_stats(network: Network, probe: np.ndarray) -> tuple[ActivationStats, ...]:
    """Dead and zero shares of every ReLU layer's output on ``probe`` (N, C, H, W) float images.

    Runs the network layer by layer in evaluation mode (``Network.activations``), ``PROBE_CHUNK``
    images at a time: the layers keep buffers sized by what they last saw, and a session outlives its
    run in the app, so the probe must not leave large ones behind. Their caches are overwritten, which
    is harmless between two training steps.
    """
    kinds = [layer for layer in network.layers if layer.kind in DYING_KINDS]
    if not len(probe) or not kinds:
        return ()
    alive: dict[str, np.ndarray] = {}
    zeros: dict[str, int] = {}
    total: dict[str, int] = {}
    for start in range(0, len(probe), PROBE_CHUNK):
        outputs = dict(network.activations(probe[start : start + PROBE_CHUNK]))
        for layer in kinds:
            active = outputs[layer.name] > 0  # (N, C, H, W) or (N, F): batch first
            # A unit is a channel (all its positions) or a feature: alive if it fires anywhere in the batch.
            fired = active.any(axis=tuple(i for i in range(active.ndim) if i != 1))
            alive[layer.name] = fired | alive.get(layer.name, False)
            zeros[layer.name] = zeros.get(layer.name, 0) + int(active.size - np.count_nonzero(active))
            total[layer.name] = total.get(layer.name, 0) + int(active.size)
    return tuple(
        ActivationStats(
            name=layer.name,
            kind=layer.kind,
            units=int(alive[layer.name].size),
            dead_fraction=float(1.0 - alive[layer.name].mean()),
            zero_fraction=zeros[layer.name] / total[layer.name],
        )
        for layer in kinds
    )
