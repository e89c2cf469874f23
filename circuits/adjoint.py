"""The adjoint (inverse) of a circuit: ``U^dagger`` as a :class:`~qcstar.circuits.ir.Circuit`.

``adjoint(c)`` reverses the ops and inverts each one: rotations negate their angles (``u``
swaps ``phi`` and ``lambda``), ``s``/``t``/``sx`` become their daggers, ``unitary`` matrices are
conjugate-transposed, and controls, control values and multiplexer wires stay where they are
(the inverse of a controlled or multiplexed gate is the same control structure around the
inverted gate). Batched parameters and matrices stay batched.

Templates (:mod:`qcstar.circuits.template`): a placeholder is an index into a value vector,
not a number, so it cannot be negated. ``adjoint(template)`` is therefore the template of
``U^dagger`` **in the negated values**::

    bind_template(adjoint(t), -values) == adjoint(bind_template(t, values))

Every gate of the catalogue has an inverse whose parameters are the original ones negated (and
permuted); the three that do not (``r``, ``u2``, ``xx_plus_yy``/``xx_minus_yy``) are written as
short exact sequences in the negated values (e.g. ``r(-t, f)`` as ``rz(-f) rx(-t) x rz(-f) x``).
A template's matrix slots stay slots: fill them with the conjugate-transposed matrices, in the
original slot order. This is how the compute-uncompute kernel builds ``U(y)^dagger U(x)`` as ONE
template with values ``[x, -y]`` (:mod:`qcstar.kernels.shots`).

Example::

    from qcstar.circuits import Circuit, simulate
    c = Circuit(2).h(0).cx(0, 1).ry(0.3, 1)
    psi = simulate(adjoint(c), simulate(c))      # |00>
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .gates import gate_matrix
from .ir import Circuit, Op

Tensor = torch.Tensor

__all__ = ["adjoint", "inverse_op"]

#: constant gates whose inverse is another catalogue gate on the same wires
_DAGGER = {"s": "sdg", "sdg": "s", "t": "tdg", "tdg": "t", "sx": "sxdg", "sxdg": "sx", "cs": "csdg", "csdg": "cs"}
#: constant gates that are their own inverse
_SELF_INVERSE = frozenset({"id", "x", "y", "z", "h", "cx", "cy", "cz", "ch", "swap", "ecr", "ccx", "ccz", "cswap"})
#: gates whose inverse is the same gate with every angle negated
_NEGATE = frozenset({"rx", "ry", "rz", "p", "u1", "crx", "cry", "crz", "cp", "cu1", "rxx", "ryy", "rzz", "rzx"})
#: gates whose inverse negates every angle and reorders them: u(t, f, l)^dagger = u(-t, -l, -f)
_NEGATE_PERMUTED = {"u": (0, 2, 1), "cu3": (0, 2, 1), "cu": (0, 2, 1, 3)}


def _neg(p: Any) -> Any:
    return -p


def _keep(p: Any) -> Any:
    return p


def _like(op: Op, name: str, wires: tuple[int, ...], params: tuple = (), matrix: Tensor | None = None) -> Op:
    """An op with ``op``'s controls and multiplexer wires around a new gate."""
    return Op(name, wires, params, matrix, op.controls, op.control_values, op.mux)


def _plain(op: Op, name: str, wires: tuple[int, ...]) -> Op:
    """A constant gate inside a conjugation ``A V A``: where the controls are off the pair
    multiplies to the identity, so it needs no controls (and is the same in every multiplexer block)."""
    return Op(name, wires)


def _constant(op: Op, matrix: Tensor) -> Op:
    """A constant matrix that must act only where ``op``'s controls hold (on every multiplexer value)."""
    return Op("unitary", op.wires, (), matrix, op.controls, op.control_values)


