"""Circuit data sets in the MNISQ layout: build (sharded, resumable, optionally on Ray) and read.

A data set is one folder per build, one tiny text file per item and kind (PAPERS.md §B2.2)::

    DIR/
      manifest.json        what was built, from what, with which versions (see below)
      qasm/<i>             circuit i in MNISQ's Dense dialect: x gates + DenseMatrix(2,0,...) lines
      qasm_base/<i>        the same circuit in portable OpenQASM 2 (u3/cx, KAK per block), with the
                           exact global phase in a trailing ``// global_phase:`` comment
      label/<i>            the class, a decimal integer
      fidelity/<i>         the overlap Re<t|C|s> (MNISQ's "fidelity", not its square), repr precision
      state/<i>            2**n lines "re im": the exact normalised target amplitudes
      shards/<k>.done      completion marker of shard k (JSON: item range and SHA-256 of its files)

``i`` runs over 0..N-1 without extension or padding, as in MNISQ. MNISQ ships the portable form
as separate ``base_*`` zips whose ``qasm/`` replaces the Dense one; we keep both forms of the same
circuits side by side, the portable one in ``qasm_base/`` (our layout, not MNISQ's).

Encoding: the images are read with :func:`qcstar.data.images.load_images`, preprocessed as MNISQ
does (÷255 — irrelevant after normalising —, row-major, zero-padded at the end to ``2**n``, L2
normalised; pixel k is basis state k) at their NATIVE size, so ``n = ceil(log2(H*W))``: 10 qubits
for the 28x28 MNIST family, 6 qubits for the 8x8 sklearn digits (no upsampling; an upsampled
digit would only make the test data look like MNIST while costing 16x the simulation). The
encoder is :class:`encoders.aqce.AQCEEncoder` at the requested level unless one is passed.

Sharding and resuming: items ``[k*S, (k+1)*S)`` form shard ``k``. A shard's files are written in
a private temporary folder ``DIR/.tmp/``, moved into place file by file with ``os.replace``
(atomic), and only then is ``shards/<k>.done`` written (atomically) with the SHA-256 of every
file. A rerun of the same command skips shards whose marker exists AND whose files still match
it, and re-encodes every other shard; encoding is deterministic, so a resumed build is
byte-identical to a clean one. A rerun with other options into the same folder raises
:class:`DataError`. Files are not fsync'ed one by one; the checksums verified on every resume
catch what a crash could have left behind.

Manifest: everything in it is deterministic except the one ``created`` entry (time, host),
which is kept from the first run when a build resumes.

Example::

    from qcstar.data.circuitsets import build_dataset, load_dataset, dataset_info
    out = build_dataset(source="mnist", split="test", level="f90", out="mnisq-mnist-f90", limit=1000)
    ds = load_dataset(out)                  # CircuitDataset: circuits, labels, overlaps, states
    dataset_info(out)["overlap"]["mean"]
    ds = load_dataset("test_mnist_784_f90.zip", limit=100)   # an original MNISQ zip
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from qcstar.circuits.files import write_atomic
from qcstar.circuits.errors import DataError, QasmError, require

__all__ = [
    "CircuitDataset",
    "CircuitItem",
    "FORMAT",
    "KINDS",
    "LEVELS",
    "build_dataset",
    "dataset_info",
    "load_dataset",
]

#: Identifies our manifest; bump FORMAT_VERSION when the layout changes incompatibly.
FORMAT = "qcstar.circuitset"
FORMAT_VERSION = 1

#: The per-item folders we write, in the order their files are listed in shard markers.
KINDS = ("qasm", "qasm_base", "label", "fidelity", "state")

#: MNISQ's levels (budget-defined; see encoders.aqce.LEVELS).
LEVELS = ("f80", "f90", "f95")

#: Default limits when reading (zip bombs, accidents): per file and in total, uncompressed.
MAX_FILE_BYTES = 8 << 20  # an f95 Dense file at full precision is ~80 kB; a 10-qubit state ~45 kB
MAX_TOTAL_BYTES = 16 << 30
MAX_ITEMS = 10_000_000

_INDEX_RE = re.compile(r"^\d+$")
_LEVEL_RE = re.compile(r"(?<![0-9a-z])(f80|f90|f95)(?![0-9a-z])", re.IGNORECASE)


# ======================================================================================
# small helpers
# ======================================================================================

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _versions() -> dict[str, str]:
    import qcstar

    out = {"python": platform.python_version(), "qcstar": getattr(qcstar, "__version__", "unknown"),
           "torch": torch.__version__, "numpy": np.__version__}
    try:
        import qiskit

        out["qiskit"] = qiskit.__version__
    except ImportError:  # pragma: no cover - qiskit is a core dependency
        out["qiskit"] = "not installed"
    return out


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder/.lock`` so that two builds never write one folder.

    ``flock`` is released by the kernel when the process dies, so a killed build leaves no stale
    lock behind. (No locking where ``fcntl`` does not exist.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fh = open(folder / ".lock", "a+b")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataError(
                f"{folder} is being written by another build (lock {folder / '.lock'} is held); "
                "wait for it to finish or use another --out folder"
            ) from None
        yield
    finally:
        fh.close()


# ======================================================================================
# encoding one shard (runs locally or inside a Ray task)
# ======================================================================================

def _encoder_config(encoder: Any) -> dict[str, Any]:
    """What identifies an encoder's output: the settings that change the circuits.

    For AQCE that is the schedule, cap, target and dtype; batch size, device and progress bars
    do not change the result (the encoder is batch-invariant) and are left out.
    """
    from qcstar.encoders.aqce import AQCEEncoder

    if isinstance(encoder, AQCEEncoder):
        return {
            "class": "qcstar.encoders.aqce.AQCEEncoder",
            "level": encoder.level,
            "target_overlap": encoder.target_overlap,
            "n_qubits": encoder.n_qubits,
            "m0": encoder.m0,
            "m_delta": encoder.m_delta,
            "sweeps": encoder.n_sweeps,
            "m_max": encoder.m_max,
            "max_blocks": encoder.cap,
            "dtype": str(encoder.dtype),
        }
    cls = type(encoder)
    cfg = {"class": f"{cls.__module__}.{cls.__qualname__}", "n_qubits": int(encoder.n_qubits)}
    extra = getattr(encoder, "config", None)
    text = repr(extra() if callable(extra) else encoder)
    # a default object repr holds a memory address, which would make every rerun a "mismatch"
    cfg["repr"] = None if re.search(r" at 0x[0-9a-f]+", text) else text
    return cfg


def _fmt_float(x: float) -> str:
    # repr is the shortest text that reads back to the same double: full precision, no noise
    return repr(float(x))


def _encode_shard(encoder: Any, images: torch.Tensor, labels: torch.Tensor, start: int) -> dict[str, bytes]:
    """Encode one shard; returns ``{relative path: file bytes}`` for every item and kind.

    Pure and deterministic (the same inputs give the same bytes), so it can run anywhere.
    """
    from qcstar.circuits import qasm

    res = encoder.encode(images)
    circuits = encoder.circuits(images)  # AQCE: served from the encode() cache
    overlaps = res.overlap.detach().cpu().to(torch.float64)
    targets = res.targets.detach().cpu()
    if targets.is_complex():
        targets = targets.to(torch.complex128)
    else:
        targets = targets.to(torch.float64)
    files: dict[str, bytes] = {}
    for b, circuit in enumerate(circuits):
        i = start + b
        files[f"qasm/{i}"] = qasm.dumps(circuit, version=2, dense="dense", precision=17).encode()
        files[f"qasm_base/{i}"] = qasm.dumps(circuit, version=2, dense="decompose", precision=17).encode()
        files[f"label/{i}"] = f"{int(labels[b])}\n".encode()
        files[f"fidelity/{i}"] = (_fmt_float(overlaps[b]) + "\n").encode()
        t = targets[b]
        re_, im_ = (t.real.tolist(), t.imag.tolist()) if t.is_complex() else (t.tolist(), [0.0] * t.numel())
        files[f"state/{i}"] = "".join(f"{_fmt_float(a)} {_fmt_float(c)}\n" for a, c in zip(re_, im_)).encode()
    return files


def _encode_shard_task(encoder: Any, images: torch.Tensor, labels: torch.Tensor, start: int, k: int):
    """Ray task body: the shard's files, tagged with the shard number."""
    return k, _encode_shard(encoder, images, labels, start)


