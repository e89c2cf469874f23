"""The OpenQASM lexer: compiled-regex scanning on demand, positions as character offsets.

Tokens are plain tuples ``(kind, text, start, end)`` with ``kind`` one of ``'id'``, ``'num'``,
``'str'``, ``'op'``, ``'eof'``. The parser asks for one token at a time (so a statement-level
fast path can skip over a whole simple statement with one regex match); line and column are
computed only when a message needs them (:meth:`Source.locate`), which keeps lexing linear and
free of per-character Python work.

Version rules (OpenQASM 2 as Qiskit's ``qasm2`` reads it): no ``/* */`` comments, ASCII only
outside comments (``π`` is written ``pi``), and no integers with leading zeros.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import QasmError

Token = tuple  # (kind, text, start, end)

_SPACE = re.compile(r"[ \t\r\n\f\v]*")
# One match per token, whitespace included; the group number is the kind.
_TOKEN = re.compile(
    r"""[ \t\r\n\f\v]*(?:
     ((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)  # 1 number
    |([A-Za-z_][A-Za-z0-9_]*|π|τ|ℇ)                     # 2 identifier
    |("[^"\n]*")                                        # 3 string
    |(//[^\n]*)                                         # 4 line comment
    |(/\*)                                              # 5 block comment
    |(->|\*\*|==|[;,()\[\]{}+\-*/^=@<>!&|~%:])          # 6 operator
    |(.)                                                # 7 anything else: an error
    |(\Z)                                               # 8 end of input
    )""",
    re.VERBOSE | re.DOTALL,
)
_KINDS = (None, "num", "id", "str", "comment", "block", "op", "bad", "eof")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_PHASE_COMMENT = re.compile(r"//[ \t]*global_phase:[ \t]*(\S+)[ \t\r]*$")
_LEADING_ZERO = re.compile(r"0[0-9]+")
_NON_ASCII_NAMES = {"π": "pi", "τ": "tau", "ℇ": "euler"}


class PhaseComment(NamedTuple):
    value: str
    start: int


class Source:
    """A program text with on-demand line/column lookup and the token scanner."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.version: int | None = None  # set by the parser once the header is read
        self.phase_comments: list[PhaseComment] = []
        self._loc_offset = 0
        self._loc_line = 1

    # -- positions ---------------------------------------------------------------------
    def locate(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of ``offset``; amortised linear for increasing offsets."""
        text = self.text
        if offset < self._loc_offset:
            self._loc_offset, self._loc_line = 0, 1
        self._loc_line += text.count("\n", self._loc_offset, offset)
        self._loc_offset = offset
        return self._loc_line, offset - (text.rfind("\n", 0, offset) + 1) + 1

    def error(self, message: str, offset: int) -> QasmError:
        line, col = self.locate(offset)
        return QasmError(message, line=line, column=col)

    def newline_between(self, start: int, end: int) -> bool:
        return self.text.find("\n", start, end) != -1

    # -- scanning ----------------------------------------------------------------------
    def scan(self, pos: int) -> Token:
        """The token starting at or after ``pos`` (whitespace and comments skipped)."""
        text = self.text
        while True:
            m = _TOKEN.match(text, pos)
            k = m.lastindex
            start = m.start(k)
            if k == 6 or k == 2 and self.version != 2:  # the common cases first
                return (_KINDS[k], m.group(k), start, m.end())
            if k == 4:
                if text.startswith("global_phase:", _SPACE.match(text, start + 2).end()):
                    pm = _PHASE_COMMENT.match(m.group(k))
                    if pm:
                        self.phase_comments.append(PhaseComment(pm.group(1), start))
                pos = m.end()
                continue
            if k == 5:
                if self.version == 2:
                    raise self.error("'/* */' comments are not OpenQASM 2 (only '//' line comments are); "
                                     "use '//' or declare 'OPENQASM 3.0;'", start)
                bm = _BLOCK_COMMENT.match(text, start)
                if bm is None:
                    raise self.error("unterminated block comment: expected '*/' before the end of the input", start)
                pos = bm.end()
                continue
            break
        s = m.group(k)
        kind = _KINDS[k]
        if kind == "bad":
            if s == '"':
                raise self.error("unterminated string: expected a closing '\"' on the same line", start)
            if self.version == 2 and not s.isascii():
                raise self.error(f"non-ASCII character {s!r}: OpenQASM 2 programs are ASCII outside comments", start)
            raise self.error(f"unexpected character {s!r}", start)
        if self.version == 2:
            if kind == "id" and s in _NON_ASCII_NAMES:
                raise self.error(f"non-ASCII character {s!r}: OpenQASM 2 programs are ASCII outside comments "
                                 f"(write '{_NON_ASCII_NAMES[s]}')", start)
            if kind == "num" and s[0] == "0" and _LEADING_ZERO.fullmatch(s):
                raise self.error(f"integer {s} has a leading zero, which OpenQASM 2 forbids; write {int(s)}", start)
            if kind == "str" and not s.isascii():
                raise self.error(f"non-ASCII string {s}: OpenQASM 2 programs are ASCII outside comments", start)
        return (kind, s, start, m.end())


def show(tok: Token) -> str:
    """A token as messages quote it."""
    return "end of input" if tok[0] == "eof" else repr(tok[1])
