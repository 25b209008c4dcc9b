"""``cnnlab data add-mine / mine / export-mine / import-mine`` and ``--dataset mine`` in train and eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnlab import cli
from cnnlab.data import MineStore, load_dataset, read_idx
from cnnlab.engine import build, load_checkpoint, load_preset, save_checkpoint


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_picture(path: Path, label_shape: str = "one") -> Path:
    """A big dark-on-light picture of a digit-like stroke, as a scan or a paint program would make it."""
    picture = np.full((140, 100), 255, np.uint8)
    if label_shape == "one":
        picture[20:120, 44:58] = 0
    else:  # a seven: a bar and a slanted stem
        picture[20:32, 20:80] = 0
        for row in range(32, 120):
            col = 80 - (row - 32) // 2
            picture[row, col - 7 : col + 7] = 0
    path.write_bytes(cli._png_bytes(picture))
    return path


@pytest.fixture
def collection(isolated_mine: Path) -> MineStore:
    return MineStore(isolated_mine)


def test_add_mine_prepares_pictures_like_the_pad(capsys, tmp_path: Path, collection: MineStore):
    pictures = [write_picture(tmp_path / "a.png"), write_picture(tmp_path / "b.png")]
    code, out, err = run(capsys, "data", "add-mine", *map(str, pictures), "--label", "1")
    assert code == 0, err
    assert f"Added 2 pictures of 1 (ids 1-2) to {collection.root}" in out and "1 now has 2 samples" in out
    state = collection.read()
    assert state.labels.tolist() == [1, 1] and [s.source for s in state.samples] == ["import", "import"]
    image = state.images[0]
    rows, cols = np.flatnonzero(image.max(axis=1) > 64), np.flatnonzero(image.max(axis=0) > 64)
    assert image.max() == 255 and image[0, 0] == 0  # inverted: ink bright on black
    assert rows[-1] - rows[0] + 1 == 20 and 10 <= (cols[0] + cols[-1]) / 2 <= 17  # framed as MNIST


def test_add_mine_refuses_in_one_line_and_adds_nothing(capsys, tmp_path: Path, collection: MineStore):
    good = write_picture(tmp_path / "good.png")
    blank = tmp_path / "blank.png"
    blank.write_bytes(cli._png_bytes(np.full((60, 60), 255, np.uint8)))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    for argv, words in (
        ([str(good), str(blank), "--label", "1"], "blank.png: the drawing is empty"),
        ([str(good), str(tmp_path / "junk.png"), "--label", "1"], "junk.png: cannot read the image"),
        ([str(good), str(tmp_path / "none.png"), "--label", "1"], "none.png: no such image file"),
        ([str(good), "--label", "10"], "argument --label: must be a digit 0-9"),
        ([str(good)], "the following arguments are required: --label"),
    ):
        code, out, err = run(capsys, "data", "add-mine", *argv)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert len(collection.read()) == 0


def test_data_mine_tells_counts_and_place(capsys, collection: MineStore):
    code, out, _ = run(capsys, "data", "mine")
    assert code == 0 and f"none yet; they will live in {collection.root}" in out
    collection.add_many([np.full((28, 28), 200, np.uint8)] * 6, [3, 3, 3, 8, 8, 0])
    code, out, _ = run(capsys, "data", "mine", "--json")
    report = json.loads(out)
    assert report["folder"] == str(collection.root) and report["count"] == 6
    assert report["counts"] == [1, 0, 0, 3, 0, 0, 0, 0, 2, 0]
    assert report["test_count"] == 1 and report["test_counts"] == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]  # id 5
    code, out, _ = run(capsys, "data", "mine")
    assert "Your digits: 6 samples" in out and "5 for training, 1 held out" in out
    code, out, _ = run(capsys, "data", "status", "--no-verify", "mine")
    assert code == 0 and f"in {collection.root}" in out


def test_export_then_import_gives_the_same_digits(capsys, tmp_path: Path, collection: MineStore, monkeypatch):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    images[:, 0, :] = images[:, -1, :] = images[:, :, 0] = images[:, :, -1] = 0  # black paper at the border
    collection.add_many(list(images), [0, 1, 2, 3, 4, 5, 5])
    code, out, err = run(capsys, "data", "export-mine", str(tmp_path / "out"))
    assert code == 0, err
    assert "Exported 7 samples" in out and (tmp_path / "out" / "5" / "00007.png").is_file()
    assert np.array_equal(read_idx(tmp_path / "out" / "images-idx3-ubyte"), images)
    code, _, err = run(capsys, "data", "export-mine", str(tmp_path / "out"))
    assert code == 2 and "is not empty" in err

    monkeypatch.setenv("CNNLAB_MINE_DIR", str(tmp_path / "elsewhere"))
    code, out, err = run(capsys, "data", "import-mine", str(tmp_path / "out"))
    assert code == 0 and "Imported 7 pictures" in out, err
    copy = MineStore(tmp_path / "elsewhere").read()
    # PNG through Qt and back: the very same pixels and labels (sorted by label folder, then id).
    assert np.array_equal(copy.images, images) and copy.labels.tolist() == [0, 1, 2, 3, 4, 5, 5]
    code, _, err = run(capsys, "data", "import-mine", str(tmp_path / "none"))
    assert code == 2 and "no such folder" in err


def test_eval_on_mine_prints_the_same_keys_as_on_other_datasets(
    capsys, tmp_path: Path, collection: MineStore
):
    net = build(load_preset("seed"), np.random.default_rng(0))
    checkpoint = save_checkpoint(tmp_path / "seed.npz", net, metadata={"dataset": "synthetic"})
    code, _, err = run(capsys, "eval", str(checkpoint), "--dataset", "mine", "--json")
    assert code == 2 and "is empty: label digits on the drawing pad" in err
    synthetic = load_dataset("synthetic", synthetic_size=(10, 30))
    collection.add_many(list(synthetic.test_images), synthetic.test_labels.tolist())
    code, out, err = run(capsys, "eval", str(checkpoint), "--dataset", "mine", "--json")
    assert code == 0, err
    mine = json.loads(out)
    code, out, _ = run(capsys, "eval", str(checkpoint), "--dataset", "synthetic", "--json", "--limit", "10")
    assert set(json.loads(out)) == set(mine)
    assert mine["dataset"] == "mine" and mine["count"] == len(load_dataset("mine").test_images) == 5


@pytest.mark.slow
def test_train_fine_tunes_from_weights_on_a_mix(capsys, tmp_path: Path, collection: MineStore):
    synthetic = load_dataset("synthetic", synthetic_size=(40, 10), seed=5)
    collection.add_many(list(synthetic.train_images), synthetic.train_labels.tolist())
    start = save_checkpoint(tmp_path / "start.npz", build(load_preset("seed"), np.random.default_rng(0)))
    argv = ["train", "--init-from", str(start), "--dataset", "mine", "--mix", "synthetic:0.5"]
    # No validation split: every one of the 32 own digits is trained on.
    code, out, err = run(
        capsys, *argv, "--epochs", "1", "--validation", "0", "--out", str(tmp_path / "ft"), "--no-record"
    )
    assert code == 0, err
    assert f"Starting from the weights of {start}" in out
    assert "on mine+synthetic:0.5: 64 training and 8 test images" in out  # 32 own + 32 generated
    saved = load_checkpoint(tmp_path / "ft" / "checkpoint.npz")
    assert saved.metadata["dataset"] == "mine+synthetic:0.5" and saved.metadata["step"] == 1
    # Its default evaluation set is the mix's test part: the held-out part of your digits.
    code, out, _ = run(capsys, "eval", str(tmp_path / "ft" / "checkpoint.npz"), "--json")
    assert json.loads(out)["count"] == 8

    for extra, words in (
        (["--mix", "synthetic:1.5"], "must be between 0 and 1"),
        (["--mix", "synthetic"], "write it as DATASET:SHARE"),
        (["--dataset", "synthetic", "--mix", "synthetic:0.5"], "not synthetic with itself"),
        (["--resume", str(start)], "not allowed with argument --init-from"),
    ):
        code, _, err = run(capsys, *argv, *extra, "--epochs", "1", "--no-record")
        assert code == 2 and words in err, err
    code, _, err = run(capsys, "train", "--mix", "mnist:0.5", "--no-record")
    assert code == 2 and "--mix needs --dataset" in err
