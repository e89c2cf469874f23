"""``qcstar demo``: the main job, end to end, on the built-in default data.

Stage 1 (circuits): a batch of random 10-qubit circuits simulated at once, a few cross-checked
against Qiskit's ``Statevector``, one written as OpenQASM 2 and 3 and read back by Qiskit and
by us. Later stages (C*-net, encoders, kernels) run when their parts are installed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from circuits import Circuit, simulate

#: stages in order; each takes (args, report) and returns a dict of results
STAGES: list[tuple[str, Callable[[argparse.Namespace, dict[str, Any]], dict[str, Any]]]] = []


def stage(name: str):
    def register(fn):
        STAGES.append((name, fn))
        return fn

    return register


def random_batched_circuit(n: int, layers: int, batch: int, generator: torch.Generator) -> Circuit:
    """Layers of batched U3 rotations, a CNOT ladder, a random dense 2-qubit block and a multiplexed RY."""
    c = Circuit(n)
    for _ in range(layers):
        angles = (torch.rand(batch, n, 3, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
        for q in range(n):
            c.u(angles[:, q, 0], angles[:, q, 1], angles[:, q, 2], q)
        for q in range(n - 1):
            c.cx(q, q + 1)
        i, j = torch.randperm(n, generator=generator)[:2].tolist()
        z = torch.randn(4, 4, dtype=torch.complex128, generator=generator)
        c.unitary(torch.linalg.qr(z)[0], [i, j])
        target, *controls = torch.randperm(n, generator=generator)[:3].tolist()
        c.mux("ry", torch.rand(4, generator=generator, dtype=torch.float64) * math.pi, target, controls)
    return c


@stage("circuits")
def circuits_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    from circuits import qasm
    from circuits.interop import to_qiskit
    from qiskit import qasm2
    from qiskit.quantum_info import Statevector

    g = torch.Generator().manual_seed(args.seed)
    n, batch = args.qubits, args.batch
    circuit = random_batched_circuit(n, args.layers, batch, g)
    simulate(circuit)  # warm-up
    t0 = time.perf_counter()
    states = simulate(circuit)  # (B, 2**n) complex64
    seconds = time.perf_counter() - t0
    norm_err = float((states.abs().pow(2).sum(-1) - 1).abs().max())
    print(f"  simulated {batch} random {n}-qubit circuits ({len(circuit)} ops each) in {1e3 * seconds:.1f} ms; "
          f"max |norm - 1| = {norm_err:.1e}")

    exact = simulate(circuit, dtype=torch.complex128)
    worst = 0.0
    for i in range(min(3, batch)):
        ref = Statevector(to_qiskit(circuit, index=i)).data
        worst = max(worst, float((exact[i] - torch.from_numpy(ref)).abs().max()))
    print(f"  cross-check of 3 samples against qiskit.quantum_info.Statevector: max |difference| = {worst:.1e}")
    if worst > 1e-9:
        raise SystemExit(f"qcstar demo: simulator disagrees with Qiskit ({worst:.2e})")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    one = circuit.select(0)
    qasm.dump(one, out / "circuit.qasm", version=2, dense="decompose")
    qasm.dump(one, out / "circuit.qasm3", version=3, dense="decompose")
    text2 = (out / "circuit.qasm").read_text()
    theirs = torch.from_numpy(Statevector(qasm2.loads(text2)).data)
    overlap_qiskit = float(torch.vdot(theirs, exact[0]).abs())
    ours2 = simulate(qasm.loads(text2), dtype=torch.complex128)
    ours3 = simulate(qasm.load(out / "circuit.qasm3"), dtype=torch.complex128)
    err_ours = max(float((ours2 - exact[0]).abs().max()), float((ours3 - exact[0]).abs().max()))
    print(f"  wrote {out / 'circuit.qasm'} ({len(text2.splitlines())} lines) and {out / 'circuit.qasm3'}")
    print(f"  qiskit.qasm2.loads of our file: |<ours|theirs>| = {overlap_qiskit:.12f} (QASM 2 has no global phase)")
    print(f"  our loads of both files: max |difference| = {err_ours:.1e} (global phase kept in a comment)")
    return {
        "qubits": n, "batch": batch, "ops_per_circuit": len(circuit), "simulate_ms": 1e3 * seconds,
        "max_error_vs_qiskit": worst, "qasm2_overlap_with_qiskit": overlap_qiskit, "qasm_roundtrip_error": err_ours,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    from qcstar.cli import add_common

    p = subparsers.add_parser("demo", help="run the main job end to end on the built-in data (sklearn digits)")
    add_common(p)
    p.add_argument("--qubits", type=int, default=10, help="qubits of the random circuits (default 10)")
    p.add_argument("--layers", type=int, default=6, help="layers of the random circuits (default 6)")
    p.add_argument("--batch", type=int, default=256, help="random circuits simulated at once (default 256)")
    p.add_argument("--out", default="qcstar-demo", help="folder for the files the demo writes")
    p.add_argument("--stages", default=None, help="comma-separated subset of stages to run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    wanted = None if args.stages is None else set(args.stages.split(","))
    report: dict[str, Any] = {"seed": args.seed}
    t_all = time.perf_counter()
    for name, fn in STAGES:
        if wanted is not None and name not in wanted:
            continue
        print(f"[{name}]")
        t0 = time.perf_counter()
        report[name] = fn(args, report)
        report[name]["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, default=float))
    tmp.replace(out / "report.json")
    print(f"done in {time.perf_counter() - t_all:.1f} s; report written to {out / 'report.json'}")
    return 0
