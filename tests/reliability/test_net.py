"""Issue 9 for the C*-net: resources refused before allocating, hostile images refused at the
boundary, clean errors for empty batches and impossible devices."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from qcstar.circuits.errors import ConfigError, DataError, QcstarError, ResourceError, ShapeError
from qcstar.circuits.resources import reset_memory_limit, set_memory_limit
from qcstar.net import QCStarNet


@pytest.fixture
def net() -> QCStarNet:
    return QCStarNet(n_qubits=3, n_circuits=2, n_layers=1, in_shape=(4, 4), seed=0)


@pytest.fixture
def cap():
    """Set a memory cap for one test; the default comes back afterwards."""
    yield set_memory_limit
    reset_memory_limit()


@pytest.mark.parametrize(
    "kw, culprit",
    [
        ({"n_qubits": 40, "n_circuits": 2}, "simulating one sample"),
        ({"n_qubits": 2, "n_circuits": 2**20}, "parameters"),
        ({"n_qubits": 36, "n_circuits": 1, "readout": "probs"}, "parameters"),
    ],
)
def test_impossible_nets_are_refused_at_construction(kw, culprit, cap):
    cap("64G")  # the same answer on every machine
    start = time.perf_counter()
    with pytest.raises(ResourceError, match=culprit):
        QCStarNet(n_layers=1, **kw)
    assert time.perf_counter() - start < 2.0  # refused from the shapes, nothing allocated


def test_forward_checks_its_actual_batch(net, cap):
    x = torch.rand(256, 4, 4)
    net(x)  # fits the default cap
    cap(64 << 10)
    with pytest.raises(ResourceError, match="batch of 256"):
        net(x)
    with pytest.raises(ResourceError):
        net.states(x)


@pytest.mark.parametrize("bad, error", [(float("nan"), DataError), (float("inf"), DataError), (-float("inf"), DataError)])
def test_non_finite_pixels_are_refused(net, bad, error):
    x = torch.rand(3, 4, 4)
    x[1, 2, 3] = bad
    with pytest.raises(error, match="image 1"):
        net(x)
    with pytest.raises(error):
        net.to_circuit(x[1])


def test_overflowing_pixels_are_refused_in_float32(net):
    x = np.full((2, 4, 4), 1e200)  # finite in float64, inf in the net's float32
    with pytest.raises(DataError, match="float32"):
        net(x)


def test_complex_and_non_numeric_images_are_shape_errors(net):
    with pytest.raises(ShapeError, match="real-valued"):
        net(torch.rand(2, 4, 4, dtype=torch.complex64))
    with pytest.raises(ShapeError):
        net(np.array([[object()] * 4] * 4))


def test_empty_batch_is_a_clear_error(net):
    for method in (net.forward, net.states, net.features, net.readout, net.angles):
        with pytest.raises(ShapeError, match="empty batch"):
            method(torch.rand(0, 4, 4))


def test_impossible_devices_are_config_errors():
    for device in ("cuda:0", "cuda:99") if not torch.cuda.is_available() else ("cuda:99",):
        with pytest.raises(ConfigError, match="cuda"):
            QCStarNet(n_qubits=2, n_circuits=2, n_layers=1, device=device)
    for device in ("gpu0", "tpu", 3.5):
        with pytest.raises(ConfigError, match="device"):
            QCStarNet(n_qubits=2, n_circuits=2, n_layers=1, device=device)
    net = QCStarNet(n_qubits=2, n_circuits=2, n_layers=1, in_shape=(4, 4), device="cpu")
    assert net(torch.rand(1, 4, 4)).shape == (1, 10)


def test_cstar_encoder_refuses_non_finite_images(net):
    from qcstar.encoders import CStarEncoder

    x = torch.rand(2, 4, 4, dtype=torch.float64)
    x[0, 0, 0] = float("nan")
    enc = CStarEncoder(net)
    for method in (enc.states, enc.parameters, enc.circuits):
        with pytest.raises(QcstarError):
            method(x)


def test_readout_checks_its_size(cap):
    net = QCStarNet(n_qubits=4, n_circuits=2, n_layers=1, in_shape=(4, 4), readout="probs", seed=0)
    x = torch.rand(8, 4, 4)
    assert net.readout(x).shape == (8, 2, 2, 16)
    cap(64 << 10)
    with pytest.raises(ResourceError, match="A-valued readout"):
        net.readout(x)
