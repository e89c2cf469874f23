"""Issue 9 regressions in the encoders: one image vs a batch, hostile values, the qubit guard,
PennyLane's default interface, and issue 8's one error rule. Each test failed before its fix."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from qcstar.circuits import ConfigError, ResourceError, ShapeError, simulate
from qcstar.circuits.resources import reset_memory_limit, set_memory_limit
from qcstar.encoders import AmplitudeEncoder, AngleEncoder, AQCEEncoder, CStarEncoder, to_pennylane
from qcstar.encoders.base import SampleError


def _digit28() -> np.ndarray:
    """One MNIST-like 28x28 digit: sklearn's 8x8 digit upsampled 3x, with blank borders."""
    from sklearn.datasets import load_digits

    return np.pad(np.kron(load_digits().images[0] * 16, np.ones((3, 3))), 2)  # (28, 28), rows 0-1 blank


def _digit8() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images[1]  # (8, 8)


def _net():
    from qcstar.net import QCStarNet

    return QCStarNet(n_qubits=3, n_circuits=2, n_layers=1, in_shape=(8, 8), dtype=torch.complex128, seed=0)


# --------------------------------------------------------------------------------------
# §2: one image is never a batch of its rows
# --------------------------------------------------------------------------------------

def test_one_image_without_sample_shape_is_refused_not_read_as_rows():
    img = _digit8()
    with pytest.raises(ShapeError, match=r"8x8 input is one 8x8 image or a batch of 8 samples.*sample_shape=\(8, 8\)"):
        AQCEEncoder(level="f80", n_qubits=6, max_blocks=3, sweeps=1).states(img)
    with pytest.raises(ShapeError, match="sample_shape="):
        AmplitudeEncoder().states(_digit28())


def test_sample_shape_reads_one_image_as_one_state():
    img = _digit8()
    enc = AQCEEncoder(level="f80", n_qubits=6, max_blocks=3, sweeps=1, sample_shape=(8, 8))
    one = enc.states(img)
    assert one.shape == (1, 64)
    assert torch.allclose(one, enc.states(img[None]), atol=0)
    amp = AmplitudeEncoder(sample_shape=(28, 28))
    assert amp.n_qubits == 10 and amp.states(_digit28()).shape == (1, 1024)
    with pytest.raises(ShapeError, match=r"takes images of shape \(28, 28\)"):
        amp.states(np.ones((3, 8, 8)))


def test_fit_learns_the_sample_shape():
    batch = np.stack([_digit8(), _digit8() + 1])
    enc = AngleEncoder(n_qubits=4, size=2, max_value=16.0).fit(batch)
    assert enc.sample_shape == (8, 8)
    assert torch.allclose(enc.states(batch[0]), enc.states(batch)[:1])


def test_amplitude_n_qubits_fixed_up_front():
    enc = AmplitudeEncoder(max_value=16.0, sample_shape=(8, 8))  # the README's "6 qubits for 8x8 images"
    assert enc.n_qubits == 6 and enc.template_circuit().n_qubits == 6
    with pytest.raises(ShapeError, match="sample_shape= \\(e.g. \\(8, 8\\) for 6 qubits\\)"):
        AmplitudeEncoder().n_qubits


def test_to_pennylane_reads_one_mnist_image_by_its_wires():
    qml = pytest.importorskip("pennylane")
    img = _digit28()
    dev = qml.device("default.qubit", wires=10)

    @qml.qnode(dev)
    def state(x):
        to_pennylane(AmplitudeEncoder(), x, wires=range(10))
        return qml.state()

    ours = AmplitudeEncoder(sample_shape=(28, 28)).states(img)[0].numpy()
    assert np.allclose(state(img), ours, atol=1e-10)


# --------------------------------------------------------------------------------------
# §2: hostile values
# --------------------------------------------------------------------------------------

