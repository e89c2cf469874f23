"""Amazon Braket: the local simulators and cloud devices (``AwsDevice``), batched with ``run_batch``.

Specs (``get_backend``): ``"braket:local"`` (state vector, ``braket_sv``), ``"braket:local:braket_dm"``
(density matrix), ``"braket:arn:aws:braket:..."`` (a cloud simulator or QPU by device ARN).

Circuits go over with :func:`qcstar.circuits.interop.to_braket`. Braket orders bits big-endian
(qubit 0 is the most significant); results are turned back into our conventions here (states by
:func:`~qcstar.circuits.interop.braket_state_to_ours`, counts in Qiskit order).

Exact results (``shots=None``) on the local simulators: states from ``braket_sv``, exact
distributions of the measured wires from ``braket_dm``. Braket's simulators take no seed: ``seed``
is recorded in the metadata but sampling is not reproducible.

Cloud devices submit without waiting (:meth:`BraketBackend.submit` returns a job id holding the
task ARNs; :meth:`BraketBackend.collect` fetches them, also from a new process), so
:func:`~qcstar.circuits.backends.jobs.run_chunked` can resume them. Credentials come from the
standard AWS chain (environment, ``~/.aws``) and are never recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import BackendError, ConfigError, require
from ..interop import braket_state_to_ours, to_braket
from .base import Backend, JobLostError, Result, bits_from_outcomes, check_simulator_memory, counts_from_outcomes

__all__ = ["BraketBackend"]

_LOCAL = ("braket_sv", "braket_dm", "default")
_JOB_PREFIX = "braket-tasks:"


def _braket():
    return require("braket.devices", "braket", "the Amazon Braket backend")


class BraketBackend(Backend):
    """Run our circuits on a Braket device (README, "Backends").

    ``device``: "local" (``LocalSimulator(simulator)``), a device ARN (``AwsDevice(arn)``) or a
    ready device object with ``run_batch``; ``simulator``: the local simulator ("braket_sv" or
    "braket_dm"); ``s3_destination_folder``: ``(bucket, prefix)`` for cloud results (default: the
    SDK's default bucket); ``max_parallel``: tasks run at once; ``memory=True`` keeps every shot.
    """

    def __init__(
        self,
        *,
        device: Any = "local",
        simulator: str = "braket_sv",
        s3_destination_folder: tuple[str, str] | None = None,
        max_parallel: int | None = None,
        max_circuits: int | None = None,
        memory: bool = False,
    ):
        devices = _braket()
        if simulator not in _LOCAL:
            raise ConfigError(f"the local Braket simulator is one of {_LOCAL}, got {simulator!r}")
        self.simulator = "braket_sv" if simulator == "default" else simulator
        if device == "local":
            self.device = devices.LocalSimulator(self.simulator)
            self.local = True
            self.name = "braket:local" + ("" if self.simulator == "braket_sv" else ":braket_dm")
        elif isinstance(device, str):
            if not device.startswith("arn:aws:braket"):
                raise ConfigError(f"a Braket device is 'local' or a device ARN ('arn:aws:braket:...'), got {device!r}")
            from braket.aws import AwsDevice

            self.device = AwsDevice(device)
            self.local = False
            self.name = f"braket:{device}"
        else:
            self.device = device
            self.local = False
            self.name = f"braket:{getattr(device, 'arn', type(device).__name__)}"
        self.exact = self.local
        self.s3_destination_folder = s3_destination_folder
        self.max_parallel = max_parallel
        self._max_circuits = max_circuits
        self.memory = bool(memory)
        self._batches: dict[str, list[Any]] = {}

    @property
    def max_circuits(self) -> int | None:
        return self._max_circuits

    @property
    def max_shots(self) -> int | None:
        try:
            return int(self.device.properties.service.shotsRange[1])
        except (AttributeError, TypeError, IndexError):
            return None

    @property
    def supports_submit(self) -> bool:
        return not self.local

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "simulator": self.simulator if self.local else None, "local": self.local}

    # -- programs -----------------------------------------------------------------------
    def _programs(self, circuits, shots, measure) -> list[Any]:
        programs = []
        for c, wires in zip(circuits, measure):
            program = to_braket(c)
            if shots is None:
                if self.simulator == "braket_sv":
                    program.state_vector()
                else:
                    # big-endian over the targets: reversed wires give our index order
                    program.probability(target=list(reversed(wires)))
            programs.append(program)
        return programs

    def _result(self, task_results, circuits, shots, measure, seed, job_id=None) -> Result:
        states, dists, counts, memory, metadata = [], [], [], [], []
        for i, (res, c, wires) in enumerate(zip(task_results, circuits, measure)):
            meta = {"backend": self.name, "task_id": res.task_metadata.id, "seed": seed}
            if job_id is not None:
                meta["job_id"] = job_id
            metadata.append(meta)
            if shots is None:
                value = res.values[0]
                if self.simulator == "braket_sv":
                    states.append(torch.from_numpy(braket_state_to_ours(value)))
                else:
                    dists.append(np.asarray(value, dtype=np.float64))
                continue
            columns = [list(res.measured_qubits).index(w) for w in wires]
            bits = np.asarray(res.measurements, dtype=np.int64)[:, columns]
            outcomes = (bits << np.arange(len(wires))[None, :]).sum(axis=1)
            counts.append(counts_from_outcomes(outcomes, len(wires)))
            if self.memory:
                memory.append(bits_from_outcomes(outcomes, len(wires)))
        common = dict(backend=self.name, n_qubits=[c.n_qubits for c in circuits], measured=measure, metadata=metadata)
        if shots is None:
            if self.simulator == "braket_sv":
                return Result(states=states, **common)
            return Result(distributions=dists, **common)
        return Result(shots=shots, counts=counts, memory=memory if self.memory else None, **common)

    def _batch(self, programs, shots, tag: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"shots": shots or 0}
        if tag is not None:
            kwargs["tags"] = {"qcstar": tag}  # AWS task tags: findable in the Braket console
        if self.max_parallel is not None:
            kwargs["max_parallel"] = self.max_parallel
        if not self.local and self.s3_destination_folder is not None:
            kwargs["s3_destination_folder"] = self.s3_destination_folder
        return self.device.run_batch(programs, **kwargs)

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        if shots is None and not self.local:
            raise ConfigError(f"'{self.name}' samples; pass shots=<int>")
        if self.local:
            check_simulator_memory(circuits, backend=self.name, density=self.simulator == "braket_dm")
        if self.local and len(circuits) == 1:
            task_results = [self.device.run(self._programs(circuits, shots, measure)[0], shots=shots or 0).result()]
        else:
            batch = self._batch(self._programs(circuits, shots, measure), shots)
            task_results = batch.results()
        if any(r is None for r in task_results):
            raise BackendError(f"{sum(r is None for r in task_results)} Braket task(s) failed on '{self.name}'")
        return self._result(task_results, circuits, shots, measure, seed)

    # -- cloud: submit now, collect later (also from another process) ----------------------
    def submit(self, circuits, *, shots=None, seed=None, measure=None, tag=None) -> str:
        if self.local:
            return super().submit(circuits, shots=shots, seed=seed, measure=measure, tag=tag)
        flat, shots, seed, wires = self.prepare(circuits, shots=shots, seed=seed, measure=measure)
        if shots is None:
            raise ConfigError(f"'{self.name}' samples; pass shots=<int>")
        batch = self._batch(self._programs(flat, shots, wires), shots, tag)
        tasks = list(batch.tasks)
        job_id = _JOB_PREFIX + ";".join(t.id for t in tasks)
        self._batches[job_id] = tasks
        return job_id

    def collect(self, job_id, circuits, *, shots=None, measure=None) -> Result:
        if self.local:
            return super().collect(job_id, circuits, shots=shots, measure=measure)
        flat, shots, _, wires = self.prepare(circuits, shots=shots, seed=None, measure=measure)
        tasks = self._batches.get(job_id)
        if tasks is None:
            if not job_id.startswith(_JOB_PREFIX):
                raise JobLostError(f"'{job_id}' is not a Braket job id of this backend; submit the chunk again")
            from braket.aws import AwsQuantumTask

            tasks = [AwsQuantumTask(arn) for arn in job_id[len(_JOB_PREFIX):].split(";")]
        if len(tasks) != len(flat):
            raise BackendError(f"job {job_id} holds {len(tasks)} tasks for {len(flat)} circuits")
        results = [t.result() for t in tasks]
        if any(r is None for r in results):
            raise BackendError(f"{sum(r is None for r in results)} Braket task(s) of job {job_id} failed or were cancelled")
        return self._result(results, flat, shots, wires, None, job_id=job_id)
