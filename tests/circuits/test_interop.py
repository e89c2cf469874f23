"""circuits.interop: Qiskit and PennyLane conversions, checked against Qiskit's Statevector /
Operator and PennyLane's default.qubit (bit order, global phase, multiplexers, controls,
batching and gradients)."""

from __future__ import annotations

import math
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, GATES, GateError, Op, ShapeError, simulate
from qcstar.circuits.interop import from_pennylane, from_qiskit, to_pennylane, to_pennylane_qfunc, to_qiskit
from qcstar.circuits.statevector import unitary_matrix

pytestmark = pytest.mark.skipif(
    find_spec("qiskit") is None or find_spec("pennylane") is None, reason="needs qiskit and pennylane"
)

TOL = 1e-10
N_RANDOM = 300


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _reverse_bits(state, n: int):
    """PennyLane order (wire 0 most significant) <-> ours (qubit 0 least significant)."""
    state = torch.as_tensor(np.asarray(state)) if not isinstance(state, torch.Tensor) else state
    batch = state.shape[:-1]
    perm = list(range(len(batch))) + [len(batch) + n - 1 - i for i in range(n)]
    return state.reshape(*batch, *(2,) * n).permute(perm).reshape(*batch, 2**n)


def _pl_unitary(ops, n: int) -> np.ndarray:
    """Little-endian (our order) matrix of a list of PennyLane ops on wires 0..n-1, time order."""
    import pennylane as qml

    order = list(reversed(range(n)))
    m = np.eye(2**n, dtype=complex)
    for op in ops:
        m = np.asarray(qml.matrix(op, wire_order=order)) @ m
    return m


def _op_qiskit(qc) -> np.ndarray:
    from qiskit.quantum_info import Operator

    return Operator(qc).data


def _u(c: Circuit) -> np.ndarray:
    return unitary_matrix(c).numpy()


def _failures(errors, labels) -> str:
    errors = np.asarray(errors)
    bad = np.flatnonzero(~(errors < TOL))
    return ", ".join(f"{labels[i]}: {errors[i]:.2e}" for i in bad[:10])


# --------------------------------------------------------------------------------------
# 300 random Qiskit circuits
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def random_set():
    """(seed, QuantumCircuit, Circuit, our complex128 state) for N_RANDOM fixed seeds."""
    from qiskit.circuit.random import random_circuit

    out = []
    for seed in range(N_RANDOM):
        qc = random_circuit(2 + seed % 5, 1 + (seed * 7) % 20, max_operands=3, measure=False, seed=seed)
        c = from_qiskit(qc)
        out.append((seed, qc, c, simulate(c, dtype=torch.complex128).numpy()))
    return out


def test_from_qiskit_random_circuits_match_statevector(random_set):
    from qiskit.quantum_info import Statevector

    errors = [np.abs(state - Statevector(qc).data).max() for _, qc, _, state in random_set]
    assert max(errors) < TOL, "seeds failing: " + _failures(errors, [s for s, *_ in random_set])


@pytest.mark.parametrize("step", [pytest.param(3, id="every-3rd"), pytest.param(1, id="all", marks=pytest.mark.slow)])
def test_to_pennylane_random_circuits_match_our_state(random_set, step):
    import pennylane as qml

    random_set = random_set[::step]  # PennyLane costs ~15 ms a circuit: 100 by default, 300 with -m slow
    tapes: dict[int, list] = {}
    for _, _, c, _ in random_set:
        tapes.setdefault(c.n_qubits, []).append(qml.tape.QuantumScript(to_pennylane(c), [qml.state()]))
    results: dict[int, list] = {n: list(qml.execute(t, qml.device("default.qubit", wires=n))) for n, t in tapes.items()}
    errors = []
    for _, _, c, state in random_set:
        pl = _reverse_bits(results[c.n_qubits].pop(0), c.n_qubits).numpy()
        errors.append(np.abs(pl - state).max())
    assert max(errors) < TOL, "seeds failing: " + _failures(errors, [s for s, *_ in random_set])


