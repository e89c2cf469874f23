"""The ``qcstar`` command: one entry point, one subcommand per job.

Each subcommand lives in ``qcstar/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to the function that runs it. Every subcommand takes
``--seed`` and ``--config FILE.toml`` (keys are the long option names, with '-' or '_').
Before running, the allocator is tuned (:mod:`circuits.allocator`) unless
``QCSTAR_TUNE_ALLOCATOR=0``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from pathlib import Path
from typing import Sequence

from qcstar.circuits.allocator import tune_allocator_from_env
from qcstar.circuits.errors import QcstarError

#: Subcommand modules, in the order they appear in ``qcstar --help``.
COMMANDS = ["demo", "train", "dataset", "kernel"]


def add_common(parser: argparse.ArgumentParser, *, seed: int = 0) -> None:
    """The options every subcommand shares."""
    parser.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    parser.add_argument("--config", type=Path, default=None, help="TOML file with option defaults")


def _apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    cfg_path = getattr(args, "config", None)
    if cfg_path is None:
        return args
    try:
        cfg = tomllib.loads(Path(cfg_path).read_text())
    except FileNotFoundError:
        raise QcstarError(f"config file {cfg_path} does not exist")
    except tomllib.TOMLDecodeError as exc:
        raise QcstarError(f"config file {cfg_path} is not valid TOML: {exc}")
    known = vars(args)
    defaults = {}
    for key, value in cfg.items():
        dest = key.replace("-", "_")
        if dest not in known:
            raise QcstarError(f"config file {cfg_path}: unknown option '{key}' for 'qcstar {args.command}'")
        defaults[dest] = value
    # command-line values win over the config file: re-parse with the config as defaults
    sub = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    sub.set_defaults(**defaults)
    return parser.parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcstar", description="quantum circuit C*-algebra nets, encoders, kernels")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"qcstar.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _apply_config(parser, argv)
        tune_allocator_from_env()  # fewer page faults per step; QCSTAR_TUNE_ALLOCATOR=0 turns it off
        return int(args.func(args) or 0)
    except QcstarError as exc:
        print(f"qcstar: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qcstar: interrupted; rerun the same command to resume where supported", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