# ======================================================================================
# build
# ======================================================================================

@dataclass
class _Plan:
    out: Path
    config: dict[str, Any]
    source_files: dict[str, str]
    count: int
    shard_size: int

    @property
    def n_shards(self) -> int:
        return -(-self.count // self.shard_size)

    def shard_range(self, k: int) -> tuple[int, int]:
        return k * self.shard_size, min(self.count, (k + 1) * self.shard_size)

    @property
    def config_sha256(self) -> str:
        return _sha256(_canonical_json({"config": self.config, "source_files": self.source_files}))


def _shard_files(start: int, stop: int) -> list[str]:
    return [f"{kind}/{i}" for i in range(start, stop) for kind in KINDS]


def _marker(plan: _Plan, k: int, files: dict[str, bytes]) -> dict[str, Any]:
    start, stop = plan.shard_range(k)
    hashes = {rel: _sha256(files[rel]) for rel in _shard_files(start, stop)}
    digest = _sha256("".join(f"{rel} {h}\n" for rel, h in hashes.items()).encode())
    return {"shard": k, "start": start, "stop": stop, "config_sha256": plan.config_sha256, "sha256": digest,
            "files": hashes}


def _valid_marker(plan: _Plan, k: int) -> dict[str, Any] | None:
    """The shard's marker if it exists, belongs to this build and every file still matches it."""
    path = plan.out / "shards" / f"{k}.done"
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    start, stop = plan.shard_range(k)
    if (not isinstance(marker, dict) or marker.get("config_sha256") != plan.config_sha256
            or marker.get("start") != start or marker.get("stop") != stop
            or not isinstance(marker.get("files"), dict) or sorted(marker["files"]) != sorted(_shard_files(start, stop))):
        return None
    for rel, h in marker["files"].items():
        try:
            data = (plan.out / rel).read_bytes()
        except OSError:
            return None
        if _sha256(data) != h:
            return None
    return marker


def _commit_shard(plan: _Plan, k: int, files: dict[str, bytes]) -> dict[str, Any]:
    """Write a shard: temp folder -> ``os.replace`` each file into place -> marker (atomic)."""
    start, stop = plan.shard_range(k)
    expected = _shard_files(start, stop)
    if sorted(files) != sorted(expected):
        raise DataError(f"internal error: shard {k} returned {len(files)} files, expected {len(expected)}")
    tmp_root = plan.out / ".tmp"
    tmp_root.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"shard-{k}-", dir=tmp_root))
    try:
        for rel in expected:
            p = tmp / rel
            p.parent.mkdir(exist_ok=True)
            p.write_bytes(files[rel])
        # the marker goes last: until it exists, a resume re-encodes this shard whatever is in place
        with contextlib.suppress(FileNotFoundError):
            (plan.out / "shards" / f"{k}.done").unlink()
        for rel in expected:
            os.replace(tmp / rel, plan.out / rel)
        marker = _marker(plan, k, files)
        write_atomic(plan.out / "shards" / f"{k}.done", _canonical_json(marker))
        return marker
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_inputs(source: str, split: str, level: str, limit: int | None, shard_size: int) -> str:
    from .images import DATASETS

    key = str(source).strip().lower()
    if key not in DATASETS:
        raise DataError(f"unknown source {source!r}; expected one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; expected 'train' or 'test'")
    if level not in LEVELS:
        raise DataError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)} (MNISQ's budgets 27/54/108 blocks)")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise DataError(f"limit must be a positive integer or None (all images), got {limit!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise DataError(f"shard_size must be a positive integer, got {shard_size!r}")
    return key


def _manifest(plan: _Plan, *, complete: bool, created: dict[str, Any], versions: dict[str, str],
              content: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layout": {
            "qasm": "MNISQ Dense dialect (x + DenseMatrix(2,0,...)), numbers at repr precision",
            "qasm_base": "portable OpenQASM 2.0 (x, u3, cx; KAK per block), '// global_phase:' comment",
            "label": "class, decimal integer",
            "fidelity": "overlap Re<target|C|s> (MNISQ's 'fidelity'), repr precision",
            "state": "2**n lines 're im': the exact normalised target amplitudes",
            "shards": "<k>.done: item range and SHA-256 of each file of shard k",
        },
        "config": plan.config,
        "source_files": plan.source_files,
        "count": plan.count,
        "n_shards": plan.n_shards,
        "complete": complete,
        "content_sha256": content,
        "versions": versions,
        "created": created,
    }


