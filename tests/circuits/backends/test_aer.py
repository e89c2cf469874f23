"""The Aer backend: ideal statevector equals our simulator; fake-backend noise changes results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_aer")

from qcstar.circuits import Circuit, ConfigError, simulate  # noqa: E402
from qcstar.circuits.backends import get_backend  # noqa: E402
from qcstar.circuits.backends.aer import AerBackend  # noqa: E402


def _circuits() -> list[Circuit]:
    return [Circuit(3).ry(0.4 * i + 0.1, 0).cx(0, 1).h(2).cz(2, 0).rx(0.7, 1).crz(0.3, 1, 2) for i in range(3)]


def test_ideal_statevector_equals_our_simulator():
    circuits = _circuits() + [Circuit(2).unitary(torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128), 1)]
    r = get_backend("aer").run(circuits)
    for state, c in zip(r.states, circuits):
        torch.testing.assert_close(state, simulate(c, dtype=torch.complex128))


def test_density_matrix_distributions_equal_exact_probabilities():
    circuits = _circuits()
    aer = get_backend("aer:density").run(circuits, measure=[2, 0])
    ours = get_backend("torch").run(circuits, measure=[2, 0])
    assert aer.states is None and aer.distributions is not None
    for i in range(len(circuits)):
        np.testing.assert_allclose(aer.probabilities(i), ours.probabilities(i), atol=1e-10)


def test_fake_backend_noise_differs_from_ideal_and_shots_are_seeded():
    pytest.importorskip("qiskit_ibm_runtime")
    circuits = _circuits()
    noisy = get_backend("aer:fake_manila_v2:density").run(circuits)
    ideal = get_backend("torch").run(circuits)
    gap = max(np.abs(noisy.probabilities(i) - ideal.probabilities(i)).max() for i in range(len(circuits)))
    assert gap > 1e-3
    assert noisy.metadata[0]["seed_transpiler"] == 7
    backend = get_backend("aer:fake_manila_v2")
    a = backend.run(circuits, shots=300, seed=2)
    b = backend.run(circuits, shots=300, seed=2)
    assert a.counts == b.counts and all(sum(k.values()) == 300 for k in a.counts)
    with pytest.raises(ConfigError, match="density"):
        backend.run(circuits)  # noisy trajectories have no exact result


def test_counts_bit_order_matches_ours():
    r = get_backend("aer").run([Circuit(3).x(0)], shots=10, seed=0, measure=[0, 1])
    assert r.counts == [{"01": 10}]


def test_bad_method_is_a_config_error():
    with pytest.raises(ConfigError, match="method"):
        AerBackend(method="mps-ish")
    with pytest.raises(ConfigError, match="either|already sets"):
        get_backend("aer:density", method="statevector")
