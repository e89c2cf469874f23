"""qcstar.circuits.register: simulate_columns equals simulate on the bound circuit, column by column."""

from __future__ import annotations

import time

import pytest
import torch

from qcstar.circuits import Circuit, GateError, ResourceError, ShapeError, simulate
from qcstar.circuits.register import column_states, simulate_columns
from qcstar.circuits.resources import reset_memory_limit, set_memory_limit
from qcstar.circuits.template import bind_template

C128 = torch.complex128


def _template(n: int = 3, a: int = 2) -> Circuit:
    """Every supported kind of op: multiplexed and plain one-qubit gates (with and without
    parameters), permutation gates with signs, a register matrix slot, a constant register
    unitary and a global-phase placeholder."""
    reg = list(range(n, n + a))
    r = 2**a
    count = 0

    def idx(size: int | None) -> torch.Tensor:
        nonlocal count
        k = 1 if size is None else size
        out = torch.arange(count, count + k, dtype=torch.float64)
        count += k
        return out[0] if size is None else out

    c = Circuit(n + a)
    c.mux("ry", idx(r), target=0, controls=reg).mux("rx", idx(r), target=1, controls=reg)
    c.append("rz", 2, (idx(None),)).h(1).mux("rz", idx(r), target=0, controls=reg)
    c.cx(0, 1).cz(1, 2).swap(0, 2)
    c.unitary(torch.eye(r, dtype=C128), reg)  # slot 0
    c.append("u", 1, (idx(None), idx(None), idx(None)))
    c.mux("ry", idx(r), target=2, controls=reg)
    g = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(r, r, dtype=C128, generator=g))
    c.unitary(q, reg)  # a constant
    c.ccx(2, 0, 1)
    phase = count
    count += 1
    c.metadata.update(template=True, n_parameters=count, matrix_slots=(8,), phase_index=phase)
    return c


def _random_unitary(r: int, seed: int, batch: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, r, r) if batch else (r, r)
    q, _ = torch.linalg.qr(torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                                         torch.randn(shape, generator=g, dtype=torch.float64)))
    return q


@pytest.mark.parametrize("max_chunk", [1, 2, 4])
@pytest.mark.parametrize("batched_matrix", [False, True])
def test_columns_equal_simulate_of_the_bound_circuit(max_chunk, batched_matrix):
    t = _template()
    b = 3
    g = torch.Generator().manual_seed(1)
    values = torch.rand(b, t.metadata["n_parameters"], generator=g, dtype=torch.float64) * 6
    v = _random_unitary(4, 2, b if batched_matrix else None)
    cols = torch.cat([column_states(5, [0, 3, 2], n_register=2, dtype=C128),
                      torch.randn(1, 32, generator=g, dtype=torch.float64).to(C128)])  # any vector: linear
    out = simulate_columns(t, values, columns=cols, matrices=[v], dtype=C128, max_chunk=max_chunk)
    assert out.shape == (b, 4, 4, 8)
    bound = bind_template(t, values, matrices=[v])
    for s in range(4):
        ref = simulate(bound, cols[s] / cols[s].norm(), dtype=C128) * cols[s].norm()
        assert (out[:, s].reshape(b, -1) - ref).abs().max() < 1e-12


def test_gradients_equal_simulate():
    t = _template()
    g = torch.Generator().manual_seed(3)
    values = (torch.rand(2, t.metadata["n_parameters"], generator=g, dtype=torch.float64) * 6).requires_grad_(True)
    v = _random_unitary(4, 4).requires_grad_(True)
    cols = column_states(5, [1], n_register=2, dtype=C128)
    weights = torch.rand(32, generator=g, dtype=torch.float64)

    def loss(psi: torch.Tensor) -> torch.Tensor:
        return (psi.reshape(2, -1).abs().square() * weights).sum()

    ours = torch.autograd.grad(loss(simulate_columns(t, values, columns=cols, matrices=[v], dtype=C128)), [values, v])
    ref = torch.autograd.grad(loss(simulate(bind_template(t, values, matrices=[v]), cols[0], dtype=C128)), [values, v])
    for a, b in zip(ours, ref):
        assert (a - b).abs().max() < 1e-10


def test_unbatched_values_and_no_register():
    c = Circuit(2, metadata={"template": True, "n_parameters": 2})
    c.append("ry", 0, (torch.tensor(0.0, dtype=torch.float64),)).cx(0, 1).append("rx", 1, (torch.tensor(1.0, dtype=torch.float64),))
    values = torch.tensor([0.4, 1.3], dtype=torch.float64)
    out = simulate_columns(c, values, columns=column_states(2, [0], n_register=0, dtype=C128), dtype=C128)
    assert out.shape == (1, 1, 4)
    assert torch.allclose(out[0, 0], simulate(bind_template(c, values), dtype=C128), atol=1e-12)


def test_column_states_layout():
    cols = column_states(4, [0, 2], n_register=2)
    assert cols.shape == (2, 16) and cols[0, 0] == 1 and cols[1, 8] == 1 and cols.abs().sum() == 2


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c.append("ry", 0, (torch.tensor(0.0),), controls=(1,)),  # controlled
        lambda c: c.unitary(torch.eye(2, dtype=C128), 0),  # unitary on a system wire
        lambda c: c.cx(0, 2),  # permutation touching the register
        lambda c: c.mux("ry", torch.zeros(2), target=0, controls=[1]),  # mux over a system wire
    ],
)
def test_unsupported_ops_name_the_alternative(build):
    c = Circuit(3, metadata={"template": True, "n_parameters": 2})
    build(c)
    with pytest.raises(GateError, match="circuits.simulate"):
        simulate_columns(c, torch.zeros(2), columns=column_states(3, [0], n_register=1), n_register=1)


def test_memory_guard_refuses_before_simulating():
    t = _template()
    values = torch.zeros(4096, t.metadata["n_parameters"])
    set_memory_limit(1 << 20)
    try:
        start = time.perf_counter()
        with pytest.raises(ResourceError, match="memory cap"):
            simulate_columns(t, values, columns=column_states(5, range(4), n_register=2), matrices=[torch.eye(4)])
        assert time.perf_counter() - start < 1.0
    finally:
        reset_memory_limit()


def test_shape_mistakes():
    t = _template()
    p = t.metadata["n_parameters"]
    cols = column_states(5, [0], n_register=2)
    with pytest.raises(ShapeError, match="empty batch"):
        simulate_columns(t, torch.zeros(0, p), columns=cols, matrices=[torch.eye(4)])
    with pytest.raises(ShapeError, match="matrix slot"):
        simulate_columns(t, torch.zeros(2, p), columns=cols)
    with pytest.raises(ShapeError, match="register unitary"):
        simulate_columns(t, torch.zeros(2, p), columns=cols, matrices=[torch.eye(4).expand(3, 4, 4)])
    with pytest.raises(ShapeError, match="columns"):
        simulate_columns(t, torch.zeros(2, p), columns=torch.zeros(1, 16), matrices=[torch.eye(4)])
