"""The MNISQ layout of a circuit data set: which files exist and how each one's text is written and read.

A data set is one folder (or one MNISQ zip), one tiny text file per item and kind, as MNISQ
ships them (arXiv:2306.16627)::

    DIR/
      manifest.json        what was built, from what, with which versions (our builds only)
      qasm/<i>             circuit i in MNISQ's Dense dialect: x gates + DenseMatrix(2,0,...) lines
      qasm_base/<i>        the same circuit in portable OpenQASM 2 (u3/cx, KAK per block), with the
                           exact global phase in a trailing ``// global_phase:`` comment (our builds)
      label/<i>            the class, a decimal integer
      fidelity/<i>         the OVERLAP Re<target|circuit> (see below), at repr precision
      state/<i>            2**n lines "re im": the exact normalised target amplitudes
      shards/<k>.done      completion marker of shard k (JSON: item range and SHA-256 of its files)

``i`` runs over 0..N-1 without extension or padding, as in MNISQ. MNISQ ships the portable form
as separate ``base_*`` zips whose ``qasm/`` replaces the Dense one; our builds keep both forms of
the same circuits side by side, the portable one in ``qasm_base/``.

What ``fidelity/`` holds
    MNISQ's folder name says "fidelity", but its generator writes the plain overlap
    ``Re<t|C|s>`` of the target state ``t`` and the circuit's state ``C|s>`` -- NOT the state
    fidelity ``|<t|C|s>|**2``. A level "f90" therefore means an overlap of about 0.90 (a state
    fidelity of about 0.81). The folder keeps MNISQ's name (it is the format); in code the
    quantity is called ``overlap`` everywhere (:attr:`CircuitDataset.overlaps`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qcstar.circuits.errors import DataError

from .catalogue import LEVELS

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_FILE_BYTES",
    "MAX_FILE_OPS",
    "MAX_ITEMS",
    "MAX_TOTAL_BYTES",
    "MAX_TOTAL_OPS",
]

#: Identifies our manifest; bump FORMAT_VERSION when the layout changes incompatibly.
FORMAT = "qcstar.circuitset"
FORMAT_VERSION = 1

#: The per-item folders we write, in the order their files are listed in shard markers.
KINDS = ("qasm", "qasm_base", "label", "fidelity", "state")

#: The per-item folders of an MNISQ zip or folder.
MNISQ_KINDS = ("qasm", "label", "fidelity", "state")

#: What each folder holds, as recorded in our manifests.
LAYOUT = {
    "qasm": "MNISQ Dense dialect (x + DenseMatrix(2,0,...)), numbers at repr precision",
    "qasm_base": "portable OpenQASM 2.0 (x, u3, cx; KAK per block), '// global_phase:' comment",
    "label": "class, decimal integer",
    "fidelity": "overlap Re<target|C|s> (MNISQ's 'fidelity'), repr precision",
    "state": "2**n lines 're im': the exact normalised target amplitudes",
    "shards": "<k>.done: item range and SHA-256 of each file of shard k",
}

#: Default limits when reading (zip bombs, accidents): per file and in total, uncompressed.
MAX_FILE_BYTES = 8 << 20  # an f95 Dense file at full precision is ~80 kB; a 10-qubit state ~45 kB
MAX_TOTAL_BYTES = 16 << 30
MAX_ITEMS = 10_000_000

#: Default limits on the operations a circuit file expands to (nested gate definitions can
#: expand exponentially): per file, and over a whole data set. An f95 circuit has about 120 ops
#: in the Dense form and under 2,000 in the portable u3/cx form.
MAX_FILE_OPS = 100_000
MAX_TOTAL_OPS = 200_000_000

#: How far past [-1, 1] a stored overlap may be (MNISQ writes 6 significant digits).
OVERLAP_TOLERANCE = 1e-5

#: An item file's name: a non-negative decimal integer.
INDEX_RE = re.compile(r"^\d+$")

#: A level in an MNISQ zip's or folder's name, e.g. ``test_mnist_784_f90``.
LEVEL_RE = re.compile(r"(?<![0-9a-z])(" + "|".join(LEVELS) + r")(?![0-9a-z])", re.IGNORECASE)


def shard_files(start: int, stop: int) -> list[str]:
    """The relative paths of the files of items ``start..stop-1``, every kind, in marker order."""
    return [f"{kind}/{i}" for i in range(start, stop) for kind in KINDS]


def marker_path(folder: Path, k: int) -> Path:
    """Where shard ``k``'s completion marker lives."""
    return folder / "shards" / f"{k}.done"


# --------------------------------------------------------------------------------------
# item texts: one writer and one reader per kind
# --------------------------------------------------------------------------------------

def format_float(x: float) -> str:
    """``repr``: the shortest text that reads back to the same double (full precision, no noise)."""
    return repr(float(x))


def label_text(label: int) -> str:
    return f"{int(label)}\n"


def overlap_text(overlap: float) -> str:
    """The text of a ``fidelity/<i>`` file: the overlap Re<t|C|s>."""
    return format_float(overlap) + "\n"


def state_text(target: torch.Tensor) -> str:
    """The text of a ``state/<i>`` file: one line ``re im`` per amplitude."""
    re_, im_ = ((target.real.tolist(), target.imag.tolist()) if target.is_complex()
                else (target.tolist(), [0.0] * target.numel()))
    return "".join(f"{format_float(a)} {format_float(c)}\n" for a, c in zip(re_, im_))


def parse_label(text: str, where: str) -> int:
    lab = text.strip()
    if not re.fullmatch(r"-?\d+", lab):
        raise DataError(f"{where}: expected an integer label, got {lab[:20]!r}")
    return int(lab)


def parse_overlap(text: str, where: str) -> float:
    """A ``fidelity/<i>`` file's number (MNISQ writes 6 significant digits, we write repr)."""
    try:
        value = float(text.strip())
    except ValueError:
        raise DataError(f"{where}: expected one number, got {text.strip()[:40]!r}") from None
    # the overlap of two unit vectors lies in [-1, 1]; MNISQ's 6 digits may round just past it
    if not abs(value) <= 1 + OVERLAP_TOLERANCE:
        raise DataError(f"{where}: the overlap {value!r} is not a number in [-1, 1] (the overlap of two "
                        "normalised states); the file is corrupt")
    return value


def parse_state(text: str, where: str, dim: int | None) -> torch.Tensor:
    """A ``state/<i>`` file as a complex128 vector of ``dim`` (or any power of two) amplitudes."""
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    try:
        arr = np.array([(float(r[0]), float(r[1]) if len(r) > 1 else 0.0) for r in rows], dtype=np.float64)
    except (ValueError, IndexError):
        raise DataError(f"{where}: expected lines 're im' of numbers") from None
    if not np.isfinite(arr).all():
        raise DataError(f"{where}: the amplitudes hold NaN or infinity; the file is corrupt")
    if arr.ndim != 2 or arr.shape[0] == 0 or (arr.shape[0] & (arr.shape[0] - 1)) or (dim is not None and arr.shape[0] != dim):
        want = f"{dim}" if dim is not None else "a power of two"
        raise DataError(f"{where}: {arr.shape[0] if arr.ndim == 2 else 0} amplitudes, expected {want}")
    return torch.complex(torch.from_numpy(arr[:, 0].copy()), torch.from_numpy(arr[:, 1].copy()))


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """``folder/manifest.json`` when it exists (``None`` otherwise); :class:`DataError` when it
    is not valid JSON or not a JSON object."""
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); delete the folder {folder} to start over") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path} holds {type(manifest).__name__}, not a manifest object; delete the folder {folder} "
                        "to start over")
    return manifest
