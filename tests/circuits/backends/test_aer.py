"""The Aer backend: ideal statevector equals our simulator; fake-backend noise changes results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_aer")

from qcstar.circuits import Circuit, ConfigError, simulate  # noqa: E402
from qcstar.circuits.backends import get_backend  # noqa: E402
from qcstar.circuits.backends.aer import AerBackend  # noqa: E402


def _circuits(count: int = 3) -> list[Circuit]:
    return [Circuit(3).ry(0.4 * i + 0.1, 0).cx(0, 1).h(2).cz(2, 0).rx(0.7, 1).crz(0.3, 1, 2) for i in range(count)]


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


@pytest.fixture(scope="module")
def noisy_density():
    """One noisy density-matrix backend for the module (building a noise model takes a moment)."""
    pytest.importorskip("qiskit_ibm_runtime")
    return get_backend("aer:fake_manila_v2:density")


def test_fake_backend_noise_differs_from_ideal_and_shots_are_seeded(noisy_density):
    circuits = _circuits()
    noisy = noisy_density.run(circuits)
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
    with pytest.raises(ConfigError, match="optimization_level"):
        AerBackend(optimization_level=5)
    with pytest.raises(ConfigError, match="either|already sets"):
        get_backend("aer:density", method="statevector")


@pytest.mark.slow
def test_fake_torino_noise_model_on_its_133_qubit_layout():
    pytest.importorskip("qiskit_ibm_runtime")
    circuits = _circuits()
    r = get_backend("aer:fake_torino").run(circuits, shots=4000, seed=0)
    exact = get_backend("torch").run(circuits)
    gaps = [np.abs(r.probabilities(i) - exact.probabilities(i)).max() for i in range(len(circuits))]
    assert max(gaps) < 0.1 and max(gaps) > 0.005  # noisy yet recognisable
    assert all(q < 133 for q in r.metadata[0]["physical_qubits"])


def test_exact_noisy_distribution_includes_readout_error_and_agrees_with_noisy_shots(noisy_density):
    circuits = _circuits(count=2)
    exact_noisy = noisy_density.run(circuits, measure=[2, 0])
    assert exact_noisy.metadata[0]["readout_error"]
    shots = 8000
    sampled = noisy_density.run(circuits, shots=shots, seed=3, measure=[2, 0])
    for i in range(2):
        p, f = exact_noisy.probabilities(i), sampled.probabilities(i)
        assert p.sum() == pytest.approx(1.0)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots) + 1e-12)


def test_readout_confusion_acts_on_the_right_bits():
    from qcstar.circuits.backends.aer import apply_readout_error

    flip_first = {5: np.array([[0.0, 1.0], [1.0, 0.0]])}  # physical qubit 5 always reads flipped
    dist = np.array([1.0, 0.0, 0.0, 0.0])  # both wires read 0
    np.testing.assert_allclose(apply_readout_error(dist, [5, 9], flip_first), [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(apply_readout_error(dist, [9, 5], flip_first), [0.0, 0.0, 1.0, 0.0])
