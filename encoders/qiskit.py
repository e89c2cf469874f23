"""Encoders as Qiskit circuits: bound circuits per sample, and parameterised feature maps.

* ``to_qiskit(encoder, x)``: the ``QuantumCircuit`` of one sample (``circuits.interop.to_qiskit``
  of ``encoder.circuits(x)[0]``). Qubit ``q`` is Qiskit qubit ``q`` (both little-endian), so
  ``Statevector(to_qiskit(enc, x))`` equals ``enc.states(x)[0]``.
* ``feature_map(encoder)``: the encoder's template as a ``QuantumCircuit`` on a
  ``ParameterVector("x", P)``; bind ``encoder.parameters(images)`` (one row per sample). That is
  what qiskit-machine-learning's kernels expect: ``FidelityStatevectorKernel(feature_map=fm)
  .evaluate(encoder.parameters(images).numpy())`` and ``QSVC``.

The feature map emits RY/RZ/RX (and any other parametric catalogue gate) on ``x[k]`` directly;
multiplexed rotations in a template become the Gray-code sequence of rotations and CX with
angles ``theta'_i = 2**-k sum_j (+-1) x[j]`` (``UCRYGate`` rejects symbolic parameters);
constant ops (CX, H, X, fixed unitaries) go through ``circuits.interop.to_qiskit``.

Example::

    from qiskit_machine_learning.kernels import FidelityStatevectorKernel
    from qiskit_machine_learning.algorithms import QSVC

    enc = AngleEncoder(n_qubits=4, size=2)
    kernel = FidelityStatevectorKernel(feature_map=feature_map(enc))
    qsvc = QSVC(quantum_kernel=kernel).fit(enc.parameters(train).numpy(), labels)
"""

from __future__ import annotations

from typing import Any

import torch

from qcstar.circuits import Circuit, GateError, ShapeError
from qcstar.circuits.errors import require

from .base import Encoder, as_encoder, encoder_name, is_parametric, placeholder_indices, validate_images

Tensor = torch.Tensor

__all__ = ["to_qiskit", "feature_map"]


def _qiskit():
    return require("qiskit", "qiskit", "qcstar.encoders.to_qiskit / encoders.feature_map")


def to_qiskit(encoder: Encoder, x: Any):
    """The bound ``QuantumCircuit`` of one sample ``x`` (``(D,)``, ``(H, W)`` or a batch of one).

    Example::

        qc = to_qiskit(AmplitudeEncoder(), image_28x28)          # 10 qubits
        Statevector(qc).data                                     # == enc.states(image[None])[0]
    """
    _qiskit()
    from qcstar.circuits.interop import to_qiskit as circuit_to_qiskit

    encoder = as_encoder(encoder, "to_qiskit")
    one = validate_images(x, name=encoder_name(encoder), single=True, allow_complex=True, allow_zero=True)
    circuits = encoder.circuits(one)
    return circuit_to_qiskit(circuits[0])


def _gray_sequence(name: str, target: int, controls: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """The op sequence of the Gray-code multiplexor: ('rot', (i,)) for rotation i, ('cx', (c, t)), ('h', (t,))."""
    from qcstar.circuits.decompose import gray_code_cx_controls

    seq: list[tuple[str, tuple[int, ...]]] = []
    for i, c in enumerate(gray_code_cx_controls(len(controls))):
        seq.append(("rot", (i,)))
        seq.append(("cx", (controls[c], target)))
    if name == "rx":  # RX = H RZ H, and H on the target commutes with the block structure
        seq = [("h", (target,))] + seq + [("h", (target,))]
    return seq


def feature_map(encoder: Encoder, *, parameter_name: str = "x"):
    """The encoder's template as a ``QuantumCircuit`` parameterised by ``ParameterVector(parameter_name, P)``.

    Parametric encoders only (angle, C*-net; amplitude too, with ``n_qubits``/``size`` set).
    The circuit's parameters sort in vector order, so binding row ``encoder.parameters(x)[i]``
    gives sample ``i``'s circuit.

    Example::

        fm = feature_map(enc)
        qc = fm.assign_parameters(enc.parameters(images)[0].tolist())
    """
    qk = _qiskit()
    from qiskit.circuit import ParameterVector
    from qiskit.circuit.library import CXGate, HGate, get_standard_gate_name_mapping

    from qcstar.circuits.interop import to_qiskit as circuit_to_qiskit

    encoder = as_encoder(encoder, "feature_map")
    if not is_parametric(encoder):
        raise ShapeError(
            f"feature_map: {encoder_name(encoder)} is not parametric (no fixed template), so it has no feature map; "
            "use to_qiskit(encoder, x) for the bound circuit of one sample"
        )
    template = encoder.template_circuit()
    n = template.n_qubits
    p_total = int(template.metadata["n_parameters"])
    if p_total == 0:
        raise ShapeError(f"feature_map: {encoder_name(encoder)}'s template has no parameters")
    x = ParameterVector(parameter_name, p_total)
    std = get_standard_gate_name_mapping()
    qc = qk.QuantumCircuit(n, name=f"{encoder_name(encoder)}_feature_map")
    pending = Circuit(n)

    def flush() -> None:
        nonlocal pending
        if pending.ops:
            qc.compose(circuit_to_qiskit(pending), inplace=True)
            pending = Circuit(n)

    for op in template.ops:
        if not op.params:
            pending.append(op)  # constants go through the package's converter
            continue
        flush()
        indices = [placeholder_indices(p) for p in op.params]
        if op.mux:
            if op.controls or op.name not in ("rx", "ry", "rz"):
                raise GateError(
                    f"feature_map: a multiplexed '{op.name}' with placeholders has no Gray-code form; "
                    "only multiplexed RX/RY/RZ are supported"
                )
            from qcstar.circuits.decompose import gray_code_matrix

            alpha = [x[int(k)] for k in indices[0].tolist()]
            m = gray_code_matrix(len(op.mux)).tolist()
            rot = "rz" if op.name == "rx" else op.name
            target = op.wires[0]
            for kind, args in _gray_sequence(op.name, target, op.mux):
                if kind == "rot":
                    row = m[args[0]]
                    theta = sum((c * a for c, a in zip(row, alpha)), 0.0)
                    qc.append(type(std[rot])(theta), [target])
                elif kind == "cx":
                    qc.append(CXGate(), list(args))
                else:
                    qc.append(HGate(), list(args))
            continue
        if op.name not in std:
            raise GateError(f"feature_map: gate '{op.name}' has no Qiskit standard gate to carry parameters")
        gate = type(std[op.name])(*[x[int(k)] for k in indices])
        qubits = list(op.wires)
        if op.controls:
            state = sum(v << i for i, v in enumerate(op.control_values))
            gate = gate.control(len(op.controls), ctrl_state=state)
            qubits = list(op.controls) + qubits
        qc.append(gate, qubits)
    flush()
    phase = template.global_phase
    k = template.metadata.get("phase_index")
    const = float(phase) if not isinstance(phase, Tensor) else float(phase.item())
    qc.global_phase = (x[int(k)] + const) if k is not None else const
    if qc.num_parameters != p_total:  # every placeholder must appear, or binding rows would misalign
        raise GateError(f"feature_map: the circuit uses {qc.num_parameters} of the template's {p_total} parameters")
    return qc
