"""Read circuit data sets: our builds, original MNISQ zips (read in place) and extracted MNISQ folders.

Hostile files cost what their size allows: every file and the whole read are capped in bytes
(zip bombs), every circuit and the whole data set in expanded operations (nested gate
definitions), and a zip or folder holding one item twice is refused rather than letting one
copy silently win.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from qcstar.circuits.errors import DataError, QasmError

from .catalogue import DataConfigError, as_path
from .layout import (
    FORMAT,
    INDEX_RE,
    LEVEL_RE,
    MAX_FILE_BYTES,
    MAX_FILE_OPS,
    MAX_ITEMS,
    MAX_TOTAL_BYTES,
    MAX_TOTAL_OPS,
    MNISQ_KINDS,
    marker_path,
    parse_label,
    parse_overlap,
    parse_state,
    read_manifest,
)

__all__ = ["CircuitDataset", "CircuitItem", "circuit_states", "dataset_info", "format_info", "load_dataset"]


class _Reader:
    """Reads the item files of one data set with size limits (folder or zip, never extracted)."""

    def __init__(self, path: Path, max_file_bytes: int, max_total_bytes: int):
        self.path = path
        self.max_file = max_file_bytes
        self.max_total = max_total_bytes
        self.total = 0
        self.kind = "folder"
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        self.index: dict[str, dict[int, Any]] = {}  # folder name -> item -> zip info or path

    def open(self, qasm_folder: str = "qasm") -> None:
        if self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise DataError(f"{self.path} is neither a folder nor a zip file")
            self.kind = "zip"
            try:
                self.zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"{self.path} is not a readable zip file: {exc}") from None
            self._index_zip()
        elif self.path.is_dir():
            self._index_folder(qasm_folder)
        else:
            raise DataError(f"{self.path} does not exist")

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
            self.zip = None

    def _index_zip(self) -> None:
        assert self.zip is not None
        infos = self.zip.infolist()
        if len(infos) > 6 * MAX_ITEMS:
            raise DataError(f"{self.path} lists {len(infos)} members, above the limit of {6 * MAX_ITEMS}")
        found: dict[str, dict[str, dict[int, Any]]] = {}
        for info in infos:
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            if len(parts) < 2 or not INDEX_RE.match(parts[-1]) or parts[-2] not in MNISQ_KINDS:
                continue  # README, __MACOSX/, .DS_Store, ...
            prefix = "/".join(parts[:-2])
            _add_unique(found.setdefault(prefix, {}).setdefault(parts[-2], {}), int(parts[-1]), info,
                        lambda ref: f"{self.path}:{ref.filename}")
        roots = [p for p, kinds in found.items() if "qasm" in kinds]
        if not roots:
            raise DataError(f"{self.path} holds no '<name>/qasm/<i>' files; is it an MNISQ zip?")
        if len(roots) > 1:
            raise DataError(f"{self.path} holds several data sets ({', '.join(sorted(roots))}); expected one")
        self.prefix = roots[0]
        self.index = found[roots[0]]

    def _index_folder(self, qasm_folder: str) -> None:
        root = self.path
        for sub in (qasm_folder, "label", "fidelity", "state"):
            folder = root / sub
            if not folder.is_dir():
                continue
            entries: dict[int, Any] = {}
            with os.scandir(folder) as it:
                for e in it:
                    if INDEX_RE.match(e.name) and e.is_file():
                        _add_unique(entries, int(e.name), Path(e.path), str)
                        if len(entries) > MAX_ITEMS:
                            raise DataError(f"{folder} holds more than {MAX_ITEMS} items")
            self.index["qasm" if sub == qasm_folder else sub] = entries
        if "qasm" not in self.index:
            raise DataError(f"{root} has no {qasm_folder}/ folder; expected a data set folder (qasm/, label/, ...)")

    def read(self, kind: str, i: int) -> str:
        ref = self.index[kind][i]
        if self.zip is not None:
            if ref.file_size > self.max_file:
                raise DataError(self._too_big(kind, i, ref.file_size))
            try:
                with self.zip.open(ref) as f:
                    data = f.read(self.max_file + 1)  # never trust the header's size: read at most the cap
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{self.where(kind, i)} cannot be read from the zip: {exc}") from None
        else:
            size = ref.stat().st_size
            if size > self.max_file:
                raise DataError(self._too_big(kind, i, size))
            data = ref.read_bytes()
        if len(data) > self.max_file:
            raise DataError(self._too_big(kind, i, len(data)))
        self.total += len(data)
        if self.total > self.max_total:
            raise DataError(
                f"{self.path}: more than max_total_bytes={self.max_total} uncompressed bytes read; "
                "pass limit=... to read fewer items or raise max_total_bytes"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{self.where(kind, i)} is not UTF-8 text") from None

    def where(self, kind: str, i: int) -> str:
        if self.zip is not None:
            return f"{self.path}:{self.prefix + '/' if self.prefix else ''}{kind}/{i}"
        return str(self.index[kind][i])

    def _too_big(self, kind: str, i: int, size: int) -> str:
        return (f"{self.where(kind, i)} has {size} bytes, above max_file_bytes={self.max_file} "
                "(a corrupt file or a zip bomb?); raise max_file_bytes if it is genuine")


def _add_unique(entries: dict[int, Any], i: int, ref: Any, name: Callable[[Any], str]) -> None:
    """Index item ``i``; a second file for the same item (``7`` twice in a zip, or ``7`` and ``07``)
    is refused: which one would win is arbitrary, so neither is trusted."""
    if i in entries:
        raise DataError(f"{name(ref)} duplicates item {i} (already given by {name(entries[i])}); "
                        "a data set holds one file per item and kind: remove the duplicate")
    entries[i] = ref


@dataclass
class CircuitItem:
    """One item: the circuit, its label, its overlap Re<target|circuit> (the number in MNISQ's
    ``fidelity/`` file, not its square), its target state and its QASM text."""

    circuit: Any
    label: int
    overlap: float
    state: torch.Tensor | None
    qasm: str


def circuit_states(circuits: Sequence[Any], *, dtype: torch.dtype = torch.complex128, device: Any = None) -> torch.Tensor:
    """The states ``(N, 2**n)`` that unbatched ``circuits`` prepare from ``|0...0>``, one simulation each
    (AQCE circuits put their blocks on different qubit pairs per image, so they share no batched
    call); memory is checked before anything is allocated."""
    from qcstar.circuits import simulate
    from qcstar.circuits.resources import check_memory, state_bytes

    if not circuits:
        return torch.zeros(0, 1, dtype=dtype, device=device)
    n = circuits[0].n_qubits
    if any(c.n_qubits != n for c in circuits):
        raise DataError("these circuits act on different numbers of qubits; their states cannot form one "
                        "(N, 2**n) array")
    itemsize = torch.empty(0, dtype=dtype).element_size()
    check_memory(state_bytes(n, len(circuits), itemsize=itemsize), f"the states of {len(circuits)} circuits")
    out = torch.empty(len(circuits), 2**n, dtype=dtype, device=device)
    for i, circuit in enumerate(circuits):
        out[i] = simulate(circuit, dtype=dtype, device=device)
    return out


@dataclass
class CircuitDataset:
    """Circuits with labels, overlaps and (lazily read) target states.

    ``overlaps`` (float64) are the numbers of the ``fidelity/`` files: the overlap
    Re<target|circuit> that MNISQ calls "fidelity" -- the state fidelity is its square.
    ``states`` is read on first access (``(N, 2**n)`` complex128), or raises :class:`DataError`
    when the data set has no ``state/`` files. ``meta`` holds what is known about the data set
    (format, level, source, manifest).

    Example::

        ds = load_dataset("digits-f80")
        c, y = ds.circuits[0], ds.labels[0]
        item = ds[0]                   # CircuitItem(circuit, label, overlap, state, qasm)
    """

    circuits: list
    labels: torch.Tensor
    overlaps: torch.Tensor
    qasm_texts: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    _state_loader: Callable[[Sequence[int]], torch.Tensor] | None = field(default=None, repr=False)
    _states: torch.Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.circuits)

    @property
    def n_qubits(self) -> int:
        return self.circuits[0].n_qubits if self.circuits else 0

    @property
    def states(self) -> torch.Tensor:
        if self._states is None:
            if self._state_loader is None:
                raise DataError("this data set has no state/ files, so its target states are unknown")
            self._states = self._state_loader(range(len(self)))
        return self._states

    def state(self, i: int) -> torch.Tensor:
        """Target state of item ``i`` (reads one file when ``states`` was not loaded yet)."""
        if self._states is not None:
            return self._states[i]
        if self._state_loader is None:
            raise DataError("this data set has no state/ files, so its target states are unknown")
        return self._state_loader([i])[0]

    def circuit_states(self, *, dtype: torch.dtype = torch.complex128, device: Any = None) -> torch.Tensor:
        """The states the circuits prepare from ``|0...0>``, ``(N, 2**n)``: what a quantum kernel on
        this data set compares (MNISQ's kernels use these, not the exact ``states`` they approximate).
        ``|<state_i|circuit_states_i>|`` is the overlap of ``overlaps`` up to the circuit's global phase."""
        return circuit_states(self.circuits, dtype=dtype, device=device)

    def __getitem__(self, i: int) -> CircuitItem:
        if not isinstance(i, int | np.integer):
            raise TypeError(f"CircuitDataset indices are integers, got {type(i).__name__}")
        n = len(self)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"index {i} out of range for a data set of {n} items")
        state = self.state(j) if self._state_loader is not None or self._states is not None else None
        return CircuitItem(self.circuits[j], int(self.labels[j]), float(self.overlaps[j]), state, self.qasm_texts[j])


