"""qcstar.encoders.to_qiskit / feature_map: bound circuits, and feature maps in qiskit-machine-learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit")

from qiskit.quantum_info import Statevector  # noqa: E402

from qcstar.circuits import Circuit, ShapeError, simulate  # noqa: E402
from qcstar.encoders import AmplitudeEncoder, AngleEncoder, CStarEncoder, Encoder, feature_map, to_qiskit  # noqa: E402
from qcstar.encoders.base import validate_images  # noqa: E402


def _net():
    from qcstar.net import QCStarNet

    net = QCStarNet(n_qubits=3, n_circuits=2, n_layers=2, in_shape=(4, 4), dtype=torch.complex128, seed=5, strength=0.8)
    with torch.no_grad():
        net.interaction_params.normal_(generator=torch.Generator().manual_seed(5))
    return net


ENCODERS = {
    "amplitude": lambda: AmplitudeEncoder(size=4, max_value=1.0),
    "angle": lambda: AngleEncoder(n_qubits=4, size=2, reps=2, rotation="rx", max_value=1.0),
    "cstar": lambda: CStarEncoder(_net()),
    "cstar-hardware": lambda: CStarEncoder(_net(), source=1, form="hardware"),
}


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(6, 4, 4, generator=torch.Generator().manual_seed(11), dtype=torch.float64) + 0.05


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_to_qiskit_statevector_equals_states(kind, x):
    enc = ENCODERS[kind]()
    qc = to_qiskit(enc, x[2])  # one (H, W) image
    assert qc.num_qubits == enc.n_qubits and qc.num_parameters == 0
    assert np.allclose(Statevector(qc).data, enc.states(x[2:3])[0].numpy(), atol=1e-10)


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_feature_map_gram_equals_ours(kind, x):
    pytest.importorskip("qiskit_machine_learning")
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    enc = ENCODERS[kind]()
    fm = feature_map(enc)
    values = enc.parameters(x).numpy()  # (B, P)
    assert fm.num_parameters == values.shape[1]
    assert np.allclose(Statevector(fm.assign_parameters(values[3])).data, enc.states(x)[3].numpy(), atol=1e-10)
    gram = FidelityStatevectorKernel(feature_map=fm).evaluate(x_vec=values)
    s = enc.states(x).numpy()
    ours = np.abs(s.conj() @ s.T) ** 2  # K = |S S^H|^2
    assert np.allclose(gram, ours, atol=1e-8, rtol=0)
    rect = FidelityStatevectorKernel(feature_map=fm).evaluate(x_vec=values[:2], y_vec=values[2:])
    assert np.allclose(rect, ours[:2, 2:], atol=1e-8, rtol=0)


def test_fidelity_quantum_kernel_runs(x):
    pytest.importorskip("qiskit_machine_learning")
    from qiskit_machine_learning.kernels import FidelityQuantumKernel

    enc = ENCODERS["cstar"]()
    values = enc.parameters(x[:3]).numpy()
    gram = FidelityQuantumKernel(feature_map=feature_map(enc)).evaluate(x_vec=values)  # sampled (shots)
    s = enc.states(x[:3]).numpy()
    assert np.allclose(gram, np.abs(s.conj() @ s.T) ** 2, atol=0.1)


def test_feature_map_multiplexed_gray_code():
    # amplitude templates hold multiplexed RY; the feature map lowers them to RY + CX sequences
    enc = AmplitudeEncoder(n_qubits=4)
    fm = feature_map(enc)
    assert set(fm.count_ops()) <= {"ry", "cx"} and fm.count_ops()["ry"] == 1 + 2 + 4 + 8
    v = torch.randn(2, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)  # signed
    values = enc.parameters(v).numpy()
    for i in range(2):
        assert np.allclose(Statevector(fm.assign_parameters(values[i])).data, enc.states(v)[i].numpy(), atol=1e-10)


def test_qsvc_fit_predict(x):
    pytest.importorskip("qiskit_machine_learning")
    from qiskit_machine_learning.algorithms import QSVC
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    enc = AngleEncoder(n_qubits=4, size=2, max_value=1.0)
    g = torch.Generator().manual_seed(0)
    bright = torch.rand(4, 4, 4, generator=g, dtype=torch.float64) * 0.2 + 0.8
    dark = torch.rand(4, 4, 4, generator=g, dtype=torch.float64) * 0.2 + 0.05
    images = torch.cat([bright, dark])
    labels = np.array([1] * 4 + [0] * 4)
    qsvc = QSVC(quantum_kernel=FidelityStatevectorKernel(feature_map=feature_map(enc)))
    qsvc.fit(enc.parameters(images).numpy(), labels)
    assert (qsvc.predict(enc.parameters(images).numpy()) == labels).all()


class _OneQubitDouble(Encoder):
    """Test double: a non-parametric encoder (like AQCE) with a fixed-structure circuit."""

    name = "OneQubitDouble"

    @property
    def n_qubits(self) -> int:
        return 1

    def states(self, x, *, dtype=torch.complex128):
        return torch.stack([simulate(c, dtype=dtype) for c in self.circuits(x)])

    def circuits(self, x):
        t = validate_images(x, name=self.name)
        return [Circuit(1).unitary(torch.eye(2, dtype=torch.complex128), 0) for _ in range(t.shape[0])]

    def _key(self):
        return ()


def test_feature_map_errors():
    double = _OneQubitDouble()
    assert not double.is_parametric
    with pytest.raises(ShapeError, match="OneQubitDouble is not parametric.*to_qiskit"):
        feature_map(double)
    qc = to_qiskit(double, [1.0, 2.0])
    assert qc.num_qubits == 1
    with pytest.raises(ShapeError, match="infers the qubit count"):
        feature_map(AmplitudeEncoder())
    with pytest.raises(ShapeError, match="expected one sample"):
        to_qiskit(AngleEncoder(n_qubits=4, size=2), torch.rand(3, 4, 4))
