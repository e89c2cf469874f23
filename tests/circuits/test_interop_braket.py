"""circuits.interop's Braket converter, checked against Braket's LocalSimulator state vector
(big-endian bit order, controls with control states, multiplexers, global phase, round trips)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("braket.devices")

from braket.circuits import Circuit as BraketCircuit  # noqa: E402
from braket.circuits import FreeParameter  # noqa: E402
from braket.devices import LocalSimulator  # noqa: E402

from qcstar.circuits import GATES, Circuit, GateError, ShapeError, simulate  # noqa: E402
from qcstar.circuits.interop import braket_state_to_ours, from_braket, to_braket  # noqa: E402


def _braket_states(circuits: list[Circuit]) -> list[np.ndarray]:
    programs = []
    for c in circuits:
        program = to_braket(c)
        program.state_vector()
        programs.append(program)
    results = LocalSimulator("braket_sv").run_batch(programs, shots=0, max_parallel=1).results()
    return [braket_state_to_ours(r.values[0]) for r in results]


def _prefix(n: int, gen: torch.Generator) -> Circuit:
    c = Circuit(n)
    for q in range(n):
        c.ry(float(torch.rand(1, generator=gen)) * 3, q).rz(float(torch.rand(1, generator=gen)) * 3, q)
    return c


def _catalogue_circuits(per_circuit: int = 4) -> list[Circuit]:
    """Every catalogue gate, plain and controlled on |0> of a free wire, a few per circuit (a
    Braket task costs ~25 ms), each after a random layer so that states are generic."""
    gen = torch.Generator().manual_seed(1)
    steps = []
    for name, spec in GATES.items():
        params = [float(torch.rand(1, generator=gen)) * 3 - 1.5 for _ in range(spec.num_params)]
        wires = [2, 0, 1][: spec.num_wires]
        steps.append((name, wires, params, (), ()))
        if spec.num_wires <= 2:
            free = [q for q in range(3) if q not in wires][0]
            steps.append((name, wires, params, (free,), (0,)))
    out = []
    for start in range(0, len(steps), per_circuit):
        c = Circuit(3)
        for name, wires, params, controls, values in steps[start:start + per_circuit]:
            c = c.compose(_prefix(3, gen)).append(name, wires, params, controls=controls, control_values=values)
        out.append(c)
    return out


def test_every_catalogue_gate_and_its_controlled_form_match_braket():
    circuits = _catalogue_circuits()
    for c, state in zip(circuits, _braket_states(circuits)):
        names = [op.name for op in c.ops if op.name not in ("ry", "rz") or op.controls]
        np.testing.assert_allclose(state, simulate(c, dtype=torch.complex128).numpy(), atol=1e-10, err_msg=str(names))


def test_multiplexers_unitaries_phase_and_idle_qubits():
    gen = torch.Generator().manual_seed(2)
    u = torch.linalg.qr(torch.randn(4, 4, dtype=torch.complex128, generator=gen))[0]
    c = _prefix(4, gen).mux("ry", torch.tensor([0.3, -1.1, 0.5, 2.0]), target=1, controls=[3, 0]).unitary(u, [2, 0])
    c.global_phase = 0.7
    idle = Circuit(3).h(0)  # qubits 1 and 2 unused: Braket must still hold three qubits
    for circuit, state in zip([c, idle], _braket_states([c, idle])):
        np.testing.assert_allclose(state, simulate(circuit, dtype=torch.complex128).numpy(), atol=1e-10)


def test_round_trip_through_braket_keeps_the_state():
    circuits = _catalogue_circuits(per_circuit=12)
    for c in circuits:
        back = from_braket(to_braket(c))
        torch.testing.assert_close(simulate(back, dtype=torch.complex128), simulate(c, dtype=torch.complex128))
    native = BraketCircuit().h(0).cnot(0, 2).xy(1, 2, 0.4).gphase(0.2)  # XY has no catalogue twin: by matrix
    state = LocalSimulator("braket_sv").run(native.copy().state_vector(), shots=0).result().values[0]
    np.testing.assert_allclose(simulate(from_braket(native), dtype=torch.complex128).numpy(), braket_state_to_ours(state), atol=1e-10)


def test_converter_errors_are_clear():
    with pytest.raises(GateError, match="bind them first"):
        from_braket(BraketCircuit().rx(0, FreeParameter("theta")))
    with pytest.raises(GateError, match="gates only"):
        from_braket(BraketCircuit().h(0).bit_flip(0, 0.1))
    with pytest.raises(ShapeError, match="index"):
        to_braket(Circuit(1).ry(torch.tensor([0.1, 0.2]), 0))
    with pytest.raises(ShapeError, match="power-of-two"):
        braket_state_to_ours(np.ones(3))


def test_controlled_global_phase_from_braket():
    native = BraketCircuit().h(0).h(1).h(2).gphase(0.9, control=[0, 2], control_state="10")
    state = LocalSimulator("braket_sv").run(native.copy().state_vector(), shots=0).result().values[0]
    np.testing.assert_allclose(simulate(from_braket(native), dtype=torch.complex128).numpy(), braket_state_to_ours(state), atol=1e-10)