def inverse_op(op: Op, *, template: bool = False) -> list[Op]:
    """The ops (time order) of ``op``'s inverse.

    ``template=False``: parameters are numbers or tensors and are negated where the inverse needs
    it. ``template=True``: parameters are placeholders of values that the caller negates, so each
    placeholder is kept and gates whose inverse keeps an angle's sign are rewritten exactly in the
    negated values (module docstring).
    """
    name, w, p = op.name, op.wires, op.params
    neg = _keep if template else _neg  # in a template the values themselves arrive negated
    if name == "unitary":
        return [_like(op, name, w, (), op.matrix.conj().transpose(-1, -2).resolve_conj())]
    if name in _SELF_INVERSE:
        return [op]
    if name in _DAGGER:
        return [_like(op, _DAGGER[name], w)]
    if name == "csx":  # no csxdg in the catalogue: sxdg with one more control
        return [Op("sxdg", (w[1],), (), None, (w[0],) + op.controls, (1,) + op.control_values, op.mux)]
    if name == "dcx":  # dcx(a, b) = cx(a, b) cx(b, a), so its inverse is dcx(b, a)
        return [_like(op, name, (w[1], w[0]))]
    if name == "iswap":
        return [_constant(op, gate_matrix("iswap").conj().T.resolve_conj())]
    if name in _NEGATE:
        return [_like(op, name, w, tuple(neg(x) for x in p))]
    if name in _NEGATE_PERMUTED:
        return [_like(op, name, w, tuple(neg(p[k]) for k in _NEGATE_PERMUTED[name]))]
    if name == "u2":
        # u2(f, l) = u(pi/2, f, l), so u2^dagger = u(-pi/2, -l, -f) = P(-l) RY(-pi/2) P(-f) (matrix order)
        if not template:
            return [_like(op, "u", w, (-math.pi / 2, -p[1], -p[0]))]
        ry = gate_matrix("ry", [-math.pi / 2])
        return [_like(op, "p", w, (p[0],)), _constant(op, ry), _like(op, "p", w, (p[1],))]
    if name == "r":
        # r(t, f)^dagger = r(-t, f) = RZ(f) RX(-t) RZ(-f) (matrix order); RZ(f) = X RZ(-f) X
        if not template:
            return [_like(op, name, w, (-p[0], p[1]))]
        return [_like(op, "rz", w, (p[1],)), _like(op, "rx", w, (p[0],)), _plain(op, "x", w),
                _like(op, "rz", w, (p[1],)), _plain(op, "x", w)]
    if name in ("xx_plus_yy", "xx_minus_yy"):
        # G(t, b)^dagger = G(-t, b); X(x)X commutes with XX +- YY and flips the sign of the RZ(b)
        # around it, so G(-t, b) = (X(x)X) G(-t, -b) (X(x)X)
        if not template:
            return [_like(op, name, w, (-p[0], p[1]))]
        flips = [_plain(op, "x", (w[0],)), _plain(op, "x", (w[1],))]
        return flips + [_like(op, name, w, (p[0], p[1]))] + flips
    raise NotImplementedError(f"adjoint: no inverse rule for gate '{name}'")  # a catalogue gate without a rule: a bug


def adjoint(circuit: Circuit) -> Circuit:
    """``U^dagger`` of ``circuit`` (for a template: in the negated values; module docstring)."""
    template = bool(circuit.metadata.get("template"))
    slots = [int(i) for i in circuit.metadata.get("matrix_slots", ())]
    ops: list[Op] = []
    new_slot: dict[int, int] = {}
    for position in range(len(circuit.ops) - 1, -1, -1):
        op = circuit.ops[position]
        if position in slots:  # an open matrix: the caller binds its dagger
            new_slot[position] = len(ops)
            ops.append(op)
            continue
        ops.extend(inverse_op(op, template=template))
    metadata = dict(circuit.metadata)
    if slots:
        metadata["matrix_slots"] = [new_slot[i] for i in slots]  # the original slot order
    phase = circuit.global_phase
    if not (template and metadata.get("phase_index") is not None):
        phase = -phase  # (a phase placeholder is negated with the values)
    return Circuit(circuit.n_qubits, ops, phase, metadata)

