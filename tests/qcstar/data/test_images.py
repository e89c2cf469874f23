"""Tests of qcstar.data.images: loading official splits (synthetic and real files), digits, prepare.

Synthetic IDX files are written into tmp_path and run everywhere; the real-data tests use the
``data_dir`` fixture, which skips unless $QCSTAR_DATA points at the shared data folder.
"""

from __future__ import annotations

import pytest
import torch

from .data_helpers import fake_mnist_dir
from qcstar.circuits.errors import DataError, ShapeError
from qcstar.data import DATASETS, load_images, prepare


def test_load_images_from_synthetic_dir(tmp_path):
    root = fake_mnist_dir(tmp_path)
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
    # the data set's own folder given as the data root: the message names the folder above it
    with pytest.raises(DataError, match=f"the data root is the folder ABOVE it, --data-dir {root}"):
        load_images("mnist", "test", data_dir=root / "mnist", verify=False)


def test_load_images_wrong_image_dims(tmp_path):
    root = fake_mnist_dir(tmp_path, hw=27)
    with pytest.raises(DataError, match="wrong dims"):
        load_images("mnist", "test", data_dir=root, verify=False)


def test_unknown_names():
    with pytest.raises(DataError, match="expected one of"):
        load_images("cifar10")
    with pytest.raises(DataError, match="split"):
        load_images("digits", "validation")
    assert DATASETS == ("mnist", "fashion-mnist", "kmnist", "digits")


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


@pytest.mark.data
def test_real_mnist_test_split(data_dir):
    x, y = load_images("mnist", "test", data_dir=data_dir)
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64
    hist = torch.bincount(y, minlength=10)
    assert int(hist.sum()) == 10000
    assert hist.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(x.max()) == 255
