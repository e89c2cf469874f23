"""E1b - where does interaction among the circuits help? Four hypotheses (issue 13).

QCStarNet is the quantum circuit C*-algebra net of Hashimoto & Hataya (arXiv:2404.06218). E1
(``e1_interaction.py``) found no gain from the global interaction V_l (x) I with the diagonal
readout. Each experiment below tests one reading of the model that could make interaction
matter, always against a baseline WITHOUT interaction that has at least as many parameters:

* ``h1`` (readout): diag(R) vs every entry of R (``readout="full"``) vs the A-valued inner
  product with a learned element of A (``readout="inner"``); with full/inner also from V = I.
* ``h2`` (form): global interaction placed after every layer / only after the first / only
  before the last, a controlled interaction (V_l applied when a system qubit is |1>), and a
  sweep of the initial strength (``interaction_init`` 0.01 .. 1).
* ``h3`` (related tasks, ``mode="tasks"``, d = 3 circuits padded to 4): one task per circuit,
  (a) MNIST / Fashion-MNIST / KMNIST, (b) MNIST rotated by 0, 45 and 90 degrees; each with
  10 (few-shot) and 50 images per class and task; per-task test accuracy. Images of the three
  tasks are paired at random in each training batch (a fresh pairing every epoch).
* ``h4`` (scale): n = 8 qubits, 16x16 images, L = 6, more epochs, more training data.

Parameter-matched baseline ("matched"): the same net without interaction whose MLP angle net
has ``extra`` more hidden units, the fewest that give it at least as many trainable
parameters as the largest interacting net of its cell (one hidden unit adds in + 1 + angles
parameters, more than any interaction here adds). "none" is the same net as the interacting
ones with the interaction removed (fewer parameters). Every net uses the MLP angle net
(``hidden`` units, tanh), RY+RZ, CX ladder, per-circuit heads averaged (shared mode) or one
head per task (tasks mode).

Resumable: every finished run appends one JSON line to ``<out>/e1b_interaction.jsonl`` and a
rerun skips it. ``--report`` rebuilds ``e1b_interaction.{md,json,png}`` from the lines.

Run::

    python experiments/e1b_interaction.py --quick                          # smoke run, seconds
    nice -n 10 python experiments/e1b_interaction.py --workers 2 --exps h1,h2,h3,h4
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# experiments/_cli.py; this script's own folder is on sys.path
from _cli import RESULTS, comma_choices, positive_int, quick_output, read_json_lines, run_jobs, run_script, pyplot, save_png

from qcstar.circuits.files import write_atomic

EXPERIMENTS = ("h1", "h2", "h3", "h4")
NAME = "e1b_interaction"


# --------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------

def _base(args) -> dict:
    return {"dataset": args.dataset, "size": args.size, "n_qubits": args.qubits, "n_layers": args.layers,
            "d": args.circuits, "per_class": args.per_class, "epochs": args.epochs, "hidden": args.hidden,
            "batch_size": args.batch_size, "lr": args.lr, "n_val": args.n_val, "n_test": args.n_test,
            "mode": "shared", "readout": "z", "interaction": "none", "placement": "all", "interaction_init": 0.0,
            "extra": 0}


def _arm(base: dict, arm: str, **kw) -> dict:
    return {**base, "arm": arm, **kw}


def _cell(base: dict, arms: list[dict]) -> list[dict]:
    """``arms`` plus the no-interaction net ("none") and the parameter-matched one ("matched")."""
    return [_arm(base, "none"), _arm(base, "matched", extra=-1)] + arms


def configs(args) -> list[dict]:
    """Every run of the chosen experiments (``extra=-1``: matched hidden units, computed per run)."""
    out: list[dict] = []
    b = _base(args)
    if "h1" in args.exps:
        for ro in ("z", "full", "inner"):
            base = {**b, "exp": "h1", "readout": ro}
            arms = [_arm(base, "global 0.05", interaction="global", interaction_init=0.05)]
            if ro != "z":  # these readouts see the first-order change of R: interaction trains from V = I
                arms.append(_arm(base, "global from V=I", interaction="global", interaction_init=0.0))
            out += _cell(base, arms)
    if "h2" in args.exps:
        base = {**b, "exp": "h2", "readout": "z"}
        arms = [_arm(base, f"global {s}", interaction="global", interaction_init=s) for s in args.strengths]
        arms += [_arm(base, f"global {p} 0.05", interaction="global", placement=p, interaction_init=0.05)
                 for p in ("start", "end")]
        arms += [_arm(base, f"controlled {s}", interaction="controlled", interaction_init=s)
                 for s in (0.0, *args.strengths)]
        arms += [_arm(base, "controlled end 0.2", interaction="controlled", placement="end", interaction_init=0.2)]
        out += _cell(base, arms)
        # the controlled form with the full readout (its baselines are h1's: the same runs)
        fb = {**base, "readout": "full"}
        out += _cell(fb, [_arm(fb, "controlled 0.2", interaction="controlled", interaction_init=0.2)])
    if "h3" in args.exps:
        for tasks in args.task_sets:
            for pc in args.few_shot:
                base = {**b, "exp": "h3", "mode": "tasks", "tasks": tasks, "d": 3, "per_class": pc,
                        "epochs": args.epochs_few if pc <= 20 else args.epochs, "n_val": args.n_val_task,
                        "n_test": args.n_test_task}
                out += _cell(base, [_arm(base, "global 0.05", interaction="global", interaction_init=0.05)])
                full = {**base, "readout": "full"}
                out += _cell(full, [_arm(full, "global from V=I", interaction="global", interaction_init=0.0)])
    if "h4" in args.exps:
        base = {**b, "exp": "h4", "size": args.h4_size, "n_qubits": args.h4_qubits, "n_layers": args.h4_layers,
                "epochs": args.h4_epochs, "per_class": args.h4_per_class}
        out += _cell(base, [_arm(base, "global 0.05", interaction="global", interaction_init=0.05)])
        full = {**base, "readout": "full"}
        out += _cell(full, [_arm(full, "global from V=I", interaction="global", interaction_init=0.0)])
    runs = []
    for cfg in out:
        for seed in range(args.seeds):
            runs.append({**cfg, "seed": seed})
    return runs


def key(cfg: dict) -> str:
    return "|".join(f"{k}={cfg[k]}" for k in sorted(cfg) if k not in ("exp", "arm"))


# --------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------

def _net_kwargs(cfg: dict, hidden: int) -> dict:
    size = cfg["size"]
    return dict(n_qubits=cfg["n_qubits"], n_circuits=cfg["d"], n_layers=cfg["n_layers"], n_classes=10,
                interaction=cfg["interaction"], placement=cfg["placement"], readout=cfg["readout"], mode=cfg["mode"],
                in_shape=(size, size), angle_net="mlp", hidden=hidden, interaction_init=cfg["interaction_init"],
                seed=cfg["seed"])


def _count(cfg: dict, hidden: int, **over) -> int:
    from qcstar.net import QCStarNet

    return QCStarNet(**{**_net_kwargs(cfg, hidden), **over}).parameter_counts()["total"]


def matched_hidden(cfg: dict, grid: list[dict]) -> tuple[int, int]:
    """Hidden units of the matched baseline: the fewest >= ``hidden`` whose no-interaction net has
    at least the parameters of every interacting net of its cell; and that target count."""
    cell = [c for c in grid if c.get("exp") == cfg["exp"] and c["interaction"] != "none"
            and c.get("tasks") == cfg.get("tasks") and c["per_class"] == cfg["per_class"]
            and c["readout"] == cfg["readout"]]
    target = max((_count(c, c["hidden"]) for c in cell), default=0)
    h = cfg["hidden"]
    while _count(cfg, h) < target:
        h += 1
    return h, target


_DATA: dict = {}


def _rotated(x, degrees: float, size: int):
    """Images ``(N, H, W)`` rotated about their centre, then area-averaged to ``size``."""
    import torch
    import torch.nn.functional as F

    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), [x.shape[0], 1, *x.shape[-2:]], align_corners=False)
    rot = F.grid_sample(x.unsqueeze(1), grid, align_corners=False)
    return F.adaptive_avg_pool2d(rot, size)[:, 0]


def task_data(cfg: dict) -> list[dict]:
    """One ``{"train", "val", "test"}`` split per task of ``cfg["tasks"]``."""
    from qcstar import data as qdata

    k = (cfg["tasks"], cfg["size"], cfg["per_class"], cfg["n_val"], cfg["n_test"], cfg["seed"], cfg["dataset"])
    if k not in _DATA:
        _DATA.clear()
        load = dict(per_class=cfg["per_class"], n_val=cfg["n_val"], n_test=cfg["n_test"], seed=cfg["seed"])
        if cfg["tasks"] == "datasets":
            names = ("mnist", "fashion-mnist", "kmnist") if cfg["dataset"] != "digits" else ("digits",) * 3
            _DATA[k] = [qdata.load_split(n, size=cfg["size"], **load) for n in names]
        else:  # rotated: one split, each task rotates it by its own angle
            native = qdata.load_split(cfg["dataset"], size=None, **load)
            _DATA[k] = [{part: (_rotated(native[part][0], deg, cfg["size"]), native[part][1]) for part in native}
                        for deg in (0.0, 45.0, 90.0)]
    return _DATA[k]


def train_tasks(net, splits: list[dict], cfg: dict) -> dict:
    """AdamW + cosine (as ``qcstar.train.fit``) on d tasks at once; circuit j learns task j.

    Each epoch pairs the tasks' training images at random (every task shuffled on its own);
    validation and test pair image i of every task. The test accuracies are those of the epoch
    with the best mean validation accuracy."""
    import torch

    g = torch.Generator().manual_seed(cfg["seed"])
    d = len(splits)
    n = min(s["train"][0].shape[0] for s in splits)
    epochs, bs = cfg["epochs"], cfg["batch_size"]
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    steps = epochs * math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))

    def accuracy(part: str) -> list[float]:
        m = min(s[part][0].shape[0] for s in splits)
        x = torch.stack([s[part][0][:m] for s in splits], 1)
        y = torch.stack([s[part][1][:m] for s in splits], 1)
        net.eval()
        with torch.no_grad():
            pred = torch.cat([net(x[i:i + 256]).argmax(-1) for i in range(0, m, 256)])
        net.train()
        return [float((pred[:, j] == y[:, j]).float().mean()) for j in range(d)]

    best = (-1.0, None, 0)
    for epoch in range(epochs):
        orders = [torch.randperm(s["train"][0].shape[0], generator=g)[:n] for s in splits]
        for i in range(0, n, bs):
            x = torch.stack([s["train"][0][o[i:i + bs]] for s, o in zip(splits, orders)], 1)
            y = torch.stack([s["train"][1][o[i:i + bs]] for s, o in zip(splits, orders)], 1)
            loss = torch.nn.functional.cross_entropy(net(x).reshape(-1, 10), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        val = statistics.mean(accuracy("val"))
        if val > best[0]:
            best = (val, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch)
    last = accuracy("test")
    net.load_state_dict(best[1])
    test = accuracy("test")
    return {"test_acc": statistics.mean(test), "task_acc": test, "test_acc_last": statistics.mean(last),
            "best_val": best[0], "best_epoch": best[2] + 1}


def run_one(job: tuple[dict, int, int]) -> dict:
    import torch

    torch.set_num_threads(1)
    from qcstar import data as qdata
    from qcstar.net import QCStarNet
    from qcstar.train import fit

    cfg, hidden, target = job
    t0, c0 = time.perf_counter(), time.process_time()
    net = QCStarNet(**_net_kwargs(cfg, hidden))
    if cfg["mode"] == "tasks":
        res = train_tasks(net, task_data(cfg), cfg)
        n_train = min(s["train"][0].shape[0] for s in task_data(cfg))
    else:
        k = (cfg["dataset"], cfg["size"], cfg["per_class"], cfg["n_val"], cfg["n_test"], cfg["seed"])
        if k not in _DATA:
            _DATA.clear()
            _DATA[k] = qdata.load_split(cfg["dataset"], size=cfg["size"], per_class=cfg["per_class"],
                                        n_val=cfg["n_val"], n_test=cfg["n_test"], seed=cfg["seed"])
        splits = _DATA[k]
        out = fit(net, splits, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], seed=cfg["seed"],
                  progress=False)
        res = {"test_acc": out["test"]["acc"], "test_acc_last": out["test_last"]["acc"], "best_val": out["best_val"],
               "best_epoch": out["best_epoch"]}
        n_train = int(splits["train"][1].shape[0])
    return {**cfg, "key": key(cfg), **res, "hidden_used": hidden, "matched_target": target,
            "params": net.parameter_counts(), "n_train": n_train, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------

def _cell_name(r: dict) -> str:
    if r["exp"] == "h3":
        return f"h3 {r['tasks']}, {r['per_class']} per class and task"
    if r["exp"] == "h4":
        return f"h4 n={r['n_qubits']}, {r['size']}x{r['size']}, L={r['n_layers']}, {r['per_class']} per class"
    return f"{r['exp']} readout={r['readout']}" if r["exp"] == "h1" else r["exp"]


def summarise(runs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((_cell_name(r), r["arm"], r["readout"]), []).append(r)
    out = []
    for (cell, arm, readout), rs in groups.items():
        accs = [r["test_acc"] for r in rs]
        row = {"cell": cell, "exp": rs[0]["exp"], "arm": arm, "readout": readout, "seeds": len(rs),
               "mean": statistics.mean(accs), "se": statistics.stdev(accs) / math.sqrt(len(accs)) if len(accs) > 1 else 0.0,
               "params": rs[0]["params"]["total"], "interaction_params": rs[0]["params"]["interaction"],
               "hidden": rs[0]["hidden_used"], "seconds_mean": statistics.mean(r["seconds"] for r in rs),
               "n_train": rs[0]["n_train"], "epochs": rs[0]["epochs"], "interaction": rs[0]["interaction"]}
        if "task_acc" in rs[0]:
            per = list(zip(*[r["task_acc"] for r in rs]))
            row["task_mean"] = [statistics.mean(t) for t in per]
            row["task_se"] = [statistics.stdev(t) / math.sqrt(len(t)) if len(t) > 1 else 0.0 for t in per]
        out.append(row)
    return out


def _baseline(summary: list[dict], row: dict) -> dict | None:
    """The matched baseline of ``row``'s cell (same readout; else the cell's z-readout one)."""
    cands = [s for s in summary if s["cell"] == row["cell"] and s["arm"] == "matched"]
    return next((s for s in cands if s["readout"] == row["readout"]), cands[0] if cands else None)


def _z(row: dict, base: dict) -> str:
    """The difference in units of its standard error (the two arms' errors combined)."""
    se = math.hypot(row["se"], base["se"])
    return f"{(row['mean'] - base['mean']) / se:+.1f}" if se > 0 else "-"


def _overview(summary: list[dict]) -> list[str]:
    """Every interacting arm against its matched baseline, per experiment, beside the null
    comparison "none vs matched" (two nets without interaction that differ by one hidden unit):
    how large differences are that no interaction can have caused."""
    lines = ["## Overview: every comparison with the matched baseline", "",
             "| experiment | comparisons | mean Δ (points) | ahead / behind | beyond +2 SE | beyond -2 SE |",
             "|---|---:|---:|---:|---:|---:|"]
    groups: dict[str, list[tuple[float, float]]] = {}
    for s in summary:
        base = _baseline(summary, s)
        if base is None or base is s or s["arm"] == "matched":
            continue
        se = math.hypot(s["se"], base["se"])
        label = s["exp"] + (" null: none vs matched" if s["interaction"] == "none" else " interaction")
        groups.setdefault(label, []).append((s["mean"] - base["mean"], se))
    for label in sorted(groups):
        ds = groups[label]
        mean = statistics.mean(d for d, _ in ds)
        lines.append(f"| {label} | {len(ds)} | {100 * mean:+.2f} | {sum(d > 0 for d, _ in ds)} / "
                     f"{sum(d < 0 for d, _ in ds)} | {sum(se > 0 and d > 2 * se for d, se in ds)} | "
                     f"{sum(se > 0 and d < -2 * se for d, se in ds)} |")
    return lines + [""]


def _pm(mean: float, se: float) -> str:
    return f"{100 * mean:.1f} ± {100 * se:.1f}"


TASK_NAMES = {"datasets": ("MNIST", "Fashion", "KMNIST"), "rotated": ("0°", "45°", "90°")}


def report(out: Path, runs: list[dict], command: str) -> list[dict]:
    summary = summarise(runs)
    unique = list({r["key"]: r for r in runs}.values())
    cells = []
    for s in summary:
        if s["cell"] not in cells:
            cells.append(s["cell"])
    lines = [
        "# E1b - where does interaction among the circuits help? (tables; verdicts below)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: 2-core x86_64 VM, no GPU ({platform.processor() or platform.machine()}, {os.cpu_count()} logical "
        f"CPUs shared with other jobs), 1 torch thread per worker; python {platform.python_version()}. "
        f"Runs: {len(unique)}, {sum(r.get('cpu_seconds', r['seconds']) for r in unique) / 60:.1f} CPU-minutes of "
        f"training ({sum(r['seconds'] for r in unique) / 60:.1f} minutes of wall time per worker on the shared "
        "cores). A run whose settings two cells share (e.g. the baselines of h1 and h2) ran once and shows in both.",
        "",
        "Mean ± standard error over seeds (n). Δ: difference to the parameter-matched baseline (no interaction, "
        "at least as many parameters: `hidden` MLP units), in points. `none`: the same net without interaction.",
        "",
    ]
    for cell in cells:
        rows = [s for s in summary if s["cell"] == cell]
        r0 = rows[0]
        lines += [f"## {cell} ({r0['n_train']} training images{' per task' if r0['exp'] == 'h3' else ''}, "
                  f"{r0['epochs']} epochs)", ""]
        tasks = next((r["tasks"] for r in runs if _cell_name(r) == cell and "tasks" in r), None)
        head = "| arm | readout | test acc (%) | Δ vs matched | Δ / SE | Δ vs none | params (interaction) | hidden |"
        sep = "|---|---|---:|---:|---:|---:|---:|---:|"
        if tasks:
            head += " " + " | ".join(TASK_NAMES[tasks]) + " |"
            sep += "---:|" * 3
        lines += [head, sep]
        for s in rows:
            base = _baseline(summary, s)
            delta, z = "-", "-"
            if base is not None and base is not s:
                delta, z = f"{100 * (s['mean'] - base['mean']):+.1f}", _z(s, base)
            none = next((r for r in rows if r["arm"] == "none" and r["readout"] == s["readout"]), None)
            vs_none = "-" if none is None or s["interaction"] == "none" else f"{100 * (s['mean'] - none['mean']):+.1f}"
            line = (f"| {s['arm']} | {s['readout']} | {_pm(s['mean'], s['se'])} (n={s['seeds']}) | {delta} | {z} | {vs_none} | "
                    f"{s['params']} ({s['interaction_params']}) | {s['hidden']} |")
            if tasks:
                line += " " + " | ".join(_pm(m, e) for m, e in zip(s["task_mean"], s["task_se"])) + " |"
            lines.append(line)
        lines.append("")
    lines += _overview(summary)
    write_atomic(out / f"{NAME}.json", json.dumps({"command": command, "summary": summary}, indent=1) + "\n")
    text = "\n".join(lines) + "\n"
    md = out / f"{NAME}.md"
    if md.exists() and "\n## Verdicts" in md.read_text():  # keep the hand-written verdicts
        old = md.read_text()
        text += old[old.index("\n## Verdicts"):]
    write_atomic(md, text)
    plot(out / f"{NAME}.png", summary, cells)
    return summary


def plot(path: Path, summary: list[dict], cells: list[str]) -> None:
    plt = pyplot()
    if plt is None:
        return

    cols = min(3, len(cells)) or 1
    rows_n = math.ceil(len(cells) / cols) or 1
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.2 * cols, 0.35 * 14 + 1.0 * rows_n), squeeze=False)
    for ax, cell in zip(axes.flat, cells):
        rows = [s for s in summary if s["cell"] == cell]
        base = next((s for s in rows if s["arm"] == "matched"), None)
        ys = range(len(rows))
        colors = ["tab:gray" if s["interaction"] == "none" else "tab:red" for s in rows]
        ax.barh(list(ys), [100 * s["mean"] for s in rows], xerr=[100 * s["se"] for s in rows], color=colors, alpha=0.7)
        ax.set_yticks(list(ys), [f"{s['arm']} [{s['readout']}]" for s in rows], fontsize=7)
        lo = min(100 * (s["mean"] - s["se"]) for s in rows)
        hi = max(100 * (s["mean"] + s["se"]) for s in rows)
        ax.set_xlim(max(0.0, lo - 3), min(100.0, hi + 2))
        if base is not None:
            ax.axvline(100 * base["mean"], color="k", lw=0.8, ls="--")
        ax.set_title(cell, fontsize=8)
        ax.set_xlabel("test accuracy (%)  (grey: no interaction; dashed: first matched baseline)", fontsize=7)
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(cells):]:
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path, dpi=110)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="E1b: where does interaction among the circuits help?")
    ap.add_argument("--exps", default="h1,h2,h3,h4", help="comma-separated experiments of h1,h2,h3,h4")
    ap.add_argument("--dataset", default="mnist", help="data set of h1, h2, h4 and of h3's rotated tasks")
    ap.add_argument("--seeds", type=positive_int, default=3)
    ap.add_argument("--circuits", type=positive_int, default=4, help="d of h1, h2, h4 (h3 uses 3)")
    ap.add_argument("--qubits", type=positive_int, default=6)
    ap.add_argument("--layers", type=positive_int, default=3)
    ap.add_argument("--size", type=positive_int, default=8)
    ap.add_argument("--hidden", type=positive_int, default=32, help="hidden units of the MLP angle net")
    ap.add_argument("--per-class", type=positive_int, default=50)
    ap.add_argument("--epochs", type=positive_int, default=15)
    ap.add_argument("--epochs-few", type=positive_int, default=30, help="h3 epochs with <= 20 images per class")
    ap.add_argument("--few-shot", default="10,50", help="h3: images per class and task")
    ap.add_argument("--task-sets", default="datasets,rotated", help="h3: datasets and/or rotated")
    ap.add_argument("--strengths", default="0.01,0.05,0.2,1.0", help="h2: interaction_init sweep")
    ap.add_argument("--h4-qubits", type=positive_int, default=8)
    ap.add_argument("--h4-size", type=positive_int, default=16)
    ap.add_argument("--h4-layers", type=positive_int, default=6)
    ap.add_argument("--h4-epochs", type=positive_int, default=10)
    ap.add_argument("--h4-per-class", type=positive_int, default=100)
    ap.add_argument("--batch-size", type=positive_int, default=50)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--n-val", type=positive_int, default=500)
    ap.add_argument("--n-test", type=positive_int, default=1000)
    ap.add_argument("--n-val-task", type=positive_int, default=300)
    ap.add_argument("--n-test-task", type=positive_int, default=500)
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="folder of the run log, tables and plot "
                    "(default experiments/results)")
    ap.add_argument("--quick", action="store_true", help="smoke run: built-in digits, tiny nets, 1 seed, 1 epoch, "
                    "every experiment; files in a temporary folder")
    ap.add_argument("--report", action="store_true", help="only rebuild the tables and plot")
    args = ap.parse_args(argv)
    command = "python experiments/e1b_interaction.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.exps = comma_choices(ap, "--exps", args.exps, EXPERIMENTS)
    args.task_sets = comma_choices(ap, "--task-sets", args.task_sets, ("datasets", "rotated"))
    try:
        args.few_shot = [positive_int(v) for v in args.few_shot.split(",")]
        args.strengths = [float(v) for v in args.strengths.split(",")]
    except (ValueError, argparse.ArgumentTypeError) as exc:
        ap.error(f"--few-shot / --strengths: {exc}")
    if args.quick:
        args.dataset, args.seeds, args.qubits, args.layers, args.circuits, args.hidden = "digits", 1, 2, 2, 2, 4
        args.per_class, args.epochs, args.epochs_few, args.few_shot, args.strengths = 3, 1, 1, [3], []
        args.h4_qubits, args.h4_size, args.h4_layers, args.h4_epochs, args.h4_per_class = 3, 8, 2, 1, 3
        args.n_val, args.n_test, args.n_val_task, args.n_test_task, args.workers = 30, 30, 20, 20, 1
        args.out = quick_output(ap, args.out, name=NAME)
    elif args.out is None:
        args.out = RESULTS
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / f"{NAME}.jsonl"
    done = read_json_lines(runs_path, key="key")
    grid = configs(args)
    todo = list({key(c): c for c in grid if key(c) not in done}.values())  # a run shared by two cells runs once
    print(f"{len(done)} runs done, {len(todo)} to go -> {runs_path}", flush=True)
    if not args.report and todo:
        jobs = []
        for cfg in todo:
            hidden, target = matched_hidden(cfg, grid) if cfg["extra"] == -1 else (cfg["hidden"], 0)
            jobs.append((cfg, hidden, target))
        # cheap experiments first, so that an interrupted run has whole cells
        order = {e: i for i, e in enumerate(EXPERIMENTS)}
        jobs.sort(key=lambda j: (order[j[0]["exp"]], j[0]["seed"], j[0].get("tasks", ""), j[0]["per_class"]))
        run_jobs(run_one, jobs, workers=args.workers, log=runs_path,
                 describe=lambda rec: f"{rec['exp']} {rec['arm']} [{rec['readout']}] seed={rec['seed']} "
                                      f"test_acc={rec['test_acc']:.4f} ({rec['seconds']:.1f}s)")
    # every experiment's view of the finished runs: a run shared by two cells (same settings) shows in both
    done = read_json_lines(runs_path, key="key")
    args.exps = list(EXPERIMENTS)
    runs = [{**done[key(c)], "exp": c["exp"], "arm": c["arm"]} for c in configs(args) if key(c) in done]
    summary = report(args.out, runs, command)
    print(f"wrote {args.out / (NAME + '.md')}")
    print(f"runs={len(runs)}")
    return 0 if summary else 1


if __name__ == "__main__":
    run_script(main)
