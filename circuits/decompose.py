"""Decompose multiplexed and controlled ops into plain catalogue gates.

Writers (OpenQASM, hardware backends) only understand plain gates on fixed wires, while the
C*-algebra net emits *multiplexed* gates (one parameter set per value of an index register)
and users may build controlled gates. This module lowers them:

* :func:`multiplexed_rotation` - a uniformly controlled RY/RZ/RX by the Gray-code construction
  of Möttönen et al. (arXiv:quant-ph/0407010): ``N = 2**k`` rotations and ``N`` CNOTs, with the
  angles ``theta' = M alpha`` for a fixed ``±1/N`` matrix ``M``, so it is differentiable and batched;
* :func:`decompose` / :func:`decompose_with_phase` - any op whose targets are one wire (or a
  controlled catalogue gate with a native controlled name such as ``cx``/``ccx``/``crz``) into
  catalogue gates. Exact, global phase included.

Example::

    >>> import torch
    >>> from qcstar.circuits.decompose import multiplexed_rotation
    >>> ops = multiplexed_rotation("ry", torch.tensor([0.1, 0.2, 0.3, 0.4]), target=0, controls=[1, 2])
    >>> [op.name for op in ops]
    ['ry', 'cx', 'ry', 'cx', 'ry', 'cx', 'ry', 'cx']
"""

from __future__ import annotations

from typing import Sequence

import torch

from .errors import GateError
from .gates import NATIVE_CONTROLLED
from .ir import Op, Param

Tensor = torch.Tensor

def _gray(i: int) -> int:
    return i ^ (i >> 1)


