"""The simulator against Qiskit and PennyLane, its gradients, batching, shots and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qcstar.circuits.statevector as sv
from qcstar.circuits import (
    Circuit,
    GateError,
    Op,
    ShapeError,
    counts,
    expectation,
    gate_matrix,
    probabilities,
    sample,
    simulate,
    unitary_matrix,
)
from qcstar.circuits.statevector import op_full_matrix

qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import library as qlib  # noqa: E402
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector  # noqa: E402

C128 = torch.complex128

def _random_layered(n: int, layers: int, seed: int) -> tuple[Circuit, QuantumCircuit]:
    """Dense single-qubit layers, ladders, CZ/SWAP/CCX and 2-qubit dense blocks, in both libraries."""
    rng = np.random.default_rng(seed)
    ours, ref = Circuit(n), QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            a, b, c = rng.uniform(-3, 3, 3)
            ours.u(a, b, c, q)
            ref.u(a, b, c, q)
            ours.ry(a, q)
            ref.ry(a, q)
        for q in range(n - 1):
            ours.cx(q, q + 1)
            ref.cx(q, q + 1)
        if n < 2:
            continue
        i, j = rng.choice(n, 2, replace=False)
        ours.cz(int(i), int(j))
        ref.cz(int(i), int(j))
        ours.swap(int(j), int(i))
        ref.swap(int(j), int(i))
        if n >= 3:
            a, b, c = (int(v) for v in rng.choice(n, 3, replace=False))
            ours.ccx(a, b, c)
            ref.ccx(a, b, c)
        u = qiskit.quantum_info.random_unitary(4, seed=int(rng.integers(1 << 30))).data
        i, j = (int(v) for v in rng.choice(n, 2, replace=False))
        ours.unitary(torch.tensor(u), [i, j])
        ref.unitary(u, [i, j])
    return ours, ref


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 13])
@pytest.mark.parametrize("max_chunk", [2, 6])
def test_layered_circuits_equal_qiskit(n, max_chunk, monkeypatch):
    monkeypatch.setattr(sv, "MAX_CHUNK", max_chunk)
    ours, ref = _random_layered(n, 3, seed=n)
    np.testing.assert_allclose(simulate(ours, dtype=C128).numpy(), Statevector(ref).data, atol=1e-10)


def test_initial_state_and_unitary_matrix():
    ours, ref = _random_layered(4, 2, seed=7)
    np.testing.assert_allclose(unitary_matrix(ours).numpy(), Operator(ref).data, atol=1e-10)
    psi0 = torch.tensor(qiskit.quantum_info.random_statevector(16, seed=3).data)
    np.testing.assert_allclose(
        simulate(ours, psi0, dtype=C128).numpy(), Statevector(psi0.numpy()).evolve(ref).data, atol=1e-10
    )


def test_global_phase_is_kept():
    c = Circuit(1, global_phase=0.4)
    c.h(0)
    qc = QuantumCircuit(1, global_phase=0.4)
    qc.h(0)
    np.testing.assert_allclose(simulate(c, dtype=C128).numpy(), Statevector(qc).data, atol=1e-14)


@pytest.mark.parametrize("target,controls", [(0, [2, 3]), (1, [3, 2]), (0, [1, 3]), (3, [0, 1]), (2, [4]), (0, [1, 2, 3])])
@pytest.mark.parametrize("gate", ["ry", "rz", "rx"])
def test_multiplexed_rotation_equals_qiskit_uc_gate(target, controls, gate):
    n = 5
    rng = np.random.default_rng(len(controls) + target)
    angles = rng.uniform(-3, 3, 2 ** len(controls))
    ours, ref = Circuit(n), QuantumCircuit(n)
    for q in range(n):
        ours.h(q)
        ref.h(q)
    ours.mux(gate, torch.tensor(angles), target, controls)
    uc = {"ry": qlib.UCRYGate, "rz": qlib.UCRZGate, "rx": qlib.UCRXGate}[gate]
    ref.append(uc(list(angles)), [target] + controls)
    np.testing.assert_allclose(simulate(ours, dtype=C128).numpy(), Statevector(ref).data, atol=1e-10)


def test_multiplexed_equals_block_diagonal():
    rng = np.random.default_rng(0)
    mats = torch.tensor(np.stack([qiskit.quantum_info.random_unitary(2, seed=s).data for s in range(4)]))
    op = Op("unitary", (0,), matrix=mats, mux=(1, 2))
    full = op_full_matrix(op)[0]
    block = torch.block_diag(*mats)  # index = target + 2 * mux value
    np.testing.assert_allclose(full.numpy(), block.numpy(), atol=1e-14)
    c = Circuit(3)
    c.append(op)
    np.testing.assert_allclose(unitary_matrix(c).numpy(), block.numpy(), atol=1e-14)
    angles = torch.tensor(rng.uniform(-3, 3, 4))
    ry = op_full_matrix(Op("ry", (0,), (angles,), mux=(1, 2)))[0]
    expect = torch.block_diag(*[gate_matrix("ry", [a]) for a in angles])
    np.testing.assert_allclose(ry.numpy(), expect.numpy(), atol=1e-14)


@pytest.mark.parametrize("values", [(0,), (1,), (0, 1), (1, 0), (0, 0)])
def test_controlled_op_equals_qiskit_ctrl_state(values):
    n = 4
    controls = [2, 0][: len(values)]
    ours, ref = Circuit(n), QuantumCircuit(n)
    for q in range(n):
        ours.h(q)
        ref.h(q)
    ours.append(Op("ry", (1,), (0.9,), controls=tuple(controls), control_values=values))
    state = sum(v << i for i, v in enumerate(values))
    ref.append(qlib.RYGate(0.9).control(len(values), ctrl_state=state, annotated=False), controls + [1])
    np.testing.assert_allclose(simulate(ours, dtype=C128).numpy(), Statevector(ref).data, atol=1e-12)


def test_mux_layer_on_index_register_with_permutations():
    """The C*-net pattern: multiplexed layers on the top qubits, ladders touching the index wires."""
    rng = np.random.default_rng(5)
    ours, ref = Circuit(7), QuantumCircuit(7)
    for _ in range(3):
        for q in range(5):
            a = rng.uniform(-3, 3, 4)
            ours.mux("ry", torch.tensor(a), q, [5, 6])
            ref.append(qlib.UCRYGate(list(a)), [q, 5, 6])
            b = float(rng.uniform(-3, 3))
            ours.rz(b, q)
            ref.rz(b, q)
        ours.cx(0, 1).cx(5, 6).cx(2, 0)
        ref.cx(0, 1)
        ref.cx(5, 6)
        ref.cx(2, 0)
        v = qiskit.quantum_info.random_unitary(4, seed=int(rng.integers(1 << 30))).data
        ours.unitary(torch.tensor(v), [5, 6])
        ref.unitary(v, [5, 6])
    np.testing.assert_allclose(simulate(ours, dtype=C128).numpy(), Statevector(ref).data, atol=1e-10)


def _batched_circuit(theta: torch.Tensor, mat: torch.Tensor, mux_angles: torch.Tensor) -> Circuit:
    c = Circuit(4)
    for q in range(4):
        c.ry(theta[..., q], q)
        c.rz(theta[..., 4 + q], q)
    c.cx(0, 1).cx(1, 2).cx(2, 3)
    c.unitary(mat, [3, 1])
    c.mux("ry", mux_angles, 0, [2, 3])
    c.rx(theta[..., 0] * 0.5, 2)
    c.crz(theta[..., 1], 1, 2)
    return c


def test_batched_equals_per_sample():
    g = torch.Generator().manual_seed(0)
    theta = torch.rand(6, 8, generator=g, dtype=torch.float64)
    mux = torch.rand(6, 4, generator=g, dtype=torch.float64)
    mat = torch.linalg.qr(torch.randn(4, 4, dtype=C128, generator=g))[0]
    batched = simulate(_batched_circuit(theta, mat, mux), dtype=C128)
    assert batched.shape == (6, 16)
    for b in range(6):
        single = simulate(_batched_circuit(theta[b], mat, mux[b]), dtype=C128)
        torch.testing.assert_close(batched[b], single, atol=1e-12, rtol=0)
    # batched initial states with unbatched parameters
    psi0 = torch.randn(3, 16, dtype=C128, generator=g)
    psi0 = psi0 / psi0.norm(dim=1, keepdim=True)
    c = _batched_circuit(theta[0], mat, mux[0])
    out = simulate(c, psi0, dtype=C128)
    for b in range(3):
        torch.testing.assert_close(out[b], simulate(c, psi0[b], dtype=C128), atol=1e-12, rtol=0)


def test_complex64_close_to_complex128():
    ours, _ = _random_layered(6, 3, seed=1)
    a = simulate(ours, dtype=torch.complex64)
    b = simulate(ours, dtype=C128)
    assert a.dtype == torch.complex64
    assert float((a.to(C128) - b).abs().max()) < 1e-5


def test_gradcheck_rotations_matrices_and_mux():
    g = torch.Generator().manual_seed(1)
    theta = torch.rand(2, 8, generator=g, dtype=torch.float64, requires_grad=True)
    mux = torch.rand(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    raw = torch.randn(4, 4, dtype=C128, generator=g, requires_grad=True)

    def f(theta, mux, raw):
        mat = torch.linalg.matrix_exp(raw - raw.conj().T)  # unitary, differentiable
        psi = simulate(_batched_circuit(theta, mat, mux), dtype=C128)
        return psi

    assert torch.autograd.gradcheck(f, (theta, mux, raw), atol=1e-7)


def test_gradcheck_initial_state_and_expectation():
    g = torch.Generator().manual_seed(2)
    psi0 = torch.randn(3, 8, dtype=C128, generator=g, requires_grad=True)
    angles = torch.rand(3, dtype=torch.float64, generator=g, requires_grad=True)

    def f(psi0, angles):
        c = Circuit(3)
        c.ry(angles, 0).cx(0, 2).h(1).mux("rz", angles[:2] * 2, 2, [1])
        out = simulate(c, psi0, dtype=C128)
        return expectation(out, "XZY"), expectation(out, "ZIZ"), probabilities(out, [2, 0])

    assert torch.autograd.gradcheck(f, (psi0, angles), atol=1e-7)


def test_probabilities_marginal_equals_qiskit():
    ours, ref = _random_layered(5, 2, seed=3)
    psi = simulate(ours, dtype=C128)
    sv_ref = Statevector(ref)
    for wires in ([0], [3], [1, 4], [4, 1], [2, 0, 3], [0, 1, 2, 3, 4]):
        np.testing.assert_allclose(probabilities(psi, wires).numpy(), sv_ref.probabilities(wires), atol=1e-12)


@pytest.mark.parametrize("label", ["ZIIII", "IIIIX", "IYIZI", "XXYYZ", "YIIIY", "IIZZI"])
def test_expectation_equals_qiskit(label):
    ours, ref = _random_layered(5, 2, seed=4)
    psi = simulate(ours, dtype=C128)
    expect = Statevector(ref).expectation_value(SparsePauliOp(label)).real
    assert abs(float(expectation(psi, label)) - expect) < 1e-12
    weighted = [(0.5, label), (-2.0, "ZZIII")]
    expect2 = Statevector(ref).expectation_value(SparsePauliOp([label, "ZZIII"], [0.5, -2.0])).real
    assert abs(float(expectation(psi, weighted)) - expect2) < 1e-12
    # dict form: {qubit: pauli}, qubit 0 = rightmost character
    as_dict = {4 - i: c for i, c in enumerate(label) if c != "I"}
    assert abs(float(expectation(psi, as_dict)) - expect) < 1e-12


def test_shots_converge_and_are_reproducible():
    ours, _ = _random_layered(3, 2, seed=9)
    psi = simulate(ours, dtype=C128)
    p = probabilities(psi)
    draws = sample(psi, 200_000, seed=11)
    freq = torch.bincount(draws, minlength=8).double() / draws.numel()
    sigma = torch.sqrt(p * (1 - p) / draws.numel())
    assert bool(((freq - p).abs() <= 5 * sigma + 1e-12).all())
    assert torch.equal(draws, sample(psi, 200_000, seed=11))
    assert not torch.equal(draws[:1000], sample(psi, 1000, seed=12))
    batch = sample(torch.stack([psi, psi]), 10, seed=1)
    assert batch.shape == (2, 10)
    assert sum(counts(draws[:100], 3).values()) == 100


def test_errors_are_clear():
    with pytest.raises(GateError, match="unknown gate"):
        Op("foo", (0,))
    with pytest.raises(GateError, match="acts on 2 wire"):
        Op("cx", (0,))
    with pytest.raises(GateError, match="takes 1 parameter"):
        Op("rx", (0,), ())
    with pytest.raises(GateError, match="distinct"):
        Op("cx", (1, 1))
    with pytest.raises(GateError, match="finite"):
        Op("rx", (0,), (math.nan,))
    with pytest.raises(GateError, match="circuit has 2 qubits"):
        Circuit(2).cx(0, 2)
    with pytest.raises(ShapeError, match="batch size"):
        Circuit(2).rx(torch.rand(3), 0).rx(torch.rand(4), 1)
    with pytest.raises(ShapeError, match=r"\(4,\) or \(B, 4\)"):
        Circuit(3).mux("ry", torch.rand(3), 0, [1, 2])
    with pytest.raises(ShapeError, match="matrix of shape"):
        Circuit(2).unitary(torch.eye(2), [0, 1])
    with pytest.raises(ShapeError, match=r"shape \(8,\) or \(B, 8\)"):
        simulate(Circuit(3), torch.zeros(4, dtype=C128))
    with pytest.raises(ShapeError, match="does not match"):
        simulate(Circuit(1).rx(torch.rand(2), 0), torch.zeros(3, 2, dtype=C128))
    with pytest.raises(ShapeError, match="complex64 or torch.complex128"):
        simulate(Circuit(1), dtype=torch.float32)
    with pytest.raises(ShapeError, match="Pauli label"):
        expectation(simulate(Circuit(2)), "ZQ")
    with pytest.raises(ShapeError, match="shots"):
        sample(simulate(Circuit(1)), 0)
    with pytest.raises(ShapeError, match="n_qubits >= 1"):
        Circuit(0)


def test_permutation_of_a_gate_run_equals_simulation():
    from qcstar.circuits.statevector import apply_permutation, permutation

    ops = [Op("cx", (0, 2)), Op("cz", (1, 2)), Op("ccx", (2, 0, 3)), Op("swap", (3, 1)), Op("ccz", (0, 1, 3))]
    perm, signs = permutation(ops, 4)
    psi = torch.randn(3, 16, dtype=C128, generator=torch.Generator().manual_seed(5))
    s = None if signs is None else torch.from_numpy(signs)
    got = apply_permutation(psi, torch.from_numpy(perm), None, s)
    torch.testing.assert_close(got, simulate(Circuit(4, ops), psi, dtype=C128), atol=1e-14, rtol=0)
    with pytest.raises(GateError, match="permutation gates only"):
        permutation([Op("h", (0,))], 1)


def test_per_gate_views_of_one_tensor_give_the_same_gradients(monkeypatch):
    # angles[:, layer, q, k] per gate is read as one strided view; the result and the gradients
    # must equal the plain stack of the selects
    torch.manual_seed(3)
    raw = torch.randn(5, 2 * 3 * 4, dtype=torch.float64, requires_grad=True)

    def loss():
        angles = raw.view(5, 2, 4, 3)  # (B, L, n, 3)
        c = Circuit(4)
        for layer in range(2):
            for q in range(4):
                c.ry(angles[:, layer, q, 0], q).rz(angles[:, layer, q, 1], q).rx(angles[:, layer, 3 - q, 2], q)
            for q in range(3):
                c.cx(q, q + 1)
        return expectation(simulate(c, dtype=C128), "ZIXZ").sum()

    calls = []
    real_stack = sv._strided_stack
    monkeypatch.setattr(sv, "_strided_stack", lambda v: calls.append(real_stack(v)) or calls[-1])
    fast_value, = torch.autograd.grad(loss(), raw)
    assert sum(r is not None for r in calls) >= 2  # ry and rz took the strided view; rx (reversed wires) did not
    monkeypatch.setattr(sv, "_strided_stack", lambda v: None)
    plain_value, = torch.autograd.grad(loss(), raw)
    torch.testing.assert_close(fast_value, plain_value, atol=1e-12, rtol=0)
    # evenly spaced but descending views (one layer, wires reversed) fall back to the stack
    monkeypatch.setattr(sv, "_strided_stack", real_stack)
    angles = raw.view(5, 2, 4, 3)
    c = Circuit(4)
    for q in range(4):
        c.rx(angles[:, 0, 3 - q, 2], q)
    assert sv._strided_stack([angles[:, 0, 3 - q, 2] for q in range(4)]) is None
    assert simulate(c, dtype=C128).shape == (5, 16)


def test_cached_plans_follow_structure_not_values():
    # the same structure with new values reuses a plan; a new structure gets its own
    sv._PLANS.clear()
    for theta in (0.1, 0.7):
        c = Circuit(3).ry(theta, 0).ry(2 * theta, 1).cx(0, 1).rz(theta, 2).cx(1, 2)
        ref = Statevector.from_instruction(
            QuantumCircuit(3).compose(qlib.RYGate(theta), [0]).compose(qlib.RYGate(2 * theta), [1])
            .compose(qlib.CXGate(), [0, 1]).compose(qlib.RZGate(theta), [2]).compose(qlib.CXGate(), [1, 2])
        )
        np.testing.assert_allclose(simulate(c, dtype=C128).numpy(), ref.data, atol=1e-12)
    assert len(sv._PLANS) == 1
    simulate(Circuit(3).ry(0.3, 0).cx(1, 0), dtype=C128)
    assert len(sv._PLANS) == 2


def _unfused_chain(program, n, psi, *mats):
    """The same program through torch's own autograd, op by op (the reference for _FusedChain)."""
    s = psi
    for step in program:
        if step[0] == "block":
            _, low, k, i = step
            s = sv.apply_block(s, mats[i], low, k, n)
        else:
            _, perm, inverse, sign = step
            if perm is not None:
                s = sv.apply_permutation(s, perm, inverse)
            if sign is not None:
                s = s * sign
    return s


