"""Tests of qcstar.data.catalogue: one validation of names, splits and levels; old import paths."""

from __future__ import annotations

import importlib

import pytest

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.data import catalogue
from qcstar.data.catalogue import DataConfigError, as_path, canonical_source, check_level, check_split
from qcstar.encoders.aqce import LEVELS as AQCE_LEVELS


def test_canonical_source_and_aliases():
    assert canonical_source(" Fashion_MNIST ") == "fashion-mnist"
    assert canonical_source("fashion") == "fashion-mnist" and canonical_source("K-MNIST") == "kmnist"
    with pytest.raises(DataConfigError, match="unknown source 'cifar'.*mnist, fashion-mnist, kmnist, digits"):
        canonical_source("cifar")
    with pytest.raises(DataConfigError, match="must be a string, got int 5"):
        canonical_source(5)


def test_levels_come_from_aqce():
    assert catalogue.LEVELS == tuple(AQCE_LEVELS)
    for level in AQCE_LEVELS:
        assert check_level(level) == level
    with pytest.raises(DataConfigError, match="unknown level 'f99'; expected one of f80, f90, f95"):
        check_level("f99")
    assert check_split("test") == "test"
    with pytest.raises(DataConfigError, match="unknown split 'val'"):
        check_split("val")


def test_config_mistakes_are_config_errors_and_data_errors():
    """Issue 8's rule (ConfigError) without breaking callers that catch DataError."""
    with pytest.raises(ConfigError):
        check_split(None)
    with pytest.raises(DataError):
        check_split(None)
    with pytest.raises(ConfigError, match="out .* must be a path"):
        as_path("", "out (--out)")


@pytest.mark.parametrize(
    "module, names",
    [
        ("qcstar.data", ["DATASETS", "ImageSplits", "data_dir", "download", "load_images", "load_split", "make_splits",
                         "prepare", "read_idx", "verify_file", "CircuitDataset", "build_dataset", "dataset_info",
                         "load_dataset"]),
        ("qcstar.data.images", ["DATASETS", "FILES", "MIRRORS", "MAX_VALUE", "KMNIST_POOL_NOTE", "FileInfo",
                                "IMAGES_MAGIC", "LABELS_MAGIC", "ImageSplits", "data_dir", "download", "load_images",
                                "load_split", "make_splits", "prepare", "read_idx", "verify_file"]),
        ("qcstar.data.circuitsets", ["CircuitDataset", "CircuitItem", "FORMAT", "KINDS", "LEVELS", "MAX_FILE_BYTES",
                                     "MAX_TOTAL_BYTES", "MAX_ITEMS", "build_dataset", "dataset_info", "format_info",
                                     "load_dataset"]),
    ],
)
def test_old_import_paths_keep_their_names(module, names):
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing
    assert all(hasattr(mod, n) for n in mod.__all__)
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018 - the lazy __getattr__ must not invent names
