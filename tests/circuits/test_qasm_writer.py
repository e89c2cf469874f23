"""circuits.qasm.writer: dumps/dump, read back by Qiskit and by our reader."""

from __future__ import annotations

import cmath

import numpy as np
import pytest
import torch

from qcstar.circuits import GATES, Circuit, Op, QasmError, unitary_matrix
from qcstar.circuits.qasm import dump, dumps, load, loads

qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit, qasm2, qasm3  # noqa: E402
from qiskit.circuit.random import random_circuit  # noqa: E402
from qiskit.quantum_info import Operator  # noqa: E402

HEAD2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
HEAD3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
_QISKIT_NAMES = {"u3": "u", "u": "u", "cu3": "cu3", "cu1": "cu1", "u1": "u1", "u2": "u2", "p": "p", "id": "id"}


def from_qiskit(qc: QuantumCircuit) -> Circuit:
    """Local converter (independent of circuits.interop): catalogue gates by name, other
    gates on <= 2 qubits as dense blocks, larger unknown gates through their definition."""
    out = Circuit(qc.num_qubits, global_phase=float(qc.global_phase))

    def add(circ: QuantumCircuit, wires: list[int]) -> None:
        for inst in circ.data:
            op = inst.operation
            qs = [wires[circ.find_bit(q).index] for q in inst.qubits]
            if op.name in ("barrier", "measure", "delay"):
                continue
            name = _QISKIT_NAMES.get(op.name, op.name)
            if name in GATES and GATES[name].num_wires == len(qs):
                out.append(Op(name, tuple(qs), tuple(float(p) for p in op.params)))
            elif len(qs) <= 2:
                out.append(Op("unitary", tuple(qs), matrix=torch.tensor(Operator(op).data)))
            else:
                out.global_phase = out.global_phase + float(op.definition.global_phase)
                add(op.definition, qs)

    add(qc, list(range(qc.num_qubits)))
    return out


def _phase_comment(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("// global_phase:"):
            return float(line.split(":", 1)[1])
    return 0.0


def _random_cases(count: int, seed0: int, max_depth: int = 20):
    rng = np.random.default_rng(seed0)
    for s in range(count):
        n = int(rng.integers(2, 7))
        depth = int(rng.integers(1, max_depth + 1))
        yield s, random_circuit(n, depth, max_operands=3, seed=seed0 + s)


# ----------------------------------------------------------------------------------------
# writing, read back by Qiskit and by us
# ----------------------------------------------------------------------------------------

def _with_extras(c: Circuit, seed: int) -> Circuit:
    """Add a dense block, a multiplexed rotation, a controlled gate and a global phase."""
    g = torch.Generator().manual_seed(seed)
    n = c.n_qubits
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.complex128, generator=g))
    c.unitary(q, [n - 1, 0])
    c.unitary(torch.linalg.qr(torch.randn(2, 2, dtype=torch.complex128, generator=g))[0], [1])
    c.mux("ry", torch.rand(2, dtype=torch.float64, generator=g), target=0, controls=[1])
    c.append(Op("u", (1,), (0.3, 0.2, 0.1), controls=(0,), control_values=(0,)))
    c.global_phase = c.global_phase + 0.7
    return c


def test_dumps_v2_random_loads_in_qiskit_and_ours():
    for s, qc in _random_cases(20, 100, max_depth=10):
        ours = _with_extras(from_qiskit(qc), s)
        ref = unitary_matrix(ours).numpy()
        text = dumps(ours, version=2, dense="decompose")
        assert "DenseMatrix" not in text
        theirs = Operator(qasm2.loads(text)).data * cmath.exp(1j * _phase_comment(text))
        assert np.allclose(theirs, ref, atol=1e-10), (s, text)
        back = unitary_matrix(loads(text)).numpy()
        assert np.allclose(back, ref, atol=1e-10), s


def test_dumps_v3_random_reads_back_exactly():
    for s, qc in _random_cases(10, 300, max_depth=10):
        ours = _with_extras(from_qiskit(qc), s)
        for dense in ("decompose", "dense"):
            text = dumps(ours, version=3, dense=dense)
            assert text.startswith(HEAD3)
            assert np.allclose(unitary_matrix(loads(text)).numpy(), unitary_matrix(ours).numpy(), atol=1e-10)


