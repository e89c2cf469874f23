"""encoders.amplitude: MNISQ's preprocessing and the exact state-preparation circuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import ConfigError, ShapeError
from qcstar.encoders import AmplitudeEncoder


def test_amplitude_mnisq_recipe(images28, check_circuits):
    enc = AmplitudeEncoder()
    psi = check_circuits(enc, images28)
    assert psi.shape == (3, 1024) and psi.dtype == torch.complex128
    assert enc.n_qubits_for(images28) == 10
    ref = (images28 / 255.0).reshape(3, -1)
    ref = ref / ref.norm(dim=1, keepdim=True)
    assert torch.allclose(psi[:, :784].real.reshape(3, 28, 28), ref.reshape(3, 28, 28), atol=1e-15)
    assert torch.all(psi[:, 784:] == 0) and torch.all(psi.imag == 0)
    # pixel (r, c) <-> basis index 28 r + c, qubit 0 = least significant bit
    assert psi[1, 28 * 10 + 5].real == pytest.approx(float(ref[1, 28 * 10 + 5]), abs=1e-15)


def test_amplitude_numpy_digits_and_sizes(digits, check_circuits):
    enc = AmplitudeEncoder(max_value=16.0)
    psi = check_circuits(enc, digits)
    assert psi.shape == (6, 64)
    x = torch.as_tensor(digits).reshape(6, -1)
    assert torch.allclose(psi.real, x / x.norm(dim=1, keepdim=True), atol=1e-15)
    # (B, D) and a single (D,) sample give the same states
    assert torch.allclose(enc.states(digits.reshape(6, 64)), psi)
    assert torch.allclose(enc.states(digits[0].reshape(-1)), psi[:1])
    # fixed n pads more zeros; resizing uses area averaging
    big = AmplitudeEncoder(n_qubits=7, max_value=16.0)
    assert torch.allclose(big.states(digits)[:, :64], psi) and big.n_qubits == 7
    small = AmplitudeEncoder(size=4, max_value=16.0)
    pooled = torch.as_tensor(digits).reshape(6, 4, 2, 4, 2).mean((2, 4)).reshape(6, -1)
    assert small.n_qubits == 4
    assert torch.allclose(small.states(digits).real, pooled / pooled.norm(dim=1, keepdim=True), atol=1e-15)
    check_circuits(small, digits)


def test_amplitude_signed_and_complex_vectors(check_circuits, check_template):
    g = torch.Generator().manual_seed(3)
    enc = AmplitudeEncoder(n_qubits=5)
    real = torch.randn(4, 21, generator=g, dtype=torch.float64)
    psi = check_circuits(enc, real)
    assert torch.all(psi.imag == 0) and bool((psi.real < 0).any())
    comp = torch.randn(3, 32, generator=g, dtype=torch.complex128)
    check_circuits(enc, comp)
    check_template(enc, real)
    with pytest.raises(ShapeError, match="complex samples have no fixed parameter template"):
        enc.parameters(comp)


def test_amplitude_template_and_structure(images28, check_template):
    enc = AmplitudeEncoder()
    check_template(enc, images28)
    t = enc.template_for(images28)
    assert t.metadata["n_parameters"] == 1023
    (c,) = enc.circuits(images28[:1])
    assert c.count_ops() == {"ry": 1, "mux_ry": 9}
    with pytest.raises(ShapeError, match="infers the qubit count"):
        enc.template_circuit()


def test_amplitude_config_errors():
    with pytest.raises(ShapeError, match="784 values do not fit in 2\\*\\*9"):
        AmplitudeEncoder(n_qubits=9).states(torch.ones(1, 28, 28))
    with pytest.raises(ShapeError, match="pad='none'"):
        AmplitudeEncoder(pad="none").states(torch.ones(1, 28, 28))
    assert AmplitudeEncoder(pad="none").states(torch.ones(2, 16)).shape == (2, 16)
    with pytest.raises(ConfigError, match="max_value"):
        AmplitudeEncoder(max_value=0)
    with pytest.raises(ConfigError, match="pad must be one of"):
        AmplitudeEncoder(pad="center")
    with pytest.raises(ShapeError, match="not a square"):
        AmplitudeEncoder(size=4).states(torch.ones(2, 10))


def test_one_preprocessing_for_amplitude_and_aqce(digits):
    from qcstar.encoders.amplitude import mnisq_amplitudes
    from qcstar.encoders.aqce import AQCEEncoder

    ref = AmplitudeEncoder(n_qubits=6, max_value=255.0).amplitudes(digits)
    assert torch.equal(mnisq_amplitudes(digits, n_qubits=6), ref)
    assert torch.equal(AQCEEncoder(n_qubits=6).amplitude_vectors(digits), ref)
    # the same validation: same messages, only the name differs
    messages = []
    for call in (lambda x: AmplitudeEncoder(n_qubits=6).states(x), lambda x: AQCEEncoder(n_qubits=6).encode(x)):
        with pytest.raises(ShapeError) as info:
            call(np.ones((1, 9, 9)))
        messages.append(str(info.value).split(": ", 1)[1])
    assert messages[0] == messages[1] and "n_qubits=7" in messages[0]


def test_sample_shape_fixes_the_qubit_count():
    assert AmplitudeEncoder(sample_shape=(28, 28)).n_qubits == 10
    assert AmplitudeEncoder(sample_shape=(28, 28), size=8).n_qubits == 6  # resized first
    with pytest.raises(ShapeError, match="784 values do not fit in 2\\*\\*9"):
        AmplitudeEncoder(sample_shape=(28, 28), n_qubits=9)
