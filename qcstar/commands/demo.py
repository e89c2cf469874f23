"""``qcstar demo``: the main job, end to end, on the built-in default data.

1. circuits: a batch of random 10-qubit circuits simulated at once, a few cross-checked against
   Qiskit's ``Statevector``, one written as OpenQASM 2 and 3 and read back by Qiskit and by us.
2. cstar: the quantum circuit C*-algebra net trained on scikit-learn's 8x8 digits with and
   without interaction, exported to a circuit that simulates to the net's joint state.
3. encoders: exact amplitude encoding (state-preparation circuits) and MNISQ's AQCE.
4. kernels: fidelity-kernel SVMs on the encoded states, each beside its classical twin.
5. sequence: a tiny S4D on gate tokens of AQCE circuits of digits, beside the fidelity kernel on them.

Then ``report.md`` in the output folder: each stage's key numbers, the command and the machine,
and PNG plots (training curves, a Gram-matrix heat map, accuracy bars) when matplotlib (the
``plot`` extra) is installed.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from qcstar.circuits import Circuit, simulate
from qcstar.circuits.files import write_atomic

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
    from qcstar.circuits import qasm
    from qcstar.circuits.interop import to_qiskit
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


@stage("cstar")
def cstar_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """Train the C*-algebra net on the built-in digits with and without interaction."""
    from qcstar.circuits import qasm
    from qcstar.net import QCStarNet
    from qcstar.train import fit

    data = _digits(report, args)
    out = Path(args.out)
    nets, rows = {}, {}
    for interaction in ("none", "global"):
        net = QCStarNet(
            n_qubits=6, n_circuits=4, n_layers=3, n_classes=10, in_shape=(8, 8), interaction=interaction,
            interaction_init=0.05 if interaction == "global" else 0.0, seed=args.seed,
        )
        res = fit(net, data, epochs=args.epochs, batch_size=64, lr=0.03, seed=args.seed,
                  out_dir=out / f"cstar_{interaction}", resume=False, progress=False,
                  callback=_epoch_line(f"interaction={interaction}", args.epochs))
        nets[interaction] = net
        report.setdefault("_curves", {})[interaction] = res["history"]
        rows[interaction] = {"test_acc": float(res["test"]["acc"]), "params": int(res["params"]["total"])}
        print(f"  C*-net n=6, d=4, L=3, interaction={interaction:6s}: test accuracy {rows[interaction]['test_acc']:.3f} "
              f"({rows[interaction]['params']} parameters, {args.epochs} epochs)")
    net = nets["global"]
    x0 = data["test"][0][:1]
    with torch.no_grad():
        joint = net.joint_states(x0, source=0).to(torch.complex128)[0]
        exported = net.to_circuit(x0[0])
        hardware = net.to_circuit(x0[0], form="hardware")
        err = max(float((simulate(c, dtype=torch.complex128) - joint).abs().max()) for c in (exported, hardware))
    print(f"  exported to a circuit on {exported.n_qubits} qubits ({len(exported)} ops; hardware form {len(hardware)} ops): "
          f"max |simulated - joint state| = {err:.1e}")
    try:
        qasm.dump(hardware, out / "cstar_hardware.qasm", version=2, dense="decompose")
        from qiskit import qasm2
        from qiskit.quantum_info import Statevector

        theirs = torch.from_numpy(Statevector(qasm2.loads((out / "cstar_hardware.qasm").read_text())).data)
        qiskit_overlap = float(torch.vdot(theirs, joint).abs())
        print(f"  wrote {out / 'cstar_hardware.qasm'} (RY/RZ + CX); qiskit.qasm2.loads of it: |<qiskit|net>| = {qiskit_overlap:.8f}")
    except Exception as exc:  # the hardware form may keep an a-qubit unitary that QASM 2 cannot express
        print(f"  (QASM export of the hardware form skipped: {exc})")
    report["_nets"] = nets
    return {**{f"test_acc_{k}": v["test_acc"] for k, v in rows.items()}, "params": rows["global"]["params"],
            "export_error": err, "qasm_overlap_with_qiskit": locals().get("qiskit_overlap")}


@stage("encoders")
def encoders_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """Amplitude (exact) and AQCE (approximate) encodings of digits, checked against their circuits."""
    from qcstar.encoders import AmplitudeEncoder, AQCEEncoder

    images = _digits(report, args)["test"][0]
    amp = AmplitudeEncoder(n_qubits=6, max_value=1.0)
    states = amp.states(images[:4])
    err = max(float((simulate(c, dtype=torch.complex128) - s).abs().max()) for c, s in zip(amp.circuits(images[:4]), states))
    print(f"  AmplitudeEncoder: {amp.n_qubits} qubits, state-preparation circuits equal the states to {err:.1e}")
    n = min(args.aqce_images, images.shape[0])
    # two batches of the default 16 so that the progress bar moves halfway (the circuits do not depend
    # on the batch size); never below 8: AQCE's steps are batched, and small batches cost more in all
    aqce = AQCEEncoder(level="f80", n_qubits=6, batch_size=max(8, math.ceil(n / 2)), progress=True)
    t0 = time.perf_counter()
    res = aqce.encode(images[:n])
    secs = time.perf_counter() - t0
    print(f"  AQCEEncoder f80 ({int(res.n_blocks.max())} two-qubit blocks) on {n} digits in {secs:.1f} s: overlap "
          f"mean {float(res.overlap.mean()):.4f}, min {float(res.overlap.min()):.4f}")
    return {"amplitude_circuit_error": err, "aqce_images": n, "aqce_mean_overlap": float(res.overlap.mean()),
            "aqce_min_overlap": float(res.overlap.min()), "aqce_seconds": secs}


@stage("kernels")
def kernels_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """Fidelity-kernel SVMs on the encoded states, each beside its classical twin."""
    import numpy as np
    from sklearn.svm import SVC

    from qcstar.encoders import AmplitudeEncoder, CStarEncoder
    from qcstar.kernels import FidelityKernel, one_vs_one_accuracy

    data = _digits(report, args)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    ytr, yte = ytr.numpy(), yte.numpy()
    k = FidelityKernel(dtype=torch.complex128)
    rows: dict[str, float] = {}

    def svm(name: str, encoder) -> torch.Tensor:
        s_tr, s_te = encoder.states(xtr), encoder.states(xte)
        rows[name] = one_vs_one_accuracy(k.evaluate(s_tr), ytr, k.evaluate(s_te, s_tr), yte)
        return s_te

    amplitude_test = svm("quantum: fidelity kernel on amplitude states", AmplitudeEncoder(n_qubits=6, max_value=1.0))
    # the report's heat map: the test states are already encoded, their Gram is one small GEMM
    report["_gram_test"] = (k.evaluate(amplitude_test), yte)
    ftr, fte = xtr.reshape(len(xtr), -1).double().numpy(), xte.reshape(len(xte), -1).double().numpy()
    ntr, nte = ftr / np.linalg.norm(ftr, axis=1, keepdims=True), fte / np.linalg.norm(fte, axis=1, keepdims=True)
    rows["classical twin: cos^2 kernel on pixels"] = one_vs_one_accuracy((ntr @ ntr.T) ** 2, ytr, (nte @ ntr.T) ** 2, yte)
    nets = report.get("_nets", {})
    for interaction, net in nets.items():
        svm(f"quantum: fidelity kernel on C*-net states ({interaction})", CStarEncoder(net))
    rows["classical: RBF SVC on pixels"] = float(SVC(C=1.0).fit(ftr, ytr).score(fte, yte))
    for name, acc in rows.items():
        print(f"  {acc:.3f}  {name}")
    return {"svm_test_accuracy": rows, "n_train": len(ytr), "n_test": len(yte)}


@stage("shots")
def shots_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """A small fidelity kernel estimated with shots on a noisy fake IBM device (Aer with FakeManilaV2's
    noise), raw and mitigated, against the exact kernel (README, "Kernels with shots")."""
    import tempfile

    import numpy as np

    from qcstar.circuits.optionals import HAS_AER, HAS_IBM_RUNTIME

    if not (HAS_AER and HAS_IBM_RUNTIME):
        print("  skipped: the noisy fake IBM backend needs qiskit-aer and qiskit-ibm-runtime "
              "(pip install 'qcstar[aer,ibm]')")
        return {"skipped": "qiskit-aer or qiskit-ibm-runtime is not installed"}
    from qcstar.circuits.backends import get_backend
    from qcstar.data import load_split
    from qcstar.encoders import AmplitudeEncoder
    from qcstar.kernels import FidelityKernel
    from qcstar.kernels.shots import MITIGATIONS

    # 12 digits at 4x4 pixels: 4 qubits, the 5-qubit device's size; 66 compute-uncompute circuits
    x = load_split("digits", size=4, seed=args.seed, n_train=12, n_test=1, n_val=0)["train"][0]
    encoder = AmplitudeEncoder(max_value=1.0)
    exact = FidelityKernel(encoder=encoder, dtype=torch.complex128).evaluate(x)
    backend = get_backend("aer:fake_manila_v2:density")
    shots = 2000
    out: dict[str, Any] = {"backend": backend.name, "n_images": len(x), "n_qubits": 4, "shots": shots}
    with tempfile.TemporaryDirectory() as folder:  # one manifest: the mitigated run reuses the raw run's jobs
        for label, mitigation in (("raw", ()), ("mitigated", MITIGATIONS)):
            kernel = FidelityKernel(encoder=encoder, backend=backend, shots=shots, seed=args.seed,
                                    mitigation=mitigation, enforce_psd=bool(mitigation),
                                    manifest=Path(folder) / "shots.json")
            gram = kernel.evaluate(x)
            error = float(np.linalg.norm(gram - exact) / np.linalg.norm(exact))
            out[f"relative_error_{label}"] = error
            if label == "raw":
                out["circuits"], out["executions"] = kernel.last_run_.circuits, kernel.last_run_.executions
            print(f"  {label:9s} kernel ({', '.join(mitigation) or 'no mitigation'}{', PSD' if mitigation else ''}): "
                  f"relative error {error:.3f} against the exact kernel")
    print(f"  {out['circuits']} circuits x {shots} shots on {backend.name}")
    return out


@stage("sequence")
def sequence_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """A tiny S4D on gate tokens of the digits' 6-qubit AQCE circuits, beside the fidelity kernel on the
    states of the same circuits (README: "Sequence models on QASM")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and a busy machine does not stall it
    try:
        return _sequence_stage(args, report)
    finally:
        torch.set_num_threads(threads)


