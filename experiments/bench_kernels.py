"""Benchmark: a fidelity-kernel Gram from a Qiskit feature map, end to end, ours vs qiskit-machine-learning.

Data -> states -> Gram for N samples of ``zz_feature_map(n, reps=2)`` (default N = 1,000, n = 10):

* ours: ``FidelityKernel(feature_map=qc).evaluate(x)`` (the circuit converted once into a
  template, all N states in one batched simulation, the Gram by GEMM), constructor included;
* qiskit-machine-learning ``FidelityStatevectorKernel(feature_map=qc).evaluate(x)`` in the same
  process (a fresh kernel per run, so its statevector cache never carries over between runs);
* PennyLane ``qml.kernels.square_kernel_matrix`` (one compute-uncompute circuit per pair) at a
  small N, extrapolated to N by the pair count N(N-1)/2;
* the Gram step alone against a bare complex GEMM ``S @ S^H`` on the same states.

Medians of ``--repeats`` runs (``--ref-repeats`` for the slow qiskit-ml kernel); our end-to-end
runs are interleaved with qiskit-ml's, so that a shared machine's load hits both alike. Results go to
``OUT/bench_kernels.json`` and ``OUT/bench_kernels.md``; ``--quick`` uses tiny sizes and a
temporary folder. The last line is ``ratio_end_to_end_vs_qiskit_ml=<qiskit-ml s / ours s>``.

Usage::

    python experiments/bench_kernels.py                 # N=1000, 10 qubits
    python experiments/bench_kernels.py --quick         # seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qcstar.circuits.files import write_atomic  # noqa: E402
from qcstar.kernels import FidelityKernel, fidelity_gram  # noqa: E402


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _pennylane_seconds_per_pair(n_qubits: int, reps: int, x: np.ndarray) -> tuple[float, np.ndarray]:
    """square_kernel_matrix on x, seconds per kernel entry: the ZZ feature map written natively in
    PennyLane (H, PhaseShift(2 x_i), CNOT-PhaseShift(2 (pi - x_i)(pi - x_j))-CNOT over all pairs, as
    Qiskit's zz_feature_map), compute-uncompute with the adjoint, the probability of |0...0>."""
    import pennylane as qml

    def zz(features):
        for _ in range(reps):
            for q in range(n_qubits):
                qml.Hadamard(q)
                qml.PhaseShift(2 * features[q], wires=q)
            for i in range(n_qubits):
                for j in range(i + 1, n_qubits):
                    qml.CNOT([i, j])
                    qml.PhaseShift(2 * (np.pi - features[i]) * (np.pi - features[j]), wires=j)
                    qml.CNOT([i, j])

    dev = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(dev)
    def overlap(a, b):
        zz(a)
        qml.adjoint(zz)(b)
        return qml.probs(wires=range(n_qubits))

    t0 = time.perf_counter()
    gram = qml.kernels.square_kernel_matrix(x, lambda a, b: overlap(a, b)[0], assume_normalized_kernel=True)
    pairs = len(x) * (len(x) - 1) / 2
    return (time.perf_counter() - t0) / pairs, np.asarray(gram)


def run(n_samples: int, n_qubits: int, reps: int, repeats: int, ref_repeats: int, pl_samples: int,
        seed: int) -> dict[str, Any]:
    from qiskit.circuit.library import zz_feature_map
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    x = np.random.default_rng(seed).uniform(0, np.pi, (n_samples, n_qubits))
    qc = zz_feature_map(n_qubits, reps=reps)

    def ours() -> np.ndarray:
        return FidelityKernel(feature_map=qc).evaluate(x)

    def qiskit_ml() -> np.ndarray:
        return FidelityStatevectorKernel(feature_map=qc, enforce_psd=False).evaluate(x)

    ours()  # warm-up: imports, thread pools, the simulator's plan cache
    # interleaved: our runs before and after each qiskit-ml run, so that both see the same load
    # on a shared machine; medians over all of them
    kernel = FidelityKernel(feature_map=qc)
    times: dict[str, list[float]] = {"ours": [], "states": [], "gram": [], "gemm": [], "ref": []}
    k_ours, k_ref = None, None

    def our_steps() -> None:  # end to end, then its steps, back to back
        nonlocal k_ours
        t, k_ours = _median_time(ours, 1)
        times["ours"].append(t)
        t, states = _median_time(lambda: kernel.states(x), 1)
        times["states"].append(t)
        times["gram"].append(_median_time(lambda: fidelity_gram(states, double=False), 1)[0])
        times["gemm"].append(_median_time(lambda: states @ states.conj().T, 1)[0])

    for _ in range(ref_repeats):
        for _ in range(repeats):
            our_steps()
        t, k_ref = _median_time(qiskit_ml, 1)
        times["ref"].append(t)
    for _ in range(repeats):
        our_steps()
    t_ours, t_states, t_gram, t_gemm, t_ref = (statistics.median(times[k]) for k in ("ours", "states", "gram", "gemm", "ref"))
    t_pl, pl_difference = None, None
    if pl_samples > 1:
        per_pair, k_pl = _pennylane_seconds_per_pair(n_qubits, reps, x[:pl_samples])
        t_pl = per_pair * n_samples * (n_samples - 1) / 2
        pl_difference = float(np.abs(k_pl - k_ours[:pl_samples, :pl_samples]).max())
    return {
        "n_samples": n_samples, "n_qubits": n_qubits, "reps": reps, "repeats": repeats, "ref_repeats": ref_repeats,
        "feature_map": f"qiskit.circuit.library.zz_feature_map({n_qubits}, reps={reps})",
        "dtype": str(kernel.dtype), "torch_threads": torch.get_num_threads(),
        "seconds": {"ours_end_to_end": t_ours, "ours_states": t_states, "ours_gram": t_gram, "bare_complex_gemm": t_gemm,
                    "qiskit_ml_end_to_end": t_ref, "pennylane_extrapolated": t_pl},
        "pennylane_measured_samples": pl_samples, "max_abs_kernel_difference_vs_pennylane": pl_difference,
        "max_abs_kernel_difference_vs_qiskit_ml": float(np.abs(k_ours - k_ref).max()),
        "ratio_end_to_end_vs_qiskit_ml": t_ref / t_ours,
        "ratio_gram_vs_bare_gemm": t_gram / t_gemm,
        "ratio_end_to_end_vs_pennylane": (t_pl / t_ours) if t_pl else None,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }


def _markdown(r: dict[str, Any]) -> str:
    s = r["seconds"]
    lines = [
        "# Fidelity-kernel Gram from a Qiskit feature map, end to end",
        "",
        f"N = {r['n_samples']} samples of `{r['feature_map']}`, {r['dtype']}, {r['torch_threads']} torch threads, "
        f"medians of {r['repeats']} runs ({r['ref_repeats']} for qiskit-ml). Machine: {r['machine']}.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| ours, end to end (convert once, one batched simulation, GEMM) | {s['ours_end_to_end']:.3f} |",
        f"| ours, states only | {s['ours_states']:.3f} |",
        f"| ours, Gram only | {s['ours_gram']:.4f} |",
        f"| bare complex GEMM S @ S^H | {s['bare_complex_gemm']:.4f} |",
        f"| qiskit-machine-learning FidelityStatevectorKernel | {s['qiskit_ml_end_to_end']:.2f} |",
    ]
    if s["pennylane_extrapolated"]:
        lines.append(f"| PennyLane square_kernel_matrix (measured at N={r['pennylane_measured_samples']}, "
                     f"extrapolated by pairs) | {s['pennylane_extrapolated']:.0f} |")
    lines += [
        "",
        f"End to end: {r['ratio_end_to_end_vs_qiskit_ml']:.1f}x qiskit-ml (goal >= 100x); "
        f"Gram / bare GEMM = {r['ratio_gram_vs_bare_gemm']:.2f} (goal <= 2); "
        f"max |K_ours - K_qiskit-ml| = {r['max_abs_kernel_difference_vs_qiskit_ml']:.1e}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="samples (default 1000)")
    ap.add_argument("--qubits", type=int, default=10, help="qubits = features (default 10)")
    ap.add_argument("--reps", type=int, default=2, help="feature-map repetitions (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="runs of our steps; the median is reported (default 5)")
    ap.add_argument("--ref-repeats", type=int, default=3, help="runs of the qiskit-ml kernel (default 3)")
    ap.add_argument("--pennylane-n", type=int, default=6, help="samples for the PennyLane pairwise kernel (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default experiments/results; --quick: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a temporary output folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.qubits, args.repeats, args.ref_repeats, args.pennylane_n = 24, 4, 1, 1, 3
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench_kernels_")) if args.quick else ROOT / "experiments" / "results")
    result = run(args.n, args.qubits, args.reps, args.repeats, args.ref_repeats, args.pennylane_n, args.seed)
    write_atomic(out / "bench_kernels.json", json.dumps(result, indent=2) + "\n")
    write_atomic(out / "bench_kernels.md", _markdown(result))
    print(_markdown(result))
    print(f"results in {out}")
    print(f"ratio_end_to_end_vs_qiskit_ml={result['ratio_end_to_end_vs_qiskit_ml']:.1f}")
    return result


if __name__ == "__main__":
    main()
