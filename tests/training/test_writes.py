"""Every write is guarded: a full disk, a read-only folder or a path below a file gives one line naming the
file, the previous file stays intact, files get the user's umask, and a killed save's temporary file is
removed by the next save."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlab.engine import build, load_checkpoint, load_preset, save_checkpoint
from cnnlab.engine.checkpoint import remove_stale_temporaries
from cnnlab.training import RunRecorder, RunStore, TrainingSession, WriteError
from cnnlab.training.files import append_lines, write_atomic, write_json
from tests.training.conftest import small_config
from tests.training.test_cli_training import run

REPO = Path(__file__).resolve().parents[2]
PLAIN = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "permission denied",
    errno.EROFS: "the disk is read-only",
}


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def failing(code: int):
    def write(handle):
        handle.write(b"half a file")
        raise OSError(code, os.strerror(code))

    return write


@pytest.mark.parametrize("code", list(PLAIN))
def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path: Path, code):
    target = write_json(tmp_path / "run.json", {"good": True})
    with pytest.raises(WriteError) as caught:
        write_atomic(target, failing(code))
    assert str(caught.value) == f"cannot write {target}: {PLAIN[code]}"
    assert isinstance(caught.value, OSError) and caught.value.errno == code
    assert json.loads(target.read_text()) == {"good": True}
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("code", list(PLAIN))
def test_checkpoints_and_metric_lines_say_the_same(tmp_path: Path, monkeypatch, code):
    net = build(load_preset("seed"), np.random.default_rng(0))
    good = save_checkpoint(tmp_path / "net.npz", net, metadata={"n": 1})
    real_fsync = os.fsync

    def fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WriteError, match=f"cannot write {good}: {PLAIN[code]}"):
        save_checkpoint(good, net, metadata={"n": 2})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert load_checkpoint(good).metadata == {"n": 1}
    assert temporaries(tmp_path) == []

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(WriteError, match=f"metrics.jsonl: {PLAIN[code]}"):
        append_lines(tmp_path / "metrics.jsonl", ["{}"])


def test_a_folder_below_a_file_is_named(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(WriteError) as caught:
        write_json(blocker / "sub" / "run.json", {})
    assert (
        str(caught.value) == f"cannot write {blocker / 'sub' / 'run.json'}: {blocker} is a file, not a folder"
    )
    with pytest.raises(WriteError, match="is a file, not a folder"):
        RunStore(blocker / "runs").new_run_folder("abc", __import__("datetime").datetime.now())


def test_cli_out_below_a_file_is_refused_before_training(capsys, tmp_path: Path, fake_data_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "train", "--data-dir", str(fake_data_dir), "--out", str(blocker / "out"))
    assert (
        code == 2
        and err == f"cnnlab: error: cannot write {blocker / 'out'}: {blocker} is a file, not a folder\n"
    )
    assert "Training" not in out
    code, out, err = run(capsys, "train", "--data-dir", str(fake_data_dir), "--out", str(blocker))
    assert code == 2 and err.strip() == f"cnnlab: error: --out {blocker}: exists and is not a folder"


def test_cli_full_disk_at_the_end_is_one_line_per_file(
    capsys, tmp_path: Path, fake_data_dir, monkeypatch, cnnlab_home
):
    """The disk fills during training: the checkpoint, metrics.json and the runs history each say so in
    one line; the figures were printed; the exit code says something failed."""
    import cnnlab.engine.checkpoint as checkpoint_module

    real_open = os.open

    def full_disk(path, flags, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.os, "open", full_disk)
    out = tmp_path / "out"
    argv = ["train", "--data-dir", str(fake_data_dir), "--limit", "64", "--epochs", "1", "--out", str(out)]
    code, stdout, err = run(capsys, *argv)
    assert code == 1
    assert "Test accuracy:" in stdout
    lines = err.strip().splitlines()
    assert "Traceback" not in err and all(line.startswith("cnnlab: ") for line in lines)
    assert f"cnnlab: error: cannot write {out / 'checkpoint.npz'}: the disk is full" in lines
    assert f"cnnlab: error: cannot write {out / 'metrics.json'}: the disk is full" in lines
    assert any(line.startswith("cnnlab: warning: could not record the run") for line in lines)
    assert temporaries(out) == []


def test_files_get_the_users_umask(tmp_path: Path):
    net = build(load_preset("seed"), np.random.default_rng(0))
    old = os.umask(0o022)
    try:
        assert (write_json(tmp_path / "a.json", {}).stat().st_mode & 0o777) == 0o644
        assert (save_checkpoint(tmp_path / "a.npz", net).stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (write_json(tmp_path / "b.json", {}).stat().st_mode & 0o777) == 0o600
        os.umask(0o002)
        assert (save_checkpoint(tmp_path / "c.npz", net).stat().st_mode & 0o777) == 0o664
    finally:
        os.umask(old)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_save_removes_what_killed_saves_left(tmp_path: Path):
    from cnnlab.engine.checkpoint import _host

    target = tmp_path / "ckpt.npz"
    host = _host()
    old = time.time() - 3600
    stale = [
        f".ckpt.npz.{host}-{dead_pid()}.0a1b2c3d.tmp",
        ".ckpt.npz.k3j4h5g6.tmp",
    ]  # dead writer; older cnnlab
    kept = [
        f".ckpt.npz.{host}-{os.getpid()}.0a1b2c3d.tmp",  # a save in this very process
        f".ckpt.npz.{host}-{os.getppid()}.0a1b2c3d.tmp",  # a live process
        ".ckpt.npz.fresh123.tmp",  # older cnnlab, but recent: maybe still writing
        f".other.npz.{host}-{dead_pid()}.0a1b2c3d.tmp",  # another file's
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    for name in [*stale, kept[3]]:
        os.utime(tmp_path / name, (old, old))
    net = build(load_preset("seed"), np.random.default_rng(0))
    save_checkpoint(target, net)
    assert temporaries(tmp_path) == sorted(kept)
    assert remove_stale_temporaries(target) == []


KILLED_SAVE = """
import sys, time
from pathlib import Path
from cnnlab.training.files import write_atomic

