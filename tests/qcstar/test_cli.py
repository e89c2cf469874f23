"""The ``qcstar`` command line: --version, no abbreviations, typed options, config files."""

from __future__ import annotations

import argparse

import pytest

import qcstar
from qcstar.cli import build_parser, main, non_negative_float, positive_float, positive_int


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"qcstar {qcstar.__version__}"


def test_the_version_comes_from_the_package_metadata():
    from importlib import metadata

    assert qcstar.__version__ == metadata.version("qcstar")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]


def test_no_parser_accepts_abbreviations():
    from qcstar.cli import COMMANDS

    parser = build_parser()
    subs = _subparsers(parser)
    assert set(subs) == set(COMMANDS) >= {"demo", "train", "dataset", "kernel"}

    def all_parsers(p: argparse.ArgumentParser):  # nested subcommands too (qcstar kernel svm)
        yield p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from all_parsers(child)

    assert not any(p.allow_abbrev for p in all_parsers(parser))
    with pytest.raises(SystemExit):
        parser.parse_args(["dataset", "info", "x", "--jso"])  # the data command inherits the rule


@pytest.mark.parametrize("parse, good, bad", [
    (positive_int, {"1": 1, "64": 64}, ["0", "-3", "1.5", "x", ""]),
    (positive_float, {"0.5": 0.5, "1e-3": 1e-3}, ["0", "-1", "nan", "inf", "-inf", "x"]),
    (non_negative_float, {"0": 0.0, "2": 2.0}, ["-0.1", "nan", "inf"]),
])
def test_option_types(parse, good, bad):
    for text, value in good.items():
        assert parse(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=f"got {text!r}"):
            parse(text)


def test_config_values_are_converted_and_the_command_line_wins(tmp_path):
    from qcstar.cli import _apply_config

    cfg = tmp_path / "run.toml"
    cfg.write_text('epochs = 3\nlr = 1\nbatch-size = "32"\nno_progress = true\nentangler = "ring"\n')
    args = _apply_config(build_parser(), ["train", "--config", str(cfg), "--epochs", "5"])
    assert (args.epochs, args.lr, args.batch_size, args.no_progress, args.entangler) == (5, 1.0, 32, True, "ring")
    assert isinstance(args.lr, float)


def test_config_reaches_the_options_of_two_word_commands(tmp_path, capsys):
    from qcstar.cli import _apply_config

    cfg = tmp_path / "svm.toml"
    cfg.write_text('multiclass = "ovr"\ntrain = 300\nseed = 4\ncache-mb = 500\n')
    args = _apply_config(build_parser(), ["kernel", "svm", "--config", str(cfg), "--train", "200"])
    assert (args.multiclass, args.train, args.seed, args.cache_mb) == ("ovr", 200, 4, 500.0)
    run = tmp_path / "run.toml"
    run.write_text("shots = 123\n")
    assert _apply_config(build_parser(), ["kernel", "run", "--config", str(run)]).shots == 123
    cfg.write_text('multiclas = "ovr"\n')
    assert main(["kernel", "svm", "--config", str(cfg)]) == 2
    assert "unknown option 'multiclas' for 'qcstar kernel svm'" in capsys.readouterr().err


@pytest.mark.parametrize("line, expected", [
    ('entangler = "star"', "key 'entangler': expected one of ladder, ring, none for --entangler"),
    ("lr = true", "key 'lr': expected one value for --lr"),
    ("qubits = [6, 7]", "key 'qubits': expected one value for --qubits"),
    ("dataset = 5", "key 'dataset': expected a string for --dataset"),
    ("func = 1", "unknown option 'func'"),
])
def test_bad_config_values_name_the_file_and_key(tmp_path, capsys, line, expected):
    cfg = tmp_path / "run.toml"
    cfg.write_text(line + "\n")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"config file {cfg}" in err and expected in err


def test_config_file_errors(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


def test_train_records_only_the_flags_that_change_the_result():
    from qcstar.commands.train import recorded_flags

    parser = build_parser()
    args = parser.parse_args(["train", "--lr", "0.1", "--out", "x", "--threads", "2", "--no-progress"])
    flags = recorded_flags(args)
    assert flags["--lr"] == 0.1 and flags["--batch-size"] == 64 and flags["--seed"] == 0
    assert not {"--out", "--threads", "--no-progress", "--no-resume", "--device", "--data-dir", "--config"} & set(flags)
    # every recorded name is a real flag of the command
    known = {s for a in _subparsers(parser)["train"]._actions for s in a.option_strings}
    assert set(flags) <= known


def test_a_misspelt_flag_is_reported_by_its_subcommand_with_a_suggestion(capsys):
    with pytest.raises(SystemExit) as info:
        main(["kernel", "svm", "--trian", "100"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: qcstar kernel svm") and "--trian (did you mean --train?)" in err
    with pytest.raises(SystemExit):
        main(["dataset", "info", "--bogus"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus\n" in err and "did you mean" not in err
