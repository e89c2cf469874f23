"""Our kernels against qiskit-machine-learning's own and against the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, ShapeError, simulate
from qcstar.kernels import FidelityKernel, ProjectedKernel, one_vs_one_accuracy


def _feature_states(x: np.ndarray) -> torch.Tensor:
    """A ZZ-style feature map in our IR: H, RZ(2x), CX-RZ-CX entanglers, twice."""
    b, n = x.shape
    t = torch.tensor(x, dtype=torch.float64)
    c = Circuit(n)
    for _ in range(2):
        for q in range(n):
            c.h(q).p(2 * t[:, q], q)
        for q in range(n - 1):
            c.cx(q, q + 1).p(2 * (np.pi - t[:, q]) * (np.pi - t[:, q + 1]), q + 1).cx(q, q + 1)
    return simulate(c, dtype=torch.complex128)


def test_fidelity_kernel_equals_qiskit_machine_learning():
    qml_kernels = pytest.importorskip("qiskit_machine_learning.kernels")
    from qiskit.circuit.library import zz_feature_map

    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, (7, 3))
    y = rng.uniform(0, np.pi, (4, 3))
    ref = qml_kernels.FidelityStatevectorKernel(feature_map=zz_feature_map(3, reps=2, entanglement="linear"))
    ours = FidelityKernel(dtype=torch.complex128)
    np.testing.assert_allclose(ours.evaluate(_feature_states(x)), ref.evaluate(x), atol=1e-10)
    np.testing.assert_allclose(ours.evaluate(_feature_states(x), _feature_states(y)), ref.evaluate(x, y), atol=1e-10)


def test_tiling_does_not_change_the_result():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(37, 16, dtype=torch.complex128, generator=g)
    s = s / s.norm(dim=1, keepdim=True)
    full = FidelityKernel(dtype=torch.complex128).evaluate(s)
    tiled = FidelityKernel(dtype=torch.complex128, tile=5).evaluate(s)
    np.testing.assert_allclose(full, tiled, atol=1e-14)
    assert np.allclose(full, full.T) and np.all(np.linalg.eigvalsh(full) > -1e-10)
    brute = np.abs(s.numpy().conj() @ s.numpy().T) ** 2
    np.testing.assert_allclose(full, brute, atol=1e-12)


def test_projected_kernel_features_and_symmetry():
    s = _feature_states(np.random.default_rng(1).uniform(0, np.pi, (5, 3)))
    k = ProjectedKernel(gamma=0.5, dtype=torch.complex128)
    f = k.features(s)
    assert f.shape == (5, 9) and float(f.abs().max()) <= 1 + 1e-12
    gram = k.evaluate(s)
    np.testing.assert_allclose(np.diag(gram), 1.0)
    np.testing.assert_allclose(gram, gram.T)


def test_svm_on_digits_amplitude_states_matches_the_classical_twin():
    """On exact amplitude states the fidelity kernel IS the classical cos^2 kernel (PAPERS.md B3.4)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float64)
    s = torch.tensor(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=torch.complex128)
    k = FidelityKernel(dtype=torch.complex128)
    tr, te = slice(0, 1200), slice(1200, None)
    acc_q = one_vs_one_accuracy(k.evaluate(s[tr]), d.target[tr], k.evaluate(s[te], s[tr]), d.target[te])
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos2 = lambda a, b: (a @ b.T) ** 2  # noqa: E731
    acc_c = one_vs_one_accuracy(cos2(xn[tr], xn[tr]), d.target[tr], cos2(xn[te], xn[tr]), d.target[te])
    assert acc_q == pytest.approx(acc_c, abs=1e-12)
    assert acc_q > 0.9


def test_bad_inputs():
    with pytest.raises(ShapeError, match="complex states"):
        FidelityKernel().evaluate(np.ones((3, 4)))
    with pytest.raises(ShapeError, match="non-empty"):
        FidelityKernel().evaluate(torch.zeros(0, 4, dtype=torch.complex64))
    with pytest.raises(ShapeError, match="different sizes"):
        FidelityKernel().evaluate(torch.ones(2, 4, dtype=torch.complex64), torch.ones(2, 8, dtype=torch.complex64))
    with pytest.raises(ShapeError, match="gamma"):
        ProjectedKernel(gamma=0)
