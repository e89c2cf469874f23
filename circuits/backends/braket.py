"""Amazon Braket: the local simulators and cloud devices (``AwsDevice``), batched.

Cloud runs go as program sets (``braket.program_sets.ProgramSet``) where the device offers them,
else as ``run_batch``. Specs (``get_backend``): ``"braket:local"`` (state vector, ``braket_sv``), ``"braket:local:braket_dm"``
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
_JOB_PREFIX = "braket-tasks:"  # then "<task ARN>#<circuits in it>;..."


def _braket():
    return require("braket.devices", "braket", "the Amazon Braket backend")


class _FinishedTask:
    """A task whose result is already here (a local batch's)."""

    def __init__(self, result: Any):
        self._result = result
        self.id = None if result is None else result.task_metadata.id

    def result(self) -> Any:
        return self._result


class BraketBackend(Backend):
    """Run our circuits on a Braket device (README, "Backends").

    ``device``: "local" (``LocalSimulator(simulator)``), a device ARN (``AwsDevice(arn)``) or a
    ready device object with ``run_batch``; ``simulator``: the local simulator ("braket_sv" or
    "braket_dm"); ``s3_destination_folder``: ``(bucket, prefix)`` for cloud results (default: the
    SDK's default bucket); ``max_parallel``: tasks run at once; ``memory=True`` keeps every shot;
    ``program_sets``: send circuits as program sets (one task per set within the device's
    executables and total-shots limits: far fewer tasks, and per-task fees, than ``run_batch``);
    None uses them on cloud devices that offer them, never locally.
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
        program_sets: bool | None = None,
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
        self.program_sets = program_sets
        self._tasks: dict[str, list[tuple[Any, int]]] = {}

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

    def _result(self, entries, circuits, shots, measure, seed, job_id=None) -> Result:
        """A Result from one ``(measurements, measured_qubits, task id, values)`` entry per circuit."""
        states, dists, counts, memory, metadata = [], [], [], [], []
        for (measurements, measured_qubits, task_id, values), wires in zip(entries, measure):
            meta = {"backend": self.name, "task_id": task_id, "seed": seed}
            if job_id is not None:
                meta["job_id"] = job_id
            metadata.append(meta)
            if shots is None:
                if self.simulator == "braket_sv":
                    states.append(torch.from_numpy(braket_state_to_ours(values[0])))
                else:
                    dists.append(np.asarray(values[0], dtype=np.float64))
                continue
            columns = [list(measured_qubits).index(w) for w in wires]
            bits = np.asarray(measurements, dtype=np.int64)[:, columns]
            outcomes = (bits << np.arange(len(wires))[None, :]).sum(axis=1)
            counts.append(counts_from_outcomes(outcomes, len(wires)))
            if self.memory:
                memory.append(bits_from_outcomes(outcomes, len(wires)))
        common = dict(backend=self.name, n_qubits=list(circuits.n_qubits), measured=measure, metadata=metadata)
        if shots is None:
            if self.simulator == "braket_sv":
                return Result(states=states, **common)
            return Result(distributions=dists, **common)
        return Result(shots=shots, counts=counts, memory=memory if self.memory else None, **common)

    def program_set_limits(self) -> tuple[int, int] | None:
        """``(maximum executables, maximum total shots)`` of the device's program-set action, or
        None when it has none."""
        try:
            action = self.device.properties.action.get("braket.ir.openqasm.program_set")
        except AttributeError:
            return None
        if action is None:
            return None
        return int(action.maximumExecutables), int(action.maximumTotalShots)

    def _use_program_sets(self, shots: int | None) -> tuple[int, int] | None:
        if shots is None or self.program_sets is False or (self.program_sets is None and self.local):
            return None
        limits = self.program_set_limits()
        if limits is None or shots > limits[1]:
            if self.program_sets:
                raise ConfigError(
                    f"'{self.name}' cannot run {shots} shots per circuit as program sets "
                    f"(limits: {limits or 'no program-set action'}); pass program_sets=False"
                )
            return None
        return limits

    def _launch(self, programs, shots, tag: str | None = None) -> list[tuple[Any, int]]:
        """Start the tasks: ``(task, number of circuits it holds)`` in circuit order. Program sets
        (one task per set of circuits, within the device's limits) where used, else ``run_batch``
        (one task per circuit)."""
        kwargs: dict[str, Any] = {}
        if tag is not None:
            kwargs["tags"] = {"qcstar": tag}  # AWS task tags: findable in the Braket console
        if not self.local and self.s3_destination_folder is not None:
            kwargs["s3_destination_folder"] = self.s3_destination_folder
        limits = self._use_program_sets(shots)
        if limits is not None:
            from braket.program_sets import ProgramSet

            per_set = max(1, min(limits[0], limits[1] // shots))
            tasks = []
            for start in range(0, len(programs), per_set):
                part = programs[start:start + per_set]
                program_set = ProgramSet(part, shots_per_executable=shots)
                tasks.append((self.device.run(program_set, shots=program_set.total_shots, **kwargs), len(part)))
            return tasks
        if self.local and len(programs) == 1:
            return [(self.device.run(programs[0], shots=shots or 0), 1)]
        if self.max_parallel is not None:
            kwargs["max_parallel"] = self.max_parallel
        batch = self.device.run_batch(programs, shots=shots or 0, **kwargs)
        if not hasattr(batch, "tasks"):  # the local simulator's batch hands out results only
            return [(_FinishedTask(result), 1) for result in batch.results()]
        return [(task, 1) for task in batch.tasks]

    @staticmethod
    def _entries(task: Any, count: int) -> list[tuple]:
        """Per circuit of ``task``: ``(measurements, measured_qubits, task id, values)``."""
        result = task.result()
        if result is None:
            raise BackendError(f"Braket task {getattr(task, 'id', '?')} failed or was cancelled")
        task_id = result.task_metadata.id
        if hasattr(result, "entries"):  # a program set: one composite entry per circuit
            if len(result.entries) != count:
                raise BackendError(f"Braket task {task_id} holds {len(result.entries)} programs, expected {count}")
            return [
                (entry.entries[0].measurements, entry.entries[0].measured_qubits, task_id, None)
                for entry in result.entries
            ]
        return [(result.measurements, result.measured_qubits, task_id, result.values)]

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        if shots is None and not self.local:
            raise ConfigError(f"'{self.name}' samples; pass shots=<int>")
        if self.local:
            check_simulator_memory(circuits, backend=self.name, density=self.simulator == "braket_dm")
        tasks = self._launch(self._programs(circuits, shots, measure), shots)
        entries = [entry for task, count in tasks for entry in self._entries(task, count)]
        return self._result(entries, circuits, shots, measure, seed)

    # -- cloud: submit now, collect later (also from another process) ----------------------
    def submit(self, circuits, *, shots=None, seed=None, measure=None, tag=None) -> str:
        if self.local:
            return super().submit(circuits, shots=shots, seed=seed, measure=measure, tag=tag)
        flat, shots, seed, wires = self.prepare(circuits, shots=shots, seed=seed, measure=measure)
        if shots is None:
            raise ConfigError(f"'{self.name}' samples; pass shots=<int>")
        tasks = self._launch(self._programs(flat, shots, wires), shots, tag)
        # the job id names every task and how many circuits it holds: a new process needs nothing else
        job_id = _JOB_PREFIX + ";".join(f"{task.id}#{count}" for task, count in tasks)
        self._tasks[job_id] = tasks
        return job_id

    def collect(self, job_id, circuits, *, shots=None, measure=None) -> Result:
        if self.local:
            return super().collect(job_id, circuits, shots=shots, measure=measure)
        flat, shots, _, wires = self.prepare(circuits, shots=shots, seed=None, measure=measure)
        tasks = self._tasks.get(job_id)
        if tasks is None:
            if not job_id.startswith(_JOB_PREFIX):
                raise JobLostError(f"'{job_id}' is not a Braket job id of this backend; submit the chunk again")
            from braket.aws import AwsQuantumTask

            tasks = []
            for item in job_id[len(_JOB_PREFIX):].split(";"):
                arn, _, count = item.rpartition("#")
                tasks.append((AwsQuantumTask(arn), int(count)))
        if sum(count for _, count in tasks) != len(flat):
            raise BackendError(
                f"job {job_id} holds {sum(c for _, c in tasks)} circuits, {len(flat)} were given; "
                "collect it with the circuits it was submitted with"
            )
        entries = [entry for task, count in tasks for entry in self._entries(task, count)]
        return self._result(entries, flat, shots, wires, None, job_id=job_id)
