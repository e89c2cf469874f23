"""encoders.base: the interface, input validation shared by every encoder, templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, ConfigError, DataError, ShapeError, simulate
from qcstar.encoders import AmplitudeEncoder, AngleEncoder, CStarEncoder, Encoder
from qcstar.encoders.base import (
    SampleError,
    bind_template,
    check_angles,
    resize_area,
    split_batch,
    templatize,
    validate_images,
)

ROOT = Path(__file__).resolve().parents[2]


ENCODERS = {
    "AmplitudeEncoder": lambda net_factory: AmplitudeEncoder(),
    "AngleEncoder": lambda net_factory: AngleEncoder(n_qubits=4, size=2),
    "CStarEncoder": lambda net_factory: CStarEncoder(net_factory(2)),
}


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_bad_inputs(kind, net_factory):
    enc = ENCODERS[kind](net_factory)
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


def test_templatize_round_trip(digits, net_factory):
    (c,) = CStarEncoder(net_factory(2), form="hardware").circuits(digits[:1] / 16)
    template, values = templatize(c)
    assert torch.allclose(simulate(bind_template(template, values), dtype=torch.complex128), simulate(c, dtype=torch.complex128))


def test_encoder_is_abstract():
    with pytest.raises(TypeError):
        Encoder()  # type: ignore[abstract]


def test_encoders_import_with_torch_only():
    # pennylane and qiskit are optional at import time: block them and use every encoder
    code = (
        "import sys; sys.modules['pennylane'] = None; sys.modules['qiskit'] = None\n"
        "import torch, qcstar.encoders.pennylane, qcstar.encoders.qiskit\n"
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


@pytest.mark.parametrize(
    "shape, sample_shape, out",
    [
        ((8, 8), (8, 8), (1, 8, 8)),  # one image
        ((64,), (8, 8), (1, 8, 8)),  # one flat image
        ((3, 8, 8), (8, 8), (3, 8, 8)),
        ((3, 64), (8, 8), (3, 8, 8)),  # a flat batch, reshaped
        ((8, 8), (8,), (8, 8)),  # told: a batch of 8 samples of 8 values
        ((5, 7), None, (5, 7)),  # scikit-learn's (n_samples, n_features)
        ((2, 4, 4), None, (2, 4, 4)),
    ],
)
def test_sample_shape_reading(shape, sample_shape, out):
    assert tuple(validate_images(np.ones(shape), name="E", sample_shape=sample_shape).shape) == out


def test_ambiguous_and_mismatched_inputs():
    with pytest.raises(ShapeError, match=r"E: a 6x6 input is one 6x6 image or a batch of 6 samples"):
        validate_images(np.ones((6, 6)), name="E")
    assert validate_images(np.ones((6, 6)), name="E", batch=True).shape == (6, 6)  # fit's input is a batch
    with pytest.raises(ShapeError, match=r"E takes images of shape \(8, 8\).*got shape \(2, 7, 7\)"):
        validate_images(np.ones((2, 7, 7)), name="E", sample_shape=(8, 8))
    with pytest.raises(ShapeError, match="expected one sample"):
        validate_images(np.ones((2, 64)), name="E", sample_shape=(8, 8), single=True)
    for bad in ((), (0, 3), (2.5,), "8x8", (True, 2)):
        with pytest.raises(ConfigError, match="sample_shape must be"):
            validate_images(np.ones(4), name="E", sample_shape=bad)
    with pytest.raises(SampleError) as info:  # both classes: bad data, and AQCE's earlier ShapeError
        validate_images(np.full((1, 3), np.nan), name="E")
    assert isinstance(info.value, DataError) and isinstance(info.value, ShapeError)


def test_fit_fixes_the_sample_shape_and_checks_it():
    enc = AmplitudeEncoder().fit(np.ones((2, 4, 4)))
    assert enc.sample_shape == (4, 4) and enc.n_qubits == 4
    assert enc != AmplitudeEncoder()  # the sample shape is part of the configuration
    with pytest.raises(ShapeError, match="takes images of shape \\(4, 4\\).*got shape \\(2, 9\\)"):
        enc.fit(np.ones((2, 9)))


def test_split_batch_is_circuit_select():
    c = Circuit(1).ry(torch.tensor([0.1, 0.2, 0.3]), 0)
    parts = split_batch(c)
    assert [float(p.ops[0].params[0]) for p in parts] == pytest.approx([0.1, 0.2, 0.3])
    single = Circuit(1).h(0)
    assert split_batch(single) == [single]


def test_resize_area_averages_blocks():
    x = torch.arange(2 * 36, dtype=torch.float64).reshape(2, 6, 6)
    out = resize_area(x, 3, name="E")
    assert torch.allclose(out, x.reshape(2, 3, 2, 3, 2).mean((2, 4)))
    assert torch.equal(resize_area(x.reshape(2, 36), 6, name="E"), x)  # square flat samples
    with pytest.raises(ShapeError, match="not a square"):
        resize_area(torch.ones(2, 10), 3, name="E")


def test_check_angles_bounds():
    ok = torch.tensor([[1.0, -2.0], [3.0, 2.0**50]])
    assert check_angles(ok, name="E") is ok
    with pytest.raises(SampleError, match="sample\\(s\\) 1 give gate angles"):
        check_angles(torch.tensor([[1.0, 0.0], [2.0**51, 0.0]]), name="E")
