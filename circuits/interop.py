"""Conversions between :class:`circuits.Circuit` and Qiskit / PennyLane / Amazon Braket.

Four functions (plus a QNode helper), no dependency on ``pennylane-qiskit``; Qiskit and
PennyLane are imported lazily, so ``import circuits`` works with torch alone.

* :func:`to_qiskit` / :func:`from_qiskit` - ``qiskit.QuantumCircuit``. Qubit ``i`` is Qiskit
  qubit ``i``; our matrix convention *is* Qiskit's (little-endian), so matrices pass unchanged.
* :func:`to_braket` / :func:`from_braket` - ``braket.circuits.Circuit`` (big-endian: see
  :func:`braket_state_to_ours`).
* :func:`to_pennylane` / :func:`from_pennylane` - lists of PennyLane operations. Wire ``i``
  becomes label ``wires[i]`` (default ``i``). PennyLane's ``qml.state()`` treats the first
  wire of the device as the MOST significant bit, so for the same circuit on a device with
  wires ``0..n-1`` it returns our state with the bit order reversed (run the device with
  ``wires=list(reversed(range(n)))`` to get our order directly). Dense matrices are handed to
  PennyLane with their wires reversed for the same reason.

Conventions checked by ``tests/circuits/test_interop.py``:

* multiplexed RX/RY/RZ -> ``UCRXGate``/``UCRYGate``/``UCRZGate`` (target first, then the mux
  wires, ``mux[0]`` least significant), and -> ``qml.SelectPauliRot`` with the control wires
  reversed (PennyLane's first control wire is the most significant);
* ``control_values`` -> Qiskit ``ctrl_state`` with control ``k`` as bit ``k``;
* ``Circuit.global_phase = g`` -> ``qml.GlobalPhase(-g)`` (PennyLane's ``GlobalPhase(phi)``
  multiplies by ``exp(-i phi)``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .errors import GateError, ShapeError, require
from .gates import GATES, broadcast_shape, canonical_name, gate_matrix
from .ir import Circuit, Op
from .optionals import HAS_PENNYLANE, HAS_QISKIT
from .statevector import op_base_matrix, op_full_matrix

Tensor = torch.Tensor

__all__ = [
    "to_qiskit", "from_qiskit", "to_pennylane", "to_pennylane_qfunc", "from_pennylane", "template_from_qiskit", "QiskitTemplate",
    "to_braket", "from_braket", "braket_state_to_ours",
]

_RZ_AXES = {"rx": "X", "ry": "Y", "rz": "Z"}


def _qiskit():
    return HAS_QISKIT.require("converting circuits to or from Qiskit")


def _pennylane():
    return HAS_PENNYLANE.require("converting circuits to or from PennyLane")


_STD_GATES: dict[str, Any] = {}


def _standard_gates() -> dict[str, Any]:
    """Qiskit's name -> gate mapping, built once (it costs ~1 ms a call)."""
    if not _STD_GATES:
        from qiskit.circuit.library import get_standard_gate_name_mapping

        _STD_GATES.update(get_standard_gate_name_mapping())
    return _STD_GATES


# --------------------------------------------------------------------------------------
# batch selection (shared by to_qiskit and to_pennylane)
# --------------------------------------------------------------------------------------

def _select(circuit: Circuit, index: int | None, what: str, *, allow_batch: bool) -> Circuit:
    """``circuit``, or its sample ``index`` (:meth:`Circuit.select`) when it is batched and an
    index is given; a batched circuit without an index is refused unless ``allow_batch``."""
    if not isinstance(circuit, Circuit):
        raise ShapeError(f"{what} expects a circuits.Circuit, got {type(circuit).__name__}")
    b = circuit.batch_size
    if b is None or (index is None and allow_batch):
        return circuit
    if index is None:
        raise ShapeError(
            f"{what}: the circuit is batched (batch size {b}) but the exported circuit holds one sample; "
            f"pass index=i (0 <= i < {b}) to export sample i"
        )
    return circuit.select(index)


def _float(p: Any) -> float:
    if isinstance(p, Tensor):
        if p.numel() != 1:
            raise ShapeError(f"expected a scalar parameter, got a tensor of shape {tuple(p.shape)}")
        return float(p.detach().item())
    return float(p)


def _numpy(m: Tensor) -> np.ndarray:
    return m.detach().to(torch.complex128).cpu().numpy()


# --------------------------------------------------------------------------------------
# Qiskit
# --------------------------------------------------------------------------------------

def to_qiskit(circuit: Circuit, *, index: int | None = None):
    """Convert a :class:`Circuit` to a ``qiskit.QuantumCircuit`` with the same unitary.

    Signature: ``to_qiskit(circuit, *, index=None)`` takes a *circuit* (not to be confused with
    ``qcstar.encoders.to_qiskit(encoder, x)``, which takes an encoder and one sample and calls
    this function). Wire order: our qubit ``i`` is Qiskit qubit ``i`` (both little-endian), so
    ``Statevector(to_qiskit(c)).data`` equals ``simulate(c)``.

    Catalogue gates become ``qiskit.circuit.library`` gates, ``unitary`` ops ``UnitaryGate``,
    multiplexed RX/RY/RZ ``UCRXGate``/``UCRYGate``/``UCRZGate``, other multiplexed
    single-qubit ops ``UCGate(up_to_diagonal=False)`` (exact), and anything else multiplexed a
    block-diagonal ``UnitaryGate`` on ``wires + controls + mux``. Controls become
    ``gate.control(k, ctrl_state=...)``. Measurements recorded by :func:`from_qiskit` in
    ``metadata["measurements"]`` are appended at the end.

    A batched circuit is one circuit per sample: pass ``index`` to pick one (``index`` is
    ignored for an unbatched circuit).

    Example::

        qc = to_qiskit(Circuit(2).h(0).cx(0, 1))
        qc = to_qiskit(batched_circuit, index=3)
    """
    qk = _qiskit()
    circuit = _select(circuit, index, "to_qiskit(circuit)", allow_batch=False)
    std = _standard_gates()
    qc = qk.QuantumCircuit(circuit.n_qubits, global_phase=_float(circuit.global_phase))
    for op in circuit.ops:
        gate, qubits = _qiskit_gate(op, std)
        qc.append(gate, qubits)
    meas = circuit.metadata.get("measurements") or []
    if meas:
        n_clbits = max(int(c) for _, c in meas) + 1
        qc.add_register(qk.ClassicalRegister(n_clbits, "c"))
        for q, c in meas:
            qc.measure(int(q), int(c))
    return qc


def _qiskit_gate(op: Op, std: dict):
    from qiskit.circuit.library import UCGate, UCRXGate, UCRYGate, UCRZGate, UnitaryGate

    wires = list(op.wires)
    if op.mux:
        if op.controls:
            # A controlled multiplexer has no library gate; its dense matrix is exact.
            return UnitaryGate(_numpy(op_full_matrix(op)[0]), check_input=False), list(op.all_wires)
        if op.name in _RZ_AXES:
            angles = [float(a) for a in op.params[0].detach().cpu().tolist()]
            cls = {"rx": UCRXGate, "ry": UCRYGate, "rz": UCRZGate}[op.name]
            return cls(angles), wires + list(op.mux)
        blocks = _numpy(op_base_matrix(op)[0])  # (2**m, d, d)
        if len(wires) == 1:
            # up_to_diagonal=False makes UCGate exact, global phase included (tested).
            return UCGate(list(blocks), up_to_diagonal=False), wires + list(op.mux)
        return UnitaryGate(_numpy(op_full_matrix(op)[0]), check_input=False), list(op.all_wires)
    if op.name == "unitary":
        gate = UnitaryGate(_numpy(op.matrix), check_input=False)
    else:
        gate = type(std[op.name])(*[_float(p) for p in op.params])
    if op.controls:
        state = sum(v << k for k, v in enumerate(op.control_values))
        # annotated=False: a concrete ControlledGate (Operator, QASM export and from_qiskit accept it)
        gate = gate.control(len(op.controls), ctrl_state=state, annotated=False)
        return gate, list(op.controls) + wires
    return gate, wires