def test_round_trips_on_random_circuits(random_set):
    sample = random_set[::5]  # 60 circuits keep this fast
    err_q = [np.abs(_op_qiskit(to_qiskit(c)) - _op_qiskit(qc)).max() for _, qc, c, _ in sample]
    err_p = [
        np.abs(simulate(from_pennylane(to_pennylane(c), wires=range(c.n_qubits)), dtype=torch.complex128).numpy() - s).max()
        for _, _, c, s in sample
    ]
    seeds = [s for s, *_ in sample]
    assert max(err_q) < TOL, "to_qiskit(from_qiskit(qc)) differs for seeds " + _failures(err_q, seeds)
    assert max(err_p) < TOL, "from_pennylane(to_pennylane(c)) differs for seeds " + _failures(err_p, seeds)


# --------------------------------------------------------------------------------------
# every catalogue gate, plain and controlled
# --------------------------------------------------------------------------------------

def _catalogue_circuits():
    g = torch.Generator().manual_seed(7)
    for name, spec in GATES.items():
        params = tuple(float(x) for x in (torch.rand(spec.num_params, generator=g, dtype=torch.float64) * 6 - 3))
        wires = (2, 0, 1)[: spec.num_wires]
        yield name, Circuit(4, [Op(name, wires, params)])
        yield f"c0-{name}", Circuit(4, [Op(name, wires, params, controls=(3,), control_values=(0,))])


def test_every_catalogue_gate_converts_exactly():
    failures = []
    for label, c in _catalogue_circuits():
        want = _u(c)
        plain = not c.ops[0].controls
        pl_ops = to_pennylane(c)
        checks = {
            "to_pennylane": _pl_unitary(pl_ops, 4),
            "to_qiskit": _op_qiskit(to_qiskit(c)),
            "from_qiskit(to_qiskit)": _u(from_qiskit(to_qiskit(c))),
            "from_pennylane(to_pennylane)": _u(from_pennylane(pl_ops, wires=range(4))),
        }
        for what, got in checks.items():
            err = np.abs(got - want).max()
            if err > TOL:
                failures.append(f"{label} {what}: {err:.2e}")
        if plain:  # a plain catalogue gate comes back as itself from Qiskit
            back = from_qiskit(to_qiskit(c)).ops
            if [o.name for o in back] != [c.ops[0].name]:
                failures.append(f"{label}: from_qiskit gave {[o.name for o in back]}")
    assert not failures, "\n".join(failures)


def test_pennylane_names_map_back_to_the_catalogue():
    import pennylane as qml

    ops = [
        qml.PauliX(0), qml.S(1), qml.adjoint(qml.T(0)), qml.adjoint(qml.SX(1)), qml.U3(0.1, 0.2, 0.3, 0),
        qml.PhaseShift(0.4, 1), qml.CNOT([1, 0]), qml.ControlledPhaseShift(0.5, [0, 2]), qml.IsingZZ(0.6, [2, 1]),
        qml.Toffoli([0, 1, 2]), qml.CSWAP([2, 0, 1]), qml.ECR([0, 1]), qml.ISWAP([1, 2]),
    ]
    c = from_pennylane(ops)
    assert [o.name for o in c.ops] == ["x", "s", "tdg", "sxdg", "u", "p", "cx", "cp", "rzz", "ccx", "cswap", "ecr", "iswap"]
    assert c.ops[6].wires == (1, 0) and c.ops[10].wires == (2, 0, 1)
    np.testing.assert_allclose(_u(c), _pl_unitary(ops, 3), atol=TOL)


# --------------------------------------------------------------------------------------
# multiplexers and controls: explicit conventions
# --------------------------------------------------------------------------------------

