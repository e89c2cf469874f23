"""What the Qiskit-based backends (Aer, IBM Quantum) share: fake IBM backends by name, our circuits
as measured Qiskit circuits, ISA transpilation with a recorded seed, and where logical wires ended up.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

from ..errors import ConfigError, require
from ..interop import to_qiskit
from ..ir import Circuit

__all__ = ["fake_backend", "fake_backend_names", "measured_circuit", "transpile_isa", "physical_wires", "MEASURE_REGISTER"]

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
