"""The quantum circuit C*-algebra net (PAPERS.md Part A, §A3 and §A11).

d circuits of n qubits form one unitary on C^(2**a) (x) C^(2**n), a = ceil(log2 d) index
qubits above the n system qubits. Layer l is

    W_l = (V_l (x) I_(2**n)) . sum_j |j><j| (x) U_(l,j)(x)

where U_(l,j)(x) = entangler . prod_q R_q(theta_(l,j,q)(x)) is circuit j's layer (rotations
with data-dependent angles from a classical ``angle_net``, then a shared CX ladder/ring), and
V_l = exp(t_l (K_l - K_l^H)) is the interaction, a d x d unitary with K_l = 0 at
initialisation (V_l = I: the d circuits are independent). d that is not a power of two is
padded to 2**a with identity circuits and V_l (+) I.

Simulation uses the package's one simulator: the kernels of :mod:`circuits.statevector`
(``apply_block`` with the index register as multiplexer register, ``kron_chain`` for the
per-chunk Kronecker products, ``apply_permutation`` for the CX entangler). The internal state
is ``(B, 2**a, S, 2**n)`` flattened: index register c (top), then S "source" columns of the
A-valued state X (the initial index state |s>), then the system qubits. Joint index of one
source column = c * 2**n + x (index register most significant, Qiskit's order).

Example::

    net = QCStarNet(n_qubits=4, n_circuits=3, n_layers=2, n_classes=10, in_shape=(8, 8))
    logits = net(torch.rand(5, 8, 8))           # (5, 10)
    R = net.readout(torch.rand(5, 8, 8))        # (5, 3, 3, 4): A-valued <Z_q>
    c = net.to_circuit(torch.rand(8, 8))        # circuits.Circuit on 4 + 2 qubits
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from qcstar.circuits.errors import QcstarError, ShapeError
from qcstar.circuits.gates import GATES
from qcstar.circuits.ir import Circuit, Op
from qcstar.circuits.decompose import multiplexed_rotation, one_qubit_rotations
from qcstar.circuits.statevector import apply_block, apply_permutation, kron_chain, permutation, wire_chunks

from . import algebra

Tensor = torch.Tensor

__all__ = ["QCStarNet", "LinearAngles", "MLPAngles", "CNNAngles"]

_ROTATIONS = ("rx", "ry", "rz")


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

def _entangler_pairs(n: int, entangler: str) -> list[tuple[int, int]]:
    if entangler == "none" or n < 2:
        return []
    pairs = [(q, q + 1) for q in range(n - 1)]
    if entangler == "ring" and n > 2:
        pairs.append((n - 1, 0))
    return pairs


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
    * ``interaction``: ``"global"`` (V_l (x) I after every layer) or ``"none"``;
    * ``interaction_init``: standard deviation of the initial K_l entries (default 0: V_l = I
      exactly). Note that V = I is a stationary point of the diagonal readout - the gradient
      with respect to K_l is exactly zero there - so gradient training never leaves it unless
      K_l starts off zero (or the loss uses off-diagonal readouts);
    * ``strength``: ``None`` or the initial value of a per-layer scalar t_l,
      V_l = exp(t_l (K_l - K_l^H)); ``learn_strength`` makes it trainable;
    * ``angle_net``: an ``nn.Module`` mapping images ``(B, *in_shape)`` to angles
      ``(B, L, d, n, len(rotations))``, or ``"linear"`` / ``"mlp"`` / ``"cnn"``;
    * ``readout``: ``"z"`` (<Z_q> on each system qubit, n_obs = n) or ``"probs"`` (Born
      probabilities of the 2**n basis states);
    * ``combine``: ``"mean"`` (each circuit has its own affine head; logits averaged) or
      ``"linear"`` (one linear head on the concatenated d * n_obs features);
    * ``mode``: ``"shared"`` (every circuit sees the same image: ``x (B, *in_shape)`` ->
      logits ``(B, n_classes)``) or ``"tasks"`` (circuit j gets its own image and head:
      ``x (B, d, *in_shape)`` -> logits ``(B, d, n_classes)``);
    * ``n_classes``, ``in_shape`` (image shape, default (8, 8)), ``dtype`` (complex64 or
      complex128; real parameters use the matching float type), ``seed`` (parameter init),
      ``max_chunk`` (largest Kronecker chunk of system qubits in the simulation).

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
    ):
        super().__init__()
        for key, val in (("n_qubits", n_qubits), ("n_circuits", n_circuits), ("n_layers", n_layers), ("n_classes", n_classes)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ShapeError(f"QCStarNet: {key} must be a positive int, got {val!r}")
        rots = tuple(str(r).lower() for r in rotations)
        if not rots or any(r not in _ROTATIONS for r in rots):
            raise QcstarError(f"QCStarNet: rotations must be a non-empty sequence of RX/RY/RZ, got {tuple(rotations)}")
        choices = {
            "entangler": (entangler, ("ladder", "ring", "none")),
            "interaction": (interaction, ("none", "global")),
            "readout": (readout, ("z", "probs")),
            "combine": (combine, ("mean", "linear")),
            "mode": (mode, ("shared", "tasks")),
        }
        for key, (val, ok) in choices.items():
            if val not in ok:
                raise QcstarError(f"QCStarNet: {key} must be one of {ok}, got {val!r}")
        if dtype not in (torch.complex64, torch.complex128):
            raise ShapeError(f"QCStarNet: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        self.n_qubits = n = n_qubits
        self.n_circuits = d = n_circuits
        self.n_layers = L = n_layers
        self.n_classes = n_classes
        self.rotations = rots
        self.entangler = entangler
        self.interaction = interaction
        self.readout_kind = readout
        self.combine = combine
        self.mode = mode
        self.in_shape = tuple(int(s) for s in in_shape)
        self.dtype = dtype
        self.real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
        self.n_index = a = algebra.n_index_qubits(d)
        self.n_padded = 2**a
        self.max_chunk = int(max_chunk)
        self.n_obs = n if readout == "z" else 2**n
        self.has_interaction = interaction == "global" and d > 1

        gen = None
        if seed is not None:
            gen = torch.random.fork_rng(devices=[])
            gen.__enter__()
            torch.manual_seed(int(seed))
        try:
            out_shape = (L, d, n, len(rots))
            in_features = int(np.prod(self.in_shape))
            if isinstance(angle_net, nn.Module):
                self.angle_net = angle_net
            elif angle_net == "linear":
                self.angle_net = LinearAngles(in_features=in_features, out_shape=out_shape)
            elif angle_net == "mlp":
                self.angle_net = MLPAngles(in_features=in_features, out_shape=out_shape, hidden=hidden)
            elif angle_net == "cnn":
                self.angle_net = CNNAngles(in_shape=self.in_shape, out_shape=out_shape)
            else:
                raise QcstarError(f"QCStarNet: angle_net must be an nn.Module or 'linear'/'mlp'/'cnn', got {angle_net!r}")
            if self.has_interaction:
                # K_l = tril(P_l, -1) + i triu(P_l): d*d real parameters, zero at init (V_l = I)
                # NB: V = I is a stationary point of every readout diag(R) (mixing moves amplitude into
                # orthogonal blocks, a second-order effect), so gradients w.r.t. K vanish exactly at
                # K = 0; interaction_init > 0 draws K with that standard deviation to break the tie.
                p0 = torch.zeros(L, d, d, dtype=self.real_dtype)
                if interaction_init:
                    p0 = float(interaction_init) * torch.randn(L, d, d, dtype=self.real_dtype)
                self.interaction_params = nn.Parameter(p0)
                if strength is not None:
                    t = torch.full((L,), float(strength), dtype=self.real_dtype)
                    if learn_strength:
                        self.strength = nn.Parameter(t)
                    else:
                        self.register_buffer("strength", t)
                else:
                    self.strength = None
            else:
                self.interaction_params = None
                self.strength = None
            if combine == "linear" and mode == "shared":
                self.head = nn.Linear(d * self.n_obs, n_classes)
                self.head_weight = None
                self.head_bias = None
            else:
                self.head = None
                bound = 1.0 / math.sqrt(self.n_obs)
                self.head_weight = nn.Parameter(torch.empty(d, self.n_obs, n_classes).uniform_(-bound, bound))
                self.head_bias = nn.Parameter(torch.zeros(d, n_classes))
        finally:
            if gen is not None:
                gen.__exit__(None, None, None)
        self.to(self.real_dtype)

        perm, _ = permutation([Op("cx", pair) for pair in _entangler_pairs(n, entangler)], n)
        self._has_perm = not np.array_equal(perm, np.arange(2**n))
        self.register_buffer("_perm_sys", torch.from_numpy(perm), persistent=False)
        self._perm_cache: dict[int, tuple[Tensor, Tensor]] = {}
        self.register_buffer("_z_table", algebra.z_table(n, dtype=self.real_dtype), persistent=False)

    # -- parameters --------------------------------------------------------------
    def interaction_unitaries(self) -> Tensor:
        """V_l for every layer, padded to the index register: ``(L, 2**a, 2**a)`` (identity without interaction)."""
        L, d, dp = self.n_layers, self.n_circuits, self.n_padded
        device = self._perm_sys.device
        if not self.has_interaction:
            return torch.eye(dp, dtype=self.dtype, device=device).expand(L, dp, dp)
        p = self.interaction_params
        k = torch.complex(torch.tril(p, -1), torch.triu(p)).to(self.dtype)
        gen = k - k.conj().transpose(-1, -2)
        if self.strength is not None:
            gen = gen * self.strength.to(self.dtype)[:, None, None]
        v = torch.linalg.matrix_exp(gen)  # (L, d, d)
        if dp == d:
            return v
        full = torch.eye(dp, dtype=self.dtype, device=device).repeat(L, 1, 1)
        full[:, :d, :d] = v
        return full

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameter counts: angle net, interaction, head and total."""
        def count(params) -> int:
            return sum(p.numel() for p in params if p is not None and p.requires_grad)

        inter = count([self.interaction_params, self.strength if isinstance(self.strength, nn.Parameter) else None])
        head = count(list(self.head.parameters()) if self.head is not None else [self.head_weight, self.head_bias])
        angle = count(self.angle_net.parameters())
        return {"angle_net": angle, "interaction": inter, "head": head, "total": count(self.parameters())}

    # -- angles ------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> tuple[Tensor, bool]:
        if not isinstance(x, Tensor):
            x = torch.as_tensor(np.asarray(x))
        nd = len(self.in_shape)
        extra = 1 if self.mode == "tasks" else 0
        if x.dim() == nd + extra and tuple(x.shape[extra:]) == self.in_shape and (not extra or x.shape[0] == self.n_circuits):
            return x.unsqueeze(0).to(self.real_dtype), True
        if x.dim() != nd + extra + 1 or tuple(x.shape[1 + extra:]) != self.in_shape:
            want = ("(B, d, " if extra else "(B, ") + ", ".join(str(s) for s in self.in_shape) + ")"
            raise ShapeError(
                f"QCStarNet ({self.mode} mode) expects images of shape {want}, got {tuple(x.shape)}"
                + ("; in 'tasks' mode every circuit gets its own image" if extra else "")
            )
        if extra and x.shape[1] != self.n_circuits:
            raise ShapeError(f"'tasks' mode needs one image per circuit: x.shape[1] = {self.n_circuits}, got {x.shape[1]}")
        return x.to(self.real_dtype), False

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

    def _layer_mats(self, angles: Tensor) -> Tensor:
        """Fused per-qubit 2x2 matrices ``(B, L, 2**a, n, 2, 2)``; padded circuits get the identity."""
        pad = self.n_padded - self.n_circuits
        if pad:
            angles = torch.nn.functional.pad(angles, (0, 0, 0, 0, 0, pad))
        mats = None
        for r, name in enumerate(self.rotations):
            m = GATES[name].matrix_fn([angles[..., r]], self.dtype)
            mats = m if mats is None else m @ mats
        return mats

    # -- simulation --------------------------------------------------------------
    def _perm_full(self, sources: int) -> tuple[Tensor, Tensor]:
        key = sources
        hit = self._perm_cache.get(key)
        dev = self._perm_sys.device
        if hit is not None and hit[0].device == dev:
            return hit
        n = self.n_qubits
        base = torch.arange(self.n_padded * sources, device=dev)[:, None] * 2**n
        perm = (base + self._perm_sys[None, :]).reshape(-1)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.numel(), device=dev)
        self._perm_cache[key] = (perm, inv)
        return perm, inv

    def _apply_layer(self, psi: Tensor, mats_l: Tensor, v_l: Tensor | None, sources: int) -> Tensor:
        """One layer W_l on ``psi (Bp, 2**a * S * 2**n)``; ``mats_l (Bm, 2**a, n, 2, 2)``, Bm in {1, Bp}."""
        n, a = self.n_qubits, self.n_index
        s = int(round(math.log2(sources)))
        per_qubit = mats_l.unbind(2)  # n x (Bm, 2**a, 2, 2); one backward stack instead of n selects
        for low, size in wire_chunks(n, self.max_chunk):
            k = kron_chain([per_qubit[q] for q in range(low + size - 1, low - 1, -1)])  # (Bm, 2**a, dk, dk)
            psi = apply_block(psi, k if a else k[:, 0], low, size, n + s, a)
        if self._has_perm:
            perm, inv = self._perm_full(sources)
            psi = apply_permutation(psi, perm, inv)
        if v_l is not None:
            psi = apply_block(psi, v_l.unsqueeze(0), n + s, a, n + s + a, 0)
        return psi

    def _initial(self, batch: int, sources: int, which: str | int) -> Tensor:
        dp, n = self.n_padded, self.n_qubits
        psi = torch.zeros(batch, dp, sources, 2**n, dtype=self.dtype, device=self._perm_sys.device)
        if which == "diag":  # source column s starts in |s>_index |0>
            for c in range(self.n_circuits):
                psi[:, c, c, 0] = 1
        elif which == "blocks":  # no interaction: every block holds its own circuit (S = 1)
            psi[:, : self.n_circuits, 0, 0] = 1
        else:
            psi[:, int(which), 0, 0] = 1
        return psi.reshape(batch, -1)

    def _run(self, angles: Tensor, sources: int, which: str | int) -> Tensor:
        """Evolve the initial state through all layers: ``(B, 2**a, S, 2**n)``."""
        b = angles.shape[0]
        mats = self._layer_mats(angles)  # (B, L, dp, n, 2, 2)
        vs = self.interaction_unitaries() if self.has_interaction else None
        psi = self._initial(1, sources, which).expand(b, -1)
        for l in range(self.n_layers):
            psi = self._apply_layer(psi, mats[:, l], None if vs is None else vs[l], sources)
        return psi.reshape(b, self.n_padded, sources, 2**self.n_qubits)

    # -- public outputs ----------------------------------------------------------
    def joint_states(self, x: Tensor, *, source: int = 0) -> Tensor:
        """Joint states ``(B, 2**(n+a))`` reached from ``|source>_index (x) |0...0>``; index c*2**n + x."""
        if not 0 <= int(source) < self.n_circuits:
            raise ShapeError(f"source must be a circuit index in 0..{self.n_circuits - 1}, got {source}")
        xx, single = self._check_input(x)
        psi = self._run(self._angles(xx), 1, int(source)).reshape(xx.shape[0], -1)
        return psi[0] if single else psi

    def states(self, x: Tensor) -> Tensor:
        """Every source column of the A-valued state: ``(B, d, 2**(n+a))`` (row s = :meth:`joint_states` with source s)."""
        xx, single = self._check_input(x)
        psi = self._run(self._angles(xx), self.n_padded, "diag")  # (B, dp, S, m)
        out = psi[:, :, : self.n_circuits].transpose(1, 2).reshape(xx.shape[0], self.n_circuits, -1)
        return out[0] if single else out

    def circuit_states(self, x: Tensor) -> Tensor:
        """The d circuits' n-qubit states ``(B, d, 2**n)``; only without interaction (they are pure then)."""
        if self.has_interaction:
            raise QcstarError(
                "circuit_states needs interaction='none' (with interaction the circuits are entangled with the "
                "index register); use joint_states(x, source=s) or states(x)"
            )
        xx, single = self._check_input(x)
        psi = self._run(self._angles(xx), 1, "blocks")[:, : self.n_circuits, 0]
        return psi[0] if single else psi

    def _table(self) -> Tensor:
        if self.readout_kind == "z":
            return self._z_table
        return algebra.probs_table(self.n_qubits, dtype=self.real_dtype, device=self._perm_sys.device)

    def features(self, x: Tensor) -> Tensor:
        """Per-circuit expectations, the diagonal of the readout: ``(B, d, n_obs)``."""
        xx, single = self._check_input(x)
        f = self._features(xx)
        return f[0] if single else f

    def _features(self, xx: Tensor) -> Tensor:
        angles = self._angles(xx)
        d = self.n_circuits
        if self.has_interaction:
            psi = self._run(angles, self.n_padded, "diag")  # (B, dp, S, m)
            p = torch.view_as_real(psi).square().sum(-1).sum(1)[:, :d]  # (B, d, m): index traced out
        else:
            psi = self._run(angles, 1, "blocks")[:, :d, 0]  # (B, d, m)
            p = torch.view_as_real(psi).square().sum(-1)
        return p @ self._table()

    def readout(self, x: Tensor) -> Tensor:
        """The A-valued readout ``R = X^H (O (x) I_d) X``: ``(B, d, d, n_obs)``, Hermitian in (d, d)."""
        xx, single = self._check_input(x)
        psi = self._run(self._angles(xx), self.n_padded, "diag")[:, :, : self.n_circuits]  # (B, dp, d, m)
        X = psi.transpose(2, 3).reshape(xx.shape[0], -1, self.n_circuits)  # (B, dp*m, d)
        r = algebra.readout(X, self._table().to(self.dtype), diagonal=True)
        return r[0] if single else r

    def logits_from_features(self, f: Tensor) -> Tensor:
        """Head: features ``(B, d, n_obs)`` -> logits ``(B, C)`` (shared) or ``(B, d, C)`` (tasks)."""
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
        mats = self._layer_mats(self._angles(xx))
        vs = self.interaction_unitaries() if self.has_interaction else None
        dim = self.n_padded * 2**self.n_qubits
        out = []
        for l in range(self.n_layers):
            eye = torch.eye(dim, dtype=self.dtype, device=self._perm_sys.device)
            out.append(self._apply_layer(eye, mats[:, l], None if vs is None else vs[l], 1).T)
        return torch.stack(out)

    # -- export --------------------------------------------------------------------
    def to_circuit(self, x_one: Tensor, *, form: str = "multiplexed", source: int | None = None) -> Circuit:
        """The net for one input (or a batch) as a :class:`circuits.Circuit` on n + a qubits.

        ``form="multiplexed"``: one multiplexed rotation per qubit, rotation and layer (mux wires =
        the index qubits n..n+a-1, mux[0] least significant), CX entanglers, and a ``unitary`` op
        for each V_l. ``form="hardware"``: the multiplexed rotations as Gray-code RY/RZ + CX
        (RX as H RZ H), V_l as RZ RY RZ plus a global phase when a = 1, else a ``unitary`` on the
        index qubits that ``circuits.qasm.dumps(..., dense="decompose")`` writes as u/cx for
        a = 2 (larger a: left to a transpiler). ``source``: prepend X gates preparing
        ``|source>`` on the index register. Parameters are detached (export, not training).
        """
        if form not in ("multiplexed", "hardware"):
            raise QcstarError(f"to_circuit: form must be 'multiplexed' or 'hardware', got {form!r}")
        xx, single = self._check_input(x_one)
        with torch.no_grad():
            angles = self._angles(xx)
            pad = self.n_padded - self.n_circuits
            if pad:
                angles = torch.nn.functional.pad(angles, (0, 0, 0, 0, 0, pad))
            angles = angles.to(torch.float64)
            if single:
                angles = angles[0]  # (L, dp, n, r)
            vs = self.interaction_unitaries().to(torch.complex128) if self.has_interaction else None
        n, a = self.n_qubits, self.n_index
        index = list(range(n, n + a))
        circ = Circuit(n + a, metadata={"qcstar": "QCStarNet", "n_system": n, "n_index": a, "n_circuits": self.n_circuits, "form": form})
        if source is not None:
            if not 0 <= int(source) < self.n_circuits:
                raise ShapeError(f"source must be in 0..{self.n_circuits - 1}, got {source}")
            for i, w in enumerate(index):
                if (int(source) >> i) & 1:
                    circ.x(w)
        mux_fn = multiplexed_rotation  # Gray-code RY/RZ + CX (PAPERS.md section A11.5)
        pairs = _entangler_pairs(n, self.entangler)
        for l in range(self.n_layers):
            for q in range(n):
                for r, name in enumerate(self.rotations):
                    ang = angles[..., l, :, q, r]  # (dp,) or (B, dp)
                    if a == 0:
                        circ.append(Op(name, (q,), (ang[..., 0],)))
                    elif form == "multiplexed":
                        circ.mux(name, ang, target=q, controls=index)
                    elif name == "rx":
                        circ.h(q)
                        circ.extend(mux_fn("rz", ang, q, index))
                        circ.h(q)
                    else:
                        circ.extend(mux_fn(name, ang, q, index))
            for c, t in pairs:
                circ.cx(c, t)
            if vs is not None:
                if form == "hardware" and a == 1:  # native RZ RY RZ and a global phase
                    ops, phase = one_qubit_rotations(vs[l], index[0])
                    circ.extend(ops)
                    circ.global_phase = circ.global_phase + phase
                else:  # a dense block; circuits.qasm / circuits.interop synthesise it for a <= 2
                    circ.unitary(vs[l], index)
        return circ

    def extra_repr(self) -> str:
        return (
            f"n_qubits={self.n_qubits}, n_circuits={self.n_circuits}, n_layers={self.n_layers}, "
            f"rotations={self.rotations}, entangler={self.entangler!r}, interaction={self.interaction!r}, "
            f"readout={self.readout_kind!r}, combine={self.combine!r}, mode={self.mode!r}"
        )
