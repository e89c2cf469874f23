"""Tests of qcstar.data.splits: seeded, stratified, per-class splits and load_split's protocols."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits.errors import DataError
from qcstar.data import load_images, load_split, make_splits


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


@pytest.mark.data
def test_sizes_beyond_the_pool_name_the_pool():
    from qcstar.data.splits import PoolTooSmallError

    with pytest.raises(PoolTooSmallError, match=r"only 1297 of the pool's 1,797 remain after 500 test") as info:
        load_split("digits", n_train=1500, n_test=500, n_val=0)
    assert info.value.pool == 1797 and isinstance(info.value, DataError)
    with pytest.raises(PoolTooSmallError, match="cannot draw 2000 test"):
        load_split("digits", n_test=2000, n_val=0)


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