def gray_code_matrix(k: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """The ``(2**k, 2**k)`` matrix ``M`` with ``theta' = M @ alpha`` for the Gray-code multiplexor.

    ``M[i, j] = (-1)**popcount(j & gray(i)) / 2**k``.
    """
    n = 2**k
    rows = [[(-1.0 if bin(j & _gray(i)).count("1") % 2 else 1.0) / n for j in range(n)] for i in range(n)]
    return torch.tensor(rows, dtype=dtype, device=device)


def gray_code_cx_controls(k: int) -> list[int]:
    """Which control (index into ``controls``) the CNOT after rotation ``i`` uses, for
    ``i = 0 .. 2**k - 1``: the bit in which ``gray(i)`` and ``gray(i + 1 mod 2**k)`` differ."""
    n = 2**k
    return [(_gray(i) ^ _gray((i + 1) % n)).bit_length() - 1 for i in range(n)]


def multiplexed_rotation(name: str, angles: Tensor | Sequence[float], target: int, controls: Sequence[int]) -> list[Op]:
    """A uniformly controlled rotation as ``2**k`` single-qubit rotations and ``2**k`` CNOTs.

    ``angles[..., j]`` is the angle applied when the control register holds
    ``j = sum_i b(controls[i]) 2**i`` (``controls[0]`` least significant), i.e. the same
    convention as ``Circuit.mux`` and Qiskit's ``UCRYGate(angles)`` on ``[target] + controls``.
    ``angles`` may carry a leading batch axis ``(B, 2**k)``; the result stays differentiable.

    Example::

        ops = multiplexed_rotation("rz", torch.rand(2), target=0, controls=[1])
    """
    name = name.lower()
    if name not in ("rx", "ry", "rz"):
        raise GateError(f"multiplexed_rotation handles 'rx', 'ry' or 'rz', got '{name}'")
    controls = tuple(int(c) for c in controls)
    k = len(controls)
    n = 2**k
    alpha = angles if isinstance(angles, Tensor) else torch.tensor([float(a) for a in angles], dtype=torch.float64)
    if alpha.dim() not in (1, 2) or alpha.shape[-1] != n:
        raise GateError(
            f"multiplexed_rotation with {k} control(s) needs angles of shape ({n},) or (B, {n}), got {tuple(alpha.shape)}"
        )
    if k == 0:
        return [Op(name, (target,), (alpha[..., 0],))]
    if name == "rx":
        # H RZ(t) H = RX(t) exactly, and H on the target commutes with the block structure.
        return [Op("h", (target,))] + multiplexed_rotation("rz", alpha, target, controls) + [Op("h", (target,))]
    if not alpha.is_floating_point():
        alpha = alpha.to(torch.float64)
    m = gray_code_matrix(k, dtype=alpha.dtype, device=alpha.device)
    theta = alpha @ m.T  # (..., n): one matmul keeps it batched and differentiable
    ops: list[Op] = []
    for i, c in enumerate(gray_code_cx_controls(k)):
        ops.append(Op(name, (target,), (theta[..., i],)))
        ops.append(Op("cx", (controls[c], target)))
    return ops


def _diagonal(phases: Tensor, wires: Sequence[int]) -> tuple[list[Op], Tensor]:
    """``diag(exp(i phases))`` on ``wires`` as multiplexed RZ gates plus a global phase."""
    if not wires:
        return [], phases[..., 0]
    half = phases.shape[-1] // 2
    low, high = phases[..., :half], phases[..., half:]
    # diag(e^{i a}, e^{i b}) on the top wire = e^{i (a+b)/2} RZ(b - a)
    ops = _rotation_unless_zero("rz", high - low, wires[-1], wires[:-1])
    rest, phase = _diagonal((low + high) / 2, wires[:-1])
    return ops + rest, phase


def _rotation_unless_zero(name: str, angles: Tensor, target: int, controls: Sequence[int]) -> list[Op]:
    # Controlled gates give many exactly-zero angle sets; skipping them keeps files short.
    # Only for tensors that need no gradient, so a trainable export stays structurally fixed.
    if not angles.requires_grad and bool((angles == 0).all()):
        return []
    return multiplexed_rotation(name, angles, target, controls)


def _zyz(u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Angles with ``U = e^{i a} RZ(b) RY(c) RZ(d)`` for a batch of 2x2 unitaries ``(..., 2, 2)``."""
    det = u[..., 0, 0] * u[..., 1, 1] - u[..., 0, 1] * u[..., 1, 0]
    a = torch.angle(det) / 2
    v = u * torch.polar(torch.ones_like(a), -a)[..., None, None]  # now in SU(2): [[p, -q*], [q, p*]]
    p, q = v[..., 0, 0], v[..., 1, 0]
    c = 2 * torch.atan2(q.abs(), p.abs())
    total = -2 * torch.angle(p)  # b + d
    diff = 2 * torch.angle(q)  # b - d
    return a, (total + diff) / 2, c, (total - diff) / 2


def one_qubit_rotations(u: Tensor, wire: int) -> tuple[list[Op], float]:
    """A 2x2 unitary as ``RZ(d) RY(c) RZ(b)`` on ``wire`` and a global phase ``a`` (native gates,
    exact: ``U = e^{i a} RZ(b) RY(c) RZ(d)``).

    Example::

        ops, phase = one_qubit_rotations(torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128), 0)
    """
    a, b, c, d = _zyz(u.detach().to(torch.complex128))
    ops = [Op("rz", (wire,), (float(d),)), Op("ry", (wire,), (float(c),)), Op("rz", (wire,), (float(b),))]
    return ops, float(a)


def decompose_with_phase(op: Op) -> tuple[list[Op], Param]:
    """Lower ``op`` to plain ops (no ``mux``, no ``controls``) and a global phase.

    The product of the returned ops times ``exp(i phase)`` equals ``op`` exactly. Plain ops come
    back unchanged with phase 0. Ops with several target wires that are multiplexed or
    controlled (other than the natively controlled catalogue gates) raise :class:`GateError`.

    Example::

        ops, phase = decompose_with_phase(Op("h", (0,), mux=(1, 2)))
    """
    if not op.mux and not op.controls:
        return [op], 0.0
    if not op.mux:
        native = NATIVE_CONTROLLED.get((op.name, len(op.controls)))
        if native is not None:
            flips = [Op("x", (c,)) for c, v in zip(op.controls, op.control_values) if v == 0]
            core = Op(native, op.controls + op.wires, op.params)
            return flips + [core] + flips, 0.0
    if len(op.wires) != 1:
        raise GateError(
            f"cannot decompose a multiplexed or controlled '{op.name}' on {len(op.wires)} target wires "
            f"(wires={op.wires}, controls={op.controls}, mux={op.mux}); only single-target ops are "
            "decomposed automatically: decompose it first into single-target or plain gates"
        )
    target = op.wires[0]
    selectors = op.controls + op.mux  # block index = c + 2**len(controls) * j, as op_full_matrix orders it
    if not op.controls and op.name in ("rx", "ry", "rz"):
        return multiplexed_rotation(op.name, op.params[0], target, op.mux), 0.0
    if not op.controls and op.name in ("p", "u1"):
        lam = op.params[0]
        # P(l) = e^{i l/2} RZ(l): a multiplexed RZ plus a diagonal on the multiplexer wires
        ops = multiplexed_rotation("rz", lam, target, op.mux)
        diag_ops, phase = _diagonal(lam / 2, op.mux)
        return ops + diag_ops, phase
    from .statevector import op_full_matrix  # local import: statevector imports nothing from here

    full = op_full_matrix(op, torch.complex128)  # (Bm, 2M, 2M) with the target as the low bit
    m = 2 ** len(selectors)
    ar = torch.arange(m)
    blocks = full.reshape(full.shape[0], m, 2, m, 2)[:, ar, :, ar, :].movedim(0, 1)  # (Bm, M, 2, 2)
    if op.batch_size is None:
        blocks = blocks[0]
    a, b, c, d = _zyz(blocks)
    ops = (
        _rotation_unless_zero("rz", d, target, selectors)
        + _rotation_unless_zero("ry", c, target, selectors)
        + _rotation_unless_zero("rz", b, target, selectors)
    )
    diag_ops, phase = _diagonal(a, selectors)
    if isinstance(phase, Tensor) and phase.dim() == 0 and not phase.requires_grad:
        phase = float(phase)
    return ops + diag_ops, phase


def decompose(op: Op) -> list[Op]:
    """Lower ``op`` to plain catalogue ops, exactly (global phase included).

    A non-zero global phase is returned as a final 1-wire ``unitary`` op ``e^{i phase} I`` on
    ``op.wires[0]``; use :func:`decompose_with_phase` to get it as a number instead.

    Example::

        >>> import torch
        >>> ops = decompose(Op("x", (0,), controls=(1, 2)))   # a Toffoli
        >>> [o.name for o in ops]
        ['ccx']
    """
    ops, phase = decompose_with_phase(op)
    if isinstance(phase, Tensor) or phase != 0.0:
        ph = phase if isinstance(phase, Tensor) else torch.tensor(float(phase), dtype=torch.float64)
        scalar = torch.polar(torch.ones_like(ph), ph).to(torch.complex128)
        eye = torch.eye(2, dtype=torch.complex128)
        ops.append(Op("unitary", (op.wires[0],), matrix=scalar[..., None, None] * eye))
    return ops
