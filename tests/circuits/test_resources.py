"""circuits.resources: the memory cap (set, environment, default) and its message."""

from __future__ import annotations

import pytest

from qcstar.circuits import resources
from qcstar.circuits.errors import ConfigError, ResourceError


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.delenv("QCSTAR_MAX_MEMORY", raising=False)
    yield
    resources.reset_memory_limit()


def test_state_bytes_is_exact_for_huge_sizes():
    assert resources.state_bytes(10, 4) == 4 * 1024 * 8
    assert resources.state_bytes(64, 1, itemsize=16) == 16 * 2**64  # a Python int: no overflow


def test_default_cap_is_a_share_of_physical_memory():
    cap = resources.memory_limit()
    assert cap is not None and 0 < cap < 2**50


def test_check_memory_refuses_over_the_cap_with_the_fix_in_the_message():
    resources.set_memory_limit("1M")
    resources.check_memory(1 << 19, "half a MiB")  # fits
    with pytest.raises(ResourceError) as info:
        resources.check_memory(1 << 21, "two MiB of states")
    msg = str(info.value)
    assert "two MiB of states" in msg and "2.0 MiB" in msg and "1.0 MiB" in msg and "QCSTAR_MAX_MEMORY" in msg
    with pytest.raises(ResourceError):
        resources.check_memory(1 << 19, "half a MiB, three times", factor=3)


def test_environment_variable_and_off_switch(monkeypatch):
    monkeypatch.setenv("QCSTAR_MAX_MEMORY", "2K")
    assert resources.memory_limit() == 2048
    monkeypatch.setenv("QCSTAR_MAX_MEMORY", "none")
    assert resources.memory_limit() is None
    resources.check_memory(1 << 60, "anything")  # the guard is off
    monkeypatch.setenv("QCSTAR_MAX_MEMORY", "lots")
    with pytest.raises(ConfigError, match="QCSTAR_MAX_MEMORY"):
        resources.memory_limit()


def test_set_memory_limit_overrides_the_environment_and_validates(monkeypatch):
    monkeypatch.setenv("QCSTAR_MAX_MEMORY", "2K")
    resources.set_memory_limit(4096)
    assert resources.memory_limit() == 4096
    resources.set_memory_limit(None)
    assert resources.memory_limit() is None
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError):
            resources.set_memory_limit(bad)  # type: ignore[arg-type]