def _sequence_stage(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    from qcstar.circuits.tokens import GateTokenizer
    from qcstar.encoders import AQCEEncoder
    from qcstar.kernels import FidelityKernel, one_vs_one_accuracy
    from qcstar.sequence import make_model
    from qcstar.train import fit

    data = _digits(report, args)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    n_train, n_test = min(240, len(ytr)), min(120, len(yte))
    # a short AQCE (at most 12 blocks, one sweep) keeps the stage within seconds
    aqce = AQCEEncoder(level=None, target_overlap=0.99, n_qubits=6, max_blocks=12, sweeps=1, batch_size=n_train)
    t0 = time.perf_counter()
    enc_tr, enc_te = aqce.encode(xtr[:n_train]), aqce.encode(xte[:n_test])
    circ_tr = [enc_tr.circuit(i) for i in range(n_train)]
    circ_te = [enc_te.circuit(i) for i in range(n_test)]
    t_aqce = time.perf_counter() - t0
    tok = GateTokenizer(n_qubits=6)
    splits = {"train": (tok.encode_batch(circ_tr), ytr[:n_train]), "test": (tok.encode_batch(circ_te), yte[:n_test])}
    torch.manual_seed(args.seed)
    model = make_model("s4d", vocab_size=tok.vocab_size, n_features=tok.n_features, n_classes=10, d_model=32,
                       n_layers=2, d_state=16, dropout=0.0)
    res = fit(model, splits, epochs=12, batch_size=16, lr=1e-2, weight_decay=0.01, seed=args.seed, progress=False,
              select="last")
    from qcstar.data.read import circuit_states

    states_tr, states_te = circuit_states(circ_tr), circuit_states(circ_te)
    k = FidelityKernel(dtype=torch.complex128)
    kernel_acc = one_vs_one_accuracy(k.evaluate(states_tr), ytr[:n_train].numpy(), k.evaluate(states_te, states_tr),
                                     yte[:n_test].numpy())
    rate = sum(h["tokens_per_s"] for h in res["history"]) / len(res["history"])
    blocks = float(enc_tr.n_blocks.double().mean())
    print(f"  AQCE ({blocks:.1f} blocks, overlap {float(enc_tr.overlap.mean()):.3f}) on {n_train} + {n_test} digits "
          f"in {t_aqce:.1f} s; gate tokens: {splits['train'][0].lengths.double().mean():.1f} per circuit")
    print(f"  {res['test']['acc']:.3f}  S4D on gate tokens ({res['params']['total']:,} parameters, 12 epochs, "
          f"{rate:,.0f} tokens/s)")
    print(f"  {kernel_acc:.3f}  fidelity-kernel SVM on the same circuits' states")
    return {"s4d_test_acc": res["test"]["acc"], "kernel_test_acc": kernel_acc, "n_train": n_train, "n_test": n_test,
            "aqce_mean_blocks": blocks, "s4d_params": res["params"]["total"], "s4d_train_seconds": res["seconds"],
            "s4d_tokens_per_s": rate}


def _epoch_line(what: str, epochs: int) -> Callable[[int, dict[str, Any]], None]:
    """A ``fit`` callback printing one line per epoch: training is the demo's longest stage."""
    def show(epoch: int, metrics: dict[str, Any]) -> None:
        val = f", val acc {metrics['val_acc']:.3f}" if "val_acc" in metrics else ""
        print(f"    {what}: epoch {epoch}/{epochs}, train loss {metrics['train_loss']:.3f}{val} "
              f"({metrics['seconds']:.1f} s)", flush=True)

    return show


def _digits(report: dict[str, Any], args: argparse.Namespace):
    if "_data" not in report:
        from qcstar.data import load_split

        report["_data"] = load_split("digits", size=8, seed=args.seed, n_train=args.train_images)
    return report["_data"]


def _stages(text: str) -> str:
    names = {name for name, _ in STAGES}
    wanted = [w.strip() for w in text.split(",")]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown stage(s) {', '.join(map(repr, unknown))}; expected a comma-separated subset of "
            + ",".join(name for name, _ in STAGES))
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    from qcstar.cli import add_common

    from qcstar.cli import positive_int

    p = subparsers.add_parser("demo", help="run the main job end to end on the built-in data (sklearn digits)",
                              allow_abbrev=False)
    add_common(p)
    p.add_argument("--qubits", type=positive_int, default=10, help="qubits of the random circuits (default 10)")
    p.add_argument("--layers", type=positive_int, default=6, help="layers of the random circuits (default 6)")
    p.add_argument("--batch", type=positive_int, default=256, help="random circuits simulated at once (default 256)")
    p.add_argument("--out", default="qcstar-demo", help="folder for the files the demo writes")
    p.add_argument("--epochs", type=positive_int, default=8, help="training epochs of the C*-nets (default 8)")
    p.add_argument("--train-images", type=positive_int, default=None,
                   help="cap on the training digits of the C*-nets and kernels (default all)")
    p.add_argument("--aqce-images", type=positive_int, default=16, help="digits encoded by AQCE (default 16)")
    p.add_argument("--stages", type=_stages, default=None,
                   help="comma-separated subset of: " + ",".join(name for name, _ in STAGES))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qcstar.train import make_folder

    make_folder(args.out)  # fail before minutes of work, not after
    torch.manual_seed(args.seed)
    wanted = None if args.stages is None else {w.strip() for w in args.stages.split(",")}
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
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    write_atomic(out / "report.json", json.dumps(public, indent=2, default=float))
    write_report(out, args, report)
    print(f"done in {time.perf_counter() - t_all:.1f} s; report written to {out / 'report.json'} and {out / 'report.md'}")
    return 0