def test_hand_built_ucry_and_selectpaulirot_match_our_mux():
    """UCRYGate(target, *controls) and SelectPauliRot(reversed controls): mux[0] is the low bit."""
    import pennylane as qml
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UCRYGate, UCRZGate
    from qiskit.quantum_info import Statevector

    angles = [0.3, -1.1, 2.0, 0.7]
    ours = Circuit(4).h(0).h(3).h(2)
    ours.mux("ry", torch.tensor(angles, dtype=torch.float64), target=1, controls=[3, 0])
    ours.mux("rz", torch.tensor(angles, dtype=torch.float64), target=2, controls=[1, 3])
    qc = QuantumCircuit(4)
    for q in (0, 3, 2):
        qc.h(q)
    qc.append(UCRYGate(angles), [1, 3, 0])
    qc.append(UCRZGate(angles), [2, 1, 3])
    state = simulate(ours, dtype=torch.complex128).numpy()
    np.testing.assert_allclose(state, Statevector(qc).data, atol=TOL)
    back = from_qiskit(qc)
    assert [(o.name, o.wires, o.mux) for o in back.ops[3:]] == [("ry", (1,), (3, 0)), ("rz", (2,), (1, 3))]

    pl = [qml.Hadamard(0), qml.Hadamard(3), qml.Hadamard(2),
          qml.SelectPauliRot(np.array(angles), control_wires=[0, 3], target_wire=1, rot_axis="Y"),
          qml.SelectPauliRot(np.array(angles), control_wires=[3, 1], target_wire=2, rot_axis="Z")]
    np.testing.assert_allclose(_pl_unitary(pl, 4), _u(ours), atol=TOL)
    assert [(o.name, o.mux) for o in from_pennylane(pl).ops[3:]] == [("ry", (3, 0)), ("rz", (1, 3))]


def _mux_circuit() -> Circuit:
    g = torch.Generator().manual_seed(3)
    rand = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64) * 6 - 3

    def unitaries(k: int, d: int) -> torch.Tensor:
        a = torch.complex(rand(k, d, d), rand(k, d, d))
        return torch.linalg.qr(a)[0]

    c = Circuit(4)
    for q in range(4):
        c.h(q)
    c.mux("ry", rand(4), target=1, controls=[3, 0])
    c.mux("rz", rand(2), target=0, controls=[2])
    c.mux("rx", rand(8), target=2, controls=[1, 3, 0])
    c.mux("unitary", unitaries(4, 2), target=3, controls=[0, 2])          # -> UCGate
    c.mux("unitary", unitaries(2, 4), target=[0, 2], controls=[1])        # -> UnitaryGate / Select
    c.mux("u", [rand(2), rand(2), rand(2)], target=1, controls=[3])       # non-rotation mux
    c.append(Op("ry", (1,), (rand(2),), mux=(0,), controls=(2,), control_values=(0,)))  # controlled mux
    c.unitary(unitaries(1, 4)[0], [2, 0], controls=[3], control_values=[0])           # controlled unitary
    c.global_phase = 0.4
    return c


def test_multiplexed_ops_to_qiskit_and_pennylane():
    c = _mux_circuit()
    want = _u(c)
    qc = to_qiskit(c)
    names = [inst.operation.name for inst in qc.data]
    assert names[4:8] == ["ucry", "ucrz", "ucrx", "multiplexer"]
    np.testing.assert_allclose(_op_qiskit(qc), want, atol=TOL)
    pl = to_pennylane(c)
    assert sum(type(o).__name__ == "SelectPauliRot" for o in pl) == 3
    np.testing.assert_allclose(_pl_unitary(pl, 4), want, atol=TOL)
    # and back: the rotation multiplexers and the UCGate stay multiplexed
    for back in (from_qiskit(qc), from_pennylane(pl, wires=range(4))):
        np.testing.assert_allclose(_u(back), want, atol=TOL)
        assert sum(1 for o in back.ops if o.mux) >= 4


