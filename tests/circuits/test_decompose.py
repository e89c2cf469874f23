"""circuits.decompose: Gray-code multiplexors and exact lowering of mux/controlled ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, GateError, Op, unitary_matrix
from qcstar.circuits.decompose import decompose, decompose_with_phase, gray_code_matrix, multiplexed_rotation


def _u(ops, n, phase=0.0):
    return unitary_matrix(Circuit(n, ops, global_phase=phase))


@pytest.mark.parametrize("name", ["ry", "rz", "rx"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gray_code_equals_mux_op(name, k):
    g = torch.Generator().manual_seed(10 * k)
    angles = torch.rand(2**k, generator=g, dtype=torch.float64) * 6 - 3
    controls = list(range(1, k + 1))
    ops = multiplexed_rotation(name, angles, 0, controls)
    assert sum(o.name == "cx" for o in ops) == 2**k
    ref = _u([Op(name, (0,), (angles,), mux=tuple(controls))], k + 1)
    assert torch.allclose(_u(ops, k + 1), ref, atol=1e-12)


@pytest.mark.parametrize("name", ["ry", "rz"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gray_code_equals_qiskit_ucr(name, k):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UCRYGate, UCRZGate
    from qiskit.quantum_info import Operator

    rng = np.random.default_rng(k)
    angles = rng.uniform(-3, 3, 2**k)
    qc = QuantumCircuit(k + 1)
    gate = (UCRYGate if name == "ry" else UCRZGate)(list(angles))
    qc.append(gate, [0] + list(range(1, k + 1)))
    ops = multiplexed_rotation(name, torch.tensor(angles), 0, list(range(1, k + 1)))
    ours = _u(ops, k + 1).numpy()
    theirs = Operator(qc).data
    # UCRZGate is defined up to a global phase in Qiskit; UCRY exactly
    ov = np.trace(theirs.conj().T @ ours) / 2 ** (k + 1)
    assert abs(abs(ov) - 1) < 1e-10
    if name == "ry":
        assert np.allclose(ours, theirs, atol=1e-10)


def test_gray_code_matrix_and_batched_gradients():
    m = gray_code_matrix(2)
    assert torch.allclose(m @ m.T, torch.eye(4, dtype=torch.float64) / 4)
    angles = torch.rand(5, 4, dtype=torch.float64, requires_grad=True)
    ops = multiplexed_rotation("ry", angles, 2, [0, 1])
    assert ops[0].batch_size == 5
    state = Circuit(3, ops)
    from qcstar.circuits import simulate

    psi = simulate(state, dtype=torch.complex128)
    psi.abs().pow(2)[:, 4:].sum().backward()
    assert angles.grad is not None and angles.grad.shape == (5, 4)
    ref = simulate(Circuit(3).mux("ry", angles.detach(), target=2, controls=[0, 1]), dtype=torch.complex128)
    assert torch.allclose(psi.detach(), ref, atol=1e-12)


UNITARIES = torch.linalg.qr(torch.randn(4, 2, 2, dtype=torch.complex128, generator=torch.Generator().manual_seed(3)))[0]


@pytest.mark.parametrize(
    "op",
    [
        Op("h", (1,), controls=(0,), control_values=(0,)),
        Op("h", (1,), mux=(0, 2)),
        Op("p", (0,), (torch.tensor([0.1, 0.2, -0.3, 0.4], dtype=torch.float64),), mux=(2, 1)),
        Op("u", (3,), tuple(torch.tensor(v, dtype=torch.float64) for v in ([0.3, 1, 2, 3], [-0.4, 0, 1, 2], [0.5, 1, 0, 2])), mux=(0, 1)),
        Op("x", (2,), controls=(0, 1, 3)),
        Op("x", (0,), controls=(1,), control_values=(0,)),
        Op("u", (1,), (0.3, 0.4, 0.5), controls=(0, 2), control_values=(0, 1)),
        Op("ry", (1,), (torch.tensor([0.3, 0.2], dtype=torch.float64),), controls=(3,), mux=(0,)),
        Op("unitary", (2,), matrix=UNITARIES, mux=(0, 3)),
        Op("swap", (0, 1), controls=(2,)),
        Op("rz", (0,), (0.7,), controls=(1, 2), control_values=(1, 0)),
    ],
    ids=repr,
)
def test_decompose_exact_with_phase(op):
    ops, phase = decompose_with_phase(op)
    assert all(not o.mux and not o.controls for o in ops)
    ref = _u([op], 4)
    assert torch.allclose(_u(ops, 4, phase), ref, atol=1e-12)
    assert torch.allclose(_u(decompose(op), 4), ref, atol=1e-12)


def test_decompose_plain_and_unsupported():
    op = Op("cx", (0, 1))
    assert decompose(op) == [op]
    with pytest.raises(GateError, match="decompose it first"):
        decompose(Op("rxx", (0, 1), (0.3,), controls=(2,)))
    with pytest.raises(GateError, match="'rx', 'ry' or 'rz'"):
        multiplexed_rotation("h", torch.zeros(2), 0, [1])
    with pytest.raises(GateError, match="shape"):
        multiplexed_rotation("ry", torch.zeros(3), 0, [1])


def test_one_qubit_rotations_are_exact_with_phase():
    from qcstar.circuits.decompose import one_qubit_rotations
    from qcstar.circuits.statevector import unitary_matrix

    qiskit_qi = pytest.importorskip("qiskit.quantum_info")
    for seed in range(5):
        u = torch.tensor(qiskit_qi.random_unitary(2, seed=seed).data)
        ops, phase = one_qubit_rotations(u, 0)
        assert [o.name for o in ops] == ["rz", "ry", "rz"]
        got = unitary_matrix(Circuit(1, ops, phase))
        torch.testing.assert_close(got, u, atol=1e-12, rtol=0)