def test_huge_pixels_give_the_right_unit_vector():
    img = _digit8()[None] + 0.5
    ref = AmplitudeEncoder().states(img)
    for scale in (1e200, 1e-200):
        got = AmplitudeEncoder().states(img * scale)
        assert torch.allclose(got, ref, atol=1e-14), scale
    aqce = AQCEEncoder(level="f80", n_qubits=6, max_blocks=3, sweeps=1)
    assert torch.allclose(aqce.amplitude_vectors(img * 1e200), aqce.amplitude_vectors(img), atol=1e-14)


def test_angles_that_carry_no_information_are_refused():
    x = torch.rand(2, 8, 8, dtype=torch.float64) + 0.1
    x[1, 0, 0] = 1e200
    with pytest.raises(SampleError, match="sample\\(s\\) 1 give gate angles"):
        AngleEncoder(n_qubits=4, size=2).states(x)
    with pytest.raises(SampleError, match="sample\\(s\\) 1 give gate angles"):
        CStarEncoder(_net()).states(x)
    with pytest.raises(SampleError, match="gate angles"):
        CStarEncoder(_net()).circuits(x)


@pytest.mark.parametrize("kind", ["angle", "amplitude", "aqce", "cstar"])
def test_nan_inf_and_complex_images_are_refused(kind):
    make = {
        "angle": lambda: AngleEncoder(n_qubits=4, size=2),
        "amplitude": lambda: AmplitudeEncoder(),
        "aqce": lambda: AQCEEncoder(level="f80", n_qubits=6, max_blocks=3, sweeps=1),
        "cstar": lambda: CStarEncoder(_net()),
    }[kind]
    x = torch.rand(2, 8, 8, dtype=torch.float64) + 0.1
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[0, 3, 3] = bad
        with pytest.raises(SampleError, match="sample\\(s\\) 0 contain"):
            make().states(y)
    if kind != "amplitude":  # amplitude encoding takes complex vectors on purpose
        with pytest.raises(ShapeError, match="real-valued"):
            make().states(x.to(torch.complex128))


# --------------------------------------------------------------------------------------
# §1: the qubit guard refuses before allocating
# --------------------------------------------------------------------------------------

@pytest.fixture
def one_gib_cap():
    set_memory_limit("1G")
    yield
    reset_memory_limit()


@pytest.mark.parametrize(
    "call",
    [
        lambda x: AmplitudeEncoder(n_qubits=40).states(x),
        lambda x: AmplitudeEncoder(n_qubits=40).template_circuit(),
        lambda x: AngleEncoder(n_qubits=40).states(x),
        lambda x: AQCEEncoder(n_qubits=40).states(x),
        # 22 qubits: the states fit (32 MiB) but AQCE's pair index tables (231 x 2**22 indices) do not
        lambda x: AQCEEncoder(n_qubits=22).encode_targets(torch.zeros(1, 2**22)),
    ],
    ids=["amplitude", "amplitude-template", "angle", "aqce", "aqce-tables"],
)
def test_forty_qubits_are_refused_fast(call, one_gib_cap):
    x = torch.rand(2, 4, 4, dtype=torch.float64) + 0.1
    start = time.perf_counter()
    with pytest.raises(ResourceError, match="more than the memory cap"):
        call(x)
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------------------
# §5b: PennyLane's default (autograd) interface, and JAX
# --------------------------------------------------------------------------------------