def _bound(value: Any, where: str) -> float:
    """A float from a Qiskit parameter, or a GateError for an unbound Parameter."""
    from qiskit.circuit import ParameterExpression

    if isinstance(value, ParameterExpression):
        if value.parameters:
            names = ", ".join(sorted(p.name for p in value.parameters))
            raise GateError(
                f"{where} has unbound parameter(s) {names}; bind them first with "
                "qc.assign_parameters({...}) before from_qiskit"
            )
        value = complex(value)
        if abs(value.imag) > 1e-12:
            raise GateError(f"{where} has a complex parameter {value}; expected a real angle")
        return float(value.real)
    return float(value)


_SKIPPED = frozenset({"barrier", "delay"})
_CONTROL_FLOW = frozenset({"if_else", "while_loop", "for_loop", "switch_case", "box", "break_loop", "continue_loop"})


def from_qiskit(qc) -> Circuit:
    """Convert a ``qiskit.QuantumCircuit`` (parameters bound) to a :class:`Circuit`.

    Standard gates with a catalogue equivalent map to it; ``UCRX/UCRY/UCRZGate`` and exact
    ``UCGate`` become multiplexed ops; ``UnitaryGate`` a ``unitary`` op; controlled gates whose
    base gate maps (e.g. ``mcx``, ``RYGate(t).control(2, ctrl_state=1)``) keep their controls;
    any other gate on <= 2 qubits becomes a ``unitary`` op of its ``Operator``; larger ones are
    expanded through their ``definition``. Barriers and delays are dropped; measurements are
    recorded as ``(qubit, clbit)`` pairs in ``metadata["measurements"]``; resets and classical
    control raise :class:`GateError`. Registers are flattened by ``qc.find_bit(q).index``.

    Example::

        qc = QuantumCircuit(2); qc.h(0); qc.cx(0, 1)
        c = from_qiskit(qc)            # Circuit(n_qubits=2, ops=2)
    """
    qk = _qiskit()
    if not isinstance(qc, qk.QuantumCircuit):
        raise GateError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise ShapeError("from_qiskit: the QuantumCircuit has no qubits")
    ctx = _FromQiskit(_standard_gates())
    qmap = [qc.find_bit(q).index for q in qc.qubits]
    cmap = [qc.find_bit(c).index for c in qc.clbits]
    phase = _bound(qc.global_phase, "the circuit's global_phase")
    phase += ctx.walk(qc, qmap, cmap)
    out = Circuit(qc.num_qubits, ctx.ops, phase)
    if ctx.measurements:
        out.metadata["measurements"] = ctx.measurements
    return out


class _FromQiskit:
    def __init__(self, std: dict):
        self.std = std
        self.ops: list[Op] = []
        self.measurements: list[tuple[int, int]] = []

    def walk(self, qc, qmap: list[int], cmap: list[int], depth: int = 0) -> float:
        """Append the ops of ``qc`` (its qubit i is our wire qmap[i]); return the global phase it adds."""
        from qiskit.circuit import AnnotatedOperation, ControlFlowOp

        if depth > 50:
            raise GateError("from_qiskit: gate definitions nest more than 50 levels deep")
        phase = 0.0
        for inst in qc.data:
            op = inst.operation
            name = op.name
            wires = [qmap[qc.find_bit(q).index] for q in inst.qubits]
            if name in _SKIPPED:
                continue
            if name == "measure":
                self.measurements.append((wires[0], cmap[qc.find_bit(inst.clbits[0]).index]))
                continue
            if name == "reset":
                raise GateError(
                    f"from_qiskit: 'reset' on qubit {wires[0]} is not unitary and has no Circuit equivalent; "
                    "remove resets (a Circuit always starts from |0...0>)"
                )
            if isinstance(op, ControlFlowOp) or name in _CONTROL_FLOW or getattr(op, "condition", None) is not None:
                raise GateError(
                    f"from_qiskit: '{name}' is classical control flow, which a Circuit cannot hold; "
                    "remove it or replace it by unitary gates (e.g. controlled gates)"
                )
            if name == "global_phase":
                phase += _bound(op.params[0], "global_phase gate")
                continue
            converted = self.convert(op, wires)
            if converted is not None:
                self.ops.append(converted)
                continue
            if op.num_qubits <= 2 and not op.num_clbits:
                matrix = self.operator(op, name, strict=False)
                if matrix is not None:
                    self.ops.append(Op("unitary", tuple(wires), matrix=matrix))
                    continue
            definition = getattr(op, "definition", None)
            if definition is None:
                if isinstance(op, AnnotatedOperation):  # no definition, but Qiskit can build its matrix
                    self.ops.append(Op("unitary", tuple(wires), matrix=self.operator(op, name)))
                    continue
                raise GateError(
                    f"from_qiskit: '{name}' on {op.num_qubits} qubits is not in the gate catalogue and has no "
                    "definition to expand; decompose or transpile the circuit first"
                )
            sub_q = [wires[i] for i in range(definition.num_qubits)]
            sub_c = [cmap[qc.find_bit(c).index] for c in inst.clbits]
            phase += _bound(definition.global_phase, f"global phase of '{name}'")
            phase += self.walk(definition, sub_q, sub_c, depth + 1)
        return phase

    def operator(self, op, name: str, strict: bool = True) -> Tensor | None:
        """The matrix of ``op`` (little-endian, as ours); None if it has none and not ``strict``."""
        from qiskit.quantum_info import Operator

        for p in getattr(op, "params", ()):
            if not isinstance(p, np.ndarray):
                _bound(p, f"gate '{name}'")
        try:
            data = Operator(op).data
        except Exception as exc:  # qiskit raises several types here (e.g. a reset inside)
            if not strict:
                return None
            raise GateError(f"from_qiskit: cannot build the matrix of '{name}': {exc}") from exc
        return torch.as_tensor(np.ascontiguousarray(data), dtype=torch.complex128)

    def convert(self, op, wires: list[int]) -> Op | None:
        """The Op for a gate with a direct equivalent, or None."""
        from qiskit.circuit import AnnotatedOperation, ControlledGate
        from qiskit.circuit.library import UCGate, UCPauliRotGate, UnitaryGate

        name = op.name
        std = self.std.get(name)
        if std is not None and type(op) is type(std):
            try:
                ours = canonical_name(name)
            except GateError:
                ours = None
            # The parameter count guards against Qiskit's controlled-CU, whose base UGate carries
            # CU's four parameters.
            spec = GATES.get(ours) if ours is not None else None
            if spec is not None and spec.num_wires == len(wires) and spec.num_params == len(op.params):
                params = tuple(_bound(p, f"gate '{name}'") for p in op.params)
                return Op(ours, tuple(wires), params)
        if isinstance(op, UCPauliRotGate):
            axis = name[-1].lower()
            angles = torch.tensor([_bound(p, f"gate '{name}'") for p in op.params], dtype=torch.float64)
            return Op("r" + axis, (wires[0],), (angles,), mux=tuple(wires[1:]))
        if isinstance(op, UCGate) and not op.up_to_diagonal:
            blocks = torch.as_tensor(np.stack([np.asarray(b, dtype=complex) for b in op.params]))
            return Op("unitary", (wires[0],), matrix=blocks, mux=tuple(wires[1:]))
        if isinstance(op, UnitaryGate):
            return Op("unitary", tuple(wires), matrix=self.operator(op, name))
        if isinstance(op, AnnotatedOperation):
            return self.annotated(op, wires)
        if isinstance(op, ControlledGate):
            k = op.num_ctrl_qubits
            base = self.convert(op.base_gate, wires[k:])
            if base is not None and not base.mux:
                values = tuple((op.ctrl_state >> i) & 1 for i in range(k))
                return replace(
                    base,
                    controls=tuple(wires[:k]) + base.controls,
                    control_values=values + base.control_values,
                )
        return None


    def annotated(self, op, wires: list[int]) -> Op | None:
        """An AnnotatedOperation made only of control modifiers (Qiskit's default for
        ``gate.control()`` from 3.0 on): the base op with controls; None otherwise."""
        from qiskit.circuit.annotated_operation import ControlModifier

        n_base = op.base_op.num_qubits
        base = self.convert(op.base_op, wires[len(wires) - n_base:])
        if base is None or base.mux:
            return None
        rest = wires[: len(wires) - n_base]
        controls, values = base.controls, base.control_values
        # modifiers apply left to right, each putting its control qubits in front
        for mod in op.modifiers:
            if not isinstance(mod, ControlModifier):
                return None
            k = mod.num_ctrl_qubits
            new, rest = rest[len(rest) - k:], rest[: len(rest) - k]
            controls = tuple(new) + controls
            values = tuple((mod.ctrl_state >> i) & 1 for i in range(k)) + values
        return replace(base, controls=controls, control_values=values)


