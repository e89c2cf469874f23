"""``qcstar train``: train a quantum circuit C*-algebra net on an image set.

Example::

    qcstar train --dataset mnist --size 8 --qubits 6 --circuits 4 --layers 4 --interaction global \\
        --epochs 10 --per-class 500 --out runs/mnist-d4 --seed 0

Rerunning the same command resumes an interrupted run in ``--out`` (bit-identical to an
uninterrupted one). A folder holding a run with other flags or other data is refused with the
flags that differ; ``--no-resume`` starts over there. A finished run prints its result again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qcstar.circuits.errors import ConfigError

if TYPE_CHECKING:  # torch is imported when a command runs, not when the CLI starts
    import torch

#: options that do not change what is trained: a resume may change them freely
NOT_RECORDED = frozenset({"out", "no_resume", "no_progress", "threads", "device", "data_dir", "config", "func",
                          "command"})


def _rotations(text: str) -> str:
    names = [r.strip() for r in text.split(",")]
    if not names or any(r.lower() not in ("rx", "ry", "rz") for r in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated RX, RY, RZ (for example RY,RZ), got {text!r}")
    return text


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to a ``qcstar`` subparsers object."""
    from qcstar.cli import add_common, non_negative_float, positive_float, positive_int

    p = subparsers.add_parser("train", help="train a quantum circuit C*-algebra net (classification)",
                              description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--dataset", default="digits", help="digits (built in), mnist, fashion-mnist, kmnist (default digits)")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default $QCSTAR_DATA)")
    p.add_argument("--size", type=positive_int, default=8, help="images are resized to SIZE x SIZE (default 8)")
    p.add_argument("--n-train", type=positive_int, default=None, help="cap on training images (stratified)")
    p.add_argument("--per-class", type=positive_int, default=None, help="exactly this many training images per class")
    p.add_argument("--n-val", type=positive_int, default=None, help="validation images (default: 5,000 for MNIST-family, 10 %% of digits)")
    p.add_argument("--n-test", type=positive_int, default=None, help="test images (default: the official 10,000 for MNIST-family, 20 %% of digits)")
    p.add_argument("--qubits", type=positive_int, default=6, help="system qubits n of each circuit (default 6)")
    p.add_argument("--circuits", type=positive_int, default=4, help="number of interacting circuits d (default 4)")
    p.add_argument("--layers", type=positive_int, default=3, help="gate layers L (default 3)")
    p.add_argument("--rotations", type=_rotations, default="RY,RZ", help="comma-separated rotations per layer (default RY,RZ)")
    p.add_argument("--entangler", choices=["ladder", "ring", "none"], default="ladder", help="CX pattern after each layer (default ladder)")
    p.add_argument("--interaction", choices=["none", "global", "controlled"], default="global",
                   help="V_l (x) I among the circuits after each layer; controlled: V_l only where the system qubit "
                        "--control-qubit is |1>; or none (default global)")
    p.add_argument("--placement", choices=["all", "start", "end"], default="all",
                   help="where the interaction acts: after every layer, only after the first, or only before the last "
                        "(default all)")
    p.add_argument("--control-qubit", type=int, default=0, help="the system qubit of --interaction controlled (default 0)")
    p.add_argument("--interaction-init", type=non_negative_float, default=0.05,
                   help="std of the interaction generators K_l at initialisation (default 0.05). 0 starts exactly "
                        "at V = I, which is a stationary point: the interaction then never trains")
    p.add_argument("--mode", choices=["shared", "tasks"], default="shared", help="shared: every circuit sees the image; tasks: one task per circuit (default shared)")
    p.add_argument("--angle-net", choices=["linear", "mlp", "cnn"], default="linear", help="classical net from image to gate angles (default linear)")
    p.add_argument("--readout", choices=["z", "probs", "full", "inner"], default="z",
                   help="<Z_q> per qubit (the diagonal of the A-valued readout R), Born probabilities, all d x d "
                        "entries of R per observable (full), or R's inner product with a learned element of A "
                        "(inner) (default z)")
    p.add_argument("--combine", choices=["mean", "linear"], default="mean", help="how the circuits' features become logits (default mean)")
    p.add_argument("--epochs", type=positive_int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step (default 64)")
    p.add_argument("--lr", type=positive_float, default=0.02, help="AdamW learning rate, cosine schedule (default 0.02)")
    p.add_argument("--weight-decay", type=non_negative_float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", type=Path, default=None, help="run folder: checkpoint.pt, metrics.jsonl, result.json")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def recorded_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that change the result, as ``{"--lr": 0.02, ...}``: kept in the checkpoint."""
    return {_flag(k): v for k, v in sorted(vars(args).items()) if k not in NOT_RECORDED}


def check_device(text: str, command: str = "qcstar train") -> "torch.device":
    """``--device`` as a torch device that can train here (cpu, or cuda with a GPU), else ConfigError.

    Whether the device exists is :func:`qcstar.circuits.devices.resolve_device`'s question; this only
    adds what a training command allows (cpu or cuda) and words the answer as a flag's."""
    import torch

    from qcstar.circuits.devices import resolve_device

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"--device {text!r} is not a torch device; use --device cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {text}: {command} trains on cpu or cuda; use --device cpu or --device cuda")
    try:
        return resolve_device(device)
    except ConfigError as exc:
        raise ConfigError(f"--device {text}: no usable CUDA here ({exc})") from None


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse, before loading data or building the net, a net whose training step cannot fit."""
    from qcstar.circuits.resources import check_memory
    from qcstar.train import training_memory_bytes

    need = training_memory_bytes(n_qubits=args.qubits, n_circuits=args.circuits, n_layers=args.layers,
                                 interaction=args.interaction != "none", batch_size=args.batch_size)
    check_memory(need, f"qcstar train --qubits {args.qubits} --circuits {args.circuits} --layers {args.layers} "
                       f"--batch-size {args.batch_size} (one training step)")


def _mismatch_message(exc: Any, flags: dict[str, Any], out: Path) -> str:
    """Name the flags that differ from the run in ``out``, with that run's values."""
    old = (exc.recorded.get("run_info") or {}).get("flags") or {}
    differ = [f for f in sorted(set(old) | set(flags)) if old.get(f) != flags.get(f)]
    if old and differ:
        listed = ", ".join(f"{f} {old.get(f)!r} there (now {flags.get(f)!r})" for f in differ)
        what = f"another run: it was trained with {listed}"
    elif old and any(key.startswith("data.") for key in exc.differences):
        what = ("the same flags but other data: the image files under --data-dir / $QCSTAR_DATA changed since "
                "(their digest differs)")
    else:  # written by qcstar.train.fit directly: no flags to compare, name its settings
        what = "another run (not written by qcstar train): " + "; ".join(
            f"{k} {a!r} there, {b!r} now" for k, (a, b) in exc.differences.items() if not k.startswith("run_info."))
    return (f"--out {out} holds {what}. To continue that run rerun with its flags; to start over in this folder "
            "pass --no-resume; or choose another --out")


def run(args: argparse.Namespace) -> int:
    """Load the data, build the net, train, print and save the metrics."""
    import torch

    from qcstar import data as qdata
    from qcstar.net import QCStarNet
    from qcstar.train import ResumeMismatchError, fit

    device = check_device(args.device)
    _check_memory(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    splits = qdata.load_split(args.dataset, size=args.size, n_train=args.n_train, per_class=args.per_class,
                              n_val=args.n_val, n_test=args.n_test, seed=args.seed, data_dir=args.data_dir)
    x_tr = splits["train"][0]
    n_classes = int(max(int(s[1].max()) for s in splits.values())) + 1
    net = QCStarNet(n_qubits=args.qubits, n_circuits=args.circuits, n_layers=args.layers, n_classes=n_classes,
                    rotations=tuple(r.strip() for r in args.rotations.split(",")), entangler=args.entangler,
                    interaction=args.interaction, angle_net=args.angle_net, readout=args.readout,
                    combine=args.combine, mode=args.mode, in_shape=tuple(x_tr.shape[1:]), seed=args.seed,
                    interaction_init=args.interaction_init if args.interaction != "none" else 0.0,
                    placement=args.placement, control_qubit=args.control_qubit, device=device)
    note = getattr(splits, "note", "")
    if note:
        print(f"note: {note}")
    flags = recorded_flags(args)
    run_info = {"flags": flags, "data": getattr(splits, "meta", {})}
    try:
        result = fit(net, splits, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     weight_decay=args.weight_decay, seed=args.seed, out_dir=args.out, resume=not args.no_resume,
                     progress=not args.no_progress, run_info=run_info)
    except ResumeMismatchError as exc:
        raise ConfigError(_mismatch_message(exc, flags, args.out)) from None
    if result["finished"] and result["epochs_this_run"] == 0:
        print(f"qcstar train: the run in {args.out} is already finished ({result['epochs_done']} epochs); its result "
              "follows. Pass --no-resume to train it again, or choose another --out", file=sys.stderr)
    summary = {k: v for k, v in result.items() if k not in ("history", "epochs_this_run")}
    summary.update(run_info)
    print(json.dumps(summary, indent=2))
    return 0