@pytest.mark.parametrize("batched_params", [True, False])
def test_fused_chain_gradients_equal_torch_autograd(batched_params, monkeypatch):
    # 9 qubits: chunks of 3 at the bottom, the middle and the top; CZ brings signs, and the
    # initial state is batched and differentiable too
    g = torch.Generator().manual_seed(5)
    n, b = 9, 3
    shape = (b, 3, n, 2) if batched_params else (3, n, 2)
    theta = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    psi0 = torch.randn(b, 2**n, generator=g, dtype=C128)
    psi0 = (psi0 / psi0.norm(dim=1, keepdim=True)).requires_grad_()
    weights = torch.randn(b, 2**n, generator=g, dtype=torch.float64)

    def loss():
        c = Circuit(n)
        for layer in range(3):
            for q in range(n):
                c.ry(theta[..., layer, q, 0], q).rz(theta[..., layer, q, 1], q)
            for q in range(n - 1):
                c.cx(q, q + 1)
            c.cz(0, n - 1).swap(2, 6)
        psi = simulate(c, psi0, dtype=C128)
        return (probabilities(psi) * weights).sum() + psi[:, 5].imag.sum()

    fused = torch.autograd.grad(loss(), (theta, psi0))
    monkeypatch.setattr(sv._FusedChain, "apply", staticmethod(_unfused_chain))
    plain = torch.autograd.grad(loss(), (theta, psi0))
    for a, r in zip(fused, plain):
        torch.testing.assert_close(a, r, atol=1e-12, rtol=0)
