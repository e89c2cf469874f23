"""encoders.cstar: the encoder of a trained QCStarNet."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits import ConfigError, ShapeError
from qcstar.encoders import CStarEncoder


@pytest.mark.parametrize("d, source, form", [(1, 0, "multiplexed"), (2, 1, "multiplexed"), (2, 0, "hardware"), (3, 2, "hardware")])
def test_cstar_states_equal_circuits(digits, d, source, form, net_factory, check_circuits, check_template):
    net = net_factory(d)
    enc = CStarEncoder(net, source=source, form=form)
    psi = check_circuits(enc, digits / 16)
    assert psi.shape == (6, 2 ** enc.n_qubits)
    assert torch.allclose(psi, net.joint_states(torch.as_tensor(digits / 16), source=source))
    check_template(enc, digits / 16)
    # flat samples are reshaped to the net's in_shape
    assert torch.allclose(enc.states((digits / 16).reshape(6, 64)), psi)


def test_cstar_identity_and_errors(digits, net_factory):
    net = net_factory(2)
    a, b = CStarEncoder(net), CStarEncoder(net)
    assert a == b and a != CStarEncoder(net, source=1) and a != CStarEncoder(net_factory(2, seed=2))
    with pytest.raises(ConfigError, match="source must be a circuit index in 0..1"):
        CStarEncoder(net, source=2)
    with pytest.raises(ConfigError, match="form must be one of"):
        CStarEncoder(net, form="dense")
    with pytest.raises(ShapeError, match="takes images of shape \\(8, 8\\)"):
        a.states(torch.ones(2, 5, 5))
    with pytest.raises(ConfigError, match="must be a qcstar.QCStarNet"):
        CStarEncoder(object())
