"""The quantum circuit C*-algebra net (arXiv:2404.06218; see the README's "qcstar" section).

d circuits of n qubits form one unitary on C^(2**a) (x) C^(2**n), a = ceil(log2 d) index
qubits above the n system qubits. Layer l is

    W_l = (V_l (x) I_(2**n)) . sum_j |j><j| (x) U_(l,j)(x)

where U_(l,j)(x) = entangler . prod_q R_q(theta_(l,j,q)(x)) is circuit j's layer (rotations
with data-dependent angles from a classical ``angle_net``, then a shared CX ladder/ring), and
V_l = exp(t_l (K_l - K_l^H)) is the interaction, a d x d unitary with K_l = 0 at
initialisation (V_l = I: the d circuits are independent). d that is not a power of two is
padded to 2**a with identity circuits and V_l (+) I. Other forms (``interaction="controlled"``:
V_l conditioned on a system qubit; ``placement``: V only after the first or before the last
layer) and readouts that use the whole of R (``readout="full"`` / ``"inner"``) are options;
the README's "Interaction" section says what the E1/E1b experiments found about them.

One structure, one path: the net is a *template* circuit (:meth:`QCStarNet.template_circuit`,
see :mod:`qcstar.circuits.template`) of rotations multiplexed over the index register, CX
entanglers and one matrix slot per V_l. :meth:`QCStarNet.template_values` maps images to its
values. The forward pass runs that template on the columns of the A-valued state with
:func:`qcstar.circuits.register.simulate_columns` (the simulator's kernels) and reads out with
:func:`qcstar.algebra.readout_diagonal`; :meth:`QCStarNet.to_circuit` is
``bind_template`` of the same template and values, so export and training cannot drift apart.
Joint index of one column = c * 2**n + x (index register most significant, Qiskit's order).

Example::

    net = QCStarNet(n_qubits=4, n_circuits=3, n_layers=2, n_classes=10, in_shape=(8, 8))
    logits = net(torch.rand(5, 8, 8))           # (5, 10)
    R = net.readout(torch.rand(5, 8, 8))        # (5, 3, 3, 4): A-valued <Z_q>
    c = net.to_circuit(torch.rand(8, 8))        # circuits.Circuit on 4 + 2 qubits
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from qcstar.circuits.decompose import multiplexed_rotation, one_qubit_rotations
from qcstar.circuits.devices import resolve_device
from qcstar.circuits.entanglers import ENTANGLERS, entangler_pairs
from qcstar.circuits.errors import ConfigError, DataError, ShapeError
from qcstar.circuits.ir import Circuit, Op
from qcstar.circuits.register import ColumnProgram, column_states
from qcstar.circuits.resources import check_memory, state_bytes
from qcstar.circuits.statevector import unitary_matrix
from qcstar.circuits.template import bind_template

from . import algebra

Tensor = torch.Tensor

__all__ = ["QCStarNet", "LinearAngles", "MLPAngles", "CNNAngles"]

_ROTATIONS = ("rx", "ry", "rz")
#: interaction forms: none, V_l (x) I on the index register, or V_l conditioned on a system qubit
INTERACTIONS = ("none", "global", "controlled")
#: readouts: diag(R) of <Z_q> or of the Born probabilities, every entry of R (Z_q), <a, R> (Z_q)
READOUTS = ("z", "probs", "full", "inner")
#: where V_l acts: after every layer, only after the first, only before the last
PLACEMENTS = ("all", "start", "end")
# --------------------------------------------------------------------------------------
# classical angle networks: images (B, *in_shape) -> angles (B, L, d, n, R)
# --------------------------------------------------------------------------------------

class _AngleNet(nn.Module):
    def __init__(self, out_shape: Sequence[int]):
        super().__init__()
        self.out_shape = tuple(int(s) for s in out_shape)
        self.out_features = int(np.prod(self.out_shape))

    def _shape(self, y: Tensor) -> Tensor:
        return y.reshape(y.shape[0], *self.out_shape)


class LinearAngles(_AngleNet):
    """angles = W . flatten(x) + b, reshaped to ``out_shape`` (default angle net).

    Example::

        LinearAngles(in_features=64, out_shape=(2, 3, 4, 2))(torch.rand(5, 8, 8)).shape  # (5, 2, 3, 4, 2)
    """

    def __init__(self, *, in_features: int, out_shape: Sequence[int]):
        super().__init__(out_shape)
        self.linear = nn.Linear(in_features, self.out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self._shape(self.linear(x.flatten(1)))


class MLPAngles(_AngleNet):
    """A one-hidden-layer MLP (tanh) from the flattened image to the angles."""

    def __init__(self, *, in_features: int, out_shape: Sequence[int], hidden: int = 64):
        super().__init__(out_shape)
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, self.out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self._shape(self.net(x.flatten(1)))


class CNNAngles(_AngleNet):
    """A small CNN (two 3x3 convolutions, the second with stride 2, then a linear layer)."""

    def __init__(self, *, in_shape: Sequence[int], out_shape: Sequence[int], channels: int = 8):
        super().__init__(out_shape)
        h, w = (int(s) for s in in_shape[-2:])
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.linear = nn.Linear(2 * channels * ((h + 1) // 2) * ((w + 1) // 2), self.out_features)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self._shape(self.linear(self.conv(x).flatten(1)))


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"QCStarNet: {key} must be a positive int, got {value!r}")
    return int(value)


def _resolve_device(device: Any) -> torch.device | None:
    """``device`` as a torch.device this torch can use, else :class:`ConfigError` (None stays None)."""
    try:
        return resolve_device(device)
    except ConfigError as exc:
        raise ConfigError(f"QCStarNet: {exc}") from None


# --------------------------------------------------------------------------------------
# the net
# --------------------------------------------------------------------------------------

class QCStarNet(nn.Module):
    """Quantum circuit C*-algebra net: d interacting n-qubit circuits, exactly simulated.

    Keyword-only arguments:

    * ``n_qubits`` (n), ``n_circuits`` (d), ``n_layers`` (L);
    * ``rotations``: gate names per qubit and layer, applied in order (default ``("RY", "RZ")``);
    * ``entangler``: ``"ladder"`` (CX(q, q+1) for q = 0..n-2), ``"ring"`` (plus CX(n-1, 0)) or
      ``"none"``; shared by all circuits;
    * ``interaction``: ``"global"`` (V_l (x) I on the index register), ``"controlled"`` (V_l
      applied only where system qubit ``control_qubit`` is |1>: |0><0|_q (x) I + |1><1|_q (x) V_l,
      so what the circuits exchange depends on their state; V_l = W_l diag(e^(i phi_l)) W_l^H)
      or ``"none"``;
    * ``placement``: where V_l acts: ``"all"`` (after every layer), ``"start"`` (only after
      the first layer) or ``"end"`` (only before the last layer). A V after the last layer
      changes the joint state but never a readout of system observables (it commutes with them),
      so "end" is the last place where interaction can act; "start"/"end" need L >= 2;
    * ``interaction_init``: the initial strength: standard deviation of the initial K_l entries
      ("global") or eigenphases phi_l ("controlled"); default 0: V_l = I exactly (then the net
      equals d independent circuits). V = I is a stationary point of the diagonal readouts "z"
      and "probs" - the gradient with respect to the interaction is exactly zero there - so
      gradient training never leaves it unless it starts off I or the readout is "full"/"inner";
    * ``strength``: ``None`` or the initial value of a per-interaction scalar t_l,
      V_l = exp(t_l (K_l - K_l^H)) (controlled: phases t_l phi_l); ``learn_strength`` makes it trainable;
    * ``control_qubit``: the system qubit of ``interaction="controlled"`` (default 0);
    * ``angle_net``: an ``nn.Module`` mapping images ``(B, *in_shape)`` to angles
      ``(B, L, d, n, len(rotations))``, or ``"linear"`` / ``"mlp"`` / ``"cnn"``;
    * ``readout``: what of the A-valued readout R = X^H (O (x) I_d) X the head sees: ``"z"``
      (its diagonal for O = Z_q on each system qubit, n_obs = n), ``"probs"`` (its diagonal for
      the Born probabilities of the 2**n basis states), ``"full"`` (every entry of R for O = Z_q:
      circuit s gets row s, real and imaginary parts, 2 d n features; the off-diagonal entries are
      the interference between circuits, zero without interaction) or ``"inner"`` (the A-valued
      inner product <a, R_k> = a^H R_k with a learned a in A = M_d(C), Z_q observables: circuit s
      gets Re (a^H R_k)[s, s]; a = I is "z");
    * ``combine``: ``"mean"`` (each circuit has its own affine head; logits averaged) or
      ``"linear"`` (one linear head on the concatenated d * F features);
    * ``mode``: ``"shared"`` (every circuit sees the same image: ``x (B, *in_shape)`` ->
      logits ``(B, n_classes)``) or ``"tasks"`` (circuit j gets its own image and head:
      ``x (B, d, *in_shape)`` -> logits ``(B, d, n_classes)``);
    * ``n_classes``, ``in_shape`` (image shape, default (8, 8)), ``dtype`` (complex64 or
      complex128; real parameters use the matching float type), ``seed`` (parameter init),
      ``max_chunk`` (largest Kronecker chunk of system qubits in the simulation), ``device``
      (where the parameters live: ``"cpu"``, ``"cuda"``, ...; checked at construction).

    Errors: a wrong option raises :class:`~qcstar.circuits.errors.ConfigError`; images of the
    wrong shape, complex images or an empty batch raise ``ShapeError``; NaN or infinite pixels
    raise ``DataError``. Memory (``qcstar.circuits.resources``): construction refuses a net whose
    parameters or the simulation of ONE sample do not fit the memory cap; every forward pass
    checks its actual batch before simulating.

    Example::

        net = QCStarNet(n_qubits=6, n_circuits=4, n_layers=3, n_classes=10, in_shape=(8, 8))
        net(torch.rand(32, 8, 8)).shape       # (32, 10)
    """

    def __init__(
        self,
        *,
        n_qubits: int,
        n_circuits: int,
        n_layers: int,
        n_classes: int = 10,
        rotations: Sequence[str] = ("RY", "RZ"),
        entangler: str = "ladder",
        interaction: str = "global",
        strength: float | None = None,
        learn_strength: bool = True,
        angle_net: nn.Module | str = "linear",
        readout: str = "z",
        combine: str = "mean",
        mode: str = "shared",
        in_shape: Sequence[int] = (8, 8),
        hidden: int = 64,
        dtype: torch.dtype = torch.complex64,
        seed: int | None = None,
        max_chunk: int = 4,
        interaction_init: float = 0.0,
        device: str | torch.device | None = None,
        placement: str = "all",
        control_qubit: int = 0,
    ):
        super().__init__()
        n = _positive_int("n_qubits", n_qubits)
        d = _positive_int("n_circuits", n_circuits)
        L = _positive_int("n_layers", n_layers)
        n_classes = _positive_int("n_classes", n_classes)
        hidden = _positive_int("hidden", hidden)
        max_chunk = _positive_int("max_chunk", max_chunk)
        if isinstance(rotations, str):
            rotations = (rotations,)
        rots = tuple(str(r).lower() for r in rotations)
        if not rots or any(r not in _ROTATIONS for r in rots):
            raise ConfigError(f"QCStarNet: rotations must be a non-empty sequence of RX/RY/RZ, got {tuple(rotations)}")
        choices = {
            "entangler": (entangler, ENTANGLERS),
            "interaction": (interaction, INTERACTIONS),
            "readout": (readout, READOUTS),
            "placement": (placement, PLACEMENTS),
            "combine": (combine, ("mean", "linear")),
            "mode": (mode, ("shared", "tasks")),
        }
        for key, (val, ok) in choices.items():
            if not isinstance(val, str) or val not in ok:
                raise ConfigError(f"QCStarNet: {key} must be one of {ok}, got {val!r}")
        if dtype not in (torch.complex64, torch.complex128):
            raise ConfigError(f"QCStarNet: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        try:
            shape = tuple(_positive_int("in_shape entries", s) for s in in_shape)
        except TypeError as exc:
            raise ConfigError(f"QCStarNet: in_shape must be a sequence of positive ints, got {in_shape!r}") from exc
        if not shape:
            raise ConfigError("QCStarNet: in_shape must name at least one axis, e.g. (8, 8)")
        for key, val in (("strength", strength), ("interaction_init", interaction_init)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val)):
                raise ConfigError(f"QCStarNet: {key} must be a finite number, got {val!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ConfigError(f"QCStarNet: seed must be an int or None, got {seed!r}")
        if not isinstance(learn_strength, bool):
            raise ConfigError(f"QCStarNet: learn_strength must be True or False, got {learn_strength!r}")
        if interaction_init < 0:
            raise ConfigError(f"QCStarNet: interaction_init is a standard deviation (>= 0), got {interaction_init!r}")
        if isinstance(angle_net, str) and angle_net not in ("linear", "mlp", "cnn"):
            raise ConfigError(f"QCStarNet: angle_net must be an nn.Module or 'linear'/'mlp'/'cnn', got {angle_net!r}")
        if not isinstance(angle_net, (str, nn.Module)):
            raise ConfigError(f"QCStarNet: angle_net must be an nn.Module or 'linear'/'mlp'/'cnn', got {type(angle_net).__name__}")
        if angle_net == "cnn" and len(shape) != 2:
            raise ConfigError(f"QCStarNet: angle_net='cnn' needs 2-d images, in_shape=(H, W); got in_shape={shape}")
        if isinstance(control_qubit, bool) or not isinstance(control_qubit, (int, np.integer)) or not 0 <= control_qubit < n:
            raise ConfigError(f"QCStarNet: control_qubit must be a system qubit in 0..{n - 1}, got {control_qubit!r}")
        if placement != "all" and L < 2:
            raise ConfigError(
                f"QCStarNet: placement={placement!r} puts V between two layers and needs n_layers >= 2, got {L} "
                "(a V after the last layer cannot change the readout); use placement='all'"
            )
        dev = _resolve_device(device)
        self.n_qubits = n
        self.n_circuits = d
        self.n_layers = L
        self.n_classes = n_classes
        self.rotations = rots
        self.entangler = entangler
        self.interaction = interaction
        self.readout_kind = readout
        self.combine = combine
        self.mode = mode
        self.in_shape = shape
        self.dtype = dtype
        self.real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
        self.n_index = a = algebra.n_index_qubits(d)
        self.n_padded = 2**a
        self.max_chunk = max_chunk
        self.placement = placement
        self.control_qubit = int(control_qubit)
        self.n_obs = 2**n if readout == "probs" else n
        # features per circuit: row s of R (real and imaginary parts) for "full", else diag(R)
        self.n_features = 2 * d * self.n_obs if readout == "full" else self.n_obs
        self.has_interaction = interaction != "none" and d > 1
        # layers after which V acts: every layer, or one between two layers (where it can act)
        self.interaction_layers = tuple(range(L)) if placement == "all" else ((0,) if placement == "start" else (L - 2,))
        self._check_construction_memory(angle_net, hidden)

        gen = None
        if seed is not None:
            gen = torch.random.fork_rng(devices=[])
            gen.__enter__()
            torch.manual_seed(int(seed))
        try:
            out_shape = (L, d, n, len(rots))
            in_features = math.prod(shape)
            if isinstance(angle_net, nn.Module):
                self.angle_net = angle_net
            elif angle_net == "linear":
                self.angle_net = LinearAngles(in_features=in_features, out_shape=out_shape)
            elif angle_net == "mlp":
                self.angle_net = MLPAngles(in_features=in_features, out_shape=out_shape, hidden=hidden)
            else:
                self.angle_net = CNNAngles(in_shape=shape, out_shape=out_shape)
            n_slots = len(self.interaction_layers)
            self.interaction_phases = None
            if self.has_interaction:
                # K_l = tril(P_l, -1) + i triu(P_l): d*d real parameters. "global": V_l = exp(K_l - K_l^H),
                # K_l = 0 at init (V_l = I). NB: V = I is a stationary point of the diagonal readout (mixing
                # moves amplitude into orthogonal blocks, a second-order effect), so gradients w.r.t. K vanish
                # there; interaction_init > 0 draws K with that standard deviation, and the "full" / "inner"
                # readouts see the first-order (off-diagonal) change of R.
                if interaction == "global":
                    p0 = torch.zeros(n_slots, d, d, dtype=self.real_dtype)
                    if interaction_init:  # no draw at 0: the other parameters keep their seeded values
                        p0 = float(interaction_init) * torch.randn(n_slots, d, d, dtype=self.real_dtype)
                else:
                    # "controlled": V_l = W_l diag(exp(i phi_l)) W_l^H with W_l = exp(K_l - K_l^H); W_l a random
                    # eigenbasis, phi_l (the strength) drawn at std interaction_init (0: V_l = I exactly)
                    p0 = torch.randn(n_slots, d, d, dtype=self.real_dtype)
                    self.interaction_phases = nn.Parameter(float(interaction_init) * torch.randn(n_slots, d, dtype=self.real_dtype))
                self.interaction_params = nn.Parameter(p0)
                if strength is not None:
                    t = torch.full((n_slots,), float(strength), dtype=self.real_dtype)
                    if learn_strength:
                        self.strength = nn.Parameter(t)
                    else:
                        self.register_buffer("strength", t)
                else:
                    self.strength = None
            else:
                self.interaction_params = None
                self.strength = None
            if readout == "inner":
                # the learned element a of A = M_d(C) of the readout Re diag(<a, R_k>) = Re diag(a^H R_k);
                # a = I is the diagonal readout, so a starts near I with off-diagonal entries (a = I, V = I
                # together would be a stationary point again)
                a0 = torch.eye(d, dtype=self.real_dtype) + 0.3 * torch.randn(d, d, dtype=self.real_dtype)
                self.readout_element = nn.Parameter(torch.stack([a0, 0.3 * torch.randn(d, d, dtype=self.real_dtype)]))
            else:
                self.readout_element = None
            if combine == "linear" and mode == "shared":
                self.head = nn.Linear(d * self.n_features, n_classes)
                self.head_weight = None
                self.head_bias = None
            else:
                self.head = None
                bound = 1.0 / math.sqrt(self.n_features)
                self.head_weight = nn.Parameter(torch.empty(d, self.n_features, n_classes).uniform_(-bound, bound))
                self.head_bias = nn.Parameter(torch.zeros(d, n_classes))
        finally:
            if gen is not None:
                gen.__exit__(None, None, None)
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)  # follows .to(device): where the net lives
        self.to(self.real_dtype)
        if readout != "probs":
            self.register_buffer("_table", algebra.z_table(n, dtype=self.real_dtype), persistent=False)
        else:  # Born probabilities: the identity table, never built (readout_diagonal's table=None)
            self._table = None
        self._template = self._build_template()
        self._program = ColumnProgram(self._template, n_register=a, max_chunk=max_chunk)
        self._columns: dict[tuple, Tensor] = {}
        if dev is not None:
            self.to(dev)

    def _check_construction_memory(self, angle_net: nn.Module | str, hidden: int) -> None:
        """Refuse, before allocating, a net whose parameters or whose simulation of one sample cannot fit."""
        n, d, L, a = self.n_qubits, self.n_circuits, self.n_layers, self.n_index
        real = 8 if self.dtype == torch.complex128 else 4
        angles = L * d * n * len(self.rotations)
        pixels = math.prod(self.in_shape)
        angle_params = {"linear": (pixels + 1) * angles, "mlp": (pixels + 1) * hidden + (hidden + 1) * angles,
                        "cnn": 2 * 8 * ((self.in_shape[-2] + 1) // 2) * ((self.in_shape[-1] + 1) // 2) * angles}
        count = (angle_params.get(angle_net, 0) if isinstance(angle_net, str) else 0)
        count += len(self.interaction_layers) * (d * d + d) if self.has_interaction else 0
        count += d * self.n_features * self.n_classes + d * self.n_classes + 2 * d * d
        placeholders = L * n * len(self.rotations) * 2**a  # the template's (float64) and its index tables (int64)
        check_memory(count * real + 16 * placeholders, f"the parameters of QCStarNet(n_qubits={n}, n_circuits={d}, n_layers={L})", factor=3)
        columns = d if self.has_interaction else 1
        bits = math.ceil(math.log2(columns)) if columns > 1 else 0
        passes = L * (math.ceil(n / self.max_chunk) + 2) + 2
        check_memory(
            state_bytes(n + a + bits, 1, itemsize=2 * real),
            f"simulating one sample of QCStarNet(n_qubits={n}, n_circuits={d}, n_layers={L}) ({n} + {a} qubits, "
            f"{columns} column(s), kept for the backward pass)",
            factor=passes,
        )

    # -- the template ------------------------------------------------------------
    def _build_template(self) -> Circuit:
        """One multiplexed rotation per (layer, qubit, rotation), CX entanglers, the interaction.

        Placeholders follow :meth:`template_values`: the angles ``(B, L, n, R, 2**a)`` flattened,
        then (``interaction="controlled"``) the eigenphases ``(S, 2**a)`` of the S interactions.
        "global" V_l is one matrix slot on the index register. "controlled" V_l (applied when
        system qubit q is |1>) is ``W_l . C-D_l . W_l^H`` with ``V_l = W_l D_l W_l^H``, and
        ``C-D_l = sum_c |c><c| (x) diag(1, e^(i phi_c))`` on qubit q is a multiplexed RZ(phi_c) on q
        times the index-register phase ``diag(e^(i phi_c / 2))``, folded into the slot of W_l: two
        matrix slots (W_l^H, W_l D_l^(1/2)) around one multiplexed RZ, all of which the column
        simulator and the exporters already run.
        """
        n, a, L, dp = self.n_qubits, self.n_index, self.n_layers, self.n_padded
        index = list(range(n, n + a))
        r_count = len(self.rotations)
        meta = {"qcstar": "QCStarNet", "n_system": n, "n_index": a, "n_circuits": self.n_circuits}
        circ = Circuit(n + a, metadata=meta)
        slots = []
        pairs = entangler_pairs(n, self.entangler)
        n_angles = L * n * r_count * dp
        bounds = []  # (first op, end op) of every layer
        for l in range(L):
            first = len(circ.ops)
            for q in range(n):
                for r, name in enumerate(self.rotations):
                    start = ((l * n + q) * r_count + r) * dp
                    idx = torch.arange(start, start + dp, dtype=torch.float64)
                    if a:
                        circ.mux(name, idx, target=q, controls=index)
                    else:
                        circ.append(Op(name, (q,), (idx[0],)))
            for c, t in pairs:
                circ.cx(c, t)
            if self.has_interaction and l in self.interaction_layers:
                eye = torch.eye(dp, dtype=torch.complex128)
                slots.append(len(circ.ops))
                circ.unitary(eye, index)
                if self.interaction == "controlled":
                    k = self.interaction_layers.index(l)
                    phases = torch.arange(n_angles + k * dp, n_angles + (k + 1) * dp, dtype=torch.float64)
                    circ.mux("rz", phases, target=self.control_qubit, controls=index)
                    slots.append(len(circ.ops))
                    circ.unitary(eye, index)
            bounds.append((first, len(circ.ops)))
        n_phases = len(self.interaction_layers) * dp if self.has_interaction and self.interaction == "controlled" else 0
        circ.metadata.update(template=True, n_parameters=n_angles + n_phases, matrix_slots=tuple(slots))
        self._layer_bounds = bounds
        return circ

    def template_circuit(self) -> Circuit:
        """The net's structure as a template on ``n + a`` qubits (index register on top).

        ``bind_template(net.template_circuit(), net.template_values(x), matrices=net.template_matrices())``
        is the multiplexed circuit of ``x`` (what :meth:`to_circuit` returns, without a source).
        """
        return self._template

    def template_values(self, x: Tensor) -> Tensor:
        """The template's values for images ``x``: ``(B, P)``: the angles, P = L * n * R * 2**a (padded
        circuits: 0), then for ``interaction="controlled"`` the eigenphases of every V_l (same in each row).

        Differentiable in the angle net's (and the phases') parameters.
        """
        xx, _ = self._check_input(x)
        return self._values(self._angles(xx))

    def _values(self, angles: Tensor) -> Tensor:
        pad = self.n_padded - self.n_circuits
        if pad:
            angles = torch.nn.functional.pad(angles, (0, 0, 0, 0, 0, pad))  # identity rotations
        values = angles.permute(0, 1, 3, 4, 2).reshape(angles.shape[0], -1)  # (B, L, n, R, dp)
        if self.interaction_phases is None:
            return values
        phases = self._phases(values.dtype).reshape(1, -1).expand(values.shape[0], -1)
        return torch.cat([values, phases], dim=1)

    def _phases(self, real: torch.dtype) -> Tensor:
        """Eigenphases of the controlled V_l, times the strength, padded: ``(S, 2**a)``."""
        phi = self.interaction_phases.to(real)
        if self.strength is not None:
            phi = phi * self.strength.to(real)[:, None]
        return torch.nn.functional.pad(phi, (0, self.n_padded - self.n_circuits))

    def template_matrices(self, *, dtype: torch.dtype | None = None) -> list[Tensor]:
        """The template's matrix slots, computed in ``dtype`` (default the net's): V_l for
        ``interaction="global"``, the pair (W_l^H, W_l D_l^(1/2)) for "controlled", none without
        interaction."""
        if not self.has_interaction:
            return []
        if self.interaction == "global":
            return list(self.interaction_unitaries(dtype=dtype).unbind(0))
        dtype = self.dtype if dtype is None else dtype
        w = self._padded(torch.linalg.matrix_exp(self._generators(dtype)), dtype)
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        half = torch.polar(torch.ones_like(self._phases(real)), self._phases(real) / 2).to(dtype)
        out = []
        for w_l, h_l in zip(w.unbind(0), half.unbind(0)):
            out += [w_l.mH.resolve_conj(), w_l * h_l[None, :]]  # a materialised W^H: exporters read its numbers
        return out

    # -- parameters --------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return self._anchor.device

    def interaction_unitaries(self, *, dtype: torch.dtype | None = None) -> Tensor:
        """V_l of every interaction, padded to the index register: ``(S, 2**a, 2**a)``; S = L for
        ``placement="all"``, else 1 (``(L, 2**a, 2**a)`` identities without interaction). For
        ``interaction="controlled"`` V_l is the unitary applied when the control qubit is |1>.

        ``dtype`` (default the net's) is the precision of the matrix exponential itself: an export
        asks for complex128, so that V_l is unitary to ~1e-15 rather than a complex64 result cast up
        (unitary only to ~1e-6, which complex128 circuits refuse)."""
        dtype = self.dtype if dtype is None else dtype
        L, dp = self.n_layers, self.n_padded
        if not self.has_interaction:
            return torch.eye(dp, dtype=dtype, device=self._device).expand(L, dp, dp)
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        gen = self._generators(dtype)
        if self.interaction == "controlled":
            w = torch.linalg.matrix_exp(gen)
            phi = self._phases(real)[:, : self.n_circuits]
            v = (w * torch.polar(torch.ones_like(phi), phi).to(dtype)[:, None, :]) @ w.mH
        else:
            if self.strength is not None:
                gen = gen * self.strength.to(real).to(dtype)[:, None, None]
            v = torch.linalg.matrix_exp(gen)  # (S, d, d)
        return self._padded(v, dtype)

    def _generators(self, dtype: torch.dtype) -> Tensor:
        """The skew-Hermitian K_l - K_l^H of every interaction: ``(S, d, d)``."""
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        p = self.interaction_params.to(real)
        k = torch.complex(torch.tril(p, -1), torch.triu(p)).to(dtype)
        return k - k.conj().transpose(-1, -2)

    def _padded(self, v: Tensor, dtype: torch.dtype) -> Tensor:
        """``(S, d, d)`` unitaries as ``V (+) I`` on the 2**a-dimensional index register."""
        if self.n_padded == self.n_circuits:
            return v
        d = self.n_circuits
        full = torch.eye(self.n_padded, dtype=dtype, device=self._device).repeat(v.shape[0], 1, 1)
        full[:, :d, :d] = v
        return full

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameter counts: angle net, interaction, head and total."""
        def count(params) -> int:
            return sum(p.numel() for p in params if p is not None and p.requires_grad)

        inter = count([self.interaction_params, self.interaction_phases,
                       self.strength if isinstance(self.strength, nn.Parameter) else None])
        head = count(list(self.head.parameters()) if self.head is not None else [self.head_weight, self.head_bias])
        angle = count(self.angle_net.parameters())
        return {"angle_net": angle, "interaction": inter, "head": head, "readout": count([self.readout_element]),
                "total": count(self.parameters())}

    # -- angles ------------------------------------------------------------------
    def _check_input(self, x: Any) -> tuple[Tensor, bool]:
        """Images as ``(B, [d,] *in_shape)`` in the net's real dtype and device, and whether one came unbatched."""
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(np.asarray(x))
            except (TypeError, ValueError, RuntimeError) as exc:
                raise ShapeError(f"QCStarNet expects a real array or tensor of images, got {type(x).__name__} ({exc})") from exc
        if x.is_complex():
            raise ShapeError(
                f"QCStarNet expects real-valued images, got a complex {tuple(x.shape)} tensor; pass x.real or x.abs()"
            )
        nd = len(self.in_shape)
        extra = 1 if self.mode == "tasks" else 0
        single = x.dim() == nd + extra and tuple(x.shape[extra:]) == self.in_shape and (not extra or x.shape[0] == self.n_circuits)
        if single:
            x = x.unsqueeze(0)
        elif x.dim() != nd + extra + 1 or tuple(x.shape[1 + extra:]) != self.in_shape:
            want = ("(B, d, " if extra else "(B, ") + ", ".join(str(s) for s in self.in_shape) + ")"
            raise ShapeError(
                f"QCStarNet ({self.mode} mode) expects images of shape {want}, got {tuple(x.shape)}"
                + ("; in 'tasks' mode every circuit gets its own image" if extra else "")
            )
        elif extra and x.shape[1] != self.n_circuits:
            raise ShapeError(f"'tasks' mode needs one image per circuit: x.shape[1] = {self.n_circuits}, got {x.shape[1]}")
        if x.shape[0] == 0:
            raise ShapeError(f"QCStarNet got an empty batch {tuple(x.shape)}; pass at least one image")
        x = x.to(device=self._device, dtype=self.real_dtype)
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0])
            raise DataError(
                f"QCStarNet: image {bad} of the batch holds NaN or infinite values in the net's {self.real_dtype} "
                "(float32 overflows beyond 3.4e38); clean, rescale or drop it first"
            )
        return x, single

    def angles(self, x: Tensor) -> Tensor:
        """Rotation angles ``(B, L, d, n, len(rotations))`` of the images ``x``."""
        x, _ = self._check_input(x)
        return self._angles(x)

    def _angles(self, x: Tensor) -> Tensor:
        L, d, n, r = self.n_layers, self.n_circuits, self.n_qubits, len(self.rotations)
        if self.mode == "shared":
            out = self.angle_net(x)
            if tuple(out.shape[1:]) != (L, d, n, r):
                raise ShapeError(f"angle_net must return (B, {L}, {d}, {n}, {r}), got {tuple(out.shape)}")
            return out
        b = x.shape[0]
        out = self.angle_net(x.flatten(0, 1))  # (B*d, L, d, n, r): circuit j keeps its own slice of image j
        if tuple(out.shape[1:]) != (L, d, n, r):
            raise ShapeError(f"angle_net must return (B, {L}, {d}, {n}, {r}), got {tuple(out.shape)}")
        out = out.view(b, d, L, d, n, r)
        return torch.diagonal(out, dim1=1, dim2=3).permute(0, 1, 4, 2, 3)  # (B, L, d, n, r)

    # -- simulation --------------------------------------------------------------
    def _input_columns(self, which: str | int) -> Tensor:
        """The columns the net starts from: ``"diag"`` (|s>_index |0> for every circuit s),
        ``"blocks"`` (one column, sum_c |c>|0>: without interaction block c evolves circuit c
        alone) or a source index s (|s>|0>)."""
        key = (which, self._device)
        hit = self._columns.get(key)
        if hit is None:
            n_total, a, d = self.n_qubits + self.n_index, self.n_index, self.n_circuits
            kw = dict(n_register=a, dtype=self.dtype, device=self._device)
            if which == "diag":
                hit = column_states(n_total, range(d), **kw)
            elif which == "blocks":
                hit = column_states(n_total, range(d), **kw).sum(0, keepdim=True)
            else:
                hit = column_states(n_total, [int(which)], **kw)
            self._columns[key] = hit
        return hit

    def _simulate(self, xx: Tensor, which: str | int) -> Tensor:
        """Columns ``(B, S, 2**a, 2**n)`` of the net's circuit for images ``xx`` (a view)."""
        return self._program.run(
            self._values(self._angles(xx)), columns=self._input_columns(which),
            matrices=self.template_matrices(), dtype=self.dtype,
        )

    # -- public outputs ----------------------------------------------------------
    def joint_states(self, x: Tensor, *, source: int = 0) -> Tensor:
        """Joint states ``(B, 2**(n+a))`` reached from ``|source>_index (x) |0...0>``; index c*2**n + x."""
        source = self._source(source)
        xx, single = self._check_input(x)
        psi = self._simulate(xx, source).reshape(xx.shape[0], -1)
        return psi[0] if single else psi

    def _source(self, source: Any) -> int:
        if isinstance(source, bool) or not isinstance(source, (int, np.integer)) or not 0 <= source < self.n_circuits:
            raise ConfigError(f"source must be a circuit index in 0..{self.n_circuits - 1}, got {source!r}")
        return int(source)

    def states(self, x: Tensor) -> Tensor:
        """Every source column of the A-valued state: ``(B, d, 2**(n+a))`` (row s = :meth:`joint_states` with source s)."""
        xx, single = self._check_input(x)
        out = self._simulate(xx, "diag").reshape(xx.shape[0], self.n_circuits, -1)
        return out[0] if single else out

    def circuit_states(self, x: Tensor) -> Tensor:
        """The d circuits' n-qubit states ``(B, d, 2**n)``; only without interaction (they are pure then)."""
        if self.has_interaction:
            raise ConfigError(
                "circuit_states needs interaction='none' (with interaction the circuits are entangled with the "
                "index register); use joint_states(x, source=s) or states(x)"
            )
        xx, single = self._check_input(x)
        psi = self._simulate(xx, "blocks")[:, 0, : self.n_circuits]
        return psi[0] if single else psi

    def features(self, x: Tensor) -> Tensor:
        """Per-circuit features ``(B, d, F)`` that the head reads: ``diag(R)`` (F = n_obs) for the
        "z" / "probs" readouts, row s of R as real and imaginary parts (F = 2 d n) for "full",
        ``Re diag(a^H R_k)`` (F = n) for "inner"."""
        xx, single = self._check_input(x)
        f = self._features(xx)
        return f[0] if single else f

    def _features(self, xx: Tensor) -> Tensor:
        if self.readout_kind in ("full", "inner"):
            r = self._readout(xx)  # (B, d, d, n)
            if self.readout_kind == "full":
                return torch.cat([r.real, r.imag], dim=-1).flatten(2)  # circuit s: (Re R[s, t, :], Im R[s, t, :]) per t
            a = torch.complex(self.readout_element[0], self.readout_element[1]).to(r.dtype)
            # diag(a^H R_k)[s] = sum_t conj(a[t, s]) R_k[t, s]
            return (a.conj()[None, :, :, None] * r).sum(1).real
        if self.has_interaction:
            # the module element X in its blocked layout (B, 2**a, 2**n, d): a view, no copy
            x = self._simulate(xx, "diag").permute(0, 2, 3, 1)
        else:
            # without interaction circuit c is block c of one column: as a module element on the
            # system alone (a = 0) its columns are the d circuits
            x = self._simulate(xx, "blocks")[:, 0, : self.n_circuits].transpose(1, 2).unsqueeze(1)
        return algebra.readout_diagonal(x, self._table, index_blocks=True)

    def readout(self, x: Tensor) -> Tensor:
        """The A-valued readout ``R = X^H (O (x) I_d) X``: ``(B, d, d, n_obs)``, Hermitian in (d, d)
        (O = Z_q for every readout but "probs", whose O are the basis projectors)."""
        xx, single = self._check_input(x)
        r = self._readout(xx)
        return r[0] if single else r

    def _readout(self, xx: Tensor) -> Tensor:
        b, d, m = xx.shape[0], self.n_circuits, 2**self.n_qubits
        table = self._table if self._table is not None else algebra.probs_table(self.n_qubits, dtype=self.real_dtype,
                                                                                  device=self._device)
        if not self.has_interaction:
            # independent circuits: X is block diagonal, so R is diagonal (exactly) and diag(R) is cheap
            x = self._simulate(xx, "blocks")[:, 0, :d].transpose(1, 2).unsqueeze(1)
            diag = algebra.readout_diagonal(x, table, index_blocks=True)  # (B, d, n_obs)
            return torch.diag_embed(diag.transpose(1, 2)).permute(0, 2, 3, 1).to(self.dtype)
        itemsize = 16 if self.dtype == torch.complex128 else 8
        # the diagonal-observable readout weighs every column block by every observable at once
        check_memory(b * self.n_padded * self.n_obs * m * d * itemsize, f"the A-valued readout of {b} sample(s)", factor=2)
        x = self._simulate(xx, "diag").permute(0, 2, 3, 1)  # (B, 2**a, 2**n, d), a view
        return algebra.readout(x, table.to(self.dtype), diagonal=True, index_blocks=True)

    def logits_from_features(self, f: Tensor) -> Tensor:
        """Head: features ``(B, d, F)`` -> logits ``(B, C)`` (shared) or ``(B, d, C)`` (tasks)."""
        if self.head is not None:
            return self.head(f.flatten(1))
        per = (f.transpose(0, 1) @ self.head_weight).transpose(0, 1) + self.head_bias  # (B, d, C)
        if self.mode == "tasks":
            return per
        return per.mean(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, n_classes)`` (shared mode) or ``(B, d, n_classes)`` (tasks mode)."""
        xx, single = self._check_input(x)
        out = self.logits_from_features(self._features(xx))
        return out[0] if single else out

    # -- matrices (tests, small n) -----------------------------------------------
    def layer_unitaries(self, x_one: Tensor) -> Tensor:
        """W_l for one input: ``(L, 2**(n+a), 2**(n+a))`` (columns = images of basis states)."""
        xx, _ = self._check_input(x_one)
        if xx.shape[0] != 1:
            raise ShapeError("layer_unitaries takes one input (no batch axis)")
        bound = bind_template(self._template, self._values(self._angles(xx))[0], matrices=self.template_matrices())
        layers = [Circuit(bound.n_qubits, bound.ops[first:end]) for first, end in self._layer_bounds]
        return torch.stack([unitary_matrix(c, dtype=self.dtype, device=self._device) for c in layers])

    # -- export --------------------------------------------------------------------
    def to_circuit(self, x_one: Tensor, *, form: str = "multiplexed", source: int | None = None) -> Circuit:
        """The net for one input (or a batch) as a :class:`circuits.Circuit` on n + a qubits.

        ``form="multiplexed"``: one multiplexed rotation per qubit, rotation and layer (mux wires =
        the index qubits n..n+a-1, mux[0] least significant), CX entanglers, and a ``unitary`` op
        for each V_l: :meth:`template_circuit` bound to :meth:`template_values`.
        ``form="hardware"``: the multiplexed rotations as Gray-code RY/RZ + CX
        (RX as H RZ H), V_l as RZ RY RZ plus a global phase when a = 1, else a ``unitary`` on the
        index qubits that ``circuits.qasm.dumps(..., dense="decompose")`` writes as u/cx for
        a = 2 (larger a: left to a transpiler). ``source``: prepend X gates preparing
        ``|source>`` on the index register. Parameters are detached (export, not training).
        """
        if form not in ("multiplexed", "hardware"):
            raise ConfigError(f"to_circuit: form must be 'multiplexed' or 'hardware', got {form!r}")
        if source is not None:
            source = self._source(source)
        xx, single = self._check_input(x_one)
        with torch.no_grad():
            values = self._values(self._angles(xx)).to(torch.float64)
            matrices = self.template_matrices(dtype=torch.complex128)
        bound = bind_template(self._template, values[0] if single else values, matrices=matrices)
        n, a = self.n_qubits, self.n_index
        index = list(range(n, n + a))
        circ = Circuit(n + a, metadata={**bound.metadata, "form": form})
        if source is not None:
            for i, w in enumerate(index):
                if (source >> i) & 1:
                    circ.x(w)
        if form == "multiplexed":
            return circ.extend(bound.ops)
        for op in bound.ops:
            if op.mux:  # Gray-code RY/RZ + CX (arXiv:quant-ph/0407010), RX = H RZ H
                (q,), ang = op.wires, op.params[0]
                if op.name == "rx":
                    circ.h(q)
                    circ.extend(multiplexed_rotation("rz", ang, q, index))
                    circ.h(q)
                else:
                    circ.extend(multiplexed_rotation(op.name, ang, q, index))
            elif op.name == "unitary" and a == 1:  # V_l: native RZ RY RZ and a global phase
                ops, phase = one_qubit_rotations(op.matrix, index[0])
                circ.extend(ops)
                circ.global_phase = circ.global_phase + phase
            else:  # a dense block on a >= 2 index qubits: circuits.qasm / circuits.interop synthesise a <= 2
                circ.append(op)
        return circ

    def extra_repr(self) -> str:
        return (
            f"n_qubits={self.n_qubits}, n_circuits={self.n_circuits}, n_layers={self.n_layers}, "
            f"rotations={self.rotations}, entangler={self.entangler!r}, interaction={self.interaction!r}, "
            f"placement={self.placement!r}, readout={self.readout_kind!r}, combine={self.combine!r}, mode={self.mode!r}"
        )

    def structure_options(self) -> dict[str, Any]:
        """The constructor options of the interaction's structure (for :func:`qcstar.train.model_config`)."""
        return {"placement": self.placement, "control_qubit": self.control_qubit}
