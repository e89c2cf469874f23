"""Fake IBM backends by name, measured Qiskit circuits, ISA transpilation and layouts."""

from __future__ import annotations

import pytest

pytest.importorskip("qiskit_ibm_runtime")

from qiskit.quantum_info import Statevector  # noqa: E402

from qcstar.circuits import Circuit, ConfigError  # noqa: E402
from qcstar.circuits.backends.qiskit_tools import (  # noqa: E402
    fake_backend, measured_circuit, physical_wires, transpile_isa,
)


@pytest.mark.parametrize("name", ["FakeManilaV2", "fake_manila_v2", "manila_v2", "Fake-Manila-V2"])
def test_fake_backend_names_are_forgiving(name):
    assert type(fake_backend(name)).__name__ == "FakeManilaV2"


def test_unknown_fake_backend_suggests_close_names():
    with pytest.raises(ConfigError, match="FakeTorino"):
        fake_backend("fake_torin")


def test_measured_circuit_sends_wire_j_to_bit_j():
    qc = measured_circuit(Circuit(3).x(2), [2, 0])
    assert [qc.find_bit(i.clbits[0]).index for i in qc.data if i.operation.name == "measure"] == [0, 1]
    assert qc.cregs[0].name == "meas"


def test_isa_transpile_is_seeded_and_layout_is_tracked():
    backend = fake_backend("FakeManilaV2")
    c = Circuit(3).h(0).cx(0, 2).ry(0.4, 1).cx(2, 1)
    from qcstar.circuits.interop import to_qiskit

    a = transpile_isa([to_qiskit(c)], backend, seed_transpiler=3)[0]
    b = transpile_isa([to_qiskit(c)], backend, seed_transpiler=3)[0]
    assert a == b
    assert set(a.count_ops()) <= set(backend.operation_names)
    phys = physical_wires(a, [0, 1, 2])
    assert len(set(phys)) == 3 and all(0 <= p < backend.num_qubits for p in phys)
    # the logical state is recovered on the physical wires
    probs = Statevector(a).probabilities_dict(qargs=phys)
    assert probs.get("000", 0.0) == pytest.approx(Statevector(to_qiskit(c)).probabilities_dict().get("000", 0.0), abs=1e-9)
