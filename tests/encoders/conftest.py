"""Shared fixtures and checks of the encoder tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qcstar.circuits import simulate
from qcstar.encoders.base import bind_template

TOL = 1e-10


def _check_circuits(enc, x) -> torch.Tensor:
    psi = enc.states(x, dtype=torch.complex128)
    circs = enc.circuits(x)
    assert len(circs) == psi.shape[0]
    for c, p in zip(circs, psi):
        assert c.n_qubits == int(math.log2(psi.shape[1]))
        assert torch.allclose(simulate(c, dtype=torch.complex128), p, atol=TOL, rtol=0)
    return psi


def _check_template(enc, x) -> None:
    values = enc.parameters(x)
    assert values.shape == (enc.states(x).shape[0], int(enc.template_for(x).metadata["n_parameters"]))
    batched = bind_template(enc.template_for(x), values)
    assert torch.allclose(simulate(batched, dtype=torch.complex128), enc.states(x), atol=TOL, rtol=0)


@pytest.fixture
def check_circuits():
    """``check_circuits(enc, x)``: every circuit simulates to its state; returns the states."""
    return _check_circuits


@pytest.fixture
def check_template():
    """``check_template(enc, x)``: the bound template simulates to the states."""
    return _check_template


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


def make_net(d: int, seed: int = 1):
    from qcstar.net import QCStarNet

    net = QCStarNet(n_qubits=3, n_circuits=d, n_layers=2, in_shape=(8, 8), dtype=torch.complex128, seed=seed, strength=0.8)
    if net.interaction_params is not None:
        with torch.no_grad():
            net.interaction_params.normal_(generator=torch.Generator().manual_seed(seed))
    return net


@pytest.fixture
def net_factory():
    """``net_factory(d, seed=1)``: a small complex128 QCStarNet on 8x8 images with a random interaction."""
    return make_net
