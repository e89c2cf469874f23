"""Tests of qcstar.data.read: our folders, MNISQ zips (Dense and base), size limits."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from .data_helpers import N_ITEMS, make_mnisq_zip
from qcstar.circuits import simulate
from qcstar.circuits.errors import DataError
from qcstar.data.circuitsets import dataset_info, load_dataset


def test_load_dataset_ours(clean: Path):
    ds = load_dataset(clean)
    assert len(ds) == N_ITEMS and ds.n_qubits == 6 and ds.meta["level"] == "f80"
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == list(range(N_ITEMS))
    assert ds.overlaps.dtype == torch.float64
    states = ds.states
    assert states.shape == (N_ITEMS, 64) and states.dtype == torch.complex128
    got = simulate(ds.circuits[2], dtype=torch.complex128)
    assert abs(torch.vdot(states[2], got).real.item() - ds.overlaps[2].item()) < 1e-10
    item = ds[-1]
    assert item.label == N_ITEMS - 1 and torch.equal(item.state, states[-1]) and "DenseMatrix" in item.qasm
    base = load_dataset(clean, form="base", limit=3)
    assert len(base) == 3 and "DenseMatrix" not in base.qasm_texts[0]
    s_base = simulate(base.circuits[0], dtype=torch.complex128)
    assert torch.allclose(s_base, simulate(ds.circuits[0], dtype=torch.complex128), atol=1e-10)
    with pytest.raises(IndexError):
        ds[N_ITEMS]


def test_circuit_states_are_what_the_circuits_prepare(clean: Path):
    ds = load_dataset(clean, limit=5)
    got = ds.circuit_states()
    assert got.shape == (5, 64) and got.dtype == torch.complex128
    assert torch.allclose(got[3], simulate(ds.circuits[3], dtype=torch.complex128), atol=1e-12)
    # the overlap file holds Re<target|circuit>: the circuits' states are close to, not equal to, the targets
    overlaps = torch.einsum("bi,bi->b", ds.states.conj(), got).real
    assert torch.allclose(overlaps, ds.overlaps, atol=1e-9)
    assert (overlaps < 1 - 1e-6).all()


def test_read_mnisq_zip(clean: Path, tmp_path: Path):
    zpath = tmp_path / "test_mnist_784_f90.zip"
    make_mnisq_zip(clean, zpath, "test_mnist_784_f90", 12)
    ds = load_dataset(zpath)
    assert len(ds) == 12 and ds.meta["format"] == "mnisq-zip" and ds.meta["level"] == "f90"
    assert ds.labels.tolist() == list(range(12))  # numeric order: 10 and 11 after 9
    assert "DenseMatrix" in ds.qasm_texts[0] and not ds.qasm_texts[0].rstrip().endswith(";")
    for i in (0, 7, 11):
        got = simulate(ds.circuits[i], dtype=torch.complex128)
        assert abs(torch.vdot(ds.states[i], got).real.item() - ds.overlaps[i].item()) < 1e-5
    assert len(load_dataset(zpath, limit=3)) == 3
    info = dataset_info(zpath)
    assert info["count"] == 12 and info["level"] == "f90" and info["blocks"]["max"] == 4

    bpath = tmp_path / "base_test_mnist_784_f90.zip"
    make_mnisq_zip(clean, bpath, "base_test_mnist_784_f90", 6, base=True)
    b = load_dataset(bpath)
    for i in range(6):
        s = simulate(b.circuits[i], dtype=torch.complex128)
        assert abs(torch.vdot(s, simulate(ds.circuits[i], dtype=torch.complex128))) > 1 - 1e-5


def test_zip_limits(tmp_path: Path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x/qasm/0", "OPENQASM 2.0;\n" + " " * (9 << 20))  # 9 MB of blanks, ~10 kB compressed
        z.writestr("x/label/0", "1")
        z.writestr("x/fidelity/0", "0.9")
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match="max_file_bytes"):
        load_dataset(bomb)
    small = tmp_path / "small.zip"
    with zipfile.ZipFile(small, "w") as z:
        z.writestr("x/qasm/0", 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nx q[0];\n')
        z.writestr("x/label/0", "1")
        z.writestr("x/fidelity/0", "0.9")
    assert len(load_dataset(small)) == 1
    with pytest.raises(DataError, match="max_total_bytes"):
        load_dataset(small, max_total_bytes=20)
    with pytest.raises(DataError, match="no state/ files"):
        load_dataset(small).states
    nolabel = tmp_path / "nolabel.zip"
    with zipfile.ZipFile(nolabel, "w") as z:
        z.writestr("x/qasm/0", "OPENQASM 2.0;\nqreg q[1];\n")
        z.writestr("x/fidelity/0", "0.9")
    with pytest.raises(DataError, match="label"):
        load_dataset(nolabel)
