"""The OpenQASM 2/3 and MNISQ Dense reader: a recursive-descent parser over the lazy lexer.

Linear in the input: tokens are scanned on demand, simple gate calls (``rz(0.1) q[3];``,
``DenseMatrix(2,0,...) q[0],q[1];``) are read by one compiled regex each, and everything else
goes through the general parser, which is the reference (the fast path falls back to it on
anything unusual, so both give the same result and the same error). Limits bound the work on
hostile input; the op count of a ``gate`` definition is known when it is defined, so
``max_ops`` refuses an exponential expansion before any op is built.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, QasmError
from ..ir import Circuit, Op
from ..linalg import nearest_unitary
from ..resources import check_memory
from .expressions import (
    BIN, CONSTS_V2, CONSTS_V3, FUNC, FUNCS_V2, FUNCS_V3, NEG, NUM, PRECEDENCE, RESERVED_V2, VAR,
    Expr, check_constants, evaluate, evaluate_int,
)
from .lexer import _SPACE, Source, Token, show
from .library import GateDef, catalogue_gate, expand, library, protected_names

#: Default limits (all overridable per call).
MAX_SIZE = 50_000_000  # characters of input
MAX_QUBITS = 100_000  # parsing only: simulating is guarded by circuits.resources
MAX_DEPTH = 32  # nesting of gate definitions
MAX_EXPR_DEPTH = 64  # nesting of parentheses and function calls in one expression
MAX_OPS = 1_000_000  # ops after expanding definitions and broadcasting
MAX_BITS = 1 << 20  # classical bits (they allocate nothing, but a bound keeps metadata sane)
DENSE_TOLERANCE = 1e-3  # largest entry change allowed when re-unitarising a DenseMatrix
# Rough bytes per expanded Op (the object, its tuples, the list slot): the memory guard's estimate.
_OP_BYTES = 400


class QasmConfigError(ConfigError, QasmError):
    """A wrong option of :func:`loads` / :func:`dumps` (a :class:`ConfigError`, and a
    :class:`QasmError` as it always was)."""


@dataclass
class Limits:
    max_size: int = MAX_SIZE
    max_qubits: int = MAX_QUBITS
    max_depth: int = MAX_DEPTH
    max_expr_depth: int = MAX_EXPR_DEPTH
    max_ops: int = MAX_OPS
    dense_tolerance: float = DENSE_TOLERANCE


_V3_UNSUPPORTED = {
    "ctrl", "negctrl", "inv", "pow", "def", "for", "while", "input", "output", "const", "float", "int",
    "uint", "angle", "bool", "let", "box", "delay", "defcal", "cal", "defcalgrammar", "return", "break",
    "continue", "switch", "extern", "duration", "stretch", "complex", "array", "else", "end",
}
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # 2.0, 2, 02.0 as Qiskit reads them
_MAX_CONSTANTS = 100_000
# statement words the general parser dispatches on (a gate of that name is never called)
_KEYWORDS = frozenset({"OPENQASM", "include", "qreg", "creg", "qubit", "bit", "gate", "opaque", "if", "barrier",
                       "measure", "reset", "DenseMatrix", "gphase"})
_BODY_FORBIDDEN = {"gate", "qreg", "creg", "qubit", "bit", "measure", "reset", "include", "opaque", "if", "OPENQASM"}

# The fast path: a gate call whose parameters are plain numbers and whose arguments are indexed
# qubits. Anything else (expressions, comments inside the statement, broadcasts) falls back.
_QARG = r"[A-Za-z_][A-Za-z0-9_]*[ \t]*\[[ \t]*[0-9]+[ \t]*\]"
# (the name ends at a parenthesis or a blank: 'tr1[0]' is no call of t on r1[0])
_CALL_HEAD = rf"([A-Za-z_][A-Za-z0-9_]*)(?:[ \t]*\(([^()]*)\)[ \t]*|[ \t]+)({_QARG}(?:[ \t]*,[ \t]*{_QARG})*)[ \t]*"
_FAST_CALL = re.compile(_CALL_HEAD + ";")
_FAST_CALL_LENIENT = re.compile(_CALL_HEAD + r"(?:;|(?=\r?\n)|\Z)")
_FAST_QARG = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*\[[ \t]*([0-9]+)[ \t]*\]")
_FAST_NUMBER = re.compile(r"[ \t]*(-?)[ \t]*((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*")


class Parser:
    def __init__(self, text: str, limits: Limits, measurements: str, lenient: bool,
                 prelude: dict[str, GateDef] | None = None, fast: bool = True):
        self.src = Source(text)
        self.text = text
        self.limits = limits
        self.measurements = measurements
        self.lenient = lenient
        self.fast = fast
        self.version = 2
        self.funcs, self.consts = FUNCS_V2, CONSTS_V2
        self.gates: dict[str, GateDef] = dict(prelude or {})
        self.user_gates: dict[str, GateDef] = {}
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
        self.only_headers = True
        # values of constant parameter expressions by their text ("pi/2"): the fast path reuses them
        self.constants: dict[str, float] = {}  # nothing but 'OPENQASM' headers read so far
        self.prev_end = 0
        self.tok: Token = self.src.scan(0)

    # -- token helpers ---------------------------------------------------------------
    def next(self) -> Token:
        t = self.tok
        if t[0] != "eof":
            self.prev_end = t[3]
            self.tok = self.src.scan(t[3])
        return t

    def at(self, text: str) -> bool:
        """Is the current token the operator or keyword ``text``? (Texts of different kinds
        never coincide: a string keeps its quotes, a number has no letters or operators.)"""
        return self.tok[1] == text

    def error(self, msg: str, tok: Token) -> QasmError:
        return self.src.error(msg, tok[2])

    def expect(self, text: str, what: str) -> Token:
        t = self.tok
        if t[1] != text or t[0] not in ("op", "id"):
            raise self.error(f"expected '{text}' {what}, got {show(t)}", t)
        return self.next()

    def expect_id(self, what: str) -> Token:
        t = self.tok
        if t[0] != "id":
            raise self.error(f"expected {what}, got {show(t)}", t)
        return self.next()

    def expect_name(self, what: str) -> Token:
        """An identifier the program declares: OpenQASM 2 names start with a lowercase letter."""
        t = self.expect_id(what)
        if self.version == 2 and not ("a" <= t[1][0] <= "z"):
            raise self.error(
                f"{what} '{t[1]}' must start with a lowercase letter in OpenQASM 2 (only the built-ins U and CX "
                "are capitalised); rename it", t)
        return t

    def expect_int(self, what: str) -> tuple[int, Token]:
        """A non-negative integer: a literal (v2), or an integer expression (v3)."""
        t = self.tok
        if self.version == 3 and not (t[0] == "num" and t[1].isdigit() and self.text.startswith("]", t[3])):
            value = evaluate_int(self.expr({}, integer=True))
            if value < 0:
                raise self.error(f"expected {what} (a non-negative integer), got {value}", t)
            return value, t
        if t[0] != "num" or not t[1].isdigit():
            raise self.error(f"expected {what} (a non-negative integer), got {show(t)}", t)
        self.next()
        if len(t[1]) > 12:
            raise self.error(f"{what} {t[1]} is too large", t)
        return int(t[1]), t

    def end_statement(self, what: str) -> None:
        t = self.tok
        if t[1] == ";" and t[0] == "op":
            self.next()
            return
        if self.lenient and (t[0] == "eof" or self.src.newline_between(self.prev_end, t[2])):
            return  # MNISQ Dense files: the end of the line ends the statement
        raise self.src.error(f"expected ';' after {what}, got {show(t)}", self.prev_end)

    # -- program ---------------------------------------------------------------------
    def parse(self) -> None:
        self.header()
        while self.tok[0] != "eof":
            self.statement()
        for value, start in self.src.phase_comments:
            try:
                ph = float(value)
            except ValueError:
                continue  # an ordinary comment that happens to start like ours
            if not math.isfinite(ph):
                raise self.src.error(f"global_phase comment holds {ph}; expected a finite number", start)
            self.phase += ph

    def header(self) -> None:
        t = self.tok
        if not (t[0] == "id" and t[1] == "OPENQASM"):
            raise self.error(f"expected the header 'OPENQASM 2.0;' or 'OPENQASM 3.0;' as the first statement, got {show(t)}", t)
        self.next()
        v = self.tok
        if v[0] != "num" or not _VERSION.fullmatch(v[1]) or float(v[1]) not in (2.0, 3.0):
            raise self.error(f"expected OpenQASM version 2.0 or 3.0 after 'OPENQASM', got {show(v)}", v)
        self.version = int(float(v[1]))
        self.src.version = self.version  # before the next token is scanned: the lexer's rules follow it
        if self.version == 3:
            self.funcs, self.consts = FUNCS_V3, CONSTS_V3
        self.next()
        if self.version == 3 and not self.prelude:
            self.gates["U"] = catalogue_gate("U", "u")
        if self.version == 2:
            self.gates["U"] = catalogue_gate("U", "u")
            self.gates["CX"] = catalogue_gate("CX", "cx")
        self.end_statement("the OPENQASM header")

    def statement(self) -> None:
        t = self.tok
        if t[1] == ";" and t[0] == "op":  # an empty statement
            self.only_headers = False
            self.next()
            return
        if t[0] != "id":
            raise self.error(f"expected a statement (a declaration, gate call or measurement), got {show(t)}", t)
        word = t[1]
        if word == "OPENQASM":
            return self.repeated_header(t)
        self.only_headers = False
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
            if not self.at(";"):
                self.arg_list(allow_bits=False)
            return self.end_statement("barrier")
        if word == "measure":
            self.next()
            return self.measure(None, t)
        if word == "reset":
            self.next()
            qubits = self.arg(allow_bits=False)[0]
            self.end_statement("reset")
            self.handle_reset(qubits, t)
            return
        if word == "DenseMatrix":
            return self.dense()
        if word == "gphase":
            self.no_gphase_in_v2(t)
            self.next()
            self.expect("(", "after 'gphase'")
            e = self.expr({})
            self.expect(")", "to close 'gphase('")
            self.end_statement("gphase(...)")
            self.phase += evaluate(e, {})
            return
        if word in self.cregs and self.version == 3:
            return self.measure_assign()
        if word in _V3_UNSUPPORTED and word not in self.gates:
            raise self.error(f"the OpenQASM 3 construct '{word}' is not supported; this reader handles gates, registers, gate definitions, barrier, reset and measure", t)
        return self.gate_call()

    def repeated_header(self, t: Token) -> None:
        # Qiskit's qasm2 reader accepts the same 'OPENQASM 2.0;' repeated before any other statement
        if self.version == 2 and self.only_headers:
            self.next()
            v = self.tok
            if v[0] == "num" and _VERSION.fullmatch(v[1]) and float(v[1]) == 2.0:
                self.next()
                return self.end_statement("the OPENQASM header")
            raise self.error(f"the repeated header must name the same version 2.0, got {show(v)}", v)
        raise self.error("the 'OPENQASM' header may appear only once, as the first statement", t)

    def no_gphase_in_v2(self, t: Token) -> None:
        if self.version == 2:
            raise self.error("'gphase' is OpenQASM 3; OpenQASM 2 has no global phase (declare 'OPENQASM 3.0;' to use it)", t)

    def include(self) -> None:
        self.next()
        s = self.tok
        if s[0] != "str":
            raise self.error(f"expected a file name in double quotes after 'include', got {show(s)}", s)
        self.next()
        name = s[1][1:-1]
        want = "qelib1.inc" if self.version == 2 else "stdgates.inc"
        if name != want:
            raise self.error(
                f"cannot include {s[1]}: an OpenQASM {self.version} program may include only \"{want}\" "
                "(this reader never reads other files)", s)
        if self.included:
            raise self.error(f"\"{want}\" is included twice", s)
        clash = sorted(protected_names(self.version) & set(self.user_gates))
        if clash:
            raise self.error(f"\"{want}\" defines '{clash[0]}', which the program already defined; "
                             "rename the program's gate", s)
        self.included = True
        for gname, g in library(self.version).items():
            self.gates.setdefault(gname, g)
        self.end_statement("include")

    def declare(self, name_tok: Token, size: int, size_tok: Token, quantum: bool) -> None:
        name = name_tok[1]
        if name in self.qregs or name in self.cregs:
            raise self.error(f"register '{name}' is already declared", name_tok)
        if name in self.user_gates or (self.included and name in protected_names(self.version)):
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
        name = self.expect_name(f"a register name after '{kw[1]}'")
        self.expect("[", f"after the register name '{name[1]}'")
        size, st = self.expect_int("the register size")
        self.expect("]", "after the register size")
        self.end_statement(f"the declaration of '{name[1]}'")
        self.declare(name, size, st, quantum)

    def reg_v3(self, quantum: bool) -> None:
        kw = self.next()
        size, st = 1, kw
        if self.at("["):
            self.next()
            size, st = self.expect_int("the register size")
            self.expect("]", "after the register size")
        name = self.expect_name(f"a register name after '{kw[1]}'")
        if self.at("="):
            raise self.error("initialised declarations are not supported", self.tok)
        self.end_statement(f"the declaration of '{name[1]}'")
        self.declare(name, size, st, quantum)

    # -- arguments -------------------------------------------------------------------
    def arg(self, allow_bits: bool) -> tuple[list[int], Token, bool, bool]:
        """One argument ``r`` or ``r[i]``: (indices, token, is_bit, is_whole_register)."""
        t = self.expect_id("a register name or an indexed qubit like q[0]")
        name = t[1]
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
        if self.at("["):
            self.next()
            it = self.tok
            if self.version == 3:  # an integer expression; negative indices count from the end
                idx = evaluate_int(self.expr({}, integer=True))
                if -size <= idx < 0:
                    idx += size
            else:
                idx, it = self.expect_int(f"an index into '{name}'")
            self.expect("]", f"after the index into '{name}'")
            if not 0 <= idx < size:
                raise self.error(f"index {idx} is out of range for register '{name}' of size {size} (valid: 0..{size - 1})", it)
            return [off + idx], t, bit, False
        return list(range(off, off + size)), t, bit, True

    def another(self, closer: str) -> bool:
        """After a list item: is another one coming? A trailing comma before ``closer`` is
        allowed, as Qiskit's qasm2 reader allows it."""
        if not self.at(","):
            return False
        self.next()
        return not self.at(closer)

    def arg_list(self, allow_bits: bool) -> list[tuple[list[int], Token, bool, bool]]:
        args = [self.arg(allow_bits)]
        while self.another(";"):
            args.append(self.arg(allow_bits))
        return args

    # -- expressions -----------------------------------------------------------------
    def expr(self, env: dict[str, Any], depth: int = 0, integer: bool = False) -> Expr:
        """One expression as postfix code (see :mod:`.expressions`)."""
        start = self.tok[2]
        code: list[tuple] = []
        self.expr_into(code, env, depth, integer)
        return Expr(tuple(code), start, self.src, self.prev_end)

    def expr_into(self, code: list[tuple], env: dict[str, Any], depth: int, integer: bool) -> None:
        if depth > self.limits.max_expr_depth:
            raise self.error(f"expression nested deeper than max_expr_depth={self.limits.max_expr_depth}", self.tok)
        pending: list[str] = []  # operator stack
        v3 = self.version == 3
        while True:
            while self.tok[0] == "op" and self.tok[1] in ("-", "+"):  # prefix signs: a loop, not recursion
                if self.next()[1] == "-":
                    pending.append("neg")
            self.operand(code, env, depth, integer)
            t = self.tok
            if t[0] != "op" or t[1] not in ("+", "-", "*", "/", "^", "**"):
                break
            if t[1] == "**" and not v3:
                raise self.error("'**' is not OpenQASM 2; write the power as '^'", t)
            if t[1] == "^" and v3:
                raise self.error("'^' is a bitwise XOR in OpenQASM 3; write the power as '**'", t)
            op = "^" if t[1] == "**" else t[1]
            prec = PRECEDENCE[op]
            while pending and (PRECEDENCE[pending[-1]] > prec or (PRECEDENCE[pending[-1]] == prec and op != "^")):
                top = pending.pop()
                code.append((NEG, None) if top == "neg" else (BIN, top))
            pending.append(op)
            self.next()
        while pending:
            top = pending.pop()
            code.append((NEG, None) if top == "neg" else (BIN, top))

    def operand(self, code: list[tuple], env: dict[str, Any], depth: int, integer: bool) -> None:
        t = self.next()
        kind, text = t[0], t[1]
        if kind == "num":
            if integer:
                if not text.isdigit():
                    raise self.error(f"expected an integer in an index or size, got {text!r}", t)
                code.append((NUM, int(text)))
            else:
                code.append((NUM, float(text)))  # may overflow to inf: evaluate() refuses non-finite results
            return
        if kind == "op" and text == "(":
            self.expr_into(code, env, depth + 1, integer)
            self.expect(")", "to close '('")
            return
        if kind == "id" and not integer:
            if text in env:
                code.append((VAR, text))
                return
            if text in self.consts:
                code.append((NUM, self.consts[text]))
                return
            if text in self.funcs:
                self.expect("(", f"after the function '{text}'")
                self.expr_into(code, env, depth + 1, integer)
                self.expect(")", f"to close '{text}('")
                code.append((FUNC, self.funcs[text]))
                return
            raise self.error(f"unknown identifier '{text}' in an expression; expected a number, "
                             f"{' or '.join(sorted(self.consts)[:3])}, a gate parameter or one of {sorted(self.funcs)}", t)
        if kind == "id":
            raise self.error(f"expected an integer expression (numbers, + - * /, parentheses), got {text!r}", t)
        raise self.error(f"expected a number, a name or '(' in an expression, got {show(t)}", t)

    def param_list(self, env: dict[str, Any]) -> list[Expr]:
        params: list[Expr] = []
        if not self.at("("):
            return params
        self.next()
        if self.at(")"):
            self.next()
            return params
        params.append(self.expr(env))
        while self.another(")"):
            params.append(self.expr(env))
        self.expect(")", "to close the parameter list")
        return params

    # -- gates -----------------------------------------------------------------------
    def lookup(self, t: Token) -> GateDef:
        g = self.gates.get(t[1])
        if g is None:
            hint = ""
            if not self.included and t[1] in library(self.version):
                inc = "qelib1.inc" if self.version == 2 else "stdgates.inc"
                hint = f"; did you forget 'include \"{inc}\";'?"
            elif t[1] in self.qregs or t[1] in self.cregs:
                hint = f"; '{t[1]}' is a register"
            raise self.error(f"unknown gate '{t[1]}'{hint}", t)
        return g

    def check_call(self, g: GateDef, t: Token, n_params: int, n_args: int) -> None:
        if n_params != g.n_params:
            raise self.error(f"gate '{t[1]}' takes {g.n_params} parameter(s), got {n_params}", t)
        if n_args != g.n_qubits:
            raise self.error(f"gate '{t[1]}' acts on {g.n_qubits} qubit(s), got {n_args} argument(s)", t)

    def check_budget(self, extra: int, t: Token, what: str = "the program") -> None:
        """Refuse, before expanding anything, a statement that would pass ``max_ops``."""
        total = len(self.ops) + extra
        if total > self.limits.max_ops:
            raise self.error(f"{what} expands to {total} operations, more than max_ops={self.limits.max_ops}; "
                             "raise max_ops to read it", t)
        if extra > 10_000:
            check_memory(total * _OP_BYTES, f"expanding the OpenQASM program to {total} operations")

    def fast_calls(self) -> bool:
        """Read a run of simple gate calls, one regex match each, without tokens; False when
        the current statement is not one (nothing consumed). A run ends at anything else,
        comments included, which the lexer then reads as usual."""
        text = self.text
        match = (_FAST_CALL_LENIENT if self.lenient else _FAST_CALL).match
        skip = _SPACE.match
        pos, end = self.tok[2], -1
        while True:
            m = match(text, pos)
            if m is None or not self.fast_apply(m):
                break
            end = m.end()
            pos = skip(text, end).end()
        if end < 0:
            return False
        self.prev_end = end
        self.tok = self.src.scan(end)
        return True

    def fast_apply(self, m: re.Match) -> bool:
        """Apply one matched simple call; False (and nothing changed) when the general parser
        must read it (an error to report, an expression, a keyword, a large definition...)."""
        name, ptext, atext = m.groups()
        values: list[float] = []
        if ptext is not None and ptext.strip():
            for p in ptext.split(","):
                pm = _FAST_NUMBER.fullmatch(p)
                if pm is None:  # an expression the general parser has evaluated before?
                    v = self.constants.get(p.strip())
                    if v is None:
                        return False
                    values.append(v)
                    continue
                digits = pm.group(2)
                if self.version == 2 and len(digits) > 1 and digits[0] == "0" and digits.isdigit():
                    return False
                v = float(digits)
                if not math.isfinite(v):
                    return False
                values.append(-v if pm.group(1) else v)
        qubits: list[int] = []
        qregs = self.qregs
        for reg, idx in _FAST_QARG.findall(atext):
            r = qregs.get(reg)
            if r is None or (len(idx) > 1 and idx[0] == "0") or int(idx) >= r[1]:
                return False
            qubits.append(r[0] + int(idx))
        if len(set(qubits)) != len(qubits):
            return False
        if name == "DenseMatrix":
            if len(values) < 2 or values[0] not in (1.0, 2.0) or values[1] != 0.0:
                return False
            k = int(values[0])
            if len(values) - 2 != 2 * 4**k or len(qubits) != k:
                return False
            self.apply_dense(values, qubits, ("id", name, m.start(), m.start() + len(name)))
            return True
        g = self.gates.get(name)
        if (g is None or name in _KEYWORDS or g.size > 10_000 or len(values) != g.n_params
                or len(qubits) != g.n_qubits or len(self.ops) + g.size > self.limits.max_ops):
            return False
        if g.catalogue is not None:
            c = g.controls
            self.ops.append(Op(g.catalogue, tuple(qubits[c:]), tuple(values), controls=tuple(qubits[:c])))
        else:
            self.phase += expand(g, values, qubits, self.ops)
        return True

    def gate_call(self) -> None:
        if self.fast and self.fast_calls():
            return
        t = self.next()
        g = self.lookup(t)
        if self.at("@"):
            raise self.error("gate modifiers ('@') are not supported", self.tok)
        params = self.param_list({})
        args = self.arg_list(allow_bits=False)
        self.end_statement(f"the call of '{t[1]}'")
        self.check_call(g, t, len(params), len(args))
        values = [evaluate(e, {}) for e in params]
        if len(self.constants) < _MAX_CONSTANTS:
            for e, v in zip(params, values):
                key = self.text[e.offset:e.end]
                if "/*" not in key and "//" not in key:  # the fast path never sees comments
                    self.constants[key] = v
        # broadcasting: whole registers of one size; indexed qubits repeat. A size-1 register is
        # a register like any other (as in Qiskit): it does not broadcast against a larger one.
        sizes = {len(a[0]) for a in args if a[3]}
        reps = 1
        if sizes:
            if len(sizes) > 1:
                raise self.error(
                    f"registers of different sizes {sorted(sizes)} in one call of '{t[1]}'; a register broadcasts "
                    "only against registers of its size (index one qubit, e.g. r[0], to repeat it)", t)
            reps = sizes.pop()
        self.check_budget(reps * g.size, t)
        for r in range(reps):
            qubits = [a[0][r] if a[3] else a[0][0] for a in args]
            if len(set(qubits)) != len(qubits):
                raise self.error(f"gate '{t[1]}' is applied to the same qubit twice ({qubits})", t)
            self.phase += expand(g, values, qubits, self.ops)

    def gate_def(self) -> None:
        self.next()
        nt = self.expect_name("a gate name after 'gate'")
        name = nt[1]
        if name in self.user_gates:
            raise self.error(f"gate '{name}' is already defined", nt)
        if name in ("U", "CX", "gphase") or name in self.qregs or name in self.cregs:
            raise self.error(f"cannot define a gate named '{name}': the name is taken", nt)
        if self.included and name in protected_names(self.version):
            inc = "qelib1.inc" if self.version == 2 else "stdgates.inc"
            raise self.error(f"gate '{name}' is already defined by \"{inc}\"; give the new gate another name", nt)
        params: list[str] = []
        if self.at("("):
            self.next()
            if not self.at(")"):
                params.append(self.param_name())
                while self.another(")"):
                    params.append(self.param_name())
            self.expect(")", "to close the gate's parameter list")
        if len(set(params)) != len(params):
            raise self.error(f"gate '{name}' repeats a parameter name", nt)
        qargs = [self.qarg_name(name, params)]
        while self.another("{"):
            qargs.append(self.qarg_name(name, params))
        if len(set(qargs)) != len(qargs):
            raise self.error(f"gate '{name}' repeats a qubit argument name", nt)
        open_tok = self.expect("{", f"to open the body of gate '{name}'")
        env = {p: None for p in params}
        index = {q: k for k, q in enumerate(qargs)}
        body: list[tuple] = []
        depth, size = 0, 0
        while True:
            t = self.tok
            if t[1] == "}" and t[0] == "op":
                self.next()
                break
            if t[0] == "eof":
                raise self.error(f"the body of gate '{name}' opened here is never closed: expected '}}' before the end of the input", open_tok)
            if t[0] != "id":
                raise self.error(f"expected a gate call or '}}' in the body of gate '{name}', got {show(t)}", t)
            if t[1] == "barrier":
                self.next()
                self.body_args(index, name)
                self.end_statement("barrier")
                continue
            if t[1] == "gphase":
                self.no_gphase_in_v2(t)
                self.next()
                self.expect("(", "after 'gphase'")
                e = self.expr(env)
                check_constants(e)
                self.expect(")", "to close 'gphase('")
                self.end_statement("gphase(...)")
                body.append(("p", e))
                continue
            if t[1] == name:
                raise self.error(f"gate '{name}' uses itself in its own body; recursive definitions are not allowed", t)
            if t[1] in _BODY_FORBIDDEN:
                raise self.error(f"'{t[1]}' is not allowed in the body of gate '{name}' (expected a gate call or '}}')", t)
            self.next()
            sub = self.lookup(t)
            exprs = self.param_list(env)
            for e in exprs:
                check_constants(e)
            argidx = self.body_args(index, name)
            self.end_statement(f"the call of '{t[1]}'")
            self.check_call(sub, t, len(exprs), len(argidx))
            if len(set(argidx)) != len(argidx):
                raise self.error(f"gate '{t[1]}' is applied to the same qubit twice in the body of '{name}'", t)
            body.append(("g", sub, exprs, argidx))
            depth = max(depth, sub.depth)
            size += sub.size  # the expanded size, known now: each call checks it before expanding
        if depth + 1 > self.limits.max_depth:
            raise self.error(f"gate '{name}' nests definitions {depth + 1} deep, above max_depth={self.limits.max_depth}", nt)
        g = GateDef(name, len(params), len(qargs), params=params, body=body, depth=depth + 1, size=size)
        self.gates[name] = g
        self.user_gates[name] = g

    def param_name(self) -> str:
        t = self.expect_name("a parameter name")
        if self.version == 2 and t[1] in RESERVED_V2:
            raise self.error(f"a gate parameter cannot be named '{t[1]}': OpenQASM 2 reserves it for a built-in "
                             "function or constant; rename the parameter", t)
        return t[1]

    def qarg_name(self, gate: str, params: list[str]) -> str:
        t = self.expect_name(f"a qubit argument name for gate '{gate}'")
        if t[1] in params:
            raise self.error(f"'{t[1]}' is already a parameter of gate '{gate}'; qubit arguments need other names", t)
        if self.version == 2 and t[1] in RESERVED_V2:
            raise self.error(f"a qubit argument cannot be named '{t[1]}': OpenQASM 2 reserves it for a built-in "
                             "function or constant", t)
        return t[1]

    def body_args(self, index: dict[str, int], name: str) -> list[int]:
        out: list[int] = []
        while True:
            t = self.expect_id(f"a qubit argument of gate '{name}'")
            if t[1] not in index:
                raise self.error(f"'{t[1]}' is not a qubit argument of gate '{name}' (its arguments: {', '.join(index)})", t)
            if self.at("["):
                raise self.error(f"qubit arguments inside a gate body cannot be indexed ('{t[1]}[')", self.tok)
            out.append(index[t[1]])
            if not self.another(";"):
                return out

    # -- measurement, reset ------------------------------------------------------------
    def measure(self, target: tuple | None, start: Token) -> None:
        src = self.arg(allow_bits=False)
        if target is None:
            if self.at("->"):
                self.next()
                target = self.arg(allow_bits=True)
            elif self.version == 2:
                raise self.error(f"expected '->' after 'measure {src[1][1]}...', got {show(self.tok)}", self.tok)
        self.end_statement("measure")
        if target is not None and not target[2]:
            raise self.error(f"'{target[1][1]}' is a qubit register; expected a classical register", target[1])
        clbits = target[0] if target is not None else [-1] * len(src[0])
        if len(clbits) != len(src[0]):
            raise self.error(f"measure needs equally sized arguments, got {len(src[0])} qubit(s) and {len(clbits)} bit(s)", start)
        if target is not None and src[3] != target[3]:
            raise self.error("measure a whole register into a whole register, or one qubit into one bit "
                             f"(got {'a register' if src[3] else 'one qubit'} and {'a register' if target[3] else 'one bit'})", start)
        if self.measurements == "error":
            raise self.error("the program measures qubits; loads(..., measurements='error') forbids it (use 'drop' or 'keep')", start)
        if self.measurements == "keep":
            self.measured.extend(zip(src[0], clbits))

    def measure_assign(self) -> None:
        target = self.arg(allow_bits=True)
        self.expect("=", f"after '{target[1][1]}' (only 'bit = measure qubit;' assignments are supported)")
        m = self.tok
        if not (m[0] == "id" and m[1] == "measure"):
            raise self.error(f"expected 'measure' after '=', got {show(m)}", m)
        self.next()
        self.measure(target, target[1])

    def handle_reset(self, qubits: list[int], t: Token) -> None:
        if self.measurements == "error":
            raise self.error("the program resets qubits; loads(..., measurements='error') forbids it", t)
        if self.measurements == "keep":
            self.resets.extend(qubits)

    # -- MNISQ Dense -----------------------------------------------------------------
    def dense(self) -> None:
        if self.fast and self.fast_calls():
            return
        t = self.next()
        self.expect("(", "after 'DenseMatrix'")
        exprs = [self.expr({})]
        while self.at(","):
            self.next()
            exprs.append(self.expr({}))
        self.expect(")", "to close 'DenseMatrix('")
        args = self.arg_list(allow_bits=False)
        self.end_statement("DenseMatrix(...)")
        values = [evaluate(e, {}) for e in exprs]
        if len(values) < 2:
            raise self.error("DenseMatrix needs (targets, controls, entries...)", t)
        if values[0] not in (1.0, 2.0):
            raise exprs[0].error(f"DenseMatrix supports 1 or 2 targets, got {values[0]!r}")
        if values[1] != 0.0:
            raise exprs[1].error(f"controlled DenseMatrix is not supported: expected 0 controls, got {values[1]!r}")
        k = int(values[0])
        want = 2 * 4**k
        if len(values) - 2 != want:
            raise self.error(
                f"DenseMatrix({k},0,...) needs {want} numbers ({4**k} complex entries as re,im pairs, row-major), "
                f"got {len(values) - 2}", t)
        if len(args) != k:
            raise self.error(f"DenseMatrix({k},0,...) acts on {k} qubit(s), got {len(args)} argument(s)", t)
        qubits = []
        for a in args:
            if a[3] and len(a[0]) != 1:
                raise self.error("DenseMatrix needs indexed qubits like q[0]", a[1])
            qubits.append(a[0][0])
        if len(set(qubits)) != len(qubits):
            raise self.error(f"DenseMatrix is applied to the same qubit twice ({qubits})", t)
        self.apply_dense(values, qubits, t)

    def apply_dense(self, values: list[float], qubits: list[int], t: Token) -> None:
        self.check_budget(1, t)
        d = 2 ** len(qubits)
        arr = np.asarray(values[2:], dtype=np.float64).reshape(d * d, 2)
        m = (arr[:, 0] + 1j * arr[:, 1]).reshape(d, d)
        u = nearest_unitary(m)
        dev = float(np.abs(u - m).max())
        if dev > self.limits.dense_tolerance:
            raise self.error(
                f"DenseMatrix is not unitary: its entries differ from the nearest unitary by up to {dev:.3g} "
                f"(tolerance dense_tolerance={self.limits.dense_tolerance})", t)
        self.dense_dev = max(self.dense_dev, dev)
        self.n_dense += 1
        self.ops.append(Op("unitary", tuple(qubits), matrix=torch.from_numpy(u)))