# --------------------------------------------------------------------------------------
# PennyLane
# --------------------------------------------------------------------------------------

def _pl_named(qml, label: str, params: Sequence[Any], wires: Sequence[Any]) -> Any:
    """The PennyLane operation named ``label`` as PennyLane names it: ``"CNOT"``, ``"Adjoint(S)"``
    or ``"C(SX)"`` (one control, the first wire), on ``wires`` (ours, same order)."""
    if label.startswith("Adjoint(") and label.endswith(")"):
        return qml.adjoint(_pl_named(qml, label[len("Adjoint("):-1], params, wires))
    if label.startswith("C(") and label.endswith(")"):
        return qml.ctrl(_pl_named(qml, label[2:-1], params, wires[1:]), control=wires[0])
    return getattr(qml, label)(*params, wires=list(wires))


def _pl_gate(qml, name: str, params: Sequence[Any], wires: Sequence[Any]) -> list:
    """PennyLane ops (time order) with the matrix of catalogue gate ``name``, phase included, from
    the catalogue's ``pennylane_name`` / ``pennylane_fn`` (a ``QubitUnitary`` when it has neither)."""
    spec = GATES[name]
    if spec.pennylane_name is not None:
        return [_pl_named(qml, spec.pennylane_name, params, wires)]
    if spec.pennylane_fn is not None:
        return spec.pennylane_fn(qml, params, wires)
    return [qml.QubitUnitary(gate_matrix(name, params), wires=list(wires)[::-1])]


def _pl_op(qml, op: Op, labels: Sequence[Any]) -> list:
    """PennyLane ops (time order) for one of our ops, wire ``i`` labelled ``labels[i]``."""
    w = [labels[q] for q in op.wires]
    if op.mux:
        ops = _pl_mux(qml, op, labels)
    elif op.name == "unitary":
        # Our index is little-endian in op.wires; PennyLane's first wire is the most significant.
        ops = [qml.QubitUnitary(op.matrix, wires=w[::-1])]
    else:
        ops = _pl_gate(qml, op.name, op.params, w)
    if op.controls:
        ctrl_w = [labels[q] for q in op.controls]
        ops = [qml.ctrl(o, control=ctrl_w, control_values=list(op.control_values)) for o in ops]
    return ops


def _pl_mux(qml, op: Op, labels: Sequence[Any]) -> list:
    # PennyLane's first control wire is the most significant bit of the select index, ours the
    # least: reverse the mux wires and the block order stays the same.
    control = [labels[q] for q in reversed(op.mux)]
    w = [labels[q] for q in op.wires]
    if op.name in _RZ_AXES:
        # SelectPauliRot(rot_axis="X"/"Y") gives wrong results with torch angles in PennyLane
        # 0.45.1 (a complex->real cast inside its basis change), so we do the basis change
        # ourselves around the Z multiplexer: RX = H RZ H, RY = (S H) RZ (S H)^dagger.
        t = w[0]
        z = lambda: qml.SelectPauliRot(op.params[0], control_wires=control, target_wire=t, rot_axis="Z")
        if op.name == "rz":
            return [z()]
        if op.name == "rx":
            return [qml.Hadamard(t), z(), qml.Hadamard(t)]
        return [qml.adjoint(qml.S(t)), qml.Hadamard(t), z(), qml.Hadamard(t), qml.S(t)]
    blocks = op_base_matrix(op) if op.matrix is None else op.matrix
    if op.matrix is None and op.batch_size is None:
        blocks = blocks[0]
    n_blocks = 2 ** len(op.mux)
    return [qml.Select([qml.QubitUnitary(blocks[..., j, :, :], wires=w[::-1]) for j in range(n_blocks)], control=control)]


def _labels(circuit: Circuit, wires: Sequence[Any] | None) -> list:
    if wires is None:
        return list(range(circuit.n_qubits))
    labels = list(wires)
    if len(labels) != circuit.n_qubits or len(set(labels)) != len(labels):
        raise ShapeError(
            f"to_pennylane: wires must hold {circuit.n_qubits} distinct labels (one per qubit), got {labels}"
        )
    return labels


def to_pennylane(circuit: Circuit, *, wires: Sequence[Any] | None = None, index: int | None = None) -> list:
    """Convert a :class:`Circuit` to a list of PennyLane operations (time order).

    Wire order: ``wires`` lists the labels of our qubits 0, 1, ..., n-1 in that order, so
    ``wires[0]`` is the label of qubit 0, the LEAST significant bit (default labels ``0..n-1``).
    (``qcstar.encoders.to_pennylane(encoder, x, wires)`` takes its labels the other way round,
    most significant first, as PennyLane orders a device's wires.) Torch parameters are passed through
    unchanged, so gradients flow with ``default.qubit`` (torch interface, backprop) and a
    batched circuit uses PennyLane's parameter broadcasting; ``index`` exports one sample
    (ignored for an unbatched circuit).
    Called inside a QNode, the operations are queued (like calling gate constructors).

    Bit order: with a device on wires ``0..n-1``, ``qml.state()`` is our state with the bits
    reversed; use ``qml.device(..., wires=list(reversed(range(n))))`` to get our order.

    Example::

        dev = qml.device("default.qubit", wires=list(reversed(range(2))))

        @qml.qnode(dev, interface="torch")
        def f():
            to_pennylane(Circuit(2).h(0).cx(0, 1))
            return qml.state()
    """
    qml = _pennylane()
    circuit = _select(circuit, index, "to_pennylane(circuit)", allow_batch=True)
    labels = _labels(circuit, wires)
    out: list = []
    for op in circuit.ops:
        out.extend(_pl_op(qml, op, labels))
    phase = circuit.global_phase
    if isinstance(phase, Tensor) or phase != 0.0:
        out.append(qml.GlobalPhase(-phase, wires=labels))  # GlobalPhase(f) multiplies by exp(-i f)
    return out


