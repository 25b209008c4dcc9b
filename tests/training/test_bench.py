"""``cnnlab bench`` and its yardstick: the careful NumPy seed net computes what the engine computes, and
the bench prints what it promises. No speed is asserted here: the figures are the bench's business."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab import cli
from cnnlab.engine import SGD, build, load_preset
from cnnlab.training import bench
from cnnlab.training.bench_reference import SeedNetReference


@pytest.mark.parametrize("batch", [1, 33, 64])
def test_the_reference_computes_the_engines_gradients(batch):
    net = build(load_preset("seed"), np.random.default_rng(3))
    ref = SeedNetReference(net.state_dict())
    rng = np.random.default_rng(4)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    x[:, :, :6] = 0.0  # blank rows, as on MNIST: ties in every pooling window there
    y = rng.integers(0, 10, batch)
    loss, logits = net.compute_gradients(x, y)
    assert ref.gradients(x, y) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(ref.predict(x), logits, rtol=1e-4, atol=1e-5)
    mine = ref.named_gradients()
    for name, _, grad in net.named_parameters():
        np.testing.assert_allclose(mine[name], grad, rtol=1e-3, atol=2e-6, err_msg=name)


def test_a_reference_step_moves_the_weights_as_the_engines_sgd_does():
    net = build(load_preset("seed"), np.random.default_rng(5))
    ref = SeedNetReference(net.state_dict(), lr=0.05, momentum=0.9)
    opt = SGD(net, lr=0.05, momentum=0.9)
    rng = np.random.default_rng(6)
    for _ in range(3):
        x = rng.random((16, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 16)
        net.compute_gradients(x, y)
        opt.step()
        ref.train_step(x, y)
    w1, w3 = net.state_dict()["conv1.W"], net.state_dict()["dense1.W"]
    np.testing.assert_allclose(ref.a1[:, :9].reshape(w1.shape), w1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ref.w3, w3, rtol=1e-4, atol=1e-6)


def _quick_rounds(contenders, seconds, block=0.25):
    """Each contender called once per round, for three rounds: the bench's bookkeeping, not its timing."""
    for _ in range(3):
        for c in contenders:
            if c.before:
                c.before()
            c.call()
            c.times.append(0.001 * (1 + len(c.times)))
            if c.after:
                c.after()


def test_bench_json_has_one_object_per_measurement(capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_rounds", _quick_rounds)
    monkeypatch.setattr(bench, "import_torch", lambda: None)
    code = cli.main(
        [
            "bench",
            "--json",
            "--torch",
            "--nets",
            "seed",
            "--batches",
            "8",
            "--infer-batches",
            "1",
            "--workers",
            "1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "PyTorch is not installed" in err
    rows = [json.loads(line) for line in out.splitlines()]
    env, rows = rows[0]["environment"], rows[1:]
    assert env["blas"] and "architecture" in env["blas"][0]
    assert [(r["mode"], r["batch"], r["engine"]) for r in rows] == [
        ("train", 8, "cnnlab"),
        ("train", 8, "numpy-reference"),
        ("infer", 1, "cnnlab"),
        ("infer", 1, "numpy-reference"),
    ]
    for r in rows:
        assert r["net"] == "seed" and r["workers"] == 1 and "threads" not in r
        assert r["images_per_s"] == pytest.approx(r["batch"] / 0.002, rel=1e-3)  # the middle round
        low, high = r["images_per_s_range"]
        assert low == pytest.approx(r["batch"] / 0.003, rel=1e-3)
        assert high == pytest.approx(r["batch"] / 0.001, rel=1e-3)
        assert r["ms"] == pytest.approx(2.0) and r["rounds"] == 3
        assert "kernel" in r["blas"]


@pytest.mark.slow  # importing PyTorch takes seconds (it is not installed in CI: skipped there)
def test_bench_with_torch_reports_threads_and_ratios(capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench, "run_rounds", _quick_rounds)
    threads = torch.get_num_threads()
    try:
        argv = [
            "bench",
            "--json",
            "--torch",
            "--torch-threads",
            "1",
            "2",
            "--nets",
            "mnist99",
            "--workers",
            "1",
        ]
        code = cli.main([*argv, "--batches", "4", "--infer-batches", "2"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()[1:]]
    engines = [(r["engine"], r.get("workers"), r.get("threads")) for r in rows]
    assert engines[:3] == [
        ("cnnlab", 1, None),
        ("torch", None, 1),
        ("torch", None, 2),
    ]  # no reference for mnist99
    cnnlab_row = rows[0]
    assert cnnlab_row["vs_torch"] == pytest.approx(1.0) and "vs_torch" not in rows[1]


def test_the_text_report_names_the_blas_kernel(capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_rounds", _quick_rounds)
    assert (
        cli.main(["bench", "--nets", "seed", "--batches", "2", "--infer-batches", "1", "--workers", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "BLAS (threadpoolctl): " in out and " kernel, " in out
    assert "numpy-reference (1 worker)" in out and "cnnlab (1 worker)" in out


@pytest.mark.slow
def test_the_bench_trains_at_one_and_at_several_workers_side_by_side(capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_rounds", _quick_rounds)
    argv = [
        "bench",
        "--json",
        "--nets",
        "seed",
        "--batches",
        "6",
        "--infer-batches",
        "2",
        "--workers",
        "1",
        "2",
    ]
    assert cli.main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()[1:]]
    seen = [(r["mode"], r["engine"], r["workers"]) for r in rows]
    assert seen == [
        ("train", "cnnlab", 1),
        ("train", "cnnlab", 2),
        ("train", "numpy-reference", 1),
        ("infer", "cnnlab", 1),  # the split is for training steps
        ("infer", "numpy-reference", 1),
    ]
    assert rows[1]["vs_one_worker"] == pytest.approx(1.0)  # the fake rounds took as long
    assert "vs_one_worker" not in rows[0] and all(r["images_per_s"] > 0 for r in rows)


def test_an_unknown_preset_is_refused_before_anything_is_measured(capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_rounds", lambda *a, **k: pytest.fail("measured"))
    assert cli.main(["bench", "--nets", "seed", "nope"]) == cli.EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert out == "" and "unknown preset 'nope'" in err


@pytest.mark.slow  # starts two processes
def test_the_ceiling_trains_independent_processes_against_one(capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_rounds", _quick_rounds)
    argv = ["bench", "--json", "--ceiling", "--nets", "seed", "--batches", "6", "--infer-batches", "2"]
    assert cli.main([*argv, "--workers", "1", "2", "--seconds", "0.3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()[1:]]
    seen = [(r["mode"], r["engine"], r["workers"]) for r in rows]
    assert seen[:4] == [
        ("train", "cnnlab", 1),
        ("train", "cnnlab", 2),
        ("train", "numpy-reference", 1),
        ("train", "independent", 2),  # after the case's engines; none for inference
    ]
    assert [r["engine"] for r in rows[4:]] == ["cnnlab", "numpy-reference"]
    ceiling = rows[3]
    assert ceiling["rounds"] >= 3 and ceiling["images_per_s"] > 0
    low, high = ceiling["vs_one_worker_range"]
    assert 0 < low <= ceiling["vs_one_worker"] <= high
    assert ceiling["ms"] == pytest.approx(6 / ceiling["images_per_s"] * 1e3, rel=0.5)
