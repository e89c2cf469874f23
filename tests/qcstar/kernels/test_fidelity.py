"""The fidelity kernel against qiskit-machine-learning's own and against the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, DataError, ShapeError, simulate
from qcstar.kernels import FidelityKernel, fidelity_gram, one_vs_one_accuracy


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


def test_svm_on_digits_amplitude_states_matches_the_classical_twin():
    """On exact amplitude states the fidelity kernel IS the classical cos^2 kernel (MNISQ, arXiv:2306.16627)."""
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
    # raw data passed as states: the normalisation check names the fix
    with pytest.raises(DataError, match="not normalised.*encoder="):
        FidelityKernel().evaluate(np.ones((3, 4)))
    with pytest.raises(ShapeError, match="non-empty"):
        FidelityKernel().evaluate(torch.zeros(0, 4, dtype=torch.complex64))
    with pytest.raises(ShapeError, match="different sizes"):
        FidelityKernel().evaluate(torch.ones(2, 4, dtype=torch.complex64), torch.ones(2, 8, dtype=torch.complex64))


def test_real_states_take_the_real_gemm_and_agree_with_the_complex_one():
    x = np.random.default_rng(3).normal(size=(23, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    real = fidelity_gram(torch.tensor(x), tile=4)
    complex_ = fidelity_gram(torch.tensor(x, dtype=torch.complex128) * np.exp(0.3j), tile=7)  # a global phase
    np.testing.assert_allclose(real, (x @ x.T) ** 2, atol=1e-14)
    np.testing.assert_allclose(complex_, real, atol=1e-14)
    cross = fidelity_gram(torch.tensor(x[:5]), torch.tensor(x[5:], dtype=torch.complex128), tile=2, double=False)
    assert cross.dtype == np.float32
    np.testing.assert_allclose(cross, (x[:5] @ x[5:].T) ** 2, atol=1e-6)
    # real states straight into the kernel and the SVM (numpy or torch, float32 or float64), as the complex ones
    k = FidelityKernel()
    np.testing.assert_allclose(k.evaluate(x), (x @ x.T) ** 2, atol=1e-6)
    np.testing.assert_allclose(k.evaluate(torch.tensor(x, dtype=torch.float32)), (x @ x.T) ** 2, atol=1e-6)
    np.testing.assert_allclose(k.evaluate(x, x.astype(np.complex128)), (x @ x.T) ** 2, atol=1e-6)
    from qcstar.kernels import QuantumKernelSVC

    y = np.arange(23) % 2
    np.testing.assert_array_equal(QuantumKernelSVC().fit(x, y).decision_function(x),
                                  QuantumKernelSVC().fit(x.astype(np.complex128), y).decision_function(x))


def test_gram_memory_is_checked_before_allocating():
    from qcstar.circuits import ResourceError
    from qcstar.circuits.resources import memory_limit, set_memory_limit

    before = memory_limit()
    set_memory_limit(1 << 20)
    try:
        with pytest.raises(ResourceError, match="fidelity Gram"):
            fidelity_gram(torch.ones(600, 2, dtype=torch.float64) / np.sqrt(2))
    finally:
        set_memory_limit(before)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tiles_equal_the_cpu_gram():
    g = torch.Generator().manual_seed(5)
    s = torch.randn(300, 64, dtype=torch.complex128, generator=g)
    s = s / s.norm(dim=1, keepdim=True)
    cpu = FidelityKernel(dtype=torch.complex128, tile=64).evaluate(s)
    gpu = FidelityKernel(dtype=torch.complex128, tile=64, device="cuda").evaluate(s)
    np.testing.assert_allclose(gpu, cpu, atol=1e-12)


@pytest.mark.slow
def test_ray_tasks_give_the_same_gram():
    ray = pytest.importorskip("ray")
    g = torch.Generator().manual_seed(6)
    s = torch.randn(50, 16, dtype=torch.complex128, generator=g)
    s = s / s.norm(dim=1, keepdim=True)
    local = FidelityKernel(dtype=torch.complex128, tile=16)
    remote = FidelityKernel(dtype=torch.complex128, tile=16, backend="ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        np.testing.assert_allclose(remote.evaluate(s), local.evaluate(s), atol=1e-14)
        np.testing.assert_allclose(remote.evaluate(s[:7], s[7:]), local.evaluate(s[:7], s[7:]), atol=1e-14)
    finally:
        ray.shutdown()


def test_out_writes_into_a_view_of_a_larger_gram():
    x = np.random.default_rng(4).normal(size=(9, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    big = np.full((12, 12), -1.0)
    fidelity_gram(torch.tensor(x[:5]), out=big[:5, :5], tile=2)
    fidelity_gram(torch.tensor(x[:5]), torch.tensor(x[5:]), out=big[:5, 5:9])
    np.testing.assert_allclose(big[:5, :9], ((x[:5] @ x.T) ** 2), atol=1e-14)
    assert (big[5:] == -1).all() and (big[:, 9:] == -1).all()
    with pytest.raises(ShapeError, match=r"out must have shape \(5, 4\)"):
        fidelity_gram(torch.tensor(x[:5]), torch.tensor(x[5:]), out=big[:5, :5])
