"""``qcstar dataset``: build circuit data sets in the MNISQ layout, and describe them.

Usage::

    qcstar dataset build --source mnist --split test --level f90 --limit 1000 --out DIR \\
        [--shard-size 100] [--ray] [--data-dir D] [--batch-size 64] [--device cuda] [--quiet]
    qcstar dataset info DIR            # also an MNISQ zip, e.g. test_mnist_784_f90.zip
    qcstar dataset info DIR --json

Rerunning an interrupted ``build`` with the same options resumes it (byte-identical result).
One flat parser (an ``action`` positional rather than nested subparsers) so that ``--config``
defaults reach every option.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qcstar.circuits.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    from qcstar.cli import add_common

    p = subparsers.add_parser(
        "dataset",
        help="build circuit data sets in the MNISQ layout (AQCE) and describe them",
        description="build: encode images with AQCE into DIR/qasm, qasm_base, label, fidelity, state "
        "(sharded, resumable, optionally on Ray); info: counts, level, labels, overlap distribution.",
    )
    add_common(p)
    p.add_argument("action", choices=["build", "info"], help="build a data set, or describe one")
    p.add_argument("path", nargs="?", default=None, help="info: the data set folder or MNISQ zip")
    p.add_argument("--source", default="mnist", help="mnist | fashion-mnist | kmnist | digits (default mnist)")
    p.add_argument("--split", default="test", help="train | test (default test; digits has only train)")
    p.add_argument("--level", default="f90", help="f80 | f90 | f95: MNISQ's 27/54/108-block budgets (default f90)")
    p.add_argument("--limit", type=int, default=None, help="encode only the first LIMIT images (default all)")
    p.add_argument("--out", default=None, help="build: output folder (created; rerun to resume)")
    p.add_argument("--shard-size", type=int, default=100, help="items per shard (default 100)")
    p.add_argument("--ray", action="store_true", help="run shards as Ray tasks (local, or the cluster in RAY_ADDRESS)")
    p.add_argument("--data-dir", default=None, help="folder with the image files (default $QCSTAR_DATA)")
    p.add_argument("--batch-size", type=int, default=64, help="images AQCE encodes at once (default 64)")
    p.add_argument("--device", default=None, help="torch device for AQCE, e.g. cuda (default cpu)")
    p.add_argument("--json", action="store_true", help="info: print JSON instead of a table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qcstar.data.circuitsets import build_dataset, dataset_info, format_info

    if args.action == "info":
        if not args.path:
            raise DataError("qcstar dataset info needs the data set: qcstar dataset info DIR (or an MNISQ .zip)")
        info = dataset_info(args.path)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0

    out = args.out or args.path
    if not out:
        raise DataError("qcstar dataset build needs --out DIR (the folder to write; rerun the same command to resume)")
    encoder = None
    if args.batch_size != 64 or args.device is not None:
        encoder = _aqce(args)
    path = build_dataset(
        source=args.source, split=args.split, level=args.level, out=Path(out), limit=args.limit,
        shard_size=args.shard_size, use_ray=args.ray, data_dir=args.data_dir, encoder=encoder,
        progress=not args.quiet,
    )
    print(format_info(dataset_info(path)))
    return 0


def _aqce(args: argparse.Namespace):
    """The default encoder with the user's batch size and device (neither changes the circuits)."""
    import math

    from qcstar.encoders.aqce import LEVELS, AQCEEncoder

    from qcstar.data.images import DATASETS

    if args.level not in LEVELS:
        raise DataError(f"unknown level {args.level!r}; expected one of {', '.join(sorted(LEVELS))}")
    if args.batch_size <= 0:
        raise DataError(f"--batch-size must be positive, got {args.batch_size}")
    source = str(args.source).strip().lower()
    if source not in DATASETS:
        raise DataError(f"unknown source {args.source!r}; expected one of {', '.join(DATASETS)}")
    pixels = 64 if source == "digits" else 784
    return AQCEEncoder(level=args.level, n_qubits=math.ceil(math.log2(pixels)), batch_size=args.batch_size,
                       device=args.device)
