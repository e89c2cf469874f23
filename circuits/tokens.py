"""Deterministic tokenizers of circuits for sequence models (S4D, Transformer, LSTM classifiers).

Three levels, each with a versioned vocabulary that saves and loads as JSON:

* ``char`` (:class:`CharTokenizer`): the characters of the circuit's MNISQ Dense QASM text
  (arXiv:2306.16627: ``DenseMatrix(2,0,...)`` lines, 6 significant digits). About 6k / 12k / 24k
  tokens at f80 / f90 / f95: the long-range regime S4 was built for, and the closest to what
  MNISQ's S4 read.
* ``lexical`` (:class:`LexicalTokenizer`): QASM lexemes - keywords, gate names, punctuation - with
  every number either split into digit tokens (``numbers="digits"``; decodes back to the same
  circuit) or, inside a gate's parameter list, mapped to one of ``bins`` equal-width bins over
  ``number_range`` (``numbers="bins"``; about 37 tokens per two-qubit block, ~1k at f80).
* ``gate`` (:class:`GateTokenizer`): one token per gate, no text: a discrete id for the gate kind
  and its wires, plus a float feature vector of its continuous parameters and the real and
  imaginary parts of its matrix (27 / 54 / 108 block tokens at f80 / f90 / f95).

Inputs are :class:`~qcstar.circuits.Circuit` objects or QASM text (read with
:func:`qcstar.circuits.qasm.loads`). Text levels re-render the circuit canonically
(:func:`qcstar.circuits.qasm.dumps`, Dense dialect, ``precision`` digits), so the same circuit gives
the same tokens whether it came from an MNISQ zip (6 digits) or from ``qcstar dataset build``
(17 digits). Everything here needs only torch.

Example::

    from qcstar.circuits.tokens import make_tokenizer, load_tokenizer
    tok = make_tokenizer("lexical", numbers="bins", bins=256)
    seqs = tok.encode_batch(circuits)          # TokenSequences: ids (N, L), lengths (N,)
    tok.save("vocab.json"); same = load_tokenizer("vocab.json")
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from .errors import ConfigError, DataError, QasmError
from .files import write_atomic
from .gates import GATES
from .ir import Circuit, Op

Tensor = torch.Tensor

__all__ = [
    "Tokenizer", "CharTokenizer", "LexicalTokenizer", "GateTokenizer", "TokenSequences", "make_tokenizer",
    "load_tokenizer", "TOKENIZERS", "PAD", "PAD_ID", "MNISQ_PRECISION",
]

#: the padding token, id 0 in every vocabulary
PAD = "<pad>"
PAD_ID = 0
#: significant digits of the numbers in MNISQ's Dense QASM files
MNISQ_PRECISION = 6
#: written into every saved vocabulary; a file without it is not one of ours
FORMAT = "qcstar.tokens"

CircuitLike = Circuit | str


# --------------------------------------------------------------------------------------
# the encoded sequences
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenSequences:
    """A batch of token sequences, right-padded with :data:`PAD_ID`.

    ``ids`` (N, L) int64; ``lengths`` (N,) int64, the true length of each row; ``features``
    (N, L, F) float32 or ``None`` (the gate tokenizer's continuous part, zero at padding).
    Indexing (an int list, a slice or an index tensor) returns the selected rows trimmed to
    their longest member, so a batch of short sequences costs only their length; ``mask``
    is True at real tokens. Usable as the ``x`` of :func:`qcstar.train.fit` splits.
    """

    ids: Tensor
    lengths: Tensor
    features: Tensor | None = None

    def __post_init__(self) -> None:
        if self.ids.dim() != 2 or self.lengths.shape != self.ids.shape[:1]:
            raise DataError(f"TokenSequences: ids must be (N, L) with lengths (N,), got {tuple(self.ids.shape)} "
                            f"and {tuple(self.lengths.shape)}")
        if self.features is not None and tuple(self.features.shape[:2]) != tuple(self.ids.shape):
            raise DataError(f"TokenSequences: features must be (N, L, F) with (N, L) = {tuple(self.ids.shape)}, "
                            f"got {tuple(self.features.shape)}")

    @property
    def shape(self) -> torch.Size:
        return self.ids.shape

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def mask(self) -> Tensor:
        """(N, L) bool, True at real tokens."""
        return torch.arange(self.ids.shape[1], device=self.ids.device) < self.lengths[:, None]

    def __getitem__(self, index: Any) -> "TokenSequences":
        if isinstance(index, int):
            index = [index]
        lengths = self.lengths[index]
        width = int(lengths.max()) if lengths.numel() else 0
        features = None if self.features is None else self.features[index][:, :width]
        return TokenSequences(self.ids[index][:, :width], lengths, features)

    def to(self, device: torch.device | str) -> "TokenSequences":
        return TokenSequences(self.ids.to(device), self.lengths.to(device),
                              None if self.features is None else self.features.to(device))

    def tensors(self) -> tuple[Tensor, ...]:
        """The tensors that hold the content (for content digests)."""
        return (self.ids, self.lengths) if self.features is None else (self.ids, self.lengths, self.features)

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())


def _pad(rows: list[Tensor], features: list[Tensor] | None, n_features: int) -> TokenSequences:
    lengths = torch.tensor([r.numel() for r in rows], dtype=torch.int64)
    width = int(lengths.max()) if rows else 0
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.int64)
    for i, r in enumerate(rows):
        ids[i, :r.numel()] = r
    feats = None
    if features is not None:
        feats = torch.zeros(len(rows), width, n_features, dtype=torch.float32)
        for i, f in enumerate(features):
            feats[i, :f.shape[0]] = f
    return TokenSequences(ids, lengths, feats)


# --------------------------------------------------------------------------------------
# the common part
# --------------------------------------------------------------------------------------

def _as_circuit(item: CircuitLike) -> Circuit:
    if isinstance(item, Circuit):
        return item
    if isinstance(item, str):
        from .qasm import loads

        try:
            return loads(item)
        except QasmError as exc:
            raise DataError(f"the QASM text to tokenize does not parse: {exc}") from None
    raise DataError(f"a tokenizer reads a qcstar.circuits.Circuit or QASM text, got {type(item).__name__}")


def _dense_text(circuit: Circuit, precision: int) -> str:
    from .qasm import dumps

    try:
        return dumps(circuit, dense="dense", precision=precision)
    except QasmError as exc:
        raise DataError(f"the circuit cannot be written as Dense QASM to tokenize it: {exc}") from None


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be an int {span}, got {value!r}")
    return value


class Tokenizer:
    """Base of the three tokenizers: a vocabulary (``symbols``, id 0 = :data:`PAD`), ``max_len``
    and JSON save/load. Subclasses define ``kind``, ``version``, :meth:`tokens` and ``config``."""

    kind = ""
    version = 1

    def __init__(self, *, symbols: Sequence[str], max_len: int | None):
        if max_len is not None:
            _check_int("max_len", max_len, 1)
        self.max_len = max_len
        self.symbols = list(symbols)
        if self.symbols[0] != PAD or len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"a vocabulary starts with {PAD!r} and holds each symbol once")
        self.index = {s: i for i, s in enumerate(self.symbols)}

    # -- what subclasses define -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def tokens(self, circuit: Circuit) -> list[str]:
        raise NotImplementedError

    # -- encoding ---------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    @property
    def n_features(self) -> int:
        """Width of the continuous feature vector per token (0: none)."""
        return 0

    def _ids(self, symbols: list[str]) -> Tensor:
        ids = []
        for pos, s in enumerate(symbols):
            i = self.index.get(s)
            if i is None:
                raise DataError(
                    f"{self.kind} tokenizer: symbol {s!r} (token {pos}) is not in its vocabulary of {self.vocab_size} "
                    f"symbols (version {self.version}); expected {self._vocabulary_hint()}")
            ids.append(i)
        return torch.tensor(ids, dtype=torch.int64)

    def _vocabulary_hint(self) -> str:
        return "one of its symbols"

    def _check_length(self, n: int, truncate: bool) -> int:
        if self.max_len is None or n <= self.max_len:
            return n
        if truncate:
            return self.max_len
        raise DataError(f"{self.kind} tokenizer: the circuit gives {n} tokens, more than max_len={self.max_len}; "
                        "raise max_len, or pass truncate=True to keep the first max_len tokens")

    def encode(self, item: CircuitLike, *, truncate: bool = False) -> TokenSequences:
        """One circuit (or QASM text) as a batch of one sequence."""
        return self.encode_batch([item], truncate=truncate)

    def encode_batch(self, items: Iterable[CircuitLike], *, truncate: bool = False) -> TokenSequences:
        """Circuits (or QASM texts) as right-padded sequences. Raises :class:`DataError` for a symbol
        outside the vocabulary or, unless ``truncate``, a sequence longer than ``max_len``."""
        rows = []
        for item in items:
            ids = self._ids(self.tokens(_as_circuit(item)))
            rows.append(ids[:self._check_length(ids.numel(), truncate)])
        return _pad(rows, None, 0)

    def lengths(self, items: Iterable[CircuitLike]) -> list[int]:
        """The untruncated token count of each item (for reporting lengths per level)."""
        return [len(self.tokens(_as_circuit(item))) for item in items]

    # -- vocabulary files -------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "version": self.version, "max_len": self.max_len,
                "config": self.config(), "symbols": self.symbols}

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary and settings as JSON (atomically)."""
        write_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()}, max_len={self.max_len}, vocab_size={self.vocab_size})"


