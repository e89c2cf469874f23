"""The Result container and the argument checks every backend shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import BackendError, Circuit, ConfigError
from qcstar.circuits.backends.base import Result, expand_circuits, normalise_measure


def _counts_result() -> Result:
    # two measured wires (2, 0): classical bit 0 = wire 2 is the rightmost character
    return Result(backend="t", n_qubits=[3], measured=[(2, 0)], shots=10, counts=[{"01": 7, "10": 3}])


def test_counts_bit_order_is_qiskit_order_and_bit_array_is_wire_order():
    r = _counts_result()
    np.testing.assert_allclose(r.probabilities(0), [0.0, 0.7, 0.3, 0.0])
    bits = r.bit_array(0)
    assert bits.shape == (10, 2) and bits.dtype == np.uint8
    # "01": wire 2 (column 0) reads 1, wire 0 (column 1) reads 0
    assert sorted(map(tuple, bits.tolist())).count((1, 0)) == 7
    assert sorted(map(tuple, bits.tolist())).count((0, 1)) == 3


def test_exact_result_probabilities_marginalise_on_measured_wires():
    psi = torch.zeros(4, dtype=torch.complex128)
    psi[1] = 1.0  # qubit 0 = 1, qubit 1 = 0
    r = Result(backend="t", n_qubits=[2], measured=[(1,)], states=[psi])
    np.testing.assert_allclose(r.probabilities(0), [1.0, 0.0])
    assert r.probability_of_zero(0) == 1.0
    with pytest.raises(BackendError, match="shots"):
        r.bit_array(0)


def test_result_checks_lengths_and_content():
    with pytest.raises(BackendError, match="returned none"):
        Result(backend="t", n_qubits=[1], measured=[(0,)])
    with pytest.raises(ValueError, match="one per circuit"):
        Result(backend="t", n_qubits=[1, 1], measured=[(0,)], counts=[{"0": 1}, {"1": 1}])
    with pytest.raises(ConfigError, match="index"):
        _counts_result().probabilities(3)


def test_select_and_concatenate_round_trip():
    a = Result(backend="t", n_qubits=[1, 1], measured=[(0,), (0,)], shots=4, counts=[{"0": 4}, {"1": 4}])
    b = Result(backend="t", n_qubits=[1], measured=[(0,)], shots=4, counts=[{"0": 1, "1": 3}])
    joined = Result.concatenate([a, b])
    assert joined.counts == [{"0": 4}, {"1": 4}, {"0": 1, "1": 3}]
    assert joined.select([2, 0]).counts == [{"0": 1, "1": 3}, {"0": 4}]
    c = Result(backend="t", n_qubits=[1], measured=[(0,)], shots=5, counts=[{"0": 5}])
    with pytest.raises(BackendError, match="different shots"):
        Result.concatenate([a, c])


def test_expand_circuits_flattens_batches_in_order():
    batched = Circuit(1).ry(torch.tensor([0.1, 0.2, 0.3]), 0)
    flat = expand_circuits([Circuit(1).x(0), batched])
    assert len(flat) == 4
    assert float(flat[2].ops[0].params[0]) == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="at least one"):
        expand_circuits([])
    with pytest.raises(ConfigError, match="Circuit"):
        expand_circuits(["h 0"])


def test_normalise_measure_forms_and_errors():
    assert normalise_measure(None, [2, 3]) == [(0, 1), (0, 1, 2)]
    assert normalise_measure([1], [2, 3]) == [(1,), (1,)]
    assert normalise_measure([[0], [2, 1]], [2, 3]) == [(0,), (2, 1)]
    with pytest.raises(ConfigError, match="distinct wires"):
        normalise_measure([2], [2])
    with pytest.raises(ConfigError, match="distinct wires"):
        normalise_measure([0, 0], [2])
    with pytest.raises(ConfigError, match="3 circuits"):
        normalise_measure([[0], [0], [0]], [1, 1])
