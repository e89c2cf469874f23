"""expval: light-cone pruning gives the same values and gradients as a full simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, Op, ShapeError, expectation, expval, simulate
from qcstar.circuits.statevector import light_cone

C128 = torch.complex128

OBSERVABLES = [
    "ZIIII",
    {0: "Z"},
    {2: "Z", 4: "Z"},
    {1: "X"},
    {0: "Y", 3: "Z"},
    [(0.5, "IIIZZ"), (-1.5, "ZIIII")],
    [(0.7, "IIIIZ"), (0.2, "IXIII")],
]


def _label(obs, n):
    """An observable written for 5 qubits, cut or padded for n (rightmost = qubit 0)."""
    if isinstance(obs, dict):
        return {q: c for q, c in obs.items() if q < n} or {0: "Z"}
    if isinstance(obs, list):
        return [(c, _label(lab, n)) for c, lab in obs]
    return obs[-n:].rjust(n, "I")


@pytest.fixture(scope="module")
def random_circuits():
    pytest.importorskip("qiskit")
    from qiskit.circuit.random import random_circuit

    from qcstar.circuits.interop import from_qiskit

    return [
        from_qiskit(random_circuit(3 + seed % 4, 2 + seed % 9, max_operands=3, measure=False, seed=1000 + seed))
        for seed in range(60)
    ]


def test_expval_equals_full_simulation_on_random_circuits(random_circuits):
    worst = 0.0
    for i, c in enumerate(random_circuits):
        obs = _label(OBSERVABLES[i % len(OBSERVABLES)], c.n_qubits)
        full = expectation(simulate(c, dtype=C128), obs)
        fast = expval(c, obs, dtype=C128)
        worst = max(worst, abs(float(full - fast)))
    assert worst < 1e-10


def test_a_cx_ladder_leaves_a_narrow_cone_for_z0():
    # Z_0 after a ladder 0->1->...: only CX(0, 1) of each ladder and the wires it reaches matter
    n, layers = 6, 3
    c = Circuit(n)
    rng = np.random.default_rng(0)
    for _ in range(layers):
        for q in range(n):
            c.ry(float(rng.normal()), q).rz(float(rng.normal()), q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    kept, diagonal = light_cone(c, {0: "Z"})
    kept_wires = sorted({w for op in kept for w in op.all_wires})
    assert kept_wires == [0, 1, 2]  # the cone widens by one wire per earlier layer
    assert diagonal is not None  # the last ladder and RZ folded into the diagonal, not simulated
    assert len(kept) < len(c.ops) // 3
    ref = expectation(simulate(c, dtype=C128), {0: "Z"})
    assert abs(float(expval(c, {0: "Z"}, dtype=C128) - ref)) < 1e-12


def test_trailing_monomials_fold_into_the_diagonal():
    # permutations (with controls and control values), diagonal and Y-type gates after the last
    # dense gate are folded, and the result still equals the full simulation
    c = Circuit(4)
    for q in range(4):
        c.h(q).ry(0.3 + q, q)
    c.append(Op("x", (2,), controls=(0, 1), control_values=(1, 0)))
    c.cx(3, 0).swap(1, 3).cy(2, 1).ccx(0, 1, 2).cz(0, 3).rz(0.4, 1).y(0).t(2).dcx(1, 2).cswap(0, 1, 3)
    c.mux("rz", torch.tensor([0.1, 0.2, 0.3, 0.4]), target=0, controls=[2, 3])
    for obs in ("ZIIZ", "IZZI", [(1.0, "ZZZZ"), (0.25, "IIIZ")]):
        kept, diagonal = light_cone(c, obs)
        assert diagonal is not None and len(kept) == 8  # only the H and RY layer remains
        ref = expectation(simulate(c, dtype=C128), obs)
        assert abs(float(expval(c, obs, dtype=C128) - ref)) < 1e-12


def test_gradients_and_batch_shape_match_full_simulation():
    torch.manual_seed(0)
    n, b = 5, 7
    theta = torch.randn(b, 3, n, dtype=torch.float64, requires_grad=True)
    c = Circuit(n)
    for layer in range(3):
        for q in range(n):
            c.ry(theta[:, layer, q], q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    for obs in ({0: "Z"}, {4: "Z"}, {2: "X"}):
        full = expectation(simulate(c, dtype=C128), obs)
        fast = expval(c, obs, dtype=C128)
        assert fast.shape == full.shape == (b,)
        g_full, = torch.autograd.grad(full.sum(), theta)
        g_fast, = torch.autograd.grad(fast.sum(), theta)
        assert torch.allclose(full, fast, atol=1e-12) and torch.allclose(g_full, g_fast, atol=1e-12)


def test_batched_ops_outside_the_cone_keep_the_batch_shape():
    c = Circuit(3).h(0).ry(torch.linspace(0, 1, 4), 2)
    value = expval(c, {0: "X"})
    assert value.shape == (4,)
    assert torch.allclose(value, torch.ones(4))


def test_initial_state_and_errors():
    psi0 = torch.randn(3, 8, dtype=C128)
    psi0 = psi0 / psi0.norm(dim=1, keepdim=True)
    c = Circuit(3).cx(0, 1).rx(0.2, 2).cx(1, 2)
    for obs in ({2: "Z"}, {0: "X", 1: "Y"}):
        ref = expectation(simulate(c, psi0, dtype=C128), obs)
        assert torch.allclose(expval(c, obs, state=psi0, dtype=C128), ref, atol=1e-12)
    with pytest.raises(ShapeError, match="IXYZ"):
        expval(c, "ZZ")
    with pytest.raises(ShapeError, match="empty"):
        expval(c, [])
    with pytest.raises(ShapeError, match="Circuit"):
        expval("not a circuit", "ZZZ")


@pytest.mark.parametrize("last", ["iswap", "y", "cy", "ecr"])
def test_monomial_gates_fold_from_the_catalogue(last):
    """Trailing monomial gates (derived from the catalogue matrix, iswap included) fold into the
    diagonal observable; a non-monomial gate (ecr) is simulated. Values agree either way."""
    c = Circuit(3).ry(0.4, 0).ry(1.1, 1).cx(0, 2).rx(0.3, 2)
    getattr(c, last)(*range({"iswap": 2, "y": 1, "cy": 2, "ecr": 2}[last]))
    kept, diagonal = light_cone(c, {0: "Z", 1: "Z"})
    folded = last != "ecr"
    assert any(op is c.ops[-1] for op in kept) != folded
    assert diagonal is not None
    want = expectation(simulate(c, dtype=C128), {0: "Z", 1: "Z"})
    torch.testing.assert_close(expval(c, {0: "Z", 1: "Z"}, dtype=C128), want)
