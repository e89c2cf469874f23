"""What the Qiskit-based backends (Aer, IBM Quantum) share: fake IBM backends by name, our circuits
as measured Qiskit circuits, ISA transpilation with a recorded seed, and where logical wires ended up.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError, require
from ..interop import to_qiskit
from ..ir import Circuit

__all__ = [
    "fake_backend", "fake_backend_names", "measured_circuit", "transpile_isa", "physical_wires", "sampler_template",
    "pub_values", "transpile_grouped", "MEASURE_REGISTER",
]

#: the classical register our measurements go to (``result[i].data.meas`` for V2 samplers)
MEASURE_REGISTER = "meas"


def _fake_provider():
    return require("qiskit_ibm_runtime.fake_provider", "ibm", "fake IBM backends (local testing mode, noise models)")


def fake_backend_names() -> list[str]:
    """Class names of every fake IBM backend that qiskit-ibm-runtime ships (FakeTorino, ...)."""
    module = _fake_provider()
    return sorted(n for n in dir(module) if n.startswith("Fake") and not n.startswith("FakeProvider"))


def _class_name(name: str) -> str:
    """``fake_torino`` / ``torino`` / ``FakeTorino`` / ``fake_manila_v2`` -> ``FakeTorino`` / ``FakeManilaV2``."""
    if re.fullmatch(r"Fake[A-Z]\w*", name):
        return name
    parts = [p for p in re.split(r"[_\-\s]+", name.strip()) if p]
    if parts and parts[0].lower() == "fake":
        parts = parts[1:]
    return "Fake" + "".join(p.upper() if re.fullmatch(r"v\d+", p, re.I) else p.capitalize() for p in parts)


def fake_backend(name: str) -> Any:
    """A fresh fake IBM backend (a snapshot of a real device: coupling map, ISA, noise) by name:
    ``"FakeTorino"``, ``"fake_torino"``, ``"torino"`` or ``"fake_manila_v2"``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a fake backend name is a string such as 'FakeTorino', got {name!r}")
    module = _fake_provider()
    cls_name = _class_name(name)
    cls = getattr(module, cls_name, None)
    if cls is None or not cls_name.startswith("Fake"):
        names = fake_backend_names()
        close = difflib.get_close_matches(cls_name, names, n=5)
        raise ConfigError(
            f"no fake IBM backend named '{name}' (looked for {cls_name}); "
            f"close names: {', '.join(close) or 'none'}; all {len(names)}: {', '.join(names)}"
        )
    return cls()


def measured_circuit(circuit: Circuit, wires: Sequence[int]):
    """``to_qiskit(circuit)`` with measured wire ``wires[j]`` -> bit ``j`` of register ``meas``."""
    qk = require("qiskit", None, "Qiskit-based backends")
    qc = to_qiskit(circuit)
    register = qk.ClassicalRegister(len(wires), MEASURE_REGISTER)
    qc.add_register(register)
    for j, w in enumerate(wires):
        qc.measure(int(w), register[j])
    return qc


def transpile_isa(circuits: list, backend: Any, *, seed_transpiler: int, optimization_level: int = 1) -> list:
    """ISA circuits for ``backend`` (``generate_preset_pass_manager`` with a recorded seed, so a
    rerun gives the same circuits)."""
    from qiskit.transpiler import generate_preset_pass_manager

    pm = generate_preset_pass_manager(
        optimization_level=optimization_level, backend=backend, seed_transpiler=int(seed_transpiler)
    )
    out = pm.run(circuits)
    return out if isinstance(out, list) else [out]


def physical_wires(isa: Any, wires: Sequence[int]) -> list[int]:
    """Physical qubits that hold logical ``wires`` at the end of the transpiled circuit ``isa``."""
    layout = getattr(isa, "layout", None)
    if layout is None:
        return [int(w) for w in wires]
    final = layout.final_index_layout()
    return [int(final[w]) for w in wires]


