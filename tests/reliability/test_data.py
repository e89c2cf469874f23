"""Issue 9 regressions of qcstar.data: bounded reads of hostile files, no silent duplicates,
builds resumable from every kill point, clean errors at the edges of ``qcstar dataset``.

Each test failed before the fix it guards (the kill-at-every-write test needs the build's write
seam, which came with the fix; its sibling ``test_resume_after_kill_before_first_manifest``
reproduces the folder the old build order left and failed before).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qcstar.circuits.errors import ConfigError, DataError, ResourceError
from qcstar.circuits.resources import reset_memory_limit, set_memory_limit
from qcstar.data import build, load_dataset, load_images, read_idx
from qcstar.data.circuitsets import build_dataset, dataset_info
from qcstar.encoders.aqce import AQCEEncoder

BUILD = dict(source="digits", split="train", level="f80", limit=2, shard_size=1, progress=False)


def tiny_encoder() -> AQCEEncoder:
    return AQCEEncoder(level="f80", n_qubits=6, max_blocks=2, sweeps=1)


def idx_header(dims: tuple[int, ...]) -> bytes:
    return struct.pack(">I", 0x0800 | len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def snapshot(root: Path) -> tuple[dict[str, bytes], dict]:
    """Every file's bytes (but the lock's) and the manifest without its ``created`` entry."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
             if p.is_file() and p.name not in (".lock", "manifest.json")}
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.pop("created")
    return files, manifest


# --------------------------------------------------------------------------------------
# §1 read_idx: the header's claim is checked against the file before anything is allocated
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_lying_header_refused_without_allocating(tmp_path: Path, compressed: bool):
    payload = idx_header((1500, 1000, 1000)) + b"\x07" * 100  # claims 1.5 GB, holds 100 bytes
    path = tmp_path / ("lie.gz" if compressed else "lie")
    path.write_bytes(gzip.compress(payload) if compressed else payload)
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(DataError, match="truncated"):
            read_idx(path)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"read_idx allocated {peak} bytes for a {path.stat().st_size}-byte file"
    assert elapsed < 1.0


def test_read_idx_claim_beyond_max_bytes_and_memory_cap(tmp_path: Path):
    path = tmp_path / "huge"
    path.write_bytes(idx_header((10**6, 10**6)) + b"\x00" * 100)  # 10**12 items in a 100-byte file
    with pytest.raises(DataError, match="truncated"):
        read_idx(path, max_bytes=10**13)
    honest = tmp_path / "honest"
    honest.write_bytes(idx_header((50, 40)) + bytes(2000))
    set_memory_limit(1000)  # an honest file above the memory cap: refused before reading
    try:
        with pytest.raises(ResourceError, match="IDX payload"):
            read_idx(honest)
    finally:
        reset_memory_limit()
    assert read_idx(honest).shape == (50, 40)


# --------------------------------------------------------------------------------------
# §1 load_dataset: per-file and per-data-set operation budgets
# --------------------------------------------------------------------------------------

def nested_gates(levels: int) -> str:
    """A short program whose last gate expands to 2**levels ops."""
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[2];", "gate g0 a { x a; x a; }"]
    lines += [f"gate g{k} a {{ g{k - 1} a; g{k - 1} a; }}" for k in range(1, levels)]
    return "\n".join(lines + [f"g{levels - 1} q[0];"]) + "\n"


def write_zip(path: Path, qasm_texts: list[str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i, text in enumerate(qasm_texts):
            z.writestr(f"x/qasm/{i}", text)
            z.writestr(f"x/label/{i}", "1")
            z.writestr(f"x/fidelity/{i}", "0.9")
    return path


def test_nested_gate_zip_refused_fast(tmp_path: Path):
    bomb = write_zip(tmp_path / "bomb.zip", [nested_gates(23)] * 3)  # 3 x 8.4 million ops
    assert bomb.stat().st_size < 4000
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"x/qasm/0.*max_ops"):
        load_dataset(bomb)
    assert time.perf_counter() - t0 < 2.0


def test_total_ops_budget_over_the_data_set(tmp_path: Path):
    path = write_zip(tmp_path / "many.zip", [nested_gates(8)] * 4)  # 256 ops each
    assert len(load_dataset(path, max_ops=300)) == 4
    with pytest.raises(DataError, match=r"x/qasm/2.*max_total_ops=600.*512 used"):
        load_dataset(path, max_ops=300, max_total_ops=600)
    with pytest.raises(ConfigError, match="max_ops"):
        load_dataset(path, max_ops=0)


# --------------------------------------------------------------------------------------
# §2 duplicate items are refused, not silently resolved
# --------------------------------------------------------------------------------------

def test_duplicate_zip_member_refused(tmp_path: Path):
    path = tmp_path / "dup.zip"
    program = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nx q[0];\n'
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as z:
        z.writestr("x/qasm/0", program)
        z.writestr("x/label/0", "1")
        z.writestr("x/label/0", "2")  # which label is right? neither can be trusted
        z.writestr("x/fidelity/0", "0.9")
    with pytest.raises(DataError, match=r"dup\.zip:x/label/0 duplicates item 0"):
        load_dataset(path)
    padded = tmp_path / "padded.zip"
    with zipfile.ZipFile(padded, "w") as z:
        z.writestr("x/qasm/1", program)
        z.writestr("x/qasm/01", program)
    with pytest.raises(DataError, match=r"x/qasm/01 duplicates item 1"):
        dataset_info(padded)


def test_duplicate_item_in_folder_refused(tmp_path: Path):
    for kind, text in (("qasm", 'OPENQASM 2.0;\nqreg q[1];\n'), ("label", "1"), ("fidelity", "0.5")):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "0").write_text(text)
    (tmp_path / "label" / "00").write_text("2")
    with pytest.raises(DataError, match="duplicates item 0"):
        load_dataset(tmp_path)


