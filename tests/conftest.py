"""Shared fixtures. Tests never download: real images come from $QCSTAR_DATA or are skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the MNIST-family IDX files, or skip with a reason."""
    root = os.environ.get("QCSTAR_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("real image data not available: set QCSTAR_DATA to the folder with mnist/, fashion-mnist/, kmnist/")
    return Path(root)


@pytest.fixture
def rng() -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(1234)
    return g
