"""Read and write OpenQASM 2.0, OpenQASM 3.0 (the subset Qiskit writes) and MNISQ's Dense dialect.

Reading is our own lexer and recursive-descent parser (no Qiskit), linear in the input, with
limits so that hostile input cannot hang or exhaust memory, and a :class:`QasmError` with the
1-based line and column for every problem.

Semantics follow Qiskit, because our gate matrices are Qiskit's:

* every name in Qiskit's ``qelib1.inc`` (v2) or ``stdgates.inc`` (v3) is the catalogue gate of
  that name (``rz`` is ``RZGate``, ``u3``/``U`` are ``UGate``, ``c3x`` is a triple-controlled X);
* a ``gate`` definition is expanded inline: its meaning is its body, so a definition that drops
  a global phase (as Qiskit's exporters do, e.g. for ``ecr``) gives the state up to that phase;
* OpenQASM has no global phase (v2) or Qiskit does not export it (v3). Our writer records the
  exact phase in a comment ``// global_phase: <float>`` that :func:`loads` reads back, so our own
  round trip is exact. ``gphase(x);`` statements (v3) are honoured too.

Dense dialect (PAPERS.md §B2.3): ``DenseMatrix(t,0,<re,im pairs>) q[i],q[j];`` with ``t`` in
{1, 2}, the ``4**t`` entries row-major, basis index ``b(q[i]) + 2 b(q[j])`` (our ``unitary``
convention). The 6-digit matrices are re-unitarised by the polar factor (SVD ``W Vh``); the
largest entry change is recorded in ``circuit.metadata["dense_max_deviation"]``.
MNISQ files may lack trailing semicolons: with ``lenient_semicolons=None`` (default) a statement
may end at the end of its line when the text contains ``DenseMatrix``, and nowhere else.

Example::

    >>> from qcstar.circuits import Circuit
    >>> from qcstar.circuits.qasm import dumps, loads
    >>> text = dumps(Circuit(2).h(0).cx(0, 1))
    >>> loads(text).count_ops()
    {'h': 1, 'cx': 1}
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from .errors import GateError, QasmError
from .files import write_atomic
from .gates import GATES, gate_matrix
from .ir import Circuit, Op

Tensor = torch.Tensor

__all__ = ["loads", "load", "dumps", "dump", "decompose_multiplexed"]

#: Default limits (all overridable per call).
MAX_SIZE = 50_000_000  # characters of input
MAX_QUBITS = 64
MAX_DEPTH = 32  # nesting of gate definitions
MAX_EXPR_DEPTH = 64
MAX_OPS = 10_000_000  # ops after expanding definitions and broadcasting
MAX_BITS = 1 << 20  # classical bits (they allocate nothing, but a bound keeps metadata sane)
DENSE_TOLERANCE = 1e-3  # largest entry change allowed when re-unitarising a DenseMatrix


# ======================================================================================
# lexer
# ======================================================================================

class _Tok(NamedTuple):
    kind: str  # 'id', 'num', 'str', 'op', 'eof'
    text: str
    line: int
    col: int
    end_line: int


_TOKEN_RE = re.compile(
    r"""
     (?P<ws>[ \t\r\f\v]+)
    |(?P<nl>\n)
    |(?P<lc>//[^\n]*)
    |(?P<bc>/\*.*?\*/)
    |(?P<openc>/\*)
    |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*|π|τ|ℇ)
    |(?P<str>"[^"\n]*")
    |(?P<op>->|\*\*|==|[;,()\[\]{}+\-*/^=@<>!&|~%:])
    |(?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_PHASE_COMMENT = re.compile(r"//\s*global_phase:\s*(\S+)\s*$")


def _tokenize(text: str) -> tuple[list[_Tok], list[tuple[str, int, int]]]:
    """Tokens of ``text`` plus the ``// global_phase:`` comments as (value, line, col)."""
    toks: list[_Tok] = []
    phases: list[tuple[str, int, int]] = []
    line, line_start, pos = 1, 0, 0
    append = toks.append
    for m in _TOKEN_RE.finditer(text):  # the catch-all group makes the matches contiguous
        kind = m.lastgroup
        if kind == "ws":
            continue
        pos = m.start()
        if kind == "nl":
            line += 1
            line_start = pos + 1
            continue
        s = m.group()
        if kind == "bc":
            k = s.count("\n")
            if k:
                line += k
                line_start = pos + s.rfind("\n") + 1
            continue
        col = pos - line_start + 1
        if kind == "lc":
            pm = _PHASE_COMMENT.match(s)
            if pm:
                phases.append((pm.group(1), line, col))
            continue
        if kind == "openc":
            raise QasmError("unterminated block comment: expected '*/' before the end of the input", line=line, column=col)
        if kind == "bad":
            if s == '"':
                raise QasmError("unterminated string: expected a closing '\"' on the same line", line=line, column=col)
            raise QasmError(f"unexpected character {s!r}", line=line, column=col)
        append(_Tok(kind, s, line, col, line))
    pos = len(text)
    toks.append(_Tok("eof", "", line, pos - line_start + 1, line))
    return toks, phases


def _show(tok: _Tok) -> str:
    return "end of input" if tok.kind == "eof" else repr(tok.text)


# ======================================================================================
# expressions: a tiny AST evaluated with math
# ======================================================================================

_FUNCS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log, "log": math.log,
    "sqrt": math.sqrt, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan,
}
_CONSTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e, "ℇ": math.e}

# AST nodes: ('n', value) | ('v', name) | ('-', node) | ('b', op, a, b) | ('f', name, node), each
# paired with its token for error positions: (node, tok).


def _eval(node: tuple, env: dict[str, float], tok: _Tok) -> float:
    kind = node[0]
    try:
        if kind == "n":
            return node[1]
        if kind == "v":
            return env[node[1]]
        if kind == "-":
            return -_eval(node[1], env, tok)
        if kind == "f":
            out = _FUNCS[node[1]](_eval(node[2], env, tok))
        else:
            a, b = _eval(node[2], env, tok), _eval(node[3], env, tok)
            op = node[1]
            if op == "+":
                out = a + b
            elif op == "-":
                out = a - b
            elif op == "*":
                out = a * b
            elif op == "/":
                out = a / b
            else:
                out = math.pow(a, b)
    except ZeroDivisionError:
        raise QasmError("division by zero in a parameter expression", line=tok.line, column=tok.col) from None
    except (ValueError, OverflowError) as exc:
        raise QasmError(f"parameter expression cannot be evaluated ({exc})", line=tok.line, column=tok.col) from None
    if not math.isfinite(out):
        raise QasmError(f"parameter expression evaluates to {out}; expected a finite number", line=tok.line, column=tok.col)
    return out