def _config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_diff(a, b, prefix + key + ".")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the folder, {b!r} now")
    return out


def _prepare_folder(plan: _Plan) -> dict[str, Any]:
    """Create or re-open the output folder; returns the ``created`` entry to keep."""
    out = plan.out
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file, not a folder; choose a folder path (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
        except ValueError as exc:
            raise DataError(f"{manifest_path} is not valid JSON ({exc}); delete the folder {out} to start over") from None
        if old.get("format") != FORMAT:
            raise DataError(f"{out} holds a manifest.json that is not a qcstar circuit data set; use another --out folder")
        diff = _config_diff({"config": old.get("config", {}), "source_files": old.get("source_files", {})},
                            {"config": plan.config, "source_files": plan.source_files})
        if diff:
            raise DataError(
                f"{out} was built with other options, so this build cannot resume there (config mismatch):\n  "
                + "\n  ".join(diff)
                + f"\nFix: rerun with the folder's options to resume it, or pick a new --out folder, "
                f"or delete {out} to rebuild it with the new options."
            )
        if old.get("versions") != _versions():
            warnings.warn(
                f"{out} was started with package versions {old.get('versions')}, now {_versions()}; "
                "files of both may differ in the last digits", stacklevel=3)
        return old.get("created") or {}
    leftovers = [p.name for p in out.iterdir() if p.name not in (".lock", ".tmp")]
    if leftovers:
        raise DataError(
            f"--out {out} is not empty ({', '.join(sorted(leftovers)[:5])}, ...) and has no manifest.json; "
            "choose an empty or new folder"
        )
    return {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}


def _ray_init(ray: Any) -> None:
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address="auto")  # join the existing cluster named by RAY_ADDRESS
        return
    # a new local instance: its workers must import this package even from a source checkout
    # that is not pip-installed, so put the checkout on their PYTHONPATH
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})


