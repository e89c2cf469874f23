"""Build circuit data sets in the MNISQ layout: sharded, resumable from any kill, optionally on Ray.

Encoding: the images are read with :func:`qcstar.data.images.load_images`, preprocessed as MNISQ
does (arXiv:2306.16627: /255 -- irrelevant after normalising --, row-major, zero-padded at the
end to ``2**n``, L2 normalised; pixel k is basis state k) at their NATIVE size, so
``n = ceil(log2(H*W))``: 10 qubits for the 28x28 MNIST family, 6 qubits for the 8x8 sklearn
digits (no upsampling; an upsampled digit would only make the test data look like MNIST while
costing 16x the simulation). The encoder is :class:`qcstar.encoders.aqce.AQCEEncoder` at the
requested level unless one is passed. The files are described in :mod:`qcstar.data.layout`.

Sharding and resuming: items ``[k*S, (k+1)*S)`` form shard ``k``. The manifest is written
before anything else, so every folder we start is recognisably ours. A shard's files are written
in a private temporary folder ``DIR/.tmp/``, moved into place file by file with ``os.replace``
(atomic), and only then is ``shards/<k>.done`` written (atomically) with the SHA-256 of every
file. A rerun of the same command removes the temporaries a kill left behind, skips shards whose
marker exists AND whose files still match it, and re-encodes every other shard; encoding is
deterministic, so a resumed build is byte-identical to a clean one, whichever write the kill
interrupted. A rerun with other options into the same folder raises :class:`DataError`. Files
are not fsync'ed one by one; the checksums verified on every resume catch what a crash could
have left behind.

Manifest: everything in it is deterministic except the one ``created`` entry (time, host),
which is kept from the first run when a build resumes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from qcstar.circuits import files as _files
from qcstar.circuits.digest import canonical_json, content_digest, file_sha256
from qcstar.circuits.errors import DataError, require

from .catalogue import DataConfigError, as_path, canonical_source, check_level, check_split
from .layout import (
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    LAYOUT,
    label_text,
    marker_path,
    overlap_text,
    read_manifest,
    shard_files,
    state_text,
)

__all__ = ["build_dataset"]


# ======================================================================================
# the one seam through which the build changes the output folder
# ======================================================================================

class _FolderWrites:
    """Every change a build makes under its output folder, one method per kind of change.

    Keeping them in one place makes the commit points explicit: the kill-at-every-write test
    replaces this object and stops the build at each of them in turn.
    """

    def mkdir(self, path: Path, *, parents: bool = False) -> None:
        path.mkdir(parents=parents, exist_ok=True)

    def mkdtemp(self, prefix: str, parent: Path) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))

    def write(self, path: Path, data: bytes) -> None:
        """A private temporary file (the caller publishes it with :meth:`replace`)."""
        path.write_bytes(data)

    def write_atomic(self, path: Path, data: bytes) -> None:
        _files.write_atomic(path, data)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def unlink(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def rmtree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


_writes = _FolderWrites()


def _json_file(obj: Any) -> bytes:
    """A JSON file as people read it: indented, sorted keys, final newline."""
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
    try:
        fh = open(folder / ".lock", "a+b")
    except OSError as exc:
        raise DataConfigError(
            f"--out {folder}: cannot write into the folder ({exc.strerror or exc}); choose a folder you can write"
        ) from None
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

    For AQCE that is :meth:`~qcstar.encoders.aqce.AQCEEncoder.config` (schedule, cap, target,
    dtype); other encoders record their class, size and ``config()`` (or repr).
    """
    from qcstar.encoders.aqce import AQCEEncoder

    if isinstance(encoder, AQCEEncoder):
        return encoder.config()
    cls = type(encoder)
    cfg = {"class": f"{cls.__module__}.{cls.__qualname__}", "n_qubits": int(encoder.n_qubits)}
    extra = getattr(encoder, "config", None)
    text = repr(extra() if callable(extra) else encoder)
    # a default object repr holds a memory address, which would make every rerun a "mismatch"
    cfg["repr"] = None if re.search(r" at 0x[0-9a-f]+", text) else text
    return cfg


