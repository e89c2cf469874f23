"""Encoders as Qiskit circuits: bound circuits per sample, and parameterised feature maps.

* ``to_qiskit(encoder, x)``: the ``QuantumCircuit`` of one sample (``circuits.interop.to_qiskit``
  of ``encoder.circuits(x)[0]``). Qubit ``q`` is Qiskit qubit ``q`` (both little-endian), so
  ``Statevector(to_qiskit(enc, x))`` equals ``enc.states(x)[0]``. The interop one takes a
  :class:`~qcstar.circuits.Circuit` (and ``index=`` for a batched one), this one an encoder and
  one sample: both mean "this, as a Qiskit circuit, in our qubit order".
* ``feature_map(encoder)``: the encoder's template as a ``QuantumCircuit`` on a
  ``ParameterVector("x", P)``; bind ``encoder.parameters(images)`` (one row per sample). That is
  what qiskit-machine-learning's kernels expect: ``FidelityStatevectorKernel(feature_map=fm)
  .evaluate(encoder.parameters(images).numpy())`` and ``QSVC``.

The feature map emits RY/RZ/RX (and any other parametric catalogue gate) on ``x[k]`` directly;
multiplexed rotations in a template become the Gray-code sequence of rotations and CX of
``qcstar.circuits.decompose.multiplexed_rotation`` (the one implementation), with angles
``theta'_i = 2**-k sum_j (+-1) x[j]`` (``UCRYGate`` rejects symbolic parameters);
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
from qcstar.circuits.decompose import multiplexed_rotation
from qcstar.circuits.errors import require

from .base import Encoder, as_encoder, encoder_name, is_parametric, placeholder_indices, validate_images

Tensor = torch.Tensor

__all__ = ["to_qiskit", "feature_map"]


def _qiskit():
    return require("qiskit", "qiskit", "qcstar.encoders.to_qiskit / encoders.feature_map")


def to_qiskit(encoder: Encoder, x: Any):
    """The bound ``QuantumCircuit`` of one sample: ``circuits.interop.to_qiskit(encoder.circuits(x)[0])``.

    ``x`` is one sample: the encoder's ``sample_shape``, ``(D,)``, a batch of one, or (when the
    encoder has no sample shape) one ``(H, W)`` image. Qubit ``q`` is Qiskit qubit ``q``.

    Example::

        qc = to_qiskit(AmplitudeEncoder(), image_28x28)          # 10 qubits
        Statevector(qc).data                                     # == enc.states(image[None])[0]
    """
    _qiskit()
    from qcstar.circuits.interop import to_qiskit as circuit_to_qiskit

    encoder = as_encoder(encoder, "to_qiskit")
    one = validate_images(
        x, name=encoder_name(encoder), single=True, sample_shape=getattr(encoder, "sample_shape", None),
        allow_complex=True, allow_zero=True,
    )
    circuits = encoder.circuits(one)
    return circuit_to_qiskit(circuits[0])


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
    from qiskit.circuit.library import get_standard_gate_name_mapping

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
            alpha = [x[int(k)] for k in indices[0].tolist()]
            # The Gray-code sequence is linear in the angles: decomposing the basis vectors (a batch
            # given by the identity) gives, for every rotation, its coefficient on each alpha_j.
            basis = torch.eye(len(alpha), dtype=torch.float64)
            for gate_op in multiplexed_rotation(op.name, basis, op.wires[0], op.mux):
                if not gate_op.params:
                    pending.append(gate_op)  # CX and H go through the package's converter
                    continue
                flush()
                coefficients = gate_op.params[0].tolist()
                theta = sum((c * a for c, a in zip(coefficients, alpha)), 0.0)
                qc.append(type(std[gate_op.name])(theta), list(gate_op.wires))
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
