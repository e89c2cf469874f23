"""Tests of qcstar.data.images: IDX reader, checksums, digits, prepare, splits, real MNIST-family files.

Synthetic IDX files are written into tmp_path and run everywhere; the real-data tests use the
``data_dir`` fixture, which skips unless $QCSTAR_DATA points at the shared data folder.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from qcstar.circuits.errors import DataError, ShapeError
from qcstar.data import images as im
from qcstar.data import (
    DATASETS,
    data_dir as resolve_data_dir,
    load_images,
    load_split,
    make_splits,
    prepare,
    read_idx,
    verify_file,
)


def _idx_bytes(arr: np.ndarray, *, magic: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    dims = arr.shape if dims is None else dims
    magic = (0x08 << 8 | len(dims)) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + arr.astype(np.uint8).tobytes()


def _write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


# ----------------------------------------------------------------------------- IDX reader


def test_read_idx_valid_images_and_labels(tmp_path):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([3, 7], dtype=np.uint8)
    a = read_idx(_write_gz(tmp_path / "i.gz", _idx_bytes(imgs)), expected_magic=2051)
    b = read_idx(_write_gz(tmp_path / "l.gz", _idx_bytes(labels)), expected_magic=2049)
    np.testing.assert_array_equal(a, imgs)
    np.testing.assert_array_equal(b, labels)
    assert a.dtype == np.uint8 and a.flags.writeable
    # An uncompressed IDX file reads the same.
    (tmp_path / "raw").write_bytes(_idx_bytes(imgs))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw"), imgs)


def test_read_idx_wrong_magic(tmp_path):
    imgs = np.zeros((2, 3, 3), np.uint8)
    bad = _write_gz(tmp_path / "bad.gz", _idx_bytes(imgs, magic=0x12340803))
    with pytest.raises(DataError, match="wrong magic"):
        read_idx(bad)
    labels_file = _write_gz(tmp_path / "labels.gz", _idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataError, match=r"magic number 2049.*expected 2051"):
        read_idx(labels_file, expected_magic=2051)


def test_read_idx_truncated(tmp_path):
    imgs = np.ones((5, 4, 4), np.uint8)
    short = _write_gz(tmp_path / "short.gz", _idx_bytes(imgs)[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(short)
    # A cut-off gzip stream (a half-finished download) is reported, not an EOFError.
    full = gzip.compress(_idx_bytes(imgs))
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut\.gz"):
        read_idx(tmp_path / "cut.gz")
    _write_gz(tmp_path / "hdr.gz", b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "hdr.gz")


def test_read_idx_wrong_dims(tmp_path):
    imgs = np.ones((5, 4, 4), np.uint8)
    # header claims 4 images, data holds 5: extra bytes must be rejected
    more = _write_gz(tmp_path / "more.gz", _idx_bytes(imgs, dims=(4, 4, 4)))
    with pytest.raises(DataError, match="wrong dims"):
        read_idx(more)
    fewer = _write_gz(tmp_path / "fewer.gz", _idx_bytes(imgs, dims=(6, 4, 4)))
    with pytest.raises(DataError, match="truncated"):
        read_idx(fewer)
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_verify_file_mismatch_and_cache(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"qcstar")
    good = hashlib.sha256(b"qcstar").hexdigest()
    verify_file(p, good)
    verify_file(p, good.upper())  # cached and case-insensitive
    with pytest.raises(DataError) as info:
        verify_file(p, "0" * 64)
    msg = str(info.value)
    assert str(p) in msg and "0" * 64 in msg and good in msg


def _fake_mnist_dir(root: Path, *, n: int = 6, hw: int = 28) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    imgs = (np.arange(n * hw * hw) % 256).astype(np.uint8).reshape(n, hw, hw)
    labels = (np.arange(n) % 10).astype(np.uint8)
    _write_gz(folder / "t10k-images-idx3-ubyte.gz", _idx_bytes(imgs))
    _write_gz(folder / "t10k-labels-idx1-ubyte.gz", _idx_bytes(labels))
    return root


def test_load_images_from_synthetic_dir(tmp_path):
    root = _fake_mnist_dir(tmp_path)
    x, y = load_images("mnist", "test", data_dir=root, verify=False)
    assert x.shape == (6, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    # verify=True rejects a file that is not the original (size differs from the record)
    with pytest.raises(DataError, match="expected 1648877"):
        load_images("mnist", "test", data_dir=root)
    # missing file: says which, where it looked and how to fix it
    with pytest.raises(DataError) as info:
        load_images("mnist", "train", data_dir=root, verify=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(root) in msg and "QCSTAR_DATA" in msg and "download=True" in msg


def test_load_images_wrong_image_dims(tmp_path):
    root = _fake_mnist_dir(tmp_path, hw=27)
    with pytest.raises(DataError, match="wrong dims"):
        load_images("mnist", "test", data_dir=root, verify=False)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("QCSTAR_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("QCSTAR_DATA")
    assert resolve_data_dir() == Path("~/.cache/qcstar/data").expanduser()


def test_unknown_names():
    with pytest.raises(DataError, match="expected one of"):
        load_images("cifar10")
    with pytest.raises(DataError, match="split"):
        load_images("digits", "validation")
    assert DATASETS == ("mnist", "fashion-mnist", "kmnist", "digits")


# ----------------------------------------------------------------------------- digits, prepare


def test_digits():
    x, y = load_images("digits")
    assert x.shape == (1797, 8, 8) and x.dtype == torch.uint8
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert int(x.max()) == 16 and int(x.min()) == 0
    assert sorted(torch.unique(y).tolist()) == list(range(10))
    with pytest.raises(DataError, match="make_splits"):
        load_images("digits", "test")


def test_prepare_shapes_and_ranges():
    x, _ = load_images("digits")
    p = prepare(x, size=4)
    assert p.shape == (1797, 4, 4) and p.dtype == torch.float32
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    # area averaging: each 4x4 pixel is the mean of a 2x2 block
    torch.testing.assert_close(p[0, 0, 0], x[0, :2, :2].float().mean() / 16)
    s = prepare(x, size=4, normalize="standard")
    assert abs(float(s.mean())) < 1e-5 and abs(float(s.std()) - 1) < 1e-4
    assert float(prepare(x, normalize="none").max()) == 16.0
    mn = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    assert float(prepare(mn, size=7).max()) == 1.0
    with pytest.raises(ShapeError):
        prepare(x[0], size=4)


# ----------------------------------------------------------------------------- splits


def test_make_splits_determinism_and_disjoint():
    a = make_splits(1000, seed=3)
    b = make_splits(1000, seed=3)
    c = make_splits(1000, seed=4)
    for k in ("train", "val", "test"):
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["test"], c["test"])
    assert [len(a[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    allidx = torch.cat([a["train"], a["val"], a["test"]])
    assert len(torch.unique(allidx)) == 1000


def test_make_splits_stratified_and_per_class():
    _, y = load_images("digits")
    s = make_splits(len(y), labels=y, seed=0)
    seen = torch.cat([s["train"], s["val"], s["test"]])
    assert len(torch.unique(seen)) == len(y)
    frac = torch.bincount(y[s["test"]], minlength=10).float() / torch.bincount(y, minlength=10).float()
    assert float((frac - 0.1).abs().max()) < 0.03  # each class ~10 % in test
    k = make_splits(len(y), per_class=5, labels=y, seed=0)
    assert torch.bincount(y[k["train"]], minlength=10).tolist() == [5] * 10
    # held-out sets do not depend on per_class, and train sets are nested
    assert torch.equal(k["test"], s["test"]) and torch.equal(k["val"], s["val"])
    k10 = make_splits(len(y), per_class=10, labels=y, seed=0)
    assert set(k["train"].tolist()) <= set(k10["train"].tolist())
    # fractions=None: the whole rest of the pool feeds val/test
    r = make_splits(len(y), fractions=None, per_class=5, labels=y, seed=0)
    assert len(r["train"]) == 50 and len(r["val"]) + len(r["test"]) == len(y) - 50
    assert len(torch.unique(torch.cat([r["train"], r["val"], r["test"]]))) == len(y)
    with pytest.raises(DataError, match="per_class"):
        make_splits(100, per_class=2)
    with pytest.raises(DataError, match="too few"):
        make_splits(len(y), per_class=500, labels=y)


def test_load_split_digits():
    s = load_split("digits", size=4, per_class=3, seed=1)
    x, y = s["train"]
    assert x.shape == (30, 4, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.max()) <= 1.0 and s.pooled and s.protocol == "pool:all"
    assert sum(s.meta["n"].values()) == 30 + 180 + 359


# ----------------------------------------------------------------------------- real data


@pytest.mark.data
def test_real_mnist_test_split(data_dir):
    x, y = load_images("mnist", "test", data_dir=data_dir)
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64
    hist = torch.bincount(y, minlength=10)
    assert int(hist.sum()) == 10000
    assert hist.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(x.max()) == 255


@pytest.mark.data
def test_real_checksums_pass(data_dir):
    for name, files in im.FILES.items():
        for filename, info in files.items():
            path = data_dir / name / filename
            if name == "kmnist" and filename.startswith("train-images") and not path.exists():
                continue  # the known gap of the shared copy
            assert path.stat().st_size == info.size
            verify_file(path, info.sha256)


@pytest.mark.data
def test_real_kmnist(data_dir):
    if (data_dir / "kmnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("this data folder has the KMNIST training images")
    with pytest.raises(DataError, match=r"no KMNIST training images.*split='test'"):
        load_images("kmnist", "train", data_dir=data_dir)
    s = load_split("kmnist", size=8, per_class=20, seed=0, data_dir=data_dir)
    assert s.pooled and s.protocol == "pool:test-split" and "TEST split" in s.note
    x, y = s["train"]
    assert x.shape == (200, 8, 8) and torch.bincount(y).tolist() == [20] * 10
    assert len(s["val"][1]) == 1000 and len(s["test"][1]) == 2000
    idx = torch.cat([s.indices[k] for k in ("train", "val", "test")])
    assert len(torch.unique(idx)) == len(idx) and int(idx.max()) < 10000
