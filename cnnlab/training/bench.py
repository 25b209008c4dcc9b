"""``cnnlab bench``: how fast the engine trains and infers, printed as figures (never asserted in tests).

Training throughput counts a whole optimizer step (forward, loss, backward, SGD-momentum update).
Every engine measured for one case (a net, a mode, a batch size) runs in the same process, in turns:
round after round, each engine gets a block of time, so whatever else the machine is doing (its speed
drifted up to 2x from minute to minute where this was written) slows all of them alike. A round's
figure is the median of the block's timed calls; a measurement reports the median and the range over
its rounds, and its ratio to PyTorch at one thread is taken round by round, within the same minute.

Engines: ``cnnlab`` (the engine, one BLAS thread per worker, at one worker and at every core:
``training.parallel``; an evaluation batch is split from two images per worker), ``numpy-reference`` (a
careful plain NumPy seed net, ``training.bench_reference``: the yardstick the engine must beat) and,
with ``--torch``, ``torch`` (PyTorch eager, imported only then, at one thread and at every core).

With ``--ceiling``, each training case at several workers also gets ``independent``: that many
processes, each training its own copy of the net on its share of the batch with no communication at
all, in rounds against one process training on the whole batch. Data-parallel training cannot beat
that figure on the machine (its workers do the same arithmetic and also wait for each other), so it
says how much of a shortfall is the lab's and how much the machine's (cores that slow each other
down: on the 2-vCPU machine this was written on, the seed net's 32 images took 1.12x as long while the
other core trained too, measured in alternating blocks).
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cnnlab.engine import SGD, NetSpec, build, load_preset
from cnnlab.training.bench_reference import SeedNetReference
from cnnlab.training.parallel import WorkerPool, shares

REFERENCE_NETS = ("seed",)  # the presets the careful NumPy reference implements


@dataclass
class Measurement:
    """One engine's figures for one case. ``workers`` is set for NumPy engines (cnnlab, the
    reference), ``threads`` for PyTorch; ``ms`` is the time per batch."""

    net: str
    mode: str  # "train" or "infer"
    batch: int
    engine: str  # "cnnlab", "numpy-reference" or "torch"
    images_per_s: float
    images_per_s_range: tuple[float, float]
    ms: float
    ms_range: tuple[float, float]
    rounds: int
    workers: int | None = None
    threads: int | None = None
    vs_torch: float | None = None  # images/s over PyTorch's at one thread, median of the rounds
    vs_torch_range: tuple[float, float] | None = None
    vs_one_worker: float | None = None  # cnnlab at several workers: images/s over one worker's, by round
    vs_one_worker_range: tuple[float, float] | None = None
    blas: str | None = None

    def row(self) -> dict:
        """The JSON object printed for it (keys left out where they do not apply)."""
        row = {
            "net": self.net,
            "mode": self.mode,
            "batch": self.batch,
            "engine": self.engine,
            "workers" if self.threads is None else "threads": self.workers
            if self.threads is None
            else self.threads,
            "images_per_s": round(self.images_per_s, 1),
            "images_per_s_range": [round(v, 1) for v in self.images_per_s_range],
            "ms": round(self.ms, 4),
            "ms_range": [round(v, 4) for v in self.ms_range],
            "rounds": self.rounds,
        }
        if self.vs_torch is not None:
            row["vs_torch"] = round(self.vs_torch, 3)
            row["vs_torch_range"] = [round(v, 3) for v in self.vs_torch_range or ()]
        if self.vs_one_worker is not None:
            row["vs_one_worker"] = round(self.vs_one_worker, 3)
            row["vs_one_worker_range"] = [round(v, 3) for v in self.vs_one_worker_range or ()]
        if self.blas is not None:
            row["blas"] = self.blas
        return row


@dataclass
class Contender:
    """An engine ready to run one case: ``call`` does one step (or one forward pass)."""

    engine: str
    call: Callable[[], object]
    workers: int | None = None
    threads: int | None = None
    before: Callable[[], None] | None = None  # run before each of its blocks (PyTorch's thread count)
    after: Callable[[], None] | None = None  # and after
    close: Callable[[], None] | None = None  # once measured (a worker pool's processes)
    times: list[float] = field(default_factory=list)  # seconds per call, one per round


def blas_report() -> list[dict]:
    """Which BLAS library and kernel NumPy uses, and its threads (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency, but the bench should still run
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def blas_text(blas: list[dict]) -> str:
    """ "openblas 0.3.31 (SkylakeX kernel, 1 thread)", or "unknown"."""
    parts = []
    for b in blas:
        threads = b.get("num_threads")
        plural = "" if threads == 1 else "s"
        kernel = f"{b.get('architecture')} kernel, {threads} thread{plural}"
        parts.append(f"{b.get('internal_api')} {b.get('version')} ({kernel})")
    return ", ".join(parts) or "unknown"


def run_rounds(contenders: list[Contender], seconds: float, block: float = 0.25) -> None:
    """Give each contender blocks of about ``block`` seconds in turn until each has had ``seconds``
    (at least three rounds); each block's median time per call lands in its ``times``.

    A pause before each block: both OpenBLAS and PyTorch keep their worker threads spinning for a while
    after a call, and switching engine every call measured each one mostly fighting the other's
    idle threads. Calls are timed in groups of at least 5 ms, so the clock's resolution does not count.
    """
    for c in contenders:  # warm up: first calls allocate scratch buffers
        if c.before:
            c.before()
        for _ in range(2):
            c.call()
        if c.after:
            c.after()
    rounds = max(3, round(seconds / block))
    for _ in range(rounds):
        for c in contenders:
            if c.before:
                c.before()
            time.sleep(0.02)
            samples: list[float] = []
            block_end = time.perf_counter() + block
            while not samples or time.perf_counter() < block_end:
                calls, start = 0, time.perf_counter()
                while True:
                    c.call()
                    calls += 1
                    elapsed = time.perf_counter() - start
                    if elapsed > 0.005:
                        break
                samples.append(elapsed / calls)
            c.times.append(statistics.median(samples))
            if c.after:
                c.after()


def _cnnlab_contender(spec: NetSpec, mode: str, batch: int, rng: np.random.Generator, workers: int = 1):
    if mode == "train":
        step, pool = _trainer(spec, batch, rng, workers)
        return Contender("cnnlab", step, workers=workers, close=pool.close)
    pool = WorkerPool(build(spec, rng), workers)
    pool.start()
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    return Contender("cnnlab", lambda: pool.forward(x, training=False), workers=workers, close=pool.close)


def _reference_call(spec: NetSpec, mode: str, batch: int, rng: np.random.Generator) -> Callable[[], object]:
    ref = SeedNetReference(build(spec, rng).state_dict(), lr=0.01, momentum=0.9)
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    if mode == "infer":
        return lambda: ref.predict(x)
    y = rng.integers(0, spec.output_shape()[0], batch)
    return lambda: ref.train_step(x, y)


def _torch_call(spec: NetSpec, mode: str, batch: int, rng: np.random.Generator, torch) -> Callable[[], None]:
    torch.manual_seed(0)
    model = torch_model(spec, torch)
    x = torch.from_numpy(rng.random((batch, *spec.input_shape), dtype=np.float32))
    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.inference_mode():
                model(x)

        return infer
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    y = torch.from_numpy(rng.integers(0, spec.output_shape()[0], batch))

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return train


def torch_model(spec: NetSpec, torch):
    """The same architecture in torch.nn (for the reference figures only)."""
    nn = torch.nn
    modules = []
    for info in spec.validate():
        s = info.settings
        kernel = tuple(s["kernel"]) if isinstance(s.get("kernel"), list) else s.get("kernel")
        match info.type:
            case "conv2d":
                padding = s["padding"] if s["padding"] != "valid" else 0
                modules.append(nn.Conv2d(info.input_shape[0], s["filters"], kernel, s["stride"], padding))
            case "maxpool2d":
                modules.append(nn.MaxPool2d(kernel, s["stride"] or kernel))
            case "avgpool2d":
                modules.append(nn.AvgPool2d(kernel, s["stride"] or kernel))
            case "dense":
                modules.append(nn.Linear(info.input_shape[0], s["units"]))
            case "flatten":
                modules.append(nn.Flatten())
            case "dropout":
                modules.append(nn.Dropout(s["rate"]))
            case "relu":
                modules.append(nn.ReLU())
            case "tanh":
                modules.append(nn.Tanh())
            case "sigmoid":
                modules.append(nn.Sigmoid())
            case "leaky_relu":
                modules.append(nn.LeakyReLU(s["alpha"]))
            case "elu":
                modules.append(nn.ELU(s["alpha"]))
            case "batchnorm":
                cls = nn.BatchNorm2d if len(info.input_shape) == 3 else nn.BatchNorm1d
                modules.append(cls(info.input_shape[0], eps=s["eps"], momentum=s["momentum"]))
    return nn.Sequential(*modules)


def import_torch():
    """PyTorch if it is installed, else None (it is not a dependency of cnnlab)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def cases(nets: list[str], train_batches: list[int], infer_batches: list[int]) -> list[tuple[str, str, int]]:
    """(net, mode, batch) in the order measured."""
    out = []
    for net in nets:
        out += [(net, "train", b) for b in sorted(set(train_batches))]
        out += [(net, "infer", b) for b in sorted(set(infer_batches))]
    return out


def measure_case(
    net: str,
    mode: str,
    batch: int,
    seconds: float,
    torch=None,
    torch_threads: tuple[int, ...] = (1,),
    workers: tuple[int, ...] = (1,),
) -> list[Measurement]:
    """Every engine on one case, interleaved; one Measurement per engine (and thread or worker count).
    cnnlab is measured at each of ``workers`` that would split the batch (an evaluation batch smaller
    than two images per worker stays whole: ``WorkerPool.forward``)."""
    spec = load_preset(net)
    blas = blas_text(blas_report())
    counts = [w for w in workers if w == 1 or mode == "train" or batch >= 2 * w]
    contenders = []
    try:
        for count in counts:
            contenders.append(_cnnlab_contender(spec, mode, batch, np.random.default_rng(0), count))
        return _measure(contenders, net, mode, batch, seconds, torch, torch_threads, blas)
    finally:
        for c in contenders:
            if c.close:
                c.close()


def _measure(contenders, net, mode, batch, seconds, torch, torch_threads, blas) -> list[Measurement]:
    spec = load_preset(net)
    if net in REFERENCE_NETS:
        call = _reference_call(spec, mode, batch, np.random.default_rng(0))
        contenders.append(Contender("numpy-reference", call, workers=1))
    if torch is not None:
        for threads in torch_threads:
            call = _torch_call(spec, mode, batch, np.random.default_rng(0), torch)
            # Back to one thread after each block, so its idle threads do not spin into the next turn.
            contenders.append(
                Contender(
                    "torch",
                    call,
                    threads=threads,
                    before=functools.partial(torch.set_num_threads, threads),
                    after=lambda: torch.set_num_threads(1),
                )
            )
    run_rounds(contenders, seconds)
    torch_one = next((c for c in contenders if c.engine == "torch" and c.threads == 1), None)
    one_worker = next((c for c in contenders if c.engine == "cnnlab" and c.workers == 1), None)
    # Ratios are against PyTorch at one thread; without that measurement there are none.
    results = []
    for c in contenders:
        rates = [batch / t for t in c.times]
        m = Measurement(
            net,
            mode,
            batch,
            c.engine,
            images_per_s=statistics.median(rates),
            images_per_s_range=(min(rates), max(rates)),
            ms=statistics.median(c.times) * 1e3,
            ms_range=(min(c.times) * 1e3, max(c.times) * 1e3),
            rounds=len(c.times),
            workers=c.workers,
            threads=c.threads,
            blas=None if c.engine == "torch" else blas,
        )
        if torch_one is not None and c is not torch_one:
            ratios = [t1 / t for t, t1 in zip(c.times, torch_one.times, strict=True)]
            m.vs_torch, m.vs_torch_range = statistics.median(ratios), (min(ratios), max(ratios))
        if c.engine == "cnnlab" and one_worker is not None and c is not one_worker:
            ratios = [t1 / t for t, t1 in zip(c.times, one_worker.times, strict=True)]
            m.vs_one_worker, m.vs_one_worker_range = statistics.median(ratios), (min(ratios), max(ratios))
        results.append(m)
    return results


def measure_ceiling(net: str, batch: int, workers: int, seconds: float, block: float = 0.5) -> Measurement:
    """``workers`` independent processes training on batch / workers images each (see the module),
    in rounds against this process training on the whole batch: aggregate images/s and, round by
    round, its ratio to the one process's."""
    spec = load_preset(net)
    context = multiprocessing.get_context("spawn")
    parts = [stop - start for start, stop in shares(batch, workers)]
    conns, procs = [], []
    try:
        for size in parts:
            here, there = context.Pipe()
            proc = context.Process(target=_independent, args=(there, spec.to_dict(), size), daemon=True)
            proc.start()
            there.close()
            conns.append(here)
            procs.append(proc)
        for conn in conns:
            conn.recv()  # ready
        one = _warm(_trainer(spec, batch, np.random.default_rng(0))[0])
        rounds = max(3, round(seconds / block))
        alone, together = [], []
        for _ in range(rounds):
            time.sleep(0.02)
            alone.append(_images_per_s(one, batch, block))
            for conn in conns:
                conn.send(block)
            together.append(sum(conn.recv() for conn in conns))
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    ratios = [t / a for t, a in zip(together, alone, strict=True)]
    times = [batch / rate for rate in together]
    return Measurement(
        net,
        "train",
        batch,
        "independent",
        images_per_s=statistics.median(together),
        images_per_s_range=(min(together), max(together)),
        ms=statistics.median(times) * 1e3,
        ms_range=(min(times) * 1e3, max(times) * 1e3),
        rounds=rounds,
        workers=workers,
        vs_one_worker=statistics.median(ratios),
        vs_one_worker_range=(min(ratios), max(ratios)),
    )


def _trainer(
    spec: NetSpec, batch: int, rng: np.random.Generator, workers: int = 1
) -> tuple[Callable[[], None], WorkerPool]:
    """(one SGD-momentum step on a fixed random batch, split across ``workers``; its pool, to close)."""
    pool = WorkerPool(build(spec, rng), workers)
    pool.start()
    opt = SGD(pool.network, lr=0.01, momentum=0.9)
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, spec.output_shape()[0], batch)

    def step() -> None:
        pool.compute_gradients(x, y, rng)
        opt.step()

    return step, pool


