"""Backends: one protocol to run our circuits on simulators, devices and cloud services (README, "Backends").

* :mod:`.base` - :class:`Backend` (``run(circuits, *, shots, seed, measure) -> Result``) and :class:`Result`;
* :mod:`.torch` - :class:`TorchBackend`, the default: our simulator, exact states or seeded shots;
* :mod:`.aer` - qiskit-aer, statevector or density matrix, ideal or with a fake IBM backend's noise;
* :mod:`.ibm` - IBM Quantum through an injected V2 sampler (local testing mode with fake backends);
* :mod:`.braket` - Amazon Braket's local simulators and cloud devices;
* :mod:`.pennylane` - any PennyLane device by name;
* :mod:`.jobs` - :func:`run_chunked`: chunked, resumable runs with a manifest, dry runs and budgets;
* :mod:`.registry` - :func:`get_backend` ("torch", "aer:fake_torino", "ibm:ibm_torino", ...).

Provider modules import their packages lazily: a missing one raises
:class:`~qcstar.circuits.errors.MissingDependencyError` naming the extra to install.
Counts use Qiskit's bit order: the first measured wire (qubit 0) is the RIGHTMOST character.
"""

from .base import Backend, CircuitList, JobLostError, Result
from .jobs import Budget, Plan, run_chunked
from .registry import backend_specs, get_backend
from .torch import TorchBackend

__all__ = [
    "Backend", "Budget", "CircuitList", "JobLostError", "Plan", "Result", "TorchBackend", "backend_specs", "get_backend", "run_chunked",
]