def _open_reader(path: Path, form: str, max_file_bytes: int, max_total_bytes: int) -> tuple[_Reader, dict[str, Any]]:
    if form not in ("dense", "base"):
        raise DataConfigError(f"form must be 'dense' or 'base', got {form!r}")
    manifest = read_manifest(path) if path.is_dir() else None
    if manifest is not None and manifest.get("format") != FORMAT:
        manifest = None
    reader = _Reader(path, max_file_bytes, max_total_bytes)
    if manifest is not None:
        reader.open("qasm" if form == "dense" else "qasm_base")
        cfg = manifest.get("config", {})
        meta = {"format": FORMAT, "level": cfg.get("level"), "source": cfg.get("source"), "split": cfg.get("split"),
                "form": form, "manifest": manifest}
    else:
        if form == "base" and path.is_dir() and (path / "qasm_base").is_dir():
            reader.open("qasm_base")
        else:
            reader.open("qasm")
        name = reader.prefix or path.stem
        m = LEVEL_RE.search(name)
        meta = {"format": "mnisq-zip" if reader.kind == "zip" else "mnisq-folder", "name": name,
                "level": m.group(1).lower() if m else None, "manifest": None}
    return reader, meta


def _planned(manifest: dict[str, Any], path: Path) -> tuple[int, int, int]:
    """Item count, shard count and shard size our manifest records (a clean error when it is damaged)."""
    try:
        planned = int(manifest["count"]), int(manifest["n_shards"]), int(manifest["config"]["shard_size"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path / 'manifest.json'} lacks count, n_shards or config.shard_size (a damaged manifest); "
                        "rerun the build command into a new folder") from None
    if min(planned) < 0 or planned[2] == 0:
        raise DataError(f"{path / 'manifest.json'} records impossible sizes {planned}; rerun the build into a new folder")
    return planned


