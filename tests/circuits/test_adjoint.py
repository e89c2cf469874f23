"""qcstar.circuits.adjoint: U^dagger of circuits and templates, against unitaries and Qiskit's inverse()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qcstar.circuits import GATES, Circuit, Op, simulate, unitary_matrix
from qcstar.circuits.adjoint import adjoint
from qcstar.circuits.template import bind_template, templatize

C128 = torch.complex128


def _gate_circuit(name: str, params: list[float], *, controls: bool = False) -> Circuit:
    spec = GATES[name]
    wires = tuple(range(spec.num_wires))
    c = Circuit(spec.num_wires + 1).h(spec.num_wires)  # a spare wire (control or spectator)
    kw = {"controls": (spec.num_wires,)} if controls else {}
    c.append(Op(name, wires, tuple(params), **kw))
    return c


def _params(name: str, seed: int) -> list[float]:
    g = np.random.default_rng(seed)
    return [float(v) for v in g.uniform(-math.pi, math.pi, GATES[name].num_params)]


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_catalogue_gate_concrete_and_controlled(name):
    for controls in (False, True):
        c = _gate_circuit(name, _params(name, 1), controls=controls)
        u = unitary_matrix(c)
        assert torch.allclose(unitary_matrix(adjoint(c)), u.conj().T, atol=1e-12), (name, controls)


@pytest.mark.parametrize("name", sorted(n for n in GATES if GATES[n].num_params))
def test_every_parametric_gate_as_template(name):
    c = _gate_circuit(name, _params(name, 2), controls=True)
    t, v = templatize(c)
    expected = unitary_matrix(bind_template(t, v)).conj().T
    got = unitary_matrix(bind_template(adjoint(t), -v))
    assert torch.allclose(got, expected, atol=1e-12)


def _mixed(batch: int | None = None) -> Circuit:
    g = torch.Generator().manual_seed(3)
    shape = (batch,) if batch else ()
    c = Circuit(3)
    c.h(0).ry(torch.rand(shape, generator=g, dtype=torch.float64), 1).cx(0, 2)
    c.mux("rz", torch.rand(shape + (4,), generator=g, dtype=torch.float64), target=0, controls=[1, 2])
    c.mux("unitary", torch.linalg.qr(torch.randn(4, 2, 2, dtype=C128, generator=g))[0], target=1, controls=[0, 2])
    c.u(0.1, 0.2, 0.3, 2).r(0.4, 0.5, 0).xx_plus_yy(0.6, 0.7, 1, 2).u2(0.8, 0.9, 1)
    c.unitary(torch.linalg.qr(torch.randn(4, 4, dtype=C128, generator=g))[0], [2, 0])
    c.global_phase = torch.rand(shape, generator=g, dtype=torch.float64) if batch else 0.25
    return c


def test_simulate_then_adjoint_returns_to_zero_batched():
    c = _mixed(batch=4)
    psi = simulate(adjoint(c), simulate(c, dtype=C128), dtype=C128)
    zero = torch.zeros(4, 8, dtype=C128)
    zero[:, 0] = 1
    assert torch.allclose(psi, zero, atol=1e-12)
    one = c.select(2)  # the batched adjoint is the adjoint of each sample
    assert torch.allclose(simulate(adjoint(c), dtype=C128)[2], simulate(adjoint(one), dtype=C128), atol=1e-12)


def test_template_with_phase_placeholder_and_double_adjoint():
    t, v = templatize(_mixed(batch=3))
    assert t.metadata.get("phase_index") is not None
    bound = bind_template(t, v)
    assert torch.allclose(simulate(bind_template(adjoint(t), -v), dtype=C128), simulate(adjoint(bound), dtype=C128),
                          atol=1e-12)
    # the adjoint of the adjoint template is in the doubly negated values: the original
    assert torch.allclose(simulate(bind_template(adjoint(adjoint(t)), v), dtype=C128), simulate(bound, dtype=C128),
                          atol=1e-12)


def test_matrix_slots_keep_their_order():
    g = torch.Generator().manual_seed(5)
    m1, m2 = (torch.linalg.qr(torch.randn(4, 4, dtype=C128, generator=g))[0] for _ in range(2))
    c = Circuit(2).ry(0.3, 0).unitary(m1, [0, 1]).rz(0.2, 1).unitary(m2, [1, 0])
    t, v = templatize(c)
    t.metadata["matrix_slots"] = [1, 3]
    adj = adjoint(t)
    assert adj.metadata["matrix_slots"] == [2, 0]  # reversed ops: m2, rz, m1, ry
    got = bind_template(adj, -v, matrices=[m1.conj().T, m2.conj().T])
    assert torch.allclose(unitary_matrix(got), unitary_matrix(c).conj().T, atol=1e-12)


def test_matches_qiskit_inverse():
    from qiskit.quantum_info import Operator

    from qcstar.circuits.interop import to_qiskit

    c = _mixed()
    ours = Operator(to_qiskit(adjoint(c)))
    theirs = Operator(to_qiskit(c).inverse())
    assert ours.equiv(theirs) and np.allclose(ours.data, theirs.data, atol=1e-10)  # phase included
