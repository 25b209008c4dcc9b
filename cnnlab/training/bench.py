"""``cnnlab bench``: how fast the engine trains and infers, printed as figures (never asserted in tests).

Training throughput counts a whole optimizer step (forward, loss, backward, SGD-momentum update).
Each figure is the median over many timed rounds; with ``--torch`` the same networks run in PyTorch
eager mode in the same process, alternating round by round with the NumPy engine so that whatever else
the machine is doing slows both alike, and the ratio is printed.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cnnlab.engine import SGD, NetSpec, build, load_preset


@dataclass
class Measurement:
    net: str
    engine: str  # "cnnlab" or "torch"
    mode: str  # "train" or "infer"
    batch: int
    images_per_s: float
    latency_ms: float | None  # per batch, for batch 1 (and reported for every batch)
    rounds: int


def blas_report() -> list[dict]:
    """Which BLAS library and kernel NumPy uses, and its threads (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency, but the bench should still run
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def _time_rounds(fns: list[Callable[[], None]], seconds: float) -> list[list[float]]:
    """Time each callable in alternating blocks of ~0.25 s; returns seconds per call, one per round.

    Blocks rather than single calls, with a pause before each: both OpenBLAS and PyTorch keep their
    worker threads spinning for a while after a call, and switching engine every call measured each
    one mostly fighting the other's idle threads.
    """
    for fn in fns:  # warm up: first calls allocate scratch buffers
        for _ in range(3):
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    blocks = max(2, round(seconds / 0.25))
    for _ in range(blocks):
        for k, fn in enumerate(fns):
            time.sleep(0.05)
            block_end = time.perf_counter() + 0.25
            while time.perf_counter() < block_end:
                calls, start = 0, time.perf_counter()
                while True:
                    fn()
                    calls += 1
                    elapsed = time.perf_counter() - start
                    if elapsed > 0.01:
                        break
                samples[k].append(elapsed / calls)
    return samples


def _numpy_fns(spec: NetSpec, batch: int, rng: np.random.Generator):
    net = build(spec, rng)
    opt = SGD(net, lr=0.01, momentum=0.9)
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, spec.output_shape()[0], batch)

    def train() -> None:
        net.compute_gradients(x, y)
        opt.step()

    def infer() -> None:
        net.forward(x, training=False)

    return train, infer


def _torch_fns(spec: NetSpec, batch: int, rng: np.random.Generator):
    import torch

    torch.manual_seed(0)
    model = _torch_model(spec, torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(rng.random((batch, *spec.input_shape), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, spec.output_shape()[0], batch))

    def train() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode():
            model(x)

    return train, infer


def _torch_model(spec: NetSpec, torch):
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


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def measure(
    nets: list[str], batches: list[int], seconds: float, torch: bool = False
) -> tuple[list[Measurement], dict]:
    use_torch = torch and _torch_available()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "blas": blas_report(),
    }
    if use_torch:
        import torch as _t

        # The same number of threads as NumPy's BLAS, so the two compare like for like.
        _t.set_num_threads(max([b["num_threads"] or 1 for b in env["blas"]] or [1]))
        env["torch"] = _t.__version__
        env["torch_threads"] = _t.get_num_threads()
    results: list[Measurement] = []
    for name in nets:
        spec = load_preset(name)
        for batch in sorted({1, *batches}):
            fns = {"cnnlab": _numpy_fns(spec, batch, np.random.default_rng(0))}
            if use_torch:
                fns["torch"] = _torch_fns(spec, batch, np.random.default_rng(0))
            modes = ("infer",) if batch == 1 else ("train", "infer")
            for mode in modes:
                engines = list(fns)
                samples = _time_rounds([fns[e][0 if mode == "train" else 1] for e in engines], seconds)
                for engine, times in zip(engines, samples, strict=True):
                    per_call = statistics.median(times)
                    results.append(
                        Measurement(name, engine, mode, batch, batch / per_call, per_call * 1e3, len(times))
                    )
    return results, env


def run_bench(
    nets: list[str], batches: list[int], seconds: float, as_json: bool = False, torch: bool = False
) -> int:
    if torch and not _torch_available():
        print(
            "PyTorch is not installed; measuring cnnlab only (pip install torch for the reference)",
            file=sys.stderr,
        )
    results, env = measure(nets, batches, seconds, torch)
    if as_json:
        print(json.dumps({"environment": env}))
        for m in results:
            row = asdict(m)
            if m.batch != 1:
                row.pop("latency_ms")
            print(json.dumps(row))
        return 0
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']} kernel, {b['num_threads']} threads)"
        for b in env["blas"]
    )
    print(f"NumPy {env['numpy']} on Python {env['python']} ({env['machine']}); BLAS: {blas or 'unknown'}")
    if "torch" in env:
        print(
            f"PyTorch {env['torch']} eager, {env['torch_threads']} threads, same process, alternating rounds"
        )
    print(f"{'net':<12}{'mode':<7}{'batch':>6}{'cnnlab img/s':>15}{'ms/batch':>10}", end="")
    print(f"{'torch img/s':>14}{'ratio':>8}" if "torch" in env else "")
    by_key = {(m.net, m.mode, m.batch, m.engine): m for m in results}
    for m in results:
        if m.engine != "cnnlab":
            continue
        line = f"{m.net:<12}{m.mode:<7}{m.batch:>6}{m.images_per_s:>15,.0f}{m.latency_ms:>10.3f}"
        ref = by_key.get((m.net, m.mode, m.batch, "torch"))
        if ref is not None:
            line += f"{ref.images_per_s:>14,.0f}{m.images_per_s / ref.images_per_s:>7.2f}x"
        print(line)
    return 0
