"""qiskit-aer: statevector or density-matrix simulation, ideal or with a fake IBM backend's noise.

Specs (``get_backend``): ``"aer"`` (statevector, ideal), ``"aer:density"`` (density matrix),
``"aer:fake_torino"`` (the noise model, coupling map and ISA of ``FakeTorino``, via
``NoiseModel.from_backend``), ``"aer:fake_manila_v2:density"`` (both). Circuits are transpiled
with ``generate_preset_pass_manager(optimization_level=1, backend=..., seed_transpiler=...)``; the
seed is recorded in every circuit's metadata.

Exact results (``shots=None``): the state for an ideal statevector simulation; the exact
distribution of the measured wires (``Result.distributions``) for a density-matrix simulation,
noisy or not, with the noise model's readout errors applied (``metadata["readout_error"]``). A noisy statevector simulation samples trajectories, so it needs shots.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import BackendError, ConfigError, require
from .base import Backend, Result, bits_from_outcomes, check_simulator_memory
from ..interop import to_qiskit
from .qiskit_tools import MEASURE_REGISTER, fake_backend, physical_wires, transpile_grouped, transpile_isa

__all__ = ["AerBackend"]

_METHODS = {"statevector": "statevector", "density": "density_matrix", "density_matrix": "density_matrix"}


class AerBackend(Backend):
    """qiskit-aer's ``AerSimulator`` behind our protocol (README, "Backends").

    ``method``: "statevector" or "density_matrix"; ``noise_backend``: a fake IBM backend (an
    instance or a name such as "FakeTorino") whose noise model, coupling map and gates are used;
    ``seed_transpiler``: the transpiler seed (recorded); ``memory=True`` keeps every shot;
    ``templates``: circuits of one structure are transpiled once as a parameterised template
    (shots and distributions; exact states transpile each circuit, global phase included).
    """

    exact = True

    def __init__(
        self,
        *,
        method: str = "statevector",
        noise_backend: Any = None,
        seed_transpiler: int = 7,
        optimization_level: int = 1,
        memory: bool = False,
        templates: bool = True,
    ):
        aer = require("qiskit_aer", "aer", "the Aer backend")
        if method not in _METHODS:
            raise ConfigError(f"Aer method must be one of {sorted(_METHODS)}, got {method!r}")
        self.method = _METHODS[method]
        if isinstance(noise_backend, str):
            noise_backend = fake_backend(noise_backend)
        self.noise_backend = noise_backend
        if isinstance(seed_transpiler, bool) or not isinstance(seed_transpiler, int):
            raise ConfigError(f"seed_transpiler must be an int, got {seed_transpiler!r}")
        self.seed_transpiler = seed_transpiler
        if optimization_level not in (0, 1, 2, 3) or isinstance(optimization_level, bool):
            raise ConfigError(f"optimization_level is 0, 1, 2 or 3 (Qiskit's preset pass managers), got {optimization_level!r}")
        self.optimization_level = optimization_level
        self.memory = bool(memory)
        self.templates = bool(templates)
        if noise_backend is None:
            self.simulator = aer.AerSimulator(method=self.method)
            self.noise_model = None
        else:
            from qiskit_aer.noise import NoiseModel

            self.noise_model = NoiseModel.from_backend(noise_backend)
            self.simulator = aer.AerSimulator.from_backend(noise_backend, method=self.method)
        self._readout = readout_errors(self.noise_model)
        suffix = "" if self.method == "statevector" else ":density"
        noise = "" if noise_backend is None else f":{noise_backend.name}"
        self.name = f"aer{noise}{suffix}"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(), "method": self.method, "seed_transpiler": self.seed_transpiler,
            "optimization_level": self.optimization_level, "templates": self.templates,
            "noise_backend": None if self.noise_backend is None else self.noise_backend.name,
        }

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        if shots is None and self.noise_model is not None and self.method == "statevector":
            raise ConfigError(
                f"'{self.name}' samples noise trajectories and has no exact result; pass shots=<int>, "
                "or use the density-matrix method ('aer:<fake backend>:density') for exact noisy probabilities"
            )
        check_simulator_memory(circuits, backend=self.name, density=self.method == "density_matrix")
        target = self.noise_backend if self.noise_backend is not None else self.simulator
        want_state = shots is None and self.method == "statevector"
        options = dict(seed_transpiler=self.seed_transpiler, optimization_level=self.optimization_level)
        if want_state or not self.templates:
            isa = transpile_isa([to_qiskit(c) for c in circuits], target, **options)
        else:  # circuits of one structure: transpiled once as a template, rows bound
            isa = transpile_grouped(circuits, target, **options)
        from qiskit import ClassicalRegister

        programs, where = [], []
        for qc, wires in zip(isa, measure):
            qubits = physical_wires(qc, wires)
            where.append(qubits)
            program = qc.copy()
            if shots is None:
                if want_state:
                    program.save_statevector()
                else:
                    program.save_probabilities(qubits)
            else:
                register = ClassicalRegister(len(qubits), MEASURE_REGISTER)
                program.add_register(register)
                for j, q in enumerate(qubits):
                    program.measure(q, register[j])
            programs.append(program)
        run_options: dict[str, Any] = {} if seed is None else {"seed_simulator": seed}
        job = self.simulator.run(programs, shots=shots or 1, memory=self.memory and shots is not None, **run_options)
        result = job.result()
        if not result.success:
            raise BackendError(f"Aer failed: {result.status}")
        metadata = [
            {
                "backend": self.name, "job_id": job.job_id(), "seed_transpiler": self.seed_transpiler,
                "seed_simulator": result.results[i].seed_simulator, "depth": qc.depth(),
                "two_qubit_gates": qc.num_nonlocal_gates(), "physical_qubits": where[i],
            }
            for i, qc in enumerate(isa)
        ]
        n_qubits = list(circuits.n_qubits)
        common = dict(backend=self.name, n_qubits=n_qubits, measured=measure, metadata=metadata)
        if shots is None:
            if want_state:
                states = [_logical_state(result.get_statevector(i), isa[i], n_qubits[i]) for i in range(len(isa))]
                return Result(states=states, **common)
            dists = []
            for i in range(len(isa)):
                dist = np.asarray(result.data(i)["probabilities"], dtype=np.float64)
                # saved probabilities are taken before measurement: add the readout error here
                dists.append(apply_readout_error(dist, where[i], self._readout))
                metadata[i]["readout_error"] = bool(self._readout)
            return Result(distributions=dists, **common)
        counts = [dict(result.get_counts(i)) for i in range(len(isa))]
        memory = None
        if self.memory:
            memory = [
                bits_from_outcomes(np.array([int(b, 2) for b in result.get_memory(i)]), len(measure[i]))
                for i in range(len(isa))
            ]
        return Result(shots=shots, counts=counts, memory=memory, **common)


def readout_errors(noise_model: Any) -> dict[int, np.ndarray]:
    """Per physical qubit, the readout confusion matrix ``M[true, measured]`` of a noise model."""
    if noise_model is None:
        return {}
    out = {}
    for error in noise_model.to_dict().get("errors", []):
        if error.get("type") == "roerror" and len(error["gate_qubits"][0]) == 1:
            out[int(error["gate_qubits"][0][0])] = np.asarray(error["probabilities"], dtype=np.float64)
    return out


def apply_readout_error(dist: np.ndarray, qubits: list[int], confusion: dict[int, np.ndarray]) -> np.ndarray:
    """The distribution over ``qubits`` (index ``b(q0) + 2 b(q1) + ...``) as read out through
    each qubit's confusion matrix (qubits without one are read perfectly)."""
    k = len(qubits)
    if not any(q in confusion for q in qubits):
        return dist
    tensor = dist.reshape([2] * k)  # axis a holds qubit k-1-a (the last index bit is qubits[0])
    for j, q in enumerate(qubits):
        if q in confusion:
            axis = k - 1 - j
            tensor = np.moveaxis(np.tensordot(tensor, confusion[q], axes=([axis], [0])), -1, axis)
    return tensor.reshape(-1)


def _logical_state(statevector: Any, isa: Any, n_qubits: int) -> torch.Tensor:
    """The state on our ``n_qubits`` logical wires (an ideal simulator keeps the trivial layout)."""
    data = np.asarray(statevector, dtype=np.complex128)
    if data.shape[0] != 2**n_qubits or physical_wires(isa, range(n_qubits)) != list(range(n_qubits)):
        raise BackendError("the transpiled circuit moved qubits; exact states need an ideal simulator (no coupling map)")
    return torch.from_numpy(data)
