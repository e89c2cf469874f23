"""Tests of ``qcstar dataset`` (qcstar.commands.dataset): build with the default encoder, info, errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from qcstar.circuits.errors import DataError
from qcstar.encoders.aqce import AQCEEncoder


def cli(argv: list[str]) -> int:
    from qcstar.commands import dataset as cmd

    parser = argparse.ArgumentParser(prog="qcstar")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_build_default_encoder_and_info(tmp_path: Path, capsys, monkeypatch):
    import qcstar.encoders.aqce

    class Budget(AQCEEncoder):  # the default encoder with a small budget: the CLI path, fast
        def __init__(self, **kw):
            super().__init__(**kw, max_blocks=4, sweeps=2)

    monkeypatch.setattr(qcstar.encoders.aqce, "AQCEEncoder", Budget)
    out = tmp_path / "cli"
    rc = cli(["dataset", "build", "--source", "digits", "--split", "train", "--level", "f80", "--limit", "2",
              "--shard-size", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    capsys.readouterr()
    assert cli(["dataset", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "items           2" in text and "2/2 done" in text and "blocks/circuit  mean 4.0" in text
    assert "p5" in text and "label  count" in text
    assert cli(["dataset", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 2 and info["labels"] == {"0": 1, "1": 1} and 0 < info["overlap"]["min"] <= 1
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["encoder"]["m0"] == 6 and m["config"]["encoder"]["n_qubits"] == 6
    with pytest.raises(DataError, match="--out"):
        cli(["dataset", "build", "--source", "digits", "--split", "train"])
    with pytest.raises(DataError, match="info needs"):
        cli(["dataset", "info"])


def test_cli_build_threads_option(tmp_path: Path):
    import torch

    from qcstar.circuits.errors import ConfigError

    with pytest.raises(ConfigError, match="--threads must be a positive integer"):
        cli(["dataset", "build", "--source", "digits", "--split", "train", "--threads", "0", "--out", str(tmp_path)])
    before = torch.get_num_threads()
    try:  # the thread count is set before anything is built (a bad level then stops the build)
        with pytest.raises(Exception, match="level"):
            cli(["dataset", "build", "--source", "digits", "--split", "train", "--level", "f99", "--threads", "1",
                 "--out", str(tmp_path / "x")])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cli_build_digits_needs_no_split(tmp_path: Path, monkeypatch):
    """digits have one pool (read as 'train'): --split defaults to it there, to 'test' elsewhere."""
    import qcstar.encoders.aqce

    class Budget(AQCEEncoder):
        def __init__(self, **kw):
            super().__init__(**kw, max_blocks=2, sweeps=1)

    monkeypatch.setattr(qcstar.encoders.aqce, "AQCEEncoder", Budget)
    out = tmp_path / "digits"
    assert cli(["dataset", "build", "--source", "digits", "--level", "f80", "--limit", "2", "--out", str(out),
                "--quiet"]) == 0
    assert json.loads((out / "manifest.json").read_text())["config"]["split"] == "train"
