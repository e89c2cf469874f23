"""Measurement of states: Born probabilities, Pauli expectation values, shots and counts."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import ConfigError, ShapeError, StateError
from ..ir import _wire
from ..resources import check_memory

Tensor = torch.Tensor


def probabilities(state: Tensor, wires: Sequence[int] | None = None) -> Tensor:
    """Born probabilities ``(..., 2**k)`` of ``state`` marginalised onto ``wires``.

    ``wires=None`` keeps every qubit; otherwise the output index is
    ``b(wires[0]) + 2 b(wires[1]) + ...``.
    """
    _check_state(state)
    n = int(round(math.log2(state.shape[-1])))
    if wires is not None:
        wires = [_wire(w, "probabilities") for w in wires]
        if any(not 0 <= w < n for w in wires) or len(set(wires)) != len(wires):
            raise ShapeError(f"wires must be distinct qubits in 0..{n - 1}, got {wires}")
    # the squares and their sum: about two real copies of the state
    check_memory(state.numel() * state.element_size(), f"the probabilities of {n}-qubit states", factor=2)
    p = torch.view_as_real(state).square().sum(-1)
    if wires is None:
        return p
    batch = p.shape[:-1]
    t = p.reshape(*batch, *([2] * n))
    axes_keep = [n - 1 - w for w in wires]
    drop = [a for a in range(n) if a not in axes_keep]
    nb = len(batch)
    if drop:
        t = t.sum(dim=[nb + a for a in drop])
    # remaining axes are in decreasing qubit order among the kept wires
    kept_sorted = sorted(wires, reverse=True)
    order = [kept_sorted.index(w) for w in reversed(wires)]
    t = t.permute(*range(nb), *[nb + o for o in order])
    return t.reshape(*batch, 2 ** len(wires))


def _check_state(state: Tensor) -> None:
    if not isinstance(state, Tensor) or not state.is_complex():
        raise ShapeError("expected a complex state tensor (..., 2**n)")
    d = state.shape[-1]
    if d < 2 or d & (d - 1):
        raise ShapeError(f"a state's last axis must be a power of two, got {d}")


def _parse_pauli(pauli: str | Mapping[int, str], n: int) -> dict[int, str]:
    if isinstance(pauli, str):
        label = pauli.upper()
        if len(label) != n or any(c not in "IXYZ" for c in label):
            raise ShapeError(
                f"a Pauli label for {n} qubits has {n} characters from IXYZ (rightmost = qubit 0, Qiskit's order), got '{pauli}'"
            )
        return {n - 1 - i: c for i, c in enumerate(label) if c != "I"}
    out = {}
    for q, c in pauli.items():
        c = str(c).upper()
        if c not in ("I", "X", "Y", "Z") or isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 0 <= q < n:
            raise ShapeError(f"Pauli term {{{q!r}: '{c}'}} is not a qubit in 0..{n - 1} with one of I, X, Y, Z")
        if c != "I":
            out[int(q)] = c
    return out


class _DiagonalExpectation(torch.autograd.Function):
    """sum_i w_i |psi_i|^2 for a real diagonal observable w: one pass forward, one backward."""

    @staticmethod
    def forward(ctx, psi: Tensor, weights: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(psi, weights)
        flat = torch.view_as_real(psi.contiguous()).reshape(*psi.shape[:-1], -1)  # (..., 2D) re/im
        return flat.square() @ weights.repeat_interleave(2)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        psi, weights = ctx.saved_tensors
        # d/d(psi*) of w|psi|^2 is w psi; torch's convention for a real loss doubles it
        return psi * (2 * weights) * grad.unsqueeze(-1), None


def expectation(state: Tensor, pauli: str | Mapping[int, str] | Sequence[tuple[complex, str]]) -> Tensor:
    """Expectation value(s) of a Pauli string, or of a weighted sum of Pauli strings.

    ``pauli`` is a label such as ``"ZIIX"`` (rightmost character = qubit 0, Qiskit's order),
    a dict ``{qubit: "Z"}``, or a list of ``(coefficient, label)`` pairs. Returns a real tensor
    with the state's batch shape.
    """
    _check_state(state)
    n = int(round(math.log2(state.shape[-1])))
    if isinstance(pauli, (list, tuple)):
        total = None
        for coeff, label in pauli:
            term = expectation(state, label) * complex(coeff).real
            total = term if total is None else total + term
        if total is None:
            raise ShapeError("an empty list of Pauli terms has no expectation value")
        return total
    terms = _parse_pauli(pauli, n)
    # index, phase and partner tables of 2**n entries, and one gathered copy of the state
    check_memory(
        state.numel() * state.element_size() + (2**n) * 32, f"the expectation value on {n}-qubit states", factor=1
    )
    real = torch.float64 if state.dtype == torch.complex128 else torch.float32
    idx = torch.arange(2**n, device=state.device)
    z_wires = [q for q, c in terms.items() if c == "Z"]
    xy = {q: c for q, c in terms.items() if c in "XY"}
    if not xy:
        sign = torch.ones(2**n, dtype=real, device=state.device)
        for q in z_wires:
            sign = sign * (1 - 2 * ((idx >> q) & 1)).to(real)
        return _DiagonalExpectation.apply(state, sign)
    # P|i> = phase(i) |i ^ flip>;  <psi|P|psi> = sum_i conj(psi[i ^ flip]) phase(i) psi[i]
    flip = 0
    for q in xy:
        flip |= 1 << q
    phase = torch.ones(2**n, dtype=state.dtype, device=state.device)
    for q, c in terms.items():
        b = ((idx >> q) & 1).to(real)
        if c == "Z":
            phase = phase * (1 - 2 * b)
        elif c == "Y":
            # Y|0> = i|1>, Y|1> = -i|0>
            phase = phase * torch.complex(torch.zeros_like(b), 1 - 2 * b)
    partner = idx ^ flip
    val = (state[..., partner].conj() * phase * state).sum(-1)
    return val.real


def sample(
    state: Tensor,
    shots: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    wires: Sequence[int] | None = None,
) -> Tensor:
    """Draw ``shots`` measurement outcomes (basis indices) per state: ``(..., shots)`` int64.

    Reproducible: pass ``seed`` or a ``torch.Generator``; with neither, every call draws fresh
    randomness. ``wires`` marginalises first. States must be finite and non-zero (they are
    normalised before sampling), else :class:`~qcstar.circuits.errors.StateError`; an output
    larger than the memory cap is refused before sampling.
    """
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ShapeError(f"shots must be a positive int, got {shots!r}")
    shots = int(shots)
    _check_state(state)
    rows = math.prod(state.shape[:-1])
    check_memory(
        rows * shots * 8 + state.numel() * 8, f"{shots} shots of {rows} state(s) (int64 outcomes)", factor=1
    )
    if generator is None:
        generator = torch.Generator(device="cpu")
        if seed is None:
            generator.seed()  # fresh, non-deterministic randomness
        else:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise ConfigError(f"seed must be an int (or None for fresh randomness), got {seed!r}")
            generator.manual_seed(int(seed))
    p = probabilities(state.detach(), wires).to(torch.float64).cpu()
    batch = p.shape[:-1]
    flat = p.reshape(-1, p.shape[-1])
    totals = flat.sum(-1, keepdim=True)
    if not bool(torch.isfinite(totals).all()):
        raise StateError("cannot sample a state with NaN or infinite amplitudes; expected a finite state")
    if bool((totals == 0).any()):
        raise StateError("cannot sample a zero state (every amplitude is 0); expected a non-zero state")
    flat = flat / totals
    out = torch.multinomial(flat, shots, replacement=True, generator=generator)
    return out.reshape(*batch, shots)


def counts(outcomes: Tensor, n_bits: int) -> dict[str, int]:
    """Qiskit-style counts ``{'0101': k}`` (leftmost bit = highest qubit) of 1-D outcomes."""
    if outcomes.dim() != 1:
        raise ShapeError(f"counts expects a 1-D tensor of outcomes, got shape {tuple(outcomes.shape)}")
    vals, freq = torch.unique(outcomes, return_counts=True)
    return {format(int(v), f"0{n_bits}b"): int(f) for v, f in zip(vals, freq)}