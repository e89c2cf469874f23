"""Benchmark: batched torch AQCE (encoders.aqce) vs a straightforward per-image NumPy AQCE.

AQCE: Shirakawa, Ueda & Yunoki, arXiv:2112.14524; the f80/f90 presets are MNISQ's (Placidi et
al., arXiv:2306.16627).

The reference below is the same algorithm written the simple way: one image at a time, the
partial states recomputed from scratch at every sweep position (O(M^2) block applications per
sweep), a Python loop over the 45 pairs with a NumPy SVD each. Both must give the same overlaps
(checked to 1e-8 on the images the reference encodes).

Usage::

    python experiments/bench_aqce.py                   # f80 and f90, MNIST test images
    python experiments/bench_aqce.py --n-ours 16 --n-ref 2 --repeats 1   # fewer images
    python experiments/bench_aqce.py --quick    # smoke run: f80 on 2 of scikit-learn's 8x8 digits (6 qubits)

Last line: ``ratio_vs_per_image_numpy=<ours img/s / reference img/s at f80>``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time

import numpy as np
import torch

# experiments/_cli.py; this script's own folder is on sys.path
from _cli import comma_choices, positive_int, run_script

from qcstar.encoders.aqce import LEVELS, AQCEEncoder

DELTA = 1e-7  # the encoder's tie-break regularisation of rank-deficient polar factors


# --------------------------------------------------------------------------------------
# the straightforward per-image reference
# --------------------------------------------------------------------------------------

def _apply(psi: np.ndarray, u: np.ndarray, i: int, j: int, n: int) -> np.ndarray:
    """A 4x4 block (index b_i + 2 b_j) on qubits (i, j) of an n-qubit real state."""
    t = np.moveaxis(psi.reshape([2] * n), [n - 1 - j, n - 1 - i], [0, 1])  # (b_j, b_i, rest)
    shape = t.shape
    t = (u @ t.reshape(4, -1)).reshape(shape)
    return np.moveaxis(t, [0, 1], [n - 1 - j, n - 1 - i]).reshape(-1)


def _slices(psi: np.ndarray, i: int, j: int, n: int) -> np.ndarray:
    """(4, 2**(n-2)): rows a = b_i + 2 b_j."""
    return np.moveaxis(psi.reshape([2] * n), [n - 1 - j, n - 1 - i], [0, 1]).reshape(4, -1)


def reference_aqce(t: np.ndarray, level: str) -> tuple[float, list]:
    """Per-image AQCE in NumPy, full recomputation. Returns (overlap, [(pair, gate), ...])."""
    n = int(np.log2(t.size))
    m0, md, nsw, mmax = LEVELS[level]
    pairs = list(itertools.combinations(range(n), 2))
    s = int(np.argmax(np.abs(t)))
    bits = [(s >> q) & 1 for q in range(n)]
    s_vec = np.zeros_like(t)
    s_vec[s] = 1.0
    gates: list = [((0, 1), np.eye(4)) for _ in range(m0)]

    def forward(upto: int) -> np.ndarray:
        psi = s_vec
        for (i, j), u in gates[:upto]:
            psi = _apply(psi, u, i, j, n)
        return psi

    def backward(downto: int) -> np.ndarray:
        psi = t
        for (i, j), u in reversed(gates[downto:]):
            psi = _apply(psi, u.T, i, j, n)
        return psi

    def sweep() -> None:
        for m in range(len(gates)):
            phi, chi = forward(m), backward(m + 1)
            best, best_val, best_env = 0, -np.inf, None
            for p, (i, j) in enumerate(pairs):
                env = _slices(phi, i, j, n) @ _slices(chi, i, j, n).T
                val = np.linalg.svd(env, compute_uv=False).sum()
                if val > best_val:
                    best, best_val, best_env = p, val, env
            w, _, vh = np.linalg.svd(best_env + DELTA * np.eye(4))
            gates[m] = (pairs[best], (w @ vh).T)

    def grow() -> None:
        r = backward(0)
        tops = []
        for p, (i, j) in enumerate(pairs):
            sl = _slices(r, i, j, n)
            tops.append(np.linalg.eigvalsh(sl @ sl.T)[-1])
        if gates:
            tops[pairs.index(gates[0][0])] = -np.inf
        p = int(np.argmax(tops))
        i, j = pairs[p]
        sl = _slices(r, i, j, n)
        vals, vecs = np.linalg.eigh(sl @ sl.T)
        vecs = vecs[:, ::-1].copy()
        for c in range(4):  # canonical sign: largest-magnitude entry positive
            k = int(np.argmax(np.abs(vecs[:, c])))
            if vecs[k, c] < 0:
                vecs[:, c] *= -1
        s_ij = bits[i] + 2 * bits[j]
        base = s & ~((1 << i) | (1 << j))
        proj = np.array([r[base + ((a & 1) << i) + (((a >> 1) & 1) << j)] for a in range(4)])
        if proj @ vecs[:, 0] < 0:
            vecs[:, 0] *= -1
        v = vecs[:, [a ^ s_ij for a in range(4)]]
        gates.insert(0, ((i, j), v))

    for _ in range(nsw):
        sweep()
    while len(gates) < mmax:
        for _ in range(md):
            grow()
        for _ in range(nsw):
            sweep()
    return float(t @ forward(len(gates))), gates


# --------------------------------------------------------------------------------------

def load_first_images(source: str, count: int) -> np.ndarray:
    """The first ``count`` images of ``source``: MNIST's official test images, checksum-verified
    (``$QCSTAR_DATA``), or scikit-learn's built-in 8x8 digits (no files needed)."""
    from qcstar.data import load_images

    images, _ = load_images(source, "train" if source == "digits" else "test")
    return images[:count].numpy().copy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="f80,f90")
    ap.add_argument("--n-ours", type=positive_int, default=32, help="images per timed batched run")
    ap.add_argument("--n-ref", type=positive_int, default=2, help="images for the NumPy reference (slow)")
    ap.add_argument("--repeats", type=positive_int, default=3, help="timed repeats of the batched run (median)")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--device", default="cpu", help="device of our encoder, e.g. cuda (the reference stays on the CPU)")
    ap.add_argument("--source", choices=("mnist", "digits"), default="mnist",
                    help="MNIST test images (10 qubits) or scikit-learn's 8x8 digits (6 qubits)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: f80 on 2 digits, the reference on 1, one repeat, 1 thread (prints only)")
    args = ap.parse_args(argv)
    if args.quick:
        args.levels, args.source, args.n_ours, args.n_ref, args.repeats, args.threads = "f80", "digits", 2, 1, 1, 1
    levels = comma_choices(ap, "--levels", args.levels, LEVELS)
    torch.set_num_threads(args.threads)
    imgs = load_first_images(args.source, max(args.n_ours, args.n_ref))
    n_qubits = math.ceil(math.log2(imgs[0].size))  # MNISQ pads the flattened image to a power of two
    ratios = {}
    for level in levels:
        times, res = [], None
        for _ in range(args.repeats):
            # a fresh encoder each repeat: encode() caches its last result
            enc = AQCEEncoder(level=level, n_qubits=n_qubits, batch_size=args.n_ours, device=args.device)
            t0 = time.perf_counter()
            res = enc.encode(imgs[: args.n_ours])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        ours = args.n_ours / statistics.median(times)
        targets = res.targets.cpu().numpy()
        ref_times, diffs = [], []
        for b in range(args.n_ref):
            t0 = time.perf_counter()
            ov, _ = reference_aqce(targets[b], level)
            ref_times.append(time.perf_counter() - t0)
            diffs.append(abs(ov - float(res.overlap[b])))
        ref = 1.0 / statistics.median(ref_times)
        ratios[level] = ours / ref
        print(
            f"{level}: ours ({args.device}) {ours:.3f} img/s (batch {args.n_ours}, median of {args.repeats}: "
            f"{[round(x, 2) for x in times]} s), reference {ref:.4f} img/s "
            f"(per-image NumPy, {args.n_ref} images: {[round(x, 2) for x in ref_times]} s), "
            f"ratio {ours / ref:.1f}x, mean overlap {float(res.overlap.mean()):.4f}, "
            f"max |overlap - reference| {max(diffs):.2e}",
            flush=True,
        )
        if max(diffs) > 1e-8:
            print(f"WARNING: {level} overlaps differ from the reference by {max(diffs):.2e}", flush=True)
    key = "f80" if "f80" in ratios else next(iter(ratios))
    print(f"ratio_vs_per_image_numpy={ratios[key]:.3f}")


if __name__ == "__main__":
    run_script(main)