def test_control_values_follow_qiskit_ctrl_state():
    """ctrl_state bit k is the value of control k (the k-th qubit given to append)."""
    import pennylane as qml
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import RYGate, XGate

    qc = QuantumCircuit(4)
    qc.h([0, 2, 3])
    qc.append(XGate().control(2, ctrl_state=0b01, annotated=False), [2, 0, 1])          # q2 must be 1, q0 must be 0
    qc.append(RYGate(0.8).control(3, ctrl_state=0b110, annotated=True), [0, 1, 3, 2])  # q0=0, q1=1, q3=1
    ours = Circuit(4).h(0).h(2).h(3)
    ours.append(Op("x", (1,), controls=(2, 0), control_values=(1, 0)))
    ours.append(Op("ry", (2,), (0.8,), controls=(0, 1, 3), control_values=(0, 1, 1)))
    want = _op_qiskit(qc)
    np.testing.assert_allclose(_u(ours), want, atol=TOL)
    np.testing.assert_allclose(_op_qiskit(to_qiskit(ours)), want, atol=TOL)
    back = from_qiskit(qc)
    assert [(o.name, o.controls, o.control_values) for o in back.ops[3:]] == [
        ("x", (2, 0), (1, 0)), ("ry", (0, 1, 3), (0, 1, 1)),
    ]
    pl = [qml.Hadamard(0), qml.Hadamard(2), qml.Hadamard(3),
          qml.ctrl(qml.PauliX(1), control=[2, 0], control_values=[1, 0]),
          qml.ctrl(qml.RY(0.8, 2), control=[0, 1, 3], control_values=[0, 1, 1])]
    np.testing.assert_allclose(_pl_unitary(pl, 4), want, atol=TOL)
    np.testing.assert_allclose(_pl_unitary(to_pennylane(ours), 4), want, atol=TOL)
    assert [(o.name, o.controls, o.control_values) for o in from_pennylane(pl).ops[3:]] == [
        ("x", (2, 0), (1, 0)), ("ry", (0, 1, 3), (0, 1, 1)),
    ]


# --------------------------------------------------------------------------------------
# batching and gradients through a torch QNode
# --------------------------------------------------------------------------------------

def test_batched_torch_circuit_through_a_qnode_matches_values_and_gradients():
    import pennylane as qml

    g = torch.Generator().manual_seed(11)
    B, n = 3, 4
    leaf = lambda *s: (torch.rand(*s, generator=g, dtype=torch.float64) * 4 - 2).requires_grad_()
    a, b, m, k, th, phi, gp = leaf(B), leaf(B, 4), leaf(B, 2), leaf(B), leaf(B), leaf(()), leaf(B)
    herm = torch.complex(torch.randn(2, 4, 4, generator=g, dtype=torch.float64), torch.randn(2, 4, 4, generator=g, dtype=torch.float64))
    herm = herm + herm.mH
    params = (a, b, m, k, th, phi, gp)

    def build() -> Circuit:
        c = Circuit(n)
        c.h(0).h(1).h(3)
        c.ry(a, 0).rx(a * 0.5, 2).r(th, phi, 1).u(th, phi, a, 3)
        c.mux("ry", b, target=2, controls=[0, 3])
        c.mux("rx", m, target=1, controls=[2])
        c.mux("rz", b * 0.3, target=0, controls=[1, 2])
        c.append(Op("crx", (3, 1), (k,), controls=(0,), control_values=(0,)))
        c.xx_plus_yy(th, phi, 0, 2).cu(th, phi, k, a, 1, 3)
        c.unitary(torch.matrix_exp(1j * herm[0] * k[:, None, None]), [3, 0])      # batched matrix
        c.mux("unitary", torch.matrix_exp(1j * herm * phi), target=[1, 3], controls=[2])  # Select
        c.global_phase = gp
        return c

    weights = torch.randn(2, B, 2**n, generator=g, dtype=torch.float64)

    def loss(state: torch.Tensor) -> torch.Tensor:  # phase-sensitive
        return (state.real * weights[0] + state.imag * weights[1]).sum()

    ours = simulate(build(), dtype=torch.complex128)
    dev = qml.device("default.qubit", wires=list(reversed(range(n))))  # our bit order

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def qnode():
        to_pennylane(build())
        return qml.state()

    theirs = qnode()
    assert theirs.shape == (B, 2**n)
    assert (theirs - ours).abs().max().item() < 1e-8
    g_ours = torch.autograd.grad(loss(ours), params)
    g_theirs = torch.autograd.grad(loss(theirs), params)
    for name, x, y in zip("a b m k th phi gp".split(), g_ours, g_theirs):
        assert (x - y).abs().max().item() < 1e-8, f"gradient of {name} differs"


