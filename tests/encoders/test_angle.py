"""encoders.angle: features, PCA, and the batched template."""

from __future__ import annotations

import math

import pytest
import torch

from qcstar.circuits import ConfigError, ShapeError
from qcstar.circuits.template import unbatch
from qcstar.encoders import AngleEncoder


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_qubits=4, size=2),
        dict(n_qubits=4, size=2, reps=3, rotation="rx", entangler="ring"),
        dict(n_qubits=3, reps=2, pca=5, rotation="rz"),
        dict(n_qubits=6, pca=4, entangler=None),  # fewer features than angles: zero-padded
    ],
)
def test_angle_states_equal_circuits(digits, kw, check_circuits, check_template):
    enc = AngleEncoder(max_value=16.0, **kw).fit(digits)
    psi = check_circuits(enc, digits)
    assert psi.shape == (6, 2 ** kw["n_qubits"])
    check_template(enc, digits)
    assert enc.parameters(digits).shape == (6, enc.n_qubits * enc.reps)


def test_angle_features_and_pca(digits):
    enc = AngleEncoder(n_qubits=4, size=2, max_value=16.0)
    pooled = torch.as_tensor(digits).reshape(6, 2, 4, 2, 4).mean((2, 4)).reshape(6, -1) / 16
    assert torch.allclose(enc.parameters(digits), math.pi * pooled)
    a = AngleEncoder(n_qubits=4, pca=4, max_value=16.0).fit(digits)
    b = AngleEncoder(n_qubits=4, pca=4, max_value=16.0).fit(digits.copy())
    assert a == b and hash(a) == hash(b)  # deterministic fit, value equality
    f = a.features(digits)
    assert f.abs().max() <= 1 + 1e-12
    assert a != AngleEncoder(n_qubits=4, pca=4, max_value=16.0)  # unfitted differs
    with pytest.raises(ConfigError, match="not fitted; call enc.fit"):
        AngleEncoder(n_qubits=4, pca=4).states(digits)
    with pytest.raises(ShapeError, match="64 features per sample but only n_qubits \\* reps = 4"):
        AngleEncoder(n_qubits=4).states(digits)
    with pytest.raises(ConfigError, match="rotation must be one of"):
        AngleEncoder(n_qubits=2, rotation="u3")


def test_angle_single_batched_simulation(digits):
    # one batched simulate call gives every sample: the template has (B,) parameters
    enc = AngleEncoder(n_qubits=4, size=2, reps=2, max_value=16.0)
    c = enc.bind(enc.parameters(digits))
    assert c.batch_size == 6
    assert len(unbatch(c)) == 6