def build_dataset(
    *,
    source: str,
    split: str,
    level: str,
    out: str | os.PathLike,
    limit: int | None = None,
    shard_size: int = 100,
    use_ray: bool = False,
    data_dir: str | os.PathLike | None = None,
    encoder: Any = None,
    progress: bool = True,
) -> Path:
    """Encode images of ``source`` with AQCE at ``level`` and write the MNISQ layout under ``out``.

    ``source``: "mnist" | "fashion-mnist" | "kmnist" | "digits" (the built-in sklearn digits
    have only ``split="train"``); ``limit``: the first ``limit`` images (all when None; more
    than there are is clamped). ``encoder``: defaults to ``AQCEEncoder(level=level,
    n_qubits=ceil(log2(H*W)))``; any object with ``n_qubits``, ``encode(images)`` (result with
    ``overlap`` and ``targets``) and ``circuits(images)`` works. ``use_ray``: one Ray task per
    shard on the running Ray instance, the cluster named by ``RAY_ADDRESS``, or a new local one
    (left running for later calls); the tasks return the files and this process writes them
    (same atomic rules, same bytes). On a remote cluster the workers need qcstar installed.

    Rerunning the same call resumes (done shards are verified and skipped); other options into
    the same folder raise :class:`DataError`. Returns the folder.

    Example::

        build_dataset(source="digits", split="train", level="f80", out="digits-f80", limit=20, shard_size=10)
    """
    key = _check_inputs(source, split, level, limit, shard_size)
    from . import images as _images

    images, labels = _images.load_images(key, split, data_dir=data_dir)
    if images.shape[0] == 0:
        raise DataError(f"{key} {split} holds no images")
    count = images.shape[0] if limit is None else min(int(limit), images.shape[0])
    images, labels = images[:count].contiguous(), labels[:count].contiguous()
    pixels = int(np.prod(images.shape[1:]))
    n_qubits = max(2, math.ceil(math.log2(pixels)))
    if encoder is None:
        from qcstar.encoders.aqce import AQCEEncoder

        encoder = AQCEEncoder(level=level, n_qubits=n_qubits)
    else:
        enc_level = getattr(encoder, "level", level)
        if enc_level is not None and enc_level != level:
            raise DataError(f"the encoder has level {enc_level!r} but level={level!r} was asked for; make them agree")
        if int(encoder.n_qubits) < n_qubits:
            raise DataError(f"the encoder has {encoder.n_qubits} qubits; {key} images ({pixels} pixels) need {n_qubits}")

    if key == "digits":
        import sklearn

        source_files = {"sklearn.datasets.load_digits": f"scikit-learn {sklearn.__version__}"}
    else:
        names = [f for f in _images.FILES[key] if f.startswith("train-" if split == "train" else "t10k-")]
        source_files = {f"{key}/{f}": _images.FILES[key][f].sha256 for f in sorted(names)}
    # the images actually encoded, so that a changed data file can never mix into a resume
    source_files["images_sha256"] = _sha256(images.numpy().tobytes() + labels.numpy().tobytes())

    config = {
        "source": key,
        "split": split,
        "level": level,
        "limit": limit,
        "count": count,
        "shard_size": shard_size,
        "image_shape": list(images.shape[1:]),
        "n_qubits": int(encoder.n_qubits),
        "preprocessing": "MNISQ: /255, row-major, zero-pad at the end to 2**n, L2-normalise; native size",
        "encoder": _encoder_config(encoder),
        "qasm": {"dense": "OPENQASM 2.0 + DenseMatrix, precision 17", "base": "OPENQASM 2.0 u3/cx, precision 17"},
    }
    plan = _Plan(Path(out), config, source_files, count, shard_size)
    if Path(out).exists() and not Path(out).is_dir():
        raise DataError(f"--out {out} is a file, not a folder; choose a folder path (it is created if missing)")
    Path(out).mkdir(parents=True, exist_ok=True)
    with _lock(plan.out):
        created = _prepare_folder(plan)
        versions = _versions()
        shutil.rmtree(plan.out / ".tmp", ignore_errors=True)  # a killed build's temp files: never trusted
        for kind in KINDS + ("shards",):
            (plan.out / kind).mkdir(exist_ok=True)
        manifest_path = plan.out / "manifest.json"
        if not manifest_path.is_file():
            write_atomic(manifest_path, _canonical_json(_manifest(plan, complete=False, created=created,
                                                                   versions=versions, content=None)))
        markers: dict[int, dict[str, Any]] = {}
        todo = []
        for k in range(plan.n_shards):
            m = _valid_marker(plan, k)
            if m is None:
                if (plan.out / "shards" / f"{k}.done").exists():
                    warnings.warn(f"{plan.out}: shard {k}'s files no longer match its done marker; re-encoding it",
                                  stacklevel=2)
                todo.append(k)
            else:
                markers[k] = m
        bar = _progress(progress, plan.n_shards, len(markers), f"{key} {split} {level}")
        try:
            if use_ray and todo:
                _run_ray(plan, encoder, images, labels, todo, markers, bar)
            else:
                for k in todo:
                    a, b = plan.shard_range(k)
                    markers[k] = _commit_shard(plan, k, _encode_shard(encoder, images[a:b], labels[a:b], a))
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        content = _sha256("".join(markers[k]["sha256"] + "\n" for k in range(plan.n_shards)).encode())
        write_atomic(manifest_path, _canonical_json(_manifest(plan, complete=True, created=created,
                                                               versions=versions, content=content)))
        shutil.rmtree(plan.out / ".tmp", ignore_errors=True)
    return plan.out