def test_index_selects_one_sample_and_batched_to_qiskit_needs_it():
    from qiskit.quantum_info import Statevector

    angles = torch.tensor([0.1, 0.7, -1.3], dtype=torch.float64)
    c = Circuit(2).h(0).ry(angles, 1).cx(0, 1)
    c.mux("rz", torch.stack([angles, -angles]).T.contiguous(), target=0, controls=[1])
    c.global_phase = angles * 2
    with pytest.raises(ShapeError, match="index"):
        to_qiskit(c)
    with pytest.raises(ShapeError, match="out of range"):
        to_qiskit(c, index=3)
    states = simulate(c, dtype=torch.complex128).numpy()
    for i in range(3):
        np.testing.assert_allclose(Statevector(to_qiskit(c, index=i)).data, states[i], atol=TOL)
    pl = _reverse_bits(_pl_state(to_pennylane(c, index=2), 2), 2).numpy()
    np.testing.assert_allclose(pl, states[2], atol=TOL)


def _pl_state(ops, n: int):
    import pennylane as qml

    tape = qml.tape.QuantumScript(ops, [qml.state()])
    return qml.execute([tape], qml.device("default.qubit", wires=n))[0]


# --------------------------------------------------------------------------------------
# from_qiskit details and errors
# --------------------------------------------------------------------------------------

def test_from_qiskit_registers_custom_gates_measurements_and_phase():
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit.circuit import Parameter
    from qiskit.circuit.library import UnitaryGate, XGate
    from qiskit.quantum_info import Statevector, random_unitary

    theta = Parameter("theta")
    sub2 = QuantumCircuit(2, name="pair")
    sub2.rx(0.3, 0)
    sub2.cx(0, 1)
    sub2.global_phase = 0.2
    sub3 = QuantumCircuit(3, name="triple")
    sub3.ry(0.5, 2)
    sub3.ccx(0, 2, 1)
    sub3.append(sub2.to_gate(), [1, 0])

    a, b = QuantumRegister(3, "a"), QuantumRegister(2, "b")
    cr = ClassicalRegister(3, "c")
    qc = QuantumCircuit(a, b, cr, global_phase=0.3)
    qc.h(a[0])
    qc.barrier()
    qc.rx(theta, b[1])
    qc.append(sub2.to_gate(), [b[0], a[1]])
    qc.append(sub3.to_gate(), [a[2], b[1], a[0]])
    qc.append(UnitaryGate(random_unitary(8, seed=5)), [b[1], a[0], a[2]])
    qc.append(XGate().control(3, ctrl_state=0b101, annotated=False), [a[0], a[1], b[0], b[1]])
    qc.rccx(a[0], b[0], a[2])
    qc.measure(b[0], cr[2])

    with pytest.raises(GateError, match="assign_parameters"):
        from_qiskit(qc)
    bound = qc.assign_parameters({theta: 0.9})
    c = from_qiskit(bound)
    assert c.n_qubits == 5
    assert c.metadata["measurements"] == [(3, 2)]
    assert "unitary" in c.count_ops()
    assert any(o.name == "x" and o.controls == (0, 1, 3) and o.control_values == (1, 0, 1) for o in c.ops)
    want = Statevector(bound.remove_final_measurements(inplace=False)).data
    np.testing.assert_allclose(simulate(c, dtype=torch.complex128).numpy(), want, atol=TOL)
    # measurements survive the way back
    back = to_qiskit(c)
    assert [(back.find_bit(i.qubits[0]).index, back.find_bit(i.clbits[0]).index) for i in back.data if i.operation.name == "measure"] == [(3, 2)]