def to_pennylane_qfunc(
    circuit: Circuit,
    *,
    wires: Sequence[Any] | None = None,
    index: int | None = None,
    measure: Callable[[], Any] | None = None,
) -> Callable[[], Any]:
    """A quantum function that applies ``circuit`` and returns ``measure()`` (default ``qml.state()``).

    Example::

        qnode = qml.QNode(to_pennylane_qfunc(c), qml.device("default.qubit"), interface="torch")
        state = qnode()   # bit order reversed with respect to circuits.simulate(c)
    """
    qml = _pennylane()
    _select(circuit, index, "to_pennylane_qfunc(circuit)", allow_batch=True)  # fail early
    _labels(circuit, wires)

    def qfunc():
        to_pennylane(circuit, wires=wires, index=index)
        return measure() if measure is not None else qml.state()

    return qfunc


def _from_pennylane_names() -> dict[str, str]:
    """PennyLane operation name -> catalogue gate, from ``GateSpec.pennylane_name``.

    Controlled names (``"C(SX)"``) are left out: PennyLane gives a ``qml.ctrl`` op that name
    whatever its control values, so those go through the controlled-op path, which keeps them.
    The first gate with a name keeps it (``PhaseShift`` reads back as ``p``, not ``u1``).
    """
    out: dict[str, str] = {}
    for name, spec in GATES.items():
        if spec.pennylane_name is not None and not spec.pennylane_name.startswith("C("):
            out.setdefault(spec.pennylane_name, name)
    return out


_FROM_PL: dict[str, str] = _from_pennylane_names()


def _pl_param(p: Any) -> Any:
    """A PennyLane parameter as a float or a real tensor (torch tensors kept for gradients)."""
    if isinstance(p, Tensor):
        return p
    arr = np.asarray(p)
    if arr.ndim == 0:
        return float(arr)
    return torch.as_tensor(arr.astype(np.float64))


def _pl_matrix(m: Any) -> Tensor:
    if isinstance(m, Tensor):
        return m if m.is_complex() else m.to(torch.complex128)
    return torch.as_tensor(np.asarray(m, dtype=np.complex128))


def _pl_ops_of(obj: Any) -> list:
    qml = _pennylane()
    if isinstance(obj, qml.tape.QuantumScript):
        return list(obj.operations)
    if isinstance(obj, qml.operation.Operator):
        return [obj]
    if callable(obj):
        script = qml.tape.make_qscript(obj)()
        return list(script.operations)
    try:
        ops = list(obj)
    except TypeError:
        raise GateError(
            f"from_pennylane expects a list of operations, a QuantumScript/tape or a quantum function, "
            f"got {type(obj).__name__}"
        ) from None
    for o in ops:
        if not isinstance(o, qml.operation.Operator):
            raise GateError(f"from_pennylane: expected PennyLane operations, got {type(o).__name__} in the list")
    return ops


def from_pennylane(ops_or_tape_or_qfunc: Any, *, wires: Sequence[Any] | None = None) -> Circuit:
    """Convert PennyLane operations (a list, a QuantumScript/tape, or a quantum function taking
    no arguments; use ``functools.partial`` to fix arguments) to a :class:`Circuit`.

    Wire labels map to qubits ``0..n-1`` in the order of ``wires`` if given, else in sorted
    order (order of appearance if the labels do not sort). Known operations map to the
    catalogue (``SelectPauliRot`` and ``Select`` to multiplexed ops, ``qml.ctrl`` of a mapped
    gate to a controlled op, ``GlobalPhase`` to the global phase); anything else on <= 2 wires
    becomes a ``unitary`` op of its matrix, larger ones are decomposed. Measurements are ignored.

    Example::

        c = from_pennylane([qml.Hadamard(0), qml.CNOT([0, 1])])   # Circuit(n_qubits=2, ops=2)
    """
    qml = _pennylane()
    ops = _pl_ops_of(ops_or_tape_or_qfunc)
    if wires is not None:
        labels = list(wires)
        if len(set(labels)) != len(labels):
            raise ShapeError(f"from_pennylane: wires must be distinct, got {labels}")
    else:
        seen: dict[Any, None] = {}
        for o in ops:
            for w in o.wires:
                seen.setdefault(w, None)
        labels = list(seen)
        try:
            labels = sorted(labels)
        except TypeError:
            pass  # mixed label types: keep the order of appearance
    if not labels:
        raise ShapeError("from_pennylane: the operations act on no wires; pass wires=[...] to set the qubits")
    index = {w: i for i, w in enumerate(labels)}
    conv = _FromPennyLane(qml, index)
    for o in ops:
        conv.add(o, 0)
    return Circuit(len(labels), conv.ops, conv.phase)


