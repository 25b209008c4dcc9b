"""Every kind of damaged data folder gives one line naming the file and what is wrong: from
``load_dataset``, from ``cnnlab train``, and from ``cnnlab data status`` (exit 1), never a traceback."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cnnlab import cli
from cnnlab.data import DataError, DatasetNotFound, IdxError, UnreadableFile, datasets, load_dataset, status
from cnnlab.data import files as files_module
from cnnlab.data.idx import write_idx
from tests.conftest import REPO_ROOT
from tests.data.conftest import write_fake_dataset

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"


def _cut_gzip(folder: Path) -> None:
    path = folder / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:-40])


def _fewer_values(folder: Path) -> None:
    raw = gzip.decompress((folder / TRAIN_IMAGES).read_bytes())
    (folder / TRAIN_IMAGES).write_bytes(gzip.compress(raw[:-500], mtime=0))


def _wrong_magic(folder: Path) -> None:
    raw = bytearray(gzip.decompress((folder / TRAIN_IMAGES).read_bytes()))
    raw[:4] = (0x1234).to_bytes(4, "big")
    (folder / TRAIN_IMAGES).write_bytes(gzip.compress(bytes(raw), mtime=0))


def _wrong_dtype(folder: Path) -> None:
    write_idx(folder / TRAIN_IMAGES, np.zeros((30, 28, 28), np.float32))


def _count_mismatch(folder: Path) -> None:
    write_idx(folder / TRAIN_LABELS, np.zeros(29, np.uint8))


def _labels_out_of_range(folder: Path) -> None:
    write_idx(folder / TRAIN_LABELS, np.full(30, 12, np.uint8))


def _wrong_image_size(folder: Path) -> None:
    write_idx(folder / TRAIN_IMAGES, np.zeros((30, 32, 32), np.uint8))


def _empty(folder: Path) -> None:
    (folder / TRAIN_IMAGES).write_bytes(b"")


def _not_gzip(folder: Path) -> None:
    (folder / TRAIN_IMAGES).write_bytes(gzip.decompress((folder / TRAIN_IMAGES).read_bytes()))


def _folder_instead(folder: Path) -> None:
    (folder / TRAIN_IMAGES).unlink()
    (folder / TRAIN_IMAGES).mkdir()


def _fifo_instead(folder: Path) -> None:
    (folder / TRAIN_IMAGES).unlink()
    os.mkfifo(folder / TRAIN_IMAGES)


def _device_instead(folder: Path) -> None:
    (folder / TRAIN_IMAGES).unlink()
    (folder / TRAIN_IMAGES).symlink_to("/dev/zero")


def _missing(folder: Path) -> None:
    (folder / TRAIN_LABELS).unlink()


# name -> (damage, the error load_dataset raises, words in its message)
DAMAGE: dict[str, tuple[Callable[[Path], None], type[DataError], str]] = {
    "gzip cut short": (_cut_gzip, IdxError, f"{TRAIN_IMAGES}: the gzip data is damaged or cut short"),
    "fewer values": (
        _fewer_values,
        IdxError,
        f"{TRAIN_IMAGES}: file is truncated: the header promises 30 x 28",
    ),
    "wrong magic": (_wrong_magic, IdxError, f"{TRAIN_IMAGES}: not an IDX image file (magic number 4660"),
    "wrong dtype": (
        _wrong_dtype,
        IdxError,
        "magic number 3331, expected 2051); it holds float32 values in 3",
    ),
    "count mismatch": (
        _count_mismatch,
        IdxError,
        f"{TRAIN_LABELS}: holds 29 labels but {TRAIN_IMAGES} holds 30",
    ),
    "labels out of range": (
        _labels_out_of_range,
        IdxError,
        f"{TRAIN_LABELS}: label 12 at position 0 is out of",
    ),
    "wrong image size": (
        _wrong_image_size,
        IdxError,
        f"{TRAIN_IMAGES}: images are 32x32 pixels, tiny should",
    ),
    "empty file": (_empty, IdxError, f"{TRAIN_IMAGES}: is empty (0 bytes)"),
    "not gzip": (_not_gzip, IdxError, f"{TRAIN_IMAGES}: is named .gz but is not gzip-compressed"),
    "folder instead": (_folder_instead, DatasetNotFound, f"{TRAIN_IMAGES} is a folder, not a file"),
    "fifo instead": (_fifo_instead, DatasetNotFound, f"{TRAIN_IMAGES} is a named pipe (FIFO), not a regular"),
    "device instead": (_device_instead, DatasetNotFound, f"{TRAIN_IMAGES} is a character device, not a"),
    "missing file": (_missing, DatasetNotFound, f"missing {TRAIN_LABELS}"),
}


@pytest.fixture
def tiny(fake_root: Path, monkeypatch: pytest.MonkeyPatch):
    """A ten-class fake dataset 'tiny' in the registry (so the CLI knows it), with its true checksums."""
    info = write_fake_dataset(fake_root, "tiny", classes=10)
    monkeypatch.setitem(datasets.DATASETS, "tiny", info)
    return info


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_folder_is_one_line_everywhere(case: str, tiny, fake_root: Path, capsys):
    damage, error, words = DAMAGE[case]
    damage(fake_root / "tiny")

    with pytest.raises(error) as info:
        load_dataset("tiny", fake_root)
    message = str(info.value)
    assert words in message and "\n" not in message

    argv = ["train", "--dataset", "tiny", "--data-dir", str(fake_root), "--epochs", "1", "--no-record"]
    code, _, err = run_cli(capsys, *argv)
    assert code == cli.EXIT_USER_ERROR
    assert err.startswith("cnnlab: error: ") and err.count("\n") == 1 and words in err

    for verify in ([], ["--no-verify"]):
        code, out, err = run_cli(capsys, "data", "status", "tiny", "--data-dir", str(fake_root), *verify)
        # Only reading every label (or the checksum) can tell bad labels in a file of the right size.
        assert code == 1 or (verify and case == "labels out of range"), out
        assert "Traceback" not in out + err
        damaged = (
            TRAIN_LABELS
            if case in ("count mismatch", "labels out of range", "missing file")
            else TRAIN_IMAGES
        )
        assert damaged in out


def test_status_rows_say_what_is_wrong_with_each_file(tiny, fake_root: Path):
    _fifo_instead(fake_root / "tiny")
    (row,) = status(fake_root, datasets={"tiny": tiny})
    assert not row.usable and not row.absent
    assert row.resolution.looked[0].problem == f"{TRAIN_IMAGES} is a named pipe (FIFO), not a regular file"
    write_fake_dataset(fake_root, "tiny", classes=10)  # repaired
    (fake_root / "tiny" / TRAIN_LABELS).write_bytes(b"")
    (row,) = status(fake_root, verify=False, datasets={"tiny": tiny})
    bad = {f.filename: (f.state, f.detail) for f in row.files if f.state != "unchecked"}
    assert bad == {TRAIN_LABELS: ("bad", f"size is 0 bytes, expected {tiny.files['train_labels'].size:,}")}


def test_a_never_downloaded_dataset_is_not_an_error_unless_named(tiny, tmp_path: Path, capsys):
    nowhere = str(tmp_path / "nowhere")
    code, out, _ = run_cli(capsys, "data", "status", "--data-dir", nowhere, "--no-verify")
    assert code == 0 and "tiny: " in out and "get it with: cnnlab data fetch tiny" in out
    code, out, _ = run_cli(capsys, "data", "status", "tiny", "--data-dir", nowhere)
    assert code == 1 and out.startswith("tiny: Tiny test set tiny\n  not found; looked in:")
    code, _, err = run_cli(capsys, "data", "status", "mnsit")
    assert code == cli.EXIT_USER_ERROR and "unknown dataset 'mnsit'" in err


# --------------------------------------------------------------------------------- permission denied


def _deny(monkeypatch: pytest.MonkeyPatch, inside: Path, call: str) -> None:
    """Make ``os.<call>`` (as the data floor's file helpers use it) fail with EACCES below ``inside``:
    we run as root, where chmod denies nothing."""
    real = getattr(os, call)

    def denied(path, *args, **kwargs):
        if str(path).startswith(str(inside)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(files_module.os, call, denied)


def test_an_unreadable_file_is_named(tiny, fake_root: Path, monkeypatch, capsys):
    _deny(monkeypatch, fake_root / "tiny" / TRAIN_IMAGES, "open")
    with pytest.raises(UnreadableFile, match=f"^{TRAIN_IMAGES}: cannot be opened \\(permission denied\\)$"):
        load_dataset("tiny", fake_root)
    code, out, err = run_cli(capsys, "data", "status", "tiny", "--data-dir", str(fake_root))
    assert code == 1 and f"    {TRAIN_IMAGES}: cannot be opened (permission denied)" in out and not err


def test_an_unsearchable_folder_is_named(tiny, fake_root: Path, monkeypatch, capsys):
    _deny(monkeypatch, fake_root / "tiny", "stat")
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("tiny", fake_root)
    assert f"{fake_root / 'tiny'} (the chosen data folder): permission denied" in str(info.value)
    code, out, err = run_cli(capsys, "data", "status", "tiny", "--data-dir", str(fake_root))
    assert code == 1 and "(the chosen data folder): permission denied" in out and not err


def _nobody_can_run_python() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import cnnlab.data"], cwd=REPO_ROOT, capture_output=True
    )
    return probe.returncode == 0


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.slow
def test_data_status_as_another_user_has_no_traceback(tmp_path: Path):
    """The real thing, where the machine allows it: a non-root user meets a private folder and a file it
    may not read (root's chmod bits are ignored for root only)."""
    if not _nobody_can_run_python():
        pytest.skip("needs root, setpriv, and a checkout the 'nobody' user can read")
    shared = Path(tempfile.mkdtemp(prefix="cnnlab-perm-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        write_fake_dataset(shared, "mnist", classes=10)
        (shared / "mnist").chmod(0o755)
        (shared / "mnist" / TRAIN_IMAGES).chmod(0o600)
        private = shared / "private"
        write_fake_dataset(private, "mnist", classes=10)
        private.chmod(0o700)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", "QT_QPA_PLATFORM": "offscreen"}
        for folder, words, code in [
            (shared, f"{TRAIN_IMAGES}: cannot be opened (permission denied)", 1),
            (private, f"{private / 'mnist'} (the chosen data folder): permission denied", 1),
        ]:
            done = subprocess.run(
                [
                    *AS_NOBODY,
                    sys.executable,
                    "-m",
                    "cnnlab",
                    "data",
                    "status",
                    "mnist",
                    "--data-dir",
                    str(folder),
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert done.returncode == code, done.stdout + done.stderr
            assert words in done.stdout and "Traceback" not in done.stderr
    finally:
        shutil.rmtree(shared)