# ======================================================================================
# gate libraries
# ======================================================================================

@dataclass
class _GateDef:
    """A gate known to the parser: a catalogue gate, or a definition expanded inline."""

    name: str
    n_params: int
    n_qubits: int
    catalogue: str | None = None  # emit this catalogue gate (with `controls` leading controls)
    controls: int = 0
    params: list[str] = field(default_factory=list)
    # body items: ('g', _GateDef, [(ast, tok)], [arg index], tok) or ('p', (ast, tok))
    body: list[tuple] = field(default_factory=list)
    depth: int = 0  # nesting depth of definitions below (0 for catalogue gates)
    size: int = 1  # ops emitted per application


def _cat(name: str, catalogue: str | None = None, controls: int = 0) -> _GateDef:
    spec = GATES[catalogue or name]
    return _GateDef(name, spec.num_params, spec.num_wires + controls, catalogue or name, controls)


_QELIB1_NAMES = [
    "u2", "u1", "cx", "id", "u", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz",
    "sx", "sxdg", "cz", "cy", "swap", "ch", "ccx", "cswap", "crx", "cry", "crz", "cu1", "cp", "cu3",
    "csx", "cu", "rxx", "rzz",
]
_STDGATES_NAMES = [
    "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy", "cz", "cp",
    "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "id", "u1", "u2",
]

# Gates of Qiskit's qelib1.inc that our catalogue lacks, defined in catalogue gates. rccx and
# rc3x are the relative-phase Toffolis (their standard definitions); tests compare them with
# Qiskit's RCCXGate / RC3XGate including phase.
_QELIB1_EXTRA = """
gate u0(gamma) q { }
gate rccx a,b,c { h c; t c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c; h c; }
gate rc3x a,b,c,d { h d; t d; cx c,d; tdg d; h d; cx a,d; t d; cx b,d; tdg d; cx a,d; t d; cx b,d; tdg d;
                    h d; t d; cx c,d; tdg d; h d; }
"""

_LIB_CACHE: dict[int, dict[str, _GateDef]] = {}


def _library(version: int) -> dict[str, _GateDef]:
    """The gates an ``include`` makes available."""
    if version in _LIB_CACHE:
        return _LIB_CACHE[version]
    lib: dict[str, _GateDef] = {}
    if version == 2:
        for name in _QELIB1_NAMES:
            lib[name] = _cat(name)
        lib["u3"] = _cat("u3", "u")
        lib["c3x"] = _cat("c3x", "x", 3)
        lib["c4x"] = _cat("c4x", "x", 4)
        lib["c3sqrtx"] = _cat("c3sqrtx", "sx", 3)
        parser = _Parser("OPENQASM 2.0;\n" + _QELIB1_EXTRA, _Limits(), "drop", False, prelude=lib)
        parser.parse()
        lib.update(parser.user_gates)
    else:
        for name in _STDGATES_NAMES:
            lib[name] = _cat(name)
        lib["u3"] = _cat("u3", "u")
        lib["phase"] = _cat("phase", "p")
        lib["cphase"] = _cat("cphase", "cp")
        lib["CX"] = _cat("CX", "cx")
    _LIB_CACHE[version] = lib
    return lib


def _expand(g: _GateDef, values: list[float], qubits: list[int], out: list[Op]) -> float:
    """Append the catalogue ops of ``g`` applied to ``qubits``; return the gphase it adds."""
    if g.catalogue is not None:
        c = g.controls
        out.append(Op(g.catalogue, tuple(qubits[c:]), tuple(values), controls=tuple(qubits[:c])))
        return 0.0
    phase = 0.0
    env = dict(zip(g.params, values))
    for item in g.body:
        if item[0] == "p":
            node, pt = item[1]
            phase += _eval(node, env, pt)
            continue
        _, sub, pnodes, argidx, _tok = item
        phase += _expand(sub, [_eval(n, env, pt) for n, pt in pnodes], [qubits[k] for k in argidx], out)
    return phase


_V3_UNSUPPORTED = {
    "ctrl", "negctrl", "inv", "pow", "def", "for", "while", "input", "output", "const", "float", "int",
    "uint", "angle", "bool", "let", "box", "delay", "defcal", "cal", "defcalgrammar", "return", "break",
    "continue", "switch", "extern", "duration", "stretch", "complex", "array", "else", "end",
}


@dataclass
class _Limits:
    max_size: int = MAX_SIZE
    max_qubits: int = MAX_QUBITS
    max_depth: int = MAX_DEPTH
    max_expr_depth: int = MAX_EXPR_DEPTH
    max_ops: int = MAX_OPS
    dense_tolerance: float = DENSE_TOLERANCE


# ======================================================================================
# parser
# ======================================================================================

