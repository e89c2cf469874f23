"""circuits.ir: Circuit and Op as data (building, selecting, composing, relabelling).

Validation of hostile inputs (wires, non-finite values, non-unitary matrices) is in
tests/reliability/test_circuits.py; simulation of circuits in test_statevector.py.
"""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits import Circuit, ConfigError, GateError, Op, ShapeError, simulate


def test_helpers_append_ops_and_chain():
    c = Circuit(3).h(0).cx(0, 1).rz(0.5, 2)
    assert [op.name for op in c] == ["h", "cx", "rz"] and len(c) == 3
    assert c.ops[1].wires == (0, 1) and float(c.ops[2].params[0]) == 0.5
    assert c.count_ops() == {"h": 1, "cx": 1, "rz": 1}


def test_aliases_resolve_to_catalogue_names():
    c = Circuit(2).append("CNOT", [0, 1]).append("u3", [0], [0.1, 0.2, 0.3])
    assert [op.name for op in c] == ["cx", "u"]
    with pytest.raises(GateError, match="unknown gate 'nope'"):
        Circuit(1).append("nope", [0])


def test_wrong_arity_and_out_of_range_wires_are_gate_errors():
    with pytest.raises(GateError):
        Circuit(2).append("cx", [0])
    with pytest.raises((GateError, ShapeError)):
        Circuit(2).h(2)


def test_batch_size_and_select_pick_one_sample():
    angles = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    c = Circuit(2).ry(angles, 0).cx(0, 1)
    assert c.batch_size == 3
    one = c.select(1)
    assert one.batch_size is None and float(one.ops[0].params[0]) == pytest.approx(0.2)
    assert float(c.select(-1).ops[0].params[0]) == pytest.approx(0.3)
    full = simulate(c, dtype=torch.complex128)
    assert torch.allclose(simulate(one, dtype=torch.complex128), full[1])
    with pytest.raises(ShapeError, match="out of range"):
        c.select(3)
    with pytest.raises(ConfigError):
        c.select(1.0)  # type: ignore[arg-type]


def test_select_of_an_unbatched_circuit_is_an_independent_copy():
    c = Circuit(1).h(0)
    d = c.select(0)
    d.x(0)
    assert len(c) == 1 and len(d) == 2


def test_compose_adds_ops_and_phases_and_checks_sizes():
    a = Circuit(2, global_phase=0.25).h(0)
    b = Circuit(2, global_phase=0.5).cx(0, 1)
    ab = a.compose(b)
    assert [op.name for op in ab] == ["h", "cx"] and float(ab.global_phase) == pytest.approx(0.75)
    assert len(a) == 1  # compose does not change its operands
    with pytest.raises(ShapeError, match="equal qubit counts"):
        a.compose(Circuit(3))


def test_with_wires_relabels_targets_controls_and_mux():
    op = Op("ry", (0,), (torch.zeros(4),), None, (), (), (1, 2))
    moved = op.with_wires({0: 2, 1: 0, 2: 1})
    assert moved.wires == (2,) and moved.mux == (0, 1)


def test_mux_counts_as_its_own_kind():
    c = Circuit(3).mux("rz", torch.rand(4), target=0, controls=[1, 2])
    assert c.count_ops() == {"mux_rz": 1}
    assert c.ops[0].mux == (1, 2)
