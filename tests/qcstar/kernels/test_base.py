"""BaseKernel: normalisation check, PSD projection, feature maps bound to a whole batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import ConfigError, DataError, ShapeError
from qcstar.kernels import FidelityKernel, ProjectedKernel, enforce_psd


def _states(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, dim, dtype=torch.complex128, generator=g)
    return s / s.norm(dim=1, keepdim=True)


def test_unnormalised_states_are_rejected_with_the_index():
    s = _states(4, 8)
    s[2] *= 1.1
    with pytest.raises(DataError, match=r"1 of 4 input states are not normalised \(state 2 has squared norm 1.21"):
        FidelityKernel().evaluate(s)
    s[2] = float("nan")
    with pytest.raises(DataError, match="state 2 contains NaN or infinite amplitudes"):
        ProjectedKernel().evaluate(s)
    with pytest.raises(ShapeError, match="2\\*\\*n amplitudes"):
        FidelityKernel().evaluate(_states(3, 6))


def test_enforce_psd_clips_negative_eigenvalues_only():
    rng = np.random.default_rng(0)
    v = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    w = np.array([3.0, 1.0, 0.5, 0.1, -0.2, -0.05])
    noisy = (v * w) @ v.T
    fixed = enforce_psd(noisy)
    np.testing.assert_allclose(fixed, (v * np.clip(w, 0, None)) @ v.T, atol=1e-12)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12
    psd = (v * np.abs(w)) @ v.T
    assert enforce_psd(psd) is psd  # already PSD: returned unchanged
    with pytest.raises(ShapeError, match="square"):
        enforce_psd(np.ones((2, 3)))


def test_kernel_enforce_psd_flag_on_a_low_precision_gram():
    s = _states(40, 4, seed=3)  # 40 states in 4 dimensions: a rank-<=16 Gram with many ~0 eigenvalues
    raw = FidelityKernel(dtype=torch.complex64).evaluate(s.to(torch.complex64))
    fixed = FidelityKernel(dtype=torch.complex64, enforce_psd=True).evaluate(s.to(torch.complex64))
    assert np.linalg.eigvalsh(fixed.astype(np.float64)).min() >= -1e-6
    np.testing.assert_allclose(fixed, raw, atol=1e-5)


def test_qiskit_feature_map_kernel_equals_qiskit_machine_learning():
    qml_kernels = pytest.importorskip("qiskit_machine_learning.kernels")
    from qiskit.circuit.library import zz_feature_map

    fm = zz_feature_map(3, reps=2)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, np.pi, (6, 3)), rng.uniform(0, np.pi, (4, 3))
    ref = qml_kernels.FidelityStatevectorKernel(feature_map=fm)
    ours = FidelityKernel(feature_map=fm, dtype=torch.complex128)
    np.testing.assert_allclose(ours.evaluate(x), ref.evaluate(x), atol=1e-12)
    np.testing.assert_allclose(ours.evaluate(x, y), ref.evaluate(x, y), atol=1e-12)
    with pytest.raises(ShapeError, match=r"has 3 parameters .*got \(6, 2\)"):
        ours.evaluate(x[:, :2])


def test_encoder_template_and_pennylane_feature_maps_equal_the_encoder_states():
    from qcstar.circuits.template import templatize
    from qcstar.encoders import AngleEncoder

    enc = AngleEncoder(n_qubits=4, size=2)
    images = torch.rand(5, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = FidelityKernel(encoder=enc, dtype=torch.complex128).evaluate(images)
    params = enc.parameters(images)
    by_encoder = FidelityKernel(feature_map=enc, dtype=torch.complex128).evaluate(params)
    np.testing.assert_allclose(by_encoder, expected, atol=1e-12)
    by_template = FidelityKernel(feature_map=enc.template_circuit(), dtype=torch.complex128).evaluate(params)
    np.testing.assert_allclose(by_template, expected, atol=1e-12)
    with pytest.raises(ConfigError, match="must be a template"):
        FidelityKernel(feature_map=enc.circuits(images[:1])[0])
    assert templatize(enc.circuits(images[:1])[0])[0].metadata["template"]

    qml = pytest.importorskip("pennylane")

    def angle_map(x):  # parameter broadcasting: x is the whole (N, P) batch
        qml.AngleEmbedding(x, wires=range(3), rotation="Y")
        qml.CNOT(wires=[0, 1])

    x = np.random.default_rng(2).uniform(0, np.pi, (5, 3))
    k = FidelityKernel(feature_map=angle_map, dtype=torch.complex128).evaluate(x)
    c, s = np.cos(x / 2), np.sin(x / 2)
    # RY product state, then CNOT (a permutation of the basis): overlaps are products of per-qubit overlaps
    per_qubit = np.prod(c[:, None, :] * c[None, :, :] + s[:, None, :] * s[None, :, :], axis=2)
    np.testing.assert_allclose(k, per_qubit**2, atol=1e-12)


def test_configuration_errors():
    with pytest.raises(ConfigError, match="tile"):
        FidelityKernel(tile=0)
    with pytest.raises(ConfigError, match="dtype"):
        FidelityKernel(dtype=torch.float32)
    with pytest.raises(ConfigError, match="not both"):
        FidelityKernel(encoder=object(), feature_map=object())
    with pytest.raises(ConfigError, match="states\\(x\\)"):
        FidelityKernel(encoder=object())
    with pytest.raises(ConfigError, match="feature_map must be"):
        FidelityKernel(feature_map=42)
    with pytest.raises(ConfigError, match="backend"):
        FidelityKernel(backend="spark")
    with pytest.raises(ConfigError, match="norm_tol"):
        FidelityKernel(norm_tol=0)


def test_kernel_parameters_follow_the_scikit_learn_convention():
    """get_params / set_params / clone on kernels, so GridSearchCV tunes them by name (kernel__gamma)."""
    from sklearn.base import clone
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from qcstar.encoders import AmplitudeEncoder
    from qcstar.kernels import QuantumKernelSVC

    enc = AmplitudeEncoder(max_value=16.0)
    k = ProjectedKernel(gamma=2, encoder=enc, tile=64)
    params = k.get_params(deep=False)
    assert params["gamma"] == 2 and params["encoder"] is enc and params["tile"] == 64 and params["shots"] is None
    assert repr(k) == f"ProjectedKernel(encoder={enc!r}, tile=64, gamma=2)"
    copy = clone(k)  # scikit-learn's identity check on every parameter passes
    assert copy is not k and copy.get_params(deep=False)["gamma"] == 2 and copy.encoder is not enc
    # set_params rebuilds and validates; a bad value leaves the kernel as it was
    assert k.set_params(gamma=0.5).gamma == 0.5 and k.tile == 64
    with pytest.raises(ConfigError, match="gamma must be"):
        k.set_params(gamma=-1.0)
    assert k.gamma == 0.5
    with pytest.raises(ConfigError, match="no parameter 'gama'"):
        k.set_params(gama=1.0)
    # through the estimator: GridSearchCV over kernel__gamma equals fitting each gamma by hand
    d = load_digits()
    x, y = d.data[:240], d.target[:240]
    search = GridSearchCV(QuantumKernelSVC(kernel=ProjectedKernel(encoder=enc)), {"kernel__gamma": [0.25, 4.0]},
                          cv=3).fit(x, y)
    best = search.best_params_["kernel__gamma"]
    assert search.best_estimator_.kernel.gamma == best
    by_hand = QuantumKernelSVC(kernel=ProjectedKernel(encoder=enc, gamma=best)).fit(x, y)
    np.testing.assert_allclose(search.best_estimator_.decision_function(d.data[240:300]),
                               by_hand.decision_function(d.data[240:300]), atol=1e-10)
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]  # gamma changes the model