class _FromPennyLane:
    def __init__(self, qml, index: dict):
        self.qml = qml
        self.index = index
        self.ops: list[Op] = []
        self.phase: Any = 0.0

    def wires(self, op) -> list[int]:
        try:
            return [self.index[w] for w in op.wires]
        except KeyError as exc:
            raise ShapeError(
                f"from_pennylane: operation {op.name} uses wire {exc.args[0]!r}, which is not in wires={list(self.index)}"
            ) from None

    def add(self, op, depth: int) -> None:
        qml = self.qml
        if depth > 50:
            raise GateError("from_pennylane: decompositions nest more than 50 levels deep")
        name = op.name
        if isinstance(op, qml.measurements.MeasurementProcess) or name in ("MidMeasureMP", "MidMeasure", "Conditional"):
            raise GateError(
                f"from_pennylane: '{name}' (mid-circuit measurement or classical control) has no Circuit equivalent"
            )
        if name == "GlobalPhase":
            self.phase = self.phase - _pl_param(op.parameters[0])  # GlobalPhase(f) = exp(-i f)
            return
        if name == "Identity" and len(op.wires) != 1:
            return
        mapped = self.convert(op)
        if mapped is not None:
            self.ops.append(mapped)
            return
        wires = self.wires(op)
        if len(wires) <= 2 or name == "QubitUnitary":
            try:
                m = qml.matrix(op, wire_order=list(op.wires)[::-1])
            except Exception as exc:  # PennyLane raises several types here
                raise GateError(f"from_pennylane: cannot build the matrix of '{name}': {exc}") from exc
            if not wires:
                raise GateError(f"from_pennylane: operation '{name}' acts on no wires")
            self.ops.append(Op("unitary", tuple(wires), matrix=_pl_matrix(m)))
            return
        try:
            sub = op.decomposition()
        except Exception as exc:
            raise GateError(
                f"from_pennylane: '{name}' on {len(wires)} wires is not in the gate catalogue and cannot be "
                f"decomposed ({type(exc).__name__}); decompose the circuit first"
            ) from exc
        for s in sub:
            self.add(s, depth + 1)

    def convert(self, op) -> Op | None:
        """The Op for an operation with a direct equivalent, or None."""
        qml = self.qml
        name = op.name
        ours = _FROM_PL.get(name)
        if ours is not None:
            params = tuple(_pl_param(p) for p in op.parameters)
            return Op(ours, tuple(self.wires(op)), params)
        if name == "SelectPauliRot":
            hp = op.hyperparameters
            mux = tuple(self.index[w] for w in reversed(hp["control_wires"]))
            target = (self.index[hp["target_wire"][0]],)
            angles = op.parameters[0]
            angles = angles if isinstance(angles, Tensor) else torch.as_tensor(np.asarray(angles, dtype=np.float64))
            return Op("r" + hp["rot_axis"].lower(), target, (angles,), mux=mux)
        if name == "Select":
            return self.select(op)
        if isinstance(op, qml.ops.Controlled):
            base = self.convert(op.base)
            if base is None and len(op.base.wires) <= 2 and op.base.name != "GlobalPhase":
                m = qml.matrix(op.base, wire_order=list(op.base.wires)[::-1])
                base = Op("unitary", tuple(self.wires(op.base)), matrix=_pl_matrix(m))
            if base is None or base.mux:
                return None
            controls = tuple(self.index[w] for w in op.control_wires)
            values = tuple(int(bool(v)) for v in op.control_values)
            return replace(base, controls=controls + base.controls, control_values=values + base.control_values)
        return None

    def select(self, op) -> Op | None:
        qml = self.qml
        hp = op.hyperparameters
        control = list(hp["control"])
        targets = [w for w in op.wires if w not in control]
        if not targets or len(targets) > 4:
            return None
        order = targets[::-1]  # little-endian in ``targets``
        blocks = [_pl_matrix(qml.matrix(o, wire_order=order)) for o in hp["ops"]]
        d = 2 ** len(targets)
        eye = torch.eye(d, dtype=torch.complex128)
        blocks += [eye] * (2 ** len(control) - len(blocks))
        shape = broadcast_shape(*(b.shape for b in blocks))
        dtype = torch.complex128 if any(b.dtype == torch.complex128 for b in blocks) else blocks[0].dtype
        stacked = torch.stack([b.to(dtype).expand(shape) for b in blocks], dim=-3)
        mux = tuple(self.index[w] for w in reversed(control))
        return Op("unitary", tuple(self.index[w] for w in targets), matrix=stacked, mux=mux)


# --------------------------------------------------------------------------------------
# Qiskit circuits with symbolic parameters -> templates bound to a whole batch
# --------------------------------------------------------------------------------------
_NON_UNITARY_SKIPPED = frozenset({"barrier", "delay", "measure"})


def _has_free_parameters(op) -> bool:
    from qiskit.circuit import ParameterExpression

    return any(isinstance(p, ParameterExpression) and p.parameters for p in getattr(op, "params", ()))


def _real_number(value: Any, where: str) -> float:
    value = complex(value)
    if abs(value.imag) > 1e-12:
        raise GateError(f"{where} evaluates to the complex number {value}; expected a real angle")
    return float(value.real)


class QiskitTemplate:
    """A parameterised Qiskit circuit converted ONCE into a template :class:`Circuit`.

    Every gate parameter of the template is a *slot* (a placeholder of
    :mod:`qcstar.circuits.template`). A slot's value is computed from the Qiskit parameters
    ``x`` ``(N, P)`` (columns in the order of :attr:`parameter_names`) as

    * an affine map ``x @ coefficients.T + offsets`` for constants and expressions linear in the
      parameters (``2*x[0]``, ``a*x + b``, ``x[0] - x[1]``): one matrix product for the batch;
    * a vectorised NumPy function of the columns (SymPy ``lambdify``) for any other expression
      (``(pi - x[0])*(pi - x[1])`` of ``zz_feature_map``, ``sin(x)``): one call per slot for
      the whole batch, not one call per sample.

    :meth:`bind` gives one batched circuit and :meth:`states` simulates it in a single
    :func:`qcstar.circuits.simulate` call. Build it with :func:`template_from_qiskit`.
    """

    def __init__(self, *, template: Circuit, parameter_names: Sequence[str], coefficients: Tensor,
                 offsets: Tensor, nonlinear: Sequence[tuple[int, Callable[[np.ndarray], Any], str]]):
        self.template = template
        self.parameter_names = tuple(parameter_names)
        self.coefficients = coefficients  # (S, P) float64
        self.offsets = offsets  # (S,) float64
        self.nonlinear = tuple(nonlinear)  # (slot, f(x as a (N, P) array), text of the expression)

    @property
    def n_parameters(self) -> int:
        """P: the number of Qiskit parameters (columns of ``x``)."""
        return len(self.parameter_names)

    @property
    def n_qubits(self) -> int:
        return self.template.n_qubits

    def values(self, x: Any) -> Tensor:
        """The slot values ``(N, S)`` (float64) of parameter rows ``x`` ``(N, P)`` or ``(P,)``."""
        t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
        if t.is_complex():
            raise ShapeError("feature-map parameters must be real numbers, got a complex tensor")
        t = t.to(torch.float64)
        single = t.dim() == 1
        if single:
            t = t[None]
        p = self.n_parameters
        if t.dim() != 2 or t.shape[1] != p:
            names = ", ".join(self.parameter_names[:6]) + (", ..." if p > 6 else "")
            raise ShapeError(
                f"the feature map has {p} parameters ({names}); expected values of shape (N, {p}) or ({p},), "
                f"got {tuple(t.shape)}"
            )
        out = t @ self.coefficients.T + self.offsets  # affine slots (non-affine rows are zero here)
        if self.nonlinear:
            columns = t.detach().cpu().numpy()
            for slot, fn, text in self.nonlinear:
                with np.errstate(invalid="ignore", divide="ignore"):  # reported below as a GateError
                    value = np.asarray(fn(columns))
                if np.iscomplexobj(value):
                    if np.abs(value.imag).max(initial=0.0) > 1e-12:
                        raise GateError(f"the gate parameter {text} is complex for some inputs; expected real angles")
                    value = value.real
                if not np.isfinite(value).all():
                    raise GateError(
                        f"the gate parameter {text} is not a finite real number for some inputs (e.g. log of a "
                        "negative value); expected real angles: check the inputs' range"
                    )
                out[:, slot] = torch.as_tensor(np.broadcast_to(value, (t.shape[0],)).astype(np.float64))
        return out[0] if single else out

    def bind(self, x: Any) -> Circuit:
        """The batched :class:`Circuit` of parameter rows ``x`` ``(N, P)`` (unbatched for ``(P,)``)."""
        from .template import bind_template

        return bind_template(self.template, self.values(x))

    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None,
               fuse: bool = True) -> Tensor:
        """States ``(N, 2**n)`` of all rows of ``x``, the whole batch at once.

        ``fuse=True``: each run of CX/X/SWAP and diagonal phase gates (P, RZ, CP, CRZ, RZZ, Z, S,
        T, CZ: the ZZ/Pauli feature maps' entanglers) is applied as one diagonal phase
        ``exp(i values @ F)`` and one basis permutation, computed once per template, instead of
        gate by gate; the other gates go through :func:`qcstar.circuits.simulate`.
        ``fuse=False``: one :func:`~qcstar.circuits.simulate` call on :meth:`bind`'s circuit.
        """
        from .statevector import simulate
        from .template import bind_template

        if not fuse:
            return simulate(self.bind(x), dtype=dtype, device=device)
        values = self.values(x)
        single = values.dim() == 1
        values = values[None] if single else values
        psi = None
        for segment in self._segments():
            if isinstance(segment, Circuit):
                psi = simulate(bind_template(segment, values), psi, dtype=dtype, device=device)
                psi = psi if psi.dim() == 2 else psi.expand(values.shape[0], -1)  # a constant segment
                continue
            if psi is None:  # the run starts the circuit: the state is |0...0>
                psi = torch.zeros(values.shape[0], 2 ** self.n_qubits, dtype=dtype, device=device)
                psi[:, 0] = 1
            psi = segment.apply(psi, values)
        if psi is None:
            psi = simulate(Circuit(self.n_qubits), dtype=dtype, device=device).expand(values.shape[0], -1)
        phase = self.template.metadata.get("phase_index")
        if phase is not None or float(self.template.global_phase) != 0.0:
            angle = values[:, int(phase)] if phase is not None else torch.full(
                (values.shape[0],), float(self.template.global_phase), dtype=torch.float64)
            psi = psi * torch.polar(torch.ones_like(angle), angle).to(device=psi.device, dtype=psi.dtype)[:, None]
        return psi[0] if single else psi

    def _segments(self) -> list[Any]:
        """The template split into circuits and fused phase runs (built once)."""
        cached = getattr(self, "_segments_cache", None)
        if cached is None:
            cached = self._segments_cache = _phase_run_segments(self.template)
        return cached

    def __repr__(self) -> str:
        return (f"QiskitTemplate(n_qubits={self.n_qubits}, parameters={self.n_parameters}, "
                f"ops={len(self.template.ops)}, nonlinear_slots={len(self.nonlinear)})")


