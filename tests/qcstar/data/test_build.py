"""Tests of qcstar.data.build: the layout a build writes, resuming, config mismatch, Ray, bad inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from .data_helpers import KW, N_ITEMS, SHARD, small_encoder, tree
from qcstar.circuits import qasm, simulate
from qcstar.circuits.errors import DataError
from qcstar.data import build as cs
from qcstar.data import layout
from qcstar.data.circuitsets import build_dataset, dataset_info, format_info, load_dataset
from qcstar.encoders.aqce import AQCEEncoder


def test_layout_and_manifest(clean: Path):
    for kind in layout.KINDS:
        assert sorted(int(p.name) for p in (clean / kind).iterdir()) == list(range(N_ITEMS))
    assert sorted(p.name for p in (clean / "shards").iterdir()) == ["0.done", "1.done", "2.done"]
    assert not (clean / ".tmp").exists()
    m = json.loads((clean / "manifest.json").read_text())
    assert m["format"] == layout.FORMAT and m["complete"] and m["count"] == N_ITEMS and m["n_shards"] == 3
    assert m["config"]["level"] == "f80" and m["config"]["n_qubits"] == 6 and m["config"]["shard_size"] == SHARD
    assert m["config"]["encoder"]["max_blocks"] == 4 and m["config"]["encoder"]["class"].endswith("AQCEEncoder")
    assert set(m["versions"]) >= {"qcstar", "torch", "numpy", "qiskit"}
    assert len(m["source_files"]["images_sha256"]) == 64 and "created" in m
    marker = json.loads((clean / "shards" / "1.done").read_text())
    assert (marker["start"], marker["stop"]) == (2, 4) and len(marker["files"]) == 2 * len(layout.KINDS)
    # per-item formats
    assert (clean / "label" / "3").read_text().strip() == "3"  # digits are ordered 0, 1, 2, ...
    lines = (clean / "state" / "0").read_text().splitlines()
    assert len(lines) == 64 and all(len(ln.split()) == 2 for ln in lines)
    dense = (clean / "qasm" / "0").read_text()
    assert dense.startswith('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[6];\n') and dense.count("DenseMatrix(2,0,") == 4
    base = (clean / "qasm_base" / "0").read_text()
    assert "DenseMatrix" not in base and "cx q[" in base


def test_qasm_files_reproduce_states_and_overlaps(clean: Path):
    from qiskit import qasm2
    from qiskit.quantum_info import Statevector

    for i in range(N_ITEMS):
        dense = qasm.loads((clean / "qasm" / str(i)).read_text())
        a = simulate(dense, dtype=torch.complex128)
        base_text = (clean / "qasm_base" / str(i)).read_text()
        b = torch.from_numpy(Statevector(qasm2.loads(base_text)).data)
        assert abs(torch.vdot(a, b)) > 1 - 1e-6, i  # qiskit: same state up to global phase
        ours = simulate(qasm.loads(base_text), dtype=torch.complex128)
        assert torch.allclose(ours, a, atol=1e-10)  # our reader keeps the phase comment: exact
        rows = [ln.split() for ln in (clean / "state" / str(i)).read_text().splitlines()]
        target = torch.tensor([complex(float(r), float(m)) for r, m in rows], dtype=torch.complex128)
        stored = float((clean / "fidelity" / str(i)).read_text())
        assert abs(torch.vdot(target, a).real.item() - stored) < 1e-10
        assert abs(target.norm().item() - 1) < 1e-12


def test_killed_build_resumes_byte_identical(clean: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "ds"
    real = cs._encode_shard
    encoded: list[int] = []  # start index of every shard encoded

    def counting(encoder, images, labels, start):
        if start == 4 and die["encode"]:
            raise KeyboardInterrupt("killed while encoding shard 2")
        encoded.append(start)
        return real(encoder, images, labels, start)

    die = {"encode": True}
    monkeypatch.setattr(cs, "_encode_shard", counting)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(out=out, encoder=small_encoder(), **KW)
    assert encoded == [0, 2] and not (out / "shards" / "2.done").exists()
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    partial = load_dataset(out)  # only the finished shards are served
    assert len(partial) == 4
    assert "incomplete" in format_info(dataset_info(out))

    # more damage: a done shard's file edited, another shard's marker lost
    (out / "qasm" / "0").write_text("OPENQASM 2.0;\n// tampered\n")
    (out / "shards" / "1.done").unlink()

    # then a kill in the middle of moving shard 2's files into place (its third os.replace)
    die["encode"] = False
    encoded.clear()
    moved = {"n": 0}
    real_replace = os.replace

    def dies_while_moving(src, dst):
        if "shard-2-" in str(src):
            moved["n"] += 1
            if moved["n"] == 3:
                raise KeyboardInterrupt("killed while moving")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_while_moving)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="shard 0's files no longer match"):
        build_dataset(out=out, encoder=small_encoder(), **KW)
    monkeypatch.setattr(os, "replace", real_replace)
    assert encoded == [0, 2, 4]  # the tampered shard 0 and the unmarked shard 1 are redone
    assert (out / "qasm" / "4").exists() and not (out / "shards" / "2.done").exists()  # half-moved: no marker

    encoded.clear()
    build_dataset(out=out, encoder=small_encoder(), **KW)
    assert encoded == [4]  # verified shards are skipped
    assert tree(out) == tree(clean)
    m_clean = json.loads((clean / "manifest.json").read_text())
    assert json.loads((out / "manifest.json").read_text())["content_sha256"] == m_clean["content_sha256"]
    # a rerun of a complete build encodes nothing and changes nothing
    encoded.clear()
    build_dataset(out=out, encoder=small_encoder(), **KW)
    assert encoded == [] and tree(out) == tree(clean)


def test_config_mismatch(clean: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "ds"
    shutil.copytree(clean, out)
    before = tree(out)
    with pytest.raises(DataError, match=r"config mismatch(.|\n)*shard_size(.|\n)*new --out"):
        build_dataset(out=out, encoder=small_encoder(), **dict(KW, shard_size=3))
    with pytest.raises(DataError, match="sweeps"):
        build_dataset(out=out, encoder=AQCEEncoder(level="f80", n_qubits=6, max_blocks=4, sweeps=3), **KW)
    assert tree(out) == before
    # a file lost from a finished build: reading says how to repair, the same command repairs it
    (out / "qasm" / "5").unlink()
    with pytest.raises(DataError, match="rerun the build"):
        load_dataset(out)
    real, encoded = cs._encode_shard, []
    monkeypatch.setattr(cs, "_encode_shard", lambda e, x, y, start: encoded.append(start) or real(e, x, y, start))
    with pytest.warns(UserWarning, match="shard 2's files no longer match"):
        build_dataset(out=out, encoder=small_encoder(), **KW)
    assert encoded == [4] and tree(out) == before


@pytest.mark.slow  # starts a Ray instance: about 11 s
def test_ray_build_equals_local(clean: Path, tmp_path: Path):
    ray = pytest.importorskip("ray")
    started = False
    if not ray.is_initialized():
        try:
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[3])}})
            started = True
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"a local Ray instance could not start: {exc}")
    try:
        out = build_dataset(out=tmp_path / "ds", encoder=small_encoder(), use_ray=True, **KW)
    finally:
        if started:
            ray.shutdown()
    assert tree(out) == tree(clean)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(source="cifar"), "unknown source"),
        (dict(level="f99"), "unknown level"),
        (dict(limit=0), "limit must be a positive"),
        (dict(limit=-3), "limit must be a positive"),
        (dict(shard_size=0), "shard_size"),
        (dict(split="test"), "no official test split"),
        (dict(split="val"), "unknown split"),
    ],
)
def test_bad_inputs(tmp_path: Path, kwargs, match):
    with pytest.raises(DataError, match=match):
        build_dataset(out=tmp_path / "x", **dict(KW, **kwargs))


def test_bad_out_and_paths(tmp_path: Path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        build_dataset(out=f, encoder=small_encoder(), **KW)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        build_dataset(out=busy, encoder=small_encoder(), **KW)
    with pytest.raises(DataError, match="level"):
        build_dataset(out=tmp_path / "y", encoder=AQCEEncoder(level="f90", n_qubits=6), **KW)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(DataError, match="neither a folder nor a zip"):
        load_dataset(f)
    with pytest.raises(DataError, match="form"):
        load_dataset(busy, form="qasm3")


@pytest.mark.data
def test_mnist_build_10_qubits(data_dir: Path, tmp_path: Path):
    from qcstar.data.images import FILES

    enc = AQCEEncoder(level="f80", n_qubits=10, max_blocks=4, sweeps=1)
    out = build_dataset(source="mnist", split="test", level="f80", out=tmp_path / "mn", limit=2, shard_size=1,
                        data_dir=data_dir, encoder=enc, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["n_qubits"] == 10
    assert m["source_files"]["mnist/t10k-images-idx3-ubyte.gz"] == FILES["mnist"]["t10k-images-idx3-ubyte.gz"].sha256
    ds = load_dataset(out)
    assert ds.labels.tolist() == [7, 2] and ds.states.shape == (2, 1024)
    got = simulate(ds.circuits[1], dtype=torch.complex128)
    assert abs(torch.vdot(ds.states[1], got).real.item() - ds.overlaps[1].item()) < 1e-10
