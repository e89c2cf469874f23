"""qcstar.encoders.to_pennylane: a valid PennyLane template, in QNodes and TorchLayer."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

qml = pytest.importorskip("pennylane")

from qcstar.encoders import AmplitudeEncoder, AngleEncoder, CStarEncoder, to_pennylane  # noqa: E402
from qcstar.encoders.pennylane import FrozenTemplate, embedding_class  # noqa: E402


def _net():
    from qcstar.net import QCStarNet

    net = QCStarNet(n_qubits=3, n_circuits=2, n_layers=1, in_shape=(4, 4), dtype=torch.complex128, seed=3, strength=0.8)
    with torch.no_grad():
        net.interaction_params.normal_(generator=torch.Generator().manual_seed(3))
    return net


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.05


ENCODERS = {
    "amplitude": lambda: AmplitudeEncoder(max_value=1.0),
    "angle": lambda: AngleEncoder(n_qubits=4, size=2, reps=2, max_value=1.0),
    "cstar": lambda: CStarEncoder(_net()),
}


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_assert_valid(kind, x):
    enc = ENCODERS[kind]()
    n = enc.n_qubits_for(x)
    op = to_pennylane(enc, x[0].reshape(-1), wires=range(n))
    assert type(op).__name__ == "QcstarEmbedding" and op.batch_size is None
    # full check, including the autograd-vs-parameter-shift differentiation check (the
    # decomposition supports autograd values through its affine parameter map)
    qml.ops.functions.assert_valid(op)
    batched = to_pennylane(enc, x.reshape(3, -1), wires=range(n))
    assert batched.batch_size == 3
    # PennyLane's parameter shift does not support broadcast parameters (#4462): skip that check
    qml.ops.functions.assert_valid(batched, skip_differentiation=True)


def test_autograd_values_match_torch(x):
    enc = ENCODERS["angle"]()
    op = to_pennylane(enc, x[0].reshape(-1), wires=range(4))
    template = op.hyperparameters["template"]
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def z0(values):
        type(op)(values, wires=range(4), template=template)
        return qml.expval(qml.PauliZ(0))

    values = enc.parameters(x[:1])[0]
    grad_autograd = qml.grad(z0)(qml.numpy.array(values.numpy(), requires_grad=True))
    t = values.clone().requires_grad_(True)
    qml.QNode(z0.func, dev, interface="torch")(t).backward()
    assert torch.allclose(torch.as_tensor(grad_autograd), t.grad, atol=1e-10)


def test_pickle_copy_and_hyperparameters(x):
    enc = ENCODERS["angle"]()
    op = to_pennylane(enc, x[0].reshape(-1), wires=["a", "b", "c", "d"])
    assert pickle.loads(pickle.dumps(op)) == op
    assert copy.deepcopy(op) == op
    template = op.hyperparameters["template"]
    assert isinstance(template, FrozenTemplate) and hash(template) == hash(copy.deepcopy(template))
    from qcstar.encoders.pennylane import QcstarEmbedding  # created lazily, importable by name

    assert QcstarEmbedding is embedding_class()
    with pytest.raises(Exception, match="4 qubits but 2 wires"):
        to_pennylane(CStarEncoder(_net()), x[0].reshape(-1), wires=[0, 1])


@pytest.mark.parametrize("device", ["default.qubit", "lightning.qubit"])
@pytest.mark.parametrize("kind", list(ENCODERS))
def test_qnode_state_equals_ours(kind, device, x):
    if device == "lightning.qubit":
        pytest.importorskip("pennylane_lightning")
    enc = ENCODERS[kind]()
    n = enc.n_qubits_for(x)
    dev = qml.device(device, wires=n)

    @qml.qnode(dev, interface="torch")
    def state(inputs):
        to_pennylane(enc, inputs, wires=range(n))  # first wire = most significant qubit
        return qml.state()

    ours = enc.states(x)
    for i in range(2):
        got = torch.as_tensor(state(x[i].reshape(-1)))
        assert torch.allclose(got.to(torch.complex128), ours[i], atol=1e-10), (kind, device)
    if device == "default.qubit":  # parameter broadcasting: the whole batch in one call
        assert torch.allclose(state(x.reshape(3, -1)), ours, atol=1e-10)


def test_amplitude_matches_pennylane_amplitude_embedding(x):
    enc = AmplitudeEncoder(max_value=1.0)
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def ours(v):
        to_pennylane(enc, v, wires=range(4))
        return qml.state()

    @qml.qnode(dev)
    def theirs(v):
        qml.AmplitudeEmbedding(v, wires=range(4), normalize=True)
        return qml.state()

    v = x[0].reshape(-1)
    assert torch.allclose(torch.as_tensor(ours(v)), torch.as_tensor(theirs(v)).to(torch.complex128), atol=1e-10)


@pytest.mark.parametrize("kind", ["angle", "cstar"])
def test_torch_layer_forward_backward(kind, x):
    enc = ENCODERS[kind]()
    n = enc.n_qubits
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        to_pennylane(enc, inputs, wires=range(n))
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    layer = qml.qnn.TorchLayer(circuit, {"weights": (1, n, 3)})
    model = torch.nn.Sequential(layer, torch.nn.Linear(n, 2, dtype=torch.float64))
    out = model(x.reshape(3, -1).to(torch.float64))
    assert out.shape == (3, 2)
    out.square().sum().backward()
    grad = layer.weights.grad
    assert grad is not None and grad.shape == (1, n, 3) and bool(grad.abs().sum() > 0)


def test_frozen_template_digest_is_by_content():
    from qcstar.circuits import Circuit

    def template(dtype):
        c = Circuit(2).unitary(torch.eye(4, dtype=dtype), (0, 1)).ry(torch.tensor(0.0, dtype=torch.float64), 0)
        c.metadata.update({"template": True, "n_parameters": 1})
        return FrozenTemplate(c)

    assert template(torch.complex64) == template(torch.complex128)  # the matrix's dtype does not matter
    other = template(torch.complex128)
    other.circuit.ops[0] = other.circuit.ops[0].__class__("unitary", (0, 1), (), -torch.eye(4, dtype=torch.complex128))
    assert FrozenTemplate(other.circuit) != template(torch.complex128)


def test_numpy_values_decompose_with_numpy_data(x):
    enc = ENCODERS["amplitude"]()
    op = to_pennylane(enc, x[0].reshape(-1).numpy(), wires=range(4))
    ops = op.decomposition()
    assert ops and all(not isinstance(d, torch.Tensor) for o in ops for d in o.data)
    template = op.hyperparameters["template"]
    assert list(template._affine) == [tuple(range(4))]  # the affine map is measured once per wires
    torch_ops = to_pennylane(enc, x[0].reshape(-1), wires=range(4)).decomposition()
    for a, b in zip(ops, torch_ops):
        assert all(np.allclose(np.asarray(u), b_.detach().numpy()) for u, b_ in zip(a.data, b.data))
