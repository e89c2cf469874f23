"""qcstar.kernels.shots: kernels estimated from shots, their statistics, mitigation and costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import ConfigError
from qcstar.circuits.backends.base import Backend, Result, counts_from_outcomes
from qcstar.circuits.backends.torch import TorchBackend
from qcstar.encoders import AngleEncoder
from qcstar.kernels import FidelityKernel, ProjectedKernel, QuantumKernelSVC
from qcstar.kernels.shots import depolarizing_correction, readout_matrices

C128 = torch.complex128


def _data(n: int, seed: int = 0) -> torch.Tensor:
    """Inputs of a 3-qubit angle encoder (two layers) whose kernel values spread over (0, 1)."""
    return torch.rand(n, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


ENC = AngleEncoder(n_qubits=3, reps=2, rotation="ry", scale=2.0, max_value=1.0, sample_shape=(6,))


def _exact(x, y=None, kernel=FidelityKernel, **kw):
    return kernel(encoder=ENC, dtype=C128, **kw).evaluate(x, y)


def _within(estimate, exact, se, k=5.0):
    off = np.abs(estimate - exact)
    return bool(np.all(off <= k * se + 1e-12)), float((off / np.maximum(se, 1e-12)).max())


def test_compute_uncompute_within_five_standard_errors_symmetric_and_cross():
    x, y = _data(8), _data(5, seed=1)
    shots = 2000
    k = FidelityKernel(encoder=ENC, shots=shots, seed=3)
    exact = _exact(x)
    gram = k.evaluate(x)
    assert np.allclose(np.diag(gram), 1.0) and np.allclose(gram, gram.T)
    se = np.sqrt(exact * (1 - exact) / shots)  # the binomial error of the exact kernel
    ok, worst = _within(gram, exact, se)
    assert ok, worst
    assert k.last_run_.circuits == 8 * 7 // 2 and k.last_run_.executions == 28 * shots
    cross = k.evaluate(x, y)
    exact_xy = _exact(x, y)
    ok, worst = _within(cross, exact_xy, np.sqrt(exact_xy * (1 - exact_xy) / shots))
    assert ok, worst
    assert k.last_run_.circuits == 40
    assert np.allclose(k.last_run_.standard_error, np.sqrt(cross * (1 - cross) / shots))


def test_explicit_circuits_qiskit_and_pennylane_feature_maps():
    from qiskit.circuit.library import zz_feature_map

    # complex states: no parameter template, so every entry is its own composed circuit
    g = torch.Generator().manual_seed(4)
    states = torch.randn(5, 8, dtype=C128, generator=g)
    states = states / states.norm(dim=1, keepdim=True)
    exact = FidelityKernel(dtype=C128).evaluate(states)
    est = FidelityKernel(shots=4000, seed=1).evaluate(states)
    ok, worst = _within(est, exact, np.sqrt(exact * (1 - exact) / 4000))
    assert ok, worst
    qml = pytest.importorskip("pennylane")

    def pennylane_map(rows):
        qml.AngleEmbedding(rows, wires=range(3), rotation="Y")
        qml.CNOT([0, 1])

    x = _data(4)[:, :3] * 2
    exact = FidelityKernel(feature_map=pennylane_map, dtype=C128).evaluate(x)
    est = FidelityKernel(feature_map=pennylane_map, shots=4000, seed=3).evaluate(x)
    ok, worst = _within(est, exact, np.sqrt(exact * (1 - exact) / 4000))
    assert ok, worst
    fm = zz_feature_map(3, reps=1)
    x = _data(5)[:, :3]
    exact = FidelityKernel(feature_map=fm, dtype=C128).evaluate(x)
    est = FidelityKernel(feature_map=fm, shots=4000, seed=2).evaluate(x)
    ok, worst = _within(est, exact, np.sqrt(exact * (1 - exact) / 4000))
    assert ok, worst


def test_shadows_within_five_standard_errors_and_measured_purity():
    x, y = _data(4), _data(2, seed=1)
    k = FidelityKernel(encoder=ENC, shots=20, method="shadows", n_bases=100, seed=5, measure_diagonal=True)
    gram = k.evaluate(x)
    ok, worst = _within(gram, _exact(x), k.last_run_.standard_error)
    assert ok, worst
    assert k.last_run_.circuits == 4 * 100  # O(N) circuits
    # pure states: the unbiased purity estimates sit near 1
    assert abs(float(np.mean(np.diag(gram))) - 1.0) < 0.15
    cross = k.evaluate(x, y)
    ok, worst = _within(cross, _exact(x, y), k.last_run_.standard_error)
    assert ok, worst


def test_projected_within_five_standard_errors():
    x = _data(6)
    k = ProjectedKernel(encoder=ENC, gamma=0.5, shots=3000, seed=7)
    gram = k.evaluate(x)
    ok, worst = _within(gram, _exact(x, kernel=ProjectedKernel, gamma=0.5), k.last_run_.standard_error)
    assert ok, worst
    assert k.last_run_.circuits == 3 * 6


def _slope(shot_counts, errors):
    return float(np.polyfit(np.log(shot_counts), np.log(errors), 1)[0])


def test_errors_shrink_like_one_over_sqrt_shots():
    """Slope of log(RMS error) against log(shots) over 4 shot counts, 16x apart: -0.5 +- 0.15
    (averaged over 2 seeds; both estimators' errors are sums of many independent shots)."""
    x = _data(6)
    exact_f, exact_p = _exact(x), _exact(x, kernel=ProjectedKernel)
    iu = np.triu_indices(6, 1)
    shots = [100, 400, 1600, 6400]
    for make, exact in ((lambda s, seed: FidelityKernel(encoder=ENC, shots=s, seed=seed), exact_f),
                        (lambda s, seed: ProjectedKernel(encoder=ENC, shots=s, seed=seed), exact_p)):
        rms = [np.sqrt(np.mean([np.mean((make(s, seed).evaluate(x) - exact)[iu] ** 2) for seed in range(2)]))
               for s in shots]
        assert -0.65 < _slope(shots, rms) < -0.35, rms


@pytest.mark.slow
def test_shadow_errors_shrink_like_one_over_sqrt_measurements():
    """Shadows: the budget is bases x shots; one shot per basis, 4x more bases per step; slope -0.5 +- 0.2."""
    x = _data(6)
    exact_f = _exact(x)
    iu = np.triu_indices(6, 1)
    bases = [25, 100, 400]
    rms = [np.sqrt(np.mean([np.mean((FidelityKernel(encoder=ENC, shots=1, n_bases=r, method="shadows", seed=seed)
                                     .evaluate(x) - exact_f)[iu] ** 2) for seed in range(3)])) for r in bases]
    assert -0.7 < _slope(bases, rms) < -0.3, rms


class NoisyTorch(Backend):
    """A test device: exact probabilities, global depolarising noise that grows with the gate
    count (each op keeps the state with probability ``keep``), then per-qubit readout flips
    (``p(1|0)``, ``p(0|1)``), then multinomial shots."""

    name = "noisy-torch"

    def __init__(self, *, keep: float = 1.0, flip01: float = 0.0, flip10: float = 0.0):
        self.keep, self.flip01, self.flip10 = keep, flip01, flip10
        self.torch = TorchBackend()

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        rng = np.random.default_rng(seed)
        counts = []
        for c, psi in zip(circuits, self.torch.states(circuits)):
            n = c.n_qubits
            p = (psi.abs() ** 2).numpy()
            survive = self.keep ** len(c.ops)
            p = survive * p + (1 - survive) / 2**n
            confusion = np.array([[1 - self.flip01, self.flip10], [self.flip01, 1 - self.flip10]])
            p = p.reshape([2] * n)
            for q in range(n):  # axis n-1-q holds qubit q (index b0 + 2 b1 + ...)
                p = np.moveaxis(np.tensordot(confusion, p, axes=([1], [n - 1 - q])), 0, n - 1 - q)
            p = np.clip(p.reshape(-1), 0, None)
            outcomes = rng.choice(2**n, size=shots, p=p / p.sum())
            counts.append(counts_from_outcomes(outcomes, n))
        return Result(backend=self.name, n_qubits=[c.n_qubits for c in circuits], measured=measure, shots=shots,
                      counts=counts)


def _error(gram, exact):
    return float(np.linalg.norm(gram - exact))


def test_readout_calibration_recovers_the_flip_rates():
    mats = readout_matrices(NoisyTorch(flip01=0.05, flip10=0.1), 3, shots=200_000, seed=1)
    for m in mats:
        assert np.allclose(m, [[0.95, 0.1], [0.05, 0.9]], atol=0.005)


def test_each_mitigation_reduces_the_kernel_error_on_a_noisy_backend():
    pytest.importorskip("mthree")
    x = _data(6)
    exact = _exact(x)
    noisy = NoisyTorch(keep=0.985, flip01=0.03, flip10=0.06)

    def run(mitigation=(), psd=False):
        return FidelityKernel(encoder=ENC, backend=noisy, shots=4000, seed=11, mitigation=mitigation,
                              enforce_psd=psd).evaluate(x)

    raw = _error(run(), exact)
    readout = _error(run(("readout",)), exact)
    both = _error(run(("readout", "depolarizing")), exact)
    assert readout < 0.7 * raw, (raw, readout)
    assert both < 0.5 * readout, (readout, both)
    # depolarising alone (no readout noise): the measured diagonal undoes the global damping
    depol = NoisyTorch(keep=0.98)
    plain = FidelityKernel(encoder=ENC, backend=depol, shots=4000, seed=2).evaluate(x)
    fixed = FidelityKernel(encoder=ENC, backend=depol, shots=4000, seed=2, mitigation="depolarizing").evaluate(x)
    assert _error(fixed, exact) < 0.5 * _error(plain, exact)
    # PSD projection of a low-shot Gram: never farther from the (PSD) exact kernel, here strictly closer
    low = FidelityKernel(encoder=ENC, shots=30, seed=4).evaluate(x)
    projected = FidelityKernel(encoder=ENC, shots=30, seed=4, enforce_psd=True).evaluate(x)
    assert np.linalg.eigvalsh(projected).min() > -1e-9
    assert _error(projected, exact) < _error(low, exact)


def test_depolarizing_correction_equals_pennylane_split_channel():
    qml = pytest.importorskip("pennylane")
    g = np.random.default_rng(0)
    a = g.normal(size=(6, 4))
    k = (a @ a.T) ** 2
    k = k / np.sqrt(np.outer(np.diag(k), np.diag(k)))
    p = g.uniform(0.6, 0.9, 6)
    lam = np.sqrt(np.outer(p, p))
    noisy = lam * k + (1 - lam) / 8
    ours = depolarizing_correction(noisy, np.diag(noisy), np.diag(noisy), 3)
    theirs = qml.kernels.mitigate_depolarizing_noise(noisy, 3, "split_channel")
    assert np.allclose(ours, theirs, atol=1e-12) and np.allclose(ours, k, atol=1e-12)


def test_configuration_errors_and_the_exact_path():
    with pytest.raises(ConfigError, match="shots"):
        FidelityKernel(seed=3)
    with pytest.raises(ConfigError, match="shots"):
        FidelityKernel(method="shadows")
    with pytest.raises(ConfigError, match="exact"):
        FidelityKernel(backend="aer")
    with pytest.raises(ConfigError, match="ray"):
        FidelityKernel(backend="ray", shots=100)
    with pytest.raises(ConfigError, match="method"):
        FidelityKernel(shots=100, method="swap-test")
    with pytest.raises(ConfigError, match="mitigation"):
        FidelityKernel(shots=100, mitigation=("zne",))
    with pytest.raises(ConfigError, match="shots must be"):
        FidelityKernel(shots=0)
    with pytest.raises(ConfigError, match="fidelity"):
        ProjectedKernel(encoder=ENC, shots=100, mitigation="depolarizing").evaluate(_data(3))
    k = FidelityKernel(encoder=ENC, shots=100)
    with pytest.raises(ConfigError, match="precomputed"):
        QuantumKernelSVC(kernel=k).fit(_data(6).numpy(), np.array([0, 1] * 3))
    # the exact kernel keeps its meaning: backend 'torch' / 'ray', no shots
    assert FidelityKernel(backend="torch").shot_settings is None


def test_chunks_are_jobs():
    x = _data(7)
    k = FidelityKernel(encoder=ENC, shots=50, seed=0, chunk_size=5)
    k.evaluate(x)
    assert k.last_run_.circuits == 21 and k.last_run_.jobs == 5


@pytest.mark.slow
def test_mitigation_on_aer_with_a_fake_ibm_backend():
    """Aer with FakeManilaV2's noise (density matrix, then shots): readout mitigation (mthree on the
    transpiled physical qubits) and the depolarising correction each bring the Gram closer to exact."""
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("mthree")
    from qcstar.circuits.backends import get_backend

    backend = get_backend("aer:fake_manila_v2:density")
    x = _data(8)
    exact = _exact(x)

    def run(mitigation, tmp):
        return FidelityKernel(encoder=ENC, backend=backend, shots=4000, seed=1, mitigation=mitigation,
                              manifest=tmp / "run.json").evaluate(x)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:  # one manifest: the variants reuse the measured circuits
        raw = _error(run((), Path(folder)), exact)
        readout = _error(run(("readout",), Path(folder)), exact)
        both = _error(run(("readout", "depolarizing"), Path(folder)), exact)
    assert readout < raw and both < 0.6 * raw, (raw, readout, both)
