"""qcstar.train: a short fit, exact resume after a kill, weights_only checkpoints, tasks mode, the
training state and epoch on their own, CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from qcstar import train
from qcstar.net import QCStarNet


def _data(seed: int = 0, n: int = 96):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.rand(n, 4, 4, generator=g) * 0.3
    x[torch.arange(n), y, y] += 0.7  # a learnable signal: a bright pixel on the diagonal
    return {"train": (x[:64], y[:64]), "val": (x[64:80], y[64:80]), "test": (x[80:], y[80:])}


def _net(**kw):
    kw.setdefault("seed", 0)
    return QCStarNet(n_qubits=3, n_circuits=2, n_layers=2, n_classes=4, in_shape=(4, 4), **kw)


def test_fit_learns_and_writes_metrics(tmp_path):
    net = _net()
    res = train.fit(net, _data(), epochs=6, batch_size=16, lr=0.05, out_dir=tmp_path, seed=1, progress=False)
    assert res["finished"] and res["epochs_done"] == 6
    assert res["history"][-1]["train_loss"] < res["history"][0]["train_loss"]
    lines = (tmp_path / train.METRICS).read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == list(range(1, 7))
    assert res["test"]["acc"] > 0.4 and res["params"]["interaction"] == 2 * 2 * 2  # chance is 0.25
    ck = torch.load(tmp_path / train.CHECKPOINT, weights_only=True)
    assert ck["epoch"] == 5 and "rng" in ck


@pytest.mark.parametrize("mode", ["shared", "tasks"])
def test_resume_after_kill_is_bit_identical(tmp_path, mode):
    data = _data()
    full = _net(mode=mode)
    train.fit(full, data, epochs=4, batch_size=16, out_dir=tmp_path / "a", seed=3, progress=False)

    killed = _net(mode=mode)
    r1 = train.fit(killed, data, epochs=4, batch_size=16, out_dir=tmp_path / "b", seed=3, progress=False,
                   max_epochs_this_run=2)
    assert not r1["finished"] and r1["epochs_done"] == 2

    def stop_at_3(epoch, metrics):
        if epoch == 3:
            raise train.StopTraining

    fresh = _net(mode=mode, seed=None)  # different initial weights: the checkpoint must restore them
    r2 = train.fit(fresh, data, epochs=4, batch_size=16, out_dir=tmp_path / "b", seed=3, progress=False,
                   callback=stop_at_3)
    assert r2["epochs_done"] == 3
    fresh2 = _net(mode=mode)
    r3 = train.fit(fresh2, data, epochs=4, batch_size=16, out_dir=tmp_path / "b", seed=3, progress=False)
    assert r3["finished"]
    for (k, a), (_, b) in zip(full.state_dict().items(), fresh2.state_dict().items()):
        assert torch.equal(a, b), k
    la = (tmp_path / "a" / train.METRICS).read_text().splitlines()
    lb = (tmp_path / "b" / train.METRICS).read_text().splitlines()
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "seconds"}  # noqa: E731
    assert [strip(s) for s in la] == [strip(s) for s in lb]


def test_cli_train_parser_and_run(tmp_path, monkeypatch):
    from qcstar.cli import add_common  # noqa: F401  (the command uses it)
    from qcstar.commands import train as cmd

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cmd.register(sub)
    args = parser.parse_args(["train", "--dataset", "digits", "--qubits", "3", "--circuits", "2", "--layers", "1",
                              "--epochs", "1", "--batch-size", "64", "--size", "4", "--n-train", "128",
                              "--out", str(tmp_path), "--no-progress"])
    assert args.func(args) == 0
    summary = json.loads((tmp_path / "result.json").read_text())
    assert summary["epochs_done"] == 1 and "test" in summary


def test_resume_after_a_kill_between_checkpoint_and_metrics(tmp_path):
    data = _data()
    train.fit(_net(), data, epochs=3, batch_size=16, out_dir=tmp_path, progress=False, max_epochs_this_run=2)
    metrics = tmp_path / train.METRICS
    metrics.write_text(metrics.read_text().splitlines(keepends=True)[0])  # the second line never came
    train.fit(_net(), data, epochs=3, batch_size=16, out_dir=tmp_path, progress=False)
    assert [json.loads(s)["epoch"] for s in metrics.read_text().splitlines()] == [1, 2, 3]


def test_training_state_and_epoch_without_fit(tmp_path):
    """The pieces fit is made of: a state that saves and resumes itself, and one epoch."""
    data = train.TrainingData.from_splits(_data(), tasks=None, seed=0)
    options = {"epochs": 2, "batch_size": 16, "lr": 0.05, "weight_decay": 0.0, "min_lr_ratio": 0.0, "seed": 0,
               "select": "val"}

    def start():
        return train.TrainingState.start(_net(), options=options, steps_per_epoch=4, data_identity=data.identity())

    a = start()
    first = train.train_epoch(a, data, batch_size=16)
    assert a.epoch == 1 and a.history == [first] and not a.finished and a.best_epoch == 1
    a.save(tmp_path / "ck.pt")
    train.train_epoch(a, data, batch_size=16)
    assert a.finished

    b = start()
    b.resume(tmp_path / "ck.pt")
    assert b.epoch == 1 and b.history == [first]
    train.train_epoch(b, data, batch_size=16)
    for (k, u), (_, v) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(u, v), k


def test_options_that_do_not_change_the_result_may_differ_on_resume(tmp_path):
    data = _data()
    train.fit(_net(), data, epochs=2, batch_size=16, out_dir=tmp_path, progress=False, max_epochs_this_run=1,
              eval_batch_size=7)
    res = train.fit(_net(), data, epochs=2, batch_size=16, out_dir=tmp_path, progress=True, eval_batch_size=64,
                    callback=lambda epoch, metrics: None)
    assert res["finished"] and res["epochs_this_run"] == 1


def test_result_json_holds_the_run_info(tmp_path):
    info = {"flags": {"--lr": 0.05}, "data": {"dataset": "synthetic"}}
    train.fit(_net(), _data(), epochs=1, batch_size=16, out_dir=tmp_path, progress=False, run_info=info)
    summary = json.loads((tmp_path / train.RESULT).read_text())
    assert summary["flags"] == info["flags"] and summary["data"] == info["data"] and "history" not in summary


def test_training_memory_estimate_grows_with_the_state():
    small = train.training_memory_bytes(n_qubits=6, n_circuits=4, n_layers=3, interaction=True, batch_size=64)
    assert small < 64 << 20  # the default net: a few MiB
    # one more qubit doubles every state; no interaction needs one source column instead of four
    assert train.training_memory_bytes(n_qubits=7, n_circuits=4, n_layers=3, interaction=True, batch_size=64) >= 2 * small
    assert train.training_memory_bytes(n_qubits=6, n_circuits=4, n_layers=3, interaction=False, batch_size=64) == small // 4
    huge = train.training_memory_bytes(n_qubits=30, n_circuits=4, n_layers=3, interaction=True, batch_size=64)
    assert huge > 1 << 45  # refused by check_memory on any machine we know


def test_cli_train_with_the_interaction_forms_and_readouts_of_e1b(tmp_path):
    """qcstar train builds the E1b options (controlled interaction, placement, full/inner readouts) and the
    checkpoint rebuilds the same net."""
    from qcstar.cli import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--qubits", "3", "--circuits", "2", "--layers", "2", "--epochs", "1",
                 "--size", "4", "--n-train", "64", "--n-val", "32", "--n-test", "32", "--interaction", "controlled",
                 "--placement", "end", "--control-qubit", "1", "--readout", "inner", "--no-progress",
                 "--out", str(out)]) == 0
    net = train.load_model(out / "checkpoint.pt")
    assert (net.interaction, net.placement, net.control_qubit, net.readout_kind) == ("controlled", "end", 1, "inner")
    flags = json.loads((out / "result.json").read_text())["flags"]
    assert flags["--interaction"] == "controlled" and flags["--readout"] == "inner"
