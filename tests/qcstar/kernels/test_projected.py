"""The projected kernel (Huang et al., arXiv:2011.01938) on Pauli features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import ConfigError
from qcstar.kernels import ProjectedKernel



def _feature_states(x: np.ndarray) -> torch.Tensor:
    from qiskit.circuit.library import zz_feature_map

    from qcstar.circuits.interop import template_from_qiskit

    return template_from_qiskit(zz_feature_map(x.shape[1], reps=2)).states(x)


def test_projected_kernel_features_and_symmetry():
    s = _feature_states(np.random.default_rng(1).uniform(0, np.pi, (5, 3)))
    k = ProjectedKernel(gamma=0.5, dtype=torch.complex128)
    f = k.features(s)
    assert f.shape == (5, 9) and float(f.abs().max()) <= 1 + 1e-12
    gram = k.evaluate(s)
    np.testing.assert_allclose(np.diag(gram), 1.0)
    np.testing.assert_allclose(gram, gram.T)


def test_projected_features_of_basis_states_and_the_gaussian():
    zero_plus = torch.zeros(2, 4, dtype=torch.complex128)
    zero_plus[0, 0] = 1  # |00>: <Z> = 1 on both qubits
    zero_plus[1, 0] = zero_plus[1, 1] = 2 ** -0.5  # |0>|+> in little-endian: qubit 0 is |+>
    k = ProjectedKernel(gamma=0.25, dtype=torch.complex128)
    f = k.features(zero_plus)
    np.testing.assert_allclose(f[0].numpy(), [0, 0, 1, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(f[1].numpy(), [1, 0, 0, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(k.evaluate(zero_plus)[0, 1], np.exp(-0.25 * 2), atol=1e-12)


def test_gamma_must_be_positive():
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises(ConfigError, match="gamma"):
            ProjectedKernel(gamma=bad)
