"""circuits.devices: one device check naming the devices that exist."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits.devices import available_devices, resolve_device
from qcstar.circuits.errors import ConfigError


def test_cpu_and_none():
    assert resolve_device(None) is None
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert available_devices()[0] == "cpu"


def test_unknown_and_wrongly_typed_devices_are_config_errors():
    with pytest.raises(ConfigError, match="unknown device 'gpu0'.*cpu"):
        resolve_device("gpu0")
    with pytest.raises(ConfigError):
        resolve_device(0)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="needs CUDA"):
        resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_beyond_the_devices():
    assert resolve_device("cuda:0").type == "cuda"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