def _item_indices(reader: _Reader, path: Path, meta: dict[str, Any], limit: int | None, need: Sequence[str]) -> list[int]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise DataConfigError(f"limit must be a positive integer or None, got {limit!r}")
    idx = sorted(reader.index["qasm"])  # numeric sort: 2 before 10
    manifest = meta.get("manifest")
    if manifest is not None:
        count, n_shards, shard_size = _planned(manifest, path)
        if not manifest.get("complete"):
            done = set()
            for k in range(n_shards):
                if marker_path(path, k).is_file():
                    done.update(range(k * shard_size, min(count, (k + 1) * shard_size)))
            idx = [i for i in idx if i in done]
        elif idx != list(range(count)):
            missing = sorted(set(range(count)) - set(idx))[:5]
            raise DataError(f"{path}: qasm files {missing}... are missing; rerun the build command to repair the folder")
    if idx != list(range(len(idx))) and manifest is None:
        missing = sorted(set(range(idx[-1] + 1)) - set(idx))[:5] if idx else []
        raise DataError(f"{path}: qasm/ items are not numbered 0..N-1 (missing {missing}...)")
    if not idx:
        unfinished = manifest is not None and not manifest.get("complete")
        raise DataError(f"{path} holds no items" + ("; none of its shards is finished yet: rerun the build command"
                                                    if unfinished else "; expected files qasm/0, label/0, ..."))
    if limit is not None:
        idx = idx[:limit]
    for kind in need:
        have = reader.index.get(kind)
        if have is None:
            raise DataError(f"{path} has no {kind}/ files; expected qasm/, label/, fidelity/ (and state/)")
        lack = [i for i in idx if i not in have]
        if lack:
            raise DataError(f"{path}: items {lack[:5]} have a qasm file but no {kind}/ file")
    return idx


