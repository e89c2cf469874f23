"""Parameter templates: one circuit structure, its gate parameters bound to a whole batch.

A *template* is a :class:`~qcstar.circuits.ir.Circuit` whose gate parameters are placeholder
indices into a flat parameter vector (``metadata["template"] = True``, ``metadata["n_parameters"]``).
:func:`bind_template` fills the placeholders from values ``(P,)`` or ``(B, P)`` and returns one
batched circuit, which :func:`qcstar.circuits.simulate` runs in a single call: the path for
parametric encoders, feature maps and the C*-net's exported circuits alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import ShapeError
from .ir import Circuit, Op

__all__ = ["bind_template", "placeholder_indices", "templatize", "unbatch"]



def _param_batched(op: Op, p: Any) -> bool:
    return isinstance(p, Tensor) and p.dim() == (2 if op.mux else 1)


def unbatch(circuit: Circuit) -> list[Circuit]:
    """Split a batched circuit into one unbatched circuit per sample (an unbatched one -> [itself])."""
    b = circuit.batch_size
    if b is None:
        return [circuit]
    out = []
    for i in range(b):
        ops = []
        for op in circuit.ops:
            params = tuple(p[i] if _param_batched(op, p) else p for p in op.params)
            matrix = op.matrix
            if matrix is not None and matrix.dim() == (4 if op.mux else 3):
                matrix = matrix[i]
            ops.append(Op(op.name, op.wires, params, matrix, op.controls, op.control_values, op.mux))
        phase = circuit.global_phase
        if isinstance(phase, Tensor) and phase.dim() == 1:
            phase = phase[i]
        out.append(Circuit(circuit.n_qubits, ops, phase, dict(circuit.metadata)))
    return out


def placeholder_indices(p: Any) -> Tensor:
    if not isinstance(p, Tensor):
        p = torch.tensor(float(p), dtype=torch.float64)
    return p.detach().round().long()


def bind_template(template: Circuit, values: Tensor) -> Circuit:
    """Fill a template's placeholders with ``values`` ``(P,)`` or ``(B, P)``.

    Each placeholder index ``k`` becomes ``values[..., k]`` (so a batch of values gives a
    batched circuit that ``qcstar.circuits.simulate`` runs in one call). Differentiable in ``values``.

    Example::

        t = enc.template_circuit()
        c = bind_template(t, enc.parameters(x))     # batched Circuit
        psi = qcstar.circuits.simulate(c, dtype=torch.complex128)
    """
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
    ops = []
    for op in template.ops:
        if op.params:
            params = tuple(values[..., placeholder_indices(p)] for p in op.params)
            ops.append(Op(op.name, op.wires, params, None, op.controls, op.control_values, op.mux))
        else:
            ops.append(op)
    phase: Any = template.global_phase
    k = template.metadata.get("phase_index")
    if k is not None:
        phase = values[..., int(k)]
    meta = {key: v for key, v in template.metadata.items() if key not in ("template", "n_parameters", "phase_index")}
    return Circuit(template.n_qubits, ops, phase, meta)


def templatize(circuit: Circuit) -> tuple[Circuit, Tensor]:
    """Turn a concrete unbatched circuit into ``(template, values)`` with every gate parameter a placeholder.

    ``bind_template(template, values)`` gives back ``circuit``. Matrix ops stay constants. A
    tensor-valued global phase becomes the last placeholder.
    """
    if circuit.batch_size is not None:
        raise ShapeError("templatize needs an unbatched circuit; split it with qcstar.circuits.template.unbatch first")
    values: list[Tensor] = []
    ops = []
    for op in circuit.ops:
        if not op.params:
            ops.append(op)
            continue
        new = []
        for p in op.params:
            v = p if isinstance(p, Tensor) else torch.tensor(float(p), dtype=torch.float64)
            v = v.to(torch.float64)
            start = sum(int(t.numel()) for t in values)
            idx = torch.arange(start, start + v.numel(), dtype=torch.float64).reshape(v.shape)
            values.append(v.reshape(-1))
            new.append(idx)
        ops.append(Op(op.name, op.wires, tuple(new), None, op.controls, op.control_values, op.mux))
    meta = dict(circuit.metadata)
    phase: Any = circuit.global_phase
    if isinstance(phase, Tensor):
        meta["phase_index"] = sum(int(t.numel()) for t in values)
        values.append(phase.to(torch.float64).reshape(1))
        phase = 0.0
    flat = torch.cat(values) if values else torch.zeros(0, dtype=torch.float64)
    meta["template"] = True
    meta["n_parameters"] = int(flat.numel())
    return Circuit(circuit.n_qubits, ops, phase, meta), flat
