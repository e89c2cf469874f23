"""Issue 9 regressions for training and its command: resumes that refuse what they cannot honour,
checkpoints that rebuild their model and detect damage, kills that leave nothing behind, and
clean errors (exit 2) for every wrong flag, config value, device, folder and size."""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import pytest
import torch

from qcstar import ConfigError, DataError, QcstarError, train
from qcstar.cli import main
from qcstar.net import QCStarNet

TINY = ["train", "--dataset", "digits", "--size", "4", "--qubits", "2", "--circuits", "2", "--layers", "1",
        "--epochs", "1", "--n-train", "64", "--n-val", "32", "--n-test", "32", "--no-progress"]


def _data(n: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, 4, 4, generator=g)
    return {"train": (x[:32], y[:32]), "val": (x[32:40], y[32:40]), "test": (x[40:], y[40:])}


def _net(**kw):
    kw.setdefault("seed", 0)
    kw.setdefault("n_qubits", 2)
    return QCStarNet(n_circuits=2, n_layers=1, n_classes=3, in_shape=(4, 4), **kw)


def _fit(out, net=None, data=None, **kw):
    kw.setdefault("epochs", 1)
    kw.setdefault("batch_size", 16)
    return train.fit(net or _net(), data or _data(), out_dir=out, progress=False, **kw)


@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    _fit(out)
    return out


# --------------------------------------------------------------------------------------
# §2 a resume refuses another run, naming what differs
# --------------------------------------------------------------------------------------

def test_cli_resume_with_other_flags_is_refused_naming_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    before = (out / "result.json").read_bytes()
    capsys.readouterr()
    assert main([*TINY, "--out", str(out), "--lr", "0.1", "--batch-size", "32"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.02 there (now 0.1)" in err and "--batch-size 64 there (now 32)" in err
    assert "--no-resume" in err and "resume=False" not in err
    assert (out / "result.json").read_bytes() == before  # nothing was overwritten


def test_cli_resume_on_other_data_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*TINY, "--out", str(out), "--size", "5"]) == 2  # other images, like another --dataset
    assert "--size 4 there (now 5)" in capsys.readouterr().err


@pytest.mark.data
def test_cli_resume_with_other_dataset_is_refused(tmp_path, capsys, data_dir):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    rc = main([*TINY, "--out", str(out), "--dataset", "fashion-mnist", "--data-dir", str(data_dir)])
    assert rc == 2
    assert "--dataset 'digits' there (now 'fashion-mnist')" in capsys.readouterr().err


def test_cli_names_the_settings_of_a_run_written_by_fit(finished_run, capsys):
    assert main([*TINY, "--out", str(finished_run)]) == 2
    err = capsys.readouterr().err
    assert "not written by qcstar train" in err and "options.batch_size 16 there, 64 now" in err
    assert "run_info" not in err and "--no-resume" in err


