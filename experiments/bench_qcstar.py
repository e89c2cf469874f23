"""Benchmark: one training step (forward + backward) of QCStarNet vs the same model in PennyLane.

QCStarNet: the quantum circuit C*-algebra net of Hashimoto & Hataya, arXiv:2404.06218.

Model: n = 10 system qubits, d = 4 circuits (a = 2 index qubits), L = 4 layers of RY+RZ with
data-dependent angles from a linear angle net on 8x8 images, CX ladder, interaction V_l on the
index register (random, non-identity), readout <Z_q> per circuit (diagonal of the A-valued
readout), per-circuit affine heads, mean of logits, cross-entropy; batch 256.

PennyLane: ``default.qubit``, torch interface, ``diff_method="backprop"``, parameter
broadcasting over the batch; wires = index + system; the multiplexed rotations are
Gray-code RY/RZ + CNOT sequences (what ``qml.SelectPauliRot`` decomposes into), or - the
faster variant - one broadcast ``qml.QubitUnitary`` per qubit holding the multiplexed RZ.RY
blocks (PennyLane: first wire = most significant bit, so the index wires are passed top
qubit first); V_l is ``qml.QubitUnitary`` on the index wires; one QNode execution
per source circuit s (index prepared in |s>) gives diag(R). The angle net, V_l = exp(K - K^H)
and the head are the same torch modules in both, so the gradients are compared parameter by
parameter.

Note: ``qml.SelectPauliRot`` in PennyLane 0.45.1 returns wrong expectation values when its
angles are torch tensors (it agrees with numpy angles), so it is not used here.

Run::

    python experiments/bench_qcstar.py            # prints a table; last line ratio_vs_pennylane_default=<x>
    python experiments/bench_qcstar.py --repeats 7 --out experiments/results/bench_qcstar.md
    python experiments/bench_qcstar.py --quick    # smoke run: n = 3, d = 2, L = 2, batch 8, seconds
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
# experiments/_cli.py; this script's own folder is on sys.path
from _cli import positive_int, quick_output, run_script

from qcstar.circuits.decompose import multiplexed_rotation as gray_code_multiplexor
from qcstar.circuits.files import write_atomic
from qcstar.net import QCStarNet


def build(dtype: torch.dtype, *, n: int, d: int, layers: int, seed: int) -> QCStarNet:
    net = QCStarNet(n_qubits=n, n_circuits=d, n_layers=layers, n_classes=10, in_shape=(8, 8),
                    interaction="global", dtype=dtype, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        net.interaction_params.copy_(0.3 * torch.randn(net.interaction_params.shape, generator=g))
    return net


def pennylane_features(net: QCStarNet, x: torch.Tensor, *, variant: str = "gray"):
    """Per-circuit <Z_q> (B, d, n) of ``net`` computed by PennyLane default.qubit (backprop).

    ``variant="gray"``: every multiplexed rotation as PennyLane RY/RZ + CNOT in the Gray-code
    pattern (what ``qml.SelectPauliRot`` decomposes into; SelectPauliRot itself returns wrong
    values with torch tensors in PennyLane 0.45.1, see the module docstring);
    ``variant="fused"``: RZ.RY of each qubit is fused into one multiplexed 2x2 block per index
    value and applied as one broadcast ``qml.QubitUnitary`` on (index wires, qubit) - the
    same fusion our simulator does, so the fastest fair PennyLane formulation we found.
    """
    import pennylane as qml

    from qcstar.circuits.gates import GATES

    n, a, d = net.n_qubits, net.n_index, net.n_circuits
    sys_wires = list(range(n))
    idx_top_first = list(range(n + a - 1, n - 1, -1))  # PennyLane: first control wire = MSB
    dev = qml.device("default.qubit", wires=idx_top_first + sys_wires[::-1])
    angles = net.angles(x)  # (B, L, d, n, R)
    pad = net.n_padded - d
    if pad:
        angles = torch.nn.functional.pad(angles, (0, 0, 0, 0, 0, pad))
    angles = angles.to(torch.float64)
    vs = net.interaction_unitaries().to(torch.complex128)
    if variant == "fused":
        mats = None  # (B, L, D, n, 2, 2): the catalogue's matrices, the rotations in order
        for r, name in enumerate(net.rotations):
            m = GATES[name].matrix_fn([angles[..., r]], torch.complex128)
            mats = m if mats is None else m @ mats
        # block-diagonal over the index value: (B, L, n, D*2, D*2), index = c*2 + target bit
        bd = torch.zeros(*mats.shape[:2], n, 2 * net.n_padded, 2 * net.n_padded, dtype=torch.complex128)
        for c in range(net.n_padded):
            bd[..., 2 * c:2 * c + 2, 2 * c:2 * c + 2] = mats[:, :, c]

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(src):
        for i, w in enumerate(range(n, n + a)):
            if (src >> i) & 1:
                qml.PauliX(w)
        for l in range(net.n_layers):
            for q in range(n):
                if variant == "fused":
                    qml.QubitUnitary(bd[:, l, q], wires=idx_top_first + [q])
                    continue
                for r, name in enumerate(net.rotations):
                    gate = {"ry": qml.RY, "rz": qml.RZ, "rx": qml.RX}[name]
                    for op in gray_code_multiplexor(name, angles[:, l, :, q, r], q, list(range(n, n + a))):
                        if op.name == "cx":
                            qml.CNOT(wires=list(op.wires))
                        else:
                            gate(op.params[0], wires=op.wires[0])
            for q in range(n - 1):
                qml.CNOT(wires=[q, q + 1])
            qml.QubitUnitary(vs[l], wires=idx_top_first)
        return [qml.expval(qml.PauliZ(q)) for q in range(n)]

    feats = [torch.stack(circuit(s), -1) for s in range(d)]  # d x (B, n)
    return torch.stack(feats, 1)  # (B, d, n)


def step_ours(net, x, y):
    net.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    return loss.detach()


def step_pennylane(net, x, y, *, micro: int, variant: str):
    """Same loss and gradients; micro-batches with gradient accumulation (PennyLane's backprop
    graph at batch 256 needs more than the 23 GB of this machine)."""
    net.zero_grad(set_to_none=True)
    total = 0.0
    for i in range(0, x.shape[0], micro):
        xb, yb = x[i:i + micro], y[i:i + micro]
        f = pennylane_features(net, xb, variant=variant)
        logits = net.logits_from_features(f.to(net.real_dtype))
        loss = torch.nn.functional.cross_entropy(logits, yb, reduction="sum") / x.shape[0]
        loss.backward()
        total += float(loss.detach())
    return total


def grads(net):
    return {k: p.grad.detach().clone() for k, p in net.named_parameters() if p.grad is not None}


def max_relative_error(ours: dict, ref: dict, *, floor: float = 0.1) -> float:
    """Largest per-parameter error ``max|ours - ref| / max|ref|`` over the parameters of ``ref``.

    A parameter whose reference gradient is (near) zero - the interaction of the last layer
    cannot change a diagonal readout - is compared with ``floor`` times the largest gradient
    instead, so rounding noise on both sides does not read as a mismatch.
    """
    scale = max(float(g.abs().max()) for g in ref.values())
    return max(
        float((ours[k].to(ref[k].dtype) - ref[k]).abs().max()) / max(float(ref[k].abs().max()), floor * scale, 1e-30)
        for k in ref
    )


def timed(fn, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qubits", type=positive_int, default=10)
    ap.add_argument("--circuits", type=positive_int, default=4)
    ap.add_argument("--layers", type=positive_int, default=4)
    ap.add_argument("--batch", type=positive_int, default=256)
    ap.add_argument("--repeats", type=positive_int, default=5)
    ap.add_argument("--pl-repeats", type=positive_int, default=None, help="repeats for PennyLane (default: --repeats)")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--check-batch", type=positive_int, default=16, help="batch of the gradient check")
    ap.add_argument("--gray-microbatch", type=positive_int, default=4, help="PennyLane micro-batch, Gray-code variant")
    ap.add_argument("--pl-microbatch", type=positive_int, default=16,
                    help="PennyLane micro-batch (its backprop graph at 256 exceeds this machine's memory)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write a markdown summary here")
    ap.add_argument("--device", default=None,
                    help="also time our step on this device (e.g. cuda); with --ours-only, PennyLane is not needed")
    ap.add_argument("--ours-only", action="store_true", help="time only our step (a GPU box without PennyLane)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: n = 3, d = 2, L = 2, batch 8, one timed step, 1 thread; "
                    "markdown into a temporary folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.qubits, args.circuits, args.layers, args.batch = 3, 2, 2, 8
        args.repeats, args.pl_repeats, args.threads = 1, 1, 1
        args.check_batch, args.gray_microbatch, args.pl_microbatch = 4, 4, 8
        args.out = quick_output(ap, args.out, name="bench_qcstar", filename="bench_qcstar.md")
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.batch, 8, 8, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    kw = dict(n=args.qubits, d=args.circuits, layers=args.layers, seed=args.seed)
    if args.device is not None or args.ours_only:
        dev = torch.device(args.device or "cpu")
        for dtype in (torch.complex64, torch.complex128):
            net = build(dtype, **kw).to(dev)
            xd, yd = x.to(dev), y.to(dev)
            if dtype == torch.complex128:
                xd = xd.double()

            def run():
                step_ours(net, xd, yd)
                if dev.type == "cuda":
                    torch.cuda.synchronize()

            ts = timed(run, args.repeats * 3, warmup=3)
            name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev)
            print(f"ours on {name}, {dtype}: median {statistics.median(ts):.4f} s/step ({len(ts)} runs)")
        if args.ours_only:
            return 0

    # gradient check: ours (complex64 and complex128) vs PennyLane, same parameters
    micro = args.pl_microbatch
    xc, yc = x[: args.check_batch], y[: args.check_batch]
    net64 = build(torch.complex128, **kw)
    step_ours(net64, xc.double(), yc)
    g_ours = grads(net64)
    net32 = build(torch.complex64, **kw)
    step_ours(net32, xc, yc)
    g32 = grads(net32)
    errs = {}
    for variant in ("gray", "fused"):
        step_pennylane(net64, xc.double(), yc, micro=micro, variant=variant)
        g_pl = grads(net64)
        err, err32 = max_relative_error(g_ours, g_pl), max_relative_error(g32, g_pl)
        errs[variant] = (err, err32)
        print(f"gradient check ({variant}): max relative error ours(c128) vs PennyLane {err:.2e}; ours(c64) {err32:.2e}",
              flush=True)
        if err > 1e-8 or err32 > 1e-3:
            print("GRADIENT MISMATCH", file=sys.stderr)
            return 1

    t_ours = timed(lambda: step_ours(net32, x, y), args.repeats)
    t_ours128 = timed(lambda: step_ours(net64, x.double(), y), args.repeats)
    pl_rep = args.pl_repeats or args.repeats
    t_sel = timed(lambda: step_pennylane(net32, x, y, micro=args.gray_microbatch, variant="gray"), pl_rep)
    t_fus = timed(lambda: step_pennylane(net32, x, y, micro=micro, variant="fused"), pl_rep)
    m_ours, m_128, m_sel, m_fus = (statistics.median(t) for t in (t_ours, t_ours128, t_sel, t_fus))
    m_pl = min(m_sel, m_fus)
    ratio = m_pl / m_ours
    err, err32 = max(e[0] for e in errs.values()), max(e[1] for e in errs.values())
    rows = [
        ("qcstar QCStarNet (circuits.statevector kernels), complex64", m_ours, t_ours),
        ("qcstar QCStarNet, complex128", m_128, t_ours128),
        (f"PennyLane default.qubit, Gray-code RY/RZ+CNOT multiplexors, backprop, broadcast, micro-batch {args.gray_microbatch}", m_sel, t_sel),
        (f"PennyLane default.qubit + fused QubitUnitary multiplexors, micro-batch {micro}", m_fus, t_fus),
    ]
    lines = [
        "# bench_qcstar: one training step (forward + backward)",
        "",
        f"n = {args.qubits}, d = {args.circuits} (a = {net32.n_index}), L = {args.layers}, batch {args.batch}, "
        f"interaction on, RY+RZ, CX ladder, linear angle net on 8x8, <Z_q> readout, CE loss.",
        f"torch {torch.__version__}, threads {args.threads}, {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}; median of {args.repeats} after 1 warm-up.",
        f"Gradient check vs PennyLane (batch {args.check_batch}): max rel. error {err:.1e} (c128), {err32:.1e} (c64).",
        "",
        "| method | median s/step | all runs (s) |",
        "|---|---:|---|",
    ]
    for name, med, ts in rows:
        lines.append(f"| {name} | {med:.3f} | {', '.join(f'{t:.2f}' for t in ts)} |")
    lines += ["", "The ratio uses the faster PennyLane variant. PennyLane at the full batch of 256 in one "
              "execution ran out of the machine's 23 GB, so it runs in micro-batches with gradient accumulation "
              "(same loss, same gradients).", "", f"ratio_vs_pennylane_default={ratio:.2f}"]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        write_atomic(args.out, text + "\n")
        print(f"wrote {args.out}")
    print(f"ratio_vs_pennylane_default={ratio:.2f}")
    return 0


if __name__ == "__main__":
    run_script(main)