# --------------------------------------------------------------------------------------
# char
# --------------------------------------------------------------------------------------

#: newline and printable ASCII: every character our QASM writer emits
_CHARS = ["\n"] + [chr(c) for c in range(32, 127)]


class CharTokenizer(Tokenizer):
    """The characters of the circuit's Dense QASM text with ``precision`` significant digits
    (MNISQ's files: 6). A character outside newline and printable ASCII is refused."""

    kind = "char"

    def __init__(self, *, precision: int = MNISQ_PRECISION, max_len: int | None = None):
        self.precision = _check_int("precision", precision, 1, 17)
        super().__init__(symbols=[PAD] + _CHARS, max_len=max_len)

    def config(self) -> dict[str, Any]:
        return {"precision": self.precision}

    def text(self, item: CircuitLike) -> str:
        """The canonical Dense QASM text the tokens are the characters of."""
        return _dense_text(_as_circuit(item), self.precision)

    def tokens(self, circuit: Circuit) -> list[str]:
        return list(_dense_text(circuit, self.precision))

    def _vocabulary_hint(self) -> str:
        return "newline or printable ASCII"

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """The text of ``ids`` (padding dropped)."""
        return "".join(self.symbols[int(i)] for i in ids if int(i) != PAD_ID)


# --------------------------------------------------------------------------------------
# lexical
# --------------------------------------------------------------------------------------

