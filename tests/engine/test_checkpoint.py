"""Checkpoints: bit-exact round trips, and a clear refusal of every bad file."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from cnnlab.engine import (
    SGD,
    Adam,
    CheckpointError,
    NetSpec,
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
