"""A kill at any moment of a save leaves the collection readable, holding the old state or the new one.

Two ways: a child process that dies (``os._exit``) at each step of one commit in turn (every file
write, half a write, every rename, every folder sync), and real ``kill -9`` at random moments of a
child that keeps adding. Readers running beside a writer always see a consistent collection.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import MineStore
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

# A sample tells its own id: label id % 10, every ink pixel id % 250 + 1, one stroke of width id % 200 + 1.
_SAMPLE = """
import numpy as np
def sample(i):
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 8:20] = i % 250 + 1
    return image, i % 10, [{"width": i % 200 + 1, "points": [[i % 280, 1.5]]}]
"""

# For each step of one save in turn (a file written, half of one written, a rename, a folder synced), a
# forked process copies the collection and dies at that step; prints "<folder> <exit code>" per attempt,
# until one goes through.
_DIE_AT_EACH_STEP = (
    _SAMPLE
    + """
import os, shutil, sys
from pathlib import Path
from cnnlab.data import mine
base, out = Path(sys.argv[1]), Path(sys.argv[2])
STEPS = ("_write_synced", "_replace", "_sync_folder")
real = {name: getattr(mine, name) for name in STEPS}

def attempt(root, step, half):
    calls = [0]
    def dying(name):
        def call(*args):
            if calls[0] == step:
                if half:
                    path, payload = args
                    with open(path, "wb") as f:
                        f.write(payload[: len(payload) // 2])
                os._exit(9)
            calls[0] += 1
            return real[name](*args)
        return call
    for name in STEPS:
        setattr(mine, name, dying(name))
    store = mine.MineStore(root)
    image, label, strokes = sample(len(store.read()) + 1)
    store.add(image, label, strokes)
    return calls[0]

def run(step, half):
    root = out / f"{'half' if half else 'whole'}-{step}"
    shutil.copytree(base, root)
    pid = os.fork()
    if pid == 0:
        attempt(root, step, half)
        os._exit(0)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(root, code, flush=True)
    return code

step = 0
while run(step, False) != 0:
    step += 1
for step in range(4):  # the three files and the journal: cut off half-way through
    run(step, True)
"""
)

_KEEP_ADDING = (
    _SAMPLE
    + """
import sys
from cnnlab.data import MineStore
store = MineStore(sys.argv[1])
print("ready", flush=True)
while True:
    image, label, strokes = sample(len(store.read()) + 1)
    store.add(image, label, strokes)
"""
)


def _child(script: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, cwd=REPO_ROOT, **kwargs)


def _fill(root: Path, count: int) -> None:
    namespace: dict = {}
    exec(_SAMPLE, namespace)
    samples = [namespace["sample"](i) for i in range(1, count + 1)]
    MineStore(root).add_many(
        [s[0] for s in samples], [s[1] for s in samples], [s[2] for s in samples], source="pad"
    )


def _check(root: Path, *, settled: bool = True) -> int:
    """The collection in ``root`` is whole and every sample agrees with its id; returns how many.
    ``settled``: no writer is at work, so no temporary file may be left either."""
    state = MineStore(root).read()
    ids = state.ids
    assert ids.tolist() == list(range(1, len(ids) + 1))
    assert np.array_equal(state.labels, ids % 10)
    assert np.array_equal(state.images.reshape(len(ids), -1).max(axis=1), ids % 250 + 1)
    assert [s.strokes[0].width for s in state.samples] == [float(i % 200 + 1) for i in ids]
    if settled:  # the reader finished or dropped the interrupted save
        assert [p.name for p in root.iterdir() if p.name.endswith(".part") or p.name == ".commit.json"] == []
    return len(ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_dying_at_each_step_of_a_save_leaves_the_old_or_the_new_state(tmp_path: Path):
    base = tmp_path / "base"
    _fill(base, 3)
    child = _child(_DIE_AT_EACH_STEP, str(base), str(tmp_path), stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    attempts = [(Path(line.split()[0]), int(line.split()[1])) for line in out.splitlines()]
    whole = [(root, code) for root, code in attempts if root.name.startswith("whole")]
    assert [code for _, code in whole] == [9] * (len(whole) - 1) + [0]
    counts = [_check(root) for root, _ in whole]
    # 4 files written and synced, the journal renamed into place (the commit point), a folder sync, three
    # renames, a folder sync, the journal removed, a folder sync: before the commit point the old state
    # stands, from it on the new one.
    assert counts == [3] * 5 + [4] * (len(whole) - 5)
    assert [_check(root) for root, code in attempts if root.name.startswith("half")] == [3, 3, 3, 3]


@pytest.mark.slow
def test_kill_9_during_appends_never_loses_or_breaks_the_collection(tmp_path: Path):
    root = tmp_path / "mine"
    _fill(root, 600)  # about 0.5 MB rewritten per save: kills land inside saves
    rng = np.random.default_rng(7)
    count = 600
    for _ in range(5):
        child = _child(_KEEP_ADDING, str(root), stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=float(rng.uniform(0.02, 0.2)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        now = _check(root)
        assert now >= count  # nothing that was saved is lost
        count = now
    assert count > 600


@pytest.mark.slow
def test_readers_beside_a_writer_always_see_a_consistent_collection(tmp_path: Path):
    root = tmp_path / "mine"
    _fill(root, 300)
    child = _child(_KEEP_ADDING, str(root), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        seen = [_check(root, settled=False) for _ in range(20)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert seen == sorted(seen) and seen[-1] > seen[0]
