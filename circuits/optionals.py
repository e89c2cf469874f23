"""Which optional packages are installed, and how to install the missing ones.

In the spirit of ``qiskit_machine_learning.utils.optionals``: each ``HAS_*`` object knows the
module it stands for and the pip requirement that provides it, either a qcstar extra
(``pip install 'qcstar[aer]'``) or a core dependency of qcstar. Nothing is imported until asked::

    from qcstar.circuits.optionals import HAS_AER
    if HAS_AER:                     # tries the import once, then remembers the answer
        ...
    HAS_AER.require("noisy simulation")   # the module, or MissingDependencyError with the hint

:func:`qcstar.circuits.errors.require` takes its install hints from here, so every message
names an extra that ``pyproject.toml`` defines (a test checks it).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = [
    "LazyDependency", "DEPENDENCIES", "dependency_for", "HAS_QISKIT", "HAS_PENNYLANE", "HAS_SKLEARN", "HAS_AER",
    "HAS_IBM_RUNTIME", "HAS_BRAKET", "HAS_RAY", "HAS_MATPLOTLIB", "HAS_QML", "HAS_QASM3",
]


class LazyDependency:
    """An importable module, the pip requirement that provides it, and whether it is there.

    ``extra`` names the qcstar extra (``None`` for a core dependency); ``requirement`` is the
    pip requirement as ``pyproject.toml`` writes it. ``bool(obj)`` tries the import once.
    """

    def __init__(self, *, module: str, requirement: str, extra: str | None):
        self.module = module
        self.requirement = requirement
        self.extra = extra
        self._available: bool | None = None

    @property
    def install_hint(self) -> str:
        """The command that installs this dependency."""
        if self.extra is not None:
            return f"pip install 'qcstar[{self.extra}]'"
        return f"pip install '{self.requirement}' (a core dependency of qcstar: reinstalling qcstar also installs it)"

    def __bool__(self) -> bool:
        if self._available is None:
            try:
                importlib.import_module(self.module)
                self._available = True
            except ImportError:
                self._available = False
        return self._available

    def require(self, purpose: str) -> ModuleType:
        """Import and return the module, or raise :class:`MissingDependencyError` naming ``purpose``
        and how to install it."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise MissingDependencyError(missing_message(self.module, purpose, self.install_hint)) from exc
        self._available = True
        return module

    def __repr__(self) -> str:
        where = f"extra '{self.extra}'" if self.extra else "core dependency"
        return f"LazyDependency({self.module!r}, {self.requirement!r}, {where})"


def missing_message(module: str, purpose: str, hint: str) -> str:
    return f"{purpose} needs the package '{module.split('.')[0]}', which is not installed; install it with: {hint}"


HAS_QISKIT = LazyDependency(module="qiskit", requirement="qiskit>=2.3,<3", extra=None)
HAS_PENNYLANE = LazyDependency(module="pennylane", requirement="pennylane>=0.45", extra=None)
HAS_SKLEARN = LazyDependency(module="sklearn", requirement="scikit-learn", extra=None)
HAS_AER = LazyDependency(module="qiskit_aer", requirement="qiskit-aer>=0.17", extra="aer")
HAS_IBM_RUNTIME = LazyDependency(module="qiskit_ibm_runtime", requirement="qiskit-ibm-runtime>=0.45", extra="ibm")
HAS_BRAKET = LazyDependency(module="braket.pennylane_plugin", requirement="amazon-braket-pennylane-plugin>=1.36", extra="braket")
HAS_RAY = LazyDependency(module="ray", requirement="ray>=2.9", extra="ray")
HAS_MATPLOTLIB = LazyDependency(module="matplotlib", requirement="matplotlib", extra="plot")
HAS_QML = LazyDependency(module="qiskit_machine_learning", requirement="qiskit-machine-learning>=0.9.1", extra="qml")
HAS_QASM3 = LazyDependency(module="qiskit_qasm3_import", requirement="qiskit-qasm3-import>=0.5", extra="qasm3")

#: Every dependency above, by the top-level module name it provides.
DEPENDENCIES: dict[str, LazyDependency] = {
    dep.module.split(".")[0]: dep
    for dep in (
        HAS_QISKIT, HAS_PENNYLANE, HAS_SKLEARN, HAS_AER, HAS_IBM_RUNTIME, HAS_BRAKET, HAS_RAY, HAS_MATPLOTLIB,
        HAS_QML, HAS_QASM3,
    )
}
DEPENDENCIES["openqasm3"] = LazyDependency(module="openqasm3", requirement="openqasm3[parser]>=1.0", extra="qasm3")


def dependency_for(module: str) -> LazyDependency | None:
    """The known dependency that provides ``module`` (``"qiskit.synthesis"`` -> qiskit), or None."""
    return DEPENDENCIES.get(module.split(".")[0])