def test_from_qiskit_errors_are_clear():
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(1, global_phase=Parameter("g"))
    with pytest.raises(GateError, match="assign_parameters"):
        from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.reset(0)
    with pytest.raises(GateError, match="reset"):
        from_qiskit(qc)
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(GateError, match="classical control"):
        from_qiskit(qc)
    with pytest.raises(GateError, match="QuantumCircuit"):
        from_qiskit("not a circuit")


# --------------------------------------------------------------------------------------
# PennyLane details
# --------------------------------------------------------------------------------------

def test_from_pennylane_qfunc_tape_labels_and_decompositions():
    import pennylane as qml

    def qfunc():
        qml.Hadamard("a")
        qml.Hadamard("c")
        qml.Rot(0.1, 0.2, 0.3, wires="b")                               # no catalogue name -> unitary
        qml.ctrl(qml.RX(0.3, "a"), control=["b", "c"], control_values=[0, 1])
        qml.QFT(wires=["a", "b", "c"])                                  # 3 wires -> decomposed
        qml.MultiRZ(0.4, wires=["c", "a", "b"])
        qml.Select([qml.RY(0.2, "a"), qml.PauliX("a")], control=["c"])
        qml.GlobalPhase(0.7)
        qml.ctrl(qml.GlobalPhase(0.4), control="b")
        return qml.state()

    dev = qml.device("default.qubit", wires=["c", "b", "a"])  # a is the least significant bit
    want = qml.QNode(qfunc, dev)()
    c = from_pennylane(qfunc)
    assert c.n_qubits == 3
    assert any(o.name == "rx" and o.controls == (1, 2) and o.control_values == (0, 1) for o in c.ops)
    assert any(o.name == "unitary" and o.mux == (2,) for o in c.ops)
    np.testing.assert_allclose(simulate(c, dtype=torch.complex128).numpy(), np.asarray(want), atol=TOL)
    # a tape and a list give the same circuit; explicit wires fix the order
    tape = qml.tape.make_qscript(qfunc)()
    np.testing.assert_allclose(_u(from_pennylane(tape)), _u(c), atol=TOL)
    c2 = from_pennylane(tape.operations, wires=["c", "b", "a"])
    np.testing.assert_allclose(simulate(c2, dtype=torch.complex128).numpy(), _reverse_bits(want, 3).numpy(), atol=TOL)
    with pytest.raises(ShapeError, match="not in wires"):
        from_pennylane(tape.operations, wires=["a", "b"])

    def measured():
        qml.Hadamard(0)
        qml.measure(0)

    with pytest.raises(GateError, match="measurement"):
        from_pennylane(measured)


def test_to_pennylane_queues_in_a_qnode_and_qfunc_helper():
    import pennylane as qml

    c = _mux_circuit()
    listed = to_pennylane(c, wires=["q0", "q1", "q2", "q3"])
    recorded = qml.tape.make_qscript(lambda: to_pennylane(c, wires=["q0", "q1", "q2", "q3"]))().operations
    assert [o.name for o in recorded] == [o.name for o in listed]  # nothing extra is queued
    qnode = qml.QNode(to_pennylane_qfunc(c), qml.device("default.qubit", wires=4))
    np.testing.assert_allclose(
        _reverse_bits(qnode(), 4).numpy(), simulate(c, dtype=torch.complex128).numpy(), atol=TOL
    )
    with pytest.raises(ShapeError, match="distinct labels"):
        to_pennylane(c, wires=[0, 1, 2])


def test_global_phase_sign_and_rotations_match_pennylane():
    import pennylane as qml

    c = Circuit(1).rx(0.3, 0)
    c.global_phase = 0.5
    ops = to_pennylane(c)
    assert isinstance(ops[-1], qml.GlobalPhase) and math.isclose(float(ops[-1].parameters[0]), -0.5)
    np.testing.assert_allclose(_pl_unitary(ops, 1), _u(c), atol=TOL)
    assert math.isclose(float(from_pennylane(ops).global_phase), 0.5)


def test_import_needs_neither_qiskit_nor_pennylane():
    code = (
        "import sys, circuits, circuits.interop\n"
        "bad = [m for m in ('qiskit', 'pennylane') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
