"""Parameter templates: one circuit structure, its gate parameters bound to a whole batch.

A *template* is a :class:`~qcstar.circuits.ir.Circuit` whose gate parameters are placeholder
indices into a flat parameter vector (``metadata["template"] = True``, ``metadata["n_parameters"]``).
:func:`bind_template` fills the placeholders from values ``(P,)`` or ``(B, P)`` and returns one
batched circuit, which :func:`qcstar.circuits.simulate` runs in a single call: the path for
parametric encoders, feature maps and the C*-net's circuits alike.

A template may also leave the matrices of some ``unitary`` ops open ("matrix slots",
``metadata["matrix_slots"]``: their op positions): trained blocks such as the C*-net's
interaction unitaries, which are not functions of a few angles. ``bind_template(t, values,
matrices=[...])`` fills them in order; :func:`qcstar.circuits.register.simulate_columns` reads
the same placeholders and slots.

Example::

    c = Circuit(2).ry(0.3, 0).cx(0, 1).rz(0.5, 1)
    t, v = templatize(c)                       # v = tensor([0.3, 0.5])
    bind_template(t, torch.rand(8, 2))         # a batch of 8 circuits of c's structure
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from .errors import ShapeError
from .ir import Circuit, Op

__all__ = ["bind_template", "check_template", "matrix_slots", "placeholder_indices", "templatize", "unbatch"]

#: Metadata keys that belong to a template and not to the circuits bound from it.
_TEMPLATE_KEYS = ("template", "n_parameters", "phase_index", "matrix_slots")

def unbatch(circuit: Circuit) -> list[Circuit]:
    """Split a batched circuit into one unbatched circuit per sample (an unbatched one -> [itself])."""
    b = circuit.batch_size
    if b is None:
        return [circuit]
    return [circuit.select(i) for i in range(b)]  # Circuit.select is the one way to pick a sample


def placeholder_indices(p: Any) -> Tensor:
    """The parameter indices a template placeholder stands for, as a long tensor of its shape."""
    if not isinstance(p, Tensor):
        p = torch.tensor(float(p), dtype=torch.float64)
    return p.detach().round().long()


def _take(values: Tensor, index: Tensor) -> Tensor:
    """``values[..., index]``; a run of consecutive indices is a slice (a view, one backward node
    that the simulator can stack without copies) instead of a gather."""
    if index.dim() == 1 and index.numel() > 1:
        start = int(index[0])
        if bool((index == torch.arange(start, start + index.numel())).all()):
            return values[..., start:start + index.numel()]
    return values[..., index]


def check_template(template: Circuit, values: Any) -> Tensor:
    """``values`` as a real tensor ``(P,)`` or ``(B, P)`` that fits ``template`` (else :class:`ShapeError`)."""
    if not template.metadata.get("template"):
        raise ShapeError("bind_template needs a template circuit (metadata['template'] is True); use encoder.template_circuit()")
    p_total = int(template.metadata["n_parameters"])
    if not isinstance(values, Tensor):
        values = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if values.dim() not in (1, 2) or values.shape[-1] != p_total:
        raise ShapeError(
            f"the template has {p_total} parameters; expected values of shape ({p_total},) or (B, {p_total}), "
            f"got {tuple(values.shape)}"
        )
    if values.is_complex():
        raise ShapeError("template values must be real (gate angles)")
    return values


def matrix_slots(template: Circuit) -> tuple[int, ...]:
    """Positions (in ``template.ops``) of the ``unitary`` ops whose matrices are bound with the values."""
    return tuple(int(i) for i in template.metadata.get("matrix_slots", ()))


def bind_template(template: Circuit, values: Tensor, *, matrices: Sequence[Tensor] = ()) -> Circuit:
    """Fill a template's placeholders with ``values`` ``(P,)`` or ``(B, P)``.

    Each placeholder index ``k`` becomes ``values[..., k]`` (so a batch of values gives a
    batched circuit that ``qcstar.circuits.simulate`` runs in one call). ``matrices`` fill the
    template's matrix slots in order (each ``(2**k, 2**k)`` or batched ``(B, 2**k, 2**k)``).
    Differentiable in ``values`` and ``matrices``.

    Example::

        t = enc.template_circuit()
        c = bind_template(t, enc.parameters(x))     # batched Circuit
        psi = qcstar.circuits.simulate(c, dtype=torch.complex128)
    """
    values = check_template(template, values)
    slots = matrix_slots(template)
    if len(matrices) != len(slots):
        raise ShapeError(
            f"the template has {len(slots)} matrix slot(s) (metadata['matrix_slots']); got {len(matrices)} matrices"
        )
    fill = dict(zip(slots, matrices))
    ops = []
    for i, op in enumerate(template.ops):
        if i in fill:
            ops.append(Op(op.name, op.wires, (), fill[i], op.controls, op.control_values, op.mux))
        elif op.params:
            params = tuple(_take(values, placeholder_indices(p)) for p in op.params)
            ops.append(Op(op.name, op.wires, params, None, op.controls, op.control_values, op.mux))
        else:
            ops.append(op)
    phase: Any = template.global_phase
    k = template.metadata.get("phase_index")
    if k is not None:
        phase = values[..., int(k)]
    meta = {key: v for key, v in template.metadata.items() if key not in _TEMPLATE_KEYS}
    return Circuit(template.n_qubits, ops, phase, meta)


def templatize(circuit: Circuit) -> tuple[Circuit, Tensor]:
    """Turn a concrete circuit into ``(template, values)`` with every gate parameter a placeholder.

    ``bind_template(template, values)`` gives back ``circuit``. Matrix ops stay constants. A
    tensor-valued global phase becomes the last placeholder. ``values`` is ``(P,)`` for an
    unbatched circuit and ``(B, P)`` for a batched one (parameters shared by every sample are
    repeated in each row), so the template of one sample and the values of a batch line up.
    """
    batch = circuit.batch_size
    rows = 1 if batch is None else batch
    columns: list[Tensor] = []  # each (rows, k)
    count = 0

    def placeholder(p: Any, base: int) -> Tensor:
        nonlocal count
        v = p if isinstance(p, Tensor) else torch.tensor(float(p), dtype=torch.float64)
        v = v.detach().to(torch.float64)
        if batch is not None and v.dim() == base + 1:  # this parameter has the batch axis
            one = v.shape[1:]
            columns.append(v.reshape(rows, -1))
        else:
            one = v.shape
            columns.append(v.reshape(1, -1).expand(rows, -1))
        size = columns[-1].shape[1]
        idx = torch.arange(count, count + size, dtype=torch.float64).reshape(one)
        count += size
        return idx

    ops = []
    for op in circuit.ops:
        if not op.params:
            ops.append(op)
            continue
        new = tuple(placeholder(p, 1 if op.mux else 0) for p in op.params)
        ops.append(Op(op.name, op.wires, new, None, op.controls, op.control_values, op.mux))
    meta = dict(circuit.metadata)
    phase: Any = circuit.global_phase
    if isinstance(phase, Tensor):
        meta["phase_index"] = count
        placeholder(phase, 0)
        phase = 0.0
    flat = torch.cat(columns, dim=1) if columns else torch.zeros(rows, 0, dtype=torch.float64)
    meta["template"] = True
    meta["n_parameters"] = int(flat.shape[1])
    return Circuit(circuit.n_qubits, ops, phase, meta), (flat[0] if batch is None else flat)
