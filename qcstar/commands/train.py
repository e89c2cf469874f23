"""``qcstar train``: train a quantum circuit C*-algebra net on an image set.

Example::

    qcstar train --dataset mnist --size 8 --qubits 6 --circuits 4 --layers 4 --interaction global \\
        --epochs 10 --per-class 500 --out runs/mnist-d4 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qcstar.circuits.errors import QcstarError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to a ``qcstar`` subparsers object."""
    from qcstar.cli import add_common

    p = subparsers.add_parser("train", help="train a quantum circuit C*-algebra net (classification)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="digits (built in), mnist, fashion-mnist, kmnist (default digits)")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default $QCSTAR_DATA)")
    p.add_argument("--size", type=int, default=8, help="images are resized to SIZE x SIZE (default 8)")
    p.add_argument("--n-train", type=int, default=None, help="cap on training images (stratified)")
    p.add_argument("--per-class", type=int, default=None, help="exactly this many training images per class")
    p.add_argument("--n-val", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--qubits", type=int, default=6)
    p.add_argument("--circuits", type=int, default=4)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--rotations", default="RY,RZ", help="comma-separated rotations per layer (default RY,RZ)")
    p.add_argument("--entangler", choices=["ladder", "ring", "none"], default="ladder")
    p.add_argument("--interaction", choices=["none", "global"], default="global")
    p.add_argument("--interaction-init", type=float, default=0.05,
                   help="std of the interaction generators K_l at initialisation (default 0.05). 0 starts exactly "
                        "at V = I, which is a stationary point: the interaction then never trains")
    p.add_argument("--mode", choices=["shared", "tasks"], default="shared")
    p.add_argument("--angle-net", choices=["linear", "mlp", "cnn"], default="linear")
    p.add_argument("--readout", choices=["z", "probs"], default="z")
    p.add_argument("--combine", choices=["mean", "linear"], default="mean")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="run folder: checkpoint.pt, metrics.jsonl, result.json")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load the data, build the net, train, print and save the metrics."""
    import torch

    from qcstar import data as qdata
    from qcstar.net import QCStarNet
    from qcstar.train import fit

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device != "cpu":
        raise QcstarError("qcstar train runs on the CPU in this version; --device cpu")
    splits = qdata.load_split(args.dataset, size=args.size, n_train=args.n_train, per_class=args.per_class,
                              n_val=args.n_val, n_test=args.n_test, seed=args.seed, data_dir=args.data_dir)
    x_tr = splits["train"][0]
    n_classes = int(max(int(s[1].max()) for s in splits.values())) + 1
    net = QCStarNet(n_qubits=args.qubits, n_circuits=args.circuits, n_layers=args.layers, n_classes=n_classes,
                    rotations=tuple(r.strip() for r in args.rotations.split(",")), entangler=args.entangler,
                    interaction=args.interaction, angle_net=args.angle_net, readout=args.readout,
                    combine=args.combine, mode=args.mode, in_shape=tuple(x_tr.shape[1:]), seed=args.seed,
                    interaction_init=args.interaction_init if args.interaction == "global" else 0.0)
    note = getattr(splits, "note", "")
    if note:
        print(f"note: {note}")
    result = fit(net, splits, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 weight_decay=args.weight_decay, seed=args.seed, out_dir=args.out, resume=not args.no_resume,
                 progress=not args.no_progress)
    summary = {k: v for k, v in result.items() if k != "history"}
    summary["data"] = getattr(splits, "meta", {})
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        from qcstar.circuits.files import write_atomic

        write_atomic(Path(args.out) / "result.json", json.dumps(summary, indent=2) + "\n")
    return 0
