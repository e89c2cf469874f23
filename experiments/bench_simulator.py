"""Training-step benchmark: our simulator vs PennyLane ``default.qubit`` (the README's performance table).

Circuit: 10 qubits, 4 layers; each layer applies RY(a) then RZ(b) on every qubit, with the
angles a linear map of a batch-256 input, then a CNOT ladder 0->1->...->9. Loss = mean <Z_0>.
Both sides run in this process with 2 torch threads; the losses and the gradients of the
linear map are checked equal before timing. Reports the median of several forward+backward
steps after warm-up; the last line is ``ratio_vs_pennylane_default=<float>``.

Timing is interleaved in rounds (per round, for each contender: one untimed step, then three
timed steps of ours or two of PennyLane's) so that both sides see the same machine state: on glibc, whether a freed multi-megabyte tensor goes
back to the OS (and the next one page-faults in again) depends on the largest block freed so
far in the process, which made back-to-back timings depend on which side ran first.

Two numbers for us: ``simulate`` + ``expectation`` (the whole 2**10 state, every gate: the
README table's comparison, and the last line), and ``expval``, which simulates only the light cone of
Z_0 (the ops that can change <Z_0>: here the last layer shrinks to one RY and each earlier
layer to the wires CX(0, 1) reaches, see ``circuits.statevector.light_cone``). The second is
printed as ``ratio_light_cone=``; it is not the headline because it no longer simulates the
whole circuit.

Run:  python experiments/bench_simulator.py [--repeats 7] [--tune-allocator] [--device cuda]
      python experiments/bench_simulator.py --quick     # smoke run: 4 qubits, 2 layers, batch 8, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from functools import partial
from pathlib import Path

import torch
# experiments/_cli.py; this script's own folder is on sys.path
from _cli import positive_int, quick_output, run_script

from qcstar.circuits import Circuit, expectation, expval, simulate
from qcstar.circuits.allocator import tune_allocator
from qcstar.circuits.files import write_atomic


@dataclasses.dataclass(frozen=True)
class Size:
    """The benchmark problem's size: qubits, layers, batch and input features."""

    n_qubits: int
    n_layers: int
    batch: int
    n_features: int


FULL = Size(n_qubits=10, n_layers=4, batch=256, n_features=16)
QUICK = Size(n_qubits=4, n_layers=2, batch=8, n_features=4)


def make_problem(size: Size = FULL, seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.nn.Linear]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(size.batch, size.n_features, generator=g).to(device)
    linear = torch.nn.Linear(size.n_features, size.n_layers * size.n_qubits * 2).to(device)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.5)
        linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.5)
    return x, linear


def build_circuit(angles: torch.Tensor) -> Circuit:
    """angles (B, L, n, 2) -> the benchmark circuit, one gate at a time as a user writes it."""
    _, n_layers, n_qubits, _ = angles.shape
    c = Circuit(n_qubits)
    for layer in range(n_layers):
        for q in range(n_qubits):
            c.ry(angles[:, layer, q, 0], q)
            c.rz(angles[:, layer, q, 1], q)
        for q in range(n_qubits - 1):
            c.cx(q, q + 1)
    return c


def _angles(x: torch.Tensor, linear: torch.nn.Module, size: Size) -> torch.Tensor:
    return linear(x).view(-1, size.n_layers, size.n_qubits, 2)


def qcstar_loss(x: torch.Tensor, linear: torch.nn.Module, dtype=torch.complex64, *, size: Size = FULL) -> torch.Tensor:
    """The whole state: simulate every gate, then <Z_0>."""
    psi = simulate(build_circuit(_angles(x, linear, size)), dtype=dtype, device=x.device)
    return expectation(psi, {0: "Z"}).mean()


def qcstar_light_cone_loss(
    x: torch.Tensor, linear: torch.nn.Module, dtype=torch.complex64, *, size: Size = FULL
) -> torch.Tensor:
    """The same loss through expval, which simulates only the light cone of Z_0."""
    return expval(build_circuit(_angles(x, linear, size)), {0: "Z"}, dtype=dtype, device=x.device).mean()


