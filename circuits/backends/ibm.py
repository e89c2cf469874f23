"""IBM Quantum through qiskit-ibm-runtime, coded against the V2 sampler contract.

The contract: ``sampler.run(pubs, *, shots) -> job``; ``job.job_id()``; ``job.result()[i].data.meas``
is a ``BitArray`` (``get_counts()``, ``get_bitstrings()``, ``num_shots``). The sampler is
INJECTED (``sampler=`` or ``sampler_factory=``) because the runtime's server-side ``SamplerV2``
is deprecated since qiskit-ibm-runtime 0.50 in favour of the client-side
``qiskit_ibm_runtime.executor_sampler.Sampler`` (the default factory here), and because tests
pass mocks or ``qiskit.primitives.StatevectorSampler``.

Circuits are transpiled to ISA circuits of the target with
``generate_preset_pass_manager(optimization_level, backend, seed_transpiler)``; the seed is in
every circuit's metadata and in :meth:`IBMBackend.describe` (what manifests record).

Modes: ``"job"`` (each submit is a job), ``"batch"`` (the default: a ``Batch`` opened at the first
submit, the right mode for a Gram matrix's independent jobs), ``"session"`` (a dedicated
``Session`` for iterative work). Close with :meth:`IBMBackend.close` or use ``with``.

Local testing mode: a fake backend (``get_backend("ibm-fake:FakeManilaV2")``) runs on Aer with
the device's noise model; modes are accepted and ignored there, and ``seed`` seeds the simulator.

Credentials are never handled here: ``QiskitRuntimeService()`` reads the account saved with
``QiskitRuntimeService.save_account`` or the environment, and nothing of it is recorded.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import BackendError, ConfigError, require
from .base import Backend, JobLostError, Result, bits_from_outcomes
from .qiskit_tools import MEASURE_REGISTER, fake_backend, measured_circuit, transpile_isa

__all__ = ["IBMBackend", "ibm_fake_backend", "IBM_MAX_EXECUTIONS"]

#: executions (circuits x shots) one Sampler job may hold (IBM Quantum job limits)
IBM_MAX_EXECUTIONS = 10_000_000
#: rough QPU seconds per shot (repetition delay plus readout) used by dry-run estimates
SECONDS_PER_SHOT = 2.5e-4
_MODES = ("job", "batch", "session")


def _runtime():
    return require("qiskit_ibm_runtime", "ibm", "the IBM Quantum backend")


def _is_fake(backend: Any) -> bool:
    try:
        from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2
    except ImportError:  # pragma: no cover - the runtime is there whenever a fake backend is
        return False
    return isinstance(backend, FakeBackendV2)


class IBMBackend(Backend):
    """Run our circuits with a V2 sampler on an IBM Quantum backend (or a fake one).

    ``backend``: a Qiskit ``BackendV2`` (a real one from the service or a fake one) or
    ``backend_name`` (looked up with ``service``, default ``QiskitRuntimeService()``).
    ``sampler``: a ready V2 sampler (used as is: mode and seed are then the sampler's business),
    or ``sampler_factory(mode, options) -> sampler`` (default: ``executor_sampler.Sampler``).
    ``options``: sampler options (a dict, e.g. ``{"twirling": {"enable_measure": True}}``).
    ``max_executions``: circuits x shots per job (IBM: 10^7); ``max_circuits``: PUBs per job.
    """

    exact = False

    def __init__(
        self,
        *,
        backend: Any = None,
        backend_name: str | None = None,
        service: Any = None,
        sampler: Any = None,
        sampler_factory: Callable[[Any, dict], Any] | None = None,
        mode: str = "batch",
        options: dict | None = None,
        seed_transpiler: int = 7,
        optimization_level: int = 1,
        max_executions: int | None = IBM_MAX_EXECUTIONS,
        max_circuits: int | None = None,
        memory: bool = False,
    ):
        if mode not in _MODES:
            raise ConfigError(f"mode must be one of {_MODES}, got {mode!r}")
        if (backend is None) == (backend_name is None):
            raise ConfigError("give exactly one of backend= (a Qiskit backend) or backend_name= (e.g. 'ibm_torino')")
        if isinstance(seed_transpiler, bool) or not isinstance(seed_transpiler, int):
            raise ConfigError(f"seed_transpiler must be an int, got {seed_transpiler!r}")
        for label, value in (("max_executions", max_executions), ("max_circuits", max_circuits)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{label} must be a positive int or None, got {value!r}")
        self.service = service
        if backend is None:
            if self.service is None:
                # credentials: the provider's saved account or environment, never ours to record
                self.service = _runtime().QiskitRuntimeService()
            backend = self.service.backend(backend_name)
        self.backend = backend
        self.local = _is_fake(backend)
        self.name = f"ibm-fake:{type(backend).__name__}" if self.local else f"ibm:{backend.name}"
        self.mode = mode
        self.options = dict(options or {})
        self.seed_transpiler = seed_transpiler
        self.optimization_level = optimization_level
        self._max_executions = max_executions
        self._max_circuits = max_circuits
        self.memory = bool(memory)
        self._sampler = sampler
        self._factory = sampler_factory
        self._context: Any = None  # the open Batch / Session
        self._jobs: dict[str, tuple[Any, list[dict]]] = {}

    # -- limits and description --------------------------------------------------------
    @property
    def max_executions(self) -> int | None:
        return self._max_executions

    @property
    def max_circuits(self) -> int | None:
        return self._max_circuits

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(), "backend": self.backend.name, "mode": self.mode, "local": self.local,
            "seed_transpiler": self.seed_transpiler, "optimization_level": self.optimization_level,
            "options": self.options,
        }

    def estimate_seconds(self, n_circuits: int, shots: int) -> float:
        """Rough QPU seconds for ``n_circuits`` x ``shots`` (dry runs; IBM bills measured usage)."""
        return n_circuits * shots * SECONDS_PER_SHOT

    # -- modes ------------------------------------------------------------------------
    def _mode_object(self) -> Any:
        if self.mode == "job":
            return self.backend
        if self._context is None:
            runtime = _runtime()
            cls = runtime.Batch if self.mode == "batch" else runtime.Session
            self._context = cls(backend=self.backend)
        return self._context

    def close(self) -> None:
        """Close the Batch or Session (running jobs finish; no new ones are accepted)."""
        if self._context is not None:
            self._context.close()
            self._context = None

    def __enter__(self) -> "IBMBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _make_sampler(self, seed: int | None) -> Any:
        if self._sampler is not None:
            return self._sampler
        options = {key: dict(value) if isinstance(value, dict) else value for key, value in self.options.items()}
        if seed is not None and self.local:
            options.setdefault("simulator", {})["seed_simulator"] = seed
        if self._factory is not None:
            return self._factory(self._mode_object(), options)
        from qiskit_ibm_runtime.executor_sampler import Sampler

        return Sampler(mode=self._mode_object(), options=options)

    # -- running ------------------------------------------------------------------------
    def submit(self, circuits, *, shots=None, seed=None, measure=None) -> str:
        flat, shots, seed, wires = self.prepare(circuits, shots=shots, seed=seed, measure=measure)
        if self._max_executions is not None and len(flat) * shots > self._max_executions:
            raise ConfigError(
                f"{len(flat)} circuits x {shots} shots = {len(flat) * shots} executions exceed the "
                f"{self._max_executions} a job of '{self.name}' may hold; split them with "
                "qcstar.circuits.backends.jobs.run_chunked"
            )
        if self._max_circuits is not None and len(flat) > self._max_circuits:
            raise ConfigError(
                f"{len(flat)} circuits exceed the {self._max_circuits} a job of '{self.name}' may hold; "
                "split them with qcstar.circuits.backends.jobs.run_chunked"
            )
        isa = transpile_isa(
            [measured_circuit(c, w) for c, w in zip(flat, wires)], self.backend,
            seed_transpiler=self.seed_transpiler, optimization_level=self.optimization_level,
        )
        job = self._make_sampler(seed).run([(qc,) for qc in isa], shots=shots)
        job_id = str(job.job_id())
        info = [{"depth": qc.depth(), "two_qubit_gates": qc.num_nonlocal_gates()} for qc in isa]
        self._jobs[job_id] = (job, info)
        return job_id

    def _fetch(self, job_id: str) -> Any:
        if self.local:
            raise JobLostError(
                f"job {job_id} ran in local testing mode in another process and cannot be fetched; submit it again"
            )
        if self.service is None:
            self.service = _runtime().QiskitRuntimeService()
        try:
            return self.service.job(job_id)
        except Exception as exc:  # the service raises its own classes; say which job
            raise JobLostError(f"job {job_id} could not be fetched from IBM Quantum: {exc}") from exc

    def collect(self, job_id, circuits, *, shots=None, measure=None) -> Result:
        flat, shots, _, wires = self.prepare(circuits, shots=shots, seed=None, measure=measure)
        job, info = self._jobs.get(job_id) or (self._fetch(job_id), [{} for _ in flat])
        try:
            result = job.result()
        except Exception as exc:
            raise BackendError(f"job {job_id} on '{self.name}' failed: {exc}") from exc
        if len(result) != len(flat):
            raise BackendError(
                f"job {job_id} returned {len(result)} results for {len(flat)} circuits; "
                "collect it with the circuits it was submitted with"
            )
        counts, memory, metadata = [], [], []
        for i in range(len(flat)):
            bits = getattr(result[i].data, MEASURE_REGISTER)
            if bits.num_bits != len(wires[i]):
                raise BackendError(
                    f"job {job_id} circuit {i} measured {bits.num_bits} bits, expected {len(wires[i])}; "
                    "collect it with the measure= it was submitted with"
                )
            counts.append(dict(bits.get_counts()))
            if self.memory:
                outcomes = np.array([int(b, 2) for b in bits.get_bitstrings()], dtype=np.int64)
                memory.append(bits_from_outcomes(outcomes, len(wires[i])))
            metadata.append(
                {"backend": self.name, "job_id": job_id, "seed_transpiler": self.seed_transpiler,
                 "shots": int(bits.num_shots), **info[i]}
            )
        return Result(
            backend=self.name, n_qubits=[c.n_qubits for c in flat], measured=wires, shots=shots, counts=counts,
            memory=memory if self.memory else None, metadata=metadata,
        )

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        job_id = self.submit(circuits, shots=shots, seed=seed, measure=measure)
        return self.collect(job_id, circuits, shots=shots, measure=measure)


def ibm_fake_backend(name: str, **options: Any) -> IBMBackend:
    """Local testing mode on the fake backend ``name`` (e.g. "FakeManilaV2")."""
    return IBMBackend(backend=fake_backend(name), **options)
