"""Fixtures of the qcstar.data tests: one small circuit data set built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .data_helpers import KW, small_encoder
from qcstar.data.circuitsets import build_dataset


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> Path:
    return build_dataset(out=tmp_path_factory.mktemp("clean") / "ds", encoder=small_encoder(), **KW)