def _progress(enabled: bool, total: int, done: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=f"dataset {desc}", unit="shard")


def _run_ray(plan: _Plan, encoder: Any, images: torch.Tensor, labels: torch.Tensor, todo: list[int],
             markers: dict[int, dict[str, Any]], bar: Any) -> None:
    ray = require("ray", "ray", "qcstar dataset build --ray")
    _ray_init(ray)
    task = ray.remote(num_cpus=1)(_encode_shard_task)
    enc_ref = ray.put(encoder)
    pending = []
    for k in todo:
        a, b = plan.shard_range(k)
        pending.append(task.remote(enc_ref, images[a:b].clone(), labels[a:b].clone(), a, k))
    try:
        # commit shards as they finish, so that a killed Ray build resumes like a local one
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            k, files = ray.get(ready[0])
            markers[k] = _commit_shard(plan, k, files)
            if bar is not None:
                bar.update(1)
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        raise


# ======================================================================================
# reading: our folders, MNISQ zips, extracted MNISQ folders
# ======================================================================================

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
            if len(parts) < 2 or not _INDEX_RE.match(parts[-1]) or parts[-2] not in ("qasm", "label", "fidelity", "state"):
                continue  # README, __MACOSX/, .DS_Store, ...
            prefix = "/".join(parts[:-2])
            found.setdefault(prefix, {}).setdefault(parts[-2], {})[int(parts[-1])] = info
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
            entries = {}
            with os.scandir(folder) as it:
                for e in it:
                    if _INDEX_RE.match(e.name) and e.is_file():
                        entries[int(e.name)] = Path(e.path)
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