def test_dumps_v3_loads_in_qiskit():
    pytest.importorskip("qiskit_qasm3_import")
    for s, qc in _random_cases(10, 500, max_depth=8):
        ours = _with_extras(from_qiskit(qc), s)
        text = dumps(ours, version=3, dense="decompose")
        theirs = Operator(qasm3.loads(text)).data * cmath.exp(1j * _phase_comment(text))
        assert np.allclose(theirs, unitary_matrix(ours).numpy(), atol=1e-10), (s, text)


def test_every_catalogue_gate_round_trips_exactly():
    rng = np.random.default_rng(0)
    c = Circuit(3)
    for name, spec in GATES.items():
        c.append(Op(name, tuple(range(spec.num_wires)), tuple(rng.uniform(-3, 3, spec.num_params))))
    ref = unitary_matrix(c).numpy()
    for version in (2, 3):
        text = dumps(c, version=version)
        assert np.allclose(unitary_matrix(loads(text)).numpy(), ref, atol=1e-12)
        if version == 2:
            theirs = Operator(qasm2.loads(text)).data * cmath.exp(1j * _phase_comment(text))
            assert np.allclose(theirs, ref, atol=1e-10)


def test_dumps_header_and_base_form():
    c = Circuit(10).x(3).x(8)
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    c.unitary(q, [2, 7])
    text = dumps(c, dense="decompose")
    lines = text.splitlines()
    assert lines[:5] == ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[10];", "x q[3];", "x q[8];"]
    assert "gate" not in text  # MNISQ "base" form: u3 and cx only, no definitions
    assert {ln.split("(")[0].split(" ")[0] for ln in lines[5:] if not ln.startswith("//")} <= {"u3", "cx"}
    assert sum(ln.startswith("cx") for ln in lines) <= 3


def test_dumps_errors():
    c = Circuit(2).ry(torch.rand(3), 0)
    with pytest.raises(QasmError, match="batched"):
        dumps(c)
    big = Circuit(3).unitary(torch.eye(8, dtype=torch.complex128), [0, 1, 2])
    with pytest.raises(QasmError, match="decompose it first"):
        dumps(big)
    with pytest.raises(QasmError, match="version"):
        dumps(Circuit(1), version=4)
    with pytest.raises(QasmError, match="dense"):
        dumps(Circuit(1), dense="nope")
    with pytest.raises(QasmError, match="target wires"):
        dumps(Circuit(3).append(Op("rxx", (0, 1), (0.1,), controls=(2,))))


def test_option_mistakes_are_config_errors():
    from qcstar.circuits.errors import ConfigError

    for kwargs in ({"version": 4}, {"dense": "nope"}, {"precision": 0}, {"precision": 2.5}):
        with pytest.raises(ConfigError, match=next(iter(kwargs))):
            dumps(Circuit(1), **kwargs)
    with pytest.raises(ConfigError, match="Circuit"):
        dumps("OPENQASM 2.0;")  # type: ignore[arg-type]


def test_default_is_plain_openqasm_and_dense_is_on_request():
    u = torch.linalg.qr(torch.randn(4, 4, dtype=torch.complex128, generator=torch.Generator().manual_seed(3)))[0]
    c = Circuit(2).h(0).unitary(u, [0, 1])
    plain = dumps(c)
    assert "DenseMatrix" not in plain
    qasm2.loads(plain)  # other readers accept the default output
    assert "DenseMatrix(2,0," in dumps(c, dense="dense")
    ref = unitary_matrix(c)
    for text in (plain, dumps(c, dense="dense")):
        assert torch.allclose(unitary_matrix(loads(text)), ref, atol=1e-10)


def test_precision_option():
    c = Circuit(1).rx(0.123456789123, 0)
    assert "rx(0.123457)" in dumps(c, precision=6)
    assert "rx(0.123456789123)" in dumps(c)


def test_dump_and_load_atomic(tmp_path):
    c = Circuit(2).h(0).cx(0, 1).rz(0.25, 1)
    path = tmp_path / "c.qasm"
    dump(c, path, version=3)
    assert [p.name for p in tmp_path.iterdir()] == ["c.qasm"]
    assert torch.allclose(unitary_matrix(load(path)), unitary_matrix(c))
    dump(Circuit(1).x(0), path)  # overwrite in place
    assert load(path).count_ops() == {"x": 1}
