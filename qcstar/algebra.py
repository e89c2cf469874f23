"""The C*-algebra A = M_d(C) and the Hilbert A-module in which the C*-net's states live.

A state of the net is a module element ``X`` in ``C^(M x d)``, ``M = 2**a * 2**n``: column
``s`` is the joint state (index register (x) n system qubits) reached from ``|s>_index (x)
|0...0>``. The A-valued inner product is ``<X, Y> = X^H Y`` (a d x d matrix) and the A-valued
readout of an observable ``O`` on the system qubits is ``R = X^H (O (x) I_d) X``.

Layout (fixed, the package's convention): the index register sits on the TOP qubits
``n .. n+a-1``, so in a flattened joint state the index is the most significant part::

    joint index = c * 2**n + x        (c: circuit index, x: system basis index)

Written as a Kronecker product with the first factor most significant, the paper's
``O (x) I_d`` (system (x) index) is therefore ``I_{2**a} (x) O`` here, i.e. ``blockdiag(O, ..., O)``:
the same observable on every block of ``2**n`` rows. All functions below take ``X`` in the
"rows = joint index, columns = sources" form ``(..., M, d)``; :func:`from_states` converts
the net's ``(..., d, M)`` state batches.

Example::

    X = from_states(net.states(x))                 # (B, M, d)
    R = readout(X, z_table(n), diagonal=True)       # (B, d, d, n): <Z_q> blocks
    torch.diagonal(R[..., 0], dim1=-2, dim2=-1)     # per-circuit <Z_0>
"""

from __future__ import annotations

import math

import torch

from qcstar.circuits.errors import ShapeError

Tensor = torch.Tensor

__all__ = [
    "adjoint", "from_states", "inner", "is_unitary", "multiply", "norm", "probs_table", "readout",
    "readout_diagonal", "z_table",
]


def adjoint(a: Tensor) -> Tensor:
    """The involution of A (and of A-valued matrices): the conjugate transpose of the last two axes."""
    return a.conj().transpose(-2, -1)


def from_states(states: Tensor) -> Tensor:
    """Module element ``X (..., M, d)`` from a batch of per-source joint states ``(..., d, M)``."""
    if states.dim() < 2:
        raise ShapeError(f"expected per-source states of shape (..., d, M), got {tuple(states.shape)}")
    return states.transpose(-2, -1)


def inner(x: Tensor, y: Tensor) -> Tensor:
    """A-valued inner product ``<X, Y> = X^H Y``: ``(..., M, d) x (..., M, d) -> (..., d, d)``.

    A-linear in the second argument: ``inner(X, Y @ a) == inner(X, Y) @ a``.

    Example::

        X = torch.eye(4, 2, dtype=torch.complex128)
        inner(X, X)      # identity 2 x 2: the columns are orthonormal
    """
    if x.shape[-2] != y.shape[-2]:
        raise ShapeError(f"inner: X and Y need the same number of rows M, got {x.shape[-2]} and {y.shape[-2]}")
    return adjoint(x) @ y


def multiply(x: Tensor, a: Tensor) -> Tensor:
    """The right A-action ``X . a = X @ a`` with ``a`` a d x d matrix (``(..., d, d)``)."""
    if a.shape[-1] != a.shape[-2] or a.shape[-2] != x.shape[-1]:
        raise ShapeError(f"multiply: need a ({x.shape[-1]}, {x.shape[-1]}) algebra element, got {tuple(a.shape)}")
    return x @ a


def norm(x: Tensor) -> Tensor:
    """Module norm ``||X|| = ||<X, X>||^(1/2)`` (operator norm in A): a real tensor ``(...)``."""
    g = inner(x, x)
    return torch.linalg.matrix_norm(g, ord=2).sqrt()


def is_unitary(u: Tensor, atol: float = 1e-10) -> bool:
    """Whether every matrix in ``u (..., k, k)`` satisfies ``U^H U = I`` within ``atol``."""
    eye = torch.eye(u.shape[-1], dtype=u.dtype, device=u.device)
    return bool((adjoint(u) @ u - eye).abs().max() <= atol)


