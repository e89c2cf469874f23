"""Expectation values of a circuit through its light cone: only the ops that can change the
observable are simulated, and trailing permutation or diagonal gates fold into a diagonal one."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import ShapeError
from ..gates import GATES
from ..ir import Circuit, Op
from .measurement import _DiagonalExpectation, _parse_pauli, expectation
from .plan import _bits, basis_image
from .runner import simulate

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------
# expectation values of a circuit: light-cone pruning
# --------------------------------------------------------------------------------------

#: Largest register for which a diagonal observable is kept as a dense vector while pruning.
_MAX_DIAGONAL_QUBITS = 20


def _is_monomial(op: Op) -> bool:
    """Whether ``op`` maps every basis state to one basis state times a phase (diagonal gates, and
    constant gates whose catalogue matrix is monomial): conjugating a diagonal observable by
    such an op permutes its diagonal and drops the phases."""
    if op.matrix is not None:
        return False
    spec = GATES[op.name]
    return spec.kind == "diag" or spec.monomial is not None


def _monomial_image(op: Op, idx: np.ndarray) -> np.ndarray:
    """Basis index i -> the index op maps |i> to (phases dropped); controls respected."""
    if GATES[op.name].kind == "diag":
        return idx
    return basis_image(op, idx)[0]


def _diagonal_support(d: np.ndarray, n: int) -> set[int]:
    """The wires on which the diagonal observable ``d`` (length 2**n) is not the identity."""
    idx = np.arange(d.size)
    return {q for q in range(n) if not np.array_equal(d, d[idx ^ (1 << q)])}


def light_cone(
    circuit: Circuit, pauli: str | Mapping[int, str] | Sequence[tuple[complex, str]]
) -> tuple[list[Op], np.ndarray | None]:
    """The ops of ``circuit`` that can change ``<pauli>``, and the observable to measure after them.

    Walking back from the end: an op on wires outside the observable's support cancels in
    ``U^dagger O U`` and is dropped; while the observable is diagonal (Z and I only), a
    trailing permutation or diagonal gate (CX, SWAP, CCX, CZ, RZ, ...) is folded into the
    diagonal instead of simulated. Returns ``(kept_ops, diagonal)``: ``diagonal`` is the real
    vector (2**n,) to weigh ``|psi_i|^2`` with, or None when the observable is not diagonal (then
    measure ``pauli`` itself on the state of ``kept_ops``).
    """
    n = circuit.n_qubits
    if isinstance(pauli, (list, tuple)):
        terms = [(complex(c).real, _parse_pauli(label, n)) for c, label in pauli]
        if not terms:
            raise ShapeError("an empty list of Pauli terms has no expectation value")
    else:
        terms = [(1.0, _parse_pauli(pauli, n))]
    support: set[int] = set()
    for _, t in terms:
        support.update(t)
    diagonal = None
    if n <= _MAX_DIAGONAL_QUBITS and all(c == "Z" for _, t in terms for c in t.values()):
        idx = np.arange(2**n, dtype=np.int64)
        diagonal = np.zeros(2**n)
        for coeff, t in terms:
            sign = np.ones(2**n)
            for q in t:
                sign = sign * (1 - 2 * _bits(idx, q))
            diagonal += coeff * sign
    kept: list[Op] = []
    folding = diagonal is not None
    for op in reversed(circuit.ops):
        wires = op.all_wires
        if not support.intersection(wires):
            continue
        if folding and _is_monomial(op):
            img = _monomial_image(op, idx)
            if img is not idx:
                diagonal = diagonal[img]
                support = _diagonal_support(diagonal, n)
            continue
        folding = False
        support.update(wires)
        kept.append(op)
    kept.reverse()
    return kept, diagonal


def expval(
    circuit: Circuit,
    pauli: str | Mapping[int, str] | Sequence[tuple[complex, str]],
    *,
    state: Tensor | None = None,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> Tensor:
    """``<psi|O|psi>`` for the state ``circuit`` prepares, simulating only the observable's light cone.

    Same value (and gradients) as ``expectation(simulate(circuit, state), pauli)``, usually
    faster: see :func:`light_cone`. Returns a real tensor, ``(B,)`` when the circuit or the
    initial state is batched.
    """
    if not isinstance(circuit, Circuit):
        raise ShapeError(f"expval expects a circuits.Circuit, got {type(circuit).__name__}")
    kept, diagonal = light_cone(circuit, pauli)
    batch = circuit.batch_size
    pruned = Circuit(circuit.n_qubits)
    pruned.ops = kept  # already validated ops of a valid circuit
    psi = simulate(pruned, state, dtype=dtype, device=device)
    if diagonal is None:
        value = expectation(psi, pauli)
    else:
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        value = _DiagonalExpectation.apply(psi, torch.from_numpy(diagonal).to(device=psi.device, dtype=real))
    if batch is not None and value.dim() == 0:
        value = value.expand(batch)  # every batched op was outside the light cone
    return value

