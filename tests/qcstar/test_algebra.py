"""qcstar.algebra: the A = M_d(C) module operations and the readout layout (index on top)."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits.errors import ShapeError
from qcstar import algebra


def _rand_x(m: int, d: int, g: torch.Generator) -> torch.Tensor:
    return torch.complex(torch.randn(m, d, generator=g, dtype=torch.float64), torch.randn(m, d, generator=g, dtype=torch.float64))


def test_inner_is_a_linear_in_second_argument(rng):
    x, y = _rand_x(16, 3, rng), _rand_x(16, 3, rng)
    a = _rand_x(3, 3, rng)
    assert torch.allclose(algebra.inner(x, algebra.multiply(y, a)), algebra.inner(x, y) @ a)
    assert torch.allclose(algebra.inner(x, y), algebra.adjoint(algebra.inner(y, x)))
    # <X, X> is positive semidefinite
    assert torch.linalg.eigvalsh(algebra.inner(x, x)).min() > -1e-12


def test_readout_matches_dense_formula(rng):
    n, a, d = 2, 1, 2
    x = _rand_x(2**a * 2**n, d, rng)
    o = _rand_x(2**n, 2**n, rng)
    o = o + o.conj().T
    # index register on top: the paper's O (x) I_d is blockdiag(O, O) = kron(I, O) in our layout
    full = torch.kron(torch.eye(2**a, dtype=o.dtype), o)
    expected = x.conj().T @ full @ x
    assert torch.allclose(algebra.readout(x, o), expected)
    z = algebra.z_table(n)
    r = algebra.readout(x, z, diagonal=True)
    for q in range(n):
        zq = torch.diag(z[:, q].to(x.dtype))
        assert torch.allclose(r[..., q], x.conj().T @ torch.kron(torch.eye(2**a, dtype=x.dtype), zq) @ x)
    diag = algebra.readout_diagonal(x, z)
    assert torch.allclose(diag, torch.diagonal(r, dim1=0, dim2=1).T.real)


def test_z_table_qubit_order():
    z = algebra.z_table(3)
    assert z[1].tolist() == [-1, 1, 1]  # basis index 1 = qubit 0 set
    assert z[4].tolist() == [1, 1, -1]


def test_shape_errors(rng):
    with pytest.raises(ShapeError):
        algebra.inner(_rand_x(4, 2, rng), _rand_x(8, 2, rng))
    with pytest.raises(ShapeError):
        algebra.readout(_rand_x(12, 2, rng), algebra.z_table(3), diagonal=True)


def test_blocked_layout_equals_flat(rng):
    n, a, d = 2, 1, 3
    x = _rand_x(2**a * 2**n, d, rng)
    blocked = x.unflatten(0, (2**a, 2**n))
    z = algebra.z_table(n)
    assert torch.allclose(algebra.readout(blocked, z, diagonal=True, index_blocks=True), algebra.readout(x, z, diagonal=True))
    assert torch.allclose(algebra.readout_diagonal(blocked, z, index_blocks=True), algebra.readout_diagonal(x, z))
    # table=None: Born probabilities of the system, index traced out, without a 2**n x 2**n table
    probs = algebra.readout_diagonal(blocked, None, index_blocks=True)
    assert torch.allclose(probs, algebra.readout_diagonal(x, algebra.probs_table(n)))
    with pytest.raises(ShapeError, match="blocked"):
        algebra.readout(x, z, diagonal=True, index_blocks=True)