def sampler_template(batched: Circuit, wires: Sequence[int] | None) -> tuple[Any, np.ndarray] | None:
    """One parameterised Qiskit circuit (measuring ``wires`` into register ``meas``, or nothing
    when None) and its ``(B, P)`` values for a batched circuit whose batched ops are all catalogue
    gates (no matrices, no multiplexers) and that has at least one batched angle; else None.

    This is the V2 sampler's PUB form ``(template, values)``: B circuits of one structure are
    transpiled once and sent as one PUB. Parameters form one ``ParameterVector("p", P)`` (columns
    of ``values`` in vector order). The global phase is dropped: it changes no count.
    """
    from qiskit import ClassicalRegister, QuantumCircuit
    from qiskit.circuit import ParameterVector

    from ..interop import _qiskit_gate, _standard_gates

    batch = batched.batch_size
    if batch is None:
        return None
    slots = sum(1 for op in batched.ops for p in op.params if isinstance(p, torch.Tensor) and p.dim() == 1)
    if not slots or any(op.batch_size is not None and (op.matrix is not None or op.mux) for op in batched.ops):
        return None
    std = _standard_gates()
    vector = ParameterVector("p", slots)
    columns: list[np.ndarray] = []
    qc = QuantumCircuit(batched.n_qubits)
    for op in batched.ops:
        if op.batch_size is None:
            gate, qubits = _qiskit_gate(op, std)
            qc.append(gate, qubits)
            continue
        args = []
        for p in op.params:
            if isinstance(p, torch.Tensor) and p.dim() == 1:
                args.append(vector[len(columns)])
                columns.append(p.detach().to(torch.float64).cpu().numpy())
            else:
                args.append(float(p))
        gate = type(std[op.name])(*args)
        if op.controls:
            state = sum(v << k for k, v in enumerate(op.control_values))
            gate = gate.control(len(op.controls), ctrl_state=state, annotated=False)
        qc.append(gate, list(op.controls) + list(op.wires))
    if wires is not None:
        register = ClassicalRegister(len(wires), MEASURE_REGISTER)
        qc.add_register(register)
        for j, w in enumerate(wires):
            qc.measure(int(w), register[j])
    return qc, np.stack(columns, axis=1)


def pub_values(isa: Any, template: Any, values: np.ndarray) -> np.ndarray:
    """``values`` with its columns in the order of ``isa.parameters`` (the order a PUB binds them),
    dropping parameters the transpiler removed."""
    position = {param: k for k, param in enumerate(template.parameters)}
    order = [position[param] for param in isa.parameters]
    return values[:, order]


def transpile_grouped(circuits: Any, backend: Any, *, seed_transpiler: int, optimization_level: int = 1) -> list:
    """Bound ISA circuits (no measurements), one per circuit, transpiling each batched circuit,
    and each group of circuits of one structure, ONCE as a parameterised template and binding its
    rows (the global phase is dropped: use this for sampling and probabilities, not for states)."""
    from ..interop import to_qiskit
    from .base import expand_circuits
    from .torch import group_circuits

    circuits = expand_circuits(circuits)
    programs, plan = [], []
    for indices, batch in group_circuits(circuits):
        template = sampler_template(batch, None) if batch.batch_size is not None else None
        if template is None:
            for i in indices:
                programs.append(to_qiskit(circuits[i]))
                plan.append(([i], None))
        else:
            programs.append(template[0])
            plan.append((indices, template))
    isa = transpile_isa(programs, backend, seed_transpiler=seed_transpiler, optimization_level=optimization_level)
    out: list[Any] = [None] * len(circuits)
    for qc, (indices, template) in zip(isa, plan):
        if template is None:
            out[indices[0]] = qc
            continue
        values = pub_values(qc, template[0], template[1])
        for row, i in enumerate(indices):
            out[i] = qc.assign_parameters(values[row])
    return out
