"""The default backend: our own batched torch simulator, exact states or seeded shots.

Circuits with the same structure (same gates on the same wires, differing only in parameter
values or matrices) are stacked into one batched circuit and simulated in one
:func:`~qcstar.circuits.statevector.simulate` call, at most ``group_size`` at a time, so a list
of kernel circuits costs one plan and a few batched passes instead of one simulation each.

Shots: circuit ``i`` draws its shots with its own ``torch.Generator`` seeded from ``(seed, i)``
(:class:`numpy.random.SeedSequence`), so the counts of a circuit depend only on the seed, its
position and its state (not on how circuits were grouped), and circuits are independent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..ir import Circuit, Op
from ..statevector import sample, simulate
from .base import Backend, Result, bits_from_outcomes, counts_from_outcomes

Tensor = torch.Tensor

__all__ = ["TorchBackend", "stack_circuits", "structure_key", "circuit_seeds"]


def _param_kind(p: Any) -> Any:
    if isinstance(p, Tensor) and p.dim() > 0:
        return ("tensor", tuple(p.shape))
    return "scalar"


def structure_key(circuit: Circuit) -> tuple:
    """What must agree for circuits to be stacked into one batch: qubits, gates, wires, shapes."""
    ops = tuple(
        (
            op.name, op.wires, op.controls, op.control_values, op.mux,
            tuple(_param_kind(p) for p in op.params),
            None if op.matrix is None else tuple(op.matrix.shape),
        )
        for op in circuit.ops
    )
    return circuit.n_qubits, ops


def _stack_values(values: list[Any], dtype: torch.dtype) -> Any:
    """One batched value from per-circuit values; a shared scalar stays a scalar (cheaper plans)."""
    if all(not isinstance(v, Tensor) for v in values) and all(v == values[0] for v in values):
        return values[0]
    return torch.stack([torch.as_tensor(v).detach().to(dtype) for v in values])


def stack_circuits(circuits: list[Circuit]) -> Circuit:
    """One batched circuit (batch ``len(circuits)``) from unbatched circuits of one :func:`structure_key`."""
    first = circuits[0]
    ops = []
    for k, op in enumerate(first.ops):
        column = [c.ops[k] for c in circuits]
        params = tuple(_stack_values([o.params[j] for o in column], torch.float64) for j in range(len(op.params)))
        matrix = None if op.matrix is None else torch.stack([o.matrix.detach().to(torch.complex128) for o in column])
        ops.append(
            Op(op.name, op.wires, params, matrix=matrix, controls=op.controls, control_values=op.control_values, mux=op.mux)
        )
    phase = _stack_values([c.global_phase for c in circuits], torch.float64)
    if not isinstance(phase, Tensor) and all(op.batch_size is None for op in ops):
        # identical circuits: give the batch axis to the phase so the batch survives
        phase = torch.full((len(circuits),), float(phase), dtype=torch.float64)
    return Circuit(first.n_qubits, ops, phase)


def circuit_seeds(seed: int | None, count: int) -> tuple[int, list[int]]:
    """The run's seed (fresh entropy when None) and one 63-bit seed per circuit derived from it."""
    sequence = np.random.SeedSequence(seed)
    root = int(sequence.entropy)
    words = sequence.generate_state(count, dtype=np.uint64)
    return root, [int(w) >> 1 for w in words]


class TorchBackend(Backend):
    """Exact states from :func:`~qcstar.circuits.statevector.simulate`, or shots sampled from
    ``|psi|^2`` (README, "Backends").

    ``dtype`` of the simulation (complex128 default: probabilities to ~1e-15), ``device``
    ("cpu", "cuda", None = default), ``group_size`` the most circuits simulated in one batch
    (bounds memory), ``memory=True`` keeps every shot (``Result.memory``).

    Example::

        backend = TorchBackend()
        exact = backend.run([c1, c2])                     # exact.states
        sampled = backend.run([c1, c2], shots=1000, seed=7)  # sampled.counts
    """

    name = "torch"
    exact = True

    def __init__(
        self,
        *,
        dtype: torch.dtype = torch.complex128,
        device: str | torch.device | None = None,
        group_size: int = 1024,
        memory: bool = False,
    ):
        if dtype not in (torch.complex64, torch.complex128):
            raise ConfigError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ConfigError(f"group_size must be a positive int, got {group_size!r}")
        self.dtype = dtype
        self.device = device
        self.group_size = group_size
        self.memory = bool(memory)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": str(self.dtype), "group_size": self.group_size}

    def states(self, circuits: list[Circuit]) -> list[Tensor]:
        """Exact final states of unbatched circuits, same-structure circuits simulated together."""
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(circuits):
            groups.setdefault(structure_key(c), []).append(i)
        out: list[Tensor | None] = [None] * len(circuits)
        for indices in groups.values():
            for start in range(0, len(indices), self.group_size):
                part = indices[start:start + self.group_size]
                if len(part) == 1:
                    psi = simulate(circuits[part[0]], dtype=self.dtype, device=self.device).detach()
                    out[part[0]] = psi.reshape(-1)
                    continue
                psi = simulate(stack_circuits([circuits[i] for i in part]), dtype=self.dtype, device=self.device)
                for row, i in enumerate(part):
                    out[i] = psi[row].detach()
        return out  # type: ignore[return-value]

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        states = self.states(circuits)
        n_qubits = [c.n_qubits for c in circuits]
        metadata = [{"backend": self.name, "n_ops": len(c.ops)} for c in circuits]
        if shots is None:
            return Result(backend=self.name, n_qubits=n_qubits, measured=measure, states=states, metadata=metadata)
        root, seeds = circuit_seeds(seed, len(circuits))
        counts, memory = [], []
        generator = torch.Generator(device="cpu")
        for i, (psi, wires) in enumerate(zip(states, measure)):
            generator.manual_seed(seeds[i])
            outcomes = sample(psi, shots, generator=generator, wires=list(wires)).numpy()
            counts.append(counts_from_outcomes(outcomes, len(wires)))
            if self.memory:
                memory.append(bits_from_outcomes(outcomes, len(wires)))
            metadata[i]["seed"] = root
        return Result(
            backend=self.name, n_qubits=n_qubits, measured=measure, shots=shots, counts=counts,
            memory=memory if self.memory else None, metadata=metadata,
        )