_QASM_WORDS = ["OPENQASM", "include", "qreg", "creg", "qubit", "bit", "measure", "barrier", "reset", "gate", "if",
               "pi", "q", "c", "DenseMatrix"]
_STRINGS = ['"qelib1.inc"', '"stdgates.inc"']
_PUNCT = ["(", ")", "[", "]", ",", ";", "-", "+", "*", "/", "->", "{", "}", "==", "="]
_DIGITS = list("0123456789") + [".", "e"]

_LEXEME = re.compile(
    r"(?P<space>\s+)|(?P<comment>//[^\n]*)|(?P<string>\"[^\"\n]*\")"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>->|==|[()\[\],;\-+*/{}=])"
)


def _gate_words() -> list[str]:
    names: set[str] = set()
    for spec in GATES.values():
        names.update(n for n in (spec.name, spec.qasm2_name, spec.qasm3_name) if n)
        names.update(spec.aliases, spec.qasm2_aliases, spec.qasm3_aliases)
    return sorted(names)


def _bin_symbol(k: int) -> str:
    return f"<bin{k}>"


class LexicalTokenizer(Tokenizer):
    """QASM lexemes of the canonical Dense text (whitespace and comments dropped).

    ``numbers="digits"``: every number is split into its characters (digits, ``.``, ``e``; a sign
    is the ``-`` token), so :meth:`decode` gives back text that reads as the same circuit (to the
    ``precision`` digits). ``numbers="bins"``: a non-integer number inside a gate's parameter
    list (Dense matrix entries, angles), with its sign, becomes one of ``bins`` equal-width bins
    over ``number_range``; integers (indices, ``DenseMatrix(2,0,``, exact zeros) stay digits.
    A number outside ``number_range`` is refused (build the tokenizer with a wider range; angles
    of ``u3`` gates need ``(-pi, pi)``).
    """

    kind = "lexical"

    def __init__(self, *, numbers: str = "digits", bins: int = 256, number_range: Sequence[float] = (-1.0, 1.0),
                 precision: int = MNISQ_PRECISION, max_len: int | None = None):
        if numbers not in ("digits", "bins"):
            raise ConfigError(f"numbers must be 'digits' or 'bins', got {numbers!r}")
        self.numbers = numbers
        self.bins = _check_int("bins", bins, 2, 1 << 16)
        try:
            low, high = (float(v) for v in number_range)
        except (TypeError, ValueError):
            raise ConfigError(f"number_range must be two numbers (low, high), got {number_range!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"number_range must be finite with low < high, got {number_range!r}")
        self.number_range = (low, high)
        self.precision = _check_int("precision", precision, 1, 17)
        symbols = [PAD] + _QASM_WORDS + [w for w in _gate_words() if w not in _QASM_WORDS] + _STRINGS + _PUNCT
        symbols += _DIGITS
        if numbers == "bins":
            symbols += [_bin_symbol(k) for k in range(self.bins)]
        super().__init__(symbols=symbols, max_len=max_len)

    def config(self) -> dict[str, Any]:
        return {"numbers": self.numbers, "bins": self.bins, "number_range": list(self.number_range),
                "precision": self.precision}

    def _vocabulary_hint(self) -> str:
        return "QASM keywords, catalogue gate names, punctuation and digits"

    def bin_of(self, value: float) -> int:
        low, high = self.number_range
        if not low <= value <= high:
            raise DataError(f"lexical tokenizer: the number {value!r} lies outside number_range {self.number_range}; "
                            "build the tokenizer with a number_range that covers it (e.g. (-pi, pi) for angles)")
        return min(int((value - low) / (high - low) * self.bins), self.bins - 1)

    def bin_centre(self, k: int) -> float:
        low, high = self.number_range
        return low + (k + 0.5) * (high - low) / self.bins

    def tokens(self, circuit: Circuit) -> list[str]:
        return self.lex(_dense_text(circuit, self.precision))

    def lex(self, text: str) -> list[str]:
        """The lexemes of QASM ``text`` as vocabulary symbols."""
        out: list[str] = []
        depth = 0  # parentheses: numbers at depth > 0 are gate parameters
        pos = 0
        while pos < len(text):
            m = _LEXEME.match(text, pos)
            if m is None:
                raise DataError(f"lexical tokenizer: character {text[pos]!r} at offset {pos} is not QASM; "
                                "expected words, numbers, strings and punctuation")
            pos = m.end()
            kind, lexeme = m.lastgroup, m.group()
            if kind in ("space", "comment"):
                continue
            if kind == "number":
                integer = lexeme.isdigit()
                if self.numbers == "bins" and depth > 0 and not integer:
                    value = float(lexeme)
                    if out and out[-1] == "-" and len(out) > 1 and out[-2] in ("(", ","):
                        out.pop()  # the sign belongs to the number
                        value = -value
                    out.append(_bin_symbol(self.bin_of(value)))
                else:
                    out.extend(lexeme.lower())
                continue
            if lexeme == "(":
                depth += 1
            elif lexeme == ")":
                depth = max(0, depth - 1)
            out.append(lexeme)
        return out

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """QASM text from ``ids`` (padding dropped): bins become their centres, one statement a line."""
        parts: list[str] = []
        prev_word = False
        for i in ids:
            i = int(i)
            if i == PAD_ID:
                continue
            s = self.symbols[i]
            if s.startswith("<bin"):
                s = repr(round(self.bin_centre(int(s[4:-1])), 12))
            if prev_word and (s[0].isalnum() or s[0] in '"_'):
                parts.append(" ")  # keep two words (or ")" and a word) apart; digits of one number join
            parts.append(s)
            prev_word = (s[0].isalpha() and s != "e") or s[0] == '"' or s == ")"
            if s == ";":
                parts.append("\n")
        return "".join(parts)


# --------------------------------------------------------------------------------------
# gate
# --------------------------------------------------------------------------------------

#: most continuous parameters of a catalogue gate (``cu``: 4)
N_PARAMS = max(spec.num_params for spec in GATES.values())
#: matrix entries of a two-qubit block, real and imaginary parts
N_MATRIX = 2 * 16


def _default_gate_kinds() -> list[str]:
    kinds = [name for name, spec in GATES.items() if spec.num_wires <= 2]
    return kinds + ["unitary"]


class GateTokenizer(Tokenizer):
    """One token per gate: the symbol ``"<kind>@<wires>"`` (e.g. ``"x@3"``, ``"unitary@1,3"``) and
    a feature vector of :attr:`n_features` = ``N_PARAMS + 32`` floats: the gate's parameters, then
    the real and imaginary parts of its matrix (``unitary`` ops; row-major, interleaved).

    The vocabulary is every ``kinds`` gate on every ordered tuple of distinct wires of an
    ``n_qubits`` register (1- and 2-qubit gates: ``unitary`` on 1 or 2 wires). Controlled and
    multiplexed ops, batched parameters and wires beyond ``n_qubits`` are refused.
    """

    kind = "gate"

    def __init__(self, *, n_qubits: int = 10, kinds: Sequence[str] | None = None, max_len: int | None = None):
        self.n_qubits = _check_int("n_qubits", n_qubits, 1, 64)
        kinds = list(_default_gate_kinds() if kinds is None else kinds)
        unknown = [k for k in kinds if k != "unitary" and k not in GATES]
        if unknown or not kinds:
            raise ConfigError(f"kinds must be catalogue gate names or 'unitary', got unknown {unknown or kinds!r}")
        self.kinds = kinds
        symbols = [PAD]
        for kind in kinds:
            arities = (1, 2) if kind == "unitary" else (GATES[kind].num_wires,)
            for arity in arities:
                symbols += [self.symbol(kind, w) for w in self._wire_tuples(arity)]
        super().__init__(symbols=symbols, max_len=max_len)

    def _wire_tuples(self, arity: int) -> list[tuple[int, ...]]:
        n = self.n_qubits
        if arity == 1:
            return [(a,) for a in range(n)]
        if arity == 2:
            return [(a, b) for a in range(n) for b in range(n) if a != b]
        return [(a, b, c) for a in range(n) for b in range(n) for c in range(n) if len({a, b, c}) == 3]

    @staticmethod
    def symbol(kind: str, wires: Sequence[int]) -> str:
        return f"{kind}@{','.join(str(w) for w in wires)}"

    def config(self) -> dict[str, Any]:
        return {"n_qubits": self.n_qubits, "kinds": self.kinds, "n_params": N_PARAMS, "n_matrix": N_MATRIX}

    @property
    def n_features(self) -> int:
        return N_PARAMS + N_MATRIX

    def _vocabulary_hint(self) -> str:
        return f"a gate of kinds {self.kinds} on wires below n_qubits={self.n_qubits}"

    def _check_op(self, op: Op) -> None:
        if op.controls or op.mux:
            raise DataError(f"gate tokenizer: op '{op.name}' has controls or multiplexer wires; it reads plain gates "
                            "and unitary blocks only (decompose the circuit first)")
        if op.batch_size is not None:
            raise DataError(f"gate tokenizer: op '{op.name}' is batched; tokenize one circuit at a time")
        if op.name == "unitary" and len(op.wires) > 2:
            raise DataError(f"gate tokenizer: a unitary on {len(op.wires)} wires; it reads 1- and 2-qubit blocks")

    def tokens(self, circuit: Circuit) -> list[str]:
        out = []
        for op in circuit.ops:
            self._check_op(op)
            out.append(self.symbol(op.name, op.wires))
        return out

    def features(self, circuit: Circuit) -> Tensor:
        """(n_ops, n_features) float32: parameters, then the matrix's (re, im) entries."""
        feats = torch.zeros(len(circuit.ops), self.n_features, dtype=torch.float32)
        for i, op in enumerate(circuit.ops):
            for j, p in enumerate(op.params):
                feats[i, j] = float(p.item()) if isinstance(p, Tensor) else float(p)
            if op.matrix is not None:
                m = op.matrix.detach().to(torch.complex128).reshape(-1)
                feats[i, N_PARAMS:N_PARAMS + 2 * m.numel()] = torch.view_as_real(m).reshape(-1).float()
        return feats

    def encode_batch(self, items: Iterable[CircuitLike], *, truncate: bool = False) -> TokenSequences:
        rows, feats = [], []
        for item in items:
            circuit = _as_circuit(item)
            ids = self._ids(self.tokens(circuit))
            keep = self._check_length(ids.numel(), truncate)
            rows.append(ids[:keep])
            feats.append(self.features(circuit)[:keep])
        return _pad(rows, feats, self.n_features)


# --------------------------------------------------------------------------------------
# registry and files
# --------------------------------------------------------------------------------------

TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "lexical": LexicalTokenizer, "gate": GateTokenizer}


