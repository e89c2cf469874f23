"""E3 - sequence models on tokenized QASM against MNISQ's S4 and the fidelity kernel (issue 12).

S4D, Transformer and LSTM (:mod:`qcstar.sequence`, size-matched per tokenizer) x the three
tokenizers of :mod:`qcstar.circuits.tokens` (``gate``, ``lexical`` with 256 number bins, ``char``),
trained with :func:`qcstar.train.fit` on MNIST f80 circuits built by our AQCE
(``qcstar dataset build``), tested on the first official test images. Beside them, on the same
circuits: the fidelity-kernel SVM (``QuantumKernelSVC``, C = 1, one-vs-one) on the states the
circuits prepare, and on the dataset's exact target states; and MNISQ's S4 at 77 %
(arXiv:2306.16627, tokenizer and sizes unpublished).

CPU budget: text sequences are 2k (lexical) to 6k (char) tokens, so the text rows are scaled
(training subset, epochs, width; the Transformer reads only the first ``max_len`` tokens); the
``scaled`` column of every row says how. One JSON line per finished row
(``e3_sequence.jsonl``); a rerun skips finished rows and resumes an interrupted one from its
checkpoint in ``--work``. Writes ``e3_sequence.md`` (table, learning curves) and ``e3_sequence.png``.

    nice -n 10 python experiments/e3_sequence.py --train /work/datasets/mnist-f80-train-10000 \\
        --test /work/datasets/mnist-f80-test-1000 --work /tmp/e3-work
    python experiments/e3_sequence.py --quick        # seconds, synthetic circuits, temporary folder
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import RESULTS, append_json_line, comma_choices, positive_int, quick_output, read_json_lines, run_script, pyplot, save_png  # noqa: E402

NAME = "e3_sequence"
MODELS = ("s4d", "transformer", "lstm")
TOKENIZERS = ("gate", "lexical", "char")


def machine(device: torch.device) -> str:
    """The machine a row ran on (after the thread count is set)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"2-core {platform.machine()} VM shared with other jobs, {torch.get_num_threads()}-thread torch, no GPU"

MNISQ_S4 = 0.77

#: per tokenizer: training subset (None: all), test subset, epochs, batch, widths, Transformer window
SCALES: dict[str, dict[str, Any]] = {
    "gate": dict(n_train=None, n_test=None, epochs=10, batch_size=32, d_model=64, n_layers=2, d_state=64,
                 lr=3e-3, transformer_max_len=None),
    "lexical": dict(n_train=150, n_test=200, epochs=2, batch_size=16, d_model=32, n_layers=2, d_state=16,
                    lr=3e-3, transformer_max_len=512),
    "char": dict(n_train=80, n_test=200, epochs=1, batch_size=8, d_model=32, n_layers=2, d_state=16,
                 lr=3e-3, transformer_max_len=512),
}
QUICK_SCALES: dict[str, dict[str, Any]] = {
    "gate": dict(n_train=None, n_test=None, epochs=1, batch_size=8, d_model=8, n_layers=1, d_state=4, lr=1e-2,
                 transformer_max_len=None),
    "lexical": dict(n_train=12, n_test=4, epochs=1, batch_size=8, d_model=8, n_layers=1, d_state=4, lr=1e-2,
                    transformer_max_len=64),
    "char": dict(n_train=8, n_test=4, epochs=1, batch_size=8, d_model=8, n_layers=1, d_state=4, lr=1e-2,
                 transformer_max_len=64),
}


