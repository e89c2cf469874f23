"""qiskit-aer: statevector or density-matrix simulation, ideal or with a fake IBM backend's noise.

Specs (``get_backend``): ``"aer"`` (statevector, ideal), ``"aer:density"`` (density matrix),
``"aer:fake_torino"`` (the noise model, coupling map and ISA of ``FakeTorino``, via
``NoiseModel.from_backend``), ``"aer:fake_manila_v2:density"`` (both). Circuits are transpiled
with ``generate_preset_pass_manager(optimization_level=1, backend=..., seed_transpiler=...)``; the
seed is recorded in every circuit's metadata.

Exact results (``shots=None``): the state for an ideal statevector simulation; the exact
distribution of the measured wires (``Result.distributions``) for a density-matrix simulation,
noisy or not. A noisy statevector simulation samples trajectories, so it needs shots.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import BackendError, ConfigError, require
from .base import Backend, Result, bits_from_outcomes
from ..interop import to_qiskit
from .qiskit_tools import fake_backend, physical_wires, transpile_isa

__all__ = ["AerBackend"]

_METHODS = {"statevector": "statevector", "density": "density_matrix", "density_matrix": "density_matrix"}


class AerBackend(Backend):
    """qiskit-aer's ``AerSimulator`` behind our protocol (README, "Backends").

    ``method``: "statevector" or "density_matrix"; ``noise_backend``: a fake IBM backend (an
    instance or a name such as "FakeTorino") whose noise model, coupling map and gates are used;
    ``seed_transpiler``: the transpiler seed (recorded); ``memory=True`` keeps every shot.
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
        self.optimization_level = optimization_level
        self.memory = bool(memory)
        if noise_backend is None:
            self.simulator = aer.AerSimulator(method=self.method)
            self.noise_model = None
        else:
            from qiskit_aer.noise import NoiseModel

            self.noise_model = NoiseModel.from_backend(noise_backend)
            self.simulator = aer.AerSimulator.from_backend(noise_backend, method=self.method)
        suffix = "" if self.method == "statevector" else ":density"
        noise = "" if noise_backend is None else f":{noise_backend.name}"
        self.name = f"aer{noise}{suffix}"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(), "method": self.method, "seed_transpiler": self.seed_transpiler,
            "noise_backend": None if self.noise_backend is None else self.noise_backend.name,
        }

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        if shots is None and self.noise_model is not None and self.method == "statevector":
            raise ConfigError(
                f"'{self.name}' samples noise trajectories and has no exact result; pass shots=<int>, "
                "or use the density-matrix method ('aer:<fake backend>:density') for exact noisy probabilities"
            )
        target = self.noise_backend if self.noise_backend is not None else self.simulator
        isa = transpile_isa([to_qiskit(c) for c in circuits], target, seed_transpiler=self.seed_transpiler, optimization_level=self.optimization_level)
        programs, where = [], []
        want_state = shots is None and self.method == "statevector"
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
                from qiskit import ClassicalRegister

                register = ClassicalRegister(len(qubits), "meas")
                program.add_register(register)
                for j, q in enumerate(qubits):
                    program.measure(q, register[j])
            programs.append(program)
        options: dict[str, Any] = {}
        if seed is not None:
            options["seed_simulator"] = seed
        job = self.simulator.run(programs, shots=shots or 1, memory=self.memory and shots is not None, **options)
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
        n_qubits = [c.n_qubits for c in circuits]
        common = dict(backend=self.name, n_qubits=n_qubits, measured=measure, metadata=metadata)
        if shots is None:
            if want_state:
                states = [_logical_state(result.get_statevector(i), isa[i], circuits[i].n_qubits) for i in range(len(isa))]
                return Result(states=states, **common)
            dists = [np.asarray(result.data(i)["probabilities"], dtype=np.float64) for i in range(len(isa))]
            return Result(distributions=dists, **common)
        counts = [dict(result.get_counts(i)) for i in range(len(isa))]
        memory = None
        if self.memory:
            memory = [
                bits_from_outcomes(np.array([int(b, 2) for b in result.get_memory(i)]), len(measure[i]))
                for i in range(len(isa))
            ]
        return Result(shots=shots, counts=counts, memory=memory, **common)


def _logical_state(statevector: Any, isa: Any, n_qubits: int) -> torch.Tensor:
    """The state on our ``n_qubits`` logical wires (an ideal simulator keeps the trivial layout)."""
    data = np.asarray(statevector, dtype=np.complex128)
    if data.shape[0] != 2**n_qubits or physical_wires(isa, range(n_qubits)) != list(range(n_qubits)):
        raise BackendError("the transpiled circuit moved qubits; exact states need an ideal simulator (no coupling map)")
    return torch.from_numpy(data)
