"""``cnnlab data status`` and ``cnnlab data fetch``: readable output, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from cnnlab import cli
from cnnlab.data import datasets
from cnnlab.data import download as download_module
from tests.data.conftest import FileServer, serve_dataset, write_fake_dataset


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_when_nothing_is_there(capsys, tmp_path: Path, isolated_cache: Path):
    code, out, _ = run(capsys, "data", "status", "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert "mnist: MNIST handwritten digits\n  not found; looked in:" in out
    assert f"{tmp_path / 'd' / 'mnist'} (the chosen data folder): no such folder" in out
    assert f"{isolated_cache / 'mnist'} (the user cache)" in out
    assert "get it with: cnnlab data fetch mnist" in out
    assert "synthetic: " in out and "generated in memory, always available" in out


def test_status_with_damaged_files_fails(capsys, tmp_path: Path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for spec in datasets.DATASETS["mnist"].files.values():
        (folder / spec.filename).write_bytes(b"not mnist")
    code, out, _ = run(capsys, "data", "status", "--data-dir", str(tmp_path))
    assert code == 1
    assert f"found in {folder} (from the chosen data folder)" in out
    assert "checksums: BAD" in out
    assert "train-images-idx3-ubyte.gz: size is 9 bytes, expected 9,912,422" in out
    # Without the SHA-256 the sizes are still compared: a 9-byte file is no MNIST.
    code, out, _ = run(capsys, "data", "status", "--data-dir", str(tmp_path), "--no-verify")
    assert code == 1 and "train-images-idx3-ubyte.gz: size is 9 bytes, expected 9,912,422" in out


@pytest.mark.realdata
def test_status_with_real_data(capsys, mnist_dir: Path):
    code, out, _ = run(capsys, "data", "status", "--data-dir", str(mnist_dir))
    assert code == 0
    assert f"found in {mnist_dir / 'mnist'} (from the chosen data folder)\n  checksums: ok" in out


@pytest.fixture
def served_tiny(tmp_path: Path, file_server: FileServer, monkeypatch: pytest.MonkeyPatch):
    info = write_fake_dataset(tmp_path / "published")
    serve_dataset(file_server, tmp_path / "published", info)
    info = dataclasses.replace(info, mirrors=(file_server.url("good"),))
    monkeypatch.setitem(datasets.DATASETS, "tiny", info)
    monkeypatch.setattr(download_module, "CHUNK", 2048)
    return info


def test_fetch_downloads_with_a_progress_bar(capsys, served_tiny, tmp_path: Path):
    code, out, err = run(capsys, "data", "fetch", "tiny", "--data-dir", str(tmp_path / "dest"))
    assert code == 0
    assert f"tiny is ready in {tmp_path / 'dest' / 'tiny'}" in out
    assert f"to use it, pass --data-dir {tmp_path / 'dest'}" in out
    assert "train-images-idx3-ubyte.gz (1/4)" in err and "100%" in err
    assert len(list((tmp_path / "dest" / "tiny").iterdir())) == 4


def test_fetch_says_when_it_leaves_a_stalled_mirror(
    capsys, served_tiny, file_server: FileServer, monkeypatch, tmp_path: Path
):
    mirrors = (file_server.url("stall"), file_server.url("good"))
    monkeypatch.setitem(datasets.DATASETS, "tiny", dataclasses.replace(served_tiny, mirrors=mirrors))
    monkeypatch.setattr(download_module, "RATE_WINDOW", 0.3)
    code, out, err = run(capsys, "data", "fetch", "tiny", "--data-dir", str(tmp_path))
    assert code == 0 and "tiny is ready in" in out
    (note,) = [line for line in err.splitlines() if line.startswith("cnnlab: ")]
    assert note.startswith(f"cnnlab: {mirrors[0]}train-images-idx3-ubyte.gz: too slow: ")
    assert note.endswith(f"; trying {mirrors[1]}")


def test_fetch_into_the_cache_needs_no_hint(capsys, served_tiny, isolated_cache: Path):
    code, out, _ = run(capsys, "data", "fetch", "tiny")
    assert code == 0 and f"tiny is ready in {isolated_cache / 'tiny'}" in out and "to use it" not in out


def test_fetch_failure_is_one_line(capsys, served_tiny, file_server: FileServer, monkeypatch, tmp_path: Path):
    broken = dataclasses.replace(served_tiny, mirrors=(file_server.url("missing"),))
    monkeypatch.setitem(datasets.DATASETS, "tiny", broken)
    code, _, err = run(capsys, "data", "fetch", "tiny", "--data-dir", str(tmp_path))
    assert code == cli.EXIT_USER_ERROR
    lines = err.strip().splitlines()
    assert lines[-1].startswith("cnnlab: error: could not download train-images-idx3-ubyte.gz for tiny")
    assert "HTTP 404" in lines[-1]


@pytest.mark.parametrize(("name", "words"), [("mnsit", "unknown dataset 'mnsit'"), ("synthetic", "nothing")])
def test_fetch_of_a_wrong_name_is_one_line(capsys, name: str, words: str):
    code, _, err = run(capsys, "data", "fetch", name)
    assert code == cli.EXIT_USER_ERROR
    assert err.startswith("cnnlab: error: ") and words in err and err.count("\n") == 1


def test_ctrl_c_during_fetch_is_reported_as_cancelled(capsys, monkeypatch):
    import cnnlab.data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cnnlab.data, "fetch", interrupted)
    code, _, err = run(capsys, "data", "fetch", "mnist")
    assert code == cli.EXIT_USER_ERROR
    assert err == "cnnlab: error: download of mnist cancelled; nothing partial was kept\n"


def test_data_dir_option_is_reusable():
    parser = argparse.ArgumentParser()
    cli.add_data_dir_argument(parser)
    assert parser.parse_args(["--data-dir", "/x"]).data_dir == "/x"
    assert parser.parse_args([]).data_dir is None


def test_data_bench_runs_every_measurement(capsys, monkeypatch, tmp_path: Path):
    """Speed is the bench's business, not the tests': each measured call is run once here, to keep the
    bench working, and its report is checked for shape only."""
    from cnnlab.data import bench

    calls = []

    def once(fn, rounds: int, warm_up: int = 1) -> float:
        calls.append(fn())
        return 0.002

    monkeypatch.setattr(bench, "median_time", once)
    code, out, _ = run(capsys, "data", "bench", "--data-dir", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 6 and all(line.endswith(")") and "2.000 ms" in line for line in lines[:5])
    assert lines[-1] == "note: MNIST not found, so its reading was not measured (cnnlab data fetch mnist)"
    assert calls[0].name == "synthetic" and calls[2].shape == (28, 28)