def template_from_qiskit(qc, *, parameters: Sequence[Any] | None = None) -> QiskitTemplate:
    """Convert a ``QuantumCircuit`` with free ``Parameter``s into a :class:`QiskitTemplate`.

    ``parameters`` fixes the column order of the values (default ``qc.parameters``, Qiskit's
    sorted order, which is also the order qiskit-machine-learning binds feature-map rows in).
    Gates whose parameters are symbolic map to catalogue gates with placeholders; gates
    without a catalogue equivalent are expanded through their (symbolic) ``definition``;
    constant gates go through :func:`from_qiskit`. A symbolic global phase becomes a slot too.
    Measurements and barriers are dropped.

    Example::

        from qiskit.circuit.library import zz_feature_map
        fm = template_from_qiskit(zz_feature_map(10, reps=2))
        psi = fm.states(x)        # x: (N, 10) -> (N, 1024), one batched simulation
    """
    qk = _qiskit()
    if not isinstance(qc, qk.QuantumCircuit):
        raise GateError(f"template_from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise ShapeError("template_from_qiskit: the QuantumCircuit has no qubits")
    order = list(qc.parameters) if parameters is None else list(parameters)
    if len(set(order)) != len(order):
        raise ShapeError("template_from_qiskit: parameters must be distinct")
    missing = set(qc.parameters) - set(order)
    if missing:
        names = ", ".join(sorted(p.name for p in missing))
        raise ShapeError(f"template_from_qiskit: the circuit's parameter(s) {names} are not in parameters=[...]; add them")
    builder = _QiskitTemplateBuilder(qk, qc.num_qubits)
    builder.add_phase(qc.global_phase)
    builder.walk(qc, [qc.find_bit(q).index for q in qc.qubits], 0)
    builder.flush()
    return builder.finish(order)


class _QiskitTemplateBuilder:
    """Walks a symbolic Qiskit circuit, collecting template ops and one expression per slot."""

    def __init__(self, qk, n: int):
        self.qk = qk
        self.n = n
        self.converter = _FromQiskit(_standard_gates())
        self.ops: list[Op] = []
        self.slots: list[Any] = []  # a float or a ParameterExpression per slot
        self.phase: Any = 0.0
        self.pending = qk.QuantumCircuit(n)

    def add_phase(self, value: Any) -> None:
        from qiskit.circuit import ParameterExpression

        if isinstance(value, ParameterExpression) and not value.parameters:
            value = _real_number(value, "the global phase")
        self.phase = self.phase + value

    def walk(self, qc, qmap: list[int], depth: int) -> None:
        if depth > 50:
            raise GateError("template_from_qiskit: gate definitions nest more than 50 levels deep")
        for inst in qc.data:
            op = inst.operation
            if op.name in _NON_UNITARY_SKIPPED:
                continue
            wires = [qmap[qc.find_bit(q).index] for q in inst.qubits]
            if not _has_free_parameters(op):
                self.pending.append(op, wires)  # constants: converted in runs by from_qiskit
                continue
            self.flush()
            if self.symbolic(op, wires):
                continue
            definition = getattr(op, "definition", None)
            if definition is None:
                raise GateError(
                    f"template_from_qiskit: '{op.name}' has symbolic parameters, no catalogue equivalent and no "
                    "definition to expand; decompose or transpile the circuit first"
                )
            self.add_phase(definition.global_phase)
            self.walk(definition, [wires[definition.find_bit(q).index] for q in definition.qubits], depth + 1)

    def symbolic(self, op, wires: list[int]) -> bool:
        """Append ``op`` with one new slot per parameter if it maps to a catalogue op; else False."""
        start = len(self.slots)
        stand_in = op.copy()
        try:
            stand_in.params = [float(start + i) for i in range(len(op.params))]  # placeholders
        except Exception:  # some operations do not allow their params to be replaced
            return False
        converted = self.converter.convert(stand_in, wires)
        if converted is None or converted.matrix is not None:
            return False
        used = sorted(int(v) for p in converted.params for v in np.atleast_1d(_numpy_param(p)).tolist())
        if used != list(range(start, start + len(op.params))):
            return False  # the converter transformed the values: not a placeholder-preserving map
        self.slots.extend(op.params)
        params = tuple(torch.as_tensor(_numpy_param(p), dtype=torch.float64) for p in converted.params)
        self.ops.append(replace(converted, params=params))
        return True

    def flush(self) -> None:
        """Convert the pending constant gates and give each of their parameters a constant slot."""
        from .template import templatize

        if not self.pending.data:
            return
        template, values = templatize(from_qiskit(self.pending))
        offset = len(self.slots)
        for op in template.ops:
            if op.params:
                op = replace(op, params=tuple(p + offset for p in op.params))
            self.ops.append(op)
        self.slots.extend(values.tolist())
        self.phase = self.phase + float(template.global_phase)
        self.pending = self.qk.QuantumCircuit(self.n)

    def finish(self, order: list[Any]) -> QiskitTemplate:
        from qiskit.circuit import ParameterExpression

        column = {p: j for j, p in enumerate(order)}
        slots = list(self.slots)
        meta: dict[str, Any] = {"template": True}
        phase: Any = self.phase
        if isinstance(phase, ParameterExpression):
            meta["phase_index"] = len(slots)
            slots.append(phase)
            phase = 0.0
        meta["n_parameters"] = len(slots)
        coefficients = torch.zeros(len(slots), len(order), dtype=torch.float64)
        offsets = torch.zeros(len(slots), dtype=torch.float64)
        nonlinear = []
        compiled: dict[str, Callable[[np.ndarray], Any]] = {}  # feature maps repeat expressions across reps
        for k, expr in enumerate(slots):
            if not isinstance(expr, ParameterExpression):
                offsets[k] = float(expr)
                continue
            params = list(expr.parameters)
            grads = [expr.gradient(p) for p in params]
            if all(not (isinstance(g, ParameterExpression) and g.parameters) for g in grads):
                for p, g in zip(params, grads):  # affine: constant gradients
                    coefficients[k, column[p]] = _real_number(g, f"the gate parameter {expr}")
                offsets[k] = _real_number(expr.bind({p: 0.0 for p in params}), f"the gate parameter {expr}")
                continue
            text = str(expr)
            if text not in compiled:
                compiled[text] = _numpy_function(expr, column)
            nonlinear.append((k, compiled[text], text))
        template = Circuit(self.n, self.ops, float(phase), meta)
        return QiskitTemplate(template=template, parameter_names=[p.name for p in order],
                              coefficients=coefficients, offsets=offsets, nonlinear=nonlinear)


def _numpy_param(p: Any) -> np.ndarray:
    return p.detach().cpu().numpy() if isinstance(p, Tensor) else np.asarray(float(p))


def _numpy_function(expr: Any, column: dict[Any, int]) -> Callable[[np.ndarray], Any]:
    """A vectorised NumPy function of the parameter rows ``x`` ``(N, P)`` for a non-affine expression.

    Walks the SymPy tree once into nested NumPy closures (sums, products, powers, the functions
    Qiskit's ParameterExpression offers); SymPy's ``lambdify`` is the fallback for anything
    else. Building closures is ~50x cheaper than ``lambdify``'s code generation per expression.
    """
    import sympy

    by_name = {p.name: j for p, j in column.items()}
    functions = {sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan, sympy.asin: np.arcsin,
                 sympy.acos: np.arccos, sympy.atan: np.arctan, sympy.exp: np.exp, sympy.log: np.log,
                 sympy.Abs: np.abs, sympy.sign: np.sign, sympy.conjugate: np.conj}

    def build(e: Any) -> Callable[[np.ndarray], Any]:
        if e.is_Symbol:
            j = by_name[e.name]
            return lambda x: x[:, j]
        if e.is_number:
            value = complex(e)
            value = value.real if value.imag == 0 else value
            return lambda x: value
        parts = [build(a) for a in e.args]
        if isinstance(e, sympy.Add):
            return lambda x: sum(f(x) for f in parts)
        if isinstance(e, sympy.Mul):
            def product(x: np.ndarray) -> Any:
                out = parts[0](x)
                for f in parts[1:]:
                    out = out * f(x)
                return out
            return product
        if isinstance(e, sympy.Pow):
            base, exponent = parts
            return lambda x: np.power(base(x), exponent(x))
        if e.func in functions and len(parts) == 1:
            fn, (arg,) = functions[e.func], parts
            return lambda x: fn(arg(x))
        symbols = sorted(e.free_symbols, key=lambda s: s.name)
        fallback = sympy.lambdify(symbols, e, modules="numpy")
        cols = [by_name[s.name] for s in symbols]
        return lambda x: fallback(*(x[:, j] for j in cols))

    return build(expr.sympify())


# Phase runs: CX/X/SWAP (basis permutations) and diagonal gates, fused into one diagonal and one permutation.
_PERMUTATIONS = frozenset({"x", "cx", "ccx", "swap"})
_CONSTANT_PHASES = {"z": math.pi, "s": math.pi / 2, "sdg": -math.pi / 2, "t": math.pi / 4, "tdg": -math.pi / 4,
                    "cz": math.pi, "ccz": math.pi}
_PARAMETRIC_PHASES = frozenset({"p", "u1", "rz", "cp", "cu1", "crz", "rzz"})
#: fuse only while the run's phase table (slots x 2**n float64) stays this small
_MAX_PHASE_TABLE_BYTES = 1 << 26


def _fusable(op: Op) -> bool:
    if op.mux or op.matrix is not None:
        return False
    return op.name in _PERMUTATIONS or op.name in _CONSTANT_PHASES or op.name in _PARAMETRIC_PHASES


class _PhaseRun:
    """psi -> P (exp(i (values[:, slots] @ table + constant)) * psi): a run of permutation and diagonal gates."""

    def __init__(self, n: int, ops: list[Op]):
        index = np.arange(2**n, dtype=np.int64)
        current = index.copy()  # basis index after the gates so far, for every starting index
        slots: list[int] = []
        rows: list[np.ndarray] = []
        constant = np.zeros(2**n)

        def bit(w: int) -> np.ndarray:
            return ((current >> w) & 1).astype(np.float64)

        for op in ops:
            condition = np.ones(2**n)
            for c, v in zip(op.controls, op.control_values or (1,) * len(op.controls)):
                condition = condition * (bit(c) if v else 1 - bit(c))
            w = op.wires
            if op.name in _PERMUTATIONS:
                if op.name == "swap":
                    a, b = bit(w[0]), bit(w[1])
                    flip = ((a != b) & (condition > 0)).astype(np.int64)
                    current = current ^ (flip << w[0]) ^ (flip << w[1])
                    continue
                for c in w[:-1]:  # cx, ccx: the leading wires are controls
                    condition = condition * bit(c)
                current = current ^ (condition.astype(np.int64) << w[-1])
                continue
            if op.name in _CONSTANT_PHASES:
                term = condition.copy()
                for q in w:
                    term = term * bit(q)
                constant += _CONSTANT_PHASES[op.name] * term
                continue
            if op.name in ("p", "u1"):
                term = bit(w[0])
            elif op.name == "rz":
                term = bit(w[0]) - 0.5
            elif op.name in ("cp", "cu1"):
                term = bit(w[0]) * bit(w[1])
            elif op.name == "crz":
                term = bit(w[0]) * (bit(w[1]) - 0.5)
            else:  # rzz
                term = (bit(w[0]) != bit(w[1])).astype(np.float64) - 0.5
            slots.append(int(placeholder_index(op.params[0])))
            rows.append(term * condition)
        self.slots = torch.tensor(slots, dtype=torch.long)
        self.table = torch.as_tensor(np.stack(rows)) if rows else torch.zeros(0, 2**n, dtype=torch.float64)
        self.constant = torch.as_tensor(constant)
        self.inverse = torch.as_tensor(np.argsort(current))  # new[:, current[z]] = old[:, z]
        self.identity = bool(np.array_equal(current, index))

    def apply(self, psi: Tensor, values: Tensor) -> Tensor:
        phase = values[:, self.slots].to(torch.float64) @ self.table + self.constant  # (N, 2**n)
        phase = phase.to(device=psi.device, dtype=psi.real.dtype)  # float32 for complex64 states
        psi = psi * torch.polar(torch.ones_like(phase), phase)
        return psi if self.identity else psi[:, self.inverse.to(psi.device)]


def placeholder_index(p: Any) -> int:
    return int(round(float(p)))


def _phase_run_segments(template: Circuit) -> list[Any]:
    """Split a template into sub-templates (Circuits) and _PhaseRun objects; short runs stay gates."""
    n = template.n_qubits
    meta = {"template": True, "n_parameters": template.metadata["n_parameters"]}
    segments: list[Any] = []
    plain: list[Op] = []
    run: list[Op] = []

    def close_run() -> None:
        nonlocal run
        n_phases = sum(op.name not in _PERMUTATIONS for op in run)
        if n_phases >= 2 and n_phases * 2**n * 8 <= _MAX_PHASE_TABLE_BYTES:
            if plain:
                segments.append(Circuit(n, list(plain), 0.0, dict(meta)))
                plain.clear()
            segments.append(_PhaseRun(n, run))
        else:
            plain.extend(run)
        run = []

    for op in template.ops:
        if _fusable(op):
            run.append(op)
        else:
            close_run()
            plain.append(op)
    close_run()
    if plain:
        segments.append(Circuit(n, plain, 0.0, dict(meta)))
    return segments


# --------------------------------------------------------------------------------------
# Amazon Braket
# --------------------------------------------------------------------------------------
# Braket is big-endian: qubit 0 is the MOST significant bit of its state vector and of a
# ``Unitary`` matrix's first target. Dense matrices therefore go over with their wires reversed,
# and ``braket_state_to_ours`` reverses the bit order of a Braket state vector.

#: our catalogue name -> Braket gate method, for gates whose matrices agree exactly (tested)
_TO_BRAKET = {
    "id": "i", "x": "x", "y": "y", "z": "z", "h": "h", "s": "s", "sdg": "si", "t": "t", "tdg": "ti",
    "sx": "v", "sxdg": "vi", "rx": "rx", "ry": "ry", "rz": "rz", "p": "phaseshift", "u": "u",
    "cx": "cnot", "cy": "cy", "cz": "cz", "swap": "swap", "iswap": "iswap", "ccx": "ccnot", "cswap": "cswap",
    "cp": "cphaseshift", "rxx": "xx", "ryy": "yy", "rzz": "zz",
}


_BRAKET_OWN_CONTROLS = {"cx", "cy", "cz", "ccx", "cswap", "cp"}


def _braket_circuits():
    return require("braket.circuits", "braket", "converting circuits to or from Amazon Braket")


def to_braket(circuit: Circuit, *, index: int | None = None):
    """Convert a :class:`Circuit` to a ``braket.circuits.Circuit`` with the same unitary.

    Qubit ``i`` is Braket qubit ``i``, but Braket orders bits big-endian, so
    ``braket_state_to_ours(braket state vector)`` equals ``simulate(circuit)``. Gates with an
    exact Braket twin go over by name (with ``control=``/``control_state=`` for our controls);
    every other op (multiplexed ops, gates Braket lacks) becomes a ``Unitary`` on its wires. The
    global phase becomes ``gphase``; idle qubits get an identity so Braket keeps all ``n_qubits``.
    A batched circuit needs ``index``.
    """
    bk = _braket_circuits()
    circuit = _select(circuit, index, "to_braket(circuit)", allow_batch=False)
    out = bk.Circuit()
    used: set[int] = set()
    for op in circuit.ops:
        used.update(op.all_wires)
        method = _TO_BRAKET.get(op.name)
        # Braket's own controlled gates (cnot, ...) name an argument 'control': more controls go by matrix
        if method is None or op.mux or (op.controls and op.name in _BRAKET_OWN_CONTROLS):
            matrix = _numpy(op_full_matrix(op)[0])
            out.unitary(matrix=matrix, targets=list(reversed(op.all_wires)))
            continue
        params = [_float(p) for p in op.params]
        kwargs = {}
        if op.controls:
            kwargs = {"control": list(op.controls), "control_state": "".join(str(v) for v in op.control_values)}
        # Braket's gate methods take the qubits in our wire order (controls of cnot etc. first)
        getattr(out, method)(*op.wires, *params, **kwargs)
    for q in range(circuit.n_qubits):
        if q not in used:
            out.i(q)
    phase = _float(circuit.global_phase)
    if phase:
        out.gphase(phase)
    return out


def braket_state_to_ours(state: Any) -> np.ndarray:
    """A Braket state vector (qubit 0 most significant) in our order (qubit 0 least significant)."""
    vec = np.asarray(state, dtype=np.complex128).reshape(-1)
    n = int(round(math.log2(vec.shape[0])))
    if 2**n != vec.shape[0]:
        raise ShapeError(f"a state vector has a power-of-two length, got {vec.shape[0]}")
    return vec.reshape([2] * n).transpose(list(reversed(range(n)))).reshape(-1) if n > 1 else vec


def from_braket(braket_circuit: Any) -> Circuit:
    """Convert a ``braket.circuits.Circuit`` (gates only, parameters bound) to a :class:`Circuit`.

    Braket qubit ``q`` becomes our wire ``q`` (``n_qubits`` = the largest index + 1). Gates with a
    catalogue twin come back by name; every other gate by its matrix (``to_matrix()``, wires
    reversed). Result types and measurements are dropped; noise channels, pulse gates, free
    parameters and powered gates are refused with a :class:`GateError`.
    """
    _braket_circuits()
    from braket.circuits import Gate
    from braket.circuits.gates import GPhase

    back = {v: k for k, v in _TO_BRAKET.items()}
    qubits = [int(q) for q in braket_circuit.qubits]
    n = (max(qubits) + 1) if qubits else 1
    ops: list[Op] = []
    phase = 0.0
    for ins in braket_circuit.instructions:
        gate = ins.operator
        name = type(gate).__name__
        if not isinstance(gate, Gate):
            if name in ("Measure",):
                continue
            raise GateError(f"from_braket converts gates only; got a {name} (noise channels and the like have no Circuit op)")
        if getattr(gate, "parameters", None) and any(not isinstance(p, (int, float)) for p in gate.parameters):
            raise GateError(f"gate {name} has free parameters {gate.parameters}; bind them first (circuit.make_bound_circuit)")
        if ins.power not in (1, 1.0):
            raise GateError(f"gate {name} is raised to the power {ins.power}; only power 1 is converted")
        targets = [int(q) for q in ins.target]
        controls = [int(q) for q in ins.control]
        values = tuple(int(c) for c in ins.control_state) if controls else ()
        if isinstance(gate, GPhase):
            if not controls:
                phase += float(gate.angle)
                continue
            # a controlled global phase is a phase on the last control's required value
            last = [1.0, 1.0]
            last[values[-1]] = complex(math.cos(gate.angle), math.sin(gate.angle))
            matrix = torch.diag(torch.tensor(last, dtype=torch.complex128))
            ops.append(Op("unitary", (controls[-1],), matrix=matrix, controls=tuple(controls[:-1]),
                          control_values=values[:-1]))
            continue
        ours = back.get(name.lower())
        params = tuple(float(p) for p in getattr(gate, "parameters", ()) or ())
        if ours is not None:
            # Braket's target set lists a gate's own controls first (cnot: control, target), as we do
            ops.append(Op(ours, tuple(targets), params, controls=tuple(controls), control_values=values))
            continue
        matrix = torch.from_numpy(np.asarray(gate.to_matrix(), dtype=np.complex128))
        ops.append(Op("unitary", tuple(reversed(targets)), matrix=matrix, controls=tuple(controls), control_values=values))
    return Circuit(n, ops, phase)
