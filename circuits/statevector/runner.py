"""Executing a plan, and the simulator's entry points :func:`simulate` and :func:`unitary_matrix`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import ShapeError, StateError
from ..gates import GATES, broadcast_shape
from ..ir import Circuit, Op, _finite
from ..resources import check_memory, state_bytes
from .kernels import _FusedChain, apply_block, apply_matrix
from .matrices import _kron_vectors, _param_tensor, kron_chain, op_base_matrix, op_full_matrix
from .plan import _LayerStep, _plan_for, _CircuitPlan

Tensor = torch.Tensor


def _strided_stack(values: Sequence[Tensor]) -> Tensor | None:
    """``torch.stack(values, -1)`` as one strided view when the values are evenly spaced views of
    one tensor (the usual ``angles[:, layer, q, 0]`` per gate), else None.

    One view has one backward node; a stack of G selects has G of them, each of which fills a
    zero tensor the size of the whole parameter tensor. Same values, same gradients.
    """
    first = values[0]
    base = first._base
    if base is None or len(values) < 2 or first.dim() > 1:
        return None
    delta = values[1].storage_offset() - first.storage_offset()
    if delta <= 0:  # as_strided takes no negative strides
        return None
    stride = first.stride()
    for i, v in enumerate(values):
        if (
            v._base is not base
            or v.stride() != stride
            or v.storage_offset() != first.storage_offset() + i * delta
            or v.requires_grad != first.requires_grad
        ):
            return None
    return base.as_strided((*first.shape, len(values)), (*stride, delta), first.storage_offset())


class _Runner:
    """Executes a plan: every layer's matrices are built at once, then the state passes are made."""

    def __init__(self, n: int, psi: Tensor | None, batch: int, dtype: torch.dtype, device):
        self.n = n
        self.dtype = dtype
        self.real = torch.float64 if dtype == torch.complex128 else torch.float32
        self.device = device
        self.batch = batch
        self.psi = psi  # None means |0...0> not yet materialised

    def state(self) -> Tensor:
        if self.psi is None:
            psi = torch.zeros(self.batch, 2**self.n, dtype=self.dtype, device=self.device)
            psi[:, 0] = 1
            self.psi = psi
        return self.psi

    # -- matrices ------------------------------------------------------------------
    def _param2d(self, p, mux: bool) -> Tensor:
        """A parameter as (Bx, Rx): batch axis then multiplexer axis (1 where absent)."""
        t = _param_tensor(p, self.dtype, self.device)
        if t.dim() == 0:
            return t.reshape(1, 1)
        if mux:
            return t.unsqueeze(0) if t.dim() == 1 else t
        return t.unsqueeze(1)

    def _stacked_params(self, items: list[Op], j: int) -> Tensor:
        """Parameter ``j`` of every op in ``items`` as one tensor (Bx, Rx, G)."""
        values = [op.params[j] for op in items]
        first = values[0]
        mux = bool(items[0].mux)
        if isinstance(first, Tensor) and all(
            isinstance(v, Tensor) and v.shape == first.shape and v.dtype == first.dtype for v in values
        ):
            t = _strided_stack(values)
            if t is None:
                t = torch.stack(values, dim=-1)
            if t.requires_grad:  # one check for the whole family (not checked when the ops were built)
                _finite(t, f"simulate: gate '{items[0].name}'", "a trainable parameter tensor")
            t = t.to(device=self.device, dtype=self.real)  # (*shape, G)
            if t.dim() == 1:
                return t.view(1, 1, -1)
            if mux:
                return t.unsqueeze(0) if t.dim() == 2 else t
            return t.unsqueeze(1)
        if not any(isinstance(v, Tensor) for v in values):
            return torch.tensor(values, dtype=self.real, device=self.device).view(1, 1, -1)
        cols = [self._param2d(v, mux) for v in values]
        shape = broadcast_shape(*(c.shape for c in cols))
        return torch.stack([c.expand(shape) for c in cols], dim=-1)

    def _family_matrices(self, ops: Sequence[Op], layers: list[_LayerStep]) -> Tensor:
        """Fused per-wire matrices (Bm, Rm, S, 2, 2) of every wire slot of ``layers`` (one family).

        Ops of one gate name, across all the layers, are built in one vectorised call; the
        products along each wire are taken position by position over all slots at once.
        """
        by_name: dict[str | None, list[tuple[int, int]]] = {}  # name -> [(slot, depth position)]
        slot = 0
        depth = 1
        for layer in layers:
            layer.first_slot = slot
            for per_wire in layer.ops:
                depth = max(depth, len(per_wire))
                for k, i in enumerate(per_wire):
                    op = ops[i]
                    by_name.setdefault(op.name if op.matrix is None else None, []).append((slot, k, i))
                slot += 1
        blocks: list[Tensor] = []  # each (Bg, Rg, G, 2, 2)
        position: dict[tuple[int, int], int] = {}
        count = 0
        for name, items in by_name.items():
            if name is None:
                for _, _, i in items:
                    op = ops[i]
                    m = op_base_matrix(op, self.dtype, self.device)
                    blocks.append((m if op.mux else m.unsqueeze(1)).unsqueeze(2))
            else:
                spec = GATES[name]
                group = [ops[i] for _, _, i in items]
                if spec.num_params == 0:
                    blocks.append(spec.matrix_fn([], self.dtype).to(self.device).expand(1, 1, len(items), 2, 2))
                else:
                    params = [self._stacked_params(group, j) for j in range(spec.num_params)]
                    blocks.append(spec.matrix_fn(params, self.dtype))
            for s, k, _ in items:
                position[(s, k)] = count
                count += 1
        bm = max(b.shape[0] for b in blocks)
        rm = max(b.shape[1] for b in blocks)
        if depth == 1 and len(blocks) == 1:
            fused = blocks[0].expand(bm, rm, -1, 2, 2)
            order = [position[(s, 0)] for s in range(slot)]
            return fused if order == list(range(slot)) else fused[:, :, order]
        eye = torch.eye(2, dtype=self.dtype, device=self.device).expand(1, 1, 1, 2, 2)
        every = torch.cat([b.expand(bm, rm, b.shape[2], 2, 2) for b in blocks + [eye]], dim=2)
        idx = torch.tensor([[position.get((s, k), count) for k in range(depth)] for s in range(slot)], device=every.device)
        sel = every[:, :, idx.flatten()].view(bm, rm, slot, depth, 2, 2)
        fused = sel[:, :, :, 0]
        for k in range(1, depth):
            fused = sel[:, :, :, k] @ fused
        return fused

    def _family_krons(self, fused: Tensor, layers: list[_LayerStep]) -> dict[tuple[int, int], Tensor]:
        """Kronecker products (Bm, Rm, 2**span, 2**span) of every chunk of ``layers``, keyed by
        (layer id, lo); one vectorised construction per chunk span."""
        by_span: dict[int, list[tuple[int, int, list[int]]]] = {}
        pad = fused.shape[2]
        for layer in layers:
            where = {w: layer.first_slot + j for j, w in enumerate(layer.wires)}
            for lo, hi in layer.ranges:
                rows = [where.get(q, pad) for q in range(hi, lo - 1, -1)]
                by_span.setdefault(hi - lo + 1, []).append((id(layer), lo, rows))
        out: dict[tuple[int, int], Tensor] = {}
        if not by_span:
            return out
        eye = torch.eye(2, dtype=self.dtype, device=self.device).expand(*fused.shape[:2], 1, 2, 2)
        ext = torch.cat([fused, eye], dim=2)
        for span, entries in by_span.items():
            idx = torch.tensor([rows for _, _, rows in entries], device=ext.device)
            mats = ext[:, :, idx.flatten()].view(*ext.shape[:2], len(entries), span, 2, 2)
            krons = kron_chain(list(mats.unbind(3))).unbind(2)
            for (lid, lo, _), k in zip(entries, krons):
                out[(lid, lo)] = k
        return out

    # -- execution -----------------------------------------------------------------
    def run(self, plan: _CircuitPlan, ops: Sequence[Op]) -> Tensor:
        families: dict[int, list[_LayerStep]] = {}
        for layer in plan.layers:
            families.setdefault(layer.reg, []).append(layer)
        fused: dict[int, Tensor] = {}
        krons: dict[tuple[int, int], Tensor] = {}
        for reg, layers in families.items():
            fused[reg] = self._family_matrices(ops, layers)
            krons.update(self._family_krons(fused[reg], layers))
        self._program: list = []  # pending run of blocks and permutations, applied as one node
        self._mats: list[Tensor] = []
        for kind, step in plan.steps:
            if kind == "layer":
                if step.reg == 0 and step.mode != "product":
                    self._queue_layer(step, fused[0], krons)
                else:
                    self._flush_program()
                    self._apply_layer(step, fused[step.reg], krons)
            elif kind == "perm":
                if self.psi is None:
                    self.state()
                p, inv, s = step.tensors(self.psi.device, self.real)
                self._program.append(("perm", None if step.identity else p, None if step.identity else inv, s))
            else:
                self._flush_program()
                op = ops[step]
                m = op_full_matrix(op, self.dtype, self.device)
                self.psi = apply_matrix(self.state(), m, op.all_wires, self.n)
        self._flush_program()
        return self.state()

    def _queue_layer(self, layer: _LayerStep, fused: Tensor, krons: dict) -> None:
        self.state()
        first = layer.first_slot
        for q in layer.singles:
            self._program.append(("block", q, 1, len(self._mats)))
            self._mats.append(fused[:, 0, first + layer.wires.index(q)])
        for lo, hi in layer.ranges:
            self._program.append(("block", lo, hi - lo + 1, len(self._mats)))
            self._mats.append(krons[(id(layer), lo)][:, 0])

    def _flush_program(self) -> None:
        if self._program:
            self.psi = _FusedChain.apply(self._program, self.n, self.state(), *self._mats)
            self._program, self._mats = [], []

    def _apply_layer(self, layer: _LayerStep, fused: Tensor, krons: dict) -> None:
        reg, nsys = layer.reg, self.n - layer.reg
        first = layer.first_slot
        if layer.mode == "product":
            # product state from |0...0>: the first column of each wire's matrix
            e0 = torch.zeros(1, 2, dtype=self.dtype, device=fused.device)
            e0[:, 0] = 1
            where = {w: first + j for j, w in enumerate(layer.wires)}
            cols = [fused[:, 0, where[q], :, 0] if q in where else e0 for q in range(nsys - 1, -1, -1)]
            psi = _kron_vectors(cols).reshape(-1, 2**self.n)
            self.psi = psi.expand(self.batch, -1) if psi.shape[0] != self.batch else psi
            return
        psi = self.state()
        for q in layer.singles:
            m = fused[:, :, first + layer.wires.index(q)]
            psi = apply_block(psi, m if reg else m[:, 0], q, 1, nsys, reg)
        for lo, hi in layer.ranges:
            k = krons[(id(layer), lo)]
            psi = apply_block(psi, k if reg else k[:, 0], lo, hi - lo + 1, nsys, reg)
        self.psi = psi


