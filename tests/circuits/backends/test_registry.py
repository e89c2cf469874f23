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


@pytest.mark.parametrize(
    "spec, module, extra",
    [
        ("aer", "qiskit_aer", "aer"),
        ("ibm-fake:FakeManilaV2", "qiskit_ibm_runtime.fake_provider", "ibm"),
        ("braket:local", "braket.devices", "braket"),
    ],
)
def test_missing_package_names_the_extra(monkeypatch, spec, module, extra):
    import sys

    from qcstar.circuits import MissingDependencyError

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=rf"qcstar\[{extra}\]"):
        get_backend(spec)


def test_every_family_needs_its_argument_where_one_is_required():
    for spec in ("ibm", "ibm-fake", "braket", "pennylane"):
        with pytest.raises(ConfigError, match="needs an argument"):
            get_backend(spec)


def test_unknown_options_name_the_known_ones():
    with pytest.raises(ConfigError, match="group_size"):
        get_backend("torch", shots=100)


def test_every_backend_is_a_context_manager():
    from qcstar.circuits import Circuit

    with get_backend("torch") as backend:
        assert backend.run([Circuit(1).x(0)], shots=3, seed=0).counts == [{"1": 3}]
