"""Encoders: states equal simulated circuits (complex128), MNISQ preprocessing, input errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qcstar.circuits import DataError, ShapeError, simulate
from qcstar.encoders import AmplitudeEncoder, AngleEncoder, CStarEncoder, Encoder
from qcstar.encoders.base import bind_template, templatize, unbatch, validate_images

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-10


def _check_circuits(enc: Encoder, x) -> torch.Tensor:
    psi = enc.states(x, dtype=torch.complex128)
    circs = enc.circuits(x)
    assert len(circs) == psi.shape[0]
    for c, p in zip(circs, psi):
        assert c.n_qubits == int(math.log2(psi.shape[1]))
        assert torch.allclose(simulate(c, dtype=torch.complex128), p, atol=TOL, rtol=0)
    return psi


def _check_template(enc: Encoder, x) -> None:
    values = enc.parameters(x)
    assert values.shape == (enc.states(x).shape[0], int(enc.template_for(x).metadata["n_parameters"]))
    batched = bind_template(enc.template_for(x), values)
    assert torch.allclose(simulate(batched, dtype=torch.complex128), enc.states(x), atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def images28() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, 256, (3, 28, 28), generator=g).double()
    x[:, :4] = 0  # blank rows like MNIST borders
    return x


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    sklearn = pytest.importorskip("sklearn.datasets")
    return sklearn.load_digits().images[:6]  # (6, 8, 8), values 0..16


# --------------------------------------------------------------------------------------
# AmplitudeEncoder
# --------------------------------------------------------------------------------------

def test_amplitude_mnisq_recipe(images28):
    enc = AmplitudeEncoder()
    psi = _check_circuits(enc, images28)
    assert psi.shape == (3, 1024) and psi.dtype == torch.complex128
    assert enc.n_qubits_for(images28) == 10
    ref = (images28 / 255.0).reshape(3, -1)
    ref = ref / ref.norm(dim=1, keepdim=True)
    assert torch.allclose(psi[:, :784].real.reshape(3, 28, 28), ref.reshape(3, 28, 28), atol=1e-15)
    assert torch.all(psi[:, 784:] == 0) and torch.all(psi.imag == 0)
    # pixel (r, c) <-> basis index 28 r + c, qubit 0 = least significant bit
    assert psi[1, 28 * 10 + 5].real == pytest.approx(float(ref[1, 28 * 10 + 5]), abs=1e-15)


def test_amplitude_numpy_digits_and_sizes(digits):
    enc = AmplitudeEncoder(max_value=16.0)
    psi = _check_circuits(enc, digits)
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
    _check_circuits(small, digits)


def test_amplitude_signed_and_complex_vectors():
    g = torch.Generator().manual_seed(3)
    enc = AmplitudeEncoder(n_qubits=5)
    real = torch.randn(4, 21, generator=g, dtype=torch.float64)
    psi = _check_circuits(enc, real)
    assert torch.all(psi.imag == 0) and bool((psi.real < 0).any())
    comp = torch.randn(3, 32, generator=g, dtype=torch.complex128)
    _check_circuits(enc, comp)
    _check_template(enc, real)
    with pytest.raises(ShapeError, match="complex samples have no fixed parameter template"):
        enc.parameters(comp)


def test_amplitude_template_and_structure(images28):
    enc = AmplitudeEncoder()
    _check_template(enc, images28)
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
    with pytest.raises(ShapeError, match="max_value"):
        AmplitudeEncoder(max_value=0)
    with pytest.raises(ShapeError, match="pad must be one of"):
        AmplitudeEncoder(pad="center")
    with pytest.raises(ShapeError, match="not a square"):
        AmplitudeEncoder(size=4).states(torch.ones(2, 10))


# --------------------------------------------------------------------------------------
# AngleEncoder
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kw",
    [
        dict(n_qubits=4, size=2),
        dict(n_qubits=4, size=2, reps=3, rotation="rx", entangler="ring"),
        dict(n_qubits=3, reps=2, pca=5, rotation="rz"),
        dict(n_qubits=6, pca=4, entangler=None),  # fewer features than angles: zero-padded
    ],
)
def test_angle_states_equal_circuits(digits, kw):
    enc = AngleEncoder(max_value=16.0, **kw).fit(digits)
    psi = _check_circuits(enc, digits)
    assert psi.shape == (6, 2 ** kw["n_qubits"])
    _check_template(enc, digits)
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
    with pytest.raises(ShapeError, match="not fitted; call enc.fit"):
        AngleEncoder(n_qubits=4, pca=4).states(digits)
    with pytest.raises(ShapeError, match="64 features per sample but only n_qubits \\* reps = 4"):
        AngleEncoder(n_qubits=4).states(digits)
    with pytest.raises(ShapeError, match="rotation must be one of"):
        AngleEncoder(n_qubits=2, rotation="u3")


def test_angle_single_batched_simulation(digits):
    # one batched simulate call gives every sample: the template has (B,) parameters
    enc = AngleEncoder(n_qubits=4, size=2, reps=2, max_value=16.0)
    c = enc.bind(enc.parameters(digits))
    assert c.batch_size == 6
    assert len(unbatch(c)) == 6


# --------------------------------------------------------------------------------------
# CStarEncoder (the real qcstar.QCStarNet)
# --------------------------------------------------------------------------------------

def _net(d: int, seed: int = 1):
    from qcstar.net import QCStarNet

    net = QCStarNet(n_qubits=3, n_circuits=d, n_layers=2, in_shape=(8, 8), dtype=torch.complex128, seed=seed, strength=0.8)
    if net.interaction_params is not None:
        with torch.no_grad():
            net.interaction_params.normal_(generator=torch.Generator().manual_seed(seed))
    return net


@pytest.mark.parametrize("d, source, form", [(1, 0, "multiplexed"), (2, 1, "multiplexed"), (2, 0, "hardware"), (3, 2, "hardware")])
def test_cstar_states_equal_circuits(digits, d, source, form):
    net = _net(d)
    enc = CStarEncoder(net, source=source, form=form)
    psi = _check_circuits(enc, digits / 16)
    assert psi.shape == (6, 2 ** enc.n_qubits)
    assert torch.allclose(psi, net.joint_states(torch.as_tensor(digits / 16), source=source))
    _check_template(enc, digits / 16)
    # flat samples are reshaped to the net's in_shape
    assert torch.allclose(enc.states((digits / 16).reshape(6, 64)), psi)


def test_cstar_identity_and_errors(digits):
    net = _net(2)
    a, b = CStarEncoder(net), CStarEncoder(net)
    assert a == b and a != CStarEncoder(net, source=1) and a != CStarEncoder(_net(2, seed=2))
    with pytest.raises(ShapeError, match="source must be a circuit index in 0..1"):
        CStarEncoder(net, source=2)
    with pytest.raises(ShapeError, match="form must be one of"):
        CStarEncoder(net, form="dense")
    with pytest.raises(ShapeError, match="takes images of shape \\(8, 8\\)"):
        a.states(torch.ones(2, 5, 5))
    with pytest.raises(ShapeError, match="must be a qcstar.QCStarNet"):
        CStarEncoder(object())


# --------------------------------------------------------------------------------------
# input validation, shared by every encoder
# --------------------------------------------------------------------------------------

def _encoders():
    return [
        AmplitudeEncoder(),
        AngleEncoder(n_qubits=4, size=2),
        CStarEncoder(_net(2)),
    ]


@pytest.mark.parametrize("enc", _encoders(), ids=lambda e: e.name)
def test_bad_inputs(enc):
    name = enc.name
    good = torch.rand(2, 8, 8) + 0.1
    with pytest.raises(ShapeError, match=f"{name}: expected a batch of images .* got shape \\(2, 1, 8, 8\\); drop the channel"):
        enc.states(good[:, None])
    with pytest.raises(ShapeError, match=f"{name}: got an empty batch"):
        enc.states(torch.zeros(0, 8, 8))
    with pytest.raises(ShapeError, match=f"{name}: every sample is empty"):
        enc.states(np.zeros((2, 0)))
    bad = good.clone()
    bad[1, 2, 3] = float("nan")
    with pytest.raises(DataError, match=f"{name}: sample\\(s\\) 1 contain NaN values; replace them first"):
        enc.states(bad)
    bad[1, 2, 3] = float("inf")
    with pytest.raises(DataError, match=f"{name}: sample\\(s\\) 1 contain inf values"):
        enc.circuits(bad.numpy())
    zero = good.clone()
    zero[0] = 0
    with pytest.raises(DataError, match=f"{name}: sample\\(s\\) 0 are all zero.*drop blank images"):
        enc.states(zero)
    with pytest.raises(ShapeError, match=f"{name}: expected numeric images"):
        enc.states(np.array([["a", "b"]]))


def test_validate_images_shapes():
    assert validate_images(np.ones((3, 4, 5)), name="E").shape == (3, 4, 5)
    assert validate_images(np.ones((3, 4)), name="E").shape == (3, 4)  # 2-D = a batch (B, D)
    assert validate_images([1.0, 2.0], name="E").shape == (1, 2)  # one flat sample
    assert validate_images(np.ones((4, 5)), name="E", single=True).shape == (1, 4, 5)  # one (H, W) image
    with pytest.raises(ShapeError, match="E: expected one sample"):
        validate_images(np.ones((2, 4, 5)), name="E", single=True)
    with pytest.raises(ShapeError, match="E: expected real-valued images"):
        validate_images(np.ones((2, 3), dtype=complex), name="E")
    assert validate_images(np.zeros((1, 3)), name="E", allow_zero=True).dtype == torch.float64


def test_templatize_round_trip(digits):
    (c,) = CStarEncoder(_net(2), form="hardware").circuits(digits[:1] / 16)
    template, values = templatize(c)
    assert torch.allclose(simulate(bind_template(template, values), dtype=torch.complex128), simulate(c, dtype=torch.complex128))


def test_encoder_is_abstract():
    with pytest.raises(TypeError):
        Encoder()  # type: ignore[abstract]


def test_encoders_import_with_torch_only():
    # pennylane and qiskit are optional at import time: block them and use every encoder
    code = (
        "import sys; sys.modules['pennylane'] = None; sys.modules['qiskit'] = None\n"
        "import torch, encoders.pennylane, encoders.qiskit\n"
        "from qcstar.encoders import AmplitudeEncoder, AngleEncoder, to_pennylane\n"
        "x = torch.rand(2, 4, 4) + 0.1\n"
        "assert AmplitudeEncoder().states(x).shape == (2, 16)\n"
        "assert AngleEncoder(n_qubits=4, size=2).states(x).shape == (2, 16)\n"
        "from qcstar.circuits import MissingDependencyError\n"
        "try:\n"
        "    to_pennylane(AmplitudeEncoder(), x[0].reshape(-1), wires=range(4))\n"
        "except MissingDependencyError as e:\n"
        "    print('OK', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout and "pip install" in out.stdout