# --------------------------------------------------------------------------------------
# report.md and its plots
# --------------------------------------------------------------------------------------

#: the demo's options, in the order the report's command line states them
_OPTIONS = ("qubits", "layers", "batch", "epochs", "train_images", "aqce_images", "stages", "seed", "out")


def _command(args: argparse.Namespace) -> str:
    """The command line that reruns this demo, every option spelled out (defaults included)."""
    parts = ["qcstar demo"]
    for name in _OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            parts.append(f"--{name.replace('_', '-')} {value}")
    return " ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}"  # errors and tolerances
    return f"{value:.6g}"


def _table(results: dict[str, Any]) -> list[str]:
    """A two-column markdown table of a stage's results; nested dicts become ``key: subkey`` rows."""
    lines = ["| quantity | value |", "|---|---|"]
    for key, value in results.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            name = key if sub is None else f"{key}: {sub}"
            lines.append(f"| {name.replace('|', '/')} | {_number(v)} |")
    return lines


def _save_png(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def _plot_curves(plt: Any, curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    for interaction, history in curves.items():
        epochs = [h["epoch"] for h in history]
        label = f"interaction={interaction}"
        if all("val_acc" in h for h in history):
            acc_ax.plot(epochs, [h["val_acc"] for h in history], marker="o", label=label)
        loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label=label)
    acc_ax.set(title="C*-net validation accuracy", xlabel="epoch", ylabel="validation accuracy")
    loss_ax.set(title="C*-net training loss", xlabel="epoch", ylabel="cross-entropy loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    _save_png(fig, path)
    plt.close(fig)


def _plot_gram(plt: Any, gram: Any, labels: Any, path: Path) -> None:
    import numpy as np

    order = np.argsort(labels, kind="stable")  # sorted by class: same-class blocks on the diagonal
    sorted_labels = labels[order]
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    image = ax.imshow(gram[np.ix_(order, order)], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, label=r"fidelity $|\langle a|b\rangle|^2$")
    # a tick at the middle of each class block, a line at each block's edge
    classes, starts = np.unique(sorted_labels, return_index=True)
    ends = np.append(starts[1:], len(sorted_labels))
    ax.set_xticks((starts + ends - 1) / 2, [str(c) for c in classes])
    ax.set_yticks((starts + ends - 1) / 2, [str(c) for c in classes])
    for edge in starts[1:]:
        ax.axhline(edge - 0.5, color="white", lw=0.4)
        ax.axvline(edge - 0.5, color="white", lw=0.4)
    ax.set(title=f"Fidelity kernel on amplitude states\n{len(labels)} test digits, sorted by class",
           xlabel="test digit (class)", ylabel="test digit (class)")
    _save_png(fig, path)
    plt.close(fig)


def _plot_accuracy(plt: Any, accuracies: dict[str, float], path: Path) -> None:
    names = list(accuracies)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    colors = ["tab:blue" if n.startswith("quantum") else "tab:orange" for n in names]
    positions = list(range(len(names)))[::-1]  # the stage's order, top to bottom: each twin below its kernel
    bars = ax.barh(positions, [accuracies[n] for n in names], color=colors)
    ax.bar_label(bars, labels=[f"{accuracies[n]:.3f}" for n in names], padding=3)
    ax.set_yticks(positions, names)
    low = min(accuracies.values())
    ax.set_xlim(max(0.0, low - 0.1), 1.04)  # room for the value labels
    ax.set_xticks([t for t in ax.get_xticks() if t <= 1.0])  # no accuracy tick above 1
    ax.set(title="SVM test accuracy: quantum kernels (blue) and classical twins (orange)", xlabel="test accuracy")
    ax.grid(axis="x", alpha=0.3)
    _save_png(fig, path)
    plt.close(fig)


def _plots(out: Path, report: dict[str, Any]) -> tuple[list[tuple[str, str]], str | None]:
    """Draw the PNGs this report has data for: ``([(caption, file name)], None)``, or ``([], why not)``."""
    from qcstar.circuits.errors import MissingDependencyError
    from qcstar.circuits.optionals import HAS_MATPLOTLIB

    try:
        matplotlib = HAS_MATPLOTLIB.require("drawing the demo's plots")
        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except (MissingDependencyError, ImportError) as exc:
        return [], str(exc)
    drawn = []
    if report.get("_curves"):
        _plot_curves(plt, report["_curves"], out / "cstar_training.png")
        drawn.append(("C*-net training curves with and without interaction", "cstar_training.png"))
    if "_gram_test" in report:
        _plot_gram(plt, *report["_gram_test"], out / "kernel_gram.png")
        drawn.append(("Fidelity-kernel Gram matrix of the test digits' amplitude states, sorted by class",
                      "kernel_gram.png"))
    if "kernels" in report:
        _plot_accuracy(plt, report["kernels"]["svm_test_accuracy"], out / "kernel_accuracy.png")
        drawn.append(("SVM test accuracy of each quantum kernel beside its classical twin", "kernel_accuracy.png"))
    return drawn, None


def write_report(out: Path, args: argparse.Namespace, report: dict[str, Any]) -> Path:
    """Write ``out/report.md``: the command, the machine, each stage's numbers and the plots.

    Plots need matplotlib (the ``plot`` extra); without it the report says so and has no images,
    and the demo still succeeds.
    """
    drawn, skipped = _plots(out, report)
    lines = ["# qcstar demo report", "", "Command:", "", "```", _command(args), "```", "",
             f"Machine: {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads.", ""]
    if skipped is not None:
        lines += [f"Plots skipped: {skipped}", ""]
    for caption, name in drawn:
        lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
    for name, _ in STAGES:
        if name in report:
            lines += [f"## {name}", "", *_table(report[name]), ""]
    path = out / "report.md"
    write_atomic(path, "\n".join(lines))
    return path