def load_dataset(
    path: str | os.PathLike,
    *,
    limit: int | None = None,
    form: str = "dense",
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ops: int = MAX_FILE_OPS,
    max_total_ops: int = MAX_TOTAL_OPS,
) -> CircuitDataset:
    """Read a circuit data set: our folders, original MNISQ zips, or extracted MNISQ folders.

    * Our folders: ``form="dense"`` reads ``qasm/``, ``form="base"`` ``qasm_base/``. A build that
      has not finished yields the items of its completed shards.
    * MNISQ zips (``<name>/qasm/<i>``, ``label/``, ``fidelity/``, ``state/``) are read in place
      with :mod:`zipfile` (never extracted), items in numeric order; Dense and base dialects are
      told apart by the text (``base_*`` zips hold the portable form in ``qasm/``).
    * Size limits: no file above ``max_file_bytes`` and no more than ``max_total_bytes`` in
      total are read (zip bombs); no circuit expands to more than ``max_ops`` operations and
      all of them together to no more than ``max_total_ops`` (nested gate definitions grow
      exponentially: the reader refuses before expanding); ``limit`` reads only the first items.
    * A zip or folder holding two files for one item (``qasm/7`` twice, or ``7`` and ``07``)
      is refused, naming the duplicate.

    ``ds.overlaps`` are the numbers of the ``fidelity/`` files: the overlap Re<target|circuit>
    (MNISQ's "fidelity", not its square). Target states are read lazily (``ds.states``).
    Raises :class:`DataError` for missing, bad or duplicated files, naming the file.

    Example::

        ds = load_dataset("test_mnist_784_f90.zip", limit=100)
        ds.circuits[0].n_qubits, ds.labels[:5], ds.overlaps.mean()
    """
    from qcstar.circuits import qasm

    for name, value in (("max_ops", max_ops), ("max_total_ops", max_total_ops)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise DataConfigError(f"{name} must be a positive integer, got {value!r}")
    path = as_path(path, "the data set (a folder or an MNISQ zip)")
    reader, meta = _open_reader(path, form, max_file_bytes, max_total_bytes)
    try:
        idx = _item_indices(reader, path, meta, limit, ("label", "fidelity"))
        circuits, texts, labels, overlaps = [], [], [], []
        ops_left = max_total_ops  # the data set's budget: each file may use what the others left
        for i in idx:
            text = reader.read("qasm", i)
            try:
                circuit = qasm.loads(text, max_ops=min(max_ops, ops_left))
            except QasmError as exc:
                hint = ""
                if "max_ops" in str(exc):
                    hint = (f" (limits: max_ops={max_ops} per circuit, max_total_ops={max_total_ops} per data set, "
                            f"{max_total_ops - ops_left} used before this file; raise them if the file is genuine)")
                raise DataError(f"{reader.where('qasm', i)}: {exc}{hint}") from None
            ops_left -= len(circuit.ops)
            circuits.append(circuit)
            texts.append(text)
            labels.append(parse_label(reader.read("label", i), reader.where("label", i)))
            overlaps.append(parse_overlap(reader.read("fidelity", i), reader.where("fidelity", i)))
    finally:
        reader.close()
    meta = dict(meta, path=str(path), count=len(idx), indices=idx)
    loader = None
    if "state" in reader.index and all(i in reader.index["state"] for i in idx):
        dim = 2 ** circuits[0].n_qubits if circuits else None

        def loader(which: Sequence[int], _idx=idx, _dim=dim) -> torch.Tensor:
            r, _ = _open_reader(path, form, max_file_bytes, max_total_bytes)
            try:
                rows = [parse_state(r.read("state", _idx[j]), r.where("state", _idx[j]), _dim) for j in which]
            finally:
                r.close()
            if not rows:
                return torch.zeros(0, _dim or 1, dtype=torch.complex128)
            return torch.stack(rows)

    return CircuitDataset(
        circuits=circuits,
        labels=torch.tensor(labels, dtype=torch.int64),
        overlaps=torch.tensor(overlaps, dtype=torch.float64),
        qasm_texts=texts,
        meta=meta,
        _state_loader=loader,
    )


def dataset_info(path: str | os.PathLike, *, max_file_bytes: int = MAX_FILE_BYTES,
                 max_total_bytes: int = MAX_TOTAL_BYTES) -> dict[str, Any]:
    """Counts, level, label histogram and overlap distribution of a data set (no circuit parsing).

    Returns a dict with ``path``, ``format``, ``count``, ``level``, ``source``, ``split``,
    ``n_qubits``, ``complete`` and ``shards`` (our builds), ``labels`` ({label: count}),
    ``overlap`` ({mean, std, min, p5, p50, p95, max}) and ``blocks`` (DenseMatrix lines per
    circuit: {mean, min, max}, when Dense).

    Example::

        info = dataset_info("digits-f80")
        info["count"], info["overlap"]["p5"]
    """
    path = as_path(path, "the data set (a folder or an MNISQ zip)")
    reader, meta = _open_reader(path, "dense", max_file_bytes, max_total_bytes)
    try:
        idx = _item_indices(reader, path, meta, None, ("label", "fidelity"))
        labels = [parse_label(reader.read("label", i), reader.where("label", i)) for i in idx]
        ov = np.array([parse_overlap(reader.read("fidelity", i), reader.where("fidelity", i)) for i in idx], dtype=np.float64)
        blocks, n_qubits = [], None
        for i in idx:
            text = reader.read("qasm", i)
            blocks.append(text.count("DenseMatrix"))
            if n_qubits is None:
                m = re.search(r"qreg\s+\w+\s*\[\s*(\d+)\s*\]", text)
                n_qubits = int(m.group(1)) if m else None
    finally:
        reader.close()
    manifest = meta.get("manifest")
    info: dict[str, Any] = {
        "path": str(path),
        "format": meta["format"],
        "count": len(idx),
        "level": meta.get("level"),
        "source": meta.get("source"),
        "split": meta.get("split"),
        "n_qubits": n_qubits,
    }
    if manifest is not None:
        done = sum(marker_path(path, k).is_file() for k in range(int(manifest.get("n_shards", 0))))
        info.update(complete=bool(manifest.get("complete")), shards={"done": done, "total": manifest.get("n_shards")},
                    planned=manifest.get("count"), encoder=manifest.get("config", {}).get("encoder"))
    hist: dict[int, int] = {}
    for lab in labels:
        hist[lab] = hist.get(lab, 0) + 1
    info["labels"] = dict(sorted(hist.items()))
    if ov.size:
        p5, p50, p95 = np.percentile(ov, [5, 50, 95])
        info["overlap"] = {"mean": float(ov.mean()), "std": float(ov.std()), "min": float(ov.min()),
                           "p5": float(p5), "p50": float(p50), "p95": float(p95), "max": float(ov.max())}
    else:
        info["overlap"] = None
    if any(blocks):
        info["blocks"] = {"mean": float(np.mean(blocks)), "min": int(min(blocks)), "max": int(max(blocks))}
    return info


def format_info(info: dict[str, Any]) -> str:
    """``dataset_info`` as a readable table (what ``qcstar dataset info`` prints)."""
    rows = [("path", info["path"]), ("format", info["format"])]
    for key in ("source", "split", "level", "n_qubits"):
        if info.get(key) is not None:
            rows.append((key, str(info[key])))
    count = str(info["count"])
    if info.get("planned") is not None and info["planned"] != info["count"]:
        count += f" of {info['planned']} planned"
    rows.append(("items", count))
    if "shards" in info:
        rows.append(("shards", f"{info['shards']['done']}/{info['shards']['total']} done"
                     + ("" if info.get("complete") else " (incomplete: rerun the build command to finish)")))
    if info.get("blocks"):
        b = info["blocks"]
        rows.append(("blocks/circuit", f"mean {b['mean']:.1f}, min {b['min']}, max {b['max']}"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    ov = info.get("overlap")
    if ov:
        lines.append("")
        lines.append("overlap Re<t|C|s> (MNISQ 'fidelity')")
        keys = ("mean", "std", "min", "p5", "p50", "p95", "max")
        lines.append("  " + "  ".join(f"{k:>8}" for k in keys))
        lines.append("  " + "  ".join(f"{ov[k]:>8.4f}" for k in keys))
    if info.get("labels"):
        lines.append("")
        lines.append("label  count")
        for lab, c in info["labels"].items():
            lines.append(f"{lab:>5}  {c:>5}")
    return "\n".join(lines)
