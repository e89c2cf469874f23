"""S4D layer (arXiv:2206.11893): FFT convolution == recurrence, inits, memory-linear kernel, errors."""

import math

import pytest
import torch

from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.sequence.s4d import S4D, S4DKernel


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_fft_convolution_equals_the_recurrence(init):
    torch.manual_seed(0)
    layer = S4D(d_model=6, d_state=16, init=init)
    u = torch.randn(3, 6, 40)
    with torch.no_grad():
        fft = layer.convolve(u)
        recurrent = layer.recurrent_convolve(u)
    assert fft.shape == (3, 6, 40)
    assert torch.allclose(fft, recurrent, atol=1e-4 * float(recurrent.abs().max()))


def test_kernel_is_the_vandermonde_sum_and_chunking_changes_nothing():
    torch.manual_seed(1)
    k = S4DKernel(d_model=3, d_state=8, chunk=7)
    K = k(30)
    dtA, CB, A_bar = k.discrete()
    direct = torch.stack([2 * (CB * A_bar**l).sum(-1).real for l in range(30)], -1)
    assert torch.allclose(K, direct, atol=1e-5)
    k.chunk = 1000
    assert torch.allclose(k(30), K, atol=1e-6)


def test_initialisations_follow_the_paper():
    lin = S4DKernel(d_model=2, d_state=8, init="lin")
    assert torch.allclose(lin.A_imag[0], math.pi * torch.arange(4.0))
    inv = S4DKernel(d_model=2, d_state=8, init="inv")
    n = torch.arange(4.0)
    assert torch.allclose(inv.A_imag[0], (8 / math.pi) * (8 / (2 * n + 1) - 1))
    assert torch.allclose(-torch.exp(lin.log_A_real), torch.full((2, 4), -0.5))
    dt = torch.exp(S4DKernel(d_model=500, d_state=2, dt_min=1e-3, dt_max=1e-1).log_dt)
    assert dt.min() >= 1e-3 - 1e-9 and dt.max() <= 1e-1 + 1e-9


def test_gradients_flow_through_the_blocked_kernel():
    torch.manual_seed(2)
    layer = S4D(d_model=4, d_state=8)
    u = torch.randn(2, 4, 23, requires_grad=True)
    layer(u).sum().backward()
    grads = [layer.kernel.log_dt.grad, layer.kernel.A_imag.grad, layer.kernel.C.grad, u.grad]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_bidirectional_sees_the_future_and_causal_does_not():
    torch.manual_seed(3)
    u = torch.zeros(1, 2, 16)
    u[..., 10] = 1.0  # an impulse at t = 10
    causal = S4D(d_model=2, d_state=8).convolve(u)
    assert causal[..., :10].abs().max() < 1e-6 and causal[..., 10:].abs().max() > 1e-2
    both = S4D(d_model=2, d_state=8, bidirectional=True).convolve(u)
    assert both[..., :10].abs().max() > 1e-4
    with pytest.raises(ConfigError, match="recurrent"):
        S4D(d_model=2, d_state=8, bidirectional=True).step(torch.zeros(1, 2), torch.zeros(1, 2, 4, dtype=torch.cfloat))


def test_transposed_layouts_agree():
    torch.manual_seed(4)
    a = S4D(d_model=3, d_state=4, transposed=True)
    b = S4D(d_model=3, d_state=4, transposed=False)
    b.load_state_dict(a.state_dict())
    u = torch.randn(2, 3, 9)
    assert torch.allclose(a(u), b(u.transpose(1, 2)).transpose(1, 2), atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="even"):
        S4DKernel(d_model=2, d_state=3)
    with pytest.raises(ConfigError, match="init"):
        S4DKernel(d_model=2, init="legs")
    with pytest.raises(ConfigError, match="dt_min"):
        S4DKernel(d_model=2, dt_min=0.5, dt_max=0.1)
    with pytest.raises(ShapeError, match="H=3"):
        S4D(d_model=3).convolve(torch.zeros(1, 4, 5))