def _encode_shard(encoder: Any, images: torch.Tensor, labels: torch.Tensor, start: int) -> dict[str, bytes]:
    """Encode one shard; returns ``{relative path: file bytes}`` for every item and kind.

    Pure and deterministic (the same inputs give the same bytes), so it can run anywhere.
    """
    from qcstar.circuits import qasm

    res = encoder.encode(images)
    circuits = encoder.circuits(images)  # AQCE: served from the encode() cache
    overlaps = res.overlap.detach().cpu().to(torch.float64)
    targets = res.targets.detach().cpu()
    targets = targets.to(torch.complex128 if targets.is_complex() else torch.float64)
    files: dict[str, bytes] = {}
    for b, circuit in enumerate(circuits):
        i = start + b
        # the Dense dialect explicitly: it is MNISQ's format, whatever dumps' default is
        files[f"qasm/{i}"] = qasm.dumps(circuit, version=2, dense="dense", precision=17).encode()
        files[f"qasm_base/{i}"] = qasm.dumps(circuit, version=2, dense="decompose", precision=17).encode()
        files[f"label/{i}"] = label_text(labels[b]).encode()
        files[f"fidelity/{i}"] = overlap_text(overlaps[b]).encode()
        files[f"state/{i}"] = state_text(targets[b]).encode()
    return files


def _encode_shard_task(encoder: Any, images: torch.Tensor, labels: torch.Tensor, start: int, k: int):
    """Ray task body: the shard's files, tagged with the shard number."""
    return k, _encode_shard(encoder, images, labels, start)


# ======================================================================================
# build
# ======================================================================================

@dataclass
class _BuildPlan:
    """What one build writes: the folder, its configuration and how the items fall into shards."""

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
        return content_digest(canonical_json({"config": self.config, "source_files": self.source_files}))


def _marker(plan: _BuildPlan, k: int, hashes: dict[str, str]) -> dict[str, Any]:
    start, stop = plan.shard_range(k)
    digest = content_digest("".join(f"{rel} {h}\n" for rel, h in hashes.items()))
    return {"shard": k, "start": start, "stop": stop, "config_sha256": plan.config_sha256, "sha256": digest,
            "files": hashes}


def _valid_marker(plan: _BuildPlan, k: int) -> dict[str, Any] | None:
    """The shard's marker if it exists, belongs to this build and every file still matches it."""
    path = marker_path(plan.out, k)
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    start, stop = plan.shard_range(k)
    if (not isinstance(marker, dict) or marker.get("config_sha256") != plan.config_sha256
            or marker.get("start") != start or marker.get("stop") != stop
            or not isinstance(marker.get("files"), dict) or sorted(marker["files"]) != sorted(shard_files(start, stop))):
        return None
    for rel, h in marker["files"].items():
        try:
            if file_sha256(plan.out / rel) != h:
                return None
        except OSError:
            return None
    return marker


def _commit_shard(plan: _BuildPlan, k: int, files: dict[str, bytes]) -> dict[str, Any]:
    """Write a shard: temp folder -> ``os.replace`` each file into place -> marker (atomic)."""
    start, stop = plan.shard_range(k)
    expected = shard_files(start, stop)
    if sorted(files) != sorted(expected):
        raise DataError(f"internal error: shard {k} returned {len(files)} files, expected {len(expected)}")
    tmp_root = plan.out / ".tmp"
    _writes.mkdir(tmp_root)
    tmp = _writes.mkdtemp(f"shard-{k}-", tmp_root)
    try:
        for kind in KINDS:
            _writes.mkdir(tmp / kind)
        for rel in expected:
            _writes.write(tmp / rel, files[rel])
        hashes = {rel: file_sha256(tmp / rel) for rel in expected}  # what is on disk, not what we meant
        # the marker goes last: until it exists, a resume re-encodes this shard whatever is in place
        _writes.unlink(marker_path(plan.out, k))
        for rel in expected:
            _writes.replace(tmp / rel, plan.out / rel)
        marker = _marker(plan, k, hashes)
        _writes.write_atomic(marker_path(plan.out, k), _json_file(marker))
        return marker
    finally:
        _writes.rmtree(tmp)


