"""Circuit data sets in the MNISQ layout: build, resume, Ray, read (ours and MNISQ zips), info.

The builds use sklearn's 8x8 digits at native size (6 qubits) and a small AQCE budget
(``max_blocks=4, sweeps=2``) to stay fast; the CLI build takes the default-encoder path with that
budget patched in (AQCE's own tests check the 27/54/108-block presets).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from qcstar.circuits import qasm, simulate
from qcstar.circuits.errors import DataError
from qcstar.encoders.aqce import AQCEEncoder
from qcstar.data import circuitsets as cs
from qcstar.data.circuitsets import build_dataset, dataset_info, format_info, load_dataset

N_ITEMS, SHARD = 6, 2
KW = dict(source="digits", split="train", level="f80", limit=N_ITEMS, shard_size=SHARD, progress=False)


def small_encoder() -> AQCEEncoder:
    return AQCEEncoder(level="f80", n_qubits=6, max_blocks=4, sweeps=2)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root except the lock; the manifest without its ``created`` entry."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            rel = p.relative_to(root).as_posix()
            if rel == ".lock":
                continue
            data = p.read_bytes()
            if rel == "manifest.json":
                m = json.loads(data)
                m.pop("created")
                data = json.dumps(m, sort_keys=True).encode()
            out[rel] = data
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return build_dataset(out=tmp_path_factory.mktemp("clean") / "ds", encoder=small_encoder(), **KW)


def cli(argv: list[str]) -> int:
    from qcstar.commands import dataset as cmd

    parser = argparse.ArgumentParser(prog="qcstar")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


# --------------------------------------------------------------------------------------
# layout and contents
# --------------------------------------------------------------------------------------

def test_layout_and_manifest(clean: Path):
    for kind in cs.KINDS:
        assert sorted(int(p.name) for p in (clean / kind).iterdir()) == list(range(N_ITEMS))
    assert sorted(p.name for p in (clean / "shards").iterdir()) == ["0.done", "1.done", "2.done"]
    assert not (clean / ".tmp").exists()
    m = json.loads((clean / "manifest.json").read_text())
    assert m["format"] == cs.FORMAT and m["complete"] and m["count"] == N_ITEMS and m["n_shards"] == 3
    assert m["config"]["level"] == "f80" and m["config"]["n_qubits"] == 6 and m["config"]["shard_size"] == SHARD
    assert m["config"]["encoder"]["max_blocks"] == 4 and m["config"]["encoder"]["class"].endswith("AQCEEncoder")
    assert set(m["versions"]) >= {"qcstar", "torch", "numpy", "qiskit"}
    assert len(m["source_files"]["images_sha256"]) == 64 and "created" in m
    marker = json.loads((clean / "shards" / "1.done").read_text())
    assert (marker["start"], marker["stop"]) == (2, 4) and len(marker["files"]) == 2 * len(cs.KINDS)
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


# --------------------------------------------------------------------------------------
# resuming, config mismatch, Ray
# --------------------------------------------------------------------------------------

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


def test_ray_build_equals_local(clean: Path, tmp_path: Path):
    ray = pytest.importorskip("ray")
    started = False
    if not ray.is_initialized():
        try:
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}})
            started = True
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"a local Ray instance could not start: {exc}")
    try:
        out = build_dataset(out=tmp_path / "ds", encoder=small_encoder(), use_ray=True, **KW)
    finally:
        if started:
            ray.shutdown()
    assert tree(out) == tree(clean)


# --------------------------------------------------------------------------------------
# MNISQ zips
# --------------------------------------------------------------------------------------

def _six_digits(x: float) -> str:
    return f"{x:.6g}"


def make_mnisq_zip(clean: Path, path: Path, name: str, n: int, *, base: bool = False) -> None:
    """An MNISQ-layout zip built from our items: 6-digit Dense files without semicolons (or
    base files with `u`), 6-digit fidelities, 're im' states; items re-used cyclically."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/", "")
        z.writestr("__MACOSX/._junk", "junk")
        for i in range(n):
            j = i % N_ITEMS
            c = qasm.loads((clean / "qasm" / str(j)).read_text())
            if base:
                text = (clean / "qasm_base" / str(j)).read_text().replace("u3(", "u(")
                text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("//")) + "\n"
            else:
                text = qasm.dumps(c, dense="dense", precision=6).replace(";", "")
            z.writestr(f"{name}/qasm/{i}", text)
            z.writestr(f"{name}/label/{i}", str(i))
            z.writestr(f"{name}/fidelity/{i}", _six_digits(float((clean / "fidelity" / str(j)).read_text())))
            z.writestr(f"{name}/state/{i}", (clean / "state" / str(j)).read_text())


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


# --------------------------------------------------------------------------------------
# CLI and bad inputs
# --------------------------------------------------------------------------------------

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
