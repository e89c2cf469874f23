"""qcstar.circuits.template: placeholders, batch binding, matrix slots, templatize of batches."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits import Circuit, ShapeError, simulate
from qcstar.circuits.template import bind_template, matrix_slots, templatize, unbatch

C128 = torch.complex128


def _circuit(b: int | None = None) -> Circuit:
    g = torch.Generator().manual_seed(0)
    shape = (b,) if b else ()
    c = Circuit(3)
    c.ry(torch.rand(shape, generator=g, dtype=torch.float64), 0).cx(0, 1)
    c.mux("rz", torch.rand(shape + (4,), generator=g, dtype=torch.float64), target=0, controls=[1, 2])
    c.u(0.1, 0.2, 0.3, 2)
    c.global_phase = torch.rand(shape, generator=g, dtype=torch.float64)
    return c


def test_round_trip_unbatched_and_batched():
    one = _circuit()
    t, v = templatize(one)
    assert v.shape == (1 + 4 + 3 + 1,) and t.metadata["n_parameters"] == 9
    assert torch.allclose(simulate(bind_template(t, v), dtype=C128), simulate(one, dtype=C128))
    batch = _circuit(5)
    tb, vb = templatize(batch)
    assert vb.shape == (5, 9)
    # the template of a batch is the template of one sample: same placeholders everywhere
    for op_a, op_b in zip(t.ops, tb.ops):
        assert all(torch.equal(torch.as_tensor(p), torch.as_tensor(q)) for p, q in zip(op_a.params, op_b.params))
    psi = simulate(bind_template(t, vb), dtype=C128)
    for i, c in enumerate(unbatch(batch)):
        assert torch.allclose(psi[i], simulate(c, dtype=C128), atol=1e-12)
    # shared parameters are repeated in every row
    assert torch.all(vb[:, 5:8] == torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))


def test_consecutive_placeholders_bind_as_views():
    t, v = templatize(_circuit())
    values = torch.rand(4, 9, dtype=torch.float64)
    bound = bind_template(t, values)
    mux = next(op for op in bound.ops if op.mux)
    assert mux.params[0]._base is values  # a slice, not a gather copy


def test_matrix_slots_are_filled_in_order_and_differentiable():
    t = Circuit(2, metadata={"template": True, "n_parameters": 1, "matrix_slots": (1, 2)})
    t.ry(torch.tensor(0.0, dtype=torch.float64), 0)
    t.unitary(torch.eye(2, dtype=C128), 1)
    t.unitary(torch.eye(4, dtype=C128), [0, 1])
    assert matrix_slots(t) == (1, 2)
    h = torch.tensor([[1, 1], [1, -1]], dtype=C128) / 2**0.5
    swap = torch.eye(4, dtype=C128)[[0, 2, 1, 3]].requires_grad_(True)
    c = bind_template(t, torch.tensor([0.7], dtype=torch.float64), matrices=[h, swap])
    ref = Circuit(2).ry(0.7, 0).h(1).swap(0, 1)
    psi = simulate(c, dtype=C128)
    assert torch.allclose(psi, simulate(ref, dtype=C128), atol=1e-12)
    psi.abs().square()[1].backward()
    assert swap.grad is not None and "matrix_slots" not in c.metadata
    with pytest.raises(ShapeError, match="2 matrix slot"):
        bind_template(t, torch.tensor([0.7], dtype=torch.float64), matrices=[h])


def test_bad_values():
    t, _ = templatize(_circuit())
    with pytest.raises(ShapeError, match="9 parameters"):
        bind_template(t, torch.zeros(3, 8))
    with pytest.raises(ShapeError, match="real"):
        bind_template(t, torch.zeros(9, dtype=C128))
    with pytest.raises(ShapeError, match="template circuit"):
        bind_template(_circuit(), torch.zeros(9))
