"""Helpers shared by the tests of qcstar.data: synthetic IDX files and small circuit data sets.

The builds use sklearn's 8x8 digits at native size (6 qubits) and a small AQCE budget
(``max_blocks=4, sweeps=2``) to stay fast (AQCE's own tests check the 27/54/108-block presets).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from qcstar.circuits import qasm
from qcstar.encoders.aqce import AQCEEncoder

N_ITEMS, SHARD = 6, 2
KW = dict(source="digits", split="train", level="f80", limit=N_ITEMS, shard_size=SHARD, progress=False)


def idx_bytes(arr: np.ndarray, *, magic: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    dims = arr.shape if dims is None else dims
    magic = (0x08 << 8 | len(dims)) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + arr.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def fake_mnist_dir(root: Path, *, n: int = 6, hw: int = 28) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    imgs = (np.arange(n * hw * hw) % 256).astype(np.uint8).reshape(n, hw, hw)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_gz(folder / "t10k-images-idx3-ubyte.gz", idx_bytes(imgs))
    write_gz(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels))
    return root


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


def six_digits(x: float) -> str:
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
            z.writestr(f"{name}/fidelity/{i}", six_digits(float((clean / "fidelity" / str(j)).read_text())))
            z.writestr(f"{name}/state/{i}", (clean / "state" / str(j)).read_text())
