"""E4 - kernels with shots: error and SVM accuracy against shots, noiseless and on a noisy fake IBM device.

For each encoder (amplitude on the 8x8 digits: 6 qubits; angle: 6 qubits from 6 principal
components; a briefly trained C*-net, 5 + 1 qubits, noiseless and fewer rows), each method (compute-uncompute, shadows = randomised measurements, projected) and
each shot count (10^2, 10^3, 10^4):

* ``torch``: noiseless shots from our simulator, N = 100 train / 50 test digits;
* ``aer:fake_torino:density``: FakeTorino's noise model, coupling map and gates in Aer's
  density-matrix simulator (exact noisy probabilities, then shots), N = 20 train / 10 test (Aer
  with transpilation costs ~0.3 s per circuit on this machine), without mitigation, with readout
  mitigation (mthree), with readout + depolarising correction, and with all three + PSD projection.

Each row records the training Gram's error against the exact kernel (relative Frobenius, max),
the SVM accuracy (``SVC(kernel="precomputed", C=1)``) beside the exact kernel's, and circuits,
executions and jobs. Shadows: ``shots`` is the budget per state, split as ``bases`` random
local Pauli bases x ``shots / bases`` shots each.

Resumable: each finished row appends a JSON line to ``<out>/e4_hardware.jsonl`` and reruns skip
it; every kernel evaluation keeps run_chunked manifests under ``--work`` (default
``$TMPDIR/e4_manifests``; large, so never under ``experiments/results/``), so the
mitigation variants of a setting reuse its measured circuits (only calibration and diagonal
circuits are new). ``e4_hardware.md`` / ``.png`` are rebuilt from the JSON lines.

Run::

    python experiments/e4_hardware.py --quick          # seconds: tiny sizes, FakeManila (5 qubits)
    nice -n 10 python experiments/e4_hardware.py       # the table in experiments/results/
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _cli import RESULTS, append_json_line, comma_choices, quick_output, read_json_lines, run_script, pyplot, save_png

MACHINE = "2-core x86_64 VM, no GPU (shared with other jobs), 1 torch thread, niced"
METHODS = ("compute-uncompute", "shadows", "projected")
VARIANTS = {"none": (), "readout": ("readout",), "readout+depolarizing": ("readout", "depolarizing"),
            "readout+depolarizing+psd": ("readout", "depolarizing")}


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"encoders": {"angle": 3, "cstar": 2}, "limited": {"cstar": {"shadows": []}}, "noiseless": {"n_train": 10, "n_test": 6, "shots": [200]},
                "noisy": {"backend": "aer:fake_manila_v2:density", "n_train": 6, "n_test": 4, "shots": [500]},
                "noisy_methods": ("compute-uncompute", "projected"), "bases": 10, "noisy_bases": 5}
    return {"encoders": {"amplitude": 6, "angle": 6, "cstar": 5},
            # the C*-net's template simulates ~20x slower than the amplitude tree: fewer rows, noiseless only
            "limited": {"cstar": {"compute-uncompute": [1000], "shadows": [1000]}},
            "noiseless": {"n_train": 100, "n_test": 50, "shots": [100, 1000, 10000]},
            "noisy": {"backend": "aer:fake_torino:density", "n_train": 20, "n_test": 10, "shots": [1000, 10000]},
            "bases": 100, "noisy_bases": 20}


def encoder_for(name: str, qubits: int, x_train: Any, y_train: Any) -> Any:
    from qcstar.encoders import AmplitudeEncoder, AngleEncoder

    if name == "amplitude":
        return AmplitudeEncoder(max_value=1.0)
    if name == "cstar":  # a C*-net (d = 2 circuits, so one index qubit) trained briefly on the training digits
        import torch

        from qcstar import QCStarNet
        from qcstar.encoders import CStarEncoder
        from qcstar.train import fit

        torch.manual_seed(0)
        net = QCStarNet(n_qubits=qubits, n_circuits=2, n_layers=2, n_classes=10, in_shape=(8, 8), interaction_init=0.05)
        fit(net, {"train": (x_train, y_train)}, epochs=8, progress=False, select="last", seed=0)
        return CStarEncoder(net)
    # scale 1.5: kernel values spread over (0, 1) (pi concentrates them near 0: 88 % vs 84 % exact accuracy here)
    return AngleEncoder(n_qubits=qubits, pca=qubits, max_value=1.0, scale=1.5).fit(x_train)


def row_key(row: dict) -> tuple:
    return (row["encoder"], row["backend"], row["method"], row["shots"], row["variant"])


def evaluate(kernel_of: Any, method: str, x_tr: Any, x_te: Any, psd: bool) -> tuple[Any, Any, list]:
    """(train Gram, test x train block, reports): O(N) methods measure train + test once."""
    import numpy as np
    import torch

    from qcstar.kernels import enforce_psd

    if method == "compute-uncompute":
        k_train, k_test = kernel_of("train"), kernel_of("test")
        gram, test = k_train.evaluate(x_tr), k_test.evaluate(x_te, x_tr)
        reports = [k_train.last_run_, k_test.last_run_]
    else:
        k = kernel_of("all")
        full = k.evaluate(torch.cat([torch.as_tensor(x_tr), torch.as_tensor(x_te)]))
        n = len(x_tr)
        gram, test = full[:n, :n], full[n:, :n]
        reports = [k.last_run_]
    if psd:
        gram = enforce_psd(np.asarray(gram))
    return gram, test, reports


def run_row(spec: dict, data: dict, backend: Any, work: Path) -> dict:
    import numpy as np
    from sklearn.svm import SVC

    from qcstar.kernels import FidelityKernel, ProjectedKernel

    x_tr, y_tr, x_te, y_te, enc, exact = (data[k] for k in ("x_tr", "y_tr", "x_te", "y_te", "encoder", "exact"))
    method, shots, variant = spec["method"], spec["shots"], spec["variant"]
    mitigation = VARIANTS[variant]
    bases = spec.get("bases", 1)
    per_circuit = max(1, shots // bases) if method == "shadows" else shots
    folder = work / f"{spec['encoder']}-{spec['backend'].replace(':', '_')}-{method}-{shots}"

    def kernel_of(part: str) -> Any:
        common = dict(encoder=enc, backend=backend, shots=per_circuit, seed=4, mitigation=mitigation,
                      manifest=folder / f"{part}.json")
        if method == "projected":
            return ProjectedKernel(**common)
        return FidelityKernel(method=method, n_bases=bases, **common)

    t0 = time.perf_counter()
    gram, test, reports = evaluate(kernel_of, method, x_tr, x_te, variant.endswith("psd"))
    seconds = time.perf_counter() - t0
    ex_train, ex_test = exact["projected" if method == "projected" else "fidelity"]
    svc = SVC(kernel="precomputed", C=1.0)
    accuracy = float(svc.fit(gram, y_tr).score(test, y_te))
    return {
        **spec, "n_train": len(y_tr), "n_test": len(y_te), "shots_per_circuit": per_circuit,
        "error_frobenius_relative": float(np.linalg.norm(gram - ex_train) / np.linalg.norm(ex_train)),
        "error_max": float(np.abs(gram - ex_train).max()), "test_error_max": float(np.abs(test - ex_test).max()),
        "accuracy": accuracy, "exact_accuracy": data["exact_accuracy"]["projected" if method == "projected" else
                                                                       "fidelity"],
        "circuits": sum(r.circuits for r in reports), "executions": sum(r.executions for r in reports),
        "jobs": sum(r.jobs for r in reports), "calibration_circuits": sum(r.calibration_circuits for r in reports),
        "seconds": round(seconds, 2), "machine": MACHINE,
    }


def load_data(n_train: int, n_test: int, encoder: str, qubits: int) -> dict:
    import torch
    from sklearn.svm import SVC

    from qcstar.data import load_split
    from qcstar.kernels import FidelityKernel, ProjectedKernel

    splits = load_split("digits", n_train=n_train, n_test=n_test, n_val=0, seed=0)
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    enc = encoder_for(encoder, qubits, x_tr, y_tr)
    exact, exact_accuracy = {}, {}
    for name, kernel in (("fidelity", FidelityKernel(encoder=enc, dtype=torch.complex128)),
                         ("projected", ProjectedKernel(encoder=enc, dtype=torch.complex128))):
        exact[name] = (kernel.evaluate(x_tr), kernel.evaluate(x_te, x_tr))
        exact_accuracy[name] = float(SVC(kernel="precomputed", C=1.0).fit(exact[name][0], y_tr.numpy())
                                     .score(exact[name][1], y_te.numpy()))
    return {"x_tr": x_tr, "y_tr": y_tr.numpy(), "x_te": x_te, "y_te": y_te.numpy(), "encoder": enc, "exact": exact,
            "exact_accuracy": exact_accuracy}


def specs(cfg: dict) -> list[dict]:
    out = []
    for encoder, qubits in cfg["encoders"].items():
        limited = cfg.get("limited", {}).get(encoder)
        for shots in cfg["noiseless"]["shots"]:
            for method in METHODS:
                if limited is not None and shots not in limited.get(method, [shots]):
                    continue
                out.append({"encoder": encoder, "qubits": qubits, "backend": "torch", "method": method, "shots": shots,
                            "variant": "none", "bases": cfg["bases"] if method == "shadows" else 1})
        noisy = cfg["noisy"]
        for shots in noisy["shots"] if limited is None else []:
            for method in cfg.get("noisy_methods", METHODS):
                if method == "shadows" and shots != noisy["shots"][0]:
                    continue  # the slowest noisy rows (N x bases circuits): one shot count
                variants = ["none", "readout"] if method == "projected" else list(VARIANTS)
                if method == "shadows":
                    variants = ["none", "readout", "readout+depolarizing"]
                for variant in variants:
                    out.append({"encoder": encoder, "qubits": qubits, "backend": noisy["backend"], "method": method,
                                "shots": shots, "variant": variant,
                                "bases": cfg["noisy_bases"] if method == "shadows" else 1})
    return out


def report(rows: list[dict], out: Path, command: str, *, with_plot: bool = True) -> None:
    from qcstar.circuits.files import write_atomic

    lines = [
        "# E4: kernels with shots, noiseless and on a noisy fake IBM device",
        "",
        f"Command: `{command}`. Machine: {MACHINE}. Data: sklearn digits (8x8), seeded splits; amplitude encoding "
        "(6 qubits), angle encoding (6 qubits, 6 principal components, angle 1.5 x component) and a C*-net encoder (5 + 1 "
        "qubits, d = 2 circuits, trained 8 epochs on the 100 training digits; noiseless rows only, compute-uncompute and "
        "shadows at 10^3 shots only: its circuits simulate ~20x slower). Scaled: noiseless rows use N = 100 train / 50 test as "
        "asked; noisy rows (Aer density matrix with FakeTorino's noise, transpiled per circuit) use N = 20 / 10 "
        "because each circuit costs ~0.3 s here; noisy shadows only at the first shot count. Shadows: `shots` is "
        "the per-state budget, `bases` random Pauli bases x shots/bases each. Errors are of the training Gram "
        "against the exact kernel; accuracy of SVC(precomputed, C=1) on the test block (exact kernel's beside).",
        "",
        "| encoder | backend | method | shots | mitigation | N train/test | rel. Frobenius error | max error | "
        "accuracy (exact) | circuits | executions | jobs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {m: i for i, m in enumerate(METHODS)}
    variants = list(VARIANTS)
    rows = sorted(rows, key=lambda r: (r["encoder"], r["backend"] != "torch", order[r["method"]], r["shots"],
                                       variants.index(r["variant"])))
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['backend']} | {r['method']} | {r['shots']} | {r['variant']} | "
            f"{r['n_train']}/{r['n_test']} | {r['error_frobenius_relative']:.4f} | {r['error_max']:.4f} | "
            f"{100 * r['accuracy']:.1f} % ({100 * r['exact_accuracy']:.1f} %) | {r['circuits']} | "
            f"{r['executions']:.3g} | {r['jobs']} |")
    lines += ["", where_each_wins(rows), "", mitigation_summary(rows)]
    write_atomic(out / "e4_hardware.md", "\n".join(lines) + "\n")
    if with_plot:
        plot(rows, out / "e4_hardware.png")


def where_each_wins(rows: list[dict]) -> str:
    """Per encoder, at the largest noiseless shot count: each method's error and executions, and
    where shadows (O(N) circuits) would overtake compute-uncompute (O(N^2) circuits).

    Errors shrink as 1/sqrt(executions) for a fixed sample count, so shadows reach
    compute-uncompute's error with ``(e_sh / e_cu)^2 * X_sh`` executions; compute-uncompute's
    executions grow as N^2 and shadows' as N, so shadows are cheaper beyond
    ``N * (e_sh / e_cu)^2 * X_sh / X_cu``."""
    parts = []
    for encoder in sorted({r["encoder"] for r in rows}):
        clean = [r for r in rows if r["encoder"] == encoder and r["backend"] == "torch"]
        if not clean:
            continue
        counts = [set(r["shots"] for r in clean if r["method"] == m) for m in METHODS]
        common = set.intersection(*counts) if all(counts) else set()
        top = max(common) if common else max(r["shots"] for r in clean)
        by_method = {r["method"]: r for r in clean if r["shots"] == top}
        text = f"**{encoder}** (noiseless, {top} shots): " + "; ".join(
            f"{m} error {r['error_frobenius_relative']:.3f} with {r['executions']:.3g} executions"
            for m, r in sorted(by_method.items()))
        cu, sh = by_method.get("compute-uncompute"), by_method.get("shadows")
        if cu and sh and cu["error_frobenius_relative"] > 0:
            factor = (sh["error_frobenius_relative"] / cu["error_frobenius_relative"]) ** 2 * sh["executions"] \
                / cu["executions"]
            n = cu["n_train"] + cu["n_test"]
            text += (f". Shadows would need {factor:.3g}x compute-uncompute's executions for its error at N = {n} "
                     f"(if their error shrinks as 1/sqrt(executions), i.e. with more bases); with O(N) against "
                     f"O(N^2) circuits they win beyond N ~ {n * factor:.3g} samples")
        parts.append(text + ".")
    return "\n\n".join(["## Where each method wins", *parts]) if parts else ""


def mitigation_summary(rows: list[dict]) -> str:
    """Per noisy setting, the error after each mitigation step (each step's effect at a glance)."""
    groups: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r["backend"] != "torch":
            groups.setdefault((r["encoder"], r["method"], r["shots"], r["backend"]), {})[r["variant"]] = \
                r["error_frobenius_relative"]
    lines = ["## Mitigation on the noisy device (relative Frobenius error of the training Gram)", ""]
    for (encoder, method, shots, backend), errors in sorted(groups.items()):
        steps = " -> ".join(f"{v} {errors[v]:.3f}" for v in VARIANTS if v in errors)
        lines.append(f"* {encoder}, {method}, {shots} shots ({backend}): {steps}")
    return "\n".join(lines) if len(lines) > 2 else ""


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    encoders = sorted({r["encoder"] for r in rows})
    if not encoders:
        return
    fig, axes = plt.subplots(1, len(encoders), figsize=(6 * len(encoders), 4), squeeze=False)
    for ax, encoder in zip(axes[0], encoders):
        for (backend, variant), style in ((("torch", "none"), "-"), (("noisy", "none"), ":"),
                                          (("noisy", "readout+depolarizing"), "--")):
            for method, colour in zip(METHODS, ("C0", "C1", "C2")):
                pts = sorted((r["shots"], r["error_frobenius_relative"]) for r in rows
                             if r["encoder"] == encoder and r["method"] == method and r["variant"] == variant
                             and (r["backend"] == "torch") == (backend == "torch"))
                if pts:
                    ax.plot(*zip(*pts), style, color=colour, marker="o",
                            label=f"{method}, {'noiseless' if backend == 'torch' else 'noisy ' + variant}")
        ax.set(xscale="log", yscale="log", xlabel="shots", ylabel="relative Frobenius error of the Gram",
               title=f"{encoder} encoding")
        ax.legend(fontsize=6)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds: tiny sizes, FakeManila")
    parser.add_argument("--out", default=None, help="output folder (default experiments/results)")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plot from the JSON lines")
    parser.add_argument("--encoders", default=None,
                        help="comma-separated subset of the encoders to run (default all: amplitude, angle, cstar)")
    parser.add_argument("--work", default=None,
                        help="folder of the job manifests and measured counts (default: e4_manifests in the system's "
                             "temporary folder; --quick: inside its output folder). Large: never in results/")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    out = quick_output(parser, args.out, name="e4_hardware") if args.quick else Path(args.out or RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/e4_hardware.py" + (" --quick" if args.quick else "")
    jsonl = out / "e4_hardware.jsonl"
    rows = read_json_lines(jsonl)
    if not args.report:
        from qcstar.circuits.backends import get_backend

        cfg = settings(args.quick)
        import tempfile

        work = Path(args.work) if args.work else (out if args.quick else Path(tempfile.gettempdir())) / "e4_manifests"
        done = {row_key(r) for r in rows}
        backends: dict[str, Any] = {}
        data: dict[tuple, dict] = {}
        chosen = None if args.encoders is None else comma_choices(parser, "--encoders", args.encoders, cfg["encoders"])
        for spec in specs(cfg):
            if row_key(spec) in done or (chosen is not None and spec["encoder"] not in chosen):
                continue
            noisy = spec["backend"] != "torch"
            sizes = cfg["noisy" if noisy else "noiseless"]
            key = (spec["encoder"], noisy)
            if key not in data:
                data[key] = load_data(sizes["n_train"], sizes["n_test"], spec["encoder"], spec["qubits"])
            if spec["backend"] not in backends:
                backends[spec["backend"]] = get_backend(spec["backend"])
            row = run_row(spec, data[key], backends[spec["backend"]], work)
            row["command"] = command
            append_json_line(jsonl, row)
            rows.append(row)
            print(f"{row['encoder']:9s} {row['backend']:24s} {row['method']:17s} {row['shots']:6d} {row['variant']:26s} "
                  f"err {row['error_frobenius_relative']:.4f} acc {100 * row['accuracy']:.1f} % "
                  f"({row['circuits']} circuits, {row['seconds']:.0f} s)", flush=True)
            report(rows, out, command, with_plot=False)  # the table after every row; the plot (seconds) once
    report(rows, out, command)
    best = min((r["error_frobenius_relative"] for r in rows), default=float("nan"))
    print(f"smallest_relative_error={best:.6g}")
    return 0


if __name__ == "__main__":
    run_script(main)
