"""The ``qcstar`` command: one entry point, one subcommand per job.

Each subcommand lives in ``qcstar/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to the function that runs it. Every subcommand takes
``--seed`` and ``--config FILE.toml`` (keys are the long option names, with '-' or '_'; values
are checked like the command line's). Options must be spelled out: no parser accepts
abbreviations (``--qubit`` is not ``--qubits``). ``qcstar --version`` prints the version.
Before running, the allocator is tuned (:mod:`qcstar.circuits.allocator`) unless
``QCSTAR_TUNE_ALLOCATOR=0``.

Errors: a wrong flag or value exits with status 2 and a message saying what was expected;
so does every :class:`~qcstar.circuits.errors.QcstarError` a command raises.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Sequence

from qcstar.circuits.allocator import tune_allocator_from_env
from qcstar.circuits.errors import ConfigError, QcstarError

#: Subcommand modules, in the order they appear in ``qcstar --help``.
COMMANDS = ["demo", "train", "dataset", "kernel", "seq"]


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` without abbreviations; subparsers inherit the class."""

    def __init__(self, *args: Any, allow_abbrev: bool = False, **kwargs: Any):
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)


# --------------------------------------------------------------------------------------
# value types for options: each says what it expected
# --------------------------------------------------------------------------------------

def _number_type(kind: type, *, low: float, strict: bool, what: str) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` (int or float) that is finite and >= ``low`` (> with ``strict``)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        ok = value is not None and math.isfinite(value) and (value > low if strict else value >= low)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


#: argparse types for options; each error says what was expected and what came
positive_int = _number_type(int, low=1, strict=False, what="a positive integer")
non_negative_int = _number_type(int, low=0, strict=False, what="an integer >= 0")
positive_float = _number_type(float, low=0.0, strict=True, what="a finite number > 0")
non_negative_float = _number_type(float, low=0.0, strict=False, what="a finite number >= 0")


def add_common(parser: argparse.ArgumentParser, *, seed: int = 0) -> None:
    """The options every subcommand shares."""
    parser.add_argument("--seed", type=non_negative_int, default=seed, help=f"random seed (default {seed})")
    parser.add_argument("--config", type=Path, default=None, help="TOML file with option defaults")


# --------------------------------------------------------------------------------------
# config files
# --------------------------------------------------------------------------------------

def _config_value(action: argparse.Action, value: Any, where: str) -> Any:
    """A config file's value for ``action``, checked and converted as on the command line."""
    flag = action.option_strings[-1] if action.option_strings else action.dest
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false (the switch {flag}), got {value!r}")
        return value
    if isinstance(value, (dict, list)) or (isinstance(value, bool) and action.type is not None):
        raise ConfigError(f"{where}: expected one value for {flag}, got {value!r}")
    converted = value
    if action.type is not None:
        try:
            converted = action.type(value if isinstance(value, str) else str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc} (for {flag})") from None
    elif not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string for {flag}, got {value!r}")
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, action.choices))} for {flag}, got {value!r}")
    return converted


def _chosen_subparser(parser: argparse.ArgumentParser,
                      args: argparse.Namespace) -> tuple[argparse.ArgumentParser, list[str]]:
    """The innermost parser the command line chose (``qcstar kernel svm`` -> the ``svm`` parser), with its words."""
    words: list[str] = []
    while True:
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            return parser, words
        word = getattr(args, nested[0].dest)
        words.append(word)
        parser = nested[0].choices[word]


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parse_args``, except that an unknown option is reported by the subcommand that was chosen
    (its usage, not the top level's), with the closest spellings it knows."""
    import difflib

    args, extra = parser.parse_known_args(argv)
    if extra:
        sub, _ = _chosen_subparser(parser, args)
        known = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
        hints = [f"{e} (did you mean {', '.join(close)}?)" if (close := difflib.get_close_matches(
                 e.split("=")[0], known, n=2, cutoff=0.75)) else e for e in extra]
        sub.error(f"unrecognized arguments: {' '.join(hints)}")
    return args


def _apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args = _parse(parser, argv)
    cfg_path = getattr(args, "config", None)
    if cfg_path is None:
        return args
    try:
        cfg = tomllib.loads(Path(cfg_path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {cfg_path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {cfg_path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {cfg_path} is not valid TOML: {exc}") from None
    sub, words = _chosen_subparser(parser, args)
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")
               and not isinstance(a, argparse._SubParsersAction)}
    defaults = {}
    for key, value in cfg.items():
        action = actions.get(key.replace("-", "_"))
        if action is None:
            raise ConfigError(f"config file {cfg_path}: unknown option '{key}' for 'qcstar {' '.join(words)}'")
        defaults[action.dest] = _config_value(action, value, f"config file {cfg_path}, key '{key}'")
    # command-line values win over the config file: re-parse with the config as defaults
    sub.set_defaults(**defaults)
    return _parse(parser, argv)


def _version() -> str:
    from qcstar import __version__

    return f"qcstar {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="qcstar", description="quantum circuit C*-algebra nets, encoders, kernels")
    parser.add_argument("--version", action="version", version=_version())
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
