"""The backend protocol: circuits in, a :class:`Result` out (states, counts, metadata).

Every backend (torch, Aer, IBM Quantum, Amazon Braket, PennyLane devices) takes our
:class:`~qcstar.circuits.ir.Circuit` objects and returns the same :class:`Result`, so kernel code
is written once against :meth:`Backend.run` (README, "Backends").

Conventions, shared by every backend:

* **Circuits.** ``run`` takes one :class:`Circuit` or a sequence of them; a *batched* circuit
  (batch size B) counts as B circuits, in sample order. Result entry ``i`` is the ``i``-th circuit
  of that flattened list.
* **Measured wires.** ``measure=None`` measures every qubit; a sequence of ints measures those
  wires of every circuit; a sequence of sequences gives the wires of each circuit. Measured wire
  ``measure[j]`` goes to classical bit ``j``.
* **Bitstrings (counts keys) are in Qiskit order:** classical bit 0 (the first measured wire, qubit
  0 when every qubit is measured) is the RIGHTMOST character. ``{"01": 7}`` on wires (0, 1) means
  7 shots with qubit 0 = 1 and qubit 1 = 0.
* **Bit arrays** (:meth:`Result.bit_array`) are the other way round, in wire order: column ``j``
  holds the bit of measured wire ``measure[j]``.
* **Exact or sampled.** ``shots=None`` asks for exact states (only backends with
  ``exact=True``); an int asks for that many samples per circuit. ``seed`` makes sampling
  reproducible.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import BackendError, ConfigError, ShapeError
from ..ir import Circuit

Tensor = torch.Tensor

__all__ = ["Backend", "JobLostError", "Result", "expand_circuits", "normalise_measure", "check_shots", "check_seed"]


@dataclass
class Result:
    """What a backend returns for ``len(self)`` circuits.

    ``states``: exact statevectors, one ``(2**n,)`` complex tensor per circuit (None for sampling
    backends or when shots were asked for). ``distributions``: exact probabilities of the measured
    wires, one ``(2**k,)`` array per circuit, from backends that compute them without a state (a
    noisy density-matrix simulation). ``counts``: one dict per circuit, bitstring -> shots,
    in Qiskit order (classical bit 0 = the first measured wire = the RIGHTMOST character; None when
    exact). ``memory``: optional per-shot outcomes, one ``(shots, n_measured)`` uint8 array per
    circuit in wire order (column ``j`` = wire ``measured[i][j]``). ``measured``: the measured wires of
    each circuit. ``metadata``: one dict per circuit (backend, job id, transpiled depth, ...).
    """

    backend: str
    n_qubits: list[int]
    measured: list[tuple[int, ...]]
    shots: int | None = None
    states: list[Tensor] | None = None
    counts: list[dict[str, int]] | None = None
    memory: list[np.ndarray] | None = None
    distributions: list[np.ndarray] | None = None
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        size = len(self.n_qubits)
        for name in ("measured", "states", "counts", "memory", "distributions", "metadata"):
            value = getattr(self, name)
            if name == "metadata" and not value:
                self.metadata = [{} for _ in range(size)]
                continue
            if value is not None and len(value) != size:
                raise ShapeError(f"Result.{name} holds {len(value)} entries for {size} circuits; expected one per circuit")
        if self.states is None and self.counts is None and self.distributions is None:
            raise BackendError("a Result needs exact states, exact distributions or counts; the backend returned none")

    def __len__(self) -> int:
        return len(self.n_qubits)

    def _index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -len(self) <= int(i) < len(self):
            raise ConfigError(f"circuit index must be an int in 0..{len(self) - 1}, got {i!r}")
        return int(i) % len(self)

    def probabilities(self, i: int) -> np.ndarray:
        """Probabilities ``(2**k,)`` of the ``k`` measured wires of circuit ``i``, index
        ``b(measured[0]) + 2 b(measured[1]) + ...``: exact (from the state or distribution) when
        the Result holds no counts, else shot frequencies."""
        i = self._index(i)
        wires = self.measured[i]
        if self.counts is None and self.distributions is not None:
            return np.asarray(self.distributions[i], dtype=np.float64)
        if self.counts is None:
            from ..statevector import probabilities

            return probabilities(self.states[i], list(wires)).to(torch.float64).cpu().numpy()
        out = np.zeros(2 ** len(wires), dtype=np.float64)
        total = 0
        for bits, k in self.counts[i].items():
            out[int(bits, 2)] += k
            total += k
        if total == 0:
            raise BackendError(f"circuit {i} has no shots in its counts; cannot estimate probabilities")
        return out / total

    def bit_array(self, i: int) -> np.ndarray:
        """Shots of circuit ``i`` as ``(shots, k)`` uint8 in wire order (column ``j`` = measured wire
        ``measured[i][j]``). From ``memory`` when the backend kept it (shot order), else rebuilt
        from the counts (grouped by outcome, so the shot order is lost but the statistics are not)."""
        i = self._index(i)
        k = len(self.measured[i])
        if self.memory is not None:
            return self.memory[i]
        if self.counts is None:
            raise BackendError("bit_array needs shots; this Result holds exact states (run with shots=...)")
        outcomes = [int(bits, 2) for bits, c in sorted(self.counts[i].items()) for _ in range(c)]
        return bits_from_outcomes(np.asarray(outcomes, dtype=np.int64), k)

    def probability_of_zero(self, i: int) -> float:
        """P(all measured wires read 0) for circuit ``i``: the compute-uncompute kernel entry."""
        return float(self.probabilities(i)[0])

    def select(self, indices: Sequence[int]) -> "Result":
        """A Result holding the given circuits, in that order."""
        idx = [self._index(i) for i in indices]

        def pick(values):
            return None if values is None else [values[i] for i in idx]

        return Result(
            backend=self.backend, n_qubits=pick(self.n_qubits), measured=pick(self.measured), shots=self.shots,
            states=pick(self.states), counts=pick(self.counts), memory=pick(self.memory),
            distributions=pick(self.distributions), metadata=pick(self.metadata),
        )

    @staticmethod
    def concatenate(results: Sequence["Result"]) -> "Result":
        """One Result of several (e.g. the chunks of a job), entries in order."""
        if not results:
            raise ConfigError("concatenate needs at least one Result")
        first = results[0]

        def join(name):
            parts = [getattr(r, name) for r in results]
            if all(p is None for p in parts):
                return None
            if any(p is None for p in parts):
                raise BackendError(f"cannot concatenate Results where only some hold '{name}'")
            return [x for p in parts for x in p]

        shots = {r.shots for r in results}
        if len(shots) != 1:
            raise BackendError(f"cannot concatenate Results with different shots {sorted(map(str, shots))}")
        return Result(
            backend=first.backend, n_qubits=join("n_qubits"), measured=join("measured"), shots=first.shots,
            states=join("states"), counts=join("counts"), memory=join("memory"),
            distributions=join("distributions"), metadata=join("metadata"),
        )


def check_shots(shots: Any, *, exact_ok: bool, backend: str) -> int | None:
    """``shots`` as an int >= 1, or None (exact) when the backend can return states."""
    if shots is None:
        if not exact_ok:
            raise ConfigError(
                f"backend '{backend}' samples and cannot return exact states; pass shots=<int> (e.g. shots=1024)"
            )
        return None
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ConfigError(f"shots must be a positive int (or None for exact states), got {shots!r}")
    return int(shots)


def check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int (or None for fresh randomness), got {seed!r}")
    return int(seed)


def expand_circuits(circuits: Circuit | Sequence[Circuit]) -> list[Circuit]:
    """The flat list of unbatched circuits that ``circuits`` stands for (a batched circuit of
    batch size B becomes its B samples, in order)."""
    if isinstance(circuits, Circuit):
        circuits = [circuits]
    if isinstance(circuits, (str, bytes)) or not isinstance(circuits, Sequence):
        raise ConfigError(f"a backend runs a Circuit or a sequence of Circuits, got {type(circuits).__name__}")
    flat: list[Circuit] = []
    for k, c in enumerate(circuits):
        if not isinstance(c, Circuit):
            raise ConfigError(f"circuits[{k}] is a {type(c).__name__}, expected a qcstar.circuits.Circuit")
        b = c.batch_size
        flat.extend([c] if b is None else [c.select(j) for j in range(b)])
    if not flat:
        raise ConfigError("no circuits to run: pass at least one Circuit")
    return flat


def normalise_measure(measure: Any, n_qubits: Sequence[int]) -> list[tuple[int, ...]]:
    """Per-circuit measured wires from ``measure`` (see the module docstring), checked."""
    count = len(n_qubits)
    if measure is None:
        return [tuple(range(n)) for n in n_qubits]
    if isinstance(measure, (str, bytes)) or not isinstance(measure, Sequence):
        raise ConfigError(f"measure is a sequence of wires (or one per circuit), got {measure!r}")
    per_circuit = len(measure) > 0 and all(isinstance(m, Sequence) and not isinstance(m, str) for m in measure)
    if per_circuit:
        if len(measure) != count:
            raise ConfigError(f"measure gives wires for {len(measure)} circuits, but {count} circuits were given")
        lists = list(measure)
    else:
        lists = [measure] * count
    out = []
    for i, (wires, n) in enumerate(zip(lists, n_qubits)):
        try:
            wires = tuple(int(w) for w in wires)
        except (TypeError, ValueError):
            raise ConfigError(f"measure for circuit {i} must be ints, got {wires!r}") from None
        if not wires or len(set(wires)) != len(wires) or any(not 0 <= w < n for w in wires):
            raise ConfigError(
                f"measure for circuit {i} must be distinct wires in 0..{n - 1} (at least one), got {list(wires)}"
            )
        out.append(wires)
    return out


def counts_from_outcomes(outcomes: np.ndarray, n_bits: int) -> dict[str, int]:
    """Qiskit-order counts (bit 0 rightmost) of integer outcomes ``b0 + 2 b1 + ...``."""
    values, freq = np.unique(np.asarray(outcomes, dtype=np.int64), return_counts=True)
    return {format(int(v), f"0{n_bits}b"): int(f) for v, f in zip(values, freq)}


def bits_from_outcomes(outcomes: np.ndarray, n_bits: int) -> np.ndarray:
    """``(shots, n_bits)`` uint8 in wire order from integer outcomes ``b0 + 2 b1 + ...``."""
    ints = np.asarray(outcomes, dtype=np.int64)
    return ((ints[:, None] >> np.arange(n_bits)[None, :]) & 1).astype(np.uint8)


class JobLostError(BackendError):
    """A job id that can no longer be fetched (e.g. a local testing-mode job of a process that
    ended): its chunk must be submitted again."""


class Backend(abc.ABC):
    """A place that runs circuits: a simulator, a device, a cloud service.

    Subclasses set ``name`` and ``exact`` (True when ``shots=None`` returns exact states or
    distributions) and implement
    :meth:`_run` on the flat list of unbatched circuits. Limits (``None`` = unlimited) are what
    :func:`qcstar.circuits.backends.jobs.run_chunked` chunks by: ``max_circuits`` per job,
    ``max_shots`` per circuit, ``max_executions`` (circuits x shots) per job.

    A backend that can submit without waiting also implements :meth:`submit` (returns a job id
    string) and :meth:`collect` (that job's Result, also from another process given the same
    circuits); ``supports_submit`` says whether it does.
    """

    name: str = "backend"
    exact: bool = False

    @property
    def max_circuits(self) -> int | None:
        return None

    @property
    def max_shots(self) -> int | None:
        return None

    @property
    def max_executions(self) -> int | None:
        return None

    @property
    def supports_submit(self) -> bool:
        return type(self).submit is not Backend.submit

    def describe(self) -> dict[str, Any]:
        """What a manifest records about this backend (never credentials)."""
        return {"name": self.name, "exact": self.exact}

    def estimate_seconds(self, n_circuits: int, shots: int) -> float | None:
        """Estimated device seconds for ``n_circuits`` x ``shots`` (None: no estimate; local
        simulators cost no device time)."""
        return None

    def run(
        self,
        circuits: Circuit | Sequence[Circuit],
        *,
        shots: int | None = None,
        seed: int | None = None,
        measure: Sequence[int] | Sequence[Sequence[int]] | None = None,
    ) -> Result:
        """Run ``circuits`` (see the module docstring for batching, ``measure`` and bit order)."""
        flat, shots, seed, wires = self.prepare(circuits, shots=shots, seed=seed, measure=measure)
        return self._run(flat, shots=shots, seed=seed, measure=wires)

    def prepare(self, circuits, *, shots, seed, measure) -> tuple[list[Circuit], int | None, int | None, list[tuple[int, ...]]]:
        """Check and normalise the arguments of :meth:`run` (the flat circuit list, shots, seed, wires)."""
        flat = expand_circuits(circuits)
        shots = check_shots(shots, exact_ok=self.exact, backend=self.name)
        seed = check_seed(seed)
        wires = normalise_measure(measure, [c.n_qubits for c in flat])
        if shots is not None and self.max_shots is not None and shots > self.max_shots:
            raise ConfigError(
                f"backend '{self.name}' takes at most {self.max_shots} shots per circuit, got {shots}; "
                "lower shots or split the run into repeated runs"
            )
        return flat, shots, seed, wires

    @abc.abstractmethod
    def _run(
        self, circuits: list[Circuit], *, shots: int | None, seed: int | None, measure: list[tuple[int, ...]]
    ) -> Result:
        """Run checked, unbatched circuits."""

    def submit(
        self,
        circuits: Circuit | Sequence[Circuit],
        *,
        shots: int | None = None,
        seed: int | None = None,
        measure: Sequence[int] | Sequence[Sequence[int]] | None = None,
    ) -> str:
        """Submit without waiting; returns a job id for :meth:`collect`."""
        raise BackendError(f"backend '{self.name}' runs synchronously; use run() (it has no submit/collect)")

    def collect(
        self,
        job_id: str,
        circuits: Circuit | Sequence[Circuit],
        *,
        shots: int | None = None,
        measure: Sequence[int] | Sequence[Sequence[int]] | None = None,
    ) -> Result:
        """The Result of job ``job_id`` (waits for it). ``circuits``, ``shots`` and ``measure`` are
        those given to :meth:`submit`: providers return bits only, and a resumed run (a new
        process) rebuilds the Result's shape from them."""
        raise BackendError(f"backend '{self.name}' runs synchronously; use run() (it has no submit/collect)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
