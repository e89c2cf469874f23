"""circuits.linalg: the polar factor, the unitarity error and the inverse permutation."""

from __future__ import annotations

import numpy as np
import torch

from qcstar.circuits.linalg import inverse_permutation, nearest_unitary, unitarity_error


def _haar(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def test_nearest_unitary_fixes_a_unitary_and_projects_a_perturbed_one():
    u = _haar(4, 0)
    assert np.allclose(nearest_unitary(u), u, atol=1e-12)
    noisy = u + 1e-3 * np.random.default_rng(1).normal(size=(4, 4))
    v = nearest_unitary(noisy)
    assert isinstance(v, np.ndarray) and unitarity_error(v) < 1e-12
    # the polar factor is the closest unitary: closer to the input than the original u
    assert np.linalg.norm(v - noisy) <= np.linalg.norm(u - noisy) + 1e-12


def test_nearest_unitary_is_batched_for_torch():
    batch = torch.from_numpy(np.stack([_haar(2, s) for s in range(5)])) * 1.01
    v = nearest_unitary(batch)
    assert isinstance(v, torch.Tensor) and v.shape == (5, 2, 2)
    assert unitarity_error(v) < 1e-12
    assert unitarity_error(batch) > 1e-3


def test_shift_picks_the_identity_among_ties():
    # a rank-deficient input: every unitary with U e0 = e0 maximises Re Tr(U^H E); the shift picks I
    e = np.zeros((2, 2), dtype=np.complex128)
    e[0, 0] = 1.0
    assert np.allclose(nearest_unitary(e, shift=1e-6), np.eye(2), atol=1e-9)


def test_inverse_permutation_for_numpy_and_torch():
    p = np.random.default_rng(0).permutation(50)
    inv = inverse_permutation(p)
    assert (p[inv] == np.arange(50)).all() and (inv[p] == np.arange(50)).all()
    t = torch.randperm(33, generator=torch.Generator().manual_seed(0))
    ti = inverse_permutation(t)
    assert isinstance(ti, torch.Tensor) and torch.equal(t[ti], torch.arange(33))
