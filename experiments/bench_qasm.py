"""OpenQASM reading speed: ``qcstar.circuits.qasm.loads`` vs ``qiskit.qasm2.loads`` (issue 9 §1).

Three generated OpenQASM 2 programs, each read by both readers (which must agree on the op
count first):

* ``lines``: rz/cx statements one per line (what our writer and Qiskit's exporter write);
* ``one-line``: the same statements on a single line (the issue's 14 MB one-line input took
  46 s at 160 KB/s);
* ``expressions``: parameters written as expressions (``pi/4 + 0.1*2``), which skip our
  statement-level fast path and exercise the lexer and the expression parser.

Reports the median of ``--repeats`` runs per reader and program (readers interleaved so both
see the same machine state), as MB/s; the last line is ``ratio_vs_qiskit=<float>``, our median
time over Qiskit's on the ``lines`` program (below 1: we are faster).

Run:  python experiments/bench_qasm.py [--statements 200000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qcstar.circuits.qasm import loads  # noqa: E402

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[16];\n'


def make_program(kind: str, statements: int) -> str:
    """``statements`` gate calls (half rz, half cx) on 16 qubits."""
    parts = []
    for i in range(statements // 2):
        a, b = i % 16, (i * 7 + 3) % 16 or 1
        if a == b:
            b = (b + 1) % 16
        angle = f"pi/{(i % 7) + 1} + {i % 10}*0.1" if kind == "expressions" else f"{(i * 0.37) % 6.2832:.6f}"
        parts.append(f"rz({angle}) q[{a}];")
        parts.append(f"cx q[{a}],q[{b}];")
    sep = " " if kind == "one-line" else "\n"
    return HEAD + sep.join(parts) + "\n"


def time_reader(fn, text: str) -> float:
    t = time.perf_counter()
    fn(text)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--statements", type=int, default=200_000, help="gate calls per program")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per reader and program")
    ap.add_argument("--quick", action="store_true", help="smoke version: 2,000 statements, 1 run")
    args = ap.parse_args(argv)
    if args.quick:
        args.statements, args.repeats = 2_000, 1
    from qiskit import qasm2

    ratio = float("nan")
    for kind in ("lines", "one-line", "expressions"):
        text = make_program(kind, args.statements)
        ours_ops, theirs_ops = len(loads(text).ops), len(qasm2.loads(text).data)
        if ours_ops != theirs_ops:
            raise SystemExit(f"{kind}: the readers disagree ({ours_ops} vs {theirs_ops} ops)")
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleaved rounds
            ours.append(time_reader(loads, text))
            theirs.append(time_reader(qasm2.loads, text))
        mb = len(text.encode()) / 1e6
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{kind:12s} {mb:7.2f} MB {ours_ops:8d} ops  qcstar {o:7.3f} s ({mb / o:6.2f} MB/s)  "
              f"qiskit {t:7.3f} s ({mb / t:6.2f} MB/s)  ratio {o / t:5.2f}")
        if kind == "lines":
            ratio = o / t
    print(f"ratio_vs_qiskit={ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main()
