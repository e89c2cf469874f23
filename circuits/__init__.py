"""circuits: the quantum substrate of qcstar (no learning, imports nothing else of ours).

* :mod:`circuits.ir` - :class:`Circuit` and :class:`Op`, the one circuit representation;
* :mod:`circuits.gates` - the gate catalogue with exact (Qiskit-convention) matrices;
* :mod:`circuits.statevector` - the one simulator (torch, batched, differentiable, CPU/CUDA);
* :mod:`circuits.qasm` - OpenQASM 2/3 and MNISQ's Dense dialect;
* :mod:`circuits.interop` - conversions to and from Qiskit and PennyLane;
* :mod:`circuits.allocator` - opt-in glibc tuning that keeps freed state tensors for reuse;
* :mod:`circuits.optionals` - which optional packages are installed (``HAS_AER``, ...) and how to install them.
"""

from .errors import (
    BackendError,
    ConfigError,
    DataError,
    GateError,
    MissingDependencyError,
    QasmError,
    QcstarError,
    ResourceError,
    ShapeError,
    StateError,
)
from .gates import GATES, gate_matrix
from .ir import Circuit, Op
from .statevector import counts, expectation, expval, probabilities, sample, simulate, unitary_matrix

__all__ = [
    "BackendError", "ConfigError", "ResourceError", "Circuit", "DataError", "GATES", "GateError", "MissingDependencyError", "Op",
    "QasmError", "QcstarError", "ShapeError", "StateError", "counts", "expectation", "expval", "gate_matrix", "probabilities",
    "sample", "simulate", "unitary_matrix",
]
