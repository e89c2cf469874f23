"""The gate catalogue: names, arities and exact matrices.

Conventions (tests check them against Qiskit's ``Operator`` and PennyLane's ``qml.matrix``):

* Matrices equal Qiskit's definitions, global phase included: ``RX/RY/RZ(t) = exp(-i t P/2)``,
  ``U`` is Qiskit's ``UGate``, ``P``/``U1`` are phase gates.
* For a gate on wires ``(w0, w1, ...)`` the matrix row/column index is ``b(w0) + 2 b(w1) + ...``
  (Qiskit's little-endian order: the first wire is the least significant bit). Controlled gates
  list the control first, so ``cx`` on ``(c, t)`` flips ``t`` when ``c`` is 1.
* Matrix functions are vectorised: every parameter may be a tensor with any leading batch
  shape, and the result has shape ``(*batch, 2**k, 2**k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .errors import GateError

Tensor = torch.Tensor
MatrixFn = Callable[[Sequence[Tensor], torch.dtype], Tensor]


#: Builds the PennyLane operations (time order) of a gate that has no single PennyLane
#: operation: ``fn(qml, params, wire_labels) -> list``.
PennyLaneFn = Callable[[Any, Sequence[Any], Sequence[Any]], list]


@dataclass(frozen=True)
class GateSpec:
    """One catalogue entry: everything the package knows about a gate.

    ``kind`` is ``"perm"`` (a permutation of basis states, no parameters), ``"diag"`` (diagonal
    for every parameter value: the light cone folds such gates into a diagonal observable) or
    ``"dense"``; the catalogue test checks it against the matrix.

    ``controlled_base`` / ``num_controls``: the gate *is* ``num_controls`` controls (listed
    first) on the catalogue gate ``controlled_base`` (``cx`` is one control on ``x``), so a
    controlled op can be written as this gate (see :data:`NATIVE_CONTROLLED`).

    ``pennylane_name``: the PennyLane operation with this gate's matrix and parameters, written
    as PennyLane names it (``"CNOT"``, ``"Adjoint(S)"``, ``"C(SX)"``); ``pennylane_fn`` builds
    a sequence of PennyLane operations for gates without one (``None`` for both: exported as
    ``QubitUnitary``). Their wires are ours in the same order.

    Derived from the matrix (no table to keep in step): :attr:`monomial` and
    :attr:`signed_permutation`, the basis images of constant gates.
    """

    name: str
    num_wires: int
    num_params: int
    matrix_fn: MatrixFn
    kind: str = "dense"
    qasm2_name: str | None = None  # name in qelib1.inc, None when not in qelib1
    qasm3_name: str | None = None  # name in stdgates.inc (or "U" builtin)
    controlled_base: str | None = None
    num_controls: int = 0
    pennylane_name: str | None = None
    pennylane_fn: PennyLaneFn | None = None
    aliases: tuple[str, ...] = ()  # other input spellings (PennyLane names are added to ALIASES too)
    # OpenQASM beyond the two names above (circuits.qasm derives its reader and writer tables
    # from these). A definition is "(params) qubits { body }" or "qubits { body }", written by
    # dumps for readers that lack the gate: in OpenQASM 2 those are Qiskit's strict qasm2 reader,
    # which knows only the gates of the original qelib1.inc (arXiv:1707.03429).
    qasm2_def: str | None = None
    qasm3_def: str | None = None
    # More names of this gate's matrix in qelib1.inc / stdgates.inc ("u3" for u, "phase" for p);
    # a reader maps a name to the gate whose own name it is first ("u1" is u1, not p), a
    # writer uses the first name the target library has.
    qasm2_aliases: tuple[str, ...] = ()
    qasm3_aliases: tuple[str, ...] = ()
    qasm2_controlled: tuple[tuple[str, int], ...] = ()  # qelib1.inc names of multi-controlled forms

    @cached_property
    def monomial(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(image, phase)`` when the gate is constant and maps every basis state to one basis
        state times a phase: ``U|j> = phase[j] |image[j]>`` (local index ``b(w0) + 2 b(w1) ...``);
        ``None`` otherwise."""
        if self.num_params:
            return None
        m = self.matrix_fn([], torch.complex128).numpy()
        nonzero = np.abs(m) > 1e-12
        if not (nonzero.sum(axis=0) == 1).all():
            return None
        image = nonzero.argmax(axis=0)
        return image, m[image, np.arange(m.shape[1])]

    @cached_property
    def signed_permutation(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """``(image, signs)`` when the gate is a monomial whose phases are all +-1 (CX, SWAP,
        CCX, CZ, CCZ, ...): ``U|j> = signs[j] |image[j]>``; ``signs`` is ``None`` when all +1."""
        mono = self.monomial
        if mono is None:
            return None
        image, phase = mono
        if not (np.allclose(phase.imag, 0) and np.allclose(np.abs(phase.real), 1)):
            return None
        signs = np.sign(phase.real)
        return image, (None if (signs == 1).all() else signs)


def broadcast_shape(*shapes: Sequence[int]) -> torch.Size:
    """``torch.broadcast_shapes`` at a tenth of its cost (numpy's; torch's is Python with guards).

    Raises ValueError when the shapes do not broadcast.
    """
    return torch.Size(np.broadcast_shapes(*(tuple(s) for s in shapes)))


def _stack(entries: list[list], dtype: torch.dtype) -> Tensor:
    """Build a (..., d, d) matrix from a nested list of scalars and broadcastable tensors."""
    flat = [e for row in entries for e in row]
    tensors = [e for e in flat if isinstance(e, Tensor)]
    if tensors:
        shape = broadcast_shape(*(t.shape for t in tensors))
        device = tensors[0].device
    else:
        shape, device = (), None
    out = []
    for e in flat:
        if isinstance(e, Tensor):
            out.append(e.to(dtype).expand(shape))
        else:
            out.append(torch.full(shape, complex(e), dtype=dtype, device=device))
    d = len(entries)
    return torch.stack(out, dim=-1).unflatten(-1, (d, d))


def _const(m: list[list[complex]]) -> MatrixFn:
    def fn(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
        return torch.tensor(m, dtype=dtype)

    return fn


def _cis(t: Tensor) -> Tensor:
    """exp(i t) for a real tensor t, as complex128 (cast later)."""
    t = t.to(torch.float64) if not t.is_floating_point() else t
    return torch.polar(torch.ones_like(t), t)


def _real(t: Tensor) -> Tensor:
    return t if t.is_floating_point() else t.to(torch.float64)


# --- single-qubit matrices -------------------------------------------------------------

def rx_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    t = _real(params[0]) / 2
    c, s = torch.cos(t), torch.sin(t)
    js = torch.complex(torch.zeros_like(s), -s)
    return _stack([[c, js], [js, c]], dtype)


def ry_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    t = _real(params[0]) / 2
    c, s = torch.cos(t), torch.sin(t)
    return _stack([[c, -s], [s, c]], dtype)


def rz_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    e = _cis(-_real(params[0]) / 2)
    return _stack([[e, 0], [0, e.conj()]], dtype)


def p_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    return _stack([[1, 0], [0, _cis(_real(params[0]))]], dtype)


def u_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    theta, phi, lam = (_real(p) for p in params)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return _stack(
        [[c, -_cis(lam) * s], [_cis(phi) * s, _cis(phi + lam) * c]],
        dtype,
    )


def u2_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    phi, lam = params
    half_pi = torch.full_like(_real(phi), math.pi / 2)
    return u_matrix([half_pi, phi, lam], dtype)


def r_matrix(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    theta, phi = (_real(p) for p in params)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    mi = torch.complex(torch.zeros_like(s), -s)  # -i sin
    return _stack([[c, mi * _cis(-phi)], [mi * _cis(phi), c]], dtype)


# --- two-qubit helpers -----------------------------------------------------------------

def controlled(u: Tensor) -> Tensor:
    """Controlled-U on (control, target) in little-endian order: index = b_c + 2 b_t.

    Accepts a batch of 2x2 matrices ``(..., 2, 2)`` and returns ``(..., 4, 4)``.
    """
    batch = u.shape[:-2]
    out = torch.zeros(*batch, 4, 4, dtype=u.dtype, device=u.device)
    out[..., 0, 0] = 1
    out[..., 2, 2] = 1
    out[..., 1::2, 1::2] = u
    return out


def _controlled_fn(base: MatrixFn) -> MatrixFn:
    def fn(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
        return controlled(base(params, dtype))

    return fn


def _pauli_exp(p0: list[list[complex]], p1: list[list[complex]]) -> MatrixFn:
    """exp(-i t/2 P1 (x) P0) with P0 on the first wire (low bit)."""
    pp = torch.kron(torch.tensor(p1, dtype=torch.complex128), torch.tensor(p0, dtype=torch.complex128))

    def fn(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
        t = _real(params[0]) / 2
        c = torch.cos(t).to(torch.complex128)[..., None, None]
        s = torch.sin(t).to(torch.complex128)[..., None, None]
        eye = torch.eye(4, dtype=torch.complex128)
        return (c * eye - 1j * s * pp).to(dtype)

    return fn


def _xx_plus_yy(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    theta, beta = (_real(p) for p in params)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    mi = torch.complex(torch.zeros_like(s), -s)
    return _stack(
        [[1, 0, 0, 0], [0, c, mi * _cis(-beta), 0], [0, mi * _cis(beta), c, 0], [0, 0, 0, 1]],
        dtype,
    )


def _xx_minus_yy(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    theta, beta = (_real(p) for p in params)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    mi = torch.complex(torch.zeros_like(s), -s)
    return _stack(
        [[c, 0, 0, mi * _cis(-beta)], [0, 1, 0, 0], [0, 0, 1, 0], [mi * _cis(beta), 0, 0, c]],
        dtype,
    )


def _cu(params: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    theta, phi, lam, gamma = params
    u = u_matrix([theta, phi, lam], dtype) * _cis(_real(gamma)).to(dtype)[..., None, None]
    return controlled(u)


def _perm_matrix(images: Sequence[int]) -> list[list[complex]]:
    """Matrix of the basis permutation |i> -> |images[i]>."""
    d = len(images)
    m = [[0j] * d for _ in range(d)]
    for i, j in enumerate(images):
        m[j][i] = 1
    return m


def _multi_controlled_x(n_controls: int) -> list[list[complex]]:
    d = 2 ** (n_controls + 1)
    mask = (1 << n_controls) - 1
    return _perm_matrix([i ^ (1 << n_controls) if (i & mask) == mask else i for i in range(d)])


def _cswap() -> list[list[complex]]:
    def image(i: int) -> int:
        if i & 1:
            b1, b2 = (i >> 1) & 1, (i >> 2) & 1
            return 1 | (b2 << 1) | (b1 << 2)
        return i

    return _perm_matrix([image(i) for i in range(8)])


_S2 = 1 / math.sqrt(2)
_I = [[1, 0], [0, 1]]
_X = [[0, 1], [1, 0]]
_Y = [[0, -1j], [1j, 0]]
_Z = [[1, 0], [0, -1]]
_H = [[_S2, _S2], [_S2, -_S2]]
_SX = [[0.5 + 0.5j, 0.5 - 0.5j], [0.5 - 0.5j, 0.5 + 0.5j]]
_SXDG = [[0.5 - 0.5j, 0.5 + 0.5j], [0.5 + 0.5j, 0.5 - 0.5j]]
_S = [[1, 0], [0, 1j]]
_SDG = [[1, 0], [0, -1j]]
_T = [[1, 0], [0, complex(_S2, _S2)]]
_TDG = [[1, 0], [0, complex(_S2, -_S2)]]
_ISWAP = [[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]
_ECR = [[0, _S2, 0, 1j * _S2], [_S2, 0, -1j * _S2, 0], [0, 1j * _S2, 0, _S2], [-1j * _S2, 0, _S2, 0]]
_CCZ = torch.diag(torch.tensor([1, 1, 1, 1, 1, 1, 1, -1], dtype=torch.complex128)).tolist()


def _ctrl_const(m: list[list[complex]]) -> list[list[complex]]:
    return controlled(torch.tensor(m, dtype=torch.complex128)).tolist()


# PennyLane sequences for gates without one PennyLane operation (``qml`` is passed in: this
# module does not import PennyLane). Each equals the catalogue matrix, phase included (checked by
# tests/circuits/test_gates.py).

def _pl_r(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    # R(t, f) = U(t, f - pi/2, pi/2 - f), phase included; PennyLane's U3 is Qiskit's UGate exactly
    return [qml.U3(p[0], p[1] - math.pi / 2, math.pi / 2 - p[1], w[0])]


def _pl_dcx(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    return [qml.CNOT([w[0], w[1]]), qml.CNOT([w[1], w[0]])]


def _pl_cu(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    # CU = controlled(exp(i g) U): the phase becomes a phase shift on the control
    return [qml.PhaseShift(p[3], w[0]), qml.ctrl(qml.U3(p[0], p[1], p[2], w[1]), control=w[0])]


def _pl_rzx(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    return [qml.PauliRot(p[0], "ZX", w)]  # Z on the first wire, as Qiskit's RZX


def _pl_xx_plus_yy(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    # XX+YY(t, b) = RZ_0(-b) exp(-i t/4 (XX+YY)) RZ_0(b), and XX, YY commute. (Not IsingXY: in
    # PennyLane 0.45.1 its matrix fails for broadcast torch angles that require grad.)
    return [qml.RZ(p[1], w[0]), qml.IsingXX(p[0] / 2, w), qml.IsingYY(p[0] / 2, w), qml.RZ(-p[1], w[0])]


def _pl_xx_minus_yy(qml: Any, p: Sequence[Any], w: Sequence[Any]) -> list:
    # XX-YY(t, b) = RZ_1(b) exp(-i t/4 (XX-YY)) RZ_1(-b); XX and YY commute
    return [qml.RZ(-p[1], w[1]), qml.IsingXX(p[0] / 2, w), qml.IsingYY(-p[0] / 2, w), qml.RZ(p[1], w[1])]


_SPECS: list[GateSpec] = [
    GateSpec(
        name="id", num_wires=1, num_params=0, matrix_fn=_const(_I), kind="diag",
        qasm2_name="id", qasm3_name="id",
        pennylane_name="Identity",
        aliases=("i", "iden"),
    ),
    GateSpec(
        name="x", num_wires=1, num_params=0, matrix_fn=_const(_X), kind="perm",
        qasm2_name="x", qasm3_name="x",
        qasm2_controlled=(("c3x", 3), ("c4x", 4)),
        pennylane_name="PauliX",
    ),
    GateSpec(
        name="y", num_wires=1, num_params=0, matrix_fn=_const(_Y), kind="dense",
        qasm2_name="y", qasm3_name="y",
        pennylane_name="PauliY",
    ),
    GateSpec(
        name="z", num_wires=1, num_params=0, matrix_fn=_const(_Z), kind="diag",
        qasm2_name="z", qasm3_name="z",
        pennylane_name="PauliZ",
    ),
    GateSpec(
        name="h", num_wires=1, num_params=0, matrix_fn=_const(_H), kind="dense",
        qasm2_name="h", qasm3_name="h",
        pennylane_name="Hadamard",
    ),
    GateSpec(
        name="s", num_wires=1, num_params=0, matrix_fn=_const(_S), kind="diag",
        qasm2_name="s", qasm3_name="s",
        pennylane_name="S",
    ),
    GateSpec(
        name="sdg", num_wires=1, num_params=0, matrix_fn=_const(_SDG), kind="diag",
        qasm2_name="sdg", qasm3_name="sdg",
        pennylane_name="Adjoint(S)",
        aliases=("sdag",),
    ),
    GateSpec(
        name="t", num_wires=1, num_params=0, matrix_fn=_const(_T), kind="diag",
        qasm2_name="t", qasm3_name="t",
        pennylane_name="T",
    ),
    GateSpec(
        name="tdg", num_wires=1, num_params=0, matrix_fn=_const(_TDG), kind="diag",
        qasm2_name="tdg", qasm3_name="tdg",
        pennylane_name="Adjoint(T)",
        aliases=("tdag",),
    ),
    GateSpec(
        name="sx", num_wires=1, num_params=0, matrix_fn=_const(_SX), kind="dense",
        qasm2_name="sx", qasm3_name="sx",
        qasm2_def="a { rx(pi/2) a; }",
        qasm2_controlled=(("c3sqrtx", 3),),
        pennylane_name="SX",
    ),
    GateSpec(
        name="sxdg", num_wires=1, num_params=0, matrix_fn=_const(_SXDG), kind="dense",
        qasm2_name="sxdg", qasm3_name=None,
        qasm2_def="a { rx(-pi/2) a; }",
        qasm3_def="a { rx(-pi/2) a; }",
        pennylane_name="Adjoint(SX)",
        aliases=("sx_dg",),
    ),
    GateSpec(
        name="rx", num_wires=1, num_params=1, matrix_fn=rx_matrix, kind="dense",
        qasm2_name="rx", qasm3_name="rx",
        pennylane_name="RX",
    ),
    GateSpec(
        name="ry", num_wires=1, num_params=1, matrix_fn=ry_matrix, kind="dense",
        qasm2_name="ry", qasm3_name="ry",
        pennylane_name="RY",
    ),
    GateSpec(
        name="rz", num_wires=1, num_params=1, matrix_fn=rz_matrix, kind="diag",
        qasm2_name="rz", qasm3_name="rz",
        pennylane_name="RZ",
    ),
    GateSpec(
        name="p", num_wires=1, num_params=1, matrix_fn=p_matrix, kind="diag",
        qasm2_name="p", qasm3_name="p",
        qasm2_aliases=("u1",), qasm3_aliases=("phase",),
        pennylane_name="PhaseShift",
        aliases=("phase",),
    ),
    GateSpec(
        name="u1", num_wires=1, num_params=1, matrix_fn=p_matrix, kind="diag",
        qasm2_name="u1", qasm3_name="u1",
        pennylane_name="PhaseShift",
    ),
    GateSpec(
        name="u2", num_wires=1, num_params=2, matrix_fn=u2_matrix, kind="dense",
        qasm2_name="u2", qasm3_name="u2",
        pennylane_name="U2",
    ),
    GateSpec(
        name="u", num_wires=1, num_params=3, matrix_fn=u_matrix, kind="dense",
        qasm2_name="u", qasm3_name="U",
        qasm2_aliases=("u3",), qasm3_aliases=("u3",),
        pennylane_name="U3",
        aliases=("u3",),
    ),
    GateSpec(
        name="r", num_wires=1, num_params=2, matrix_fn=r_matrix, kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="(p0,p1) a { u3(p0,p1-pi/2,pi/2-p1) a; }",
        qasm3_def="(p0,p1) a { U(p0,p1-pi/2,pi/2-p1) a; }",
        pennylane_fn=_pl_r,
    ),
    GateSpec(
        name="cx", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_X)), kind="perm",
        qasm2_name="cx", qasm3_name="cx",
        qasm3_aliases=("CX",),
        controlled_base="x", num_controls=1, pennylane_name="CNOT",
    ),
    GateSpec(
        name="cy", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_Y)), kind="dense",
        qasm2_name="cy", qasm3_name="cy",
        controlled_base="y", num_controls=1, pennylane_name="CY",
    ),
    GateSpec(
        name="cz", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_Z)), kind="diag",
        qasm2_name="cz", qasm3_name="cz",
        controlled_base="z", num_controls=1, pennylane_name="CZ",
    ),
    GateSpec(
        name="ch", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_H)), kind="dense",
        qasm2_name="ch", qasm3_name="ch",
        controlled_base="h", num_controls=1, pennylane_name="CH",
    ),
    GateSpec(
        name="csx", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_SX)), kind="dense",
        qasm2_name="csx", qasm3_name=None,
        qasm2_def="a,b { cu3(pi/2,-pi/2,pi/2) a,b; u1(pi/4) a; }",
        qasm3_def="a,b { crx(pi/2) a,b; p(pi/4) a; }",
        controlled_base="sx", num_controls=1, pennylane_name="C(SX)",
    ),
    GateSpec(
        name="cs", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_S)), kind="diag",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="a,b { cu1(pi/2) a,b; }",
        qasm3_def="a,b { cp(pi/2) a,b; }",
        controlled_base="s", num_controls=1, pennylane_name="C(S)",
    ),
    GateSpec(
        name="csdg", num_wires=2, num_params=0, matrix_fn=_const(_ctrl_const(_SDG)), kind="diag",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="a,b { cu1(-pi/2) a,b; }",
        qasm3_def="a,b { cp(-pi/2) a,b; }",
        controlled_base="sdg", num_controls=1, pennylane_name="C(Adjoint(S))",
    ),
    GateSpec(
        name="swap", num_wires=2, num_params=0, matrix_fn=_const(_perm_matrix([0, 2, 1, 3])), kind="perm",
        qasm2_name="swap", qasm3_name="swap",
        qasm2_def="a,b { cx a,b; cx b,a; cx a,b; }",
        pennylane_name="SWAP",
    ),
    GateSpec(
        name="iswap", num_wires=2, num_params=0, matrix_fn=_const(_ISWAP), kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def=(
            "a,b { h a; h b; cx a,b; rz(-pi/2) b; cx a,b; h a; h b; rx(pi/2) a; rx(pi/2) b; cx a,b; "
            "rz(-pi/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; }"
        ),
        qasm3_def=(
            "a,b { h a; h b; cx a,b; rz(-pi/2) b; cx a,b; h a; h b; rx(pi/2) a; rx(pi/2) b; cx a,b; "
            "rz(-pi/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; }"
        ),
        pennylane_name="ISWAP",
    ),
    GateSpec(
        name="dcx", num_wires=2, num_params=0, matrix_fn=_const(_perm_matrix([0, 2, 3, 1])), kind="perm",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="a,b { cx a,b; cx b,a; }",
        qasm3_def="a,b { cx a,b; cx b,a; }",
        pennylane_fn=_pl_dcx,
    ),
    GateSpec(
        name="ecr", num_wires=2, num_params=0, matrix_fn=_const(_ECR), kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="a,b { h b; cx a,b; rz(pi/4) b; cx a,b; h b; x a; h b; cx a,b; rz(-pi/4) b; cx a,b; h b; }",
        qasm3_def="a,b { h b; cx a,b; rz(pi/4) b; cx a,b; h b; x a; h b; cx a,b; rz(-pi/4) b; cx a,b; h b; }",
        pennylane_name="ECR",
    ),
    GateSpec(
        name="crx", num_wires=2, num_params=1, matrix_fn=_controlled_fn(rx_matrix), kind="dense",
        qasm2_name="crx", qasm3_name="crx",
        qasm2_def="(p0) a,b { cu3(p0,-pi/2,pi/2) a,b; }",
        controlled_base="rx", num_controls=1, pennylane_name="CRX",
    ),
    GateSpec(
        name="cry", num_wires=2, num_params=1, matrix_fn=_controlled_fn(ry_matrix), kind="dense",
        qasm2_name="cry", qasm3_name="cry",
        qasm2_def="(p0) a,b { cu3(p0,0,0) a,b; }",
        controlled_base="ry", num_controls=1, pennylane_name="CRY",
    ),
    GateSpec(
        name="crz", num_wires=2, num_params=1, matrix_fn=_controlled_fn(rz_matrix), kind="diag",
        qasm2_name="crz", qasm3_name="crz",
        controlled_base="rz", num_controls=1, pennylane_name="CRZ",
    ),
    GateSpec(
        name="cp", num_wires=2, num_params=1, matrix_fn=_controlled_fn(p_matrix), kind="diag",
        qasm2_name="cp", qasm3_name="cp",
        qasm2_aliases=("cu1",), qasm3_aliases=("cphase",),
        controlled_base="p", num_controls=1, pennylane_name="ControlledPhaseShift",
        aliases=("cphase",),
    ),
    GateSpec(
        name="cu1", num_wires=2, num_params=1, matrix_fn=_controlled_fn(p_matrix), kind="diag",
        qasm2_name="cu1", qasm3_name=None,
        qasm3_aliases=("cp",),
        controlled_base="u1", num_controls=1, pennylane_name="ControlledPhaseShift",
    ),
    GateSpec(
        name="cu3", num_wires=2, num_params=3, matrix_fn=_controlled_fn(u_matrix), kind="dense",
        qasm2_name="cu3", qasm3_name=None,
        qasm3_def="(p0,p1,p2) a,b { cu(p0,p1,p2,0) a,b; }",
        controlled_base="u", num_controls=1, pennylane_name="C(U3)",
    ),
    GateSpec(
        name="cu", num_wires=2, num_params=4, matrix_fn=_cu, kind="dense",
        qasm2_name="cu", qasm3_name="cu",
        qasm2_def="(p0,p1,p2,p3) a,b { u1(p3) a; cu3(p0,p1,p2) a,b; }",
        pennylane_fn=_pl_cu,
    ),
    GateSpec(
        name="rxx", num_wires=2, num_params=1, matrix_fn=_pauli_exp(_X, _X), kind="dense",
        qasm2_name="rxx", qasm3_name=None,
        qasm2_def="(p0) a,b { h a; h b; cx a,b; rz(p0) b; cx a,b; h a; h b; }",
        qasm3_def="(p0) a,b { h a; h b; cx a,b; rz(p0) b; cx a,b; h a; h b; }",
        pennylane_name="IsingXX",
    ),
    GateSpec(
        name="ryy", num_wires=2, num_params=1, matrix_fn=_pauli_exp(_Y, _Y), kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="(p0) a,b { rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; }",
        qasm3_def="(p0) a,b { rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; }",
        pennylane_name="IsingYY",
    ),
    GateSpec(
        name="rzz", num_wires=2, num_params=1, matrix_fn=_pauli_exp(_Z, _Z), kind="diag",
        qasm2_name="rzz", qasm3_name=None,
        qasm2_def="(p0) a,b { cx a,b; rz(p0) b; cx a,b; }",
        qasm3_def="(p0) a,b { cx a,b; rz(p0) b; cx a,b; }",
        pennylane_name="IsingZZ",
    ),
    GateSpec(
        name="rzx", num_wires=2, num_params=1, matrix_fn=_pauli_exp(_Z, _X), kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="(p0) a,b { h b; cx a,b; rz(p0) b; cx a,b; h b; }",
        qasm3_def="(p0) a,b { h b; cx a,b; rz(p0) b; cx a,b; h b; }",
        pennylane_fn=_pl_rzx,
    ),
    GateSpec(
        name="xx_plus_yy", num_wires=2, num_params=2, matrix_fn=_xx_plus_yy, kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def=(
            "(p0,p1) a,b { rz(p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; rx(pi/2) a; "
            "rx(pi/2) b; cx a,b; rz(p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(-p1) a; }"
        ),
        qasm3_def=(
            "(p0,p1) a,b { rz(p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; rx(pi/2) a; "
            "rx(pi/2) b; cx a,b; rz(p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(-p1) a; }"
        ),
        pennylane_fn=_pl_xx_plus_yy,
    ),
    GateSpec(
        name="xx_minus_yy", num_wires=2, num_params=2, matrix_fn=_xx_minus_yy, kind="dense",
        qasm2_name=None, qasm3_name=None,
        qasm2_def=(
            "(p0,p1) a,b { rz(-p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; rx(pi/2) a; "
            "rx(pi/2) b; cx a,b; rz(-p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(p1) a; }"
        ),
        qasm3_def=(
            "(p0,p1) a,b { rz(-p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; rx(pi/2) a; "
            "rx(pi/2) b; cx a,b; rz(-p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(p1) a; }"
        ),
        pennylane_fn=_pl_xx_minus_yy,
    ),
    GateSpec(
        name="ccx", num_wires=3, num_params=0, matrix_fn=_const(_multi_controlled_x(2)), kind="perm",
        qasm2_name="ccx", qasm3_name="ccx",
        controlled_base="x", num_controls=2, pennylane_name="Toffoli",
    ),
    GateSpec(
        name="ccz", num_wires=3, num_params=0, matrix_fn=_const(_CCZ), kind="diag",
        qasm2_name=None, qasm3_name=None,
        qasm2_def="a,b,c { h c; ccx a,b,c; h c; }",
        qasm3_def="a,b,c { h c; ccx a,b,c; h c; }",
        controlled_base="z", num_controls=2, pennylane_name="CCZ",
    ),
    GateSpec(
        name="cswap", num_wires=3, num_params=0, matrix_fn=_const(_cswap()), kind="perm",
        qasm2_name="cswap", qasm3_name="cswap",
        qasm2_def="a,b,c { cx c,b; ccx a,b,c; cx c,b; }",
        controlled_base="swap", num_controls=1, pennylane_name="CSWAP",
        aliases=("fredkin",),
    ),
]

GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}

def _aliases() -> dict[str, str]:
    """``GateSpec.aliases`` plus each PennyLane name that is an identifier, lower case; the
    first gate with a PennyLane name keeps it (PhaseShift is p, not u1)."""
    out: dict[str, str] = {}
    for spec in _SPECS:
        for alias in spec.aliases:
            out.setdefault(alias, spec.name)
        label = (spec.pennylane_name or "").lower()
        if label.isidentifier() and label not in GATES:
            out.setdefault(label, spec.name)
    return out


#: Alternative spellings accepted on input (Qiskit, PennyLane, QASM 3 and upper case).
ALIASES: dict[str, str] = _aliases()

#: ``(base gate, number of controls) -> catalogue gate`` that *is* that controlled gate, with
#: the controls listed first (``("x", 2) -> "ccx"``); from ``GateSpec.controlled_base``.
NATIVE_CONTROLLED: dict[tuple[str, int], str] = {
    (spec.controlled_base, spec.num_controls): spec.name for spec in _SPECS if spec.controlled_base is not None
}

#: Gates whose matrix is given explicitly rather than computed from parameters.
MATRIX_GATES = frozenset({"unitary"})


def canonical_name(name: str) -> str:
    """Map a gate name (any case, any alias) to its catalogue name, or raise GateError."""
    key = name.lower()
    key = ALIASES.get(key, key)
    if key in GATES or key in MATRIX_GATES:
        return key
    raise GateError(
        f"unknown gate '{name}'; expected one of {sorted(GATES) + sorted(MATRIX_GATES)} "
        "(or pass a matrix with name='unitary')"
    )


def gate_matrix(name: str, params: Sequence[Tensor | float] = (), *, dtype: torch.dtype = torch.complex128) -> Tensor:
    """The matrix of catalogue gate ``name`` for the given parameters (``(*batch, d, d)``)."""
    spec = GATES[canonical_name(name)]
    if len(params) != spec.num_params:
        raise GateError(f"gate '{spec.name}' takes {spec.num_params} parameters, got {len(params)}")
    tensors = [p if isinstance(p, Tensor) else torch.tensor(float(p), dtype=torch.float64) for p in params]
    return spec.matrix_fn(tensors, dtype)
