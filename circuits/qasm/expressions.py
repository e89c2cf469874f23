"""Parameter and index expressions: precedence climbing into postfix code, evaluated by a stack.

Flat chains (``1+1+...+1``, ``----x``, ``2^2^...^2``) are parsed and evaluated with loops, so
their length costs time, not Python recursion. Only real nesting, parentheses and function
calls, recurses; it is bounded by ``max_expr_depth`` (64 by default; Qiskit's readers accept
deeper nesting, which no program we know of needs).

Precedence, as in OpenQASM: ``+ -`` < ``* /`` < unary sign < power (right-associative), so
``-2^2 == -4`` and ``2^-1 == 0.5``. OpenQASM 2 writes the power ``^``; OpenQASM 3 writes ``**``
(``^`` is a bitwise XOR there, which parameters never use, so it is refused).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from ..errors import QasmError

# postfix codes
NUM, VAR, NEG, FUNC, BIN = range(5)

FUNCS_V2: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log, "sqrt": math.sqrt,
}
FUNCS_V3: dict[str, Callable[[float], float]] = dict(
    FUNCS_V2, log=math.log, asin=math.asin, acos=math.acos, atan=math.atan,
    arcsin=math.asin, arccos=math.acos, arctan=math.atan,
)
CONSTS_V2 = {"pi": math.pi}
CONSTS_V3 = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e, "ℇ": math.e}
#: names a gate parameter may not take in OpenQASM 2 (Qiskit's qasm2 refuses them)
RESERVED_V2 = frozenset(FUNCS_V2) | frozenset(CONSTS_V2)

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b, "^": math.pow,
}


class Expr(NamedTuple):
    """A parsed expression: postfix ``code`` of (opcode, argument) pairs, and where it starts
    (``source.locate(offset)``) for messages."""

    code: tuple
    offset: int
    source: Any  # lexer.Source
    end: int = -1  # offset just after the expression's last token

    def error(self, message: str) -> QasmError:
        return self.source.error(message, self.offset)


_MATH_ERRORS = (ZeroDivisionError, OverflowError, ValueError)


def _refusal(expr: Expr, exc: Exception) -> QasmError:
    """The message for a math error while evaluating ``expr``."""
    if isinstance(exc, ZeroDivisionError):
        return expr.error("division by zero in a parameter expression")
    if isinstance(exc, OverflowError):
        return expr.error("parameter expression overflows to infinity; expected a finite number")
    return expr.error(f"parameter expression cannot be evaluated ({exc})")


def evaluate(expr: Expr, env: dict[str, float]) -> float:
    """The value of a real expression; a finite float or a :class:`QasmError` at its start.

    Intermediate infinities are allowed (``1/1e999`` is 0, as in Qiskit); a non-finite result
    is refused, since no gate has a meaning for it.
    """
    stack: list[float] = []
    push = stack.append
    try:
        for op, arg in expr.code:
            if op == NUM:
                push(arg)
            elif op == VAR:
                push(env[arg])
            elif op == BIN:
                b = stack.pop()
                stack[-1] = _BINARY[arg](stack[-1], b)
            elif op == NEG:
                stack[-1] = -stack[-1]
            else:
                stack[-1] = arg(stack[-1])
    except _MATH_ERRORS as exc:
        raise _refusal(expr, exc) from None
    out = stack[0]
    if not math.isfinite(out):
        raise expr.error(f"parameter expression evaluates to {out}; expected a finite number")
    return out


def check_constants(expr: Expr) -> None:
    """Evaluate the constant parts of an expression in a gate body (``ln(0)`` next to a
    parameter), as Qiskit folds them when the gate is defined: a definition that can never be
    applied is refused even if no statement calls it."""
    stack: list[float | None] = []
    try:
        for op, arg in expr.code:
            if op == NUM:
                stack.append(arg)
            elif op == VAR:
                stack.append(None)
            elif op == BIN:
                b = stack.pop()
                a = stack[-1]
                stack[-1] = None if a is None or b is None else _BINARY[arg](a, b)
            elif stack[-1] is not None:
                stack[-1] = -stack[-1] if op == NEG else arg(stack[-1])
    except _MATH_ERRORS as exc:
        raise _refusal(expr, exc) from None


_INT_LIMIT = 1 << 62


def _int_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)  # truncation toward zero, as C and OpenQASM 3 divide integers
    return q if (a >= 0) == (b > 0) else -q


def _int_pow(a: int, b: int) -> int:
    if b < 0:
        raise ValueError("a negative integer power is not an integer")
    if abs(a) > 1 and b > 64:
        raise OverflowError("integer power too large")
    return a**b


_INT_BINARY: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _int_div, "^": _int_pow,
}


def evaluate_int(expr: Expr) -> int:
    """The value of an integer index/size expression (OpenQASM 3), or a :class:`QasmError`."""
    stack: list[int] = []
    try:
        for op, arg in expr.code:
            if op == NUM:
                stack.append(arg)
            elif op == NEG:
                stack[-1] = -stack[-1]
            else:
                b = stack.pop()
                stack[-1] = _INT_BINARY[arg](stack[-1], b)
            if abs(stack[-1]) > _INT_LIMIT:
                raise OverflowError("integer too large")
    except ZeroDivisionError:
        raise expr.error("division by zero in an integer expression") from None
    except (ValueError, OverflowError) as exc:
        raise expr.error(f"integer expression cannot be evaluated ({exc})") from None
    return stack[0]
