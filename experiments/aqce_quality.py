"""AQCE quality: overlap distribution per level on MNIST and Fashion-MNIST test images.

AQCE (Shirakawa, Ueda & Yunoki, arXiv:2112.14524) with MNISQ's presets f80/f90/f95 (Placidi
et al., arXiv:2306.16627), as ``encoders.aqce.AQCEEncoder`` implements it.

Resumable: every chunk of images appends one JSON line to ``<out>.chunks.jsonl``; a rerun
skips chunks already there. The summary (md + json) is rewritten atomically after each chunk.

Usage (background, low priority)::

    nice -n 10 python experiments/aqce_quality.py --limit 1000 --chunk 64
    python experiments/aqce_quality.py --summary-only        # rewrite the md/json from the chunks
    python experiments/aqce_quality.py --quick               # smoke run: 2 digits at f80, temporary folder

``--limit`` scales the run (the README's table: 1,000 + 1,000 images per level).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
# experiments/_cli.py; this script's own folder is on sys.path
from _cli import RESULTS, append_json_line, comma_choices, positive_int, quick_output, read_json_lines, run_script

from qcstar.circuits.files import write_atomic
from qcstar.encoders.aqce import AQCEEncoder

NOMINAL = {"f80": 0.80, "f90": 0.90, "f95": 0.95}
#: --sources name -> (qcstar.data name, split); digits (scikit-learn's 8x8) has only "train"
SOURCES = {"mnist": ("mnist", "test"), "fashion": ("fashion-mnist", "test"), "digits": ("digits", "train")}


def load_test_images(source: str) -> np.ndarray:
    """The images of ``source`` as (N, H, W) uint8: the official 10,000 test images of MNIST or
    Fashion-MNIST (checksum-verified, from ``$QCSTAR_DATA`` or the data directory rules of
    :func:`qcstar.data.data_dir`), or the 1,797 built-in digits."""
    from qcstar.data import load_images

    images, _ = load_images(*SOURCES[source])
    return images.numpy()


def summarise(chunks_path: Path, out_md: Path, out_json: Path, args: argparse.Namespace) -> dict:
    rows = read_json_lines(chunks_path)
    table: dict = {}
    for r in rows:
        key = f"{r['source']}/{r['level']}"
        d = table.setdefault(key, {"overlap": [], "fidelity": [], "seconds": 0.0})
        d["overlap"] += r["overlap"]
        d["fidelity"] += r["fidelity"]
        d["seconds"] += r["seconds"]
    summary = {}
    for key, d in sorted(table.items()):
        ov = np.array(d["overlap"])
        fi = np.array(d["fidelity"])
        level = key.split("/")[1]
        summary[key] = {
            "n": int(ov.size),
            "overlap_mean": float(ov.mean()),
            "overlap_p5": float(np.percentile(ov, 5)),
            "overlap_min": float(ov.min()),
            "overlap_median": float(np.median(ov)),
            "fidelity_mean": float(fi.mean()),
            "frac_ge_nominal": float((ov >= NOMINAL[level]).mean()),
            "nominal": NOMINAL[level],
            "seconds_per_image": d["seconds"] / ov.size,
        }
    write_atomic(out_json, json.dumps({"config": vars(args), "results": summary}, indent=2, default=str) + "\n")
    lines = [
        "# AQCE quality: overlap Re<t|C|s> per level (MNISQ's \"fidelity\")",
        "",
        "Our batched `encoders.aqce.AQCEEncoder` (float64, CPU), official test images (first N of the",
        "10,000, in file order; `digits`: the first N of scikit-learn's 1,797), MNISQ preprocessing.",
        "Budgets: f80/f90/f95 = 27/54/108 blocks.",
        "`fidelity` is the state fidelity |<t|C|s>|^2 = overlap^2.",
        "",
        f"Command: `{args.command}`",
        "",
        "| set / level | n | overlap mean | 5th pct | min | median | fidelity mean | share >= nominal | MNISQ nominal | s/img (CPU, shared) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summary.items():
        lines.append(
            f"| {key} | {s['n']} | {s['overlap_mean']:.4f} | {s['overlap_p5']:.4f} | {s['overlap_min']:.4f} | "
            f"{s['overlap_median']:.4f} | {s['fidelity_mean']:.4f} | {s['frac_ge_nominal']:.2f} | {s['nominal']:.2f} | "
            f"{s['seconds_per_image']:.2f} |"
        )
    lines += [
        "",
        "Scaling: the README's table uses 1,000 MNIST + 1,000 Fashion-MNIST images per level; `n` above is what",
        "this shared 2-core machine finished (resumable; rerun the command to continue).",
        "Extrapolated CPU time at the measured s/img (this machine, shared, 1 process):",
        "",
        "| level | 1,000 images | 70,000 images |",
        "|---|---|---|",
    ]
    for level in ("f80", "f90", "f95"):
        rates = [s["seconds_per_image"] for k, s in summary.items() if k.endswith(level)]
        if rates:
            r = float(np.mean(rates))
            lines.append(f"| {level} | {r * 1000 / 3600:.1f} h | {r * 70000 / 3600:.0f} h |")
    text = "\n".join(lines) + "\n"
    if out_md.exists() and "\n## Findings" in out_md.read_text():  # keep the hand-written findings
        old = out_md.read_text()
        text += old[old.index("\n## Findings"):]
    write_atomic(out_md, text)
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=positive_int, default=1000, help="images per source and level")
    ap.add_argument("--chunk", type=positive_int, default=64, help="images per chunk (one JSON line each)")
    ap.add_argument("--levels", default="f80,f90,f95")
    ap.add_argument("--sources", default="mnist,fashion")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--out", default=None,
                    help="path prefix of the .chunks.jsonl/.md/.json files (default experiments/results/aqce_quality)")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 of the built-in digits at f80, 1 thread, files in a temporary folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.limit, args.chunk, args.levels, args.sources, args.threads = 2, 2, "f80", "digits", 1
        out = quick_output(ap, args.out, name="aqce_quality", filename="aqce_quality")
        args.command = "python experiments/aqce_quality.py --quick"
    else:
        out = Path(args.out) if args.out is not None else RESULTS / "aqce_quality"
        # the options that define the numbers (a --summary-only rerun keeps the same line)
        chosen = [f"--{k} {getattr(args, k)}" for k in ("levels", "sources") if getattr(args, k) != ap.get_default(k)]
        args.command = " ".join(
            ["nice -n 10 python experiments/aqce_quality.py", f"--limit {args.limit} --chunk {args.chunk}", *chosen]
        )
    levels = comma_choices(ap, "--levels", args.levels, NOMINAL)
    sources = comma_choices(ap, "--sources", args.sources, SOURCES)
    torch.set_num_threads(args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    chunks_path = out.with_suffix(".chunks.jsonl")
    out_md, out_json = out.with_suffix(".md"), out.with_suffix(".json")
    if args.summary_only:
        print(json.dumps(summarise(chunks_path, out_md, out_json, args), indent=2))
        return
    done = set()
    for r in read_json_lines(chunks_path):
        done.add((r["source"], r["level"], r["start"], r["stop"]))
    images = {s: load_test_images(s) for s in sources}
    # round-robin over (level, source) chunk by chunk, so a partial run covers every cell
    plan = []
    for start in range(0, args.limit, args.chunk):
        for level in levels:
            for source in sources:
                plan.append((source, level, start, min(start + args.chunk, args.limit)))
    for source, level, start, stop in plan:
        if (source, level, start, stop) in done:
            continue
        n_qubits = math.ceil(math.log2(images[source][0].size))  # MNISQ pads the flat image to 2**n
        enc = AQCEEncoder(level=level, n_qubits=n_qubits, batch_size=args.chunk)
        t0 = time.perf_counter()
        res = enc.encode(images[source][start:stop])
        sec = time.perf_counter() - t0
        row = {
            "source": source, "level": level, "start": start, "stop": stop, "seconds": sec,
            "overlap": res.overlap.tolist(), "fidelity": res.fidelity.tolist(),
            "n_blocks": res.n_blocks.tolist(),
        }
        append_json_line(chunks_path, row)  # one line per chunk; a torn last line is skipped on resume
        summary = summarise(chunks_path, out_md, out_json, args)
        s = summary[f"{source}/{level}"]
        print(f"{source} {level} [{start}:{stop}] {sec:.1f}s mean={s['overlap_mean']:.4f} n={s['n']}", flush=True)


if __name__ == "__main__":
    run_script(main)
