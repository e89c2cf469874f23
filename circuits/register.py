"""Index-register circuits: a template run on several input columns at once.

The quantum circuit C*-algebra net (arXiv:2404.06218) is a circuit on ``n`` system qubits and
an ``a``-qubit *index register* on the top qubits ``n .. n+a-1``. Its layers are single-qubit
gates multiplexed over the register (one matrix per register value: a block-diagonal layer),
permutation gates such as a CX ladder on the system qubits, and a unitary on the register
that mixes the blocks. Its state is a module element: several *columns*, each the circuit
applied to its own input (for the net, ``|s>_index |0...0>``).

:func:`simulate_columns` runs a template of that form (see :mod:`qcstar.circuits.template`)
bound to a batch of values on all columns in one pass, with the simulator's kernels
(``apply_block`` with the register as multiplexer, ``kron_chain`` per chunk of wires, one
gather per run of permutation gates). Its result equals ``simulate(bind_template(template,
values, matrices=...), column)`` for every column, to rounding; it is faster than stacking the
columns as extra qubits because the columns never enter the chunking of the system wires and
a permutation is one gather of ``2**n`` indices shared by every column.

Supported ops (anything else: use :func:`qcstar.circuits.simulate`):

* single-qubit catalogue gates on system wires, plain or multiplexed over exactly the register
  (``mux`` = the register wires in order, ``mux[0]`` least significant);
* permutation gates (CX, CCX, SWAP, CSWAP, DCX, CZ, CCZ) on system wires;
* ``unitary`` ops on exactly the register wires, constant or a matrix slot.

Example::

    net = QCStarNet(n_qubits=4, n_circuits=2, n_layers=2, in_shape=(8, 8))
    t = net.template_circuit()                       # the net's structure, index register on top
    cols = column_states(t.n_qubits, [0, 1], n_register=1)          # |0>_index|0>, |1>_index|0>
    psi = simulate_columns(t, net.template_values(x), columns=cols, matrices=net.template_matrices())
    psi.shape                                        # (B, 2, 2, 16): batch, column, register, system
"""

from __future__ import annotations

import math
import weakref
from typing import Sequence

import numpy as np
import torch

from .linalg import inverse_permutation
from .errors import GateError, ShapeError
from .gates import GATES
from .ir import Circuit, Op
from .resources import check_memory, state_bytes
from .statevector import MAX_CHUNK, apply_block, apply_permutation, kron_chain, permutation, wire_chunks
from .template import check_template, matrix_slots, placeholder_indices

Tensor = torch.Tensor

__all__ = ["ColumnProgram", "column_states", "simulate_columns"]

_PERMUTATION_GATES = frozenset({"cx", "ccx", "swap", "cswap", "dcx", "cz", "ccz"})


