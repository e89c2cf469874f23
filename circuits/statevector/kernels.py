"""Kernels on a state ``(Bp, 2**n)``: block matmuls on views, signed gathers, and the fused
autograd node that runs a chain of both without conjugated copies of the state."""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ShapeError
from ..linalg import inverse_permutation

Tensor = torch.Tensor

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
        inverse = inverse_permutation(perm)
    out = _Gather.apply(psi.contiguous(), perm, inverse)
    if signs is not None:
        out = out * signs
    return out


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

