"""circuits.allocator: tuning glibc's thresholds applies on Linux and rejects bad values."""

from __future__ import annotations

import sys

import pytest
import torch

from qcstar.circuits import Circuit, simulate
from qcstar.circuits.allocator import MAX_MMAP_THRESHOLD, tune_allocator, tune_allocator_from_env


def test_bad_thresholds_are_rejected():
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc tuning applies on Linux only")
    with pytest.raises(ValueError, match="mmap_threshold"):
        tune_allocator(mmap_threshold=MAX_MMAP_THRESHOLD + 1)
    with pytest.raises(ValueError, match="trim_threshold"):
        tune_allocator(mmap_threshold=2**20, trim_threshold=2**10)


def test_tuning_applies_on_glibc_and_simulation_is_unchanged(monkeypatch):
    c = Circuit(3).h(0).cx(0, 1).ry(0.3, 2)
    before = simulate(c, dtype=torch.complex128)
    applied = tune_allocator()
    if sys.platform.startswith("linux") and "glibc" in " ".join(map(str, __import__("platform").libc_ver())):
        assert applied is True
    torch.testing.assert_close(simulate(c, dtype=torch.complex128), before, atol=0, rtol=0)
    monkeypatch.setenv("QCSTAR_TUNE_ALLOCATOR", "0")
    assert tune_allocator_from_env() is False


def test_bad_thresholds_are_config_errors():
    from qcstar.circuits import ConfigError

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc tuning applies on Linux only")
    with pytest.raises(ConfigError, match="mmap_threshold=0"):
        tune_allocator(mmap_threshold=0)