def _warm(step: Callable[[], None]) -> Callable[[], None]:
    for _ in range(2):  # the first steps allocate scratch buffers
        step()
    return step


def _images_per_s(step: Callable[[], None], batch: int, seconds: float) -> float:
    start = time.perf_counter()
    steps = 0
    while steps == 0 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def _independent(conn, spec: dict, batch: int) -> None:
    """An independent process of ``measure_ceiling``: trains when told for how long, answers its
    images/s, until told None."""
    from cnnlab.training.blas import limit_blas_threads

    limit_blas_threads(1)
    step = _warm(_trainer(NetSpec.from_dict(spec), batch, np.random.default_rng(0))[0])
    conn.send("ready")
    while True:
        try:
            seconds = conn.recv()
        except EOFError:
            return
        if seconds is None:
            return
        conn.send(_images_per_s(step, batch, seconds))


def environment(torch=None, blas: list[dict] | None = None) -> dict:
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "blas": blas if blas is not None else blas_report(),
    }
    if torch is not None:
        env["torch"] = torch.__version__
    return env


def run_bench(
    nets: list[str],
    batches: list[int],
    seconds: float,
    as_json: bool = False,
    torch: bool = False,
    infer_batches: list[int] | None = None,
    torch_threads: list[int] | None = None,
    workers: list[int] | None = None,
    ceiling: bool = False,
) -> int:
    """Measure and print; ``batches`` are the training batch sizes, ``infer_batches`` the inference ones;
    ``ceiling`` adds the independent processes (see the module). An unknown preset name raises
    ``SpecError`` before anything is measured."""
    for net in nets:
        load_preset(net)
    torch_module = import_torch() if torch else None
    if torch and torch_module is None:
        print(
            "cnnlab: PyTorch is not installed, so only cnnlab and the NumPy reference are measured "
            "(pip install torch for the comparison)",
            file=sys.stderr,
        )
    cores = os.cpu_count() or 1
    all_cores = [1] if cores == 1 else [1, cores]
    thread_counts = tuple(sorted(set(all_cores if torch_threads is None else torch_threads)))
    worker_counts = tuple(sorted(set(workers or all_cores)))
    env = environment(torch_module)
    if as_json:
        print(json.dumps({"environment": env}), flush=True)
    else:
        print(f"NumPy {env['numpy']} on Python {env['python']} ({env['machine']}, {cores} cores)")
        print(f"BLAS (threadpoolctl): {blas_text(env['blas'])}")
        if torch_module is not None:
            print(f"PyTorch {env['torch']} eager at {' and '.join(map(str, thread_counts))} threads")
        print("one process, engines in turns of 0.25 s; medians over the rounds [ranges]")
        head = f"{'net':<9}{'mode':<6}{'batch':>6}  {'engine':<29}{'images/s':>24}{'ms/batch':>10}"
        print(head + (f"{'vs torch, 1 thr':>20}" if torch_module is not None else ""))
    infer = [1, 1000] if infer_batches is None else infer_batches
    for net, mode, batch in cases(nets, batches, infer):
        found = measure_case(net, mode, batch, seconds, torch_module, thread_counts, worker_counts)
        if ceiling and mode == "train":
            found += [measure_ceiling(net, batch, count, seconds) for count in worker_counts if count > 1]
        for m in found:
            if as_json:
                print(json.dumps(m.row()), flush=True)
            else:
                print(_line(m), flush=True)
    return 0


def _line(m: Measurement) -> str:
    if m.threads is not None:
        who = f"{m.engine} ({m.threads} thr)"
    elif m.engine == "independent":
        who = f"independent ({m.workers} procs: {m.vs_one_worker:.2f}x)"
    elif m.vs_one_worker is not None:
        who = f"{m.engine} ({m.workers} workers: {m.vs_one_worker:.2f}x)"
    else:
        who = f"{m.engine} ({m.workers} worker{'s' if m.workers != 1 else ''})"
    lo, hi = m.images_per_s_range
    rate = f"{m.images_per_s:,.0f} [{lo:,.0f}-{hi:,.0f}]"
    ratio = ""
    if m.vs_torch is not None:
        rlo, rhi = m.vs_torch_range or (m.vs_torch, m.vs_torch)
        ratio = f"{m.vs_torch:.2f}x [{rlo:.2f}-{rhi:.2f}]"
    return f"{m.net:<9}{m.mode:<6}{m.batch:>6}  {who:<29}{rate:>24}{m.ms:>10.3f}{ratio:>20}"
