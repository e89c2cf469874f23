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


def test_bad_options_exit_with_a_message(tmp_path, capsys):
    for flag, value in (("--encoder", "magic"), ("--kernel", "rbf"), ("--multiclass", "ova"), ("--train", "0")):
        code = main(["kernel", "svm", "--dataset", "digits", flag, value, "--out", str(tmp_path / "x.json")])
        assert code == 2
        assert flag in capsys.readouterr().err