class _Parser:
    def __init__(self, text: str, limits: _Limits, measurements: str, lenient: bool,
                 prelude: dict[str, _GateDef] | None = None):
        self.toks, self.phase_comments = _tokenize(text)
        self.i = 0
        self.limits = limits
        self.measurements = measurements
        self.lenient = lenient
        self.version = 2
        self.gates: dict[str, _GateDef] = dict(prelude or {})
        self.user_gates: dict[str, _GateDef] = {}
        self.prelude = prelude is not None
        self.qregs: dict[str, tuple[int, int]] = {}
        self.cregs: dict[str, tuple[int, int]] = {}
        self.n_qubits = 0
        self.n_bits = 0
        self.ops: list[Op] = []
        self.phase = 0.0
        self.measured: list[tuple[int, int]] = []
        self.resets: list[int] = []
        self.dense_dev = 0.0
        self.n_dense = 0
        self.included = False

    # -- token helpers ---------------------------------------------------------------
    def peek(self, k: int = 0) -> _Tok:
        if k:
            return self.toks[min(self.i + k, len(self.toks) - 1)]
        return self.toks[self.i]  # never past the final 'eof' token

    def next(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def error(self, msg: str, tok: _Tok) -> QasmError:
        return QasmError(msg, line=tok.line, column=tok.col)

    def expect(self, text: str, what: str) -> _Tok:
        t = self.peek()
        if t.text != text or t.kind not in ("op", "id"):
            raise self.error(f"expected '{text}' {what}, got {_show(t)}", t)
        return self.next()

    def expect_id(self, what: str) -> _Tok:
        t = self.peek()
        if t.kind != "id":
            raise self.error(f"expected {what}, got {_show(t)}", t)
        return self.next()

    def expect_int(self, what: str) -> tuple[int, _Tok]:
        t = self.peek()
        if t.kind != "num" or not t.text.isdigit():
            raise self.error(f"expected {what} (a non-negative integer), got {_show(t)}", t)
        self.next()
        if len(t.text) > 12:
            raise self.error(f"{what} {t.text} is too large", t)
        return int(t.text), t

    def end_statement(self, what: str) -> None:
        t = self.peek()
        if t.kind == "op" and t.text == ";":
            self.next()
            return
        prev = self.toks[self.i - 1] if self.i > 0 else t
        if self.lenient and (t.kind == "eof" or t.line > prev.end_line):
            return  # MNISQ Dense files: the end of the line ends the statement
        col = prev.col + len(prev.text)
        raise QasmError(f"expected ';' after {what}, got {_show(t)}", line=prev.line, column=col)

    # -- program ---------------------------------------------------------------------
    def parse(self) -> None:
        self.header()
        while self.peek().kind != "eof":
            self.statement()
        for value, line, col in self.phase_comments:
            try:
                ph = float(value)
            except ValueError:
                raise QasmError(f"expected a number after '// global_phase:', got {value!r}", line=line, column=col) from None
            if not math.isfinite(ph):
                raise QasmError(f"global_phase comment holds {ph}; expected a finite number", line=line, column=col)
            self.phase += ph

    def header(self) -> None:
        t = self.peek()
        if not (t.kind == "id" and t.text == "OPENQASM"):
            raise self.error(f"expected the header 'OPENQASM 2.0;' or 'OPENQASM 3.0;' as the first statement, got {_show(t)}", t)
        self.next()
        v = self.peek()
        if v.kind != "num" or v.text not in ("2.0", "3.0", "3", "2"):
            raise self.error(f"expected OpenQASM version 2.0 or 3.0 after 'OPENQASM', got {_show(v)}", v)
        self.next()
        self.version = 2 if v.text.startswith("2") else 3
        if self.version == 3 and not self.prelude:
            self.gates["U"] = _cat("U", "u")
        if self.version == 2:
            self.gates["U"] = _cat("U", "u")
            self.gates["CX"] = _cat("CX", "cx")
        self.end_statement("the OPENQASM header")

    def statement(self) -> None:
        t = self.peek()
        if t.kind != "id":
            raise self.error(f"expected a statement (a declaration, gate call or measurement), got {_show(t)}", t)
        word = t.text
        if word == "OPENQASM":
            raise self.error("the 'OPENQASM' header may appear only once, as the first statement", t)
        if word == "include":
            return self.include()
        if word in ("qreg", "creg"):
            return self.reg_v2(word == "qreg")
        if word in ("qubit", "bit"):
            return self.reg_v3(word == "qubit")
        if word == "gate":
            return self.gate_def()
        if word == "opaque":
            raise self.error("'opaque' gates are not supported: their action is unknown; define the gate with 'gate' instead", t)
        if word == "if":
            raise self.error("'if' statements (classically controlled gates) are not supported; remove them or run the circuit with a backend that supports them", t)
        if word == "barrier":
            self.next()
            if not (self.peek().kind == "op" and self.peek().text == ";"):
                self.arg_list(allow_bits=False)
            return self.end_statement("barrier")
        if word == "measure":
            self.next()
            return self.measure(None)
        if word == "reset":
            self.next()
            qubits = self.arg(allow_bits=False)[0]
            self.end_statement("reset")
            self.handle_reset(qubits, t)
            return
        if word == "DenseMatrix":
            return self.dense()
        if word == "gphase":
            self.next()
            self.expect("(", "after 'gphase'")
            node = self.expr({})
            self.expect(")", "to close 'gphase('")
            self.end_statement("gphase(...)")
            self.phase += _eval(node[0], {}, node[1])
            return
        if word in self.cregs and self.version == 3:
            return self.measure_assign()
        if word in _V3_UNSUPPORTED and word not in self.gates:
            raise self.error(f"the OpenQASM 3 construct '{word}' is not supported; this reader handles gates, registers, gate definitions, barrier, reset and measure", t)
        return self.gate_call()

    def include(self) -> None:
        self.next()
        s = self.peek()
        if s.kind != "str":
            raise self.error(f"expected a file name in double quotes after 'include', got {_show(s)}", s)
        self.next()
        name = s.text[1:-1]
        want = "qelib1.inc" if self.version == 2 else "stdgates.inc"
        if name != want:
            raise self.error(
                f"cannot include {s.text}: an OpenQASM {self.version} program may include only \"{want}\" "
                "(this reader never reads other files)", s)
        if self.included:
            raise self.error(f"\"{want}\" is included twice", s)
        self.included = True
        for gname, g in _library(self.version).items():
            self.gates.setdefault(gname, g)
        self.end_statement("include")

    def declare(self, name_tok: _Tok, size: int, size_tok: _Tok, quantum: bool) -> None:
        name = name_tok.text
        if name in self.qregs or name in self.cregs:
            raise self.error(f"register '{name}' is already declared", name_tok)
        if name in self.gates and name in self.user_gates:
            raise self.error(f"'{name}' is already the name of a gate", name_tok)
        if size < 1:
            raise self.error(f"register '{name}' must have at least 1 element, got {size}", size_tok)
        if quantum:
            if self.n_qubits + size > self.limits.max_qubits:
                raise self.error(
                    f"register '{name}' brings the qubit count to {self.n_qubits + size}, above the limit "
                    f"max_qubits={self.limits.max_qubits} (raise it with loads(..., max_qubits=...))", size_tok)
            self.qregs[name] = (self.n_qubits, size)
            self.n_qubits += size
        else:
            if self.n_bits + size > MAX_BITS:
                raise self.error(f"register '{name}' brings the classical bit count above the limit {MAX_BITS}", size_tok)
            self.cregs[name] = (self.n_bits, size)
            self.n_bits += size

    def reg_v2(self, quantum: bool) -> None:
        kw = self.next()
        name = self.expect_id(f"a register name after '{kw.text}'")
        self.expect("[", f"after the register name '{name.text}'")
        size, st = self.expect_int("the register size")
        self.expect("]", "after the register size")
        self.end_statement(f"the declaration of '{name.text}'")
        self.declare(name, size, st, quantum)

    def reg_v3(self, quantum: bool) -> None:
        kw = self.next()
        size, st = 1, kw
        if self.peek().text == "[" and self.peek().kind == "op":
            self.next()
            size, st = self.expect_int("the register size")
            self.expect("]", "after the register size")
        name = self.expect_id(f"a register name after '{kw.text}'")
        if self.peek().kind == "op" and self.peek().text == "=":
            raise self.error("initialised declarations are not supported", self.peek())
        self.end_statement(f"the declaration of '{name.text}'")
        self.declare(name, size, st, quantum)

    # -- arguments -------------------------------------------------------------------
    def arg(self, allow_bits: bool) -> tuple[list[int], _Tok, bool]:
        """One argument ``r`` or ``r[i]``: (indices, token, is_bit)."""
        t = self.expect_id("a register name or an indexed qubit like q[0]")
        name = t.text
        if name in self.qregs:
            off, size = self.qregs[name]
            bit = False
        elif name in self.cregs and allow_bits:
            off, size = self.cregs[name]
            bit = True
        elif name in self.cregs:
            raise self.error(f"'{name}' is a classical register; expected a qubit register", t)
        else:
            raise self.error(f"undeclared register '{name}'", t)
        if self.peek().kind == "op" and self.peek().text == "[":
            self.next()
            idx, it = self.expect_int(f"an index into '{name}'")
            self.expect("]", f"after the index into '{name}'")
            if idx >= size:
                raise self.error(f"index {idx} is out of range for register '{name}' of size {size} (valid: 0..{size - 1})", it)
            return [off + idx], t, bit
        return list(range(off, off + size)), t, bit

    def arg_list(self, allow_bits: bool) -> list[tuple[list[int], _Tok, bool]]:
        args = [self.arg(allow_bits)]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.next()
            args.append(self.arg(allow_bits))
        return args

    # -- expressions -----------------------------------------------------------------
    def expr(self, env: dict[str, Any], depth: int = 0) -> tuple[tuple, _Tok]:
        t = self.peek()
        return self._sum(env, depth), t

    def _check_depth(self, depth: int) -> None:
        if depth > self.limits.max_expr_depth:
            t = self.peek()
            raise self.error(f"expression nested deeper than max_expr_depth={self.limits.max_expr_depth}", t)

    def _sum(self, env, depth):
        self._check_depth(depth)
        node = self._product(env, depth + 1)
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.next().text
            node = ("b", op, node, self._product(env, depth + 1))
        return node

    def _product(self, env, depth):
        node = self._unary(env, depth + 1)
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.next().text
            node = ("b", op, node, self._unary(env, depth + 1))
        return node

    def _unary(self, env, depth):
        self._check_depth(depth)
        t = self.peek()
        if t.kind == "op" and t.text in ("-", "+"):
            self.next()
            inner = self._unary(env, depth + 1)
            return ("-", inner) if t.text == "-" else inner
        return self._power(env, depth + 1)

    def _power(self, env, depth):
        base = self._atom(env, depth + 1)
        if self.peek().kind == "op" and self.peek().text in ("^", "**"):
            self.next()
            return ("b", "^", base, self._unary(env, depth + 1))  # right-associative
        return base

    def _atom(self, env, depth):
        self._check_depth(depth)
        t = self.next()
        if t.kind == "num":
            v = float(t.text)
            if not math.isfinite(v):
                raise self.error(f"number {t.text} is not finite", t)
            return ("n", v)
        if t.kind == "op" and t.text == "(":
            node = self._sum(env, depth + 1)
            self.expect(")", "to close '('")
            return node
        if t.kind == "id":
            if t.text in env:
                return ("v", t.text)
            if t.text in _CONSTS:
                return ("n", _CONSTS[t.text])
            if t.text in _FUNCS:
                self.expect("(", f"after the function '{t.text}'")
                node = self._sum(env, depth + 1)
                self.expect(")", f"to close '{t.text}('")
                return ("f", t.text, node)
            raise self.error(f"unknown identifier '{t.text}' in an expression; expected a number, pi, a gate parameter or one of {sorted(_FUNCS)}", t)
        raise self.error(f"expected a number, a name or '(' in an expression, got {_show(t)}", t)

    def param_list(self, env: dict[str, Any]) -> list[tuple[tuple, _Tok]]:
        params: list[tuple[tuple, _Tok]] = []
        if not (self.peek().kind == "op" and self.peek().text == "("):
            return params
        self.next()
        if self.peek().kind == "op" and self.peek().text == ")":
            self.next()
            return params
        params.append(self.expr(env))
        while self.peek().kind == "op" and self.peek().text == ",":
            self.next()
            params.append(self.expr(env))
        self.expect(")", "to close the parameter list")
        return params

    # -- gates -----------------------------------------------------------------------
    def lookup(self, t: _Tok) -> _GateDef:
        g = self.gates.get(t.text)
        if g is None:
            hint = ""
            if not self.included and t.text in _library(self.version):
                inc = "qelib1.inc" if self.version == 2 else "stdgates.inc"
                hint = f"; did you forget 'include \"{inc}\";'?"
            elif t.text in self.qregs or t.text in self.cregs:
                hint = f"; '{t.text}' is a register"
            raise self.error(f"unknown gate '{t.text}'{hint}", t)
        return g

    def check_call(self, g: _GateDef, t: _Tok, n_params: int, n_args: int) -> None:
        if n_params != g.n_params:
            raise self.error(f"gate '{t.text}' takes {g.n_params} parameter(s), got {n_params}", t)
        if n_args != g.n_qubits:
            raise self.error(f"gate '{t.text}' acts on {g.n_qubits} qubit(s), got {n_args} argument(s)", t)

    def gate_call(self) -> None:
        t = self.next()
        g = self.lookup(t)
        if self.peek().kind == "op" and self.peek().text == "@":
            raise self.error("gate modifiers ('@') are not supported", self.peek())
        params = self.param_list({})
        args = self.arg_list(allow_bits=False)
        self.end_statement(f"the call of '{t.text}'")
        self.check_call(g, t, len(params), len(args))
        values = [_eval(node, {}, pt) for node, pt in params]
        # broadcasting: whole registers of equal size, single qubits repeated
        sizes = {len(a[0]) for a in args if len(a[0]) > 1}
        reps = 1
        if sizes:
            if len(sizes) > 1:
                raise self.error(f"registers of different sizes {sorted(sizes)} in one call of '{t.text}'", t)
            reps = sizes.pop()
        if len(self.ops) + reps * g.size > self.limits.max_ops:
            raise self.error(f"the program expands to more than max_ops={self.limits.max_ops} operations", t)
        for r in range(reps):
            qubits = [a[0][r] if len(a[0]) > 1 else a[0][0] for a in args]
            if len(set(qubits)) != len(qubits):
                raise self.error(f"gate '{t.text}' is applied to the same qubit twice ({qubits})", t)
            self.phase += _expand(g, values, qubits, self.ops)

    def gate_def(self) -> None:
        self.next()
        nt = self.expect_id("a gate name after 'gate'")
        name = nt.text
        if name in self.user_gates:
            raise self.error(f"gate '{name}' is already defined", nt)
        if name in ("U", "CX", "gphase") or name in self.qregs or name in self.cregs:
            raise self.error(f"cannot define a gate named '{name}': the name is taken", nt)
        params: list[str] = []
        if self.peek().kind == "op" and self.peek().text == "(":
            self.next()
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                params.append(self.expect_id("a parameter name").text)
                while self.peek().kind == "op" and self.peek().text == ",":
                    self.next()
                    params.append(self.expect_id("a parameter name").text)
            self.expect(")", "to close the gate's parameter list")
        if len(set(params)) != len(params):
            raise self.error(f"gate '{name}' repeats a parameter name", nt)
        qargs = [self.expect_id(f"a qubit argument name for gate '{name}'").text]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.next()
            qargs.append(self.expect_id(f"a qubit argument name for gate '{name}'").text)
        if len(set(qargs)) != len(qargs):
            raise self.error(f"gate '{name}' repeats a qubit argument name", nt)
        open_tok = self.expect("{", f"to open the body of gate '{name}'")
        env = {p: None for p in params}
        index = {q: k for k, q in enumerate(qargs)}
        body: list[tuple] = []
        depth, size = 0, 0
        while True:
            t = self.peek()
            if t.kind == "op" and t.text == "}":
                self.next()
                break
            if t.kind == "eof":
                raise self.error(f"the body of gate '{name}' opened here is never closed: expected '}}' before the end of the input", open_tok)
            if t.kind != "id":
                raise self.error(f"expected a gate call or '}}' in the body of gate '{name}', got {_show(t)}", t)
            if t.text == "barrier":
                self.next()
                self.body_args(index, name)
                self.end_statement("barrier")
                continue
            if t.text == "gphase":
                self.next()
                self.expect("(", "after 'gphase'")
                node = self.expr(env)
                self.expect(")", "to close 'gphase('")
                self.end_statement("gphase(...)")
                body.append(("p", node))
                continue
            if t.text == name:
                raise self.error(f"gate '{name}' uses itself in its own body; recursive definitions are not allowed", t)
            if t.text in ("gate", "qreg", "creg", "qubit", "bit", "measure", "reset", "include", "opaque", "if", "OPENQASM"):
                raise self.error(f"'{t.text}' is not allowed in the body of gate '{name}' (expected a gate call or '}}')", t)
            self.next()
            sub = self.lookup(t)
            pnodes = self.param_list(env)
            argidx = self.body_args(index, name)
            self.end_statement(f"the call of '{t.text}'")
            self.check_call(sub, t, len(pnodes), len(argidx))
            if len(set(argidx)) != len(argidx):
                raise self.error(f"gate '{t.text}' is applied to the same qubit twice in the body of '{name}'", t)
            body.append(("g", sub, pnodes, argidx, t))
            depth = max(depth, sub.depth)
            size += sub.size
            if size > self.limits.max_ops:
                raise self.error(f"gate '{name}' expands to more than max_ops={self.limits.max_ops} operations", t)
        if depth + 1 > self.limits.max_depth:
            raise self.error(f"gate '{name}' nests definitions {depth + 1} deep, above max_depth={self.limits.max_depth}", nt)
        g = _GateDef(name, len(params), len(qargs), params=params, body=body, depth=depth + 1, size=size)
        self.gates[name] = g
        self.user_gates[name] = g

    def body_args(self, index: dict[str, int], name: str) -> list[int]:
        out: list[int] = []
        while True:
            t = self.expect_id(f"a qubit argument of gate '{name}'")
            if t.text not in index:
                raise self.error(f"'{t.text}' is not a qubit argument of gate '{name}' (its arguments: {', '.join(index)})", t)
            if self.peek().kind == "op" and self.peek().text == "[":
                raise self.error(f"qubit arguments inside a gate body cannot be indexed ('{t.text}[')", self.peek())
            out.append(index[t.text])
            if not (self.peek().kind == "op" and self.peek().text == ","):
                return out
            self.next()

    # -- measurement, reset ------------------------------------------------------------
    def measure(self, target: tuple[list[int], _Tok, bool] | None, start: _Tok | None = None) -> None:
        start = start or self.toks[self.i - 1]
        src = self.arg(allow_bits=False)
        if target is None:
            if self.peek().kind == "op" and self.peek().text == "->":
                self.next()
                target = self.arg(allow_bits=True)
            elif self.version == 2:
                raise self.error(f"expected '->' after 'measure {src[1].text}...', got {_show(self.peek())}", self.peek())
        self.end_statement("measure")
        if target is not None and not target[2]:
            raise self.error(f"'{target[1].text}' is a qubit register; expected a classical register", target[1])
        clbits = target[0] if target is not None else [-1] * len(src[0])
        if len(clbits) != len(src[0]):
            raise self.error(f"measure needs equally sized arguments, got {len(src[0])} qubit(s) and {len(clbits)} bit(s)", start)
        if self.measurements == "error":
            raise self.error("the program measures qubits; loads(..., measurements='error') forbids it (use 'drop' or 'keep')", start)
        if self.measurements == "keep":
            self.measured.extend(zip(src[0], clbits))

    def measure_assign(self) -> None:
        target = self.arg(allow_bits=True)
        self.expect("=", f"after '{target[1].text}' (only 'bit = measure qubit;' assignments are supported)")
        m = self.peek()
        if not (m.kind == "id" and m.text == "measure"):
            raise self.error(f"expected 'measure' after '=', got {_show(m)}", m)
        self.next()
        self.measure(target, start=target[1])

    def handle_reset(self, qubits: list[int], t: _Tok) -> None:
        if self.measurements == "error":
            raise self.error("the program resets qubits; loads(..., measurements='error') forbids it", t)
        if self.measurements == "keep":
            self.resets.extend(qubits)

    # -- MNISQ Dense -----------------------------------------------------------------
    def dense(self) -> None:
        t = self.next()
        self.expect("(", "after 'DenseMatrix'")
        nodes = [self.expr({})]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.next()
            nodes.append(self.expr({}))
        self.expect(")", "to close 'DenseMatrix('")
        args = self.arg_list(allow_bits=False)
        self.end_statement("DenseMatrix(...)")
        values = [_eval(n, {}, nt) for n, nt in nodes]
        if len(values) < 2:
            raise self.error("DenseMatrix needs (targets, controls, entries...)", t)
        nt_, nc = values[0], values[1]
        if nt_ not in (1.0, 2.0):
            raise self.error(f"DenseMatrix supports 1 or 2 targets, got {values[0]!r}", nodes[0][1])
        if nc != 0.0:
            raise self.error(f"controlled DenseMatrix is not supported: expected 0 controls, got {values[1]!r}", nodes[1][1])
        k = int(nt_)
        want = 2 * 4**k
        if len(values) - 2 != want:
            raise self.error(
                f"DenseMatrix({k},0,...) needs {want} numbers ({4**k} complex entries as re,im pairs, row-major), "
                f"got {len(values) - 2}", t)
        if len(args) != k:
            raise self.error(f"DenseMatrix({k},0,...) acts on {k} qubit(s), got {len(args)} argument(s)", t)
        qubits = []
        for a in args:
            if len(a[0]) != 1 or a[1] is None:
                raise self.error("DenseMatrix needs indexed qubits like q[0]", a[1])
            qubits.append(a[0][0])
        if len(set(qubits)) != len(qubits):
            raise self.error(f"DenseMatrix is applied to the same qubit twice ({qubits})", t)
        if len(self.ops) + 1 > self.limits.max_ops:
            raise self.error(f"the program expands to more than max_ops={self.limits.max_ops} operations", t)
        d = 2**k
        arr = np.asarray(values[2:], dtype=np.float64).reshape(d * d, 2)
        m = (arr[:, 0] + 1j * arr[:, 1]).reshape(d, d)
        w, _, vh = np.linalg.svd(m)
        u = w @ vh  # the nearest unitary (polar factor)
        dev = float(np.abs(u - m).max())
        if dev > self.limits.dense_tolerance:
            raise self.error(
                f"DenseMatrix is not unitary: its entries differ from the nearest unitary by up to {dev:.3g} "
                f"(tolerance dense_tolerance={self.limits.dense_tolerance})", t)
        self.dense_dev = max(self.dense_dev, dev)
        self.n_dense += 1
        self.ops.append(Op("unitary", tuple(qubits), matrix=torch.from_numpy(u)))


def loads(
    text: str,
    *,
    measurements: str = "drop",
    lenient_semicolons: bool | None = None,
    max_size: int = MAX_SIZE,
    max_qubits: int = MAX_QUBITS,
    max_depth: int = MAX_DEPTH,
    max_expr_depth: int = MAX_EXPR_DEPTH,
    max_ops: int = MAX_OPS,
    dense_tolerance: float = DENSE_TOLERANCE,
) -> Circuit:
    """Parse an OpenQASM 2.0/3.0 program (or an MNISQ Dense file) into a :class:`Circuit`.

    ``measurements``: ``"drop"`` ignores ``measure``/``reset``; ``"keep"`` records them in
    ``metadata["measurements"]`` as ``(qubit, clbit)`` pairs (clbit ``-1`` for a bare v3
    ``measure q;``) and ``metadata["resets"]``; ``"error"`` raises. ``lenient_semicolons``:
    let a line end a statement; ``None`` turns it on only for texts containing ``DenseMatrix``.
    The ``max_*`` limits bound the work done on hostile input.

    Metadata: ``qasm_version``, ``qregs``/``cregs`` (name -> (offset, size)), and for Dense files
    ``dense_max_deviation``. Every problem raises :class:`QasmError` with line and column.

    Example::

        >>> c = loads('OPENQASM 2.0;\\ninclude "qelib1.inc";\\nqreg q[2];\\nh q;\\ncx q[0],q[1];')
        >>> [op.name for op in c.ops]
        ['h', 'h', 'cx']
    """
    if not isinstance(text, str):
        raise QasmError(f"loads expects the program as a str, got {type(text).__name__}")
    if measurements not in ("drop", "keep", "error"):
        raise QasmError(f"measurements must be 'drop', 'keep' or 'error', got {measurements!r}")
    if len(text) > max_size:
        raise QasmError(f"the program has {len(text)} characters, above the limit max_size={max_size}; raise max_size to read it")
    lenient = ("DenseMatrix" in text) if lenient_semicolons is None else bool(lenient_semicolons)
    limits = _Limits(max_size, max_qubits, max_depth, max_expr_depth, max_ops, dense_tolerance)
    p = _Parser(text, limits, measurements, lenient)
    p.parse()
    if p.n_qubits == 0:
        t = p.toks[-1]
        raise QasmError("the program declares no qubits (expected a 'qreg q[n];' or 'qubit[n] q;' declaration)", line=t.line, column=t.col)
    meta: dict[str, Any] = {"qasm_version": p.version, "qregs": dict(p.qregs), "cregs": dict(p.cregs)}
    if p.n_dense:
        meta["dense_max_deviation"] = p.dense_dev
    if measurements == "keep":
        meta["measurements"] = list(p.measured)
        meta["resets"] = list(p.resets)
    return Circuit(p.n_qubits, p.ops, global_phase=p.phase, metadata=meta)


def load(path: str | os.PathLike, **kwargs: Any) -> Circuit:
    """Read a QASM file with :func:`loads` (the size limit is checked before reading)."""
    max_size = kwargs.get("max_size", MAX_SIZE)
    size = os.path.getsize(path)
    if size > 4 * max_size:  # utf-8 needs at most 4 bytes per character
        raise QasmError(f"{os.fspath(path)} has {size} bytes, above the limit max_size={max_size}")
    with open(path, encoding="utf-8") as f:
        return loads(f.read(), **kwargs)


# ======================================================================================
# writer
# ======================================================================================

# Gate definitions we emit for catalogue gates that the target library lacks. Each body uses
# only gates that Qiskit's strict qasm2 reader knows (v2) or stdgates (v3). Bodies may differ
# from the catalogue gate by a global phase; the writer measures that phase numerically and
# adds it to the `// global_phase:` comment. Parameters are named p0, p1, ... because
# qiskit_qasm3_import binds a definition's parameters in alphabetical order of their names.
_DEFS_COMMON = {
    "rzz": ("p0", "a,b", "cx a,b; rz(p0) b; cx a,b;"),
    "rxx": ("p0", "a,b", "h a; h b; cx a,b; rz(p0) b; cx a,b; h a; h b;"),
    "ryy": ("p0", "a,b", "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b;"),
    "rzx": ("p0", "a,b", "h b; cx a,b; rz(p0) b; cx a,b; h b;"),
    "sxdg": ("", "a", "rx(-pi/2) a;"),
    "iswap": ("", "a,b", "h a; h b; cx a,b; rz(-pi/2) b; cx a,b; h a; h b; rx(pi/2) a; rx(pi/2) b; "
                         "cx a,b; rz(-pi/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b;"),
    "dcx": ("", "a,b", "cx a,b; cx b,a;"),
    "ecr": ("", "a,b", "h b; cx a,b; rz(pi/4) b; cx a,b; h b; x a; h b; cx a,b; rz(-pi/4) b; cx a,b; h b;"),
    "xx_plus_yy": ("p0,p1", "a,b", "rz(p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; "
                   "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(-p1) a;"),
    "xx_minus_yy": ("p0,p1", "a,b", "rz(-p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; "
                    "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(-p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(p1) a;"),
    "ccz": ("", "a,b,c", "h c; ccx a,b,c; h c;"),
}
_DEFS_V2 = dict(_DEFS_COMMON, **{
    "sx": ("", "a", "rx(pi/2) a;"),
    "r": ("p0,p1", "a", "u3(p0,p1-pi/2,pi/2-p1) a;"),
    "swap": ("", "a,b", "cx a,b; cx b,a; cx a,b;"),
    "cswap": ("", "a,b,c", "cx c,b; ccx a,b,c; cx c,b;"),
    "crx": ("p0", "a,b", "cu3(p0,-pi/2,pi/2) a,b;"),
    "cry": ("p0", "a,b", "cu3(p0,0,0) a,b;"),
    "csx": ("", "a,b", "cu3(pi/2,-pi/2,pi/2) a,b; u1(pi/4) a;"),
    "cu": ("p0,p1,p2,p3", "a,b", "u1(p3) a; cu3(p0,p1,p2) a,b;"),
    "cs": ("", "a,b", "cu1(pi/2) a,b;"),
    "csdg": ("", "a,b", "cu1(-pi/2) a,b;"),
})
_DEFS_V3 = dict(_DEFS_COMMON, **{
    "r": ("p0,p1", "a", "U(p0,p1-pi/2,pi/2-p1) a;"),
    "csx": ("", "a,b", "crx(pi/2) a,b; p(pi/4) a;"),
    "cs": ("", "a,b", "cp(pi/2) a,b;"),
    "csdg": ("", "a,b", "cp(-pi/2) a,b;"),
})
# Catalogue gates written under another name that means exactly the same matrix.
_RENAME_V2 = {"u": "u3", "p": "u1", "cp": "cu1"}
_NATIVE_V2 = {"u3", "u2", "u1", "cx", "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz",
              "cz", "cy", "ch", "ccx", "crz", "cu1", "cu3"}
_RENAME_V3 = {"u": "U"}
_NATIVE_V3 = {"U", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy", "cz",
              "cp", "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "id", "u1", "u2"}

_DEF_GATES_CACHE: dict[int, dict[str, _GateDef]] = {}


def _def_text(name: str, version: int) -> str:
    params, args, body = (_DEFS_V2 if version == 2 else _DEFS_V3)[name]
    head = f"gate {name}" + (f"({params})" if params else "") + f" {args}"
    if version == 3:
        head = head.replace(",", ", ")
        body = body.replace(",", ", ")
    return head + " { " + body + " }"


def _def_gates(version: int) -> dict[str, _GateDef]:
    """Our own definitions parsed by our own reader: the writer's phase bookkeeping then
    agrees with what :func:`loads` will compute, by construction."""
    if version not in _DEF_GATES_CACHE:
        defs = _DEFS_V2 if version == 2 else _DEFS_V3
        inc = '"qelib1.inc"' if version == 2 else '"stdgates.inc"'
        text = f"OPENQASM {version}.0;\ninclude {inc};\n" + "\n".join(_def_text(n, version) for n in defs)
        p = _Parser(text, _Limits(), "drop", False)
        p.parse()
        _DEF_GATES_CACHE[version] = p.user_gates
    return _DEF_GATES_CACHE[version]


def _phase_gap(target: Tensor, ops: list[Op], wires: tuple[int, ...], what: str) -> float:
    """The phase ``g`` with ``target = e^{i g} * (product of ops)``, on ``wires`` (small)."""
    from .statevector import unitary_matrix

    local = {w: k for k, w in enumerate(wires)}
    got = unitary_matrix(Circuit(len(wires), [o.with_wires(local) for o in ops]))
    overlap = torch.trace(got.conj().T @ target.to(torch.complex128)) / target.shape[-1]
    if abs(abs(overlap.item()) - 1) > 1e-9:  # pragma: no cover - a bug in a definition table
        raise QasmError(f"internal error: the QASM form of {what} is not the same gate (overlap {abs(overlap.item()):.3g})")
    return math.atan2(overlap.imag.item(), overlap.real.item())


def _float(p: Any) -> float:
    return float(p.item()) if isinstance(p, Tensor) else float(p)


class _Writer:
    def __init__(self, version: int, dense: str, precision: int):
        self.version = version
        self.dense = dense
        self.precision = precision
        self.lines: list[str] = []
        self.defs: list[str] = []  # in first-use order
        self.phase = 0.0

    def num(self, x: float) -> str:
        if not math.isfinite(x):
            raise QasmError(f"cannot write the non-finite number {x}")
        if x == 0:
            return "0"
        if self.precision >= 17:
            return repr(x)
        return f"{x:.{self.precision}g}"

    def qargs(self, wires: tuple[int, ...]) -> str:
        sep = "," if self.version == 2 else ", "
        return sep.join(f"q[{w}]" for w in wires)

    def line(self, name: str, params: list[float], wires: tuple[int, ...]) -> None:
        sep = "," if self.version == 2 else ", "
        ptxt = "(" + sep.join(self.num(p) for p in params) + ")" if params else ""
        self.lines.append(f"{name}{ptxt} {self.qargs(wires)};")

    def plain(self, op: Op) -> None:
        """Write one op without mux/controls."""
        if op.name == "unitary":
            return self.unitary(op)
        params = [_float(p) for p in op.params]
        if self.version == 2:
            name = _RENAME_V2.get(op.name, op.name)
            native = _NATIVE_V2
        else:
            name = _RENAME_V3.get(op.name, op.name)
            native = _NATIVE_V3
            if name in ("cu3", "cu1"):  # stdgates has cu/cp: same matrices with gamma = 0
                name, params = ("cu", params + [0.0]) if name == "cu3" else ("cp", params)
        if name in native:
            return self.line(name, params, op.wires)
        defs = _def_gates(self.version)
        g = defs.get(op.name)
        if g is None:  # pragma: no cover - every catalogue gate is covered by the tables
            raise QasmError(f"cannot write gate '{op.name}' as OpenQASM {self.version}")
        text = _def_text(op.name, self.version)
        if text not in self.defs:
            self.defs.append(text)
        expanded: list[Op] = []
        body_phase = _expand(g, params, list(op.wires), expanded)
        target = gate_matrix(op.name, params)
        self.phase += _phase_gap(target, expanded, op.wires, f"gate '{op.name}'") - body_phase
        self.line(op.name, params, op.wires)

    def unitary(self, op: Op) -> None:
        k = len(op.wires)
        m = op.matrix
        assert m is not None
        if k > 2:
            raise QasmError(
                f"cannot write a dense 'unitary' on {k} wires {op.wires}: only 1- and 2-qubit blocks are "
                "supported; decompose it first into 1- and 2-qubit blocks")
        if self.dense == "dense":
            nums = []
            for z in m.reshape(-1).tolist():
                nums += [self.num(z.real), self.num(z.imag)]
            self.lines.append(f"DenseMatrix({k},0,{','.join(nums)}) {self.qargs(op.wires)};")
            return
        u = _nearest_unitary(m.detach().cpu().to(torch.complex128).numpy(), op.wires)
        ops = _synthesise(u, op.wires)
        self.phase += _phase_gap(torch.from_numpy(u), ops, op.wires, "a dense block")
        for o in ops:
            self.plain(o)


def _nearest_unitary(u: np.ndarray, wires: tuple[int, ...]) -> np.ndarray:
    """``u`` projected onto the nearest unitary (its polar factor) when it is nearly unitary.

    Matrices from single-precision training are unitary only to ~1e-7, which Qiskit's KAK
    decomposition rejects; a matrix far from unitary is an error, not something to round.
    """
    u = np.asarray(u, dtype=np.complex128)
    deviation = float(np.abs(u.conj().T @ u - np.eye(u.shape[0])).max())
    if deviation > 1e-4:
        raise QasmError(f"a dense block on wires {wires} is not unitary (max |U^H U - I| = {deviation:.1e})")
    if deviation > 1e-13:
        w, _, vh = np.linalg.svd(u)
        u = w @ vh
    return u


def _synthesise(u: np.ndarray, wires: tuple[int, ...]) -> list[Op]:
    """u/cx ops for a 1- or 2-qubit unitary (Qiskit's KAK and Euler decompositions)."""
    from .errors import require

    synthesis = require("qiskit.synthesis", "qiskit", "writing dense blocks as u/cx gates (dense='decompose')")
    if len(wires) == 1:
        qc = synthesis.OneQubitEulerDecomposer("U3")(u)
    else:
        from qiskit.circuit.library import CXGate

        qc = synthesis.TwoQubitBasisDecomposer(CXGate(), euler_basis="U3")(u)
    ops = []
    for inst in qc.data:
        qs = tuple(wires[qc.find_bit(q).index] for q in inst.qubits)
        name = inst.operation.name
        params = tuple(float(p) for p in inst.operation.params)
        if name in ("u3", "u", "U"):
            ops.append(Op("u", qs, params))
        else:
            ops.append(Op(name, qs, params))
    return ops


def decompose_multiplexed(op: Op) -> list[Op]:
    """Plain catalogue ops equal to ``op`` (see :func:`circuits.decompose.decompose`)."""
    from .decompose import decompose

    return decompose(op)


def dumps(circuit: Circuit, *, version: int = 2, dense: str = "dense", precision: int = 17) -> str:
    """Write ``circuit`` as OpenQASM ``version`` (2 or 3).

    * ``dense="dense"`` writes 1- and 2-qubit ``unitary`` ops as MNISQ ``DenseMatrix`` lines (only
      this package and qulacs read them); ``dense="decompose"`` writes them as ``u3``/``cx`` (KAK),
      which every reader accepts (needs qiskit).
    * multiplexed and controlled ops are decomposed (:mod:`circuits.decompose`);
    * gates outside qelib1/stdgates get ``gate`` definitions; all numbers are written with
      ``repr`` (``precision=17``) or ``precision`` significant digits;
    * the exact global phase goes into a final ``// global_phase: <float>`` comment.

    Qiskit's strict ``qasm2.loads`` reads every v2 file written with ``dense="decompose"``.

    Example::

        >>> from qcstar.circuits import Circuit
        >>> print(dumps(Circuit(1).h(0)), end="")
        OPENQASM 2.0;
        include "qelib1.inc";
        qreg q[1];
        h q[0];
    """
    from .decompose import decompose_with_phase

    if version not in (2, 3):
        raise QasmError(f"version must be 2 or 3, got {version!r}")
    if dense not in ("dense", "decompose"):
        raise QasmError(f"dense must be 'dense' or 'decompose', got {dense!r}")
    if not isinstance(circuit, Circuit):
        raise QasmError(f"dumps expects a circuits.Circuit, got {type(circuit).__name__}")
    if circuit.batch_size is not None:
        raise QasmError(
            f"the circuit is batched (batch size {circuit.batch_size}); QASM holds one circuit: "
            "pick one sample first (index the batched parameters)")
    if not 1 <= int(precision) <= 17:
        raise QasmError(f"precision must be between 1 and 17 significant digits, got {precision}")
    w = _Writer(version, dense, int(precision))
    w.phase = _float(circuit.global_phase)
    for op in circuit.ops:
        try:
            plain, ph = decompose_with_phase(op)
        except GateError as exc:
            raise QasmError(str(exc)) from None
        w.phase += _float(ph)
        for o in plain:
            w.plain(o)
    if version == 2:
        head = ["OPENQASM 2.0;", 'include "qelib1.inc";']
        decl = f"qreg q[{circuit.n_qubits}];"
    else:
        head = ["OPENQASM 3.0;", 'include "stdgates.inc";']
        decl = f"qubit[{circuit.n_qubits}] q;"
    out = head + w.defs + [decl] + w.lines
    phase = math.remainder(w.phase, 2 * math.pi)
    if abs(phase) > 1e-15:
        out.append(f"// global_phase: {phase!r}")
    return "\n".join(out) + "\n"


def dump(circuit: Circuit, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write :func:`dumps` output to ``path`` atomically (:func:`circuits.files.write_atomic`)."""
    write_atomic(path, dumps(circuit, **kwargs))