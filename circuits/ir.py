"""The one circuit representation of the package: :class:`Circuit` and :class:`Op`.

Pure data, no simulation. Encoders emit it, the C*-net exports it, QASM reads and writes it,
backends run it and the tokenizer reads its QASM.

An :class:`Op` is one of

* a catalogue gate (``circuits.gates.GATES``) on ``wires`` with ``params``;
* ``name="unitary"`` with an explicit ``matrix`` of shape ``(2**k, 2**k)`` on ``k`` wires,
  index ``b(wires[0]) + 2 b(wires[1]) + ...`` (Qiskit's little-endian order). The matrix must
  be finite and unitary within :data:`UNITARITY_TOLERANCE` (``max |U^H U - I|`` at most 1e-6
  for complex128, 1e-4 for complex64).

Inputs are validated where they enter: wires are ints (``numpy`` integers too; bools, floats
and strings are refused), parameters and the global phase are finite real numbers or tensors
(one ``isfinite`` reduction per tensor; tensors that require grad are checked when simulated,
once per gate family, so that building a circuit in a training step stays cheap), and a
circuit has 1 to :data:`MAX_QUBITS` qubits.

Either may carry

* ``controls`` with ``control_values`` (default all 1): the op acts only where every control
  wire holds its value;
* ``mux``: multiplexer wires. The op then has one parameter set (or matrix) per value
  ``j = sum_i b(mux[i]) 2**i`` of the multiplexer register (``mux[0]`` least significant):
  each parameter has a trailing axis of size ``2**len(mux)`` and the matrix has shape
  ``(2**len(mux), 2**k, 2**k)``. This is a uniformly controlled ("multiplexed") gate, the
  block-diagonal layer of the C*-algebra net.

Batching: a parameter may be a Python float, a 0-d tensor, or a tensor with one leading batch
axis ``(B,)`` (``(B, 2**m)`` when multiplexed); a matrix may have a leading ``(B,)`` axis too.
All batched entries of a circuit share the same ``B``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from .errors import ConfigError, GateError, ShapeError
from .gates import GATES, MATRIX_GATES, canonical_name
from .linalg import unitarity_error

Tensor = torch.Tensor
Param = float | Tensor


#: Largest qubit count of a :class:`Circuit`. A circuit is data (QASM files may name hundreds of
#: qubits), so this only stops absurd sizes; what a simulation may allocate is bounded by the
#: memory guard (:mod:`qcstar.circuits.resources`), which refuses 31 qubits on most machines.
MAX_QUBITS = 1 << 20

#: Largest ``unitarity_error`` (``max |U^H U - I|``) accepted for a ``unitary`` op's matrix, by
#: the matrix's precision: float64 numbers reach ~1e-15, float32 ones ~1e-7 per entry.
UNITARITY_TOLERANCE = {torch.complex128: 1e-6, torch.complex64: 1e-4}


def _finite(t: Tensor, where: str, what: str) -> None:
    """Refuse NaN or infinite entries: one reduction, no copy."""
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise GateError(f"{where}: {what} holds NaN or infinite values; expected finite numbers")


def _as_param(value: Any, where: str) -> Param:
    if isinstance(value, Tensor):
        if value.is_complex():
            raise GateError(f"{where}: gate parameters must be real, got a complex tensor")
        if not value.requires_grad:
            # trainable tensors are checked when simulated, once per gate family (statevector.runner),
            # so building a circuit in a training step pays no per-op reduction
            _finite(value, where, "a parameter tensor")
        return value
    if isinstance(value, np.ndarray) and value.dtype == object:
        raise GateError(f"{where}: gate parameters must be numbers or real tensors, got an object array")
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise GateError(f"{where}: gate parameters must be numbers or real tensors, got {value!r}") from exc
    if not math.isfinite(out):
        raise GateError(f"{where}: gate parameter is {out}; expected a finite number")
    return out


def _wire(value: Any, where: str) -> int:
    """A wire index: an int (``numpy`` integers and 0-d integer tensors too), never a bool, float or string."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, Tensor) and value.dtype == torch.bool):
        raise GateError(f"{where}: wire indices are ints, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise GateError(
            f"{where}: wire indices are ints, got {value!r} ({type(value).__name__}); pass e.g. 0, 1, 2"
        ) from None


