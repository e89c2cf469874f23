"""Simulation plans: what to do with a circuit's ops, decided from their structure alone.

A plan groups single-qubit ops into layers (applied as chunked Kronecker products), composes
runs of signed-permutation gates (their basis images come from the catalogue,
``GateSpec.signed_permutation``) into one gather, and sends everything else to the general
dense path. Plans are cached by structure, so parameters can change from call to call.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch

from ..errors import GateError
from ..gates import GATES
from ..ir import Op
from ..linalg import inverse_permutation
from ..resources import check_memory, state_bytes

Tensor = torch.Tensor

#: Largest chunk of qubits multiplied as one Kronecker product when applying a layer.
MAX_CHUNK = 4


def wire_chunks(n: int, max_chunk: int = MAX_CHUNK) -> list[tuple[int, int]]:
    """Split wires 0..n-1 into near-equal contiguous chunks of at most max_chunk: (low, size)."""
    count = max(1, math.ceil(n / max_chunk))
    base, extra = divmod(n, count)
    out, low = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        out.append((low, size))
        low += size
    return out


class _LayerStep:
    """A layer of single-qubit ops (multiplexed over the top ``reg`` qubits when reg > 0)."""

    __slots__ = ("reg", "wires", "ops", "mode", "singles", "ranges", "first_slot")

    def __init__(self, reg: int, layer: dict[int, list[int]], mode: str, nsys: int):
        self.reg = reg
        self.wires = sorted(layer)
        self.ops = [layer[w] for w in self.wires]  # op indices per wire, in order
        self.mode = mode  # "product" (build from |0...0>), "small" (per wire) or "chunks"
        self.singles: list[int] = []  # wires applied alone
        self.ranges: list[tuple[int, int]] = []  # (lo, hi) chunks applied as one Kronecker product
        self.first_slot = 0  # where this layer's wires start in its family's fused matrices
        if mode == "small":
            self.singles = list(self.wires)
        elif mode == "chunks":
            present = set(self.wires)
            for low, size in wire_chunks(nsys, MAX_CHUNK):
                inside = [q for q in range(low, low + size) if q in present]
                if len(inside) == 1:
                    self.singles.append(inside[0])
                elif inside:
                    self.ranges.append((min(inside), max(inside)))


class _PermStep:
    """A composed run of permutation gates: ``out[i] = sign[i] * psi[perm[i]]``."""

    __slots__ = ("perm", "sign", "identity", "_tensors")

    def __init__(self, perm: np.ndarray, sign: np.ndarray | None):
        self.perm = perm
        self.sign = sign if sign is not None and np.any(sign != 1) else None
        self.identity = bool(np.array_equal(perm, np.arange(perm.size)))
        self._tensors: dict = {}

    def tensors(self, device, real: torch.dtype) -> tuple[Tensor, Tensor, Tensor | None]:
        key = (str(device), real)
        if key not in self._tensors:
            p = torch.from_numpy(self.perm).to(device)
            inv = inverse_permutation(p)
            s = None if self.sign is None else torch.from_numpy(self.sign).to(device=device, dtype=real)
            self._tensors[key] = (p, inv, s)
        return self._tensors[key]


class _CircuitPlan:
    """What to do with a circuit's ops, decided from their structure alone (cached)."""

    def __init__(self, n: int, ops: Sequence[Op], zero_start: bool):
        self.n = n
        self.steps: list[tuple[str, object]] = []
        self._idx: np.ndarray | None = None  # basis indices, built at the first permutation gate
        self._materialised = not zero_start
        self._layer: dict[int, list[int]] = {}
        self._layer_reg: tuple[int, ...] = ()
        self._perm: np.ndarray | None = None
        self._sign: np.ndarray | None = None
        self._perm_support: set[int] = set()
        for i, op in enumerate(ops):
            plain = not op.controls and not op.mux
            if len(op.wires) > 1 and _is_signed_permutation(op):
                if self._layer and (set(op.all_wires) & (set(self._layer) | set(self._layer_reg))):
                    self._flush_layer()
                if self._idx is None:
                    self._idx = np.arange(2**n, dtype=np.int64)
                self._perm, self._sign = _compose_permutation(self._perm, self._sign, op, self._idx)
                self._perm_support.update(op.all_wires)
            elif len(op.wires) == 1 and plain:
                self._add_layer_op(i, op, ())
            elif (
                len(op.wires) == 1
                and op.mux
                and not op.controls
                and list(op.mux) == list(range(n - len(op.mux), n))
                and op.wires[0] < n - len(op.mux)
            ):
                self._add_layer_op(i, op, op.mux)
            else:
                self._flush_layer()
                self._flush_perm()
                self.steps.append(("general", i))
                self._materialised = True
        self._flush_layer()
        self._flush_perm()
        self.layers = [s for kind, s in self.steps if kind == "layer"]

    def _add_layer_op(self, i: int, op: Op, reg: tuple[int, ...]) -> None:
        if self._layer and reg != self._layer_reg:
            self._flush_layer()
        if self._perm_support.intersection(op.wires + reg):
            self._flush_perm()  # the queued layer commutes with the queued permutation; this op does not
        self._layer_reg = reg
        self._layer.setdefault(op.wires[0], []).append(i)

    def _flush_layer(self) -> None:
        if not self._layer:
            return
        reg = len(self._layer_reg)
        count = sum(len(v) for v in self._layer.values())
        if not self._materialised and reg == 0:
            mode = "product"
        elif count <= 3:
            mode = "small"  # a few gates (typical of random or compiled circuits): no Kronecker products
        else:
            mode = "chunks"
        self.steps.append(("layer", _LayerStep(reg, self._layer, mode, self.n - reg)))
        self._materialised = True
        self._layer, self._layer_reg = {}, ()

    def _flush_perm(self) -> None:
        if self._perm is None:
            return
        step = _PermStep(self._perm, self._sign)
        self._perm, self._sign, self._perm_support = None, None, set()
        if step.identity and step.sign is None:
            return
        # from |0...0>, a run that maps |0...0> to itself with sign +1 (CX, CZ, SWAP, ...) changes nothing
        fixes_zero = step.perm[0] == 0 and (step.sign is None or step.sign[0] == 1)
        if self._materialised or not fixes_zero:
            self.steps.append(("perm", step))
            self._materialised = True