def parse_definitions(text: str, prelude: dict[str, GateDef] | None = None) -> dict[str, GateDef]:
    """The ``gate`` definitions of a trusted program (our libraries and writer tables)."""
    p = Parser(text, Limits(), "drop", False, prelude=prelude)
    p.parse()
    return p.user_gates


def _check_options(measurements: str, limits: Limits) -> None:
    if measurements not in ("drop", "keep", "error"):
        raise QasmConfigError(f"measurements must be 'drop', 'keep' or 'error', got {measurements!r}")
    for key in ("max_size", "max_qubits", "max_depth", "max_expr_depth", "max_ops"):
        value = getattr(limits, key)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise QasmConfigError(f"{key} must be a non-negative int, got {value!r}")
    tol = limits.dense_tolerance
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol >= 0):
        raise QasmConfigError(f"dense_tolerance must be a finite number >= 0, got {tol!r}")


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

    The ``max_*`` limits bound the work done on hostile input. ``max_ops`` bounds the ops after
    expanding gate definitions and broadcasts; it is checked on the size each definition is
    known to expand to, before expanding. A reader of many programs with a common budget passes
    what is left (``max_ops=budget``) and subtracts ``len(circuit.ops)``. ``max_expr_depth``
    bounds the nesting of parentheses and function calls (flat chains like ``1+1+...`` are not
    nesting). ``max_qubits`` only bounds parsing; simulating is guarded by
    :mod:`circuits.resources`.

    Metadata: ``qasm_version``, ``qregs``/``cregs`` (name -> (offset, size)), and for Dense files
    ``dense_max_deviation``. Every problem in the text raises :class:`QasmError` with line and
    column; a wrong option raises :class:`QasmConfigError` (a ``ConfigError``).

    Example::

        >>> c = loads('OPENQASM 2.0;\\ninclude "qelib1.inc";\\nqreg q[2];\\nh q;\\ncx q[0],q[1];')
        >>> [op.name for op in c.ops]
        ['h', 'h', 'cx']
    """
    if not isinstance(text, str):
        raise QasmConfigError(f"loads expects the program as a str, got {type(text).__name__}; decode bytes first")
    limits = Limits(max_size, max_qubits, max_depth, max_expr_depth, max_ops, dense_tolerance)
    _check_options(measurements, limits)
    if len(text) > max_size:
        raise QasmError(f"the program has {len(text)} characters, above the limit max_size={max_size}; raise max_size to read it")
    lenient = ("DenseMatrix" in text) if lenient_semicolons is None else bool(lenient_semicolons)
    p = Parser(text, limits, measurements, lenient)
    p.parse()
    if p.n_qubits == 0:
        raise p.error("the program declares no qubits (expected a 'qreg q[n];' or 'qubit[n] q;' declaration)", p.tok)
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