@dataclass(frozen=True, eq=False)
class Op:
    """One operation. Build it with :meth:`Circuit.append` or the gate helpers on Circuit."""

    name: str
    wires: tuple[int, ...]
    params: tuple[Param, ...] = ()
    matrix: Tensor | None = None
    controls: tuple[int, ...] = ()
    control_values: tuple[int, ...] = ()
    mux: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        name = canonical_name(self.name)
        object.__setattr__(self, "name", name)
        where = f"op '{name}'"
        wires = tuple(_wire(w, where) for w in self.wires)
        controls = tuple(_wire(w, where) for w in self.controls)
        mux = tuple(_wire(w, where) for w in self.mux)
        object.__setattr__(self, "wires", wires)
        object.__setattr__(self, "controls", controls)
        object.__setattr__(self, "mux", mux)
        values = tuple(int(v) for v in self.control_values) if self.control_values else (1,) * len(controls)
        if len(values) != len(controls) or any(v not in (0, 1) for v in values):
            raise GateError(
                f"op '{name}': control_values must hold one 0/1 per control wire, got {self.control_values} "
                f"for controls {controls}"
            )
        object.__setattr__(self, "control_values", values)
        every = wires + controls + mux
        if len(set(every)) != len(every):
            raise GateError(f"op '{name}': wires, controls and mux wires must be distinct, got {every}")
        if any(w < 0 for w in every):
            raise GateError(f"op '{name}': wire indices must be >= 0, got {every}")
        if name in MATRIX_GATES:
            self._check_matrix()
        else:
            self._check_params()

    # -- validation ------------------------------------------------------------------
    def _check_params(self) -> None:
        spec = GATES[self.name]
        if len(self.wires) != spec.num_wires:
            raise GateError(f"gate '{self.name}' acts on {spec.num_wires} wire(s), got wires {self.wires}")
        if self.matrix is not None:
            raise GateError(f"gate '{self.name}' takes parameters, not a matrix; use name='unitary' for a matrix")
        params = tuple(_as_param(p, f"gate '{self.name}'") for p in self.params)
        if len(params) != spec.num_params:
            raise GateError(f"gate '{self.name}' takes {spec.num_params} parameter(s), got {len(params)}")
        n_mux = 2 ** len(self.mux)
        for p in params:
            if not isinstance(p, Tensor):
                if self.mux:
                    raise GateError(
                        f"multiplexed gate '{self.name}' needs one parameter per multiplexer value: "
                        f"a tensor with last axis {n_mux}, got a scalar"
                    )
                continue
            if self.mux:
                if p.dim() not in (1, 2) or p.shape[-1] != n_mux:
                    raise ShapeError(
                        f"multiplexed gate '{self.name}' with {len(self.mux)} mux wire(s) needs parameters of shape "
                        f"({n_mux},) or (B, {n_mux}), got {tuple(p.shape)}"
                    )
            elif p.dim() > 1:
                raise ShapeError(
                    f"gate '{self.name}': a parameter is a scalar or a batch of shape (B,), got {tuple(p.shape)}"
                )
        object.__setattr__(self, "params", params)

    def _check_matrix(self) -> None:
        m = self.matrix
        if m is None:
            raise GateError("op 'unitary' needs a matrix")
        if not isinstance(m, Tensor):
            arr = np.asarray(m)
            if not (np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_):
                raise GateError(f"op 'unitary' needs a numeric matrix, got an array of dtype {arr.dtype}")
            m = torch.as_tensor(arr)
        if m.dtype == torch.bool:
            raise GateError("op 'unitary' needs a numeric matrix, got a bool tensor")
        if not m.is_complex():
            m = m.to(torch.complex128)
        object.__setattr__(self, "matrix", m)
        if self.params:
            raise GateError("op 'unitary' takes a matrix, not parameters")
        k = len(self.wires)
        if k < 1:
            raise GateError("op 'unitary' needs at least one wire")
        d = 2**k
        base = 3 if self.mux else 2
        if m.dim() not in (base, base + 1) or tuple(m.shape[-2:]) != (d, d):
            want = f"({2 ** len(self.mux)}, {d}, {d})" if self.mux else f"({d}, {d})"
            raise ShapeError(
                f"op 'unitary' on {k} wire(s) needs a matrix of shape {want} or with a leading batch axis, "
                f"got {tuple(m.shape)}"
            )
        if self.mux and m.shape[-3] != 2 ** len(self.mux):
            raise ShapeError(
                f"multiplexed 'unitary' with {len(self.mux)} mux wire(s) needs {2 ** len(self.mux)} matrices, "
                f"got {m.shape[-3]}"
            )
        _finite(m, "op 'unitary'", "the matrix")
        tolerance = UNITARITY_TOLERANCE.get(m.dtype, 1e-6)
        error = unitarity_error(m)
        if not error <= tolerance:
            raise GateError(
                f"op 'unitary' needs a unitary matrix: max |U^H U - I| is {error:.3g}, above the tolerance "
                f"{tolerance:g} for {m.dtype}; pass a unitary (qcstar.circuits.linalg.nearest_unitary gives the "
                "nearest one)"
            )

    # -- properties ------------------------------------------------------------------
    @property
    def all_wires(self) -> tuple[int, ...]:
        """Every wire the op touches: targets, then controls, then multiplexer wires."""
        return self.wires + self.controls + self.mux

    @property
    def batch_size(self) -> int | None:
        """The leading batch size of the op's parameters or matrix, or None when unbatched."""
        base = 1 if self.mux else 0
        if self.matrix is not None:
            return int(self.matrix.shape[0]) if self.matrix.dim() == base + 3 else None
        for p in self.params:
            if isinstance(p, Tensor) and p.dim() == base + 1:
                return int(p.shape[0])
        return None

    @property
    def is_parametric(self) -> bool:
        return bool(self.params) or self.matrix is not None

    def with_wires(self, mapping: dict[int, int] | Sequence[int]) -> "Op":
        """The same op on relabelled wires (``mapping[old] = new``)."""
        f = (lambda w: mapping[w]) if isinstance(mapping, dict) else (lambda w: mapping[w])
        return replace(
            self,
            wires=tuple(f(w) for w in self.wires),
            controls=tuple(f(w) for w in self.controls),
            mux=tuple(f(w) for w in self.mux),
        )

    def __repr__(self) -> str:
        parts = [repr(self.name), f"wires={self.wires}"]
        if self.params:
            shown = [
                f"{p:.6g}" if not isinstance(p, Tensor) else (f"{p.item():.6g}" if p.dim() == 0 else f"tensor{tuple(p.shape)}")
                for p in self.params
            ]
            parts.append("params=(" + ", ".join(shown) + ")")
        if self.matrix is not None:
            parts.append(f"matrix{tuple(self.matrix.shape)}")
        if self.controls:
            parts.append(f"controls={self.controls}, control_values={self.control_values}")
        if self.mux:
            parts.append(f"mux={self.mux}")
        return "Op(" + ", ".join(parts) + ")"