#: Largest ``| ||psi||^2 - 1 |`` accepted for an initial state, by the simulation's precision.
STATE_NORM_TOLERANCE = {torch.complex128: 1e-6, torch.complex64: 1e-4}
#: State-sized buffers a simulation holds at once (the state, the next one, a gather's output);
#: the memory guard refuses circuits whose estimate exceeds the cap.
SIMULATION_BUFFERS = 3


def _check_dtype(dtype: torch.dtype) -> None:
    if dtype not in (torch.complex64, torch.complex128):
        raise ShapeError(f"simulate needs dtype torch.complex64 or torch.complex128, got {dtype}")


def _itemsize(dtype: torch.dtype) -> int:
    return 16 if dtype == torch.complex128 else 8


def check_initial_state(state: Tensor, dtype: torch.dtype, *, check_norm: bool = True) -> None:
    """Refuse an initial state that is not finite or, with ``check_norm``, whose squared norm
    differs from 1 by more than :data:`STATE_NORM_TOLERANCE` (a zero state included), for every
    sample of a batch. One reduction over the state."""
    norms = torch.linalg.vector_norm(state.detach(), dim=-1).to(torch.float64).square()
    if not bool(torch.isfinite(norms).all()):
        raise StateError("the initial state holds NaN or infinite amplitudes; expected a finite, normalised state")
    if not check_norm:
        return
    tolerance = STATE_NORM_TOLERANCE[dtype]
    worst = float((norms - 1).abs().max()) if norms.numel() else 0.0
    if worst > tolerance:
        raise StateError(
            f"the initial state must be normalised (squared norm 1 within {tolerance:g} for {dtype}); a sample has "
            f"squared norm {float(norms.flatten()[(norms - 1).abs().flatten().argmax()]):.6g}: divide it by its norm "
            "(a zero state has none)"
        )