def make_tokenizer(kind: str, **options: Any) -> Tokenizer:
    """A tokenizer by name (``"char"``, ``"lexical"``, ``"gate"``) with its keyword options."""
    cls = TOKENIZERS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown tokenizer {kind!r}; expected one of {', '.join(TOKENIZERS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"{kind} tokenizer: {exc}") from None


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.save`'s JSON; the stored vocabulary must equal the
    one this version builds from the stored settings (else :class:`DataError`: another version)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable tokenizer file: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path} is not a qcstar tokenizer file (expected format {FORMAT!r})")
    cls = TOKENIZERS.get(data.get("kind"))
    if cls is None:
        raise DataError(f"{path}: unknown tokenizer kind {data.get('kind')!r}; expected one of {', '.join(TOKENIZERS)}")
    if data.get("version") != cls.version:
        raise DataError(f"{path}: {cls.kind} tokenizer version {data.get('version')!r}; this qcstar reads version "
                        f"{cls.version}. Rebuild the vocabulary (and retrain) with this version")
    config = {k: v for k, v in data.get("config", {}).items() if k not in ("n_params", "n_matrix")}
    try:
        tok = cls(**config, max_len=data.get("max_len"))
    except (TypeError, ConfigError) as exc:
        raise DataError(f"{path}: its settings do not build a {cls.kind} tokenizer: {exc}") from None
    if tok.symbols != data.get("symbols"):
        raise DataError(f"{path}: its vocabulary differs from the one this qcstar builds from its settings; "
                        "the file was edited or written by another version")
    if data["kind"] == "gate" and (data["config"].get("n_params"), data["config"].get("n_matrix")) != (N_PARAMS, N_MATRIX):
        raise DataError(f"{path}: gate features of another layout; rebuild the vocabulary with this version")
    return tok