def test_a_finished_run_says_so_and_does_not_train_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    ck_before = (out / train.CHECKPOINT).read_bytes()
    first = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the data note
    assert main([*TINY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "already finished (1 epochs)" in captured.err and "--no-resume" in captured.err
    again = json.loads(captured.out.split("\n", 1)[1])
    assert again["test"] == first["test"]
    assert (out / train.CHECKPOINT).read_bytes() == ck_before


def test_no_resume_starts_over(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    assert main([*TINY, "--out", str(out), "--lr", "0.1", "--no-resume"]) == 0
    assert json.loads((out / "result.json").read_text())["flags"]["--lr"] == 0.1


def test_starting_over_forgets_the_earlier_run(finished_run):
    _fit(finished_run, lr=0.5, resume=False, max_epochs_this_run=0)  # killed before its first checkpoint
    assert not (finished_run / train.CHECKPOINT).exists() and not (finished_run / train.RESULT).exists()
    assert _fit(finished_run, lr=0.5)["epochs_this_run"] == 1  # nothing stale to refuse or resume


def test_fit_refuses_other_options_model_or_data(finished_run):
    with pytest.raises(train.ResumeMismatchError, match=r"options.lr: 0.02 in the checkpoint, 0.5 now") as exc:
        _fit(finished_run, lr=0.5)
    assert exc.value.differences == {"options.lr": (0.02, 0.5)}
    with pytest.raises(train.ResumeMismatchError, match=r"model.n_qubits: 2 in the checkpoint, 3 now"):
        _fit(finished_run, net=_net(n_qubits=3))  # was a raw 'size mismatch' RuntimeError
    with pytest.raises(train.ResumeMismatchError) as exc:
        _fit(finished_run, data=_data(seed=1))
    assert set(exc.value.differences) == {"data.train", "data.val", "data.test"}
    assert isinstance(exc.value, ConfigError)


# --------------------------------------------------------------------------------------
# §2 the checkpoint rebuilds its model and detects damage
# --------------------------------------------------------------------------------------

def test_load_model_rebuilds_the_net_from_the_checkpoint_alone(tmp_path):
    net = _net(angle_net="mlp", hidden=5, readout="probs", combine="linear", strength=0.5)
    data = _data()
    res = _fit(tmp_path, net=net, data=data, epochs=2, select="last")
    rebuilt = train.load_model(tmp_path / train.CHECKPOINT)
    assert isinstance(rebuilt, QCStarNet) and not rebuilt.training
    x = data["test"][0]
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net.eval()(x))
    assert train.evaluate(rebuilt, *data["test"]) == res["test"]


def test_load_model_selected_weights_are_the_best_validation_epoch(tmp_path):
    data = _data()
    res = _fit(tmp_path, data=data, epochs=3, lr=0.2)
    best = train.load_model(tmp_path / train.CHECKPOINT)
    assert train.evaluate(best, *data["test"]) == res["test"]
    last = train.load_model(tmp_path / train.CHECKPOINT, weights="last")
    assert train.evaluate(last, *data["test"]) == res["test_last"]


def _flip_a_weight_byte(path: Path) -> None:
    """Flip one byte inside a stored tensor's data (found by its bytes in the uncompressed zip)."""
    ck = torch.load(path, weights_only=True)
    name, weight = max(ck["model"].items(), key=lambda kv: kv[1].numel())
    raw = bytearray(path.read_bytes())
    at = raw.find(weight.contiguous().numpy().tobytes())
    assert at > 0, name
    raw[at + 5] ^= 0x10
    path.write_bytes(bytes(raw))


def test_one_flipped_byte_in_a_stored_tensor_is_detected(finished_run):
    path = finished_run / train.CHECKPOINT
    _flip_a_weight_byte(path)
    with pytest.raises(DataError, match="does not match its checksum"):
        train.load_checkpoint(path)
    with pytest.raises(DataError):
        _fit(finished_run)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


class _Foreign:  # a pickled class: weights_only refuses it
    pass


@pytest.mark.parametrize("damage", {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": _truncated,
    "garbage": lambda p: p.write_bytes(os.urandom(300)),
    "text": lambda p: p.write_text("not a checkpoint\n"),
    "state_dict only": lambda p: torch.save(_net().state_dict(), p),  # KeyError: 'model' before
    "foreign dict": lambda p: torch.save({"model": {}, "epoch": 3}, p),
    "pickled object": lambda p: p.write_bytes(pickle.dumps(_Foreign(), protocol=2)),
}.items(), ids=lambda kv: kv[0] if isinstance(kv, tuple) else None)
def test_damaged_or_foreign_checkpoints_raise_data_error(finished_run, damage):
    path = finished_run / train.CHECKPOINT
    damage[1](path)
    with pytest.raises(DataError, match="not a readable qcstar checkpoint|does not match its checksum"):
        train.load_checkpoint(path)
    with pytest.raises(DataError):
        _fit(finished_run)
    with pytest.raises(DataError):
        train.load_model(path)


def test_cli_reports_a_damaged_checkpoint_with_exit_2(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    _truncated(out / train.CHECKPOINT)
    capsys.readouterr()
    assert main([*TINY, "--out", str(out)]) == 2
    assert "--no-resume" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# §3 kills: temporaries and a torn metrics line
# --------------------------------------------------------------------------------------

def test_resume_removes_temporaries_left_by_kills(tmp_path):
    _fit(tmp_path, epochs=2, max_epochs_this_run=1)
    left = [tmp_path / f".{name}.k{i}.tmp" for name in (train.CHECKPOINT, train.METRICS, "result.json")
            for i in range(3)]
    for p in left:
        p.write_bytes(b"half")
    mine = tmp_path / ".notes.tmp"  # not ours: kept
    mine.write_text("x")
    res = _fit(tmp_path, epochs=2)
    assert res["finished"]
    assert not any(p.exists() for p in left) and mine.exists()


def test_resume_cuts_a_torn_metrics_line(tmp_path):
    data = _data()
    _fit(tmp_path / "full", data=data, epochs=3)
    run = tmp_path / "run"
    _fit(run, data=data, epochs=3, max_epochs_this_run=2)
    metrics = run / train.METRICS
    with open(metrics, "a") as fh:
        fh.write('{"epoch": 3, "train_lo')  # killed mid-append
    assert len(train.read_metrics(metrics)) == 2
    _fit(run, data=data, epochs=3)
    lines = metrics.read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2, 3]
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "seconds"}  # noqa: E731
    assert [strip(s) for s in lines] == [strip(s) for s in (tmp_path / "full" / train.METRICS).read_text().splitlines()]


# --------------------------------------------------------------------------------------
# §4 clean errors
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value, expected", [
    ("--batch-size", "0", "expected a positive integer, got '0'"),  # ZeroDivisionError before
    ("--lr", "nan", "expected a finite number > 0, got 'nan'"),
    ("--lr", "-0.1", "expected a finite number > 0"),
    ("--weight-decay", "-1", "expected a finite number >= 0"),
    ("--interaction-init", "inf", "expected a finite number >= 0"),
    ("--epochs", "-2", "expected a positive integer"),
    ("--qubits", "0", "expected a positive integer"),
    ("--n-train", "1.5", "expected a positive integer"),
    ("--rotations", "RY,XX", "expected comma-separated RX, RY, RZ"),
])
def test_bad_numbers_exit_2_with_what_was_expected(flag, value, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*TINY, flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {expected}" in err


@pytest.mark.parametrize("kw, name", [
    ({"batch_size": 0}, "batch_size"), ({"lr": math.nan}, "lr"), ({"lr": -1.0}, "lr"),
    ({"weight_decay": math.inf}, "weight_decay"), ({"min_lr_ratio": 2.0}, "min_lr_ratio"),
    ({"epochs": 0}, "epochs"), ({"eval_batch_size": 0}, "eval_batch_size"), ({"seed": 1.5}, "seed"),
])
def test_fit_refuses_bad_options_with_config_error(kw, name, tmp_path):
    with pytest.raises(ConfigError, match=f"fit: {name} must be"):
        _fit(tmp_path, **kw)


def test_abbreviated_options_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main([*TINY, "--qubit", "3"])  # argparse took it for --qubits before
    assert exc.value.code == 2
    assert "unrecognized arguments: --qubit (did you mean --qubits?) 3" in capsys.readouterr().err


def test_config_value_of_the_wrong_type_names_the_file_and_key(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('epochs = "ten"\n')
    assert main([*TINY, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"config file {cfg}, key 'epochs': expected a positive integer, got 'ten' (for --epochs)" in err
    cfg.write_text("batch_size = 0\n")
    assert main([*TINY, "--config", str(cfg)]) == 2
    assert "key 'batch_size': expected a positive integer, got '0'" in capsys.readouterr().err
    cfg.write_text('no_progress = "yes"\n')
    assert main([*TINY, "--config", str(cfg)]) == 2
    assert "key 'no_progress': expected true or false" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([*TINY, "--out", str(blocker / "run")]) == 2
    assert f"cannot create the output folder {blocker / 'run'}" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="cannot create the output folder"):
        _fit(blocker)


@pytest.mark.parametrize("device, expected", [
    ("cuda:0" if not torch.cuda.is_available() else "cuda:99", "no usable CUDA"),
    ("tpu-ish", "is not a torch device"),
])
def test_devices_give_clear_errors(device, expected, capsys):
    assert main([*TINY, "--device", device]) == 2
    assert expected in capsys.readouterr().err


def test_a_net_that_cannot_fit_in_memory_is_refused_before_allocating(capsys):
    assert main([*TINY, "--qubits", "30"]) == 2  # killed by the OOM killer before
    err = capsys.readouterr().err
    assert "--qubits 30" in err and "more than the memory cap" in err


def test_fit_checks_memory_before_training(tmp_path):
    from qcstar.circuits.resources import reset_memory_limit, set_memory_limit

    set_memory_limit(1 << 16)
    try:
        with pytest.raises(QcstarError, match="more than the memory cap"):
            _fit(tmp_path, batch_size=64)
    finally:
        reset_memory_limit()
    assert not (tmp_path / train.CHECKPOINT).exists()
