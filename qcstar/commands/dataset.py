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

from qcstar.circuits.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    from qcstar.cli import add_common

    p = subparsers.add_parser(
        "dataset",
        help="build circuit data sets in the MNISQ layout (AQCE) and describe them",
        description="build: encode images with AQCE into DIR/qasm, qasm_base, label, fidelity, state "
        "(sharded, resumable, optionally on Ray); info: counts, level, labels, overlap distribution.",
        allow_abbrev=False,  # --shard must not silently mean --shard-size
    )
    add_common(p)
    p.add_argument("action", choices=["build", "info"], help="build a data set, or describe one")
    p.add_argument("path", nargs="?", default=None, help="info: the data set folder or MNISQ zip")
    p.add_argument("--source", default="mnist", help="mnist | fashion-mnist | kmnist | digits (default mnist)")
    p.add_argument("--split", default=None, help="train | test (default test; train for digits, which has only train)")
    p.add_argument("--level", default="f90", help="f80 | f90 | f95: MNISQ's 27/54/108-block budgets (default f90)")
    p.add_argument("--limit", type=int, default=None, help="encode only the first LIMIT images (default all)")
    p.add_argument("--out", default=None, help="build: output folder (created; rerun to resume)")
    p.add_argument("--shard-size", type=int, default=100, help="items per shard (default 100)")
    p.add_argument("--ray", action="store_true", help="run shards as Ray tasks (local, or the cluster in RAY_ADDRESS)")
    p.add_argument("--data-dir", default=None, help="folder with the image files (default $QCSTAR_DATA)")
    p.add_argument("--batch-size", type=int, default=64, help="images AQCE encodes at once (default 64)")
    p.add_argument("--device", default=None, help="torch device for AQCE, e.g. cuda (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's). On a machine busy with other work use 1, and run "
                        "builds side by side: AQCE's many small elementwise ops slow down badly when their "
                        "threads wait for busy cores")
    p.add_argument("--json", action="store_true", help="info: print JSON instead of a table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qcstar.data.catalogue import DataConfigError, canonical_source, check_level, check_split
    from qcstar.data.circuitsets import build_dataset, dataset_info, format_info

    _check_option_types(args)
    if args.action == "info":
        if not args.path:
            raise DataConfigError("qcstar dataset info needs the data set: qcstar dataset info DIR (or an MNISQ .zip)")
        info = dataset_info(args.path)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0

    out = args.out or args.path
    if not out:
        raise DataConfigError("qcstar dataset build needs --out DIR (the folder to write; rerun the same command to resume)")
    for flag, value in (("--limit", args.limit), ("--shard-size", args.shard_size), ("--batch-size", args.batch_size),
                        ("--threads", args.threads)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be a positive integer, got {value}{_where(args)}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    source = canonical_source(args.source)
    if args.split is None:  # digits ship one pool, read as "train"; MNIST-family builds default to the test split
        args.split = "train" if source == "digits" else "test"
    check_split(args.split)
    check_level(args.level)
    encoder = None
    if args.batch_size != 64 or args.device is not None:
        encoder = _aqce(args, source)
    path = build_dataset(
        source=source, split=args.split, level=args.level, out=Path(out), limit=args.limit,
        shard_size=args.shard_size, use_ray=args.ray, data_dir=args.data_dir, encoder=encoder,
        progress=not args.quiet,
    )
    print(format_info(dataset_info(path)))
    return 0


#: The type every option must have once the command line and a --config file are merged
#: (argparse converts command-line text; a TOML value arrives with its own type).
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,), "split": (str, type(None)), "level": (str,), "limit": (int, type(None)), "out": (str, type(None)),
    "shard_size": (int,), "ray": (bool,), "data_dir": (str, type(None)), "batch_size": (int,),
    "device": (str, type(None)), "json": (bool,), "quiet": (bool,), "path": (str, type(None)),
}


def _where(args: argparse.Namespace) -> str:
    cfg = getattr(args, "config", None)
    return f" (from the command line or the config file {cfg})" if cfg is not None else ""


def _check_option_types(args: argparse.Namespace) -> None:
    """A wrong type (``limit = 1.5`` or ``ray = "yes"`` in a config file) is a ConfigError naming the flag."""
    for dest, types in _OPTION_TYPES.items():
        value = getattr(args, dest, None)
        # bool is an int in Python: refuse True for --limit, accept it only where bool is the type
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            flag = dest if dest == "path" else "--" + dest.replace("_", "-")
            want = " or ".join("nothing" if t is type(None) else {"str": "a string", "int": "an integer",
                                                                  "bool": "true/false"}[t.__name__] for t in types)
            raise ConfigError(f"{flag} expects {want}, got {type(value).__name__} {value!r}{_where(args)}")


def _aqce(args: argparse.Namespace, source: str):
    """The default encoder with the user's batch size and device (neither changes the circuits)."""
    import math

    from qcstar.data.catalogue import IMAGE_HW
    from qcstar.encoders.aqce import AQCEEncoder

    pixels = math.prod(IMAGE_HW[source])
    return AQCEEncoder(level=args.level, n_qubits=math.ceil(math.log2(pixels)), batch_size=args.batch_size,
                       device=args.device)