_PLANS: "OrderedDict[tuple, _CircuitPlan]" = OrderedDict()
_PLAN_CACHE_SIZE = 32
#: Plans keep their permutation tables (2**n entries each); only small registers are cached.
_PLAN_CACHE_MAX_QUBITS = 12


def _plan_for(n: int, ops: Sequence[Op], zero_start: bool) -> _CircuitPlan:
    key = (
        n,
        zero_start,
        MAX_CHUNK,
        tuple((op.name, op.wires, op.controls, op.control_values, op.mux, op.matrix is None) for op in ops),
    )
    plan = _PLANS.get(key)
    if plan is None:
        plan = _CircuitPlan(n, ops, zero_start)
        if n <= _PLAN_CACHE_MAX_QUBITS:  # larger registers: permutation tables are too big to keep around
            _PLANS[key] = plan
            if len(_PLANS) > _PLAN_CACHE_SIZE:
                _PLANS.popitem(last=False)
    else:
        _PLANS.move_to_end(key)
    return plan


def _bits(idx: np.ndarray, w: int) -> np.ndarray:
    return (idx >> w) & 1


def _local_index(idx: np.ndarray, wires: Sequence[int]) -> np.ndarray:
    """The index ``b(wires[0]) + 2 b(wires[1]) + ...`` of each basis state ``idx`` on ``wires``."""
    local = np.zeros_like(idx)
    for k, w in enumerate(wires):
        local |= _bits(idx, w) << k
    return local


def basis_image(op: Op, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(image, phase)`` with ``op|i> = phase[i] |image[i]>`` for every basis index in ``idx``,
    from the catalogue's :attr:`~qcstar.circuits.gates.GateSpec.monomial`; controls are respected.
    ``None`` when the op is not a constant monomial gate (or is a dense ``unitary``)."""
    spec = GATES.get(op.name)
    # a multiplexed constant gate is the same gate for every multiplexer value
    mono = spec.monomial if spec is not None and op.matrix is None else None
    if mono is None:
        return None
    local_image, local_phase = mono
    local = _local_index(idx, op.wires)
    mask = 0
    for w in op.wires:
        mask |= 1 << w
    image = idx & ~mask
    new_local = local_image[local]
    for k, w in enumerate(op.wires):
        image |= ((new_local >> k) & 1) << w
    phase = local_phase[local]
    if op.controls:
        on = np.ones(idx.shape, dtype=bool)
        for c, v in zip(op.controls, op.control_values):
            on &= _bits(idx, c) == v
        image = np.where(on, image, idx)
        phase = np.where(on, phase, 1)
    return image, phase


def _is_signed_permutation(op: Op) -> bool:
    spec = GATES.get(op.name)
    return spec is not None and not op.controls and not op.mux and spec.signed_permutation is not None


def _compose_permutation(
    perm: np.ndarray | None, sign: np.ndarray | None, op: Op, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Append signed-permutation gate ``op`` to ``out[i] = sign[i] * psi[perm[i]]`` (None: identity)."""
    image, phase = basis_image(op, idx)  # op|i> = phase[i] |image[i]>
    inv = inverse_permutation(image)  # new[image[i]] = phase[i] old[i]  =>  new[j] = phase[inv[j]] old[inv[j]]
    sgn = None if GATES[op.name].signed_permutation[1] is None else phase.real[inv]
    if perm is None:
        perm = inv
    else:
        perm = perm[inv]
        if sign is not None:
            sign = sign[inv]
    if sgn is not None:
        sign = sgn if sign is None else sign * sgn
    return perm, sign


def permutation(ops: Sequence[Op], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(perm, signs)`` with ``out[i] = signs[i] * psi[perm[i]]`` for a run of signed-permutation
    gates (CX, CCX, SWAP, CSWAP, DCX, CZ, CCZ, X, Z: every catalogue gate whose matrix is a
    permutation with signs) on ``n`` qubits, in order; ``signs`` is None when all +1.

    The simulator composes such runs itself; this is for code that applies the same fixed
    entangler many times (e.g. the C*-net's CX ladder) with :func:`apply_permutation`.
    """
    check_memory(state_bytes(n, itemsize=8), f"permutation tables of {n} qubits", factor=4)
    idx = np.arange(2**n, dtype=np.int64)
    perm: np.ndarray | None = None
    sign: np.ndarray | None = None
    for op in ops:
        if not _is_signed_permutation(op):
            raise GateError(
                f"permutation() takes uncontrolled signed-permutation gates only (cx, ccx, swap, cswap, dcx, "
                f"cz, ccz, x, z), got {op!r}"
            )
        perm, sign = _compose_permutation(perm, sign, op, idx)
    return (idx.copy() if perm is None else perm), sign
