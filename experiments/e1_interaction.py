"""E1 - does interaction help? QCStarNet with and without interaction on MNIST-family images.

QCStarNet is the quantum circuit C*-algebra net of Hashimoto & Hataya (arXiv:2404.06218): d
circuits whose index register is coupled by an interaction unitary V_l after every layer.

Grid: datasets (mnist, fashion-mnist, kmnist) x d in {1, 2, 4, 8} x interaction {none, global}
(d = 1 has no interaction: V is a 1x1 phase) x mode {shared, tasks} x data setting
(small: ``--small`` images per class, full-ish: ``--full`` per class) x seeds. Every run trains
a fresh net (linear angle net on downsampled images, RY+RZ layers, CX ladder, <Z_q> readout)
with AdamW + cosine schedule, selects the epoch by validation accuracy and reports test
accuracy. KMNIST: our copy has no training images, so train/val/test are drawn from its
10,000 official *test* images (``qcstar.data`` says so in ``splits.note``).

Resumable: every finished run appends one JSON line to ``<out>/e1_interaction.jsonl``; a rerun
skips finished runs. ``--report`` only rebuilds the tables (``e1_interaction.md``,
``e1_interaction.json``) and the plot (``e1_interaction.png``) from the JSON lines.

Run::

    python experiments/e1_interaction.py --quick                 # smoke run: built-in digits, seconds
    nice -n 10 python experiments/e1_interaction.py --workers 2  # the scaled experiment
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# experiments/_cli.py; this script's own folder is on sys.path
from _cli import RESULTS, positive_int, quick_output, read_json_lines, run_jobs, run_script, pyplot, save_png

from qcstar.circuits.files import write_atomic

DATASETS = ("mnist", "fashion-mnist", "kmnist")


def datasets_in(summary: list[dict]) -> list[str]:
    """The data sets of ``summary`` in table order: the MNIST family first, then the others."""
    present = {s["dataset"] for s in summary}
    return [d for d in DATASETS if d in present] + sorted(present - set(DATASETS))


def configs(args) -> list[dict]:
    out = []
    for ds, setting, mode, d, inter, seed in itertools.product(
        args.datasets, args.settings, args.modes, args.circuits, ("none", "global"), range(args.seeds)
    ):
        if d == 1 and inter == "global":
            continue
        per_class = args.small if setting == "small" else args.full
        epochs = args.epochs_small if setting == "small" else args.epochs_full
        out.append({
            "dataset": ds, "setting": setting, "per_class": per_class, "mode": mode, "d": d, "interaction": inter,
            "seed": seed, "n_qubits": args.qubits, "n_layers": args.layers, "size": args.size, "epochs": epochs,
            "batch_size": args.batch_size, "lr": args.lr, "n_val": args.n_val, "n_test": args.n_test,
            "interaction_init": args.interaction_init if inter == "global" else 0.0,
        })
    return out


def key(cfg: dict) -> str:
    return "|".join(f"{k}={cfg[k]}" for k in sorted(cfg))


_DATA_CACHE: dict = {}


def run_one(cfg: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from qcstar import data as qdata
    from qcstar.net import QCStarNet
    from qcstar.train import fit

    dkey = (cfg["dataset"], cfg["size"], cfg["per_class"], cfg["n_val"], cfg["n_test"], cfg["seed"])
    if dkey not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[dkey] = qdata.load_split(cfg["dataset"], size=cfg["size"], per_class=cfg["per_class"],
                                             n_val=cfg["n_val"], n_test=cfg["n_test"], seed=cfg["seed"])
    splits = _DATA_CACHE[dkey]
    net = QCStarNet(n_qubits=cfg["n_qubits"], n_circuits=cfg["d"], n_layers=cfg["n_layers"], n_classes=10,
                    interaction=cfg["interaction"], mode=cfg["mode"], in_shape=(cfg["size"], cfg["size"]),
                    seed=cfg["seed"], interaction_init=cfg["interaction_init"])
    t0 = time.perf_counter()
    res = fit(net, splits, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], seed=cfg["seed"],
              progress=False)
    return {
        **cfg,
        "key": key(cfg),
        "test_acc": res["test"]["acc"],
        "test_acc_last": res["test_last"]["acc"],
        "best_val": res["best_val"],
        "best_epoch": res["best_epoch"],
        "train_acc_last": res["history"][-1]["train_acc"],
        "params": res["params"],
        "n_train": int(splits["train"][1].shape[0]),
        "protocol": getattr(splits, "protocol", ""),
        "seconds": time.perf_counter() - t0,
    }


def report(out: Path, runs: list[dict], command: str, wall: float | None) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["setting"], r["mode"], r["d"], r["interaction"]), []).append(r)
    summary = []
    for k, rs in sorted(groups.items()):
        accs = [r["test_acc"] for r in rs]
        summary.append({
            "dataset": k[0], "setting": k[1], "mode": k[2], "d": k[3], "interaction": k[4], "seeds": len(rs),
            "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "params": rs[0]["params"]["total"], "interaction_params": rs[0]["params"]["interaction"],
            "per_class": rs[0]["per_class"], "n_train": rs[0]["n_train"], "epochs": rs[0]["epochs"],
            "seconds_mean": statistics.mean(r["seconds"] for r in rs),
        })
    cfg0 = runs[0] if runs else {}
    lines = [
        "# E1 - does interaction help? (scaled to a 2-core shared CPU)",
        "",
        f"Command: `{command}`",
        "",
        f"Hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs shared with other "
        f"jobs, 1 torch thread per worker; python {platform.python_version()}.",
        f"Runs finished: {len(runs)}" + (f"; wall time of this invocation {wall / 60:.1f} min." if wall else "."),
        "",
        "Scaled (what differs from the full experiment): images area-downsampled to "
        f"{cfg0.get('size')}x{cfg0.get('size')}; n = {cfg0.get('n_qubits')} qubits, L = {cfg0.get('n_layers')} layers; "
        "training sets of `per_class` images per class (small / full-ish), not the full 60,000; "
        f"validation {cfg0.get('n_val')} and test {cfg0.get('n_test')} images (stratified subsets); few epochs "
        "(see table); linear angle net. KMNIST: train/val/test drawn from the 10,000 official test images "
        "(pooled protocol: our copy has no KMNIST training images). tasks mode: the training set is split "
        "into d disjoint parts, one per circuit; test accuracy is averaged over the d tasks.",
        "",
        "Model: QCStarNet, RY+RZ per qubit and layer with angles from a linear map of the image, CX ladder, "
        "interaction V_l = exp(K_l - K_l^H) after every layer when on, with K_l drawn at std "
        f"{max((r.get('interaction_init', 0.0) for r in runs), default=0.0)} (K_l = 0, i.e. V_l = I, is a stationary "
        "point of the diagonal readout: its gradient vanishes there, so interaction would never train), <Z_q> readout, "
        "per-circuit affine heads, mean of logits (shared) / own head per task (tasks). AdamW + cosine; the "
        "test accuracy is taken at the best validation epoch.",
        "",
    ]
    for ds in datasets_in(summary):
        for setting in ("small", "full"):
            rows = [s for s in summary if s["dataset"] == ds and s["setting"] == setting]
            if not rows:
                continue
            lines += [f"## {ds}, {setting} data ({rows[0]['per_class']} per class, {rows[0]['n_train']} train images, "
                      f"{rows[0]['epochs']} epochs)", "",
                      "| mode | d | no interaction: test acc (%) | params | interaction: test acc (%) | params | delta |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for mode in ("shared", "tasks"):
                for d in sorted({s["d"] for s in rows}):
                    a = next((s for s in rows if s["mode"] == mode and s["d"] == d and s["interaction"] == "none"), None)
                    b = next((s for s in rows if s["mode"] == mode and s["d"] == d and s["interaction"] == "global"), None)
                    if a is None and b is None:
                        continue
                    fa = f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f} (n={a['seeds']})" if a else "-"
                    fb = f"{100 * b['mean']:.1f} ± {100 * b['std']:.1f} (n={b['seeds']})" if b else "-"
                    delta = f"{100 * (b['mean'] - a['mean']):+.1f}" if a and b else "-"
                    lines.append(f"| {mode} | {d} | {fa} | {a['params'] if a else '-'} | {fb} | "
                                 f"{b['params'] if b else '-'} | {delta} |")
            lines.append("")
    write_atomic(out / "e1_interaction.json", json.dumps({"command": command, "summary": summary}, indent=1) + "\n")
    text = "\n".join(lines) + "\n"
    md = out / "e1_interaction.md"
    # keep a hand-written "Findings" section if one exists
    if md.exists() and "\n## Findings" in md.read_text():
        text += md.read_text()[md.read_text().index("\n## Findings"):]
    write_atomic(md, text)
    plot(out / "e1_interaction.png", summary)


def plot(path: Path, summary: list[dict]) -> None:
    plt = pyplot()
    if plt is None:
        return

    settings = [s for s in ("small", "full") if any(r["setting"] == s for r in summary)]
    datasets = datasets_in(summary) or list(DATASETS)
    fig, axes = plt.subplots(len(settings) or 1, len(datasets), figsize=(4 * len(datasets), 3.2 * max(1, len(settings))),
                             squeeze=False)
    for i, setting in enumerate(settings):
        for j, ds in enumerate(datasets):
            ax = axes[i][j]
            for mode, ls in (("shared", "-"), ("tasks", "--")):
                for inter, color in (("none", "tab:blue"), ("global", "tab:red")):
                    rows = sorted((r for r in summary if r["dataset"] == ds and r["setting"] == setting
                                   and r["mode"] == mode and (r["interaction"] == inter or r["d"] == 1)),
                                  key=lambda r: r["d"])
                    if not rows:
                        continue
                    ax.errorbar([r["d"] for r in rows], [100 * r["mean"] for r in rows],
                                yerr=[100 * r["std"] for r in rows], ls=ls, color=color, marker="o", ms=3, capsize=2,
                                label=f"{mode}, {'interaction' if inter == 'global' else 'independent'}")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{ds}, {setting} data", fontsize=9)
            ax.set_xlabel("d (circuits)")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="E1: does interaction help?")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--circuits", nargs="+", type=positive_int, default=[1, 2, 4, 8])
    ap.add_argument("--modes", nargs="+", default=["shared", "tasks"])
    ap.add_argument("--settings", nargs="+", default=["small", "full"])
    ap.add_argument("--seeds", type=positive_int, default=3)
    ap.add_argument("--small", type=positive_int, default=50, help="images per class, small-data setting")
    ap.add_argument("--full", type=positive_int, default=500, help="images per class, full-ish setting")
    ap.add_argument("--epochs-small", type=positive_int, default=30)
    ap.add_argument("--epochs-full", type=positive_int, default=8)
    ap.add_argument("--qubits", type=positive_int, default=6)
    ap.add_argument("--layers", type=positive_int, default=3)
    ap.add_argument("--size", type=positive_int, default=8)
    ap.add_argument("--batch-size", type=positive_int, default=64)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--n-val", type=positive_int, default=1000)
    ap.add_argument("--n-test", type=positive_int, default=2000)
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--interaction-init", type=float, default=0.05,
                    help="std of the initial K_l entries (0 = exact V = I, a stationary point: K never moves)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder of the run log, tables and plot (default experiments/results)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: built-in digits, d in {1, 2}, both modes, 1 seed, 1 epoch; "
                    "files in a temporary folder")
    ap.add_argument("--report", action="store_true", help="only rebuild the tables and plot")
    args = ap.parse_args(argv)
    command = "python experiments/e1_interaction.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.datasets, args.circuits, args.seeds, args.settings, args.workers = ["digits"], [1, 2], 1, ["small"], 1
        args.small, args.epochs_small, args.batch_size = 5, 1, 25
        args.qubits, args.layers, args.n_val, args.n_test = 4, 2, 50, 50
        args.out = quick_output(ap, args.out, name="e1_interaction")
    elif args.out is None:
        args.out = RESULTS
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / "e1_interaction.jsonl"
    done = read_json_lines(runs_path, key="key")
    todo = [c for c in configs(args) if key(c) not in done]
    print(f"{len(done)} runs done, {len(todo)} to go -> {runs_path}", flush=True)
    t0 = time.perf_counter()
    if not args.report and todo:
        # group by data split so a worker reuses its loaded split
        todo.sort(key=lambda c: (c["dataset"], c["seed"], c["setting"], -c["d"]))
        run_jobs(run_one, todo, workers=args.workers, log=runs_path,
                 describe=lambda rec: f"{rec['key']}  test_acc={rec['test_acc']:.4f} ({rec['seconds']:.1f}s)")
    runs = list(read_json_lines(runs_path, key="key").values())
    report(args.out, runs, command, time.perf_counter() - t0)
    print(f"wrote {args.out / 'e1_interaction.md'}")
    return 0


if __name__ == "__main__":
    run_script(main)