def pennylane_loss_fn(size: Size = FULL):
    import pennylane as qml

    dev = qml.device("default.qubit", wires=size.n_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(angles):  # angles (B, L, n, 2), broadcast over B
        for layer in range(size.n_layers):
            for q in range(size.n_qubits):
                qml.RY(angles[:, layer, q, 0], wires=q)
                qml.RZ(angles[:, layer, q, 1], wires=q)
            for q in range(size.n_qubits - 1):
                qml.CNOT(wires=[q, q + 1])
        return qml.expval(qml.PauliZ(0))

    def loss(x: torch.Tensor, linear: torch.nn.Module) -> torch.Tensor:
        return circuit(_angles(x, linear, size)).mean()

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


def time_interleaved(runs: dict, rounds: int, per_round: dict, warmup: int = 2) -> dict[str, list[float]]:
    """Time several (loss_fn, x, linear) side by side, in rounds: each round runs one untimed step
    of each contender (to re-warm it after the others) and then ``per_round[name]`` timed steps.
    Slow drifts of the machine hit every contender alike."""
    for fn, x, lin in runs.values():
        for _ in range(warmup):
            step(fn, x, lin)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (fn, x, lin) in runs.items():
            step(fn, x, lin)
            times[name] += [step(fn, x, lin) for _ in range(per_round.get(name, 1))]
    return times


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=positive_int, default=7,
                    help="rounds: 3 timed steps of ours, 2 of PennyLane each")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--device", default="cpu", help="also time our simulator on this device (e.g. cuda)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here (atomically)")
    ap.add_argument(
        "--tune-allocator", action="store_true",
        help="call circuits.allocator.tune_allocator() first (process-wide: PennyLane gets it too)",
    )
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 4 qubits, 2 layers, batch 8, one round, 1 thread; JSON into a temporary folder")
    args = ap.parse_args(argv)
    size = FULL
    if args.quick:
        size, args.repeats, args.threads = QUICK, 1, 1
        args.json = quick_output(ap, args.json, name="bench_simulator", filename="bench_simulator.json", flag="--json")
    torch.set_num_threads(args.threads)
    tuned = tune_allocator() if args.tune_allocator else False

    ours_loss = partial(qcstar_loss, size=size)
    lc_loss = partial(qcstar_light_cone_loss, size=size)
    x, linear = make_problem(size)
    # ours first, before PennyLane has run in this process (see the allocator note above)
    cold = time_it(ours_loss, x, linear, 1 if args.quick else 7)
    pl_loss = pennylane_loss_fn(size)

    # correctness first: same loss and gradients (complex128 for ours, PennyLane float64)
    lin64 = torch.nn.Linear(size.n_features, size.n_layers * size.n_qubits * 2).double()
    lin64.load_state_dict({k: v.double() for k, v in linear.state_dict().items()})
    ours_l, ours_g = grads(lambda a, b: ours_loss(a, b, torch.complex128), x.double(), lin64)
    pl_l, pl_g = grads(pl_loss, x.double(), lin64)
    err = max([abs(float(ours_l - pl_l))] + [float((a - b).abs().max()) for a, b in zip(ours_g, pl_g)])
    print(f"loss ours={float(ours_l):.12f} pennylane={float(pl_l):.12f}; max |difference| in loss and gradients = {err:.2e}")
    if err > 1e-9:
        raise SystemExit(f"results disagree (max error {err:.2e}); not timing")
    # complex64 agrees with float64 to single precision
    l32, g32 = grads(ours_loss, x, linear)
    err32 = max([abs(float(l32 - pl_l))] + [float((a - b).abs().max()) for a, b in zip(g32, pl_g)])
    print(f"complex64 vs float64 reference: max |difference| = {err32:.2e}")

    lc_l, lc_g = grads(lambda a, b: lc_loss(a, b, torch.complex128), x.double(), lin64)
    err_lc = max([abs(float(lc_l - pl_l))] + [float((a - b).abs().max()) for a, b in zip(lc_g, pl_g)])
    print(f"expval (light cone) vs PennyLane: max |difference| = {err_lc:.2e}")
    if err_lc > 1e-9:
        raise SystemExit(f"light-cone results disagree (max error {err_lc:.2e}); not timing")

    # PennyLane's fastest configuration here is float64 (its default); ours runs in complex64 (our default)
    rounds = 1 if args.quick else max(3, args.repeats)
    times = time_interleaved(
        {
            "ours": (ours_loss, x, linear),
            "light_cone": (lc_loss, x, linear),
            "pennylane": (pl_loss, x.double(), lin64),
        },
        rounds,
        {"ours": 3, "light_cone": 3, "pennylane": 2},
        warmup=1 if args.quick else 2,
    )
    ours, lc, theirs = times["ours"], times["light_cone"], times["pennylane"]
    ours_ms, lc_ms, theirs_ms = (1e3 * statistics.median(t) for t in (ours, lc, theirs))
    ratio = theirs_ms / ours_ms
    result = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads={args.threads}",
        "size": dataclasses.asdict(size),
        "torch": torch.__version__,
        "allocator_tuned": tuned,
        "ours_ms_median": ours_ms,
        "ours_ms_all": [1e3 * t for t in ours],
        "pennylane_default_qubit_ms_median": theirs_ms,
        "pennylane_ms_all": [1e3 * t for t in theirs],
        "ratio_vs_pennylane_default": ratio,
        "ours_ms_median_before_pennylane_ran": 1e3 * statistics.median(cold),
        "light_cone_ms_median": lc_ms,
        "light_cone_ms_all": [1e3 * t for t in lc],
        "ratio_light_cone": theirs_ms / lc_ms,
    }
    print(f"ours (complex64, CPU):            {ours_ms:8.1f} ms/step  (median of {len(ours)})")
    print(f"ours, before PennyLane first ran: {1e3 * statistics.median(cold):8.1f} ms/step  (median of {len(cold)})")
    print(f"ours, expval (light cone only):   {lc_ms:8.1f} ms/step  (median of {len(lc)})")
    print(f"PennyLane default.qubit backprop: {theirs_ms:8.1f} ms/step  (median of {len(theirs)})")
    print(f"ratio_light_cone={theirs_ms / lc_ms:.2f}")
    if args.device != "cpu":
        xd, lind = x.to(args.device), linear.to(args.device)
        gpu = time_it(ours_loss, xd, lind, args.repeats * 3, warmup=3)
        result["ours_ms_median_" + args.device] = 1e3 * statistics.median(gpu)
        result["device_name"] = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
        print(f"ours on {result['device_name']}: {result['ours_ms_median_' + args.device]:.2f} ms/step")
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    print(f"ratio_vs_pennylane_default={ratio:.2f}")
    return ratio


if __name__ == "__main__":
    run_script(main)
