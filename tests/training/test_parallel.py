"""Data-parallel training (``training.parallel``): the same gradients as one worker, reproducible runs,
no process or shared-memory segment left behind, and a fall-back to one worker that says why."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlab.cli import main as cli_main
from cnnlab.engine import SGD, NetSpec, build, load_preset
from cnnlab.training import TrainingSession, parallel
from cnnlab.training.parallel import WorkerPool, default_workers, idle_cores, shares
from tests.training.conftest import seed_config, small_config

NO_DROPOUT = NetSpec.from_dict(
    {
        "name": "plain",
        "input_shape": [1, 12, 12],
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1},
            {"type": "tanh"},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 7},
            {"type": "relu"},
            {"type": "dense", "units": 4},
        ],
    }
)
WITH_BATCHNORM = NetSpec.from_dict(
    {
        "name": "bn",
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 2, "kernel": 3},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ],
    }
)


def gone(pids: list[int], names: list[str]) -> None:
    """Every process ended and reaped, every shared-memory segment unlinked."""
    assert pids and names
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for name in names:
        assert not (Path("/dev/shm") / name).exists(), name


def grads_of(network) -> dict[str, np.ndarray]:
    return {name: g.copy() for name, _, g in network.named_parameters()}


def params_of(session: TrainingSession) -> list[np.ndarray]:
    return [p for _, p, _ in session.network.named_parameters()]


def close_in_float32(a: np.ndarray, b: np.ndarray) -> None:
    scale = max(float(np.abs(b).max()), 1e-30)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)


def test_a_batch_is_shared_in_order_sizes_differing_by_one():
    assert shares(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shares(64, 2) == [(0, 32), (32, 64)]
    assert shares(2, 3) == [(0, 1), (1, 2), (2, 2)]
    assert shares(5, 1) == [(0, 5)]


def test_the_default_is_the_idle_cores_unless_the_environment_says(monkeypatch):
    assert idle_cores(cores=2, load=0.1) == 2
    assert idle_cores(cores=2, load=0.7) == 1
    assert idle_cores(cores=8, load=3.2) == 5
    assert idle_cores(cores=2, load=9.0) == 1  # at least one
    assert idle_cores(cores=4, load=0.0) == 4  # at most the machine's
    monkeypatch.setenv("CNNLAB_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("CNNLAB_WORKERS", "none")
    assert 1 <= default_workers() <= (os.cpu_count() or 1)


@pytest.mark.slow
def test_several_workers_give_one_workers_gradients_and_logits_and_see_each_update(rng):
    one = build(NO_DROPOUT, np.random.default_rng(3))
    many = build(NO_DROPOUT, np.random.default_rng(3))
    pool = WorkerPool(many, 3)
    try:
        opt = SGD(many, lr=0.3, momentum=0.9)
        seen = set()
        for n in (37, 64, 2, 1, 41):  # odd sizes, larger batches (a new segment), fewer images than workers
            x = rng.random((n, *NO_DROPOUT.input_shape), dtype=np.float32)
            y = rng.integers(0, 4, n)
            one.load_state_dict(many.state_dict())  # the updated weights must reach every worker
            loss_one, logits_one = one.compute_gradients(x, y)
            loss_many, logits_many = pool.compute_gradients(x, y, rng)
            close_in_float32(logits_many, logits_one)
            assert loss_many == pytest.approx(loss_one, rel=1e-6)
            expected = grads_of(one)
            for name, g in grads_of(many).items():
                close_in_float32(g, expected[name])
            opt.step()
            seen.update(pool.segment_names)
            one.load_state_dict(many.state_dict())
            close_in_float32(pool.forward(x), one.forward(x))  # evaluation in parts, the new weights
        big = rng.random((301, *NO_DROPOUT.input_shape), dtype=np.float32)  # parts of ~64 in each worker
        close_in_float32(pool.forward(big), one.forward(big))
        assert pool.forward(big, training=True).shape == (301, 4)  # a training pass stays whole
        assert pool.active == 3 and not pool.note
        pids, names = pool.pids, sorted(seen | set(pool.segment_names))
        assert len(pids) == 2 and len(names) == 5  # weights, gradients, three batch segments
        assert sum((Path("/dev/shm") / name).exists() for name in names) == 3  # outgrown ones freed
    finally:
        pool.close()
    gone(pids, names)


@pytest.mark.slow
def test_the_seed_net_on_two_workers_is_the_one_worker_run_within_rounding(tiny):
    a = TrainingSession(seed_config(epochs=1), tiny)
    snaps_a = list(a.run())
    b = TrainingSession(seed_config(epochs=1, workers=2), tiny)
    snaps_b = list(b.run())
    assert b.parallel.active == 2 and "workers_note" not in snaps_b[0].extra
    for wa, wb in zip(params_of(a), params_of(b), strict=True):
        close_in_float32(wb, wa)
    np.testing.assert_allclose(snaps_b[-1].history.loss, snaps_a[-1].history.loss, rtol=1e-4)


@pytest.mark.slow
def test_the_same_seed_and_worker_count_give_the_same_run_bit_for_bit(tiny):
    config = small_config(workers=2, augment=True)  # SMALL_SPEC has dropout: its masks come per worker
    runs = []
    for _ in range(2):
        session = TrainingSession(config, tiny)
        snaps = []
        for snap in session.run():
            snaps.append(snap)
            if snap.step == 1:
                pids, names = session.parallel.pids, session.parallel.segment_names
        runs.append((session, snaps))
        gone(pids, names)  # the run ended: so did its workers
    (a, snaps_a), (b, snaps_b) = runs
    for wa, wb in zip(params_of(a), params_of(b), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(snaps_a[-1].history.loss, snaps_b[-1].history.loss)
    one = TrainingSession(config.replace(workers=1), tiny)
    list(one.run())
    # Dropout's masks are drawn otherwise with two workers: another run, as reproducible.
    assert not np.array_equal(one.network.layers[0].params["W"], a.network.layers[0].params["W"])


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "ctrl-c"])
def test_workers_end_and_memory_is_freed_when_a_step_breaks(tiny, monkeypatch, error):
    session = TrainingSession(small_config(workers=2, spec=load_preset("seed")), tiny)
    calls = []
    own = session.network.part_gradients

    def breaking(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # in the middle of a step: the worker is busy with its share
            raise error
        return own(*args, **kwargs)

    monkeypatch.setattr(session.network, "part_gradients", breaking)
    seen = {}
    with pytest.raises(type(error)):
        for snap in session.run():
            if snap.step == 1:
                seen = {"pids": session.parallel.pids, "names": session.parallel.segment_names}
    gone(seen["pids"], seen["names"])
    assert session.parallel.pids == [] and session.parallel.segment_names == []


def test_workers_end_when_the_consumer_stops_iterating(tiny):
    session = TrainingSession(small_config(workers=2), tiny)
    run = session.run()
    for snap in run:
        if snap.step == 2:
            pids, names = session.parallel.pids, session.parallel.segment_names
            break
    run.close()
    gone(pids, names)


def test_layers_that_couple_a_batch_train_on_one_worker_and_say_so(tiny):
    session = TrainingSession(small_config(spec=WITH_BATCHNORM, workers=2, epochs=1), tiny)
    snaps = list(session.run())
    assert session.parallel.active == 1 and session.parallel.pids == []
    note = snaps[0].extra["workers_note"]
    assert "bn1" in note and "one worker instead of 2" in note
    assert all("workers_note" not in s.extra for s in snaps[1:])  # said once


class _NoProcesses:
    """A start method whose processes cannot start (the limit of processes reached, say)."""

    def Pipe(self):
        import multiprocessing

        return multiprocessing.Pipe()

    def Process(self, **kwargs):
        class Refused:
            pid = None

            def start(self):
                raise OSError(11, "Resource temporarily unavailable")

        return Refused()


def test_processes_that_cannot_start_leave_the_run_on_one_worker_exactly(tiny, monkeypatch):
    made = []
    new_segment = WorkerPool._new_segment

    def remembered(self, size):
        segment = new_segment(self, size)
        made.append(segment.name)
        return segment

    monkeypatch.setattr(WorkerPool, "_new_segment", remembered)
    monkeypatch.setattr(parallel.multiprocessing, "get_context", lambda method: _NoProcesses())
    fell_back = TrainingSession(small_config(workers=2), tiny)
    snaps = list(fell_back.run())
    assert "could not start" in snaps[0].extra["workers_note"]
    assert "Resource temporarily unavailable" in snaps[0].extra["workers_note"]
    assert made and not any((Path("/dev/shm") / name).exists() for name in made)
    one = TrainingSession(small_config(workers=1), tiny)
    list(one.run())
    for wa, wb in zip(params_of(one), params_of(fell_back), strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("reaped", [False, True], ids=["dying", "reaped"])
def test_a_worker_that_dies_leaves_the_step_to_the_calling_process(rng, reaped):
    one = build(NO_DROPOUT, np.random.default_rng(5))
    many = build(NO_DROPOUT, np.random.default_rng(5))
    pool = WorkerPool(many, 2)
    try:
        x = rng.random((16, *NO_DROPOUT.input_shape), dtype=np.float32)
        y = rng.integers(0, 4, 16)
        pool.compute_gradients(x, y)
        pids, names = pool.pids, pool.segment_names
        os.kill(pids[0], signal.SIGKILL)
        if reaped:  # gone for sure: the step's message meets a closed pipe, and the note says why
            pool._procs[0].join()
        loss, _ = pool.compute_gradients(x, y)
        assert pool.active == 1 and "worker 1 ended" in pool.note and "one worker instead of 2" in pool.note
        assert not reaped or f"(exit code {-signal.SIGKILL})" in pool.note
        assert loss == one.compute_gradients(x, y)[0]
        expected = grads_of(one)
        for name, g in grads_of(many).items():
            np.testing.assert_array_equal(g, expected[name])
    finally:
        pool.close()
    gone(pids, names)


def test_the_command_line_refuses_impossible_worker_counts(capsys):
    assert cli_main(["train", "--workers", "0"]) != 0
    assert "--workers" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_ctrl_c_in_cnnlab_train_leaves_no_worker_or_segment(tmp_path, fake_data_dir):
    before = {p.name for p in Path("/dev/shm").glob(parallel.SEGMENT_PREFIX + "*")}
    argv = ["train", "--workers", "2", "--epochs", "200", "--data-dir", str(fake_data_dir), "--no-record"]
    env = {**os.environ, "CNNLAB_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline and not workers:
            time.sleep(0.2)
            workers = [pid for pid in _children(proc.pid) if _is_worker(pid)]
        assert workers, "no worker process started"
        time.sleep(1.0)
        segments = {p.name for p in Path("/dev/shm").glob(parallel.SEGMENT_PREFIX + "*")} - before
        assert segments
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"leaked" not in err
    assert b"Training stopped at step" in out
    gone(workers, sorted(segments))


def _is_worker(pid: int) -> bool:
    try:
        return b"--multiprocessing-fork" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_shared_memory_that_runs_out_mid_run_leaves_the_step_to_the_calling_process(rng, monkeypatch):
    one = build(NO_DROPOUT, np.random.default_rng(5))
    many = build(NO_DROPOUT, np.random.default_rng(5))
    pool = WorkerPool(many, 2)
    try:
        x = rng.random((8, *NO_DROPOUT.input_shape), dtype=np.float32)
        y = rng.integers(0, 4, 8)
        pool.compute_gradients(x[:4], y[:4])
        pids, names = pool.pids, pool.segment_names

        def full(self, size):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(WorkerPool, "_new_segment", full)
        loss, _ = pool.compute_gradients(x, y)  # a larger batch wants a larger segment
        assert pool.active == 1 and "No space left on device" in pool.note
        assert loss == one.compute_gradients(x, y)[0]
    finally:
        pool.close()
    gone(pids, names)


def test_a_waiter_sees_a_message_sent_before_during_or_after_its_spin_and_the_end_of_the_pipe():
    here, there = multiprocessing.Pipe()
    waiter = parallel.Waiter(here, spin=0.005)
    assert not waiter.ready(0.0) and not waiter.ready(0.02)  # nothing sent: spins, then blocks, no
    there.send("before")
    assert waiter.ready(0.0) and here.recv() == "before"
    late = threading.Timer(0.05, there.send, args=("after",))  # most likely after the spin: blocked
    late.start()
    try:
        assert waiter.ready(30.0) and here.recv() == "after"
    finally:
        late.join()
    there.close()
    assert waiter.ready(30.0)  # the other end closed: ready, and receiving says so
    with pytest.raises(EOFError):
        here.recv()
    here.close()


def test_shared_arrays_are_cache_line_aligned_one_after_the_other():
    params = [np.zeros((3, 5), np.float32), np.zeros(7, np.float32), np.zeros((2, 2), np.float64)]
    assert parallel.span(params) == 64 + 64 + 64
    buffer = bytearray(parallel.span(params) * 2)
    views = parallel._views(buffer, params, parallel.span(params))
    base = np.frombuffer(buffer, np.uint8).ctypes.data
    assert [v.ctypes.data - base for v in views] == [192, 256, 320]
    assert [(v.shape, v.dtype) for v in views] == [(p.shape, p.dtype) for p in params]


def test_a_worker_network_computes_on_the_shared_weights_and_fills_its_own_slot(rng):
    reference = build(NO_DROPOUT, np.random.default_rng(1))
    worker = build(NO_DROPOUT, np.random.default_rng(2))  # other weights: the shared ones must count
    params = [p for _, p, _ in reference.named_parameters()]
    weights, gradients = bytearray(parallel.span(params)), bytearray(parallel.span(params) * 3)
    parallel.share_arrays(worker, weights, gradients, slot=1)
    for view, p in zip(parallel._views(weights, params, 0), params, strict=True):
        view[...] = p  # what the calling process does before each step
    x = rng.random((9, *NO_DROPOUT.input_shape), dtype=np.float32)
    y = rng.integers(0, 4, 9)
    losses, logits = worker.part_gradients(x, y, 9)
    expected_losses, expected_logits = reference.part_gradients(x, y, 9)
    np.testing.assert_array_equal(logits, expected_logits)
    np.testing.assert_array_equal(losses, expected_losses)
    slots = [parallel._views(gradients, params, i * parallel.span(params)) for i in range(3)]
    for (_, _, g), mine, other, last in zip(reference.named_parameters(), *slots, strict=True):
        np.testing.assert_array_equal(other, g)  # slot 1, and nothing written into the others
        assert not mine.any() and not last.any()


@pytest.mark.slow
def test_the_networks_weights_live_in_shared_memory_while_the_pool_runs_and_come_back_after(rng):
    net = build(NO_DROPOUT, np.random.default_rng(5))
    before = net.state_dict()
    private = {name: p for name, p, _ in net.named_parameters()}
    pool = WorkerPool(net, 2)
    try:
        pool.start()
        weights = pool._segments[0]
        segment = np.frombuffer(weights.buf, np.uint8)
        for name, param, _ in net.named_parameters():
            assert param is not private[name] and np.shares_memory(param, segment), name
            np.testing.assert_array_equal(param, before[name])  # the same values, moved
        del segment
        opt = SGD(net, lr=0.5, momentum=0.9)
        one = build(NO_DROPOUT, np.random.default_rng(5))
        x = rng.random((20, *NO_DROPOUT.input_shape), dtype=np.float32)
        y = rng.integers(0, 4, 20)
        for step in range(3):
            if step == 1:  # an array put in a layer's place mid-run is taken in at the next step
                net.layers[0].params["W"] = net.layers[0].params["W"] * -1.0
            one.load_state_dict(net.state_dict())
            one.compute_gradients(x, y)
            pool.compute_gradients(x, y, rng)
            assert pool.active == 2
            expected = grads_of(one)
            for name, g in grads_of(net).items():
                close_in_float32(g, expected[name])  # the worker saw the same weights
            opt.step()
        net.layers[4].params["b"] = np.zeros(5, np.float32)  # another shape: the pool lets go of it
        with pytest.raises(ValueError):  # and the network's own pass says what is wrong
            pool.compute_gradients(x, y, rng)
        assert pool.active == 1 and "dense1.b changed shape" in pool.note
        last = net.state_dict()
    finally:
        pool.close()
    for name, param, _ in net.named_parameters():  # private again (own memory), the trained values
        assert param.base is None, name
        np.testing.assert_array_equal(param, last[name])
