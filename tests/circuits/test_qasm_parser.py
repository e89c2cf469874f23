"""circuits.qasm.parser: OpenQASM 2/3 and MNISQ Dense reading, checked against Qiskit."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, QasmError, simulate, unitary_matrix
from qcstar.circuits.qasm import dumps, loads

qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit, qasm2, qasm3  # noqa: E402
from qiskit.circuit.random import random_circuit  # noqa: E402
from qiskit.quantum_info import Operator, Statevector  # noqa: E402

HEAD2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
HEAD3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'

def _equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-10) -> bool:
    k = np.argmax(np.abs(b))
    if abs(b.flat[k]) < 1e-12:
        return np.allclose(a, b, atol=atol)
    ph = a.flat[k] / b.flat[k]
    return abs(abs(ph) - 1) < atol and np.allclose(a, ph * b, atol=atol)


# ----------------------------------------------------------------------------------------
# reading Qiskit's output
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [2, 3])
def test_loads_qiskit_dumps_random(version):
    exact = 0
    rng = np.random.default_rng(1000 * version)
    for s in range(55):
        n, depth = int(rng.integers(2, 7)), int(rng.integers(1, 21))
        qc = random_circuit(n, depth, max_operands=3, seed=1000 * version + s)
        text = qasm2.dumps(qc) if version == 2 else qasm3.dumps(qc)
        ours = simulate(loads(text), dtype=torch.complex128).numpy()
        ref = Statevector(qc).data
        # Qiskit's exporters drop the global phase of the gate definitions they write
        assert _equal_up_to_phase(ours, ref), (s, text)
        exact += bool(np.allclose(ours, ref, atol=1e-10))
    assert exact >= 5  # circuits without phase-dropping definitions match exactly


def test_loads_qelib1_library_gates_exact():
    from qiskit.circuit.library import C3SXGate, C3XGate, C4XGate, RC3XGate, RCCXGate

    for gate, n in [(RCCXGate(), 3), (RC3XGate(), 4), (C3XGate(), 4), (C3SXGate(), 4), (C4XGate(), 5)]:
        name = {"rcccx": "rc3x", "mcx": "c3x" if n == 4 else "c4x", "c3sx": "c3sqrtx"}.get(gate.name, gate.name)
        args = ",".join(f"q[{i}]" for i in range(n))
        c = loads(HEAD2 + f"qreg q[{n}];\n{name} {args};\n")
        assert np.allclose(unitary_matrix(c).numpy(), Operator(gate).data, atol=1e-12), name


def test_loads_stdgates_exact_and_v3_syntax():
    text = HEAD3 + """
qubit[2] q;
qubit r;
bit[2] c;
bit d;
U(0.1, 0.2, 0.3) q[0];
u3(0.1, 0.2, 0.3) q[1];
phase(0.3) r;
cphase(0.2) q[0], r;
cu(0.1, 0.2, 0.3, 0.4) q[1], r;
rz(-π/4) q[0];
gphase(0.5);
c[0] = measure q[0];
d = measure r;
c = measure q;
measure q[1];
"""
    qc = QuantumCircuit(3, global_phase=0.5)
    qc.u(0.1, 0.2, 0.3, 0)
    qc.u(0.1, 0.2, 0.3, 1)
    qc.p(0.3, 2)
    qc.cp(0.2, 0, 2)
    qc.cu(0.1, 0.2, 0.3, 0.4, 1, 2)
    qc.rz(-math.pi / 4, 0)
    c = loads(text, measurements="keep")
    assert np.allclose(unitary_matrix(c).numpy(), Operator(qc).data, atol=1e-12)
    assert c.metadata["measurements"] == [(0, 0), (2, 2), (0, 0), (1, 1), (1, -1)]
    assert c.metadata["qregs"] == {"q": (0, 2), "r": (2, 1)}


# ----------------------------------------------------------------------------------------
# language features
# ----------------------------------------------------------------------------------------

def test_registers_broadcast_expressions_and_gate_definitions():
    text = HEAD2 + """
