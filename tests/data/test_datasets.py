"""The registry, where datasets are found (and in which order), status, and loading."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import (
    DATASETS,
    SYNTHETIC_SOURCE,
    ChecksumError,
    DataError,
    DatasetNotFound,
    IdxError,
    load_dataset,
    resolve,
    status,
    to_float_nchw,
)
from cnnlab.data.datasets import ENV_VAR, candidate_roots, verify_file
from tests.data.conftest import fake_arrays, write_fake_dataset


def test_registry_holds_the_three_datasets():
    assert set(DATASETS) >= {"mnist", "fashion-mnist", "synthetic"}
    mnist, fashion = DATASETS["mnist"], DATASETS["fashion-mnist"]
    assert mnist.class_names == tuple("0123456789")
    assert fashion.class_names == (
        *("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"),
        *("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    )
    for info in (mnist, fashion):
        assert set(info.files) == {"train_images", "train_labels", "test_images", "test_labels"}
        assert all(len(f.sha256) == 64 and f.size > 0 for f in info.files.values())
        assert info.mirrors and all(m.startswith("http") for m in info.mirrors)
        assert info.credit and info.licence
    assert mnist.files["train_images"].sha256.startswith("440fcabf")
    assert DATASETS["synthetic"].is_synthetic and not mnist.is_synthetic


def test_registry_entries_are_immutable():
    info = DATASETS["mnist"]
    with pytest.raises(TypeError):
        info.files["train_images"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        info.name = "other"  # type: ignore[misc]


# ------------------------------------------------------------------------------------- resolution


@pytest.fixture
def four_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path):
    """The same fake dataset in an explicit folder, $CNNLAB_DATA_DIR, the cache and a frozen bundle."""
    explicit, env, bundle = tmp_path / "explicit", tmp_path / "env", tmp_path / "meipass"
    cache = isolated_cache
    info = write_fake_dataset(explicit)
    for root in (env, cache, bundle / "cnnlab_data"):
        write_fake_dataset(root)
    monkeypatch.setenv(ENV_VAR, str(env))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    return info, {"explicit": explicit, "environment": env, "cache": cache, "bundled": bundle / "cnnlab_data"}


def _remove(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


def test_resolution_order_explicit_env_cache_bundled(four_places, monkeypatch: pytest.MonkeyPatch):
    info, roots = four_places
    res = resolve(info, roots["explicit"])
    assert (res.source, res.folder) == ("explicit", roots["explicit"] / "tiny")
    _remove(roots["explicit"] / "tiny")
    res = resolve(info, roots["explicit"])
    assert (res.source, res.folder) == ("environment", roots["environment"] / "tiny")
    assert res.looked[0].problem == "no such folder"
    monkeypatch.delenv(ENV_VAR)
    res = resolve(info, roots["explicit"])
    assert (res.source, res.folder) == ("cache", roots["cache"] / "tiny")
    _remove(roots["cache"] / "tiny")
    res = resolve(info, roots["explicit"])
    assert (res.source, res.folder) == ("bundled", roots["bundled"] / "tiny")
    _remove(roots["bundled"] / "tiny")
    res = resolve(info, roots["explicit"])
    assert not res.found and res.folder is None
    assert [p.source for p in res.looked] == ["explicit", "cache", "bundled"]


def test_environment_beats_cache_when_no_folder_is_given(four_places):
    info, roots = four_places
    assert resolve(info).source == "environment"
    assert resolve(info, "").source == "environment"


def test_bundled_data_is_looked_for_only_in_a_frozen_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert [source for source, _ in candidate_roots()] == ["cache"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert [source for source, _ in candidate_roots()] == ["cache", "bundled"]


def test_incomplete_folder_says_which_files_are_missing(fake_root: Path):
    info = write_fake_dataset(fake_root)
    (fake_root / "tiny" / "t10k-labels-idx1-ubyte.gz").unlink()
    res = resolve(info, fake_root)
    assert not res.found
    assert res.looked[0].problem == "missing t10k-labels-idx1-ubyte.gz"


def test_pointing_at_the_dataset_folder_itself_gets_a_hint(fake_root: Path):
    info = write_fake_dataset(fake_root)
    res = resolve(info, fake_root / "tiny")
    assert not res.found
    assert f"name the parent, {fake_root}" in res.looked[0].problem


def test_not_found_message_says_where_and_how(tmp_path: Path, isolated_cache: Path):
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("mnist", tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere" / "mnist") in message
    assert str(isolated_cache / "mnist") in message
    assert "cnnlab data fetch mnist" in message
    assert f"{ENV_VAR} is not set" in message and "--data-dir" in message


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DataError, match=re.escape("unknown dataset 'mnsit' (known: mnist, fashion-mnist")):
        load_dataset("mnsit")


# ------------------------------------------------------------------------------------------ status


def test_status_reports_found_verified_bad_and_missing(fake_root: Path):
    good = write_fake_dataset(fake_root, "good")
    bad = write_fake_dataset(fake_root, "bad")
    missing = write_fake_dataset(fake_root / "elsewhere", "missing")
    path = fake_root / "bad" / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    registry = {i.name: i for i in (good, bad, missing)}
    rows = {row.info.name: row for row in status(fake_root, datasets=registry)}

    assert rows["good"].checksums == "ok" and rows["good"].usable
    assert rows["good"].resolution.source == "explicit"
    assert rows["bad"].checksums == "bad" and not rows["bad"].usable
    (bad_file,) = [f for f in rows["bad"].files if f.state != "ok"]
    assert bad_file.filename == "train-labels-idx1-ubyte.gz" and "SHA-256 is" in bad_file.detail
    assert rows["missing"].checksums == "missing" and not rows["missing"].resolution.found

    quick = status(fake_root, verify=False, datasets={"bad": bad})
    assert quick[0].checksums == "unchecked"


def test_status_covers_the_registry(tmp_path: Path):
    rows = status(tmp_path, verify=False)
    assert [row.info.name for row in rows] == list(DATASETS)
    synthetic = next(row for row in rows if row.info.name == "synthetic")
    assert synthetic.usable and synthetic.resolution.describe() == "generated in memory"


def test_verify_file_checks_size_first(fake_root: Path):
    info = write_fake_dataset(fake_root)
    spec = info.files["test_labels"]
    path = fake_root / "tiny" / spec.filename
    assert verify_file(path, spec) == ("ok", "SHA-256 verified")
    path.write_bytes(path.read_bytes() + b"x")
    state, detail = verify_file(path, spec)
    assert state == "bad" and "size is" in detail
    assert verify_file(fake_root / "none", spec)[0] == "missing"


# ----------------------------------------------------------------------------------------- loading


def test_load_fake_dataset(fake_root: Path):
    info = write_fake_dataset(fake_root)
    ds = load_dataset(info, fake_root, verify=True)
    expected = fake_arrays()
    np.testing.assert_array_equal(ds.train_images, expected["train_images"])
    np.testing.assert_array_equal(ds.test_labels, expected["test_labels"])
    assert ds.train_images.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    assert ds.name == "tiny" and ds.class_names == ("0", "1", "2") and ds.num_classes == 3
    assert ds.folder == fake_root / "tiny" and not ds.is_synthetic
    assert str(fake_root / "tiny") in ds.source and "chosen data folder" in ds.source
    assert "train=30" in repr(ds)
    with pytest.raises(ValueError):
        ds.train_images[0, 0, 0] = 1


def test_load_with_verify_catches_a_swapped_file(fake_root: Path):
    info = write_fake_dataset(fake_root)
    other = write_fake_dataset(fake_root / "other", seed=1)
    name = info.files["train_images"].filename
    (fake_root / "tiny" / name).write_bytes((fake_root / "other" / other.name / name).read_bytes())
    load_dataset(info, fake_root)  # a valid IDX file, so only the checksum can tell
    with pytest.raises(ChecksumError, match="cnnlab data fetch tiny"):
        load_dataset(info, fake_root, verify=True)


def test_load_reports_a_damaged_file(fake_root: Path):
    info = write_fake_dataset(fake_root)
    path = fake_root / "tiny" / info.files["test_images"].filename
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(IdxError, match=r"t10k-images-idx3-ubyte\.gz: the gzip data is damaged"):
        load_dataset(info, fake_root)


def test_labels_beyond_the_class_names_are_refused(fake_root: Path):
    info = write_fake_dataset(fake_root, classes=5)
    two_classes = type(info)(info.name, info.title, ("a", "b"), info.files)
    with pytest.raises(IdxError, match=re.escape("out of range (expected 0-1")):
        load_dataset(two_classes, fake_root)


def test_synthetic_dataset_is_deterministic_and_labelled_as_such():
    a = load_dataset("synthetic", synthetic_size=(200, 50), seed=3)
    b = load_dataset("synthetic", synthetic_size=(200, 50), seed=3)
    c = load_dataset("synthetic", synthetic_size=(200, 80), seed=3)
    d = load_dataset("synthetic", synthetic_size=(200, 50), seed=4)
    assert a.is_synthetic and a.source == SYNTHETIC_SOURCE and a.folder is None
    assert a.train_images.shape == (200, 28, 28) and a.test_images.shape == (50, 28, 28)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    np.testing.assert_array_equal(a.train_images, c.train_images)  # a bigger test set leaves train alone
    assert not np.array_equal(a.train_images, d.train_images)
    assert a.class_names == tuple("0123456789")


def test_to_float_nchw():
    images = np.array([[[0, 128], [255, 1]]], dtype=np.uint8)
    x = to_float_nchw(images)
    assert x.dtype == np.float32 and x.shape == (1, 1, 2, 2)
    assert x[0, 0, 1, 0] == 1.0 and x[0, 0, 0, 0] == 0.0
    np.testing.assert_allclose(x[0, 0, 0, 1], 128 / 255)
    with pytest.raises(TypeError):
        to_float_nchw(images.astype(np.float32))
    with pytest.raises(ValueError):
        to_float_nchw(images[0])