def parse_args(argv=None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", default="/work/datasets/mnist-f80-train-10000",
                   help="training circuits (qcstar dataset folder or MNISQ zip; an unfinished build gives its finished shards)")
    p.add_argument("--test", default="/work/datasets/mnist-f80-test-1000", help="test circuits")
    p.add_argument("--train-limit", type=int, default=None, help="read at most this many training circuits")
    p.add_argument("--train-sizes", default=None,
                   help="comma-separated training-set sizes for a learning curve (each as with --train-limit; "
                        "rows named ROW@N); default: one size, all circuits read")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation share of the training circuits")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of s4d,transformer,lstm")
    p.add_argument("--tokenizers", default=",".join(TOKENIZERS), help="comma-separated subset of gate,lexical,char")
    p.add_argument("--no-kernel", action="store_true", help="skip the fidelity-kernel rows")
    p.add_argument("--augment", default="none",
                   help="comma-separated subset of none,gauge: gate rows with and/or without gauge augmentation "
                        "(qcstar.sequence.augment; rows named MODEL-gate-gauge)")
    p.add_argument("--epochs", type=positive_int, default=None, help="gate rows: epochs (default 10)")
    p.add_argument("--d-model", type=positive_int, default=None, help="gate rows: S4D width (default 64)")
    p.add_argument("--layers", type=positive_int, default=None, help="gate rows: layers (default 2)")
    p.add_argument("--work", default=None, help="checkpoints of unfinished rows (default: a folder beside --out)")
    p.add_argument("--out", default=None, help="folder of e3_sequence.{jsonl,md,png} (default experiments/results)")
    p.add_argument("--device", default="cpu", help="torch device (cuda: bf16 autocast)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--quick", action="store_true", help="seconds: synthetic circuits, tiny models, temporary folder")
    p.add_argument("--note", default="", help="a paragraph added to e3_sequence.md (e.g. how the data was built)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite e3_sequence.md/.png from the finished rows of e3_sequence.jsonl (no training); "
                        "wanted rows without a line are listed as not run")
    args = p.parse_args(argv)
    comma_choices(p, "--models", args.models, MODELS)
    comma_choices(p, "--tokenizers", args.tokenizers, TOKENIZERS)
    comma_choices(p, "--augment", args.augment, ("none", "gauge"))
    if args.train_sizes is not None:
        try:
            args.train_sizes = sorted({positive_int(t) for t in args.train_sizes.split(",")})
        except argparse.ArgumentTypeError as exc:
            p.error(f"--train-sizes: {exc}")
    if "gauge" in args.augment.split(",") and "gate" not in args.tokenizers.split(","):
        p.error("--augment gauge applies to gate rows: add gate to --tokenizers")
    return args, p


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