qreg a[2];
qreg b[2];
creg c[4];
gate inner(x) p { rz(x/2) p; }
gate outer(x, y) p, r { inner(x*2) p; cx p, r; inner(-y) r; barrier p, r; }
h a;
cx a, b;
outer(2*pi/3 + 1e-1, sqrt(2)^2 - ln(exp(1))) a[1], b[0];
rx(-(cos(0)+sin(pi/2))*tan(0.25)) b[1];
barrier a, b;
measure a -> c[0:1];
"""
    # slicing is not supported: this must fail on the ':'; the program without it must work
    with pytest.raises(QasmError) as err:
        loads(text)
    assert (err.value.line, err.value.column) == (14, 17)
    c = loads(text.replace("measure a -> c[0:1];", "measure a[1] -> c[3];"), measurements="keep")
    qc = QuantumCircuit(4)
    qc.h([0, 1])
    qc.cx(0, 2)
    qc.cx(1, 3)
    qc.rz((2 * math.pi / 3 + 0.1) * 2 / 2, 1)
    qc.cx(1, 2)
    qc.rz(-(2 - 1) / 2, 2)
    qc.rx(-2 * math.tan(0.25), 3)
    assert np.allclose(unitary_matrix(c).numpy(), Operator(qc).data, atol=1e-12)
    assert c.metadata["measurements"] == [(1, 3)]
    assert c.metadata["qregs"] == {"a": (0, 2), "b": (2, 2)}


def test_measurement_policies_and_reset():
    text = HEAD2 + "qreg q[2];\ncreg c[2];\nh q[0];\nmeasure q -> c;\nreset q[1];\n"
    assert loads(text).count_ops() == {"h": 1}
    kept = loads(text, measurements="keep")
    assert kept.metadata["measurements"] == [(0, 0), (1, 1)] and kept.metadata["resets"] == [1]
    with pytest.raises(QasmError) as err:
        loads(text, measurements="error")
    assert (err.value.line, err.value.column) == (6, 1)


def test_global_phase_comment_is_read():
    c = loads(HEAD2 + "qreg q[1];\nx q[0];\n// global_phase: 0.25\n")
    assert c.global_phase == 0.25
    assert torch.allclose(simulate(c, dtype=torch.complex128)[1], torch.tensor(cmath.exp(0.25j), dtype=torch.complex128))


def test_comments_and_whitespace():
    text = "// a comment\nOPENQASM 2.0; // line\n include \"qelib1.inc\";\nqreg q[1]; x q[0]; // trailing\n"
    assert loads(text).count_ops() == {"x": 1}
    # block comments are OpenQASM 3 only (Qiskit's qasm2 reader refuses them)
    text = "// a comment\nOPENQASM 3.0; /* block\ncomment */ include \"stdgates.inc\";\nqubit[1] q; x q[0]; // trailing\n"
    assert loads(text).count_ops() == {"x": 1}


# ----------------------------------------------------------------------------------------
# MNISQ Dense dialect
# ----------------------------------------------------------------------------------------

def _dense_line(m: np.ndarray, wires, digits: int | None = None) -> str:
    nums = []
    for z in m.reshape(-1):
        for x in (z.real, z.imag):
            nums.append(f"{x:.{digits}g}" if digits else repr(float(x)))
    k = len(wires)
    return f"DenseMatrix({k},0,{','.join(nums)}) " + ",".join(f"q[{w}]" for w in wires)


def test_dense_round_trip_exact():
    g = torch.Generator().manual_seed(5)
    c = Circuit(4).x(1)
    for wires in ([0, 2], [3, 1], [2, 0]):
        c.unitary(torch.linalg.qr(torch.randn(4, 4, dtype=torch.complex128, generator=g))[0], wires)
    c.unitary(torch.linalg.qr(torch.randn(2, 2, dtype=torch.complex128, generator=g))[0], [3])
    text = dumps(c, dense="dense")
    assert text.count("DenseMatrix(2,0,") == 3 and text.count("DenseMatrix(1,0,") == 1
    back = loads(text)
    assert back.metadata["dense_max_deviation"] < 1e-14
    assert torch.allclose(unitary_matrix(back), unitary_matrix(c), atol=1e-13)
    # 6-digit output reads back close to the original
    six = loads(dumps(c, dense="dense", precision=6))
    assert torch.allclose(unitary_matrix(six), unitary_matrix(c), atol=1e-5)


def test_mnisq_style_file_without_semicolons():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))  # real orthogonal like AQCE's blocks
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[10];", "x q[3];", "x q[8]",
             _dense_line(q, [2, 7], digits=6), _dense_line(q.T, [0, 1], digits=6) + ";", _dense_line(q, [4, 9], digits=6)]
    c = loads("\n".join(lines) + "\n")
    assert c.n_qubits == 10 and c.count_ops() == {"x": 2, "unitary": 3}
    assert 1e-9 < c.metadata["dense_max_deviation"] < 1e-5
    for op in c.ops[2:]:
        m = op.matrix
        assert torch.allclose(m.conj().T @ m, torch.eye(4, dtype=m.dtype), atol=1e-12)
    ref = Circuit(10).x(3).x(8)
    ref.unitary(torch.tensor(q), [2, 7]).unitary(torch.tensor(q.T), [0, 1]).unitary(torch.tensor(q), [4, 9])
    assert torch.allclose(simulate(c, dtype=torch.complex128), simulate(ref, dtype=torch.complex128), atol=1e-5)


def test_dense_basis_convention_matches_qiskit_unitary_gate():
    from qiskit.circuit.library import UnitaryGate
    from qiskit.quantum_info import random_unitary

    u = random_unitary(4, seed=11).data
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.append(UnitaryGate(u), [2, 0])  # first listed qubit = low bit, as in DenseMatrix
    text = HEAD2 + "qreg q[3];\nh q[0];\n" + _dense_line(u, [2, 0]) + ";\n"
    assert np.allclose(unitary_matrix(loads(text)).numpy(), Operator(qc).data, atol=1e-12)


def test_dense_not_unitary_and_lenient_option():
    bad = HEAD2 + "qreg q[2];\n" + _dense_line(np.eye(4) * 1.5, [0, 1]) + ";\n"
    with pytest.raises(QasmError, match="not unitary") as err:
        loads(bad)
    assert err.value.line == 4
    no_semi = HEAD2 + "qreg q[1]\nx q[0]\n"
    assert loads(no_semi, lenient_semicolons=True).count_ops() == {"x": 1}


# ----------------------------------------------------------------------------------------
# malformed programs: every one raises QasmError at the right place
# ----------------------------------------------------------------------------------------

Q1 = HEAD2 + "qreg q[2];\n"  # the statement under test is on line 4

MALFORMED = [
    # (id, text, line, column or None)
    ("missing header", "qreg q[2];\nh q[0];\n", 1, 1),
    ("bad version", "OPENQASM 4.0;\n", 1, 10),
    ("header twice", HEAD2 + "OPENQASM 2.0;\n", 3, 1),
    ("header without semicolon", "OPENQASM 2.0\ninclude \"qelib1.inc\";\n", 1, 13),
    ("unknown gate", Q1 + "foo q[0];\n", 4, 1),
    ("gate without include", "OPENQASM 2.0;\nqreg q[1];\nh q[0];\n", 3, 1),
    ("wrong arity", Q1 + "cx q[0];\n", 4, 1),
    ("too many qubits for gate", Q1 + "h q[0],q[1];\n", 4, 1),
    ("wrong param count", Q1 + "rx q[0];\n", 4, 1),
    ("params on fixed gate", Q1 + "h(0.1) q[0];\n", 4, 1),
    ("qubit out of range", Q1 + "h q[2];\n", 4, 5),
    ("undeclared register", Q1 + "h r[0];\n", 4, 3),
    ("duplicate register", Q1 + "qreg q[3];\n", 4, 6),
    ("duplicate creg/qreg", Q1 + "creg q[3];\n", 4, 6),
    ("zero-size register", HEAD2 + "qreg q[0];\n", 3, 8),
    ("same qubit twice", Q1 + "cx q[0],q[0];\n", 4, 1),
    ("broadcast size mismatch", HEAD2 + "qreg a[2];\nqreg b[3];\ncx a,b;\n", 5, 1),
    ("bad expression", Q1 + "rx(1+) q[0];\n", 4, 6),
    ("unknown identifier in expression", Q1 + "rx(foo) q[0];\n", 4, 4),
    ("unbalanced parentheses", Q1 + "rx((1+2) q[0];\n", 4, 10),
    ("extra close paren", Q1 + "rx(1)) q[0];\n", 4, 6),
    ("division by zero", Q1 + "rx(1/0) q[0];\n", 4, 4),
    ("log of zero", Q1 + "rx(ln(0)) q[0];\n", 4, 4),
    ("non-finite number", Q1 + "rx(1e999) q[0];\n", 4, 4),
    ("overflow to inf", Q1 + "rx(exp(1000)) q[0];\n", 4, 4),
    ("missing semicolon", Q1 + "h q[0]\nh q[1];\n", 4, 7),
    ("missing semicolon at end", Q1 + "h q[0]", 4, 7),
    ("unterminated gate body", Q1 + "gate g a {\n h a;\n", 4, 10),
    ("statement inside gate body", Q1 + "gate g a {\n h a;\nqreg r[1];\n}\n", 6, 1),
    ("recursive gate", Q1 + "gate g a { h a; g a; }\n", 4, 17),
    ("gate uses later gate", Q1 + "gate g a { k a; }\ngate k a { h a; }\n", 4, 12),
    ("gate redefined", Q1 + "gate g a { h a; }\ngate g a { x a; }\n", 5, 6),
    ("unknown qubit arg in body", Q1 + "gate g a { h b; }\n", 4, 14),
    ("indexed arg in body", Q1 + "gate g a { h a[0]; }\n", 4, 15),
    ("wrong arity in body", Q1 + "gate g a { cx a; }\n", 4, 12),
    ("include of another file", HEAD2 + 'include "other.inc";\n', 3, 9),
    ("include wrong library v2", 'OPENQASM 2.0;\ninclude "stdgates.inc";\n', 2, 9),
    ("include path traversal", 'OPENQASM 2.0;\ninclude "/etc/passwd";\n', 2, 9),
    ("opaque", Q1 + "opaque g a;\n", 4, 1),
    ("if statement", Q1 + "creg c[1];\nif(c==1) x q[0];\n", 5, 1),
    ("DenseMatrix wrong count", Q1 + "DenseMatrix(2,0,1,0,0,0) q[0],q[1];\n", 4, 1),
    ("DenseMatrix wrong targets", Q1 + "DenseMatrix(3,0,1) q[0],q[1];\n", 4, 13),
    ("DenseMatrix with controls", Q1 + "DenseMatrix(1,1,1,0,0,0,0,0,1,0) q[0];\n", 4, 15),
    ("DenseMatrix wrong qubit count", Q1 + "DenseMatrix(1,0,1,0,0,0,0,0,1,0) q[0],q[1];\n", 4, 1),
    ("unexpected character", Q1 + "h q[0]; $\n", 4, 9),
    ("unterminated string", 'OPENQASM 2.0;\ninclude "qelib1.inc;\n', 2, 9),
    ("unterminated comment", Q1 + "/* never closed\nh q[0];\n", 4, 1),
    ("measure into qubits", Q1 + "measure q[0] -> q[1];\n", 4, 17),
    ("measure without arrow v2", Q1 + "creg c[2];\nmeasure q[0];\n", 5, 13),
    ("measure size mismatch", Q1 + "creg c[3];\nmeasure q -> c;\n", 5, 1),
    ("classical register as qubit", Q1 + "creg c[1];\nh c[0];\n", 5, 3),
    ("no qubits", HEAD2, 3, 1),
    ("v3 modifiers", HEAD3 + "qubit[2] q;\nctrl @ x q[0], q[1];\n", 4, 1),
    ("v3 classical declarations", HEAD3 + "qubit[2] q;\nfloat[64] theta = 0.1;\n", 4, 1),
    ("v3 input parameter", HEAD3 + "input float[64] a;\nqubit[1] q;\n", 3, 1),
    ("v3 wrong include", 'OPENQASM 3.0;\ninclude "qelib1.inc";\n', 2, 9),
    ("number as statement", Q1 + "3;\n", 4, 1),
    ("bad register size", HEAD2 + "qreg q[1.5];\n", 3, 8),
    ("negative index", Q1 + "h q[-1];\n", 4, 5),
    ("global_phase comment not finite", Q1 + "// global_phase: inf\n", 4, 1),
]


@pytest.mark.parametrize("text,line,column", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_programs(text, line, column):
    with pytest.raises(QasmError) as err:
        loads(text)
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert str(err.value).startswith(f"line {line}") and len(err.value.bare_message) > 10


@pytest.mark.parametrize("text,line,column", [
    (HEAD2 + "qreg q[65];\n", 3, 8),
    (HEAD2 + "qreg a[40];\nqreg b[40];\n", 4, 8),
], ids=["too many qubits", "too many qubits in total"])
def test_qubit_limit(text, line, column):
    # the default limit is far above 64 qubits (parsing only); a caller's limit is enforced
    with pytest.raises(QasmError, match="max_qubits") as err:
        loads(text, max_qubits=64)
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert loads(text).n_qubits > 64


def test_option_mistakes_are_config_errors():
    from qcstar.circuits.errors import ConfigError

    text = HEAD2 + "qreg q[1];\n"
    for kwargs in ({"measurements": "sometimes"}, {"max_ops": -1}, {"max_qubits": 2.5}, {"dense_tolerance": float("nan")}):
        with pytest.raises(ConfigError, match=next(iter(kwargs))):
            loads(text, **kwargs)
    with pytest.raises(ConfigError, match="str"):
        loads(text.encode())  # type: ignore[arg-type]


def test_limits():
    with pytest.raises(QasmError, match="max_size") as err:
        loads(Q1 + "h q[0];\n" * 100, max_size=200)
    assert err.value.line is None
    with pytest.raises(QasmError, match="max_qubits") as err:
        loads(HEAD2 + "qreg q[5];\n", max_qubits=4)
    assert err.value.line == 3
    # exponential gate nesting: rejected by the op budget without being expanded
    defs = "gate g0 a { x a; }\n" + "".join(f"gate g{i} a {{ {' '.join([f'g{i - 1} a;'] * 10)} }}\n" for i in range(1, 12))
    with pytest.raises(QasmError, match="max_ops") as err:
        loads(Q1 + defs + "g11 q[0];\n")
    assert err.value.line in (4 + 7, 4 + 8, 4 + 12)
    deep = "gate g0 a { x a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; }}\n" for i in range(1, 40))
    with pytest.raises(QasmError, match="max_depth") as err:
        loads(Q1 + deep)
    assert err.value.line == 4 + 32
    with pytest.raises(QasmError, match="max_expr_depth") as err:
        loads(Q1 + "rx(" + "(" * 200 + "1" + ")" * 200 + ") q[0];\n")
    assert err.value.line == 4
    with pytest.raises(QasmError, match="max_ops"):
        loads(Q1 + "h q;\n" * 10, max_ops=5)
    assert loads(Q1 + "h q;\n" * 10, max_ops=20).count_ops() == {"h": 20}
    with pytest.raises(QasmError, match="str"):
        loads(b"OPENQASM 2.0;")  # type: ignore[arg-type]


def test_large_input_parses_completely():
    # a 20,000-op program: every statement becomes one op, in order (no timing assertion:
    # wall-clock bounds are flaky on shared machines; speed belongs in experiments/)
    body = "".join(f"rz({i * 1e-3}) q[{i % 8}];\ncx q[{i % 8}],q[{(i + 1) % 8}];\n" for i in range(10_000))
    c = loads(HEAD2 + "qreg q[8];\n" + body)
    assert len(c.ops) == 20_000
    assert c.ops[-1].name == "cx" and c.ops[-1].wires == (7, 0)
    assert c.ops[-2].params[0] == pytest.approx(9.999)


def test_one_line_program_parses_completely():
    # 10,000 statements on one line: positions are computed on demand, and the statement-level
    # fast path must not depend on line breaks (speed is measured by experiments/bench_qasm.py)
    body = "".join(f"rz({i}e-4) q[{i % 5}]; cx q[{i % 5}],q[{(i + 1) % 5}]; " for i in range(5_000))
    c = loads(HEAD2 + "qreg q[5];\n" + body)
    assert len(c.ops) == 10_000 and c.ops[-2].params[0] == pytest.approx(0.4999)


def test_fast_path_and_general_parser_agree():
    from qcstar.circuits.qasm.parser import Limits, Parser

    text = HEAD2 + "qreg q[3];\nrz(-0.5) q[2];\nu3(1,2,3) q[0];\nc3x q[0],q[1],q[2],q[0];\n"
    for fast in (True, False):
        p = Parser(text, Limits(), "drop", False, fast=fast)
        with pytest.raises(QasmError) as err:
            p.parse()
        assert (err.value.line, err.value.column) == (6, 1)
    ok = text.replace("c3x q[0],q[1],q[2],q[0];\n", "cu1(0.25) q[2],q[0];\n")
    results = []
    for fast in (True, False):
        p = Parser(ok, Limits(), "drop", False, fast=fast)
        p.parse()
        results.append([(o.name, o.wires, o.params) for o in p.ops])
    assert results[0] == results[1] and len(results[0]) == 3
