"""Small MNISQ-layout circuit data sets for the sequence tests (no AQCE: random circuits whose
class is the wire pair of their first block, so that every tokenizer can tell the classes apart)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from qcstar.circuits import Circuit
from qcstar.circuits.qasm import dumps

PAIRS = [(0, 1), (2, 3), (1, 3)]


def labelled_circuit(i: int, n_qubits: int = 4) -> tuple[Circuit, int]:
    g = torch.Generator().manual_seed(i)
    label = i % len(PAIRS)
    c = Circuit(n_qubits).x(i % n_qubits)
    for b in range(2 + i % 3):
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
        wires = PAIRS[label] if b == 0 else tuple(torch.randperm(n_qubits, generator=g)[:2].tolist())
        c.unitary(q.to(torch.complex128), list(wires))
    return c, label


def write_circuit_folder(root: Path, n: int, *, start: int = 0) -> Path:
    """An extracted-MNISQ-style folder: qasm/<i> (Dense, 17 digits), label/<i>, fidelity/<i>."""
    for kind in ("qasm", "label", "fidelity"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c, label = labelled_circuit(start + i)
        (root / "qasm" / str(i)).write_text(dumps(c, dense="dense"))
        (root / "label" / str(i)).write_text(str(label))
        (root / "fidelity" / str(i)).write_text("0.9")
    return root


def write_mnisq_zip(path: Path, n: int, *, start: int = 0) -> Path:
    """An MNISQ zip: 6-digit Dense files without semicolons, as MNISQ publishes them."""
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            c, label = labelled_circuit(start + i)
            z.writestr(f"mnisq/qasm/{i}", dumps(c, dense="dense", precision=6).replace(";", ""))
            z.writestr(f"mnisq/label/{i}", str(label))
            z.writestr(f"mnisq/fidelity/{i}", "0.9")
    return path
