"""The learner's own digits: the collection's files, its changes, its damage reports and its dataset."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import (
    CollectionError,
    DataError,
    EmptyDrawing,
    MineDataset,
    MineStore,
    NotEnoughSamples,
    Stroke,
    load_dataset,
    load_idx_pair,
    mine_root,
    read_idx,
    resolve,
    status,
)
from cnnlab.data import mine as mine_module
from cnnlab.data.mine import (
    IMAGES_FILE,
    LABELS_FILE,
    SAMPLES_FILE,
    image_files,
    is_test_id,
    label_from_name,
    prepare_sample,
)


def digit(value: int) -> np.ndarray:
    """A 28x28 uint8 sample whose every ink pixel is ``value`` (so a sample can be told by its pixels)."""
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 10:18] = value
    return image


def plain_mnist_reader(path: Path) -> np.ndarray:
    """An IDX reader written from the format's description alone, as any MNIST loader would be."""
    data = path.read_bytes()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture
def store(tmp_path: Path) -> MineStore:
    return MineStore(tmp_path / "mine")


def test_the_folder_comes_from_the_argument_the_variable_or_the_user_data_folder(tmp_path, monkeypatch):
    assert mine_root(tmp_path / "a") == tmp_path / "a"
    monkeypatch.setenv("CNNLAB_MINE_DIR", str(tmp_path / "b"))
    assert MineStore().root == tmp_path / "b"
    monkeypatch.delenv("CNNLAB_MINE_DIR")
    assert mine_root().parts[-2:] == ("cnnlab", "mine")


def test_a_new_collection_is_empty_and_reading_it_creates_nothing(store: MineStore):
    state = store.read()
    assert len(state) == 0 and state.images.shape == (0, 28, 28) and state.counts().tolist() == [0] * 10
    assert not store.root.exists()
    assert store.undo_last() == ()


def test_add_keeps_pixels_label_strokes_and_metadata(store: MineStore):
    strokes = [
        {"width": 18, "points": [(10.5, 20.25), (300.0, -4.0), (140.123, 140.0)]},
        Stroke(9.0, np.array([[1.0, 2.0]])),
    ]
    first = store.add(digit(200), 3, strokes=strokes, created="2025-01-02T03:04:05+00:00")
    floats = digit(255).astype(np.float32) / 255.0  # the pad's prepare_image gives floats in [0, 1]
    second = store.add(floats, 8)
    assert (first, second) == (1, 2)

    state = MineStore(store.root).read()  # another store on the folder: nothing is cached
    assert state.ids.tolist() == [1, 2] and state.labels.tolist() == [3, 8]
    assert np.array_equal(state.images[0], digit(200)) and np.array_equal(state.images[1], digit(255))
    a, b = state.samples
    assert (a.label, a.created, a.source) == (3, "2025-01-02T03:04:05+00:00", "pad")
    assert [s.width for s in a.strokes] == [18.0, 9.0]
    # Points off the canvas are clipped to it (a drag beyond the pad); kept to 0.01 px.
    assert a.strokes[0].points.tolist() == [[10.5, 20.25], [280.0, 0.0], [140.12, 140.0]]
    assert b.strokes is None and b.created.endswith("+00:00")


def test_the_files_are_plain_mnist_idx_files(store: MineStore):
    for i in range(5):
        store.add(digit(50 + i), i)
    images = plain_mnist_reader(store.root / IMAGES_FILE)
    labels = plain_mnist_reader(store.root / LABELS_FILE)
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(images, store.images)
    ours_images, ours_labels = load_idx_pair(
        store.root / IMAGES_FILE, store.root / LABELS_FILE, num_classes=10
    )
    assert np.array_equal(ours_images, images) and np.array_equal(ours_labels, labels)
    document = json.loads((store.root / SAMPLES_FILE).read_text())
    assert document["canvas"] == 280 and [s["id"] for s in document["samples"]] == [1, 2, 3, 4, 5]


