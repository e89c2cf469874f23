"""experiments/bench_kernels.py --quick: runs, agrees with qiskit-ml, prints the ratio last."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_results_and_prints_the_ratio_last(tmp_path, capsys):
    pytest.importorskip("qiskit_machine_learning")
    spec = importlib.util.spec_from_file_location("bench_kernels", ROOT / "experiments" / "bench_kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--out", str(tmp_path)])
    assert result["max_abs_kernel_difference_vs_qiskit_ml"] < 1e-5  # complex64 states vs qiskit's complex128
    assert result["max_abs_kernel_difference_vs_pennylane"] < 1e-5  # the same feature map written in PennyLane
    saved = json.loads((tmp_path / "bench_kernels.json").read_text())
    assert saved["n_samples"] == 24 and saved["seconds"]["pennylane_extrapolated"] > 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"ratio_end_to_end_vs_qiskit_ml={result['ratio_end_to_end_vs_qiskit_ml']:.1f}"
