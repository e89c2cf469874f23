"""QCStarNet: unitarity, reductions, export (ours and Qiskit), gradients, batching, readout."""

from __future__ import annotations

import pytest
import torch

from qcstar import circuits
from qcstar.circuits.errors import ConfigError, QcstarError, ShapeError
from qcstar.circuits.statevector import unitary_matrix
from qcstar.circuits.template import bind_template
from qcstar import algebra
from qcstar.circuits.decompose import multiplexed_rotation as gray_code_multiplexor
from qcstar.net import QCStarNet

C128 = torch.complex128


def make(d: int, *, n: int = 3, layers: int = 2, interaction: str = "global", seed: int = 0, **kw) -> QCStarNet:
    net = QCStarNet(n_qubits=n, n_circuits=d, n_layers=layers, in_shape=(4, 4), interaction=interaction,
                    dtype=C128, seed=seed, **kw)
    if net.interaction_params is not None:
        g = torch.Generator().manual_seed(seed + 100)
        with torch.no_grad():
            net.interaction_params.copy_(torch.randn(net.interaction_params.shape, generator=g, dtype=torch.float64))
    return net


def images(b: int | None, seed: int = 1, d: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = ((b,) if b else ()) + ((d,) if d else ()) + (4, 4)
    return torch.rand(shape, generator=g, dtype=torch.float64)


def single_circuit(angles: torch.Tensor, n: int, rotations=("ry", "rz"), entangler="ladder") -> circuits.Circuit:
    """A plain n-qubit parameterised circuit with the given angles (L, n, R)."""
    c = circuits.Circuit(n)
    for l in range(angles.shape[0]):
        for q in range(n):
            for r, name in enumerate(rotations):
                c.append(name, q, (angles[l, q, r],))
        for q in range(n - 1):
            c.cx(q, q + 1)
        if entangler == "ring" and n > 2:
            c.cx(n - 1, 0)
    return c


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_every_layer_is_unitary(d):
    net = make(d)
    w = net.layer_unitaries(images(None))
    eye = torch.eye(w.shape[-1], dtype=C128)
    assert ((w.mH @ w) - eye).abs().max() < 1e-10
    v = net.interaction_unitaries()
    assert algebra.is_unitary(v, 1e-10)
    if d == 3:  # padded: V (+) I
        assert torch.allclose(v[:, 3, 3], torch.ones(2, dtype=C128)) and v[:, 3, :3].abs().max() == 0


def test_identity_interaction_equals_independent_circuits():
    d, n = 3, 3
    net = make(d, interaction="none", entangler="ring")
    x = images(None)
    angles = net.angles(x)[0]  # (L, d, n, R)
    states = net.circuit_states(x)
    for j in range(d):
        ref = circuits.simulate(single_circuit(angles[:, j], n, entangler="ring"), dtype=C128)
        assert (states[j] - ref).abs().max() < 1e-12
    # with interaction on but V = I (K = 0, as at initialisation) the joint states agree too
    net_v = make(d, interaction="global", entangler="ring")
    net_v.load_state_dict({k: v for k, v in net.state_dict().items()}, strict=False)
    with torch.no_grad():
        net_v.interaction_params.zero_()
    for s in range(d):
        js = net_v.joint_states(x, source=s).reshape(4, 2**n)
        assert (js[s] - states[s]).abs().max() < 1e-12
        assert js[torch.arange(4) != s].abs().max() < 1e-12
    # a zero interaction strength is V = I as well
    net_t = make(d, strength=0.0, learn_strength=False)
    assert torch.allclose(net_t.interaction_unitaries(), torch.eye(4, dtype=C128).expand(2, 4, 4))


def test_single_circuit_is_plain_pqc():
    net = make(1, n=4, layers=3)
    x = images(None)
    assert net.n_index == 0 and net.interaction_params is None
    ref = circuits.simulate(single_circuit(net.angles(x)[0, :, 0], 4), dtype=C128)
    assert (net.joint_states(x) - ref).abs().max() < 1e-12
    assert (net.circuit_states(x)[0] - ref).abs().max() < 1e-12


@pytest.mark.parametrize(("d", "form"), [(2, {}), (3, {}), (4, {}),
                                         (3, {"interaction": "controlled", "placement": "end", "interaction_init": 0.5})])
def test_to_circuit_matches_joint_states_ours_and_qiskit(d, form):
    from qiskit.quantum_info import Statevector

    from qcstar.circuits.interop import to_qiskit

    net = make(d, **form)
    x = images(None, seed=d)
    for s in range(d):
        js = net.joint_states(x, source=s)
        circ = net.to_circuit(x, source=s)
        assert circ.n_qubits == 3 + net.n_index
        ours = circuits.simulate(circ, dtype=C128)
        assert (ours - js).abs().max() < 1e-12
        sv = torch.as_tensor(Statevector(to_qiskit(circ)).data)
        assert (sv - js).abs().max() < 1e-10


@pytest.mark.parametrize("d", [2, 4])
def test_hardware_form_equals_multiplexed_form(d):
    net = make(d, rotations=("RY", "RZ", "RX"))
    x = images(None)
    u_mux = unitary_matrix(net.to_circuit(x, form="multiplexed"))
    hw = net.to_circuit(x, form="hardware")
    assert not any(op.mux for op in hw.ops)
    names = {op.name for op in hw.ops}
    assert names <= {"ry", "rz", "h", "cx", "u", "unitary"}
    assert (unitary_matrix(hw) - u_mux).abs().max() < 1e-10


def test_gray_code_multiplexor_exact():
    g = torch.Generator().manual_seed(3)
    for k in (1, 2, 3):
        for name in ("ry", "rz"):
            ang = torch.rand(2**k, generator=g, dtype=torch.float64) * 6
            mux = circuits.Circuit(k + 1).mux(name, ang, target=0, controls=list(range(1, k + 1)))
            dec = circuits.Circuit(k + 1).extend(gray_code_multiplexor(name, ang, 0, list(range(1, k + 1))))
            assert (unitary_matrix(mux) - unitary_matrix(dec)).abs().max() < 1e-12


def test_gradcheck_tiny_net():
    net = make(2, n=2, layers=2, angle_net="linear")
    x = images(2, seed=5)
    params = [p for p in net.parameters()]

    def fn(*ps):
        return torch.func.functional_call(net, dict(zip([k for k, _ in net.named_parameters()], ps)), (x,))

    assert torch.autograd.gradcheck(fn, tuple(p.detach().clone().requires_grad_(True) for p in params),
                                    eps=1e-6, atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("interaction", ["none", "global"])
def test_batched_equals_per_sample(interaction):
    net = make(3, interaction=interaction, readout="probs", combine="linear")
    x = images(4)
    out = net(x)
    r = net.readout(x)
    for i in range(4):
        assert torch.allclose(out[i], net(x[i]), atol=1e-12)
        assert torch.allclose(r[i], net.readout(x[i]), atol=1e-12)
        assert torch.allclose(net.states(x)[i], net.states(x[i]), atol=1e-12)


def test_readout_diagonal_equals_per_circuit_expectations():
    d, n = 3, 3
    net = make(d)
    x = images(2)
    r = net.readout(x)  # (B, d, d, n)
    assert torch.allclose(r, r.transpose(1, 2).conj(), atol=1e-12)  # Hermitian
    for s in range(d):
        js = net.joint_states(x, source=s)
        for q in range(n):
            z = circuits.expectation(js, {q: "Z"})
            assert torch.allclose(r[:, s, s, q].real, z, atol=1e-12)
    assert torch.allclose(torch.diagonal(r, dim1=1, dim2=2).real.transpose(1, 2), net.features(x), atol=1e-12)
    # without interaction the diagonal is each circuit's own expectation
    net0 = make(d, interaction="none")
    cs = net0.circuit_states(x)
    f0 = net0.features(x)
    for j in range(d):
        assert torch.allclose(f0[:, j, 0], circuits.expectation(cs[:, j], {0: "Z"}), atol=1e-12)


def test_tasks_mode_shapes_and_independence():
    net = make(2, mode="tasks", interaction="none")
    x = images(3, d=2)
    out = net(x)
    assert out.shape == (3, 2, 10)
    x2 = x.clone()
    x2[:, 1] = images(3, seed=9)[:, :]
    out2 = net(x2)
    assert torch.allclose(out[:, 0], out2[:, 0])  # task 0 does not see task 1's image without interaction
    with pytest.raises(ShapeError):
        net(images(3))


def test_bad_arguments():
    with pytest.raises(QcstarError):
        QCStarNet(n_qubits=2, n_circuits=2, n_layers=1, entangler="star")
    with pytest.raises(ConfigError):  # issue 8: configuration mistakes are ConfigError (was ShapeError)
        QCStarNet(n_qubits=0, n_circuits=2, n_layers=1)
    net = make(2)
    with pytest.raises(ShapeError):
        net(torch.rand(3, 5, 5))
    with pytest.raises(QcstarError):
        net.circuit_states(images(1))


def test_identity_interaction_is_a_stationary_point():
    """At K = 0 (V = I) the gradient of the diagonal readout w.r.t. K vanishes exactly; a small
    random start (interaction_init) makes interaction trainable. E1 depends on this."""
    x = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 10
    for init, zero in ((0.0, True), (0.05, False)):
        net = QCStarNet(n_qubits=3, n_circuits=2, n_layers=2, in_shape=(8, 8), interaction="global",
                        interaction_init=init, seed=0, dtype=torch.complex128)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        (grad,) = torch.autograd.grad(loss, [net.interaction_params])
        assert (float(grad.abs().max()) < 1e-12) is zero


# -- every option: builds, trains one step, exports a circuit equal to its states ----------------

_OPTIONS = [
    {},
    {"angle_net": "mlp", "hidden": 5},
    {"angle_net": "cnn"},
    {"entangler": "none"},
    {"entangler": "ring"},
    {"combine": "linear"},
    {"readout": "probs"},
    {"readout": "probs", "combine": "linear"},
    {"mode": "tasks"},
    {"mode": "tasks", "interaction": "none"},
    {"max_chunk": 1},
    {"max_chunk": 2},
    {"rotations": ("RX",)},
    {"rotations": ("RZ", "RX", "RY")},
    {"interaction": "none"},
    {"strength": 0.7},
    {"strength": 0.7, "learn_strength": False},
    {"interaction_init": 0.1},
    {"dtype": torch.complex64},
    {"n_circuits": 1},
    {"n_circuits": 2, "n_qubits": 1},
    {"interaction": "controlled"},
    {"interaction": "controlled", "n_circuits": 2},
    {"interaction": "controlled", "n_circuits": 4, "control_qubit": 2, "rotations": ("RX", "RY")},
    {"interaction": "controlled", "placement": "end", "strength": 0.5},
    {"interaction": "controlled", "placement": "start", "readout": "full"},
    {"placement": "start"},
    {"placement": "end", "n_layers": 3},
    {"readout": "full"},
    {"readout": "full", "combine": "linear"},
    {"readout": "full", "mode": "tasks"},
    {"readout": "full", "interaction": "none"},
    {"readout": "inner"},
    {"readout": "inner", "interaction": "controlled"},
    {"readout": "inner", "interaction": "none"},
]


@pytest.mark.parametrize("options", _OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_every_option_trains_and_exports(options):
    kw = {"n_qubits": 3, "n_circuits": 3, "n_layers": 2, "in_shape": (4, 4), "dtype": C128, "seed": 0,
          "interaction_init": 0.2, **options}
    net = QCStarNet(**kw)
    d = net.n_circuits
    x = images(2, d=d if net.mode == "tasks" else None)
    logits = net(x)
    assert logits.shape == ((2, d, 10) if net.mode == "tasks" else (2, 10))
    torch.nn.functional.cross_entropy(logits.reshape(-1, 10), torch.arange(logits.reshape(-1, 10).shape[0]) % 10).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    tol = 1e-5 if net.dtype == torch.complex64 else 1e-11
    states = net.states(x[0]).to(C128)  # row s: the joint state from |s>_index
    for form, sources in (("multiplexed", range(d)), ("hardware", [d - 1])):
        for s in sources:
            psi = circuits.simulate(net.to_circuit(x[0], form=form, source=s), dtype=C128)
            assert (psi - states[s]).abs().max() < tol, (form, s)
    # the template is the one structure behind both the forward pass and the export
    bound = bind_template(net.template_circuit(), net.template_values(x[:1])[0].detach(),
                          matrices=[v.detach() for v in net.template_matrices()])
    assert (circuits.simulate(bound, dtype=C128) - states[0]).abs().max() < tol


def test_features_are_the_algebra_readout_of_the_states():
    net = make(3, readout="probs")
    x = images(2)
    X = algebra.from_states(net.states(x))  # (B, 2**a * 2**n, d)
    blocked = X.unflatten(1, (net.n_padded, 2**net.n_qubits))
    assert torch.allclose(net.features(x), algebra.readout_diagonal(blocked, None, index_blocks=True), atol=1e-12)
    assert torch.allclose(net.features(x), algebra.readout_diagonal(X, algebra.probs_table(3)), atol=1e-12)
    with pytest.raises(ShapeError, match="index_blocks"):
        algebra.readout_diagonal(X, None)


def test_configuration_mistakes_are_config_errors():
    base = {"n_qubits": 2, "n_circuits": 2, "n_layers": 1}
    for bad in ({"rotations": ("RY", "CX")}, {"rotations": ()}, {"dtype": torch.float32}, {"angle_net": "rnn"},
                {"angle_net": 3}, {"strength": float("nan")}, {"interaction_init": -1.0}, {"max_chunk": 0},
                {"n_layers": 1.5}, {"n_circuits": True}, {"in_shape": (8, 0)}, {"in_shape": (64,), "angle_net": "cnn"},
                {"mode": None}, {"device": "no-such-device"}, {"seed": "0"}, {"seed": 1.5}, {"learn_strength": "no"}):
        with pytest.raises(ConfigError):
            QCStarNet(**{**base, **bad})
    net = make(2)
    with pytest.raises(ConfigError, match="source"):
        net.joint_states(images(1), source=2)
    with pytest.raises(ConfigError, match="form"):
        net.to_circuit(images(None), form="dense")


def test_export_of_a_complex64_net_has_exactly_unitary_interactions():
    """A complex64 net exports V_l computed in complex128: unitary to ~1e-15, not a cast-up complex64
    matrix (unitary to ~1e-6, which a complex128 circuit refuses). `make demo` once failed on this."""
    from qcstar.circuits.linalg import unitarity_error

    net = QCStarNet(n_qubits=3, n_circuits=4, n_layers=3, n_classes=2, in_shape=(4, 4), interaction_init=1.0,
                    seed=0, dtype=torch.complex64)
    with torch.no_grad():
        net.interaction_params.mul_(3.0)  # a strongly mixing interaction, as after training
    c = net.to_circuit(torch.rand(4, 4))
    mats = [op.matrix for op in c.ops if op.name == "unitary"]
    assert mats and max(unitarity_error(m) for m in mats) < 1e-12
    assert unitarity_error(net.interaction_unitaries().to(torch.complex128)) > 1e-9  # the cast would not do
    psi = circuits.simulate(c, dtype=torch.complex128)
    assert abs(float(psi.abs().pow(2).sum()) - 1.0) < 1e-12


# -- issue 13: readouts that use all of R, controlled interaction, placement ---------------------

_FORMS = [{"interaction": "global", "placement": p} for p in ("all", "start", "end")] + [
    {"interaction": "controlled", "placement": p} for p in ("all", "start", "end")]


def _kron_index(v: torch.Tensor, diag_sys: torch.Tensor) -> torch.Tensor:
    """``v (x) diag(diag_sys)`` in the joint layout (index register most significant)."""
    return torch.kron(v, torch.diag(diag_sys.to(v.dtype)))


@pytest.mark.parametrize("form", _FORMS, ids=lambda f: f"{f['interaction']}-{f['placement']}")
def test_every_form_is_unitary_and_is_the_documented_product(form):
    """W_l = (interaction) . blockdiag(U_l,j): with (V_l (x) I) for "global", with
    |0><0|_q (x) I + |1><1|_q (x) V_l for "controlled", and only after the placed layers."""
    d, n, L = 3, 3, 3
    net = make(d, n=n, layers=L, interaction_init=0.4, control_qubit=1, **form)
    plain = make(d, n=n, layers=L, interaction="none")
    plain.load_state_dict(net.state_dict(), strict=False)
    x = images(None)
    w, w0 = net.layer_unitaries(x), plain.layer_unitaries(x)
    eye = torch.eye(w.shape[-1], dtype=C128)
    assert ((w.mH @ w) - eye).abs().max() < 1e-10
    v = net.interaction_unitaries()
    assert algebra.is_unitary(v, 1e-10) and v.shape[0] == len(net.interaction_layers)
    bit = ((torch.arange(2**n) >> 1) & 1).to(torch.float64)  # control qubit 1
    for l in range(L):
        if l not in net.interaction_layers:
            assert (w[l] - w0[l]).abs().max() < 1e-12
            continue
        vl = v[net.interaction_layers.index(l)]
        if form["interaction"] == "global":
            outer = torch.kron(vl, torch.eye(2**n, dtype=C128))
        else:
            outer = _kron_index(torch.eye(4, dtype=C128), 1 - bit) + _kron_index(vl, bit)
        assert (w[l] - outer @ w0[l]).abs().max() < 1e-12
        assert (w[l] - w0[l]).abs().max() > 1e-3  # it does interact


def test_controlled_interaction_with_the_control_off_is_no_interaction():
    """Rows where the control qubit is |0> (after the layer) are exactly the independent circuits'."""
    net = make(4, n=3, layers=2, interaction="controlled", interaction_init=1.0)
    plain = make(4, n=3, layers=2, interaction="none")
    plain.load_state_dict(net.state_dict(), strict=False)
    x = images(None)
    w, w0 = net.layer_unitaries(x), plain.layer_unitaries(x)
    off = ((torch.arange(4 * 8) & 1) == 0)  # control qubit 0 is |0>
    assert (w[:, off] - w0[:, off]).abs().max() < 1e-12
    assert (w[:, ~off] - w0[:, ~off]).abs().max() > 1e-2


@pytest.mark.parametrize(("form", "readout"), list(zip(_FORMS, ["z", "full", "inner", "inner", "z", "full"])),
                         ids=lambda v: f"{v['interaction']}-{v['placement']}" if isinstance(v, dict) else v)
def test_identity_interaction_equals_independent_circuits_for_every_form(form, readout):
    """interaction_init = 0 is V = I exactly (controlled: zero eigenphases), whatever the form,
    placement and readout: the same logits as the net without interaction."""
    kw = dict(n_qubits=3, n_circuits=3, n_layers=3, in_shape=(4, 4), dtype=C128, seed=0, readout=readout)
    net = QCStarNet(**kw, interaction_init=0.0, **form)
    plain = QCStarNet(**kw, interaction="none")
    plain.load_state_dict(net.state_dict(), strict=False)
    x = images(3)
    assert torch.allclose(net.interaction_unitaries(), torch.eye(4, dtype=C128).expand(len(net.interaction_layers), 4, 4))
    assert (net(x) - plain(x)).abs().max() < 1e-12
    for s in range(3):
        js = net.joint_states(x[0], source=s).reshape(4, 8)
        assert (js[s] - plain.circuit_states(x[0])[s]).abs().max() < 1e-12


@pytest.mark.parametrize("interaction", ["global", "controlled"])
def test_identity_is_stationary_only_for_the_diagonal_readout(interaction):
    """At V = I the gradient w.r.t. the global interaction vanishes for diag(R) ("z", "probs"; E1
    measured 1.8e-17) but not for the readouts that see the off-diagonal entries of R ("full",
    "inner"). The controlled form is never stationary: to first order its V_l = I + i H_l adds
    the phase gate exp(i H_l[s, s]) on the control qubit of circuit s - a gate inside each
    circuit, not an exchange between circuits - so even diag(R) moves."""
    x = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 10
    for readout, zero in (("z", True), ("probs", True), ("full", False), ("inner", False)):
        zero = zero and interaction == "global"
        net = QCStarNet(n_qubits=3, n_circuits=2, n_layers=2, in_shape=(8, 8), interaction=interaction,
                        interaction_init=0.0, readout=readout, seed=0, dtype=torch.complex128)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        p = net.interaction_params if interaction == "global" else net.interaction_phases
        (grad,) = torch.autograd.grad(loss, [p])
        assert (float(grad.abs().max()) < 1e-12) is zero, readout
        if not zero:
            assert float(grad.abs().max()) > 1e-5, readout


def test_full_and_inner_readouts_are_read_from_the_algebra_readout():
    kw = dict(n_qubits=3, n_circuits=3, n_layers=2, in_shape=(4, 4), dtype=C128, seed=0, interaction_init=0.5)
    x = images(2)
    full = QCStarNet(**kw, readout="full")
    r = full.readout(x)  # (B, d, d, n), Hermitian in (d, d)
    assert r.shape == (2, 3, 3, 3) and (r - r.transpose(1, 2).conj()).abs().max() < 1e-12
    X = algebra.from_states(full.states(x))
    assert torch.allclose(r, algebra.readout(X, algebra.z_table(3), diagonal=True), atol=1e-12)
    f = full.features(x).reshape(2, 3, 3, 2, 3)  # circuit s: (Re R[s, t, k], Im R[s, t, k]) for every t
    assert torch.allclose(f[..., 0, :], r.real) and torch.allclose(f[..., 1, :], r.imag)
    assert r[..., 0, 1, :].abs().max() > 1e-3  # interference between circuits is present
    inner = QCStarNet(**kw, readout="inner")
    a = torch.complex(*inner.readout_element.detach())
    ri = inner.readout(x)
    want = torch.einsum("ts,btsk->bsk", a.conj(), ri).real
    assert torch.allclose(inner.features(x), want, atol=1e-12)
    # a = I is the diagonal readout
    z = QCStarNet(**kw, readout="z")
    z.load_state_dict(inner.state_dict(), strict=False)
    with torch.no_grad():
        inner.readout_element.copy_(torch.stack([torch.eye(3), torch.zeros(3, 3)]))
    assert torch.allclose(inner.features(x), z.features(x), atol=1e-12)


def test_new_options_round_trip_through_a_checkpoint(tmp_path):
    from qcstar import train

    net = QCStarNet(n_qubits=2, n_circuits=3, n_layers=2, n_classes=3, in_shape=(4, 4), seed=0,
                    interaction="controlled", placement="end", control_qubit=1, readout="inner", interaction_init=0.3)
    config = train.model_config(net)
    assert config["interaction"] == "controlled" and config["placement"] == "end" and config["control_qubit"] == 1
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(24, 4, 4, generator=g), torch.randint(0, 3, (24,), generator=g)
    data = {"train": (x[:16], y[:16]), "test": (x[16:], y[16:])}
    train.fit(net, data, epochs=1, batch_size=8, out_dir=tmp_path, progress=False, select="last")
    rebuilt = train.load_model(tmp_path / train.CHECKPOINT)
    assert (rebuilt.interaction, rebuilt.placement, rebuilt.control_qubit, rebuilt.readout_kind) == (
        "controlled", "end", 1, "inner")
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net.eval()(x))


def test_new_option_mistakes_are_config_errors():
    base = {"n_qubits": 2, "n_circuits": 2, "n_layers": 2}
    for bad in ({"interaction": "local"}, {"readout": "offdiag"}, {"placement": "middle"}, {"control_qubit": 2},
                {"control_qubit": -1}, {"control_qubit": True}, {"placement": "end", "n_layers": 1}):
        with pytest.raises(ConfigError):
            QCStarNet(**{**base, **bad})