def test_delete_relabel_and_undo(store: MineStore):
    ids = [store.add(digit(10 + i), i % 10) for i in range(6)]
    batch = store.add_many([digit(100), digit(101)], [5, 6])
    assert batch == [7, 8]

    removed = store.delete([2, 4])
    assert [s.id for s in removed] == [2, 4]
    changed = store.relabel(3, 9)
    assert changed.label == 9 and changed.created == store.read().sample(3).created
    state = store.read()
    assert state.ids.tolist() == [1, 3, 5, 6, 7, 8]
    assert state.labels.tolist() == [0, 9, 4, 5, 5, 6]
    assert [int(state.images[i].max()) for i in range(6)] == [10, 12, 14, 15, 100, 101]
    assert state.counts().tolist() == [1, 0, 0, 0, 1, 2, 1, 0, 0, 1]

    # Undo takes additions back newest first (a batch together), skipping those deleted since.
    assert [s.id for s in store.undo_last()] == [7, 8]
    assert [s.id for s in store.undo_last()] == [6]
    assert [s.id for s in store.undo_last()] == [5]
    assert [s.id for s in store.undo_last()] == [3]  # 4 was deleted: the one before it
    assert store.read().ids.tolist() == [1]
    # Ids are never reused: the next digit gets a new one.
    assert store.add(digit(1), 1) == 9
    assert ids[0] == 1


def test_bad_requests_change_nothing(store: MineStore):
    store.add(digit(10), 1)
    before = (store.root / SAMPLES_FILE).read_bytes()
    with pytest.raises(DataError, match="no sample with id 99"):
        store.delete([1, 99])
    with pytest.raises(DataError, match="no sample with id 5"):
        store.relabel(5, 2)
    for label in (10, -1, True, 2.0, "3"):
        with pytest.raises(DataError, match="label must be a whole number 0-9"):
            store.add(digit(10), label)
    with pytest.raises(DataError, match="28x28"):
        store.add(np.zeros((20, 20), np.uint8), 1)
    with pytest.raises(DataError, match=r"finite numbers in \[0, 1\]"):
        store.add(np.full((28, 28), np.nan, np.float32), 1)
    with pytest.raises(DataError, match="points finite"):
        store.add(digit(10), 1, strokes=[{"width": 5, "points": [[1.0, float("inf")]]}])
    with pytest.raises(DataError, match="source"):
        store.add(digit(10), 1, source="camera")
    with pytest.raises(DataError, match="at most"):
        store.add(digit(10), 1, strokes=[{"width": 5, "points": np.zeros((mine_module.MAX_POINTS + 1, 2))}])
    assert (store.root / SAMPLES_FILE).read_bytes() == before


def test_damaged_or_disagreeing_files_are_named(store: MineStore):
    for i in range(3):
        store.add(digit(10 + i), i)
    labels_bytes = (store.root / LABELS_FILE).read_bytes()
    json_text = (store.root / SAMPLES_FILE).read_text()
    (store.root / LABELS_FILE).write_bytes(labels_bytes[:-1] + b"\x07")
    with pytest.raises(
        CollectionError, match=r"labels-idx1-ubyte: is not the file samples\.json was saved with"
    ):
        store.read()
    (store.root / LABELS_FILE).write_bytes(labels_bytes)

    document = json.loads(json_text)
    document["samples"][2]["label"] = 5
    (store.root / SAMPLES_FILE).write_text(json.dumps(document))
    with pytest.raises(CollectionError, match=r"labels-idx1-ubyte: gives sample 3 the label 2 but .* says 5"):
        store.read()
    document = json.loads(json_text)
    document["samples"].pop()
    (store.root / SAMPLES_FILE).write_text(json.dumps(document))
    with pytest.raises(CollectionError, match=r"images-idx3-ubyte: holds 3 items but samples\.json lists 2"):
        store.read()
    (store.root / SAMPLES_FILE).write_text("{not json")
    with pytest.raises(CollectionError, match=r"samples\.json: is not valid JSON"):
        store.read()
    (store.root / SAMPLES_FILE).unlink()
    with pytest.raises(CollectionError, match=r"samples\.json: is missing from your digits collection"):
        store.add(digit(1), 1)
    # Nothing the user made is thrown away by a refused change.
    assert (store.root / IMAGES_FILE).exists() and (store.root / LABELS_FILE).read_bytes() == labels_bytes


