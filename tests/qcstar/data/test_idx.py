"""Tests of qcstar.data.idx: the IDX reader on synthetic files (valid, wrong magic, truncated, wrong dims)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from .data_helpers import idx_bytes, write_gz
from qcstar.circuits.errors import DataError
from qcstar.data import read_idx


def test_read_idx_valid_images_and_labels(tmp_path):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([3, 7], dtype=np.uint8)
    a = read_idx(write_gz(tmp_path / "i.gz", idx_bytes(imgs)), expected_magic=2051)
    b = read_idx(write_gz(tmp_path / "l.gz", idx_bytes(labels)), expected_magic=2049)
    np.testing.assert_array_equal(a, imgs)
    np.testing.assert_array_equal(b, labels)
    assert a.dtype == np.uint8 and a.flags.writeable
    # An uncompressed IDX file reads the same.
    (tmp_path / "raw").write_bytes(idx_bytes(imgs))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw"), imgs)


def test_read_idx_wrong_magic(tmp_path):
    imgs = np.zeros((2, 3, 3), np.uint8)
    bad = write_gz(tmp_path / "bad.gz", idx_bytes(imgs, magic=0x12340803))
    with pytest.raises(DataError, match="wrong magic"):
        read_idx(bad)
    labels_file = write_gz(tmp_path / "labels.gz", idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataError, match=r"magic number 2049.*expected 2051"):
        read_idx(labels_file, expected_magic=2051)


def test_read_idx_truncated(tmp_path):
    imgs = np.ones((5, 4, 4), np.uint8)
    short = write_gz(tmp_path / "short.gz", idx_bytes(imgs)[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(short)
    # A cut-off gzip stream (a half-finished download) is reported, not an EOFError.
    full = gzip.compress(idx_bytes(imgs))
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut\.gz"):
        read_idx(tmp_path / "cut.gz")
    write_gz(tmp_path / "hdr.gz", b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "hdr.gz")


def test_read_idx_wrong_dims(tmp_path):
    imgs = np.ones((5, 4, 4), np.uint8)
    # header claims 4 images, data holds 5: extra bytes must be rejected
    more = write_gz(tmp_path / "more.gz", idx_bytes(imgs, dims=(4, 4, 4)))
    with pytest.raises(DataError, match="wrong dims"):
        read_idx(more)
    fewer = write_gz(tmp_path / "fewer.gz", idx_bytes(imgs, dims=(6, 4, 4)))
    with pytest.raises(DataError, match="truncated"):
        read_idx(fewer)
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")