# --------------------------------------------------------------------------------------
# §3 a build resumes from every kill point, byte-identical, and leaves no temporaries
# --------------------------------------------------------------------------------------

class Killed(BaseException):
    """A simulated SIGKILL: not an Exception, so no ``except Exception`` handler swallows it."""


class KillingWrites(build._FolderWrites):
    """The build's writer, dying at its ``kill_at``-th change of the folder. A kill in the middle of
    a write leaves what a real one would (a half-written temporary); after the kill nothing more
    happens (cleanup code in ``finally`` blocks would not run in a killed process)."""

    def __init__(self, kill_at: int):
        self.kill_at, self.count, self.dead = kill_at, 0, False

    def _step(self) -> None:
        if self.dead:
            raise Killed("already dead")
        self.count += 1
        if self.count == self.kill_at:
            self.dead = True

    def _die(self) -> None:
        raise Killed(f"killed at write {self.kill_at}")

    def mkdir(self, path, *, parents=False):
        self._step()
        if self.dead:
            self._die()
        super().mkdir(path, parents=parents)

    def mkdtemp(self, prefix, parent):
        self._step()
        made = super().mkdtemp(prefix, parent)  # the folder exists when the kill lands after it
        if self.dead:
            self._die()
        return made

    def write(self, path, data):
        self._step()
        if self.dead:
            path.write_bytes(data[: len(data) // 2])
            self._die()
        super().write(path, data)

    def write_atomic(self, path, data):
        self._step()
        if self.dead:
            (path.parent / f".{path.name}.k1ll3d.tmp").write_bytes(data[: len(data) // 2])
            self._die()
        super().write_atomic(path, data)

    def replace(self, src, dst):
        self._step()
        if self.dead:
            self._die()
        super().replace(src, dst)

    def unlink(self, path):
        self._step()
        if self.dead:
            self._die()
        super().unlink(path)

    def rmtree(self, path):
        self._step()
        if self.dead:
            self._die()
        super().rmtree(path)


@pytest.mark.parametrize("n_items", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_resume_from_every_kill_point(tmp_path: Path, monkeypatch, n_items: int):
    """One shard covers every kind of commit point (folder, manifest, item folders, staging,
    files, marker, final manifest, cleanup); two shards add a resume past a finished shard."""
    options = dict(BUILD, limit=n_items)
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not under test; speed is
    encoded: dict[int, dict[str, bytes]] = {}
    real_encode = build._encode_shard

    def encode_once(encoder, images, labels, start):  # deterministic, so encoding once is exact
        if start not in encoded:
            encoded[start] = real_encode(encoder, images, labels, start)
        return encoded[start]

    monkeypatch.setattr(build, "_encode_shard", encode_once)
    counter = KillingWrites(kill_at=0)
    monkeypatch.setattr(build, "_writes", counter)
    reference = build_dataset(out=tmp_path / "reference", encoder=tiny_encoder(), **options)
    expected, n_writes = snapshot(reference), counter.count
    assert n_writes > 20 * n_items  # folder, manifest, item folders, and per shard its files, marker, cleanup

    for k in range(1, n_writes + 1):
        out = tmp_path / f"killed-at-{k}"
        monkeypatch.setattr(build, "_writes", KillingWrites(kill_at=k))
        with pytest.raises(Killed):
            build_dataset(out=out, encoder=tiny_encoder(), **options)
        if (out / "manifest.json").is_file():  # a partial folder reads cleanly: its finished shards or an error
            try:
                load_dataset(out)
            except DataError:
                pass
        monkeypatch.setattr(build, "_writes", build._FolderWrites())
        build_dataset(out=out, encoder=tiny_encoder(), **options)
        assert snapshot(out) == expected, f"kill at write {k}"
        leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".tmp"]
        assert not leftovers, f"kill at write {k} left {leftovers}"


def test_resume_after_kill_before_first_manifest(tmp_path: Path):
    out = tmp_path / "ds"
    for kind in ("qasm", "qasm_base", "label", "fidelity", "state", "shards"):
        (out / kind).mkdir(parents=True)  # what the old build order created before its manifest
    (out / ".manifest.json.abc123.tmp").write_text('{"format": "qcst')  # a manifest write cut short
    (out / ".lock").touch()
    build_dataset(out=out, encoder=tiny_encoder(), **BUILD)
    assert json.loads((out / "manifest.json").read_text())["complete"]
    assert not list(out.glob(".manifest.json.*.tmp"))
    assert len(load_dataset(out)) == 2
    # a folder with real content of someone else's is still refused
    other = tmp_path / "other"
    (other / "qasm").mkdir(parents=True)
    (other / "qasm" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        build_dataset(out=other, encoder=tiny_encoder(), **BUILD)


# --------------------------------------------------------------------------------------
# §4 clean errors at the edges
# --------------------------------------------------------------------------------------

def test_out_folder_that_cannot_be_created(tmp_path: Path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*a-file/sub: the folder cannot be created"):
        build_dataset(out=blocker / "sub", encoder=tiny_encoder(), **BUILD)
    with pytest.raises(ConfigError, match="out"):
        build_dataset(out=None, encoder=tiny_encoder(), **BUILD)

    def read_only(path, mode="r", *args, **kwargs):  # a folder we may not write (root ignores chmod)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(build, "open", read_only, raising=False)
    with pytest.raises(ConfigError, match="cannot write into the folder"):
        build_dataset(out=tmp_path / "locked", encoder=tiny_encoder(), **BUILD)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    from qcstar.cli import main

    rc = main(argv)
    return rc, capsys.readouterr().err


def test_cli_errors_name_the_flag(tmp_path: Path, capsys):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("limit = 1.5\n")
    base = ["dataset", "build", "--source", "digits", "--split", "train", "--quiet"]
    rc, err = run_cli(base + ["--config", str(cfg), "--out", str(tmp_path / "o1")], capsys)
    # the central config check (qcstar.cli) names the file, the key and the flag
    assert rc == 2 and "'limit'" in err and "--limit" in err and str(cfg) in err
    cfg.write_text('ray = "yes"\n')
    rc, err = run_cli(base + ["--config", str(cfg), "--out", str(tmp_path / "o2")], capsys)
    assert rc == 2 and "'ray'" in err and "--ray" in err and "true or false" in err
    rc, err = run_cli(base + ["--shard-size", "0", "--out", str(tmp_path / "o3")], capsys)
    assert rc == 2 and "--shard-size must be a positive integer" in err
    (tmp_path / "f").write_text("x")
    rc, err = run_cli(base + ["--out", str(tmp_path / "f" / "sub")], capsys)
    assert rc == 2 and "cannot be created" in err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()
    with pytest.raises(SystemExit) as exit_info:  # no abbreviations: --shard is not --shard-size
        run_cli(base + ["--shard", "0", "--out", str(tmp_path / "o4")], capsys)
    assert exit_info.value.code == 2 and "--shard" in capsys.readouterr().err


def test_empty_and_non_finite_inputs(tmp_path: Path):
    for kind in ("qasm", "label", "fidelity"):
        (tmp_path / "empty" / kind).mkdir(parents=True)
    with pytest.raises(DataError, match="holds no items"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="holds no items"):
        dataset_info(tmp_path / "empty")
    path = tmp_path / "nan.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x/qasm/0", 'OPENQASM 2.0;\nqreg q[1];\n')
        z.writestr("x/label/0", "1")
        z.writestr("x/fidelity/0", "nan")
    with pytest.raises(DataError, match=r"x/fidelity/0: the overlap nan"):
        load_dataset(path)
    with pytest.raises(ConfigError, match="must be a path"):  # was a TypeError from pathlib
        load_dataset(None)
    with pytest.raises(ConfigError, match=r"data_dir \(--data-dir\) must be a path"):
        load_images("mnist", "test", data_dir=5)
    empty_idx = tmp_path / "empty.gz"
    empty_idx.write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match="truncated"):
        read_idx(empty_idx)
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "zero", idx_header((0,)))), np.zeros(0, np.uint8))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
