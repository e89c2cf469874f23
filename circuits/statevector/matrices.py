"""Op matrices and Kronecker products: the dense blocks the kernels multiply states by."""

from __future__ import annotations

from typing import Sequence

import torch

from ..gates import GATES, broadcast_shape
from ..ir import Op, _finite

Tensor = torch.Tensor

def _param_tensor(p, dtype: torch.dtype, device) -> Tensor:
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    if isinstance(p, Tensor):
        if p.requires_grad:  # not checked when the op was built (see circuits.ir)
            _finite(p, "simulate", "a trainable parameter tensor")
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

