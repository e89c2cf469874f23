"""Training-step benchmark: our simulator vs PennyLane ``default.qubit`` (issue 2).

Circuit: 10 qubits, 4 layers; each layer applies RY(a) then RZ(b) on every qubit, with the
angles a linear map of a batch-256 input, then a CNOT ladder 0->1->...->9. Loss = mean <Z_0>.
Both sides run in this process with 2 torch threads; the losses and the gradients of the
linear map are checked equal before timing. Reports the median of several forward+backward
steps after warm-up; the last line is ``ratio_vs_pennylane_default=<float>``.

Run:  python experiments/bench_simulator.py [--repeats 7] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from circuits import Circuit, expectation, simulate  # noqa: E402
from circuits.files import write_atomic  # noqa: E402

N_QUBITS, N_LAYERS, BATCH, N_FEATURES = 10, 4, 256, 16


def make_problem(seed: int = 0, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(BATCH, N_FEATURES, generator=g).to(device)
    linear = torch.nn.Linear(N_FEATURES, N_LAYERS * N_QUBITS * 2).to(device)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.5)
        linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.5)
    return x, linear


def qcstar_loss(x: torch.Tensor, linear: torch.nn.Module, dtype=torch.complex64) -> torch.Tensor:
    angles = linear(x).view(-1, N_LAYERS, N_QUBITS, 2)  # (B, L, n, 2)
    c = Circuit(N_QUBITS)
    for layer in range(N_LAYERS):
        for q in range(N_QUBITS):
            c.ry(angles[:, layer, q, 0], q)
            c.rz(angles[:, layer, q, 1], q)
        for q in range(N_QUBITS - 1):
            c.cx(q, q + 1)
    psi = simulate(c, dtype=dtype, device=x.device)
    return expectation(psi, {0: "Z"}).mean()


def pennylane_loss_fn():
    import pennylane as qml

    dev = qml.device("default.qubit", wires=N_QUBITS)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(angles):  # angles (B, L, n, 2), broadcast over B
        for layer in range(N_LAYERS):
            for q in range(N_QUBITS):
                qml.RY(angles[:, layer, q, 0], wires=q)
                qml.RZ(angles[:, layer, q, 1], wires=q)
            for q in range(N_QUBITS - 1):
                qml.CNOT(wires=[q, q + 1])
        return qml.expval(qml.PauliZ(0))

    def loss(x: torch.Tensor, linear: torch.nn.Module) -> torch.Tensor:
        angles = linear(x).view(-1, N_LAYERS, N_QUBITS, 2)
        return circuit(angles).mean()

    return loss


def step(loss_fn, x, linear) -> float:
    linear.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    loss = loss_fn(x, linear)
    loss.backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def grads(loss_fn, x, linear):
    linear.zero_grad(set_to_none=True)
    loss = loss_fn(x, linear)
    loss.backward()
    return loss.detach().double(), [p.grad.detach().double().clone() for p in linear.parameters()]


def time_it(loss_fn, x, linear, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        step(loss_fn, x, linear)
    return [step(loss_fn, x, linear) for _ in range(repeats)]


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="also time our simulator on this device (e.g. cuda)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here (atomically)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    x, linear = make_problem()
    pl_loss = pennylane_loss_fn()

    # correctness first: same loss and gradients (complex128 for ours, PennyLane float64)
    lin64 = torch.nn.Linear(N_FEATURES, N_LAYERS * N_QUBITS * 2).double()
    lin64.load_state_dict({k: v.double() for k, v in linear.state_dict().items()})
    ours_l, ours_g = grads(lambda a, b: qcstar_loss(a, b, torch.complex128), x.double(), lin64)
    pl_l, pl_g = grads(pl_loss, x.double(), lin64)
    err = max([abs(float(ours_l - pl_l))] + [float((a - b).abs().max()) for a, b in zip(ours_g, pl_g)])
    print(f"loss ours={float(ours_l):.12f} pennylane={float(pl_l):.12f}; max |difference| in loss and gradients = {err:.2e}")
    if err > 1e-9:
        raise SystemExit(f"results disagree (max error {err:.2e}); not timing")
    # complex64 agrees with float64 to single precision
    l32, g32 = grads(qcstar_loss, x, linear)
    err32 = max([abs(float(l32 - pl_l))] + [float((a - b).abs().max()) for a, b in zip(g32, pl_g)])
    print(f"complex64 vs float64 reference: max |difference| = {err32:.2e}")

    ours = time_it(qcstar_loss, x, linear, args.repeats)
    theirs = time_it(pl_loss, x.double(), lin64, max(3, args.repeats // 2), warmup=1)
    # PennyLane's fastest configuration here is float64 (its default); time ours in complex64 (our default)
    ours_ms, theirs_ms = 1e3 * statistics.median(ours), 1e3 * statistics.median(theirs)
    ratio = theirs_ms / ours_ms
    result = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads={args.threads}",
        "torch": torch.__version__,
        "ours_ms_median": ours_ms,
        "ours_ms_all": [1e3 * t for t in ours],
        "pennylane_default_qubit_ms_median": theirs_ms,
        "pennylane_ms_all": [1e3 * t for t in theirs],
        "ratio_vs_pennylane_default": ratio,
    }
    print(f"ours (complex64, CPU):            {ours_ms:8.1f} ms/step  (median of {len(ours)})")
    print(f"PennyLane default.qubit backprop: {theirs_ms:8.1f} ms/step  (median of {len(theirs)})")
    if args.device != "cpu":
        xd, lind = x.to(args.device), linear.to(args.device)
        gpu = time_it(qcstar_loss, xd, lind, args.repeats * 3, warmup=3)
        result["ours_ms_median_" + args.device] = 1e3 * statistics.median(gpu)
        result["device_name"] = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
        print(f"ours on {result['device_name']}: {result['ours_ms_median_' + args.device]:.2f} ms/step")
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=2))
    print(f"ratio_vs_pennylane_default={ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
