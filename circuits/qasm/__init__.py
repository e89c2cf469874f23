"""Read and write OpenQASM 2.0, OpenQASM 3.0 (the subset Qiskit writes) and MNISQ's Dense dialect.

The package is split by concept: :mod:`.lexer` (tokens and positions), :mod:`.expressions`
(parameter and index expressions), :mod:`.parser` (the reader, :func:`loads`), :mod:`.library`
(the gates of ``qelib1.inc`` / ``stdgates.inc`` and the writer's definitions) and :mod:`.writer`
(:func:`dumps`).

Reading is our own lexer and parser (no Qiskit), linear in the input, with limits so that
hostile input cannot hang or exhaust memory, and a :class:`QasmError` with the 1-based line and
column for every problem. Where the specification leaves room, the reader agrees with Qiskit's
``qiskit.qasm2.loads`` / ``qiskit.qasm3.loads`` (the tests compare them case by case).

Semantics follow Qiskit, because our gate matrices are Qiskit's:

* every name in Qiskit's ``qelib1.inc`` (v2) or ``stdgates.inc`` (v3) is the catalogue gate of
  that name (``rz`` is ``RZGate``, ``u3``/``U`` are ``UGate``, ``c3x`` is a triple-controlled X);
* a ``gate`` definition is expanded inline: its meaning is its body, so a definition that drops
  a global phase (as Qiskit's exporters do, e.g. for ``ecr``) gives the state up to that phase;
* OpenQASM has no global phase (v2) or Qiskit does not export it (v3). Our writer records the
  exact phase in a comment ``// global_phase: <float>`` that :func:`loads` reads back, so our own
  round trip is exact (other comments, even ``// global_phase: TBD``, are ignored).
  ``gphase(x);`` statements (v3) are honoured too.

Dense dialect (MNISQ, arXiv:2306.16627): ``DenseMatrix(t,0,<re,im pairs>) q[i],q[j];`` with ``t``
in {1, 2}, the ``4**t`` entries row-major, basis index ``b(q[i]) + 2 b(q[j])`` (our ``unitary``
convention). The 6-digit matrices are re-unitarised by the polar factor
(:func:`circuits.linalg.nearest_unitary`); the largest entry change is recorded in
``circuit.metadata["dense_max_deviation"]``. MNISQ files may lack trailing semicolons: with
``lenient_semicolons=None`` (default) a statement may end at the end of its line when the text
contains ``DenseMatrix``, and nowhere else. :func:`dumps` writes plain OpenQASM by default and
the Dense dialect only with ``dense="dense"``.

Example::

    >>> from qcstar.circuits import Circuit
    >>> from qcstar.circuits.qasm import dumps, loads
    >>> text = dumps(Circuit(2).h(0).cx(0, 1))
    >>> loads(text).count_ops()
    {'h': 1, 'cx': 1}
"""

from __future__ import annotations

from ..errors import QasmError
from .parser import (
    DENSE_TOLERANCE, MAX_BITS, MAX_DEPTH, MAX_EXPR_DEPTH, MAX_OPS, MAX_QUBITS, MAX_SIZE, QasmConfigError, load, loads,
)
from .writer import dump, dumps

__all__ = [
    "loads", "load", "dumps", "dump", "QasmError", "QasmConfigError",
    "MAX_SIZE", "MAX_QUBITS", "MAX_DEPTH", "MAX_EXPR_DEPTH", "MAX_OPS", "MAX_BITS", "DENSE_TOLERANCE",
]
