"""get_backend: specs, options, errors."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits import ConfigError
from qcstar.circuits.backends import TorchBackend, backend_specs, get_backend


def test_torch_is_the_default_and_takes_options():
    assert isinstance(get_backend(), TorchBackend)
    assert get_backend("torch", dtype=torch.complex64).dtype == torch.complex64
    backend = TorchBackend()
    assert get_backend(backend) is backend


def test_unknown_spec_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        get_backend("qpu-of-dreams")
    for spec in backend_specs():
        assert spec in str(info.value)
    with pytest.raises(ConfigError, match="no ':argument'"):
        get_backend("torch:fast")
    with pytest.raises(ConfigError, match="spec"):
        get_backend("")
