"""Checkpoints: bit-exact round trips, and a clear refusal of every bad file."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import pickle
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnlab.engine import (
    SGD,
    Adam,
    Budget,
    CheckpointError,
    NetSpec,
    SpecError,
    build,
    load_checkpoint,
    load_preset,
    save_checkpoint,
)


@pytest.fixture
def trained(rng):
    spec = NetSpec(
        (1, 28, 28),
        (
            {"type": "conv2d", "filters": 4, "kernel": 3},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "maxpool2d"},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 10},
        ),
        name="tiny",
    )
    net = build(spec, rng)
    opt = Adam(net, lr=0.01)
    x, y = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    for _ in range(3):
        net.compute_gradients(x, y)
        opt.step()
    return net, opt


def test_round_trip_is_bit_exact(tmp_path, trained):
    net, opt = trained
    path = save_checkpoint(tmp_path / "run.npz", net, opt, metadata={"epoch": 2, "classes": ["0", "1"]})
    ckpt = load_checkpoint(path)
    assert ckpt.spec == net.spec
    assert ckpt.metadata["epoch"] == 2 and ckpt.metadata["optimizer"]["kind"] == "adam"
    again = ckpt.build_network()
    for name, value in net.state_dict().items():
        loaded = again.state_dict()[name]
        assert loaded.dtype == value.dtype and np.array_equal(loaded, value), name
    assert "bn1.running_mean" in ckpt.weights
    opt2 = Adam(again, lr=0.01)
    opt2.load_state_dict(ckpt.optimizer_state)
    assert opt2.steps == 3
    for key, value in opt.state_dict().items():
        assert np.array_equal(opt2.state_dict()[key], value), key
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    assert np.array_equal(net.forward(x), again.forward(x))


def test_resumed_optimizer_continues_exactly(tmp_path, rng):
    spec = load_preset("seed")
    x, y = rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16)
    net = build(spec, np.random.default_rng(0))
    opt = SGD(net, lr=0.05, momentum=0.9)
    net.compute_gradients(x, y)
    opt.step()
    path = save_checkpoint(tmp_path / "a.npz", net, opt)
    net.compute_gradients(x, y)
    opt.step()
    ckpt = load_checkpoint(path)
    resumed = ckpt.build_network()
    opt2 = SGD(resumed, lr=0.05, momentum=0.9)
    opt2.load_state_dict(ckpt.optimizer_state)
    resumed.compute_gradients(x, y)
    opt2.step()
    for name, value in net.state_dict().items():
        assert np.array_equal(resumed.state_dict()[name], value), name


def test_saving_is_atomic_and_leaves_no_temporary_files(tmp_path, trained, monkeypatch):
    net, _ = trained
    target = tmp_path / "keep.npz"
    save_checkpoint(target, net)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, net)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.npz"]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _doctored(tmp_path, trained, edit_meta=None, drop=None, replace=None):
    net, _ = trained
    good = save_checkpoint(tmp_path / "good.npz", net)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["__cnnlab__"].tobytes())
    if edit_meta:
        edit_meta(meta)
    arrays["__cnnlab__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    for key in drop or []:
        arrays.pop(key)
    arrays.update(replace or {})
    return _npz(tmp_path / "bad.npz", **arrays)


BAD_FILES = {
    "missing": (lambda tmp, t: tmp / "nope.npz", "no such file"),
    "folder": (lambda tmp, t: tmp, "is a folder"),
    "empty": (lambda tmp, t: _write(tmp / "e.npz", b""), "not a cnnlab checkpoint"),
    "text": (
        lambda tmp, t: _write(tmp / "t.npz", b"hello, I am a text file\n" * 10),
        "not a cnnlab checkpoint",
    ),
    "pickle": (
        lambda tmp, t: _write(tmp / "p.npz", pickle.dumps({"W": [1, 2, 3]})),
        "not a cnnlab checkpoint",
    ),
    "foreign npz": (lambda tmp, t: _npz(tmp / "f.npz", weights=np.ones(3)), "not a cnnlab checkpoint"),
    "object array": (lambda tmp, t: _object_npz(tmp / "o.npz"), "pickled"),
    "newer format": (
        lambda tmp, t: _doctored(tmp, t, edit_meta=lambda m: m.update(version=99)),
        "newer cnnlab",
    ),
    "other format": (
        lambda tmp, t: _doctored(tmp, t, edit_meta=lambda m: m.update(format="keras")),
        "header",
    ),
    "invalid spec": (
        lambda tmp, t: _doctored(tmp, t, edit_meta=lambda m: m["spec"]["layers"][0].update(kernel=99)),
        "network it describes is invalid",
    ),
    "missing weights": (lambda tmp, t: _doctored(tmp, t, drop=["w/conv1.W"]), "missing conv1.W"),
    "wrong shape": (
        lambda tmp, t: _doctored(tmp, t, replace={"w/conv1.W": np.zeros((4, 1, 5, 5), np.float32)}),
        "shape",
    ),
    "nan weights": (
        lambda tmp, t: _doctored(tmp, t, replace={"w/dense1.b": np.full(10, np.nan, np.float32)}),
        "NaN",
    ),
}


def _object_npz(path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__cnnlab__.npy", buffer.getvalue())
    return path


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_with_a_clear_message(tmp_path, trained, case):
    make, words = BAD_FILES[case]
    path = make(tmp_path, trained)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert words in str(err.value)
    assert path.name in str(err.value)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_truncated_files_are_refused(tmp_path, trained, keep):
    net, _ = trained
    good = save_checkpoint(tmp_path / "good.npz", net).read_bytes()
    bad = _write(tmp_path / "cut.npz", good[: int(len(good) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.npz"):
        load_checkpoint(bad)


def test_flipped_bytes_never_crash(tmp_path, trained):
    net, _ = trained
    good = bytearray(save_checkpoint(tmp_path / "good.npz", net).read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(30):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), 8):
            data[pos] ^= 0xFF
        path = _write(tmp_path / f"flip{trial}.npz", bytes(data))
        # Refused cleanly, or (flips inside weight bytes) loaded as other numbers; never anything else.
        with contextlib.suppress(CheckpointError):
            load_checkpoint(path)


# -- reads are bounded by what the spec inside says ---------------------------------------------------
def _refused(path, words, budget=None):
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path, budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert words in str(err.value) and Path(path).name in str(err.value), str(err.value)
    assert peak < 16 << 20, f"refusing took {peak >> 20} MiB"
    return err.value


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    # Nobody writes to the pipe: a plain open() would wait forever. Run it aside, so a regression
    # shows as a failure rather than a hung suite.
    outcome: list[BaseException] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_catch(lambda: load_checkpoint(fifo))), daemon=True
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "load_checkpoint blocked on a named pipe"
    assert isinstance(outcome[0], CheckpointError) and "is a named pipe, not a file" in str(outcome[0])
    _refused("/dev/zero", "is a device, not a file")


def _catch(call):
    try:
        call()
    except BaseException as exc:
        return exc
    return None


def test_a_member_larger_than_its_spec_allows_is_never_decompressed(tmp_path, trained):
    good = save_checkpoint(tmp_path / "good.npz", trained[0])
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == "w/conv1.W.npy":
                with dst.open(info.filename, "w", force_zip64=True) as member:
                    header = io.BytesIO()
                    np.lib.format.write_array_header_1_0(
                        header, {"descr": "<f4", "fortran_order": False, "shape": (16 << 20,)}
                    )
                    member.write(header.getvalue())
                    chunk = bytes(1 << 20)
                    for _ in range(64):  # 64 MiB of zeros: a few hundred KiB on disk
                        member.write(chunk)
            else:
                dst.writestr(info, src.read(info))
    assert bomb.stat().st_size < 2 << 20
    _refused(bomb, "'conv1.W' is 64.0 MiB uncompressed, far more than its 4x1x3x3 values need")


def test_an_array_header_that_lies_about_its_shape_is_refused_before_reading(tmp_path, trained):
    def lying(shape, dtype="<f4"):
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
        return buffer.getvalue() + bytes(64)

    good = save_checkpoint(tmp_path / "good.npz", trained[0])

    def doctor(name, member):
        path = tmp_path / f"lie-{len(list(tmp_path.iterdir()))}.npz"
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
            for info in src.infolist():
                dst.writestr(info.filename, member if info.filename == name else src.read(info))
        return path

    _refused(doctor("w/conv1.W.npy", lying((10**12,))), "have shape (1000000000000,), the network needs")
    _refused(doctor("__cnnlab__.npy", lying((10**12,), "|u1")), "'__cnnlab__' is truncated")
    _refused(doctor("w/conv1.b.npy", lying((4,), "<i8")), "holds int64 data")
    _refused(doctor("w/conv1.b.npy", lying((4,), "|O")), "pickled")


def test_the_spec_inside_is_held_to_the_budget_before_anything_is_built(tmp_path, trained):
    def huge(meta):
        meta["spec"]["layers"][-1]["units"] = 10**6

    path = _doctored(tmp_path, trained, edit_meta=huge)
    assert path.stat().st_size < 200_000  # a small file describing a 3.4 GB network
    err = _refused(path, "the network it describes is invalid")
    assert "above the budget of 50,000,000" in str(err)
    # With a larger budget the spec passes, and the weights (made for 10 units) do not fit it.
    _refused(path, "have shape", Budget(max_params=10**10))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m: m.update(metadata=[1, 2]), "metadata is a JSON list, not an object"),
        (lambda m: m.update(optimizer="adam"), "optimizer description is damaged"),
        (lambda m: m.update(version=True), "unknown checkpoint version"),
        (lambda m: m.update(spec={"layers": [{"type": "relu"}] * 1000}), "at most 200"),
        (lambda m: m["spec"].update(input_shape=[1, 28, 2**40]), "at most 4,096"),
        (
            lambda m: m.update(deep=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
            "damaged",
        ),
    ],
)
def test_a_damaged_header_is_refused(tmp_path, trained, edit, words):
    _refused(_doctored(tmp_path, trained, edit_meta=edit), words)


def test_optimizer_state_must_belong_to_the_network(tmp_path, trained):
    net, opt = trained
    good = save_checkpoint(tmp_path / "good.npz", net, opt)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    stranger = {**arrays, "opt/conv9.W/m": np.zeros(3, np.float32)}
    _refused(_npz(tmp_path / "s.npz", **stranger), "names 'conv9.W/m', which its network does not have")
    squashed = {**arrays, "opt/conv1.W/m": np.zeros((4, 9), np.float32)}
    _refused(_npz(tmp_path / "q.npz", **squashed), "has shape (4, 9), the network needs (4, 1, 3, 3)")
    ckpt = load_checkpoint(good)
    assert set(ckpt.optimizer_state) == set(opt.state_dict())


def test_a_checkpoint_says_which_network_it_is_for(tmp_path, trained):
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "t.npz", trained[0]))
    assert ckpt.mismatch(ckpt.spec) is None
    other = NetSpec(ckpt.spec.input_shape, ({"type": "conv2d", "filters": 6}, *ckpt.spec.layers[1:]))
    text = ckpt.mismatch(other)
    assert text.startswith("this checkpoint is for a network with ")
    assert "(conv1.W 4x1x3x3), the current one has" in text and "(conv1.W 6x1x3x3)" in text
    assert f"{ckpt.spec.num_params():,} parameters" in text and f"{other.num_params():,} parameters" in text
    wider = NetSpec((3, 28, 28), ckpt.spec.layers)
    assert "taking 1x28x28 inputs, the current one takes 3x28x28" in ckpt.mismatch(wider)
    fewer = NetSpec(ckpt.spec.input_shape, tuple(x for x in ckpt.spec.layers if x["type"] != "batchnorm"))
    text = ckpt.mismatch(fewer)
    assert "(bn1.gamma 4), the current one has" in text and "(no bn1.gamma)" in text


def test_a_checkpoint_is_read_and_built_within_the_budget_given(tmp_path):
    net = build(load_preset("seed"), np.random.default_rng(0))  # 5,258 parameters
    path = save_checkpoint(tmp_path / "seed.npz", net)
    _refused(path, "above the budget of 5,000", Budget(max_params=5_000))
    ckpt = load_checkpoint(path, Budget(max_params=6_000))
    assert ckpt.build_network().num_params == 5_258
    with pytest.raises(SpecError, match="above the budget of 5,000"):
        dataclasses.replace(ckpt, budget=Budget(max_params=5_000)).build_network()