def write(handle):
    handle.write(b"x" * 100_000)
    handle.flush()
    print("writing", flush=True)
    time.sleep(600)

write_atomic(Path(sys.argv[1]), write)
"""


def start(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO, **kwargs
    )


def test_kill_9_in_the_middle_of_a_save(tmp_path: Path):
    net = build(load_preset("seed"), np.random.default_rng(0))
    target = save_checkpoint(tmp_path / "ckpt.npz", net, metadata={"n": 1})
    with start(KILLED_SAVE, str(target)) as child:
        try:
            assert child.stdout.readline().strip() == "writing"
            assert len(temporaries(tmp_path)) == 1  # killed while its temporary file was half written
        finally:
            child.kill()
    assert load_checkpoint(target).metadata == {"n": 1}
    save_checkpoint(target, net, metadata={"n": 2})
    assert temporaries(tmp_path) == [] and load_checkpoint(target).metadata == {"n": 2}


SAVING_LOOP = """
import sys
import numpy as np
from cnnlab.engine import build, load_preset, save_checkpoint
net = build(load_preset("mnist99"), np.random.default_rng(0))
n = 0
while True:
    n += 1
    save_checkpoint(sys.argv[1], net, metadata={"n": n})
    print(n, flush=True)
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_of_repeated_saves(tmp_path: Path):
    """Five kills at random moments of a loop of saves: the last completed checkpoint always loads."""
    rng = np.random.default_rng(0)
    target = tmp_path / "ckpt.npz"
    for _ in range(5):
        with start(SAVING_LOOP, str(target)) as child:
            try:
                done = int(child.stdout.readline())
                time.sleep(float(rng.uniform(0, 0.05)))
            finally:
                child.kill()
            done = max([done, *(int(line) for line in child.stdout.read().split())])
        assert load_checkpoint(target).metadata["n"] in (done, done + 1)
    net = build(load_preset("seed"), np.random.default_rng(0))
    save_checkpoint(target, net)
    assert temporaries(tmp_path) == []


# -- real conditions, in a subprocess: a tiny disk, a read-only disk, another user ------------------------
def cnnlab_cli(
    *argv: str, prefix: tuple[str, ...] = (), env: dict | None = None
) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "cnnlab", *argv]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=300)


def can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


QUICK = ("train", "--dataset", "synthetic", "--limit", "64", "--epochs", "1", "--no-record")


@pytest.mark.skipif(not can_mount(), reason="needs a private mount namespace (unshare --mount)")
@pytest.mark.parametrize(("options", "words", "exit_code"), [("size=24k", "the disk is full", 1),
                                                             ("ro", "the disk is read-only", 2)])  # fmt: skip
@pytest.mark.slow
def test_a_real_full_or_read_only_disk(tmp_path: Path, options, words, exit_code):
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o {options} tmpfs {disk} && exec {sys.executable} -m cnnlab "
        f"{' '.join(QUICK)} --out {disk}/out"
    )
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=300,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr and lines and all(line.startswith("cnnlab: ") for line in lines)
    assert any(words in line for line in lines)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_a_folder_another_user_cannot_write(tmp_path: Path):
    """Run as 'nobody': a folder owned by root really refuses the write (EACCES, not simulated)."""
    locked = Path(tempfile.mkdtemp(prefix="cnnlab-locked-"))
    home = Path(tempfile.mkdtemp(prefix="cnnlab-home-"))
    try:
        os.chmod(locked, 0o755)
        os.chmod(home, 0o755)
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        result = cnnlab_cli(*QUICK, "--out", str(locked / "out"), prefix=nobody)
        assert result.returncode == 2
        assert result.stderr == f"cnnlab: error: cannot write {locked / 'out'}: permission denied\n"
        # The runs history in a folder it cannot write to: a warning, and the run itself still works.
        result = cnnlab_cli(*QUICK[:-1], prefix=nobody, env={"CNNLAB_HOME": str(home)})
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith("cnnlab: warning: could not record the run")
        assert "permission denied" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    finally:
        shutil.rmtree(locked)
        shutil.rmtree(home)


def test_recording_a_session_under_a_file_warns_and_trains(tiny, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    session = TrainingSession(small_config(epochs=1), tiny)
    recorder = RunRecorder(RunStore(blocker / "runs"), session=session)
    for snapshot in session.run():
        recorder.observe(snapshot)
    assert snapshot.event == "finished"
    assert recorder.error == (
        f"could not record the run in {blocker / 'runs'}: cannot write {blocker / 'runs'}: "
        f"{blocker} is a file, not a folder"
    )