def simulate(
    circuit: Circuit,
    state: Tensor | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    check_norm: bool = True,
) -> Tensor:
    """Simulate ``circuit`` from ``state`` (default |0...0>).

    Returns ``(2**n,)``, or ``(B, 2**n)`` when any parameter, matrix or the initial state has a
    batch axis. Differentiable through every parameter, matrix and the initial state.

    Refused before anything is allocated (:class:`~qcstar.circuits.errors.ResourceError`): a
    simulation whose :data:`SIMULATION_BUFFERS` state-sized buffers exceed the memory cap of
    :mod:`qcstar.circuits.resources`. An initial state must be finite and normalised (squared
    norm 1 within :data:`STATE_NORM_TOLERANCE`: 1e-6 for complex128, 1e-4 for complex64), else
    :class:`~qcstar.circuits.errors.StateError`. ``check_norm=False`` applies the circuit to any
    finite vector instead (the simulation is linear: gradient checks perturb states off the unit
    sphere). ``device`` must exist on this machine, else :class:`~qcstar.circuits.errors.ConfigError`.
    """
    if not isinstance(circuit, Circuit):
        raise ShapeError(f"simulate expects a circuits.Circuit, got {type(circuit).__name__}")
    _check_dtype(dtype)
    device = resolve_device(device)
    n = circuit.n_qubits
    batch = circuit.batch_size
    if state is not None and not isinstance(state, Tensor):
        array = np.asarray(state)
        if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
            raise ShapeError(f"an initial state is a complex tensor or array of numbers, got dtype {array.dtype}")
        state = torch.as_tensor(array)
    rows = batch if batch is not None else (state.shape[0] if state is not None and state.dim() == 2 else 1)
    # before anything of size 2**n exists (plans, states): estimate and refuse what cannot fit
    check_memory(
        state_bytes(n, max(rows, 1), itemsize=_itemsize(dtype)),
        f"simulating {rows} state(s) of {n} qubits",
        factor=SIMULATION_BUFFERS,
    )
    if rows == 0:
        raise ShapeError(
            "the circuit (or initial state) has an empty batch (B=0): there is nothing to simulate; "
            "pass at least one sample"
        )
    dim = 2**n
    if state is not None:
        if state.dim() not in (1, 2) or state.shape[-1] != dim:
            raise ShapeError(
                f"initial state for a {n}-qubit circuit must have shape ({dim},) or (B, {dim}), got {tuple(state.shape)}"
            )
        if device is None:
            device = state.device
        state = state.to(device=device, dtype=dtype)
        if state.dim() == 2:
            if batch is not None and state.shape[0] != batch:
                raise ShapeError(
                    f"initial state batch {state.shape[0]} does not match the circuit's parameter batch {batch}"
                )
            batch = state.shape[0]
        check_initial_state(state, dtype, check_norm=check_norm)
    squeeze = batch is None
    bp = 1 if batch is None else batch
    psi = None
    if state is not None:
        psi = state.reshape(-1, dim)
        if psi.shape[0] != bp:
            psi = psi.expand(bp, dim)
    runner = _Runner(n, psi, bp, dtype, device)
    out = runner.run(_plan_for(n, circuit.ops, psi is None), circuit.ops)
    if out.shape[0] != bp:
        out = out.expand(bp, dim)
    phase = circuit.global_phase
    if isinstance(phase, Tensor) or phase != 0.0:
        ph = _param_tensor(phase, dtype, device)
        out = out * torch.polar(torch.ones_like(ph), ph).to(dtype).reshape(-1, 1)
    return out[0] if squeeze else out


def unitary_matrix(circuit: Circuit, *, dtype: torch.dtype = torch.complex128, device=None) -> Tensor:
    """The circuit's full unitary (columns = images of basis states). For tests and small n."""
    if circuit.batch_size is not None:
        raise ShapeError("unitary_matrix needs an unbatched circuit")
    if circuit.n_qubits > 12:
        raise ShapeError(f"unitary_matrix is for small circuits (<= 12 qubits), got {circuit.n_qubits}")
    n = circuit.n_qubits
    check_memory(
        state_bytes(n, 1 << n, itemsize=_itemsize(dtype)), f"the {2**n}x{2**n} unitary of {n} qubits",
        factor=SIMULATION_BUFFERS,
    )
    device = resolve_device(device)
    eye = torch.eye(2**circuit.n_qubits, dtype=dtype, device=device)
    return simulate(circuit, eye, dtype=dtype, device=device).T