def test_two_writers_lose_no_sample(tmp_path: Path):
    root = tmp_path / "mine"
    errors = []

    def write(start: int) -> None:
        try:
            store = MineStore(root)  # each thread its own store and lock descriptor
            for i in range(15):
                store.add(digit(start + i), (start + i) % 10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(start,)) for start in (0, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    state = MineStore(root).read()
    assert sorted(state.ids.tolist()) == list(range(1, 31))
    values = sorted(int(image.max()) for image in state.images)
    assert values == [*range(15), *range(100, 115)]
    assert all(
        int(image.max()) % 10 == label for image, label in zip(state.images, state.labels, strict=True)
    )


def test_a_busy_collection_is_said_after_the_timeout(store: MineStore, monkeypatch):
    store.add(digit(3), 3)
    monkeypatch.setattr(mine_module, "LOCK_TIMEOUT", 0.05)
    with store._lock(wait=True), pytest.raises(DataError, match="is busy: another cnnlab"):
        MineStore(store.root).add(digit(4), 4)


def test_the_held_out_part_is_a_fifth_by_id_and_spread_over_classes():
    ids = np.arange(1, 2001)
    held = np.array([is_test_id(int(i)) for i in ids])
    assert 0.19 < held.mean() < 0.21
    # Digits drawn 0-9 over and over, or class after class: each class still gets about a fifth.
    for labels in (ids % 10, (ids - 1) // 200):
        shares = [held[labels == c].mean() for c in range(10)]
        assert min(shares) > 0.15 and max(shares) < 0.25
    # Any five ids in a row hold at most two held-out ones (the golden ratio's even spread).
    assert max(held[i : i + 5].sum() for i in range(len(held) - 5)) <= 2


def test_load_dataset_mine_splits_by_id_and_says_when_there_are_too_few(store: MineStore):
    with pytest.raises(NotEnoughSamples, match="is empty: label digits on the drawing pad"):
        load_dataset("mine", mine_dir=store.root)
    for i in range(4):
        store.add(digit(10 + i), i)
    with pytest.raises(NotEnoughSamples, match="holds 4 samples and none is held out for testing"):
        load_dataset("mine", mine_dir=store.root)
    for i in range(4, 12):
        store.add(digit(10 + i), i % 10)
    data = load_dataset("mine", mine_dir=store.root)
    assert isinstance(data, MineDataset) and data.class_names == tuple("0123456789")
    assert data.test_ids.tolist() == [5, 10] and len(data.train_ids) == 10
    assert data.test_labels.tolist() == [4, 9] and data.test_labels.dtype == np.int64
    assert [int(im.max()) for im in data.test_images] == [14, 19]
    assert not data.test_images.flags.writeable
    # Relabelling or deleting another sample does not move anything between the parts.
    store.delete([1, 2])
    store.relabel(5, 0)
    again = load_dataset("mine", mine_dir=store.root)
    assert again.test_ids.tolist() == [5, 10] and again.test_labels.tolist() == [0, 9]


def test_resolve_and_status_find_the_collection(store: MineStore):
    res = resolve("mine", mine_dir=store.root)
    assert not res.found and "no samples yet" in res.describe()
    assert "cnnlab data add-mine" in res.not_found_message()
    row = next(r for r in status(verify=False, mine_dir=store.root) if r.info.name == "mine")
    assert row.absent and row.checksums == "n/a" and not row.usable
    store.add(digit(9), 9)
    res = resolve("mine", mine_dir=store.root)
    assert res.found and res.folder == store.root and res.source == "collection"


def test_export_and_import_round_trip(store: MineStore, tmp_path: Path):
    shifted = np.zeros((28, 28), np.uint8)
    shifted[0:12, 0:6] = 180  # off-centre on purpose: an import keeps a 28x28's framing
    store.add_many([digit(90), shifted, digit(120)], [4, 7, 4])

    def encode(image: np.ndarray) -> bytes:  # a stand-in for the face's PNG encoder
        return image.tobytes()

    def decode(path: Path) -> np.ndarray:
        return np.frombuffer(path.read_bytes(), np.uint8).reshape(28, 28)

    for layout, names in (
        ("by-label", ["4/00001.png", "4/00003.png", "7/00002.png"]),
        ("named", ["00001_4.png", "00002_7.png", "00003_4.png"]),
    ):
        folder = tmp_path / layout
        store.export_pngs(folder, encode, layout)
        files = image_files(folder)
        assert [name for name, _ in files] == names
        copy = MineStore(tmp_path / f"copy-{layout}")
        ids = copy.import_images((name, decode(path)) for name, path in files)
        assert ids == [1, 2, 3]
        got = {int(im.max()): (int(lab), im) for im, lab in zip(copy.images, copy.labels, strict=True)}
        assert sorted(got) == [90, 120, 180]
        assert got[180][0] == 7 and np.array_equal(got[180][1], shifted)
        assert all(s.source == "import" and s.strokes is None for s in copy.samples())
    with pytest.raises(DataError, match="is not empty"):
        store.export_pngs(tmp_path / "named", encode)

    images_path, labels_path = store.export_idx(tmp_path / "idx")
    assert np.array_equal(read_idx(images_path), store.images)
    assert read_idx(labels_path).tolist() == [4, 7, 4]
    assert MineStore(tmp_path / "idx").read().ids.tolist() == [1, 2, 3]  # an export is a whole collection


def test_import_names_what_it_cannot_use(store: MineStore):
    with pytest.raises(DataError, match=r"x\.png: cannot tell its label"):
        store.import_images([("7/a.png", digit(200)), ("x.png", digit(200))])
    with pytest.raises(EmptyDrawing, match=r"blank_3\.png: the drawing is empty"):
        store.import_images([("blank_3.png", np.full((50, 50), 255, np.uint8))])
    assert len(store.read()) == 0  # all or none
    ids = store.import_images([("x.png", digit(250))], label=2)
    assert store.read().sample(ids[0]).label == 2


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("7/00012.png", 7),
        ("3\\x.jpg", 3),
        ("00012_7.png", 7),
        ("seven-7.JPEG", 7),
        ("7.png", 7),
        ("00012.png", None),
        ("17/a.png", None),
        ("photo.png", None),
    ],
)
def test_label_from_name(name: str, label: int | None):
    assert label_from_name(name) == label


def test_a_large_dark_on_light_picture_is_prepared_like_the_pad():
    picture = np.full((120, 90), 255, np.uint8)
    picture[20:100, 40:52] = 0  # a black 1 on white paper
    sample = prepare_sample(picture, "one.png", keep_framing=False)
    assert sample.dtype == np.uint8 and sample.shape == (28, 28)
    rows = np.flatnonzero(sample.max(axis=1) > 64)
    assert sample.max() == 255 and sample[0, 0] == 0 and rows[-1] - rows[0] + 1 == 20  # framed 20 high


def test_there_is_nothing_to_download_for_mine(tmp_path: Path):
    from cnnlab.data import fetch

    with pytest.raises(DataError, match="your own collection of digits; there is nothing to download"):
        fetch("mine", tmp_path)
    assert not (tmp_path / "mine").exists()