def _angle_qnode(qml, enc, x, interface):
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev, interface=interface)
    def cost(weights):
        to_pennylane(enc, x, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return qml.expval(qml.PauliZ(0))

    return cost


def test_default_interface_grad_and_optimizer_match_torch():
    qml = pytest.importorskip("pennylane")
    pnp = qml.numpy
    enc = AngleEncoder(n_qubits=4, size=2, reps=2, max_value=16.0)
    x = _digit8().reshape(-1)  # numpy data
    w0 = np.random.default_rng(0).normal(size=(1, 4, 3))
    cost = _angle_qnode(qml, enc, x, "auto")
    weights = pnp.array(w0, requires_grad=True)
    grad = qml.grad(cost)(weights)
    wt = torch.tensor(w0, requires_grad=True)
    _angle_qnode(qml, enc, torch.tensor(x), "torch")(wt).backward()
    assert np.allclose(grad, wt.grad.numpy(), atol=1e-10)
    opt = qml.GradientDescentOptimizer(stepsize=0.2)
    stepped = opt.step(cost, weights)
    assert float(cost(stepped)) < float(cost(weights))
    op = to_pennylane(enc, x, wires=range(4))
    assert isinstance(op.data[0], np.ndarray)  # the interface of the input, not torch
    qml.ops.functions.assert_valid(op)


def test_aqce_template_in_an_autograd_qnode():
    qml = pytest.importorskip("pennylane")
    pnp = qml.numpy
    enc = AQCEEncoder(level="f80", n_qubits=6, max_blocks=3, sweeps=1)
    img = _digit8()[None]
    dev = qml.device("default.qubit", wires=6)

    @qml.qnode(dev)
    def cost(theta):
        to_pennylane(enc, img, wires=range(6))
        qml.RY(theta, wires=0)
        return qml.expval(qml.PauliZ(0))

    theta = pnp.array(0.3, requires_grad=True)
    assert np.isfinite(qml.grad(cost)(theta))
    with pytest.raises(ShapeError, match="holds one sample; got a batch of 2"):
        to_pennylane(enc, np.stack([_digit8(), _digit8()]), wires=range(6))


def test_a_differentiated_input_is_refused_with_a_message():
    qml = pytest.importorskip("pennylane")
    enc = AngleEncoder(n_qubits=4, size=2, max_value=16.0)
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def f(x):
        to_pennylane(enc, x, wires=range(4))
        return qml.expval(qml.PauliZ(0))

    with pytest.raises(ConfigError, match="interface='torch' only"):
        qml.grad(f)(qml.numpy.array(_digit8().reshape(-1), requires_grad=True))


def test_jax_values_follow_their_interface():
    qml = pytest.importorskip("pennylane")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    enc = AngleEncoder(n_qubits=4, size=2, max_value=16.0)
    x = jax.numpy.asarray(_digit8().reshape(-1))
    cost = _angle_qnode(qml, enc, x, "jax")
    w0 = np.random.default_rng(1).normal(size=(1, 4, 3))
    grad = jax.grad(cost)(jax.numpy.asarray(w0))
    wt = torch.tensor(w0, requires_grad=True)
    _angle_qnode(qml, enc, torch.tensor(np.asarray(x)), "torch")(wt).backward()
    assert np.allclose(np.asarray(grad), wt.grad.numpy(), atol=1e-10)


# --------------------------------------------------------------------------------------
# issue 8: configuration mistakes are ConfigError
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "make",
    [
        lambda: AngleEncoder(n_qubits=0),
        lambda: AngleEncoder(n_qubits=2, entangler="star"),
        lambda: AngleEncoder(n_qubits=2, scale=float("nan")),
        lambda: AmplitudeEncoder(size=True),
        lambda: AmplitudeEncoder(sample_shape=(8, 0)),
        lambda: AQCEEncoder(level="f80", target_overlap="high"),
        lambda: AQCEEncoder(batch_size=True),
        lambda: CStarEncoder(_net(), source=5),
    ],
)
def test_configuration_mistakes_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_ring_entangler_is_the_shared_one():
    from qcstar.circuits.entanglers import entangler_pairs

    c = AngleEncoder(n_qubits=4, reps=2, entangler="ring").template_circuit()
    assert [op.wires for op in c.ops if op.name == "cx"] == entangler_pairs(4, "ring")
    assert simulate(AngleEncoder(n_qubits=4, entangler="none").bind(torch.zeros(4))).shape == (16,)


def test_aqce_on_a_missing_device_is_a_config_error():
    import torch as _torch

    if _torch.cuda.is_available():
        pytest.skip("checks the message on a machine without CUDA")
    from qcstar.circuits.errors import ConfigError
    from qcstar.encoders import AQCEEncoder

    with pytest.raises(ConfigError, match="needs CUDA"):
        AQCEEncoder(level="f80", device="cuda")
