"""``qcstar seq train``: folders and MNISQ zips, the three models, resume, devices, bad flags."""

import json

import pytest
import torch

from qcstar.cli import main

from ..sequence.seq_helpers import write_circuit_folder, write_mnisq_zip


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()  # the commands below pass --threads 1
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqcli")
    return write_circuit_folder(root / "train", 24), write_mnisq_zip(root / "test.zip", 6, start=500)


def _train(data, *extra):
    return ["seq", "train", "--data", str(data[0]), "--test-data", str(data[1]), "--epochs", "1", "--d-model", "8",
            "--layers", "1", "--d-state", "4", "--batch-size", "8", "--no-progress", "--threads", "1", *extra]


@pytest.mark.parametrize("model,tokenizer", [("s4d", "gate"), ("transformer", "lexical"), ("lstm", "gate")])
def test_trains_and_prints_accuracy_tokens_per_second_and_parameters(data, tmp_path, capsys, model, tokenizer):
    out = tmp_path / "run"
    assert main(_train(data, "--model", model, "--tokenizer", tokenizer, "--out", str(out))) == 0
    printed = capsys.readouterr().out
    assert f"{model} on {tokenizer} tokens: test accuracy" in printed and "training tokens/s" in printed
    assert "parameters" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["test"]["n"] == 6 and result["params"]["total"] > 0
    assert result["model"]["kind"] == model
    assert json.loads((out / "tokenizer.json").read_text())["kind"] == tokenizer


def test_gauge_augmentation_is_recorded_and_resumes(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train(data, "--augment", "gauge", "--augment-angle", "0.5", "--out", str(out))) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["model"]["augment"] == {"kind": "gauge", "angle": 0.5, "reflect": 0.5, "p": 1.0, "swaps": 2}
    assert result["flags"]["--augment"] == "gauge"
    capsys.readouterr()
    assert main(_train(data, "--out", str(out))) == 2  # the same run without augmentation is another run
    assert "--augment" in capsys.readouterr().err


def test_rerun_resumes_and_other_flags_are_refused(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train(data, "--out", str(out))) == 0
    assert main(_train(data, "--out", str(out))) == 0  # finished: printed again
    capsys.readouterr()
    assert main(_train(data, "--out", str(out), "--lr", "0.5")) == 2
    assert "--lr" in capsys.readouterr().err


@pytest.mark.parametrize("flags,expected", [
    (["--device", "cuda:0" if not torch.cuda.is_available() else "cuda:99"], "no usable CUDA"),
    (["--device", "tpu-ish"], "is not a torch device"),
    (["--model", "mamba"], "invalid choice"),
    (["--max-len", "2"], "max_len=2"),
    (["--val-fraction", "1"], "--val-fraction"),
    (["--augment", "gauge", "--tokenizer", "char"], "needs --tokenizer gate"),
    (["--augment", "gauge", "--augment-angle", "4"], "--augment-angle"),
])
def test_bad_flags_exit_with_a_message(data, capsys, flags, expected):
    try:
        code = main(_train(data, *flags))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_of_sequence_models_and_the_cstar_net(data, tmp_path, capsys):
    assert main(_train(data, "--device", "cuda", "--out", str(tmp_path / "seq"))) == 0
    assert "on cuda" in capsys.readouterr().out
    assert main(["train", "--dataset", "digits", "--qubits", "4", "--circuits", "2", "--layers", "1", "--epochs", "1",
                 "--n-train", "64", "--device", "cuda", "--no-progress", "--out", str(tmp_path / "cstar")]) == 0
    assert json.loads((tmp_path / "cstar" / "result.json").read_text())["test"]["acc"] > 0
