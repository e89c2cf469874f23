"""Any PennyLane device by name: ``default.qubit``, ``lightning.qubit``, ``braket.local.qubit``,
``braket.aws.qubit``, ...

All circuits of a run go to the device in ONE ``qml.execute`` call (per qubit count) as a list of
tapes, with the shots on each tape (device-level shots are deprecated in PennyLane 0.45), so a
plugin that batches (Braket's program sets) sees the whole batch.

Bit order: the device's wires are our qubits listed from the most significant down
(``wires=[n-1, ..., 0]``), so ``qml.state()`` comes back in our order; ``qml.probs`` takes the
measured wires reversed for the same reason, and ``qml.counts`` takes them reversed (the first measured wire is the rightmost bit, Qiskit's order),
and ``qml.sample`` columns (``memory=True``) are the measured wires.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import BackendError, ConfigError, require
from ..interop import to_pennylane
from .base import Backend, Result, bits_from_outcomes, check_simulator_memory, counts_from_outcomes

__all__ = ["PennyLaneBackend", "SEEDED_DEVICES"]

#: devices whose constructor takes a ``seed`` that makes their shots reproducible (others, such as
#: braket.local.qubit, accept a seed keyword and fail at run time)
SEEDED_DEVICES = ("default.qubit", "default.mixed", "lightning.qubit", "lightning.gpu", "lightning.kokkos")
#: devices whose qml.state() is a density matrix: exact runs return distributions only
_MIXED = ("default.mixed", "qutrit.mixed")


class PennyLaneBackend(Backend):
    """Run our circuits on the PennyLane device ``device`` (README, "Backends").

    ``device_options``: keyword arguments for ``qml.device`` (e.g. ``{"backend": "braket_dm"}``
    or ``{"device_arn": ...}`` for Braket); ``memory=True`` keeps every shot (``qml.sample``,
    which not every device supports: Braket's takes ``qml.counts`` only). ``seed`` of
    :meth:`run` is given to the devices of :data:`SEEDED_DEVICES` and recorded; other devices
    ignore it (``metadata["seeded"]`` says which happened).
    """

    exact = True

    def __init__(self, *, device: str = "default.qubit", device_options: dict | None = None, memory: bool = False):
        self._qml = require("pennylane", None, "the PennyLane backend")
        if not isinstance(device, str) or not device:
            raise ConfigError(f"device is a PennyLane device name such as 'default.qubit', got {device!r}")
        self.device_name = device
        self.device_options = dict(device_options or {})
        if "shots" in self.device_options:
            raise ConfigError("device-level shots are deprecated in PennyLane; pass shots= to run() instead")
        self.name = f"pennylane:{device}"
        self.memory = bool(memory)
        self._devices: dict[tuple[int, int | None], tuple[Any, bool]] = {}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.device_name, "device_options": self.device_options}

    def _device(self, n: int, seed: int | None) -> tuple[Any, bool]:
        """The device on wires [n-1, ..., 0] (and whether it took the seed). Unseeded devices are
        cached per qubit count; a seeded one is made fresh, so the same seed gives the same shots."""
        key = (n, seed)
        if seed is not None:
            self._devices.pop(key, None)
        if key not in self._devices:
            wires = list(reversed(range(n)))
            seeded = seed is not None and self.device_name in SEEDED_DEVICES
            options = {**self.device_options, "seed": seed} if seeded else self.device_options
            try:
                self._devices[key] = (self._qml.device(self.device_name, wires=wires, **options), seeded)
            except Exception as exc:
                raise ConfigError(f"PennyLane could not create device '{self.device_name}': {exc}") from exc
        return self._devices[key]

    def _run(self, circuits, *, shots, seed, measure) -> Result:
        qml = self._qml
        if self.device_name.startswith(("default.", "lightning.")):  # simulators on this machine
            check_simulator_memory(circuits, backend=self.name, density=self.device_name in _MIXED)
        by_size: dict[int, list[int]] = {}
        for i, n in enumerate(circuits.n_qubits):
            by_size.setdefault(n, []).append(i)
        with_state = self.device_name not in _MIXED
        outputs: list[Any] = [None] * len(circuits)
        seeded: dict[int, bool] = {}
        for n, indices in by_size.items():
            device, took_seed = self._device(n, seed)
            tapes = []
            for i in indices:
                ops = to_pennylane(circuits[i])
                wires = list(measure[i])
                if shots is None:
                    measurements = [qml.probs(wires=list(reversed(wires)))] + ([qml.state()] if with_state else [])
                elif self.memory:
                    measurements = [qml.sample(wires=wires)]
                else:
                    # counts over the reversed wires: the first measured wire is the rightmost bit
                    measurements = [qml.counts(wires=list(reversed(wires)))]
                tapes.append(qml.tape.QuantumScript(ops, measurements, shots=shots))
            try:
                results = qml.execute(tapes, device, diff_method=None)
            except Exception as exc:
                raise BackendError(f"PennyLane device '{self.device_name}' failed to run {len(tapes)} tapes: {exc}") from exc
            for i, out in zip(indices, results):
                outputs[i] = out
                seeded[i] = took_seed
        metadata = [{"backend": self.name, "seed": seed, "seeded": seeded[i]} for i in range(len(circuits))]
        common = dict(backend=self.name, n_qubits=list(circuits.n_qubits), measured=measure, metadata=metadata)
        if shots is None:
            dists = [np.asarray(_first(out), dtype=np.float64) for out in outputs]
            states = None
            if with_state:
                states = [torch.as_tensor(np.asarray(out[1], dtype=np.complex128)) for out in outputs]
            return Result(distributions=dists, states=states, **common)
        counts, memory = [], []
        for out, wires in zip(outputs, measure):
            if not self.memory:
                counts.append({str(bits): int(k) for bits, k in sorted(_first(out).items()) if int(k)})
                continue
            bits = np.asarray(_first(out), dtype=np.int64).reshape(shots, len(wires))
            outcomes = (bits << np.arange(len(wires))[None, :]).sum(axis=1)
            counts.append(counts_from_outcomes(outcomes, len(wires)))
            memory.append(bits_from_outcomes(outcomes, len(wires)))
        return Result(shots=shots, counts=counts, memory=memory if self.memory else None, **common)


def _first(out: Any) -> Any:
    """The first measurement of a tape's output (a tuple for several measurements, else the value)."""
    return out[0] if isinstance(out, (tuple, list)) else out
