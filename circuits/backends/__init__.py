"""Backends: one protocol to run our circuits on simulators, devices and cloud services (README, "Backends").

* :mod:`.base` - :class:`Backend` (``run(circuits, *, shots, seed, measure) -> Result``) and :class:`Result`;
* :mod:`.torch` - :class:`TorchBackend`, the default: our simulator, exact states or seeded shots;
* :mod:`.registry` - :func:`get_backend` ("torch", ...).

Counts use Qiskit's bit order: the first measured wire (qubit 0) is the RIGHTMOST character.
"""

from .base import Backend, Result
from .registry import backend_specs, get_backend
from .torch import TorchBackend

__all__ = ["Backend", "Result", "TorchBackend", "get_backend", "backend_specs"]