def z_table(n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Diagonals of ``Z_q`` on n qubits: ``(2**n, n)``, entry ``[x, q] = 1 - 2 b_q(x)`` (qubit 0 = LSB)."""
    x = torch.arange(2**n, device=device)
    bits = (x[:, None] >> torch.arange(n, device=device)[None, :]) & 1
    return (1 - 2 * bits).to(dtype)


def probs_table(n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Diagonals of the projectors ``|x><x|``: the identity ``(2**n, 2**n)`` (Born probabilities)."""
    return torch.eye(2**n, dtype=dtype, device=device)


def _split(x: Tensor, m: int, index_blocks: bool = False) -> tuple[Tensor, int]:
    if index_blocks:  # already (..., 2**a, 2**n, d)
        if x.dim() < 3 or x.shape[-2] != m:
            raise ShapeError(
                f"readout: a blocked X has shape (..., 2**a, {m}, d) for this observable, got {tuple(x.shape)}"
            )
        return x, x.shape[-3]
    rows = x.shape[-2]
    if rows % m:
        raise ShapeError(
            f"readout: X has {rows} rows, not a multiple of the observable's dimension {m}; "
            "expected M = 2**a * 2**n with the index register on top"
        )
    blocks = rows // m
    if blocks & (blocks - 1):
        raise ShapeError(f"readout: X has {blocks} index blocks of size {m}; expected a power of two")
    return x.unflatten(-2, (blocks, m)), blocks  # (..., 2**a, 2**n, d)


def readout(x: Tensor, observables: Tensor, *, diagonal: bool | None = None, index_blocks: bool = False) -> Tensor:
    """A-valued readout ``R = X^H (O (x) I_d) X`` for one or several observables ``O``.

    ``x``: ``(..., M, d)`` with ``M = 2**a * 2**n`` (index on top, see the module docstring).
    ``observables``: dense ``(2**n, 2**n)`` / ``(n_obs, 2**n, 2**n)``, or with ``diagonal=True``
    the diagonals as columns ``(2**n, n_obs)`` (for example :func:`z_table`). By default a 2-d
    square tensor is read as one dense observable and a ``(2**n, n_obs)`` table with
    ``n_obs != 2**n`` as diagonals. Returns ``(..., d, d, n_obs)`` (or ``(..., d, d)`` for one
    dense observable): Hermitian in the two d axes, whose diagonal holds each circuit's
    expectation value. ``index_blocks=True``: ``x`` comes blocked, ``(..., 2**a, 2**n, d)``
    (the index register split off, as :func:`qcstar.circuits.register.simulate_columns` returns
    it, so no copy is needed).

    Example::

        R = readout(X, z_table(3), diagonal=True)     # (..., d, d, 3)
    """
    if diagonal is None:
        diagonal = observables.dim() == 2 and observables.shape[0] != observables.shape[1]
    if diagonal:
        if observables.dim() != 2:
            raise ShapeError(f"diagonal observables are a (2**n, n_obs) table, got {tuple(observables.shape)}")
        m = observables.shape[0]
        xb, _ = _split(x, m, index_blocks)  # (..., c, m, d)
        w = (observables.real if observables.is_complex() else observables).to(dtype=xb.real.dtype, device=xb.device)
        # R[s, s', k] = sum_{c, x} conj(X[c, x, s]) O_k[x] X[c, x, s']
        weighted = xb.unsqueeze(-3) * w.T.to(xb.dtype)[:, :, None]  # (..., c, k, m, d)
        r = adjoint(xb.unsqueeze(-3)) @ weighted  # (..., c, k, d, d)
        return r.sum(-4).movedim(-3, -1)
    single = observables.dim() == 2
    obs = observables.unsqueeze(0) if single else observables
    if obs.dim() != 3 or obs.shape[-1] != obs.shape[-2]:
        raise ShapeError(f"observables must be (2**n, 2**n) or (n_obs, 2**n, 2**n), got {tuple(observables.shape)}")
    m = obs.shape[-1]
    xb, _ = _split(x, m, index_blocks)  # (..., c, m, d)
    obs = obs.to(dtype=xb.dtype, device=xb.device)
    ox = obs[:, None] @ xb.unsqueeze(-4)  # (..., k, c, m, d)
    r = (adjoint(xb).unsqueeze(-4) @ ox).sum(-3)  # (..., k, d, d)
    r = r.movedim(-3, -1)
    return r[..., 0] if single else r


def readout_diagonal(x: Tensor, table: Tensor | None, *, index_blocks: bool = False) -> Tensor:
    """Only the diagonal of :func:`readout` for diagonal observables: ``(..., d, n_obs)``, real.

    ``diag(R)[s, k] = sum_{c, x} |X[c, x, s]|**2 O_k[x]``: the index register is traced out.
    This is what the net's forward pass uses (cost O(M d n_obs), no d x d products).
    ``table=None`` is the Born probabilities of the system (:func:`probs_table`) without
    building the ``(2**n, 2**n)`` identity; it needs ``x`` blocked (``index_blocks=True``, see
    :func:`readout`), which tells the system's size.
    """
    if table is None:
        if not index_blocks:
            raise ShapeError(
                "readout_diagonal(x, None) needs x blocked as (..., 2**a, 2**n, d) with index_blocks=True "
                "(or pass probs_table(n) for a flat x)"
            )
        xb, _ = _split(x, x.shape[-2], True)
    else:
        xb, _ = _split(x, table.shape[0], index_blocks)
    # columns as rows: X usually is a transposed view of per-column states (..., d, M), so this
    # reads the memory in order (and the backward writes it in order: no strided copies)
    p = torch.view_as_real(xb.transpose(-1, -2)).square().sum(-1).sum(-3)  # (..., d, m)
    if table is None:
        return p
    return p @ table.to(dtype=p.dtype, device=p.device)


def n_index_qubits(d: int) -> int:
    """``a = ceil(log2 d)``: index qubits for d circuits (0 for d = 1)."""
    if d < 1:
        raise ShapeError(f"the number of circuits d must be >= 1, got {d}")
    return math.ceil(math.log2(d)) if d > 1 else 0
