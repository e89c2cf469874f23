"""The catalogue-wide contract of ``circuits.gates``: every entry is checked the same way (in the
spirit of PennyLane's ``assert_valid``), so a new gate cannot be added half-described."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit import library as qlib
from qiskit.quantum_info import Operator

from qcstar.circuits import Circuit, GateError
from qcstar.circuits.gates import ALIASES, GATES, NATIVE_CONTROLLED, broadcast_shape, canonical_name, controlled, gate_matrix
from qcstar.circuits.interop import _FROM_PL, _pl_gate
from qcstar.circuits.linalg import unitarity_error

NAMES = sorted(GATES)


# one instance of every catalogue gate in Qiskit, with arbitrary parameters
QISKIT_GATES = {
    "id": qlib.IGate(), "x": qlib.XGate(), "y": qlib.YGate(), "z": qlib.ZGate(), "h": qlib.HGate(),
    "s": qlib.SGate(), "sdg": qlib.SdgGate(), "t": qlib.TGate(), "tdg": qlib.TdgGate(), "sx": qlib.SXGate(),
    "sxdg": qlib.SXdgGate(), "rx": qlib.RXGate(0.3), "ry": qlib.RYGate(-1.1), "rz": qlib.RZGate(2.2),
    "p": qlib.PhaseGate(0.7), "u1": qlib.U1Gate(0.4), "u2": qlib.U2Gate(0.3, 0.7), "u": qlib.UGate(0.3, 0.7, 1.1),
    "r": qlib.RGate(0.3, 0.7), "cx": qlib.CXGate(), "cy": qlib.CYGate(), "cz": qlib.CZGate(), "ch": qlib.CHGate(),
    "csx": qlib.CSXGate(), "cs": qlib.CSGate(), "csdg": qlib.CSdgGate(), "swap": qlib.SwapGate(),
    "iswap": qlib.iSwapGate(), "dcx": qlib.DCXGate(), "ecr": qlib.ECRGate(), "crx": qlib.CRXGate(0.3),
    "cry": qlib.CRYGate(0.3), "crz": qlib.CRZGate(0.3), "cp": qlib.CPhaseGate(0.3), "cu1": qlib.CU1Gate(0.3),
    "cu3": qlib.CU3Gate(0.3, 0.7, 1.1), "cu": qlib.CUGate(0.3, 0.7, 1.1, 0.4), "rxx": qlib.RXXGate(0.3),
    "ryy": qlib.RYYGate(0.3), "rzz": qlib.RZZGate(0.3), "rzx": qlib.RZXGate(0.3),
    "xx_plus_yy": qlib.XXPlusYYGate(0.3, 0.7), "xx_minus_yy": qlib.XXMinusYYGate(0.3, 0.7),
    "ccx": qlib.CCXGate(), "ccz": qlib.CCZGate(), "cswap": qlib.CSwapGate(),
}


def test_catalogue_is_covered():
    assert set(QISKIT_GATES) == set(GATES)


@pytest.mark.parametrize("name", sorted(QISKIT_GATES))
def test_gate_matrix_equals_qiskit(name):
    gate = QISKIT_GATES[name]
    ours = gate_matrix(name, [float(p) for p in gate.params]).numpy()
    np.testing.assert_allclose(ours, Operator(gate).data, atol=1e-14)


def test_rotations_equal_pennylane():
    qml = pytest.importorskip("pennylane")
    for name, op in [("rx", qml.RX), ("ry", qml.RY), ("rz", qml.RZ), ("p", qml.PhaseShift)]:
        np.testing.assert_allclose(gate_matrix(name, [0.37]).numpy(), qml.matrix(op(0.37, wires=0)), atol=1e-14)
    np.testing.assert_allclose(gate_matrix("u", [0.3, 0.7, 1.1]).numpy(), qml.matrix(qml.U3(0.3, 0.7, 1.1, wires=0)), atol=1e-14)
    # PennyLane's first wire is the most significant bit; ours is the least significant
    ours = gate_matrix("cry", [0.3]).numpy()
    perm = [0, 2, 1, 3]
    np.testing.assert_allclose(ours[np.ix_(perm, perm)], qml.matrix(qml.CRY(0.3, wires=[0, 1])), atol=1e-14)


def _params(name: str, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    return [float(x) for x in rng.uniform(-np.pi, np.pi, GATES[name].num_params)]


def _pennylane_matrix(name: str, params) -> np.ndarray:
    """The product of the PennyLane ops the catalogue names, in our little-endian order."""
    k = GATES[name].num_wires
    order = list(reversed(range(k)))  # PennyLane's first wire is the most significant bit
    total = np.eye(2**k, dtype=complex)
    for op in _pl_gate(qml, name, params, list(range(k))):
        total = np.asarray(qml.matrix(op, wire_order=order)) @ total
    return total


@pytest.mark.parametrize("name", NAMES)
def test_matrix_is_unitary_and_equals_qiskit(name):
    params = _params(name)
    m = gate_matrix(name, params)
    assert unitarity_error(m) < 1e-12
    gate = type(QISKIT_GATES[name])(*params)
    np.testing.assert_allclose(m.numpy(), Operator(gate).data, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_pennylane_ops_have_the_catalogue_matrix(name):
    params = _params(name, seed=1)
    np.testing.assert_allclose(_pennylane_matrix(name, params), gate_matrix(name, params).numpy(), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_pennylane_name_reads_back_as_the_gate(name):
    spec = GATES[name]
    if spec.pennylane_name is None or spec.pennylane_name.startswith("C("):
        assert spec.pennylane_name not in _FROM_PL
        return
    # p and u1 share PhaseShift (cp and cu1 ControlledPhaseShift): it reads back as a gate with the same matrix
    ours = _FROM_PL[spec.pennylane_name]
    params = _params(name)
    torch.testing.assert_close(gate_matrix(ours, params), gate_matrix(name, params))


@pytest.mark.parametrize("name", NAMES)
def test_kind_matches_the_matrix(name):
    spec = GATES[name]
    m = gate_matrix(name, _params(name, seed=2)).numpy()
    off_diagonal = m - np.diag(np.diag(m))
    if spec.kind == "diag":
        assert np.abs(off_diagonal).max() == 0
    if spec.kind == "perm":
        assert spec.num_params == 0
        image, signs = spec.signed_permutation
        assert signs is None
        rebuilt = np.zeros_like(m)
        rebuilt[image, np.arange(m.shape[1])] = 1
        np.testing.assert_array_equal(rebuilt, m)
    if spec.num_params == 0 and spec.kind != "diag":
        is_permutation = spec.signed_permutation is not None and spec.signed_permutation[1] is None
        assert is_permutation == (spec.kind == "perm"), "a constant permutation gate should be kind 'perm'"


@pytest.mark.parametrize("name", NAMES)
def test_monomial_image_and_phases_rebuild_the_matrix(name):
    spec = GATES[name]
    m = gate_matrix(name, _params(name)).numpy()
    mono = spec.monomial
    if mono is None:
        assert spec.num_params or (np.count_nonzero(np.abs(m) > 1e-12, axis=0) > 1).any()
        assert spec.signed_permutation is None
        return
    image, phase = mono
    rebuilt = np.zeros_like(m)
    rebuilt[image, np.arange(m.shape[1])] = phase
    np.testing.assert_allclose(rebuilt, m, atol=1e-15)
    if spec.signed_permutation is not None:
        img, signs = spec.signed_permutation
        np.testing.assert_array_equal(img, image)
        np.testing.assert_allclose(phase, 1 if signs is None else signs, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_controlled_form_equals_the_controlled_base(name):
    spec = GATES[name]
    if spec.controlled_base is None:
        assert spec.num_controls == 0
        return
    base = GATES[spec.controlled_base]
    assert base.num_params == spec.num_params
    assert base.num_wires + spec.num_controls == spec.num_wires
    assert NATIVE_CONTROLLED[(spec.controlled_base, spec.num_controls)] == name
    params = _params(name)
    m = gate_matrix(spec.controlled_base, params)
    for _ in range(spec.num_controls):
        # one more control as the new lowest bit: controlled() works on 2x2 blocks only, so
        # build the block-diagonal form directly
        d = m.shape[-1]
        out = torch.eye(2 * d, dtype=m.dtype)
        idx = torch.arange(d) * 2 + 1  # control (bit 0) = 1
        out[idx[:, None], idx[None, :]] = m
        m = out
    torch.testing.assert_close(gate_matrix(name, params), m)


def test_controlled_of_a_batch():
    u = gate_matrix("ry", [torch.tensor([0.1, 0.2])])
    assert controlled(u).shape == (2, 4, 4)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_is_enforced(name):
    spec = GATES[name]
    with pytest.raises(GateError, match="parameters"):
        gate_matrix(name, [0.1] * (spec.num_params + 1))
    c = Circuit(spec.num_wires)
    getattr(c, name)(*_params(name), *range(spec.num_wires))
    assert len(c.ops[0].params) == spec.num_params
    with pytest.raises(GateError):
        getattr(c, name)(*range(spec.num_wires + 1), *([0.1] * (spec.num_params + 1)))


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_resolve(alias):
    target = ALIASES[alias]
    assert target in GATES
    assert canonical_name(alias) == target
    assert canonical_name(alias.upper()) == target


def test_pennylane_names_are_aliases():
    for name, spec in GATES.items():
        label = (spec.pennylane_name or "").lower()
        if label.isidentifier():
            torch.testing.assert_close(gate_matrix(label, _params(name)), gate_matrix(name, _params(name)))


@pytest.mark.parametrize("name", [n for n in NAMES if GATES[n].num_params])
def test_batched_parameters_broadcast(name):
    spec = GATES[name]
    rng = np.random.default_rng(7)
    batch = torch.tensor(rng.uniform(-3, 3, (spec.num_params, 3)))
    # one batched parameter and the others scalars, then all batched
    mixed = [batch[0]] + [float(v) for v in batch[1:, 0]]
    out = gate_matrix(name, mixed)
    d = 2**spec.num_wires
    assert out.shape == (3, d, d)
    for b in range(3):
        one = gate_matrix(name, [float(batch[0, b])] + [float(v) for v in batch[1:, 0]])
        torch.testing.assert_close(out[b], one)
    full = gate_matrix(name, list(batch[:, :, None].expand(-1, -1, 2)))
    assert full.shape == (3, 2, d, d)
    torch.testing.assert_close(full[:, 1], gate_matrix(name, list(batch)))


def test_broadcast_shape_matches_torch():
    assert broadcast_shape((3, 1), (1, 4), ()) == torch.broadcast_shapes((3, 1), (1, 4), ())
    with pytest.raises(ValueError):
        broadcast_shape((3,), (4,))


def test_unknown_gate_names_the_catalogue():
    with pytest.raises(GateError, match="unknown gate 'nope'"):
        canonical_name("nope")
