"""`qcstar demo` (the README's main command) runs end to end, small."""

from __future__ import annotations

import json
import sys

import pytest

from qcstar.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("cstar_training.png", "kernel_gram.png", "kernel_accuracy.png")


def test_demo_runs_every_stage_small(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--qubits", "5", "--layers", "2", "--batch", "8", "--epochs", "1", "--aqce-images", "2",
               "--train-images", "200", "--stages", "circuits,cstar,encoders,kernels",  # shots, sequence: own (slow) tests
               "--out", str(out), "--seed", "1"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"circuits", "cstar", "encoders", "kernels"}
    assert report["circuits"]["max_error_vs_qiskit"] < 1e-9
    assert report["circuits"]["qasm_roundtrip_error"] < 1e-9
    assert report["cstar"]["export_error"] < 1e-5
    assert report["encoders"]["amplitude_circuit_error"] < 1e-10
    assert report["kernels"]["n_train"] == 200  # --train-images caps the training digits
    accs = report["kernels"]["svm_test_accuracy"]
    # on exact amplitude states the fidelity kernel equals its classical cos^2 twin
    assert accs["quantum: fidelity kernel on amplitude states"] == accs["classical twin: cos^2 kernel on pixels"]
    assert (out / "circuit.qasm").exists() and (out / "cstar_hardware.qasm").exists()
    assert "done in" in capsys.readouterr().out
    md = (out / "report.md").read_text()
    assert "qcstar demo --qubits 5 --layers 2 --batch 8 --epochs 1" in md and "--stages" in md  # the command that reruns it
    assert "torch " in md and "threads" in md  # the machine
    assert "| test_acc_global |" in md and "| export_error |" in md  # each stage's numbers
    for name in PLOTS:
        assert f"]({name})" in md  # embedded by a relative link
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
    assert "Plots skipped" not in md


def test_demo_without_matplotlib_still_writes_the_report(tmp_path, monkeypatch, capsys):
    # a None entry in sys.modules makes `import matplotlib` raise ImportError, as if not installed
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "demo"
    assert main(["demo", "--stages", "kernels", "--train-images", "100", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Plots skipped" in md and "pip install 'qcstar[plot]'" in md
    assert "| n_train | 100 |" in md
    assert ".png" not in md and not list(out.glob("*.png"))


def test_demo_rejects_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_option = 1\n")
    assert main(["demo", "--config", str(cfg)]) == 2
    assert "unknown option 'no_such_option'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_sequence_stage_sets_the_s4d_beside_the_kernel(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--stages", "sequence", "--train-images", "100", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())["sequence"]
    assert report["n_train"] == 100 and report["n_test"] == 120
    assert report["kernel_test_acc"] > 0.5 and report["s4d_params"] > 0 and report["s4d_tokens_per_s"] > 0
    assert "S4D on gate tokens" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_shots_stage_mitigation_helps(tmp_path):
    """A kernel with shots on a noisy fake IBM device: the mitigated kernel is much closer to the exact one."""
    out = tmp_path / "demo"
    assert main(["demo", "--stages", "shots", "--out", str(out), "--seed", "1"]) == 0
    shots = json.loads((out / "report.json").read_text())["shots"]
    assert shots.get("skipped") or shots["relative_error_mitigated"] < 0.5 * shots["relative_error_raw"]