def _parse_float(text: str, where: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise DataError(f"{where}: expected one number, got {text.strip()[:40]!r}") from None


def _parse_state(text: str, where: str, dim: int | None) -> torch.Tensor:
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    try:
        arr = np.array([(float(r[0]), float(r[1]) if len(r) > 1 else 0.0) for r in rows], dtype=np.float64)
    except (ValueError, IndexError):
        raise DataError(f"{where}: expected lines 're im' of numbers") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or (arr.shape[0] & (arr.shape[0] - 1)) or (dim is not None and arr.shape[0] != dim):
        want = f"{dim}" if dim is not None else "a power of two"
        raise DataError(f"{where}: {arr.shape[0] if arr.ndim == 2 else 0} amplitudes, expected {want}")
    return torch.complex(torch.from_numpy(arr[:, 0].copy()), torch.from_numpy(arr[:, 1].copy()))


@dataclass
class CircuitItem:
    """One item: the circuit, its label, its overlap, its target state and its QASM text."""

    circuit: Any
    label: int
    overlap: float
    state: torch.Tensor | None
    qasm: str


@dataclass
class CircuitDataset:
    """Circuits with labels, overlaps and (lazily read) target states.

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
        raise DataError(f"form must be 'dense' or 'base', got {form!r}")
    manifest = None
    if path.is_dir() and (path / "manifest.json").is_file():
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except ValueError as exc:
            raise DataError(f"{path / 'manifest.json'} is not valid JSON: {exc}") from None
        if manifest.get("format") != FORMAT:
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
        m = _LEVEL_RE.search(name)
        meta = {"format": "mnisq-zip" if reader.kind == "zip" else "mnisq-folder", "name": name,
                "level": m.group(1).lower() if m else None, "manifest": None}
    return reader, meta


def _item_indices(reader: _Reader, path: Path, meta: dict[str, Any], limit: int | None, need: Sequence[str]) -> list[int]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise DataError(f"limit must be a positive integer or None, got {limit!r}")
    idx = sorted(reader.index["qasm"])  # numeric sort: 2 before 10
    manifest = meta.get("manifest")
    if manifest is not None:
        count = int(manifest.get("count", len(idx)))
        if not manifest.get("complete"):
            done = set()
            for k in range(int(manifest.get("n_shards", 0))):
                if (path / "shards" / f"{k}.done").is_file():
                    s = int(manifest["config"]["shard_size"])
                    done.update(range(k * s, min(count, (k + 1) * s)))
            idx = [i for i in idx if i in done]
    if manifest is not None and manifest.get("complete") and idx != list(range(int(manifest.get("count", 0)))):
        missing = sorted(set(range(int(manifest["count"]))) - set(idx))[:5]
        raise DataError(f"{path}: qasm files {missing}... are missing; rerun the build command to repair the folder")
    if idx != list(range(len(idx))) and manifest is None:
        missing = sorted(set(range(idx[-1] + 1)) - set(idx))[:5] if idx else []
        raise DataError(f"{path}: qasm/ items are not numbered 0..N-1 (missing {missing}...)")
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
) -> CircuitDataset:
    """Read a circuit data set: our folders, original MNISQ zips, or extracted MNISQ folders.

    * Our folders: ``form="dense"`` reads ``qasm/``, ``form="base"`` ``qasm_base/``. A build that
      has not finished yields the items of its completed shards.
    * MNISQ zips (``<name>/qasm/<i>``, ``label/``, ``fidelity/``, ``state/``) are read in place
      with :mod:`zipfile` (never extracted), items in numeric order; Dense and base dialects are
      told apart by the text (``base_*`` zips hold the portable form in ``qasm/``).
    * Size limits: no file above ``max_file_bytes`` and no more than ``max_total_bytes`` in
      total are read (zip bombs); ``limit`` reads only the first items.

    Target states are read lazily (``ds.states``). Raises :class:`DataError` for missing or bad
    files, naming the file.

    Example::

        ds = load_dataset("test_mnist_784_f90.zip", limit=100)
        ds.circuits[0].n_qubits, ds.labels[:5], ds.overlaps.mean()
    """
    from qcstar.circuits import qasm

    path = Path(path)
    reader, meta = _open_reader(path, form, max_file_bytes, max_total_bytes)
    try:
        idx = _item_indices(reader, path, meta, limit, ("label", "fidelity"))
        circuits, texts, labels, overlaps = [], [], [], []
        for i in idx:
            text = reader.read("qasm", i)
            try:
                circuits.append(qasm.loads(text))
            except QasmError as exc:
                raise DataError(f"{reader.where('qasm', i)}: {exc}") from None
            texts.append(text)
            lab = reader.read("label", i).strip()
            if not re.fullmatch(r"-?\d+", lab):
                raise DataError(f"{reader.where('label', i)}: expected an integer label, got {lab[:20]!r}")
            labels.append(int(lab))
            overlaps.append(_parse_float(reader.read("fidelity", i), reader.where("fidelity", i)))
    finally:
        reader.close()
    meta = dict(meta, path=str(path), count=len(idx), indices=idx)
    loader = None
    if "state" in reader.index and all(i in reader.index["state"] for i in idx):
        dim = 2 ** circuits[0].n_qubits if circuits else None

        def loader(which: Sequence[int], _idx=idx, _dim=dim) -> torch.Tensor:
            r, _ = _open_reader(path, form, max_file_bytes, max_total_bytes)
            try:
                rows = [_parse_state(r.read("state", _idx[j]), r.where("state", _idx[j]), _dim) for j in which]
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
    path = Path(path)
    reader, meta = _open_reader(path, "dense", max_file_bytes, max_total_bytes)
    try:
        idx = _item_indices(reader, path, meta, None, ("label", "fidelity"))
        labels = [int(reader.read("label", i).strip()) for i in idx]
        ov = np.array([_parse_float(reader.read("fidelity", i), reader.where("fidelity", i)) for i in idx], dtype=np.float64)
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
        done = sum((path / "shards" / f"{k}.done").is_file() for k in range(int(manifest.get("n_shards", 0))))
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
