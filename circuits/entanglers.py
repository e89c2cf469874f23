"""Fixed CNOT entanglers shared by the encoders and the C*-net.

One definition of the qubit pairs, so that ``AngleEncoder(entangler="ring")`` and
``QCStarNet(entangler="ring")`` can never drift apart:

* ``"ladder"``: ``CX(0, 1) CX(1, 2) ... CX(n-2, n-1)`` (nothing on one qubit);
* ``"ring"``: the ladder plus ``CX(n-1, 0)`` when ``n > 2`` (for ``n = 2`` the closing pair
  would repeat ``(0, 1)`` reversed, so the ring is the ladder);
* ``"none"`` (or ``None``): no gates.
"""

from __future__ import annotations

from .errors import ConfigError
from .ir import Circuit

__all__ = ["ENTANGLERS", "entangler_pairs", "append_entangler"]

#: Entangler names accepted by :func:`entangler_pairs` (``None`` means ``"none"``).
ENTANGLERS = ("ladder", "ring", "none")


def entangler_pairs(n_qubits: int, entangler: str | None) -> list[tuple[int, int]]:
    """The ``(control, target)`` pairs of the entangler on ``n_qubits`` qubits, in gate order.

    Example::

        >>> entangler_pairs(4, "ring")
        [(0, 1), (1, 2), (2, 3), (3, 0)]
    """
    name = "none" if entangler is None else entangler
    if name not in ENTANGLERS:
        raise ConfigError(f"entangler must be one of {ENTANGLERS} or None, got {entangler!r}")
    if name == "none" or n_qubits < 2:
        return []
    pairs = [(q, q + 1) for q in range(n_qubits - 1)]
    if name == "ring" and n_qubits > 2:
        pairs.append((n_qubits - 1, 0))
    return pairs


def append_entangler(circuit: Circuit, entangler: str | None) -> Circuit:
    """Append the entangler's CX gates to ``circuit`` (in place); returns the circuit."""
    for control, target in entangler_pairs(circuit.n_qubits, entangler):
        circuit.cx(control, target)
    return circuit
