"""encoders: classical data -> quantum states and circuits.

Every encoder has ``n_qubits``, ``states(x) -> (B, 2**n)`` and ``circuits(x) -> list[Circuit]``,
and simulating the circuits gives the states. One sample and a batch are told apart by the
encoder's ``sample_shape`` (see :mod:`qcstar.encoders.base`). Names are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Encoder": "qcstar.encoders.base",
    "SampleError": "qcstar.encoders.base",
    "mnisq_amplitudes": "qcstar.encoders.amplitude",
    "AmplitudeEncoder": "qcstar.encoders.amplitude",
    "AQCEEncoder": "qcstar.encoders.aqce",
    "AngleEncoder": "qcstar.encoders.angle",
    "CStarEncoder": "qcstar.encoders.cstar",
    "to_pennylane": "qcstar.encoders.pennylane",
    "to_qiskit": "qcstar.encoders.qiskit",
    "feature_map": "qcstar.encoders.qiskit",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'qcstar.encoders' has no attribute '{name}'")
    return getattr(importlib.import_module(target), name)


__all__ = list(_LAZY)