def _check_inputs(source: str, split: str, level: str, limit: int | None, shard_size: int) -> str:
    key = canonical_source(source)
    check_split(split)
    check_level(level)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise DataConfigError(f"limit must be a positive integer or None (all images), got {limit!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise DataConfigError(f"shard_size must be a positive integer, got {shard_size!r}")
    return key


def _manifest(plan: _BuildPlan, *, complete: bool, created: dict[str, Any], versions: dict[str, str],
              content: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layout": dict(LAYOUT),
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


def _is_temporary(name: str) -> bool:
    """A temporary file of an atomic write (``.<name>.<random>.tmp``): never trusted, removed on resume."""
    return name.startswith(".") and name.endswith(".tmp")


def _ours_unfinished(out: Path) -> bool:
    """Whether a folder without manifest holds only what a killed build of ours leaves before its
    first manifest: the lock, temporaries, and empty item folders (older versions made those first)."""
    for p in out.iterdir():
        if p.name in (".lock", ".tmp") or (_is_temporary(p.name) and p.is_file()):
            continue
        if p.name in KINDS + ("shards",) and p.is_dir() and not any(p.iterdir()):
            continue
        return False
    return True


def _remove_temporaries(out: Path) -> None:
    """What a killed build can leave: the shard staging folder and atomic-write temporaries."""
    _writes.rmtree(out / ".tmp")
    for folder in (out, out / "shards"):
        if folder.is_dir():
            for p in folder.iterdir():
                if _is_temporary(p.name) and p.is_file():
                    _writes.unlink(p)


def _prepare_folder(plan: _BuildPlan) -> dict[str, Any]:
    """Check the output folder is new, ours and unfinished, or ours and the same build; returns
    the ``created`` entry to keep."""
    out = plan.out
    old = read_manifest(out)
    if old is not None:
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
    if not _ours_unfinished(out):
        leftovers = sorted(p.name for p in out.iterdir() if p.name not in (".lock", ".tmp"))
        raise DataError(
            f"--out {out} is not empty ({', '.join(leftovers[:5])}, ...) and has no manifest.json; "
            "choose an empty or new folder"
        )
    return {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}


def _make_out_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DataConfigError(f"--out {out} is a file, not a folder; choose a folder path (it is created if missing)")
    try:
        _writes.mkdir(out, parents=True)
    except OSError as exc:
        raise DataConfigError(
            f"--out {out}: the folder cannot be created ({exc.strerror or exc}); choose a folder you can write "
            "(out=... / --out DIR)"
        ) from None


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

    Rerunning the same call resumes, from whatever point a kill interrupted (done shards are
    verified and skipped); other options into the same folder raise :class:`DataError`; wrong
    option values raise :class:`~qcstar.data.catalogue.DataConfigError`. Returns the folder.

    Example::

        build_dataset(source="digits", split="train", level="f80", out="digits-f80", limit=20, shard_size=10)
    """
    key = _check_inputs(source, split, level, limit, shard_size)
    out = as_path(out, "out (--out)")
    from . import catalogue, images as _images

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
            raise DataConfigError(f"the encoder has level {enc_level!r} but level={level!r} was asked for; make them agree")
        if int(encoder.n_qubits) < n_qubits:
            raise DataConfigError(f"the encoder has {encoder.n_qubits} qubits; {key} images ({pixels} pixels) need {n_qubits}")

    if key == "digits":
        import sklearn

        source_files = {"sklearn.datasets.load_digits": f"scikit-learn {sklearn.__version__}"}
    else:
        names = [f for f in catalogue.FILES[key] if f.startswith("train-" if split == "train" else "t10k-")]
        source_files = {f"{key}/{f}": catalogue.FILES[key][f].sha256 for f in sorted(names)}
    # the images actually encoded, so that a changed data file can never mix into a resume
    source_files["images_sha256"] = content_digest(images, labels)

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
    plan = _BuildPlan(out, config, source_files, count, shard_size)
    _make_out_folder(plan.out)
    with _lock(plan.out):
        created = _prepare_folder(plan)
        versions = _versions()
        _remove_temporaries(plan.out)  # a killed build's temporaries: never trusted
        manifest_path = plan.out / "manifest.json"
        if not manifest_path.is_file():
            # the manifest first: from here on the folder is recognisably ours, whatever is killed
            _writes.write_atomic(manifest_path, _json_file(_manifest(plan, complete=False, created=created,
                                                                     versions=versions, content=None)))
        for kind in KINDS + ("shards",):
            _writes.mkdir(plan.out / kind)
        markers: dict[int, dict[str, Any]] = {}
        todo = []
        for k in range(plan.n_shards):
            m = _valid_marker(plan, k)
            if m is None:
                if marker_path(plan.out, k).exists():
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
        content = content_digest("".join(markers[k]["sha256"] + "\n" for k in range(plan.n_shards)))
        _writes.write_atomic(manifest_path, _json_file(_manifest(plan, complete=True, created=created,
                                                                 versions=versions, content=content)))
        _writes.rmtree(plan.out / ".tmp")
    return plan.out


def _progress(enabled: bool, total: int, done: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=f"dataset {desc}", unit="shard")


def _run_ray(plan: _BuildPlan, encoder: Any, images: torch.Tensor, labels: torch.Tensor, todo: list[int],
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