@dataclass(eq=False)
class Circuit:
    """A circuit on ``n_qubits`` qubits: a list of :class:`Op` plus a global phase.

    Qubit 0 is the least significant bit of a basis index (Qiskit's order).

    Example::

        c = Circuit(3)
        c.h(0).cx(0, 1).ry(torch.rand(8), 2)   # a batch of 8 angles on qubit 2
        c.mux("rz", torch.rand(4), target=0, controls=[1, 2])
    """

    n_qubits: int
    ops: list[Op] = field(default_factory=list)
    global_phase: Param = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.n_qubits, (bool, np.bool_)) or not isinstance(self.n_qubits, (int, np.integer)) or self.n_qubits < 1:
            raise ShapeError(f"a Circuit needs n_qubits >= 1 (an int), got {self.n_qubits!r}")
        if self.n_qubits > MAX_QUBITS:
            raise ShapeError(f"a Circuit holds at most {MAX_QUBITS} qubits (MAX_QUBITS), got {self.n_qubits}")
        self.n_qubits = int(self.n_qubits)
        ops = list(self.ops)
        self.ops = []
        for op in ops:
            self.append(op)
        self.global_phase = _as_param(self.global_phase, "global_phase")

    # -- building --------------------------------------------------------------------
    def append(self, op: Op | str, wires: Iterable[int] | int | None = None, params: Sequence[Param] = (), **kw: Any) -> "Circuit":
        """Append an :class:`Op` (or build one from a name, wires and params). Returns self."""
        if not isinstance(op, Op):
            if wires is None:
                raise GateError(f"append('{op}') needs wires")
            wires = tuple(wires) if isinstance(wires, (list, tuple, range)) else (wires,)
            op = Op(op, wires, tuple(params), **kw)
        bad = [w for w in op.all_wires if w >= self.n_qubits]
        if bad:
            raise GateError(
                f"op '{op.name}' uses wire(s) {bad} but the circuit has {self.n_qubits} qubits (wires 0..{self.n_qubits - 1})"
            )
        b = op.batch_size
        if b is not None:
            mine = self.batch_size
            if mine is not None and mine != b:
                raise ShapeError(f"op '{op.name}' has batch size {b} but the circuit's other ops have batch size {mine}")
        self.ops.append(op)
        return self

    def extend(self, ops: Iterable[Op]) -> "Circuit":
        for op in ops:
            self.append(op)
        return self

    def mux(self, name: str, params: Tensor | Sequence[Tensor], target: int | Sequence[int], controls: Sequence[int]) -> "Circuit":
        """Append a multiplexed gate: one parameter set per value of the ``controls`` register.

        ``params`` is one tensor (one-parameter gates) or a sequence of tensors, each of shape
        ``(2**len(controls),)`` or ``(B, 2**len(controls))``. For ``name="unitary"`` pass the
        matrices ``(2**len(controls), d, d)`` instead.
        """
        targets = tuple(target) if isinstance(target, (list, tuple, range)) else (target,)
        if canonical_name(name) == "unitary":
            return self.append(Op("unitary", targets, matrix=params, mux=tuple(controls)))  # type: ignore[arg-type]
        plist = (params,) if isinstance(params, Tensor) else tuple(params)
        return self.append(Op(name, targets, plist, mux=tuple(controls)))

    def unitary(self, matrix: Tensor, wires: Sequence[int] | int, *, controls: Sequence[int] = (), control_values: Sequence[int] = ()) -> "Circuit":
        """Append a dense unitary; index order ``b(wires[0]) + 2 b(wires[1]) + ...``."""
        wires = tuple(wires) if isinstance(wires, (list, tuple, range)) else (wires,)
        return self.append(Op("unitary", wires, matrix=matrix, controls=tuple(controls), control_values=tuple(control_values)))

    # -- properties ------------------------------------------------------------------
    @property
    def batch_size(self) -> int | None:
        """The common batch size of the batched ops, or None when nothing is batched."""
        for op in self.ops:
            b = op.batch_size
            if b is not None:
                return b
        if isinstance(self.global_phase, Tensor) and self.global_phase.dim() == 1:
            return int(self.global_phase.shape[0])
        return None

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def count_ops(self) -> dict[str, int]:
        """Gate counts by name (multiplexed ops count as ``mux_<name>``)."""
        counts: dict[str, int] = {}
        for op in self.ops:
            key = ("mux_" if op.mux else "") + ("c" * len(op.controls)) + op.name
            counts[key] = counts.get(key, 0) + 1
        return counts

    def select(self, index: int) -> "Circuit":
        """The unbatched circuit of sample ``index`` of a batched circuit (a copy when unbatched).

        The one way to pick a sample: every batched parameter, matrix and the global phase are
        indexed, unbatched ones shared. Negative indices count from the end."""
        b = self.batch_size
        if b is None:
            return self.copy()
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ConfigError(f"a sample index is an int, got {index!r}")
        index = int(index)
        if not -b <= index < b:
            raise ShapeError(f"sample index {index} is out of range for a circuit batch of {b} (0 <= index < {b})")
        ops = [_select_op(op, index) for op in self.ops]
        phase = self.global_phase
        if isinstance(phase, Tensor) and phase.dim() == 1:
            phase = phase[index]
        return Circuit(self.n_qubits, ops, phase, dict(self.metadata))

    def copy(self) -> "Circuit":
        return Circuit(self.n_qubits, list(self.ops), self.global_phase, dict(self.metadata))

    def compose(self, other: "Circuit") -> "Circuit":
        """This circuit followed by ``other`` (same qubit count)."""
        if other.n_qubits != self.n_qubits:
            raise ShapeError(f"compose needs equal qubit counts, got {self.n_qubits} and {other.n_qubits}")
        out = self.copy()
        out.extend(other.ops)
        out.global_phase = out.global_phase + other.global_phase
        return out

    def __repr__(self) -> str:
        b = self.batch_size
        return f"Circuit(n_qubits={self.n_qubits}, ops={len(self.ops)}" + (f", batch={b}" if b else "") + ")"


def _select_op(op: Op, index: int) -> Op:
    """The op for one sample of a batch (unbatched ops are returned as they are)."""
    if op.batch_size is None:
        return op
    base = 1 if op.mux else 0
    if op.matrix is not None:
        return replace(op, matrix=op.matrix[index])
    params = tuple(p[index] if isinstance(p, Tensor) and p.dim() == base + 1 else p for p in op.params)
    return replace(op, params=params)


def _make_helper(name: str):
    spec = GATES[name]

    def helper(self: Circuit, *args: Any) -> Circuit:
        if len(args) != spec.num_params + spec.num_wires:
            raise GateError(
                f"Circuit.{name}() takes {spec.num_params} parameter(s) then {spec.num_wires} wire(s), got {len(args)} arguments"
            )
        params = args[: spec.num_params]
        wires = args[spec.num_params:]
        return self.append(Op(name, tuple(wires), tuple(params)))

    helper.__name__ = name
    helper.__doc__ = f"Append '{name}': {spec.num_params} parameter(s) then {spec.num_wires} wire(s). Returns self."
    return helper


for _name in GATES:
    if not hasattr(Circuit, _name):
        setattr(Circuit, _name, _make_helper(_name))
