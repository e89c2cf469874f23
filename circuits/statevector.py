"""The one simulator: batched, differentiable statevector simulation in torch (CPU or CUDA).

State layout: a complex tensor ``(B, 2**n)`` (or ``(2**n,)``), basis index
``sum_q b_q 2**q`` (qubit 0 = least significant bit, Qiskit's order).

How it stays fast (think in memory passes over the state):

* consecutive single-qubit gates on a wire are fused into one 2x2 matrix per sample;
* a layer of single-qubit gates is applied by grouping the wires into contiguous chunks and
  multiplying the state by the Kronecker product of each chunk, one batched matmul per chunk
  on a *view* of the state (no ``movedim`` copies);
* from the default |0...0> start, the first layer builds the product state directly;
* permutation gates (CX, SWAP, CCX, CSWAP, X-free ladders) and constant diagonal signs (CZ,
  CCZ) are composed into one signed permutation and applied as a single gather, whose
  backward is the inverse gather;
* multiplexed single-qubit gates controlled by the top qubits (the C*-net's block-diagonal
  layers) use the same chunked kernel with one matrix per value of the index register;
* these decisions depend on the ops' structure only, so they are made once per structure
  (:class:`_Plan`, cached); executing a plan builds every layer's matrices in one vectorised
  call per gate name, and a run of chunk matmuls and gathers is one autograd node
  (:class:`_FusedChain`) whose backward makes no conjugated copies of the state;
* :func:`expval` simulates only the observable's light cone (:func:`light_cone`).

Everything else (dense 2-qubit blocks, controlled and general multiplexed ops) goes through
one general path that expands the op to a dense matrix on its wires and contracts it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Mapping, Sequence

import numpy as np
import torch

from .errors import ShapeError, GateError
from .gates import GATES, broadcast_shape
from .ir import Circuit, Op

Tensor = torch.Tensor

#: Largest chunk of qubits multiplied as one Kronecker product when applying a layer.
MAX_CHUNK = 4


# --------------------------------------------------------------------------------------
# op matrices
# --------------------------------------------------------------------------------------

def _param_tensor(p, dtype: torch.dtype, device) -> Tensor:
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    if isinstance(p, Tensor):
        return p.to(device=device, dtype=real)
    return torch.tensor(p, dtype=real, device=device)


def op_base_matrix(op: Op, dtype: torch.dtype = torch.complex128, device=None) -> Tensor:
    """The matrix of ``op`` on its target wires, without controls.

    Shape ``(Bm, 2**k, 2**k)`` for a plain op and ``(Bm, 2**m, 2**k, 2**k)`` for one
    multiplexed over ``m`` wires, where ``Bm`` is the op's batch size or 1.
    """
    if op.matrix is not None:
        m = op.matrix.to(device=device, dtype=dtype)
    else:
        params = [_param_tensor(p, dtype, device) for p in op.params]
        m = GATES[op.name].matrix_fn(params, dtype)
        if m.device != (torch.device(device) if device is not None else m.device):
            m = m.to(device)
        if op.mux and not params:
            m = m.expand(2 ** len(op.mux), *m.shape[-2:])
        elif op.mux and m.dim() == 2:
            m = m.expand(2 ** len(op.mux), *m.shape)
    base = 3 if op.mux else 2
    if m.dim() == base:
        m = m.unsqueeze(0)
    return m


def op_full_matrix(op: Op, dtype: torch.dtype = torch.complex128, device=None) -> Tensor:
    """The dense matrix ``(Bm, 2**w, 2**w)`` of ``op`` on ``op.all_wires`` (targets, controls, mux).

    Index order: ``b(all_wires[0]) + 2 b(all_wires[1]) + ...``. Used by the general path and by
    tests; the fast paths never build it.
    """
    base = op_base_matrix(op, dtype, device)
    if not op.controls and not op.mux:
        return base
    d = base.shape[-1]
    n_ctrl, n_mux = len(op.controls), len(op.mux)
    if not op.mux:
        base = base.unsqueeze(1)  # (Bm, 1, d, d)
    bm = base.shape[0]
    cidx = sum(v << i for i, v in enumerate(op.control_values))
    eye = torch.eye(d, dtype=dtype, device=base.device).expand(bm, d, d)
    blocks = []
    for j in range(2**n_mux):
        for c in range(2**n_ctrl):
            blocks.append(base[:, j] if c == cidx else eye)
    size = d * len(blocks)
    out = torch.zeros(bm, size, size, dtype=dtype, device=base.device)
    for i, blk in enumerate(blocks):
        out[:, i * d:(i + 1) * d, i * d:(i + 1) * d] = blk
    return out


# --------------------------------------------------------------------------------------
# kernels on a state (Bp, 2**n)
# --------------------------------------------------------------------------------------

class _Gather(torch.autograd.Function):
    """psi[:, perm] with the inverse gather as backward (a permutation's adjoint).

    Complex64 amplitudes are gathered as float64 words and complex128 as pairs of them, so
    that one gather moves one amplitude (the fastest variant measured here).
    """

    @staticmethod
    def _take(psi: Tensor, index: Tensor) -> Tensor:
        psi = psi.contiguous()
        if psi.dtype == torch.complex64:
            words = psi.view(torch.float64)
            # torch.gather, not take_along_dim: the latter wraps indices with an extra full pass
            return torch.gather(words, 1, index.expand(psi.shape[0], -1)).view(torch.complex64)
        return torch.view_as_complex(torch.view_as_real(psi).index_select(-2, index))

    @staticmethod
    def forward(ctx, psi: Tensor, perm: Tensor, inverse: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(inverse)
        return _Gather._take(psi, perm)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (inverse,) = ctx.saved_tensors
        return _Gather._take(grad, inverse), None, None


def apply_permutation(psi: Tensor, perm: Tensor, inverse: Tensor | None = None, signs: Tensor | None = None) -> Tensor:
    """``out[..., i] = signs[i] * psi[..., perm[i]]`` as one gather (plus one multiply)."""
    if inverse is None:
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=perm.device)
    out = _Gather.apply(psi.contiguous(), perm, inverse)
    if signs is not None:
        out = out * signs
    return out


def _kron2(a: Tensor, b: Tensor) -> Tensor:
    """Batched Kronecker product a (x) b of (..., p, p) and (..., q, q) via a matmul outer product.

    A matmul (not a broadcast multiply) so that the backward is a matmul too.
    """
    p, q = a.shape[-1], b.shape[-1]
    batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
    a = a.expand(*batch, p, p)
    b = b.expand(*batch, q, q)
    outer = a.reshape(*batch, p * p, 1) @ b.reshape(*batch, 1, q * q)
    return outer.reshape(*batch, p, p, q, q).transpose(-3, -2).reshape(*batch, p * q, p * q)


def kron_chain(mats: Sequence[Tensor]) -> Tensor:
    """Kronecker product of a list of (..., 2, 2) matrices, the FIRST being the most significant."""
    if len(mats) == 1:
        return mats[0]
    h = len(mats) // 2
    return _kron2(kron_chain(mats[:h]), kron_chain(mats[h:]))


def _kron_vectors(vecs: Sequence[Tensor]) -> Tensor:
    """Kronecker product of vectors (..., d_i), the FIRST most significant.

    A balanced tree of matmul outer products: the large products happen once, at the top.
    """
    if len(vecs) == 1:
        return vecs[0]
    h = len(vecs) // 2
    a, b = _kron_vectors(vecs[:h]), _kron_vectors(vecs[h:])
    batch = broadcast_shape(a.shape[:-1], b.shape[:-1])
    o = a.expand(*batch, a.shape[-1]).unsqueeze(-1) @ b.expand(*batch, b.shape[-1]).unsqueeze(-2)
    return o.reshape(*batch, -1)


def apply_block(psi: Tensor, mat: Tensor, low: int, k: int, n: int, reg: int = 0) -> Tensor:
    """Apply ``mat`` on the contiguous wires ``[low, low + k)`` of an n-qubit state.

    ``psi``: (Bp, 2**reg * 2**n) with an optional top "register" of ``reg`` qubits whose value
    selects the matrix: ``mat`` is (Bm, 2**reg, 2**k, 2**k) then, else (Bm, 2**k, 2**k).
    The block at the bottom or the top of the state is one batched matmul on a view of the
    state; a block in the middle is moved to the front once so that it is one matmul too.
    """
    bp = psi.shape[0]
    r = 2**reg
    high = 2 ** (n - low - k)
    lowd = 2**low
    dk = 2**k
    if reg == 0 and mat.dim() == 3:
        mat = mat.unsqueeze(1)  # (Bm, 1, dk, dk)
    if low == 0:
        s = psi.view(bp, r, high, dk)  # rows: higher qubits; columns: the block
        out = s @ mat.transpose(-1, -2)
    elif high == 1:
        s = psi.view(bp, r, dk, lowd)  # the block is the most significant part
        out = mat @ s
    elif dk <= lowd:
        # broadcasting the (small) matrix over the higher qubits copies at most a state's worth
        s = psi.view(bp, r, high, dk, lowd)
        out = mat.unsqueeze(2) @ s
    else:
        s = psi.view(bp, r, high, dk, lowd).transpose(2, 3).reshape(bp, r, dk, high * lowd)
        out = (mat @ s).view(bp, r, dk, high, lowd).transpose(2, 3)
    return out.reshape(bp, -1)


def _block_backward(gc: Tensor, s: Tensor, mat: Tensor, low: int, k: int, n: int, want_mat: bool):
    """Backward of ``apply_block(s, mat, low, k, n)`` in conjugate form.

    ``gc`` is the conjugate of the output's gradient; returns the conjugate of the input's
    gradient (``mat^T gc``) and the matrix gradient ``conj(sum gc s^T)``. Both are matmuls on
    transposed views: no conjugated copy of a state is made.
    """
    b, dk = s.shape[0], 2**k
    high, lowd = 2 ** (n - low - k), 2**low
    gm = None
    if low == 0:
        g3 = gc.view(b, high, dk)
        if want_mat:
            gm = g3.mT @ s.view(b, high, dk)
        gin = g3 @ mat
    elif high == 1:
        g3 = gc.view(b, dk, lowd)
        if want_mat:
            gm = g3 @ s.view(b, dk, lowd).mT
        gin = mat.mT @ g3
    else:
        g4 = gc.view(b, high, dk, lowd)
        if want_mat:
            gm = (g4 @ s.view(b, high, dk, lowd).mT).sum(1)
        gin = mat.mT.unsqueeze(1) @ g4
    if gm is not None:
        gm = gm.conj()
        if mat.shape[0] == 1 and b > 1:
            gm = gm.sum(0, keepdim=True)
    return gin.view(b, -1), gm


class _FusedChain(torch.autograd.Function):
    """A run of block matmuls and signed gathers on a (B, 2**n) state as ONE autograd node.

    The backward carries the *conjugate* of the state's gradient: every step then is a matmul
    with a transposed (not conjugated) matrix or view, so no conjugated copy of a state is ever
    made (torch's own complex matmul backward makes one per matmul), and a whole run costs one
    node instead of dozens.

    ``program`` items: ``("block", low, k, i)`` applies ``mats[i]`` (Bm, 2**k, 2**k) on wires
    [low, low + k); ``("perm", perm, inverse, sign)`` is ``out[j] = sign[j] psi[perm[j]]``
    (``perm`` None: signs only; ``sign`` None: no signs).
    """

    @staticmethod
    def forward(ctx, program: list, n: int, psi: Tensor, *mats: Tensor) -> Tensor:  # type: ignore[override]
        s = psi.contiguous()
        saved = []
        for step in program:
            if step[0] == "block":
                _, low, k, i = step
                saved.append(s)
                s = apply_block(s, mats[i], low, k, n)
            else:
                _, perm, _, sign = step
                if perm is not None:
                    s = _Gather._take(s, perm)
                if sign is not None:
                    s = s * sign
        ctx.program, ctx.n, ctx.n_saved = program, n, len(saved)
        ctx.save_for_backward(*saved, *mats)
        return s

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        tensors = ctx.saved_tensors
        saved, mats = tensors[: ctx.n_saved], tensors[ctx.n_saved:]
        gc = torch.conj_physical(grad).contiguous()
        mat_grads: list[Tensor | None] = [None] * len(mats)
        j = ctx.n_saved
        for step in reversed(ctx.program):
            if step[0] == "block":
                _, low, k, i = step
                j -= 1
                gc, gm = _block_backward(gc, saved[j], mats[i], low, k, ctx.n, ctx.needs_input_grad[3 + i])
                if gm is not None:
                    mat_grads[i] = gm if mat_grads[i] is None else mat_grads[i] + gm
            else:
                _, _, inverse, sign = step
                if sign is not None:
                    gc = gc * sign
                if inverse is not None:
                    gc = _Gather._take(gc, inverse)
        grad_psi = torch.conj_physical(gc) if ctx.needs_input_grad[2] else None
        return (None, None, grad_psi, *mat_grads)


def apply_matrix(psi: Tensor, mat: Tensor, wires: Sequence[int], n: int) -> Tensor:
    """Apply a dense (Bm, 2**w, 2**w) matrix on arbitrary ``wires`` (index b(wires[0]) + 2 b(wires[1]) ...)."""
    w = len(wires)
    srt = sorted(wires)
    if list(wires) == srt and srt == list(range(srt[0], srt[0] + w)):
        return apply_block(psi, mat, srt[0], w, n)
    bp = psi.shape[0]
    letters = "abcdefghijklmnopqrstuvwxyz"
    if n + w > 24:
        raise ShapeError(f"general gate application supports at most 24 qubits + wires, got n={n}, w={w}")
    state_axes = [letters[n - 1 - a] for a in range(n)]  # axis i holds qubit n-1-i
    state_sub = "Z" + "".join(state_axes)
    out_letters = {q: letters[n + i] for i, q in enumerate(wires)}
    mat_out = "".join(out_letters[q] for q in reversed(wires))
    mat_in = "".join(letters[q] for q in reversed(wires))
    res_sub = "Z" + "".join(out_letters.get(n - 1 - a, letters[n - 1 - a]) for a in range(n))
    m = mat.reshape(mat.shape[0], *([2] * (2 * w)))
    eq = f"Y{mat_out}{mat_in},{state_sub}->{res_sub}"
    if mat.shape[0] == 1:
        eq = f"{mat_out}{mat_in},{state_sub}->{res_sub}"
        m = m[0]
        return torch.einsum(eq, m, psi.reshape(bp, *([2] * n))).reshape(bp, -1)
    eq = eq.replace("Y", "Z", 1)
    return torch.einsum(eq, m, psi.reshape(bp, *([2] * n))).reshape(bp, -1)


# --------------------------------------------------------------------------------------
# the compiler/executor
# --------------------------------------------------------------------------------------

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
            inv = torch.empty_like(p)
            inv[p] = torch.arange(p.numel(), device=p.device)
            s = None if self.sign is None else torch.from_numpy(self.sign).to(device=device, dtype=real)
            self._tensors[key] = (p, inv, s)
        return self._tensors[key]


class _Plan:
    """What to do with a circuit's ops, decided from their structure alone (cached)."""

    def __init__(self, n: int, ops: Sequence[Op], zero_start: bool):
        self.n = n
        self.steps: list[tuple[str, object]] = []
        idx = np.arange(2**n, dtype=np.int64)
        self._materialised = not zero_start
        self._layer: dict[int, list[int]] = {}
        self._layer_reg: tuple[int, ...] = ()
        self._perm: np.ndarray | None = None
        self._sign: np.ndarray | None = None
        self._perm_support: set[int] = set()
        for i, op in enumerate(ops):
            spec = GATES.get(op.name)
            plain = not op.controls and not op.mux
            if plain and spec is not None and ((spec.kind == "perm" and spec.num_wires > 1) or op.name in ("cz", "ccz")):
                if self._layer and (set(op.all_wires) & (set(self._layer) | set(self._layer_reg))):
                    self._flush_layer()
                self._perm, self._sign = _compose_permutation(self._perm, self._sign, op, idx)
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
        # from |0...0> every queued permutation gate fixes the state with sign +1
        if self._materialised and not (step.identity and step.sign is None):
            self.steps.append(("perm", step))


_PLANS: "OrderedDict[tuple, _Plan]" = OrderedDict()
_PLAN_CACHE_SIZE = 32
#: Plans keep their permutation tables (2**n entries each); only small registers are cached.
_PLAN_CACHE_MAX_QUBITS = 12


def _plan_for(n: int, ops: Sequence[Op], zero_start: bool) -> _Plan:
    key = (
        n,
        zero_start,
        MAX_CHUNK,
        tuple((op.name, op.wires, op.controls, op.control_values, op.mux, op.matrix is None) for op in ops),
    )
    plan = _PLANS.get(key)
    if plan is None:
        plan = _Plan(n, ops, zero_start)
        if n <= _PLAN_CACHE_MAX_QUBITS:  # larger registers: permutation tables are too big to keep around
            _PLANS[key] = plan
            if len(_PLANS) > _PLAN_CACHE_SIZE:
                _PLANS.popitem(last=False)
    else:
        _PLANS.move_to_end(key)
    return plan


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
    def run(self, plan: _Plan, ops: Sequence[Op]) -> Tensor:
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


def _compose_permutation(
    perm: np.ndarray | None, sign: np.ndarray | None, op: Op, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Append permutation gate ``op`` to ``out[i] = sign[i] * psi[perm[i]]`` (None: identity)."""
    img = _perm_image(op, idx)  # basis i -> image
    inv = np.empty_like(img)  # new[img[i]] = old[i]  =>  new[j] = old[inv[j]]
    inv[img] = idx
    sgn = _diag_sign(op, idx)
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
    """``(perm, signs)`` with ``out[i] = signs[i] * psi[perm[i]]`` for a run of permutation gates
    (CX, CCX, SWAP, CSWAP, DCX, CZ, CCZ) on ``n`` qubits, in order; ``signs`` is None when all +1.

    The simulator composes such runs itself; this is for code that applies the same fixed
    entangler many times (e.g. the C*-net's CX ladder) with :func:`apply_permutation`.
    """
    idx = np.arange(2**n, dtype=np.int64)
    perm: np.ndarray | None = None
    sign: np.ndarray | None = None
    for op in ops:
        if op.name not in ("cx", "ccx", "swap", "cswap", "dcx", "cz", "ccz") or op.controls or op.mux:
            raise GateError(f"permutation() takes permutation gates only, got {op!r}")
        perm, sign = _compose_permutation(perm, sign, op, idx)
    return (idx.copy() if perm is None else perm), sign


def _bits(idx: np.ndarray, w: int) -> np.ndarray:
    return (idx >> w) & 1


def _perm_image(op: Op, idx: np.ndarray) -> np.ndarray:
    w = op.wires
    if op.name == "cx":
        return np.where(_bits(idx, w[0]) == 1, idx ^ (1 << w[1]), idx)
    if op.name == "ccx":
        return np.where((_bits(idx, w[0]) & _bits(idx, w[1])) == 1, idx ^ (1 << w[2]), idx)
    if op.name == "swap":
        differ = _bits(idx, w[0]) != _bits(idx, w[1])
        return np.where(differ, idx ^ ((1 << w[0]) | (1 << w[1])), idx)
    if op.name == "cswap":
        differ = (_bits(idx, w[1]) != _bits(idx, w[2])) & (_bits(idx, w[0]) == 1)
        return np.where(differ, idx ^ ((1 << w[1]) | (1 << w[2])), idx)
    if op.name == "dcx":
        out = np.where(_bits(idx, w[0]) == 1, idx ^ (1 << w[1]), idx)
        return np.where(_bits(out, w[1]) == 1, out ^ (1 << w[0]), out)
    if op.name in ("cz", "ccz"):
        return idx
    raise GateError(f"internal: '{op.name}' is not a permutation gate")


def _diag_sign(op: Op, idx: np.ndarray) -> np.ndarray | None:
    w = op.wires
    if op.name == "cz":
        return np.where((_bits(idx, w[0]) & _bits(idx, w[1])) == 1, -1.0, 1.0)
    if op.name == "ccz":
        return np.where((_bits(idx, w[0]) & _bits(idx, w[1]) & _bits(idx, w[2])) == 1, -1.0, 1.0)
    return None


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------

def _check_dtype(dtype: torch.dtype) -> None:
    if dtype not in (torch.complex64, torch.complex128):
        raise ShapeError(f"simulate needs dtype torch.complex64 or torch.complex128, got {dtype}")


def simulate(
    circuit: Circuit,
    state: Tensor | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Simulate ``circuit`` from ``state`` (default |0...0>).

    Returns ``(2**n,)``, or ``(B, 2**n)`` when any parameter, matrix or the initial state has a
    batch axis. Differentiable through every parameter, matrix and the initial state.
    """
    if not isinstance(circuit, Circuit):
        raise ShapeError(f"simulate expects a circuits.Circuit, got {type(circuit).__name__}")
    _check_dtype(dtype)
    n = circuit.n_qubits
    dim = 2**n
    batch = circuit.batch_size
    if state is not None:
        if not isinstance(state, Tensor):
            state = torch.as_tensor(np.asarray(state))
        if state.shape[-1] != dim or state.dim() not in (1, 2):
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
    eye = torch.eye(2**circuit.n_qubits, dtype=dtype, device=device)
    return simulate(circuit, eye, dtype=dtype, device=device).T


def probabilities(state: Tensor, wires: Sequence[int] | None = None) -> Tensor:
    """Born probabilities ``(..., 2**k)`` of ``state`` marginalised onto ``wires``.

    ``wires=None`` keeps every qubit; otherwise the output index is
    ``b(wires[0]) + 2 b(wires[1]) + ...``.
    """
    _check_state(state)
    p = torch.view_as_real(state).square().sum(-1)
    if wires is None:
        return p
    n = int(round(math.log2(state.shape[-1])))
    wires = list(wires)
    if any(not 0 <= w < n for w in wires) or len(set(wires)) != len(wires):
        raise ShapeError(f"wires must be distinct qubits in 0..{n - 1}, got {wires}")
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


_PAULI_1Q = {
    "I": torch.tensor([[1, 0], [0, 1]], dtype=torch.complex128),
    "X": torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128),
    "Y": torch.tensor([[0, -1j], [1j, 0]], dtype=torch.complex128),
    "Z": torch.tensor([[1, 0], [0, -1]], dtype=torch.complex128),
}


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
        if c not in "IXYZ" or not 0 <= int(q) < n:
            raise ShapeError(f"Pauli term {{{q}: '{c}'}} is not a qubit in 0..{n - 1} with one of I, X, Y, Z")
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


# --------------------------------------------------------------------------------------
# expectation values of a circuit: light-cone pruning
# --------------------------------------------------------------------------------------

#: Gates that map every basis state to one basis state times a phase (a "monomial" matrix).
#: Conjugating a diagonal observable by one permutes its diagonal and drops the phases.
_MONOMIAL_EXTRA = frozenset({"y", "cy"})
#: Largest register for which a diagonal observable is kept as a dense vector while pruning.
_MAX_DIAGONAL_QUBITS = 20


def _is_monomial(op: Op) -> bool:
    if op.matrix is not None:
        return False
    spec = GATES[op.name]
    return spec.kind in ("perm", "diag") or op.name in _MONOMIAL_EXTRA


def _monomial_image(op: Op, idx: np.ndarray) -> np.ndarray:
    """Basis index i -> the index op maps |i> to (phases dropped); controls respected."""
    spec = GATES[op.name]
    w = op.wires
    if spec.kind == "diag":
        return idx
    if op.name in ("x", "y"):
        img = idx ^ (1 << w[0])
    elif op.name == "cy":
        img = np.where(_bits(idx, w[0]) == 1, idx ^ (1 << w[1]), idx)
    else:
        img = _perm_image(op, idx)
    if op.controls:
        on = np.ones(idx.shape, dtype=bool)
        for c, v in zip(op.controls, op.control_values):
            on &= _bits(idx, c) == v
        img = np.where(on, img, idx)
    return img


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


def sample(
    state: Tensor,
    shots: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    wires: Sequence[int] | None = None,
) -> Tensor:
    """Draw ``shots`` measurement outcomes (basis indices) per state: ``(..., shots)`` int64.

    Reproducible: pass ``seed`` or a ``torch.Generator``. ``wires`` marginalises first.
    """
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ShapeError(f"shots must be a positive int, got {shots!r}")
    if generator is None:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(0 if seed is None else int(seed))
    p = probabilities(state.detach(), wires).to(torch.float64).cpu()
    batch = p.shape[:-1]
    flat = p.reshape(-1, p.shape[-1])
    flat = flat / flat.sum(-1, keepdim=True)
    out = torch.multinomial(flat, shots, replacement=True, generator=generator)
    return out.reshape(*batch, shots)


def counts(outcomes: Tensor, n_bits: int) -> dict[str, int]:
    """Qiskit-style counts ``{'0101': k}`` (leftmost bit = highest qubit) of 1-D outcomes."""
    if outcomes.dim() != 1:
        raise ShapeError(f"counts expects a 1-D tensor of outcomes, got shape {tuple(outcomes.shape)}")
    vals, freq = torch.unique(outcomes, return_counts=True)
    return {format(int(v), f"0{n_bits}b"): int(f) for v, f in zip(vals, freq)}