def column_states(
    n_qubits: int,
    register_values: Sequence[int],
    *,
    n_register: int,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Input columns ``|c>_register (x) |0...0>`` for each ``c`` in ``register_values``: ``(S, 2**n_qubits)``.

    The register is the top ``n_register`` qubits (basis index ``c * 2**(n_qubits - n_register)``).
    """
    m = 2 ** (n_qubits - n_register)
    out = torch.zeros(len(register_values), 2**n_qubits, dtype=dtype, device=device)
    for s, c in enumerate(register_values):
        if not 0 <= int(c) < 2**n_register:
            raise ShapeError(f"register value {c} does not fit {n_register} register qubit(s) (0..{2**n_register - 1})")
        out[s, int(c) * m] = 1
    return out


class ColumnProgram:
    """A template compiled for :func:`simulate_columns` (its structure, decided once).

    Args:
        template: a template circuit (``metadata["template"]``) of the supported ops.
        n_register: register qubits on top; default ``template.metadata["n_register"]``, else
            the multiplexer width of its multiplexed ops, else 0.
        max_chunk: largest chunk of system wires multiplied as one Kronecker product.
    """

    def __init__(self, template: Circuit, *, n_register: int | None = None, max_chunk: int = MAX_CHUNK) -> None:
        if not template.metadata.get("template"):
            raise ShapeError("ColumnProgram needs a template circuit (metadata['template'] is True); see circuits.template")
        if n_register is None:
            n_register = template.metadata.get("n_register")
        if n_register is None:
            n_register = max((len(op.mux) for op in template.ops), default=0)
        if isinstance(max_chunk, bool) or not isinstance(max_chunk, int) or max_chunk < 1:
            raise ShapeError(f"max_chunk must be a positive int, got {max_chunk!r}")
        self.n_qubits = template.n_qubits
        self.n_register = a = int(n_register)
        self.n_system = n = self.n_qubits - a
        if n < 1:
            raise ShapeError(f"a {self.n_qubits}-qubit template has no system qubits below a {a}-qubit register")
        self.max_chunk = max_chunk
        self.n_parameters = int(template.metadata.get("n_parameters", 0))
        self.n_slots = len(matrix_slots(template))
        register = tuple(range(n, n + a))
        slots = set(matrix_slots(template))
        # steps: ("layer", {wire: [gate refs]}), ("perm", [ops]), ("unitary", slot or constant matrix)
        self._steps: list[tuple[str, object]] = []
        self._gates: dict[str, list[Tensor]] = {}  # gate name -> placeholder index rows (R,) per use
        layer: dict[int, list[tuple[str, int]]] = {}
        perms: list[Op] = []

        def flush() -> None:
            nonlocal layer, perms
            if layer:
                self._steps.append(("layer", layer))
            if perms:
                self._steps.append(("perm", permutation(perms, n)))
            layer, perms = {}, []

        slot_number = 0
        for i, op in enumerate(template.ops):
            where = f"op {i} ({op.name} on {op.all_wires})"
            if op.controls:
                raise GateError(f"simulate_columns: {where} has controls; use circuits.simulate for this circuit")
            if op.name == "unitary":
                if op.wires != register or op.mux:
                    raise GateError(
                        f"simulate_columns: {where}: a unitary must act on exactly the register wires {register}; "
                        "use circuits.simulate for this circuit"
                    )
                flush()
                if i in slots:
                    self._steps.append(("unitary", slot_number))
                    slot_number += 1
                else:
                    self._steps.append(("unitary", op.matrix))
            elif op.name in _PERMUTATION_GATES and not op.mux:
                if max(op.wires) >= n:
                    raise GateError(f"simulate_columns: {where} touches the register; use circuits.simulate")
                if layer:
                    flush()
                perms.append(op)
            elif len(op.wires) == 1 and op.wires[0] < n and op.mux in ((), register):
                if perms:
                    flush()
                spec = GATES[op.name]
                refs = self._gates.setdefault(op.name, [])
                if spec.num_params:
                    idx = torch.stack([placeholder_indices(p).expand(2**a) for p in op.params])  # (params, R)
                else:
                    idx = torch.zeros(0, 2**a, dtype=torch.long)
                layer.setdefault(op.wires[0], []).append((op.name, len(refs)))
                refs.append(idx)
            else:
                raise GateError(
                    f"simulate_columns: {where} is not a single-qubit gate on a system wire (plain or multiplexed "
                    f"over the register {register}), a permutation gate or a register unitary; use circuits.simulate"
                )
        flush()
        # per gate name: (uses, params, R) placeholder indices, gathered from the values in one call
        self._index = {name: torch.stack(rows) for name, rows in self._gates.items()}
        # every (layer, wire) is one slot; its gates, in order, are rows of the concatenation of
        # all gate matrices (identity = the last row): fusing is one gather and one matmul per depth
        offset, start = 0, {}
        for name, idx in self._index.items():
            start[name] = offset
            offset += idx.shape[0]
        layers = [step for kind, step in self._steps if kind == "layer"]
        depth = max((len(refs) for layer in layers for refs in layer.values()), default=0)  # type: ignore[union-attr]
        rows: list[list[int]] = []
        self._slot_of: list[dict[int, int]] = []
        for layer in layers:
            where = {}
            for wire, refs in sorted(layer.items()):  # type: ignore[union-attr]
                where[wire] = len(rows)
                rows.append([start[name] + use for name, use in refs] + [offset] * (depth - len(refs)))
            self._slot_of.append(where)
        self._depth_index = torch.tensor(rows, dtype=torch.long).T.contiguous() if rows else None  # (depth, slots)
        self._phase = template.global_phase
        self._phase_index = template.metadata.get("phase_index")
        self._perm_tensors: dict[tuple, tuple[Tensor, Tensor, Tensor | None]] = {}
        self._device_copies: dict[tuple, Tensor] = {}
        n_layers_chunks = sum(
            len(wire_chunks(n, max_chunk)) for kind, _ in self._steps if kind == "layer"
        )
        #: state-sized tensors a differentiable run keeps for its backward (memory estimate)
        self.n_passes = n_layers_chunks + sum(1 for kind, _ in self._steps if kind != "layer")

    # -- matrices ------------------------------------------------------------------
    def _gate_matrices(self, values: Tensor, dtype: torch.dtype) -> dict[str, Tensor]:
        """Every use of every gate name at once: name -> (B, uses, R, 2, 2)."""
        out = {}
        r = 2**self.n_register
        for name, idx in self._index.items():
            spec = GATES[name]
            if spec.num_params:
                index = self._on(("index", name), idx, values.device)
                params = [values[:, index[:, j]] for j in range(spec.num_params)]  # (B, uses, R) each
                out[name] = spec.matrix_fn(params, dtype)
            else:
                m = spec.matrix_fn([], dtype).to(values.device)
                out[name] = m.expand(1, idx.shape[0], r, 2, 2)
        return out

    def _slot_matrices(self, mats: dict[str, Tensor], dtype: torch.dtype, device) -> list[Tensor]:
        """One fused (Bm, R, 2, 2) matrix per (layer, wire) slot: its gates multiplied in order."""
        r = 2**self.n_register
        blocks = [mats[name] for name in self._index] + [torch.eye(2, dtype=dtype, device=device).expand(1, 1, r, 2, 2)]
        bm = max(b.shape[0] for b in blocks)
        every = torch.cat([b.expand(bm, b.shape[1], r, 2, 2) for b in blocks], dim=1)
        table = self._on(("depth",), self._depth_index, device)
        fused = every[:, table[0]]
        for k in range(1, table.shape[0]):
            fused = every[:, table[k]] @ fused
        return list(fused.unbind(1))  # one backward node for all slots

    def _on(self, key: tuple, tensor: Tensor, device) -> Tensor:
        """``tensor`` on ``device``, copied there once (no host-to-device copy per run)."""
        full = (*key, str(device))
        hit = self._device_copies.get(full)
        if hit is None:
            hit = self._device_copies[full] = tensor.to(device)
        return hit

    def _perm(self, step: tuple[np.ndarray, np.ndarray | None], device, real: torch.dtype):
        key = (id(step), str(device), real)
        hit = self._perm_tensors.get(key)
        if hit is None:
            perm, sign = step
            p = torch.from_numpy(perm).to(device)
            inv = inverse_permutation(p)
            s = None if sign is None else torch.from_numpy(sign).to(device=device, dtype=real)
            hit = self._perm_tensors[key] = (p, inv, s)
        return hit

    # -- execution -----------------------------------------------------------------
    def run(
        self,
        values: Tensor,
        *,
        columns: Tensor,
        matrices: Sequence[Tensor] = (),
        dtype: torch.dtype = torch.complex64,
    ) -> Tensor:
        """The columns' states ``(B, S, 2**a, 2**n)`` (a view); see :func:`simulate_columns`."""
        if dtype not in (torch.complex64, torch.complex128):
            raise ShapeError(f"simulate_columns needs dtype torch.complex64 or torch.complex128, got {dtype}")
        single = values.dim() == 1
        if single:
            values = values.unsqueeze(0)
        if values.dim() != 2 or values.shape[1] != self.n_parameters:
            raise ShapeError(f"the template has {self.n_parameters} parameters; got values of shape {tuple(values.shape)}")
        if values.shape[0] == 0:
            raise ShapeError("simulate_columns got an empty batch of values (0, P); pass at least one row")
        if len(matrices) != self.n_slots:
            raise ShapeError(f"the template has {self.n_slots} matrix slot(s); got {len(matrices)} matrices")
        a, n = self.n_register, self.n_system
        r, m = 2**a, 2**n
        if columns.dim() != 2 or columns.shape[1] != r * m:
            raise ShapeError(f"columns must be input states (S, {r * m}), got {tuple(columns.shape)}")
        b, s = values.shape[0], columns.shape[0]
        # the column axis sits between the register and the system wires; a power of two of them
        # keeps apply_block's qubit arithmetic (padding columns are zero)
        s_bits = math.ceil(math.log2(s)) if s > 1 else 0
        sp = 2**s_bits
        itemsize = 16 if dtype == torch.complex128 else 8
        keeps = self.n_passes + 2 if torch.is_grad_enabled() else 3
        check_memory(state_bytes(a + s_bits + n, b, itemsize=itemsize), f"simulating {s} column(s) of a batch of {b} "
                     f"on {a} + {n} qubits", factor=keeps)
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        values = values.to(real)
        device = values.device
        psi = columns.to(device=device, dtype=dtype).view(s, r, m).transpose(0, 1)  # (R, S, M)
        if sp != s:
            psi = torch.nn.functional.pad(psi, (0, 0, 0, sp - s))
        psi = psi.reshape(1, -1).expand(b, -1)
        width = n + s_bits  # wires below the register, columns included
        slots = self._slot_matrices(self._gate_matrices(values, dtype), dtype, device) if self._slot_of else []
        slot_matrices = list(matrices)
        eye = torch.eye(2, dtype=dtype, device=device).expand(1, r, 2, 2)
        layer_number = 0
        for kind, step in self._steps:
            if kind == "layer":
                where = self._slot_of[layer_number]
                layer_number += 1
                for low, size in wire_chunks(n, self.max_chunk):
                    present = [q for q in range(low, low + size) if q in where]
                    if not present:
                        continue
                    lo, hi = min(present), max(present)
                    # the first factor is the most significant; a wire without gates is the identity
                    k = kron_chain([slots[where[q]] if q in where else eye for q in range(hi, lo - 1, -1)])
                    psi = apply_block(psi, k if a else k[:, 0], lo, hi - lo + 1, width, a)
            elif kind == "perm":
                p, inv, sign = self._perm(step, device, real)  # type: ignore[arg-type]
                psi = apply_permutation(psi.reshape(-1, m), p, inv, sign).view(b, -1)
            else:
                u = slot_matrices.pop(0) if isinstance(step, int) else step
                u = u.to(device=device, dtype=dtype)
                if u.shape[-2:] != (r, r) or u.dim() not in (2, 3) or (u.dim() == 3 and u.shape[0] not in (1, b)):
                    raise ShapeError(f"a register unitary must be ({r}, {r}) or ({b}, {r}, {r}), got {tuple(u.shape)}")
                psi = apply_block(psi, u if u.dim() == 3 else u.unsqueeze(0), width, a, width + a, 0)
        if self._phase_index is not None or self._phase != 0.0:
            phase = values[:, int(self._phase_index)] if self._phase_index is not None else torch.tensor(
                float(self._phase), dtype=real, device=device)
            psi = psi * torch.polar(torch.ones_like(phase), phase).to(dtype).reshape(-1, 1)
        out = psi.view(b, r, sp, m)[:, :, :s].transpose(1, 2)
        return out[0] if single else out


_PROGRAMS: "weakref.WeakKeyDictionary[Circuit, dict[tuple, ColumnProgram]]" = weakref.WeakKeyDictionary()


def simulate_columns(
    template: Circuit,
    values: Tensor,
    *,
    columns: Tensor,
    matrices: Sequence[Tensor] = (),
    n_register: int | None = None,
    dtype: torch.dtype = torch.complex64,
    max_chunk: int = MAX_CHUNK,
) -> Tensor:
    """Run ``template`` bound to ``values`` on every input column at once.

    ``values``: ``(P,)`` or ``(B, P)`` (the template's placeholders); ``matrices``: its matrix
    slots in order, each ``(2**a, 2**a)`` or ``(B, 2**a, 2**a)``; ``columns``: input states
    ``(S, 2**N)`` (see :func:`column_states`; any vectors, the map is linear). Returns
    ``(B, S, 2**a, 2**n)`` (``(S, 2**a, 2**n)`` for unbatched values), a view in which
    ``out[b, s].reshape(-1)`` equals ``simulate(bind_template(template, values[b], matrices=...),
    columns[s])``. Runs on the values' device; differentiable in values, matrices and columns.
    The compiled structure is cached per template object.
    """
    values = check_template(template, values)
    per_template = _PROGRAMS.setdefault(template, {})
    key = (n_register, max_chunk)
    program = per_template.get(key)
    if program is None:
        program = per_template[key] = ColumnProgram(template, n_register=n_register, max_chunk=max_chunk)
    return program.run(values, columns=columns, matrices=matrices, dtype=dtype)
