"""template_from_qiskit: a symbolic Qiskit circuit bound to a whole batch equals Qiskit's Statevector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import GateError, ShapeError, simulate
from qcstar.circuits.interop import from_qiskit, template_from_qiskit

qiskit = pytest.importorskip("qiskit")
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit  # noqa: E402
from qiskit.circuit.library import pauli_feature_map, z_feature_map, zz_feature_map  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402


def _reference(qc: QuantumCircuit, x: np.ndarray, order=None) -> np.ndarray:
    params = list(qc.parameters) if order is None else order
    return np.stack([Statevector(qc.assign_parameters(dict(zip(params, row)))).data for row in x])


@pytest.mark.parametrize(
    "qc",
    [
        zz_feature_map(3, reps=2),
        zz_feature_map(4, reps=1, entanglement="linear"),
        z_feature_map(3, reps=2),
        pauli_feature_map(3, reps=2, paulis=["X", "YZ", "ZZ"]),
    ],
    ids=["zz", "zz-linear", "z", "pauli"],
)
def test_qiskit_feature_maps_equal_statevector(qc):
    x = np.random.default_rng(0).uniform(-np.pi, np.pi, (5, qc.num_parameters))
    fm = template_from_qiskit(qc)
    np.testing.assert_allclose(fm.states(x).numpy(), _reference(qc, x), atol=1e-12)


def _random_circuit() -> QuantumCircuit:
    """Affine, multi-parameter and non-affine expressions, a symbolic global phase, controlled
    rotations, a U gate, constants between them and a custom gate expanded through its definition."""
    a, b = Parameter("a"), Parameter("b")
    v = ParameterVector("v", 3)
    sub = QuantumCircuit(2, name="block")
    sub.ry(b * 0.5 - 0.2, 0)
    sub.rxx(a + b, 0, 1)
    qc = QuantumCircuit(3, 1)
    qc.h(range(3))
    qc.rx(2 * a + 0.3, 0)
    qc.crz(v[0] - v[1], 0, 1)
    qc.u(a, b * v[2], 0.7, 2)
    qc.rz(0.4, 1)
    qc.append(sub.to_gate(), [2, 0])
    qc.cp((np.pi - v[0]) * (np.pi - v[2]), 1, 2)
    qc.ry(a.sin() * b, 1)
    qc.rzz(v[1], 0, 2)
    qc.barrier()
    qc.global_phase = a / 2 + 0.1
    qc.measure(0, 0)
    return qc


def test_random_parameterised_circuit_equals_statevector_and_per_sample_conversion():
    qc = _random_circuit()
    qc_unitary = qc.remove_final_measurements(inplace=False)
    x = np.random.default_rng(1).uniform(-2, 2, (6, qc.num_parameters))
    fm = template_from_qiskit(qc)
    assert fm.n_parameters == 5 and len(fm.nonlinear) >= 3  # u's b*v[2], the cp product, sin(a)*b
    batched = fm.states(x).numpy()
    np.testing.assert_allclose(batched, _reference(qc_unitary, x), atol=1e-12)
    for i, row in enumerate(x):  # the per-sample path it replaces
        one = simulate(from_qiskit(qc_unitary.assign_parameters(row)), dtype=torch.complex128).numpy()
        np.testing.assert_allclose(batched[i], one, atol=1e-12)


def test_parameter_order_and_single_row():
    qc = _random_circuit().remove_final_measurements(inplace=False)
    order = list(reversed(list(qc.parameters)))
    fm = template_from_qiskit(qc, parameters=order)
    assert fm.parameter_names == tuple(p.name for p in order)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 5))
    np.testing.assert_allclose(fm.states(x).numpy(), _reference(qc, x, order), atol=1e-12)
    np.testing.assert_allclose(fm.states(x[0]).numpy(), _reference(qc, x[:1], order)[0], atol=1e-12)


def test_affine_slots_are_differentiable():
    qc = z_feature_map(2, reps=1)
    fm = template_from_qiskit(qc)
    assert not fm.nonlinear
    x = torch.tensor([[0.3, -0.4]], dtype=torch.float64, requires_grad=True)
    fm.states(x).abs().square()[:, 1].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_errors():
    fm = template_from_qiskit(zz_feature_map(3, reps=1))
    with pytest.raises(ShapeError, match=r"has 3 parameters .*got \(4, 2\)"):
        fm.states(np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="complex"):
        fm.values(torch.zeros(1, 3, dtype=torch.complex128))
    qc = zz_feature_map(2, reps=1)
    with pytest.raises(ShapeError, match="not in parameters"):
        template_from_qiskit(qc, parameters=list(qc.parameters)[:1])
    with pytest.raises(GateError, match="QuantumCircuit"):
        template_from_qiskit("not a circuit")
    t = Parameter("t")
    bad = QuantumCircuit(1)
    bad.rx(t.log(), 0)  # log of a negative number is not a real angle
    with pytest.raises(GateError, match="not a finite real number"):
        template_from_qiskit(bad).states(np.array([[-1.0]]))


def _phase_run_circuit() -> QuantumCircuit:
    """Permutations and diagonal gates of every kind the fused path handles, between H layers."""
    from qiskit.circuit.library import PhaseGate

    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(4)
    qc.h(range(4))
    qc.p(a, 0)
    qc.rz(2 * b - 1, 1)
    qc.cx(0, 2)
    qc.cp(a * c, 2, 3)
    qc.crz(c + 0.5, 3, 1)
    qc.x(1)
    qc.rzz(b, 0, 3)
    qc.z(2)
    qc.s(0)
    qc.sdg(3)
    qc.t(1)
    qc.tdg(2)
    qc.cz(1, 3)
    qc.ccz(0, 1, 2)
    qc.swap(0, 3)
    qc.ccx(0, 1, 2)
    qc.append(PhaseGate(a - b).control(2, ctrl_state=1), [3, 1, 0])  # open control on qubit 1
    qc.p(c, 2)
    qc.ry(a, 1)  # ends the run
    qc.p(b, 1)
    qc.rz(a, 3)
    return qc


def test_fused_phase_runs_equal_gate_by_gate_and_statevector():
    qc = _phase_run_circuit()
    fm = template_from_qiskit(qc)
    kinds = [type(seg).__name__ for seg in fm._segments()]
    assert kinds.count("_PhaseRun") == 2 and "Circuit" in kinds
    x = np.random.default_rng(4).uniform(-2, 2, (5, 3))
    fused = fm.states(x).numpy()
    np.testing.assert_allclose(fused, fm.states(x, fuse=False).numpy(), atol=1e-12)
    np.testing.assert_allclose(fused, _reference(qc, x), atol=1e-12)
    single = fm.states(torch.tensor(x[0]), dtype=torch.complex64)
    np.testing.assert_allclose(single.numpy(), fused[0], atol=1e-5)


def test_a_circuit_that_starts_with_a_phase_run():
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.x(0)
    qc.p(t, 0)
    qc.cp(2 * t, 0, 1)
    qc.cx(0, 1)
    qc.rz(t, 1)
    fm = template_from_qiskit(qc)
    assert type(fm._segments()[0]).__name__ == "_PhaseRun"
    x = np.array([[0.3], [1.7]])
    np.testing.assert_allclose(fm.states(x).numpy(), _reference(qc, x), atol=1e-12)
