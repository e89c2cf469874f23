"""Small linear-algebra mechanisms used across the package (one copy each)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["nearest_unitary", "unitarity_error", "inverse_permutation"]


def unitarity_error(u: torch.Tensor | np.ndarray) -> float:
    """``max |U^H U - I|`` over the last two axes (all batch entries): 0 for an exact unitary."""
    if isinstance(u, np.ndarray):
        u = torch.from_numpy(np.asarray(u))
    u = u.detach().to(torch.complex128)
    eye = torch.eye(u.shape[-1], dtype=u.dtype, device=u.device)
    return float((u.mH @ u - eye).abs().amax()) if u.numel() else 0.0


def nearest_unitary(u: torch.Tensor | np.ndarray, *, shift: float = 0.0) -> torch.Tensor | np.ndarray:
    """The unitary nearest to ``u`` in Frobenius norm: the polar factor ``W V^H`` of ``u = W S V^H``.

    Works on batches ``(..., d, d)``, for numpy arrays (returned as numpy) and torch tensors.
    ``shift`` adds ``shift * I`` before the factorisation: among the maximisers of
    ``Re Tr(U^H E)`` for a rank-deficient ``E`` it picks the one closest to the identity (AQCE's
    block update uses it). Callers decide how far from unitary an input may be (see
    :func:`unitarity_error`); this function only projects.
    """
    is_np = isinstance(u, np.ndarray)
    t = torch.from_numpy(np.asarray(u)) if is_np else u
    if shift:
        t = t + shift * torch.eye(t.shape[-1], dtype=t.dtype, device=t.device)
    w, _, vh = torch.linalg.svd(t)
    out = w @ vh
    return out.numpy() if is_np else out


def inverse_permutation(perm: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """``inv`` with ``inv[perm[i]] = i`` for a 1-D permutation (torch or numpy, same type back)."""
    if isinstance(perm, np.ndarray):
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size, dtype=perm.dtype)
        return inv
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), dtype=perm.dtype, device=perm.device)
    return inv