def quick_data(folder: Path) -> tuple[Path, Path]:
    """Synthetic 4-qubit MNISQ-layout circuits (the class decides the first block's wires)."""
    from qcstar.circuits import Circuit
    from qcstar.circuits.qasm import dumps

    def write(root: Path, n: int, start: int) -> Path:
        for kind in ("qasm", "label", "fidelity", "state"):
            (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            g = torch.Generator().manual_seed(start + i)
            label = (start + i) % 3
            c = Circuit(4).x(i % 4)
            for b in range(3):
                q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
                wires = [(0, 1), (2, 3), (1, 3)][label] if b == 0 else torch.randperm(4, generator=g)[:2].tolist()
                c.unitary(q.to(torch.complex128), list(wires))
            (root / "qasm" / str(i)).write_text(dumps(c, dense="dense"))
            (root / "label" / str(i)).write_text(str(label))
            (root / "fidelity" / str(i)).write_text("0.9")
            from qcstar.circuits import simulate

            s = simulate(c, dtype=torch.complex128).reshape(-1)
            (root / "state" / str(i)).write_text("".join(f"{z.real!r} {z.imag!r}\n" for z in s.tolist()))
        return root

    return write(folder / "train", 24, 0), write(folder / "test", 6, 1000)


class Data:
    """The circuits, labels and (lazily) states of the training and test sets, read once."""

    def __init__(self, train: str, test: str, train_limit: int | None, val_fraction: float, seed: int = 0):
        from qcstar.data.read import load_dataset
        from qcstar.sequence.data import split_indices

        t0 = time.perf_counter()
        self.train = load_dataset(train, limit=train_limit)
        self.test = load_dataset(test)
        self.seconds_read = time.perf_counter() - t0
        self.paths = {"train": str(train), "test": str(test)}
        self.val_fraction, self.seed = val_fraction, seed
        self.fit_idx, self.val_idx = split_indices(len(self.train), val_fraction, seed)
        print(f"read {len(self.train)} training and {len(self.test)} test circuits in {self.seconds_read:.0f} s", flush=True)

    def limited(self, n: int) -> "Data":
        """The same data as a run with ``--train-limit n``: the first ``n`` training circuits, split anew."""
        import copy
        import dataclasses

        from qcstar.sequence.data import split_indices

        if n >= len(self.train):
            return self
        ds = self.train
        sub = copy.copy(self)
        sub.train = dataclasses.replace(ds, circuits=ds.circuits[:n], labels=ds.labels[:n], overlaps=ds.overlaps[:n],
                                        qasm_texts=ds.qasm_texts[:n],
                                        _states=None if ds._states is None else ds._states[:n])
        sub.fit_idx, sub.val_idx = split_indices(n, self.val_fraction, self.seed)
        return sub

    def splits(self, tokenizer, n_train: int | None, n_test: int | None) -> tuple[dict, dict[str, Any]]:
        from qcstar.sequence.data import length_summary

        fit_idx = self.fit_idx if n_train is None else self.fit_idx[:n_train]
        val_idx = self.val_idx if n_train is None else self.val_idx[:max(1, n_train // 10)]
        n_te = len(self.test) if n_test is None else min(n_test, len(self.test))
        circuits = self.train.circuits
        x_fit = tokenizer.encode_batch([circuits[i] for i in fit_idx.tolist()])
        x_val = tokenizer.encode_batch([circuits[i] for i in val_idx.tolist()])
        x_te = tokenizer.encode_batch(self.test.circuits[:n_te])
        splits = {"train": (x_fit, self.train.labels[fit_idx]), "val": (x_val, self.train.labels[val_idx]),
                  "test": (x_te, self.test.labels[:n_te])}
        info = {"n_train": len(x_fit), "n_val": len(x_val), "n_test": n_te,
                "lengths": {k: length_summary(v[0]) for k, v in splits.items()}}
        return splits, info


# --------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------

def make_tokenizer_for(kind: str, n_qubits: int):
    from qcstar.circuits.tokens import make_tokenizer

    options = {"gate": {"n_qubits": n_qubits}, "lexical": {"numbers": "bins", "bins": 256}, "char": {}}[kind]
    return make_tokenizer(kind, **options)


def scaled_text(scale: dict[str, Any], model: str, full_train: int) -> str:
    parts = []
    if scale["n_train"] is not None and scale["n_train"] < full_train:
        parts.append(f"train subset {scale['n_train']} of {full_train}")
    if scale["n_test"] is not None:
        parts.append(f"first {scale['n_test']} test images")
    parts.append(f"{scale['epochs']} epochs, d_model {scale['d_model']} (S4D), {scale['n_layers']} layers, N={scale['d_state']}")
    if model == "transformer" and scale["transformer_max_len"]:
        parts.append(f"Transformer reads the first {scale['transformer_max_len']} tokens")
    return "; ".join(parts)


def run_sequence_row(name: str, model_kind: str, tok_kind: str, scale: dict[str, Any], data: Data, work: Path,
                     device: torch.device, command: str, augment: bool = False) -> dict[str, Any]:
    from qcstar.sequence import GaugeAugment, gauge_table, make_model, size_matched
    from qcstar.train import fit

    tokenizer = make_tokenizer_for(tok_kind, data.train.n_qubits)
    t0 = time.perf_counter()
    splits, info = data.splits(tokenizer, scale["n_train"], scale["n_test"])
    seconds_tokenize = time.perf_counter() - t0
    window = scale["transformer_max_len"] if model_kind == "transformer" else None
    if window:
        for part in splits:
            x, y = splits[part]
            from qcstar.circuits.tokens import TokenSequences

            cut = TokenSequences(x.ids[:, :window], x.lengths.clamp(max=window),
                                 None if x.features is None else x.features[:, :window])
            splits[part] = (cut, y)
    configs = size_matched(d_model=scale["d_model"], n_layers=scale["n_layers"], d_state=scale["d_state"])
    options = {k: v for k, v in configs[model_kind].items() if k != "backbone_params"}
    if model_kind == "transformer":
        options["max_len"] = max(int(splits[p][0].lengths.max()) for p in splits)
    torch.manual_seed(0)
    model = make_model(model_kind, vocab_size=tokenizer.vocab_size, n_features=tokenizer.n_features,
                       n_classes=10, dropout=0.1, augment=GaugeAugment(gauge_table(tokenizer)) if augment else None,
                       **options).to(device)
    result = fit(model, splits, epochs=scale["epochs"], batch_size=scale["batch_size"], lr=scale["lr"],
                 weight_decay=0.01, seed=0, out_dir=work / name, progress=False, eval_batch_size=16,
                 autocast=device.type == "cuda", run_info={"row": name},
                 callback=lambda e, m: print(f"  {name} epoch {e}: train {m['train_acc']:.3f} val "
                                             f"{m.get('val_acc', float('nan')):.3f} ({m['seconds']:.0f} s, "
                                             f"{m.get('tokens_per_s', 0):,.0f} tok/s)", flush=True))
    rates = [h["tokens_per_s"] for h in result["history"] if "tokens_per_s" in h]
    return {
        "row": name, "model": model_kind, "tokenizer": tok_kind + (" + gauge augmentation" if augment else ""), **info, "test_acc": result["test"]["acc"],
        "test_acc_last": result["test_last"]["acc"], "best_epoch": result["best_epoch"], "best_val": result["best_val"],
        "params": result["params"], "config": model.config, "epochs": scale["epochs"],
        "batch_size": scale["batch_size"], "lr": scale["lr"], "train_seconds": result["seconds"],
        "tokenize_seconds": seconds_tokenize, "tokens_per_s": sum(rates) / len(rates) if rates else None,
        "history": [{k: h[k] for k in ("epoch", "train_loss", "train_acc", "val_acc", "tokens_per_s") if k in h}
                    for h in result["history"]],
        "scaled": scaled_text(scale, model_kind, len(data.fit_idx)), "machine": machine(device), "device": str(device),
        "command": command,
    }


def run_kernel_row(name: str, data: Data, which: str, command: str) -> dict[str, Any]:
    from qcstar.kernels import FidelityKernel, QuantumKernelSVC

    t0 = time.perf_counter()
    train_idx = torch.cat([data.fit_idx, data.val_idx]).sort().values  # the kernel has no validation step
    if which == "circuits":
        from qcstar.data.read import circuit_states

        s_tr = circuit_states([data.train.circuits[i] for i in train_idx.tolist()])
        s_te = circuit_states(data.test.circuits)
    else:
        s_tr, s_te = data.train.states[train_idx], data.test.states
    seconds_states = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf = QuantumKernelSVC(kernel=FidelityKernel(dtype=torch.complex128), C=1.0, multiclass="ovo")
    clf.fit(s_tr, data.train.labels[train_idx].numpy())
    acc = float((clf.predict(s_te) == data.test.labels.numpy()).mean())
    what = ("states the circuits prepare (simulated)" if which == "circuits"
            else "the data set's exact target states (upper bound)")
    return {"row": name, "model": "fidelity-kernel SVM", "tokenizer": what, "n_train": len(train_idx), "n_val": 0,
            "n_test": len(data.test), "test_acc": acc, "train_seconds": time.perf_counter() - t0,
            "state_seconds": seconds_states, "scaled": "none (all training circuits, incl. the validation share)",
            "machine": machine(torch.device("cpu")), "device": "cpu", "command": command}


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def write_report(out: Path, rows: dict[str, dict[str, Any]], data_note: str, missing: list[str] = (),
                 note: str = "") -> None:
    from qcstar.circuits.files import write_atomic

    lines = ["# E3: sequence models on tokenized QASM (MNIST f80, our AQCE circuits)", "",
             "S4D / Transformer / LSTM (`qcstar.sequence`, backbones size-matched per tokenizer) on the `gate`, "
             "`lexical` (256 number bins) and `char` tokenizers (`qcstar.circuits.tokens`), trained with "
             "`qcstar.train.fit` (AdamW, cosine, length-bucketed batches, weights of the best validation epoch), "
             "beside the fidelity-kernel SVM (C = 1, one-vs-one) on the same circuits and MNISQ's S4 "
             f"({100 * MNISQ_S4:.0f} %, arXiv:2306.16627; its tokenizer, sizes and training set are unpublished).", "",
             data_note + (" " + note if note else ""), "",
             "| row | model | tokens | train / val / test | mean length | params (backbone / total) | epochs | "
             "test acc % | train tokens/s | train s | scaled |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.values():
        length = r.get("lengths", {}).get("train", {}).get("mean")
        params = r.get("params")
        p = f"{params['backbone']:,} / {params['total']:,}" if params else "-"
        rate = f"{r['tokens_per_s']:,.0f}" if r.get("tokens_per_s") else "-"
        lines.append(f"| {r['row']} | {r['model']} | {r['tokenizer']} | {r['n_train']} / {r['n_val']} / {r['n_test']} | "
                     f"{length:.0f} | {p} | {r.get('epochs', '-')} | {100 * r['test_acc']:.1f} | {rate} | "
                     f"{r['train_seconds']:.0f} | {r['scaled']} |" if length is not None else
                     f"| {r['row']} | {r['model']} | {r['tokenizer']} | {r['n_train']} / {r['n_val']} / {r['n_test']} | "
                     f"- | - | - | {100 * r['test_acc']:.1f} | - | {r['train_seconds']:.0f} | {r['scaled']} |")
    for name in missing:
        lines.append(f"| {name} | - | - | - | - | - | - | not run | - | - | CPU budget of this session: rerun the "
                     "command to resume |")
    lines.append(f"| MNISQ S4 | S4 | tokenized Dense QASM (unpublished) | ? | ~6k chars at f80 | ? | ? | "
                 f"{100 * MNISQ_S4:.0f} | ? | ? | MNISQ's own setup |")
    lines += ["", summary(rows)]
    lines += learning_curve_table(rows)
    lines += ["", "Learning curves (validation accuracy per epoch):", ""]
    for r in rows.values():
        if r.get("history"):
            curve = ", ".join(f"{h.get('val_acc', float('nan')):.2f}" for h in r["history"])
            lines.append(f"- {r['row']}: {curve}")
    commands = sorted({r["command"] for r in rows.values()})
    machines = sorted({r["machine"] for r in rows.values()})
    lines += ["", "Machine: " + "; ".join(machines) + ". Command(s): " + "; ".join(f"`{c}`" for c in commands), ""]
    write_atomic(out / f"{NAME}.md", "\n".join(lines))
    plot(out, rows)


def learning_curve_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Test accuracy % per row kind (columns: training sizes) for rows named ``ROW@N``."""
    sized = [(name.split("@")[0], int(name.split("@")[1]), r) for name, r in rows.items() if "@" in name]
    if not sized:
        return []
    sizes = sorted({n for _, n, _ in sized})
    kinds = list(dict.fromkeys(k for k, _, _ in sized))
    acc = {(k, n): r for k, n, r in sized}
    lines = ["", "Learning curve: test accuracy % by training-set size (`--train-sizes`; the sequence models hold "
             "out the validation share of each size, the kernel trains on all of it):", "",
             "| row | " + " | ".join(f"{n:,}" for n in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for k in kinds:
        cells = [f"{100 * acc[k, n]['test_acc']:.1f}" if (k, n) in acc else "-" for n in sizes]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines


def summary(rows: dict[str, dict[str, Any]]) -> str:
    """One paragraph: the best sequence row, the S4D goal (85 %), the kernel and MNISQ's S4."""
    seq = [r for r in rows.values() if r.get("history")]
    if not seq:
        return ""
    best = max(seq, key=lambda r: r["test_acc"])
    s4d_rows = [r for name, r in rows.items() if name.startswith("s4d-gate")]
    s4d = max(s4d_rows, key=lambda r: r["test_acc"]) if s4d_rows else None
    kernels = [r for name, r in rows.items() if name.split("@")[0] == "kernel-circuits"]
    kernel = max(kernels, key=lambda r: r["n_train"]) if kernels else None
    text = (f"Summary: the best sequence model is {best['row']} at {100 * best['test_acc']:.1f} % "
            f"({best['n_train']} training circuits).")
    if s4d:
        reached = "reached" if s4d["test_acc"] >= 0.85 else "not reached"
        text += (f" Goal S4D >= 85 % on f80: {reached} (best S4D: {s4d['row']} at {100 * s4d['test_acc']:.1f} %); "
                 f"MNISQ's S4 reached {100 * MNISQ_S4:.0f} % with tens of thousands of training circuits and a GPU.")
    if kernel:
        text += (f" The fidelity-kernel SVM on the same circuits' states reaches {100 * kernel['test_acc']:.1f} % from "
                 f"{kernel['n_train']} circuits: it is handed the state, which a sequence model must in effect "
                 "simulate from the gate list (a product of 4x4 orthogonal blocks on 1,024 amplitudes).")
    return text


def plot(out: Path, rows: dict[str, dict[str, Any]]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows.values():
        if r.get("history"):
            a.plot([h["epoch"] for h in r["history"]], [h.get("val_acc", float("nan")) for h in r["history"]],
                   marker="o", ms=3, label=r["row"])
    a.set_xlabel("epoch")
    a.set_ylabel("validation accuracy")
    a.legend(fontsize=7)
    names = list(rows) + ["MNISQ S4"]
    accs = [100 * rows[n]["test_acc"] for n in rows] + [100 * MNISQ_S4]
    b.barh(names, accs, color=["C0" if "kernel" not in n else "C2" for n in rows] + ["C3"])
    b.set_xlabel("test accuracy %")
    b.invert_yaxis()
    fig.tight_layout()
    save_png(fig, out / f"{NAME}.png", dpi=90)


def main(argv=None) -> int:
    args, parser = parse_args(argv)
    torch.set_num_threads(args.threads)
    from qcstar.commands.train import check_device

    device = check_device(args.device, "e3_sequence")
    variants = {"none": "", "gauge": "-gauge"}
    wanted = [f"{m}-{t}{variants[a]}" for t in args.tokenizers.split(",") for a in args.augment.split(",")
              for m in args.models.split(",") if t == "gate" or a == "none"]
    if args.report_only:
        out = Path(args.out) if args.out else RESULTS
        rows = read_json_lines(out / f"{NAME}.jsonl", key="row")
        if not rows:
            parser.error(f"--report-only: no finished rows in {out / (NAME + '.jsonl')}")
        note = next((r["data"] for r in reversed(list(rows.values())) if "data" in r), None) or (
            f"Data: {rows.get('kernel-circuits', {}).get('n_train', '?')} training circuits (validation share held out "
            f"for the sequence models), {rows.get('kernel-circuits', {}).get('n_test', '?')} test circuits; paths in "
            "the command.")
        if args.train_sizes:  # rows of a learning curve are named ROW@N
            wanted = [f"{w}@{n}" for n in args.train_sizes for w in wanted]
        write_report(out, rows, note, [w for w in wanted if w not in rows], args.note)
        return 0
    scales = {k: dict(v) for k, v in (QUICK_SCALES if args.quick else SCALES).items()}
    for flag, key in (("epochs", "epochs"), ("d_model", "d_model"), ("layers", "n_layers")):
        if getattr(args, flag) is not None:
            scales["gate"][key] = getattr(args, flag)
    if args.quick:
        out = quick_output(parser, args.out, name=NAME)
        out.mkdir(parents=True, exist_ok=True)
        train, test = quick_data(out / "data")
    else:
        out = Path(args.out) if args.out else RESULTS
        out.mkdir(parents=True, exist_ok=True)
        train, test = args.train, args.test
    work = Path(args.work) if args.work else out / f"{NAME}-work"
    command = "python experiments/e3_sequence.py " + " ".join(argv if argv is not None else sys.argv[1:])
    data = Data(train, test, args.train_limit, args.val_fraction)
    data_note = (f"Data: {len(data.train)} training circuits read from `{data.paths['train']}` "
                 f"(validation share {args.val_fraction:g} held out of them), {len(data.test)} test circuits from "
                 f"`{data.paths['test']}`.")
    log = out / f"{NAME}.jsonl"
    rows = read_json_lines(log, key="row")
    sizes = args.train_sizes or [len(data.train)]
    for size in sizes:  # smallest first: a killed run keeps the cheap end of the curve
        part = data.limited(size)
        tag = f"@{len(part.train)}" if args.train_sizes else ""
        if not args.no_kernel:  # first: cheap, and the reference every other row is read against
            for which in ("circuits", "targets"):
                name = f"kernel-{which}{tag}"
                if name not in rows:
                    print(f"[{name}]", flush=True)
                    row = run_kernel_row(name, part, which, command)
                    row["data"] = data_note
                    append_json_line(log, row)
                    rows[name] = row
                    print(f"  {name}: {100 * row['test_acc']:.2f} %", flush=True)
        for base in wanted:
            name = base + tag
            if name in rows:
                continue
            model_kind, tok_kind = base.split("-")[:2]
            print(f"[{name}]", flush=True)
            row = run_sequence_row(name, model_kind, tok_kind, scales[tok_kind], part, work, device, command,
                                   augment=base.endswith("-gauge"))
            row["data"] = data_note
            append_json_line(log, row)
            rows[name] = row
            write_report(out, rows, data_note, note=args.note)
    write_report(out, rows, data_note, note=args.note)
    for r in rows.values():
        print(f"{r['row']:24s} {100 * r['test_acc']:6.2f} %  ({r['n_train']} train)")
    return 0


if __name__ == "__main__":
    run_script(main)
