"""``qcstar kernel svm``: runs end to end on digits, writes its JSON, rejects bad options."""

from __future__ import annotations

import json

import numpy as np
import torch

from qcstar.cli import main


def test_kernel_svm_on_digits_writes_the_result(tmp_path, capsys):
    out = tmp_path / "svm.json"
    assert main(["kernel", "svm", "--dataset", "digits", "--train", "300", "--test", "100", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 300 and result["n_test"] == 100 and result["route"] == "gram"
    assert set(result["accuracy"]) == {"libsvm", "sklearn"} and result["accuracy"]["libsvm"] > 0.85
    assert result["peak_rss_bytes"] > 0 and result["seconds"]["wall"] > 0
    captured = capsys.readouterr()
    assert "accuracy:" in captured.out and "peak memory" in captured.out
    assert "pair 45/45" in captured.err  # progress, one line per class pair


def test_kernel_svm_matches_the_estimator_it_wraps(tmp_path):
    """The CLI's accuracy is QuantumKernelSVC's on the same split (amplitude states, one-vs-rest, poly route)."""
    from qcstar.data import load_split
    from qcstar.encoders import AmplitudeEncoder
    from qcstar.kernels import FidelityKernel, QuantumKernelSVC

    out = tmp_path / "ovr.json"
    args = ["kernel", "svm", "--dataset", "digits", "--train", "200", "--test", "80", "--multiclass", "ovr",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    splits = load_split("digits", n_train=200, n_test=80, n_val=0, seed=0)
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    kernel = FidelityKernel(encoder=AmplitudeEncoder(max_value=1.0), dtype=torch.complex128)
    clf = QuantumKernelSVC(kernel=kernel, multiclass="ovr").fit(x_tr, y_tr.numpy())
    assert result["route"] == "poly"
    assert result["accuracy"]["argmax"] == float(np.mean(clf.predict(x_te) == y_te.numpy()))


def test_kernel_svm_with_the_angle_encoder(tmp_path):
    out = tmp_path / "angle.json"
    assert main(["kernel", "svm", "--dataset", "digits", "--encoder", "angle", "--train", "200", "--test", "50",
                 "--no-progress", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["encoder"] == "angle" and result["accuracy"]["libsvm"] > 0.5


def test_bad_options_exit_with_a_message(tmp_path, capsys):
    for flag, value in (("--encoder", "magic"), ("--kernel", "rbf"), ("--multiclass", "ova"), ("--train", "0"),
                        ("--cache-mb", "0")):
        code = main(["kernel", "svm", "--dataset", "digits", flag, value, "--out", str(tmp_path / "x.json")])
        assert code == 2
        assert flag in capsys.readouterr().err


def test_digits_with_default_sizes_and_a_pool_too_small(tmp_path, capsys):
    out = tmp_path / "all.json"
    assert main(["kernel", "svm", "--dataset", "digits", "--no-progress", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["n_train"], result["n_test"]) == (1438, 359)  # the pool: 20 % test, the rest train
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("qcstar kernel svm: digits: ") and "1438 train / 359 test images" in header
    assert main(["kernel", "svm", "--dataset", "digits", "--train", "1500", "--test", "500", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--train 1500 --test 500" in err and "1,797" in err and "leave --train out" in err


def _svm_accuracy(x_tr, y_tr, x_te, y_te, **kernel_options) -> float:
    from qcstar.kernels import FidelityKernel, QuantumKernelSVC, vote

    kernel = FidelityKernel(dtype=torch.complex128, **kernel_options)
    clf = QuantumKernelSVC(kernel=kernel).fit(x_tr, np.asarray(y_tr))
    pred = clf.classes_[vote(clf.decision_function(x_te), len(clf.classes_), rule="libsvm")]
    return float(np.mean(pred == np.asarray(y_te)))


def test_kernel_svm_on_the_states_of_built_circuits(tmp_path):
    """--train-circuits/--test-circuits: the kernel compares the states the circuits prepare."""
    from tests.qcstar.data.data_helpers import small_encoder
    from qcstar.data.circuitsets import build_dataset, load_dataset

    folder = build_dataset(out=tmp_path / "ds", encoder=small_encoder(), source="digits", split="train",
                           level="f80", limit=40, shard_size=20, progress=False)
    out = tmp_path / "c.json"
    assert main(["kernel", "svm", "--train-circuits", str(folder), "--test-circuits", str(folder), "--train", "30",
                 "--test", "40", "--no-progress", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["encoder"] == "circuits" and result["n_train"] == 30 and result["n_test"] == 40
    ds = load_dataset(folder)
    states = ds.circuit_states()
    expected = _svm_accuracy(states[:30], ds.labels[:30], states, ds.labels)
    assert result["accuracy"]["libsvm"] == expected


def test_kernel_svm_on_a_trained_cstar_net(tmp_path):
    """--encoder cstar:CHECKPOINT: the states of a net trained by `qcstar train`, on its input size."""
    from qcstar.data import load_split
    from qcstar.encoders import CStarEncoder
    from qcstar.train import load_model

    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--qubits", "3", "--circuits", "2", "--layers", "1", "--epochs", "1",
                 "--n-train", "200", "--no-progress", "--out", str(run)]) == 0
    out = tmp_path / "k.json"
    ckpt = run / "checkpoint.pt"
    assert main(["kernel", "svm", "--dataset", "digits", "--encoder", f"cstar:{ckpt}", "--train", "150", "--test",
                 "60", "--no-progress", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    splits = load_split("digits", n_train=150, n_test=60, n_val=0, seed=0)
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    encoder = CStarEncoder(load_model(ckpt))
    expected = _svm_accuracy(encoder.states(x_tr), y_tr, encoder.states(x_te), y_te)
    assert result["accuracy"]["libsvm"] == expected


def test_circuit_and_checkpoint_options_fail_clearly(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    assert main(["kernel", "svm", "--dataset", "digits", "--encoder", "cstar:/no/such.pt", "--out", out]) == 2
    assert "no checkpoint file" in capsys.readouterr().err
    assert main(["kernel", "svm", "--train-circuits", str(tmp_path), "--out", out]) == 2
    assert "--test-circuits" in capsys.readouterr().err

# -- qcstar kernel run: kernels with shots ---------------------------------------------------------
RUN = ["kernel", "run", "--dataset", "digits", "--train", "12", "--test", "6", "--shots", "200", "--chunk-size", "20"]


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_kernel_run_prints_accuracy_error_and_costs_then_resumes_without_submitting(tmp_path, capsys):
    manifest = tmp_path / "run.json"
    assert main(RUN + ["--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "run.result.json").read_text())
    pairs = 12 * 11 // 2 + 6 * 12
    assert result["circuits"] == pairs and result["executions"] == pairs * 200 and result["jobs"] == 4 + 4  # 66 and 72 circuits in jobs of at most 20
    assert "accuracy" in out and "kernel error vs exact" in out and f"{pairs} circuits" in out
    assert result["kernel_error"]["max"] < 0.25 and json.loads(manifest.read_text())["status"] == "done"
    assert main(RUN + ["--manifest", str(manifest)]) == 0  # the same command again: everything is collected
    assert "(0 executions still to submit)" in capsys.readouterr().out
    assert json.loads((tmp_path / "run.result.json").read_text())["kernel_error"] == result["kernel_error"]


def test_kernel_run_killed_between_jobs_resumes_without_submitting_twice(tmp_path, monkeypatch, capsys):
    from qcstar.circuits.backends.torch import TorchBackend

    reference = tmp_path / "reference"
    assert main(RUN + ["--manifest", str(reference / "run.json")]) == 0
    calls = []
    original = TorchBackend._run

    def flaky(self, circuits, **kw):
        calls.append(len(circuits))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is killed while the third job runs
        return original(self, circuits, **kw)

    monkeypatch.setattr(TorchBackend, "_run", flaky)
    run = RUN + ["--manifest", str(tmp_path / "run.json")]
    assert main(run) == 130
    assert main(run) == 0
    # 8 jobs in all; the killed one ran twice (it never finished), every other one once
    assert len(calls) == 8 + 1 and sum(calls) == 12 * 11 // 2 + 6 * 12 + calls[2]
    resumed = json.loads((tmp_path / "run.result.json").read_text())
    uninterrupted = json.loads((reference / "run.result.json").read_text())
    assert resumed["kernel_error"] == uninterrupted["kernel_error"] and resumed["accuracy"] == uninterrupted["accuracy"]


def test_kernel_run_dry_run_and_budget_submit_nothing(tmp_path, capsys):
    manifest = tmp_path / "run.json"
    assert main(RUN + ["--manifest", str(manifest), "--dry-run", "--method", "shadows", "--bases", "4"]) == 0
    out = capsys.readouterr().out
    assert "plan: 72 circuits, 14400 executions" in out and "pairs" not in out
    assert main(RUN + ["--manifest", str(manifest), "--budget", "1000"]) == 2
    assert "budget" in capsys.readouterr().err
    assert _files(tmp_path) == []


def test_kernel_run_never_writes_credentials(tmp_path, monkeypatch):
    token = "qcstar-fake-token-7f3a9c"
    for name in ("QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, token)
    assert main(RUN + ["--manifest", str(tmp_path / "run.json"), "--method", "projected"]) == 0
    files = _files(tmp_path)
    assert len(files) >= 3
    for path in files:
        assert token.encode() not in path.read_bytes(), path


def test_kernel_run_bad_options(tmp_path, capsys):
    for flag, value in (("--method", "swap"), ("--encoder", "magic"), ("--mitigation", "zne"), ("--shots", "0")):
        assert main(RUN + ["--manifest", str(tmp_path / "r.json"), flag, value]) == 2
        assert flag in capsys.readouterr().err
