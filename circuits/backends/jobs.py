"""Jobs that survive: chunked runs with a resumable manifest, dry runs and budgets.

:func:`run_chunked` splits circuits into jobs that respect the backend's limits (IBM: 10^7
executions per job; a backend's max circuits per job), and keeps a JSON **manifest**:

* written atomically BEFORE waiting on anything, and again after every submission and every
  finished chunk: backend description, job ids, the chunk -> circuit-index map (and the caller's
  ``keys``), shots, seeds, the transpiler seed, package versions. Never credentials: the backend's
  description holds none, and keys that look like secrets are redacted all the same;
* finished chunks' results are kept beside it (``<manifest>.chunks/chunk-00003.npz``), so a rerun
  with the same manifest collects what is finished (from the files, or from the provider by job id)
  and submits only the missing chunks; a local job that cannot be fetched any more
  (:class:`~.base.JobLostError`) is submitted again and the manifest says so;
* a manifest made for other inputs (circuits, measured wires, keys, shots, seed, chunking or
  backend) is refused with a :class:`~qcstar.circuits.errors.ConfigError`.

``dry_run=True`` returns a :class:`Plan` (circuits, executions, jobs, estimated device time) and
submits and writes nothing; ``budget`` (a :class:`Budget`, or an int of executions) stops with a
:class:`~qcstar.circuits.errors.ResourceError` before submitting anything over it.

Known window: a process killed after the provider accepted a job but before the manifest write
that records its id leaves that one job unrecorded, and a rerun submits that chunk again.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..digest import canonical_json, content_digest
from ..errors import ConfigError, ResourceError
from ..files import write_atomic
from ..ir import Circuit
from .base import Backend, JobLostError, Result, check_seed, check_shots, expand_circuits, normalise_measure

__all__ = ["run_chunked", "plan_chunks", "Plan", "Budget", "circuits_digest", "MANIFEST_FORMAT"]

MANIFEST_FORMAT = "qcstar-job-manifest/1"
_PACKAGES = ("qcstar", "torch", "numpy", "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "amazon-braket-sdk", "pennylane")
_SECRET = re.compile(r"token|secret|password|passwd|credential|api[_-]?key|access[_-]?key", re.I)


@dataclass(frozen=True)
class Budget:
    """The most a run may use: ``executions`` (circuits x shots) and/or ``seconds`` of estimated
    device time (needs a backend with ``estimate_seconds``)."""

    executions: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.executions is not None and (
            isinstance(self.executions, bool) or not isinstance(self.executions, int) or self.executions < 1
        ):
            raise ConfigError(f"Budget.executions must be a positive int, got {self.executions!r}")
        if self.seconds is not None and not (isinstance(self.seconds, (int, float)) and self.seconds > 0):
            raise ConfigError(f"Budget.seconds must be a positive number, got {self.seconds!r}")


@dataclass
class Plan:
    """What a run will do: ``jobs`` chunks of circuit indices (``[start, stop)``), of which
    ``to_submit`` are not finished or submitted yet, their ``executions`` and estimated seconds."""

    backend: str
    circuits: int
    shots: int | None
    chunks: list[tuple[int, int]]
    to_submit: list[int] = field(default_factory=list)
    estimated_seconds: float | None = None

    @property
    def executions(self) -> int:
        return sum(self.chunk_executions(k) for k in range(len(self.chunks)))

    @property
    def executions_to_submit(self) -> int:
        return sum(self.chunk_executions(k) for k in self.to_submit)

    def chunk_executions(self, k: int) -> int:
        start, stop = self.chunks[k]
        return (stop - start) * (self.shots or 1)

    def __str__(self) -> str:
        time = "unknown" if self.estimated_seconds is None else f"{self.estimated_seconds:.1f} s"
        return (
            f"backend {self.backend}: {self.circuits} circuits x {self.shots or 'exact'} shots = {self.executions} "
            f"executions in {len(self.chunks)} job(s); to submit: {len(self.to_submit)} job(s), "
            f"{self.executions_to_submit} executions; estimated device time {time}"
        )


def circuits_digest(circuits: Sequence[Circuit]) -> str:
    """A digest of circuits' content (gates, wires, parameter values, matrices, phases)."""
    return content_digest(
        [
            (c.n_qubits, c.global_phase, [(o.name, o.wires, o.params, o.matrix, o.controls, o.control_values, o.mux)
                                          for o in c.ops])
            for c in circuits
        ]
    )


def plan_chunks(backend: Backend, n_circuits: int, shots: int | None, chunk_size: int | None = None) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` chunks: at most ``chunk_size``, the backend's ``max_circuits``,
    and ``max_executions // shots`` circuits each."""
    limits = [n_circuits]
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        limits.append(chunk_size)
    if backend.max_circuits is not None:
        limits.append(backend.max_circuits)
    if backend.max_executions is not None:
        per_job = backend.max_executions // (shots or 1)
        if per_job < 1:
            raise ConfigError(
                f"{shots} shots per circuit exceed the {backend.max_executions} executions a job of "
                f"'{backend.name}' may hold; lower shots"
            )
        limits.append(per_job)
    size = max(1, min(limits))
    return [(start, min(start + size, n_circuits)) for start in range(0, n_circuits, size)]


def _chunk_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1, dtype=np.uint64)[0]) >> 1


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _redact(value: Any) -> Any:
    """``value`` with every entry whose key looks like a secret replaced by "<redacted>"."""
    if isinstance(value, dict):
        return {k: "<redacted>" if _SECRET.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- chunk results on disk ---------------------------------------------------------------

def _save_result(path: Path, result: Result) -> None:
    header = {
        "backend": result.backend, "n_qubits": result.n_qubits, "measured": [list(w) for w in result.measured],
        "shots": result.shots, "counts": result.counts, "metadata": _redact(result.metadata),
        "has": [name for name in ("states", "distributions", "memory") if getattr(result, name) is not None],
    }
    arrays = {"header": np.frombuffer(canonical_json(header), dtype=np.uint8)}
    for name in header["has"]:
        for i, value in enumerate(getattr(result, name)):
            arrays[f"{name}_{i}"] = value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def _load_result(path: Path) -> Result:
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(data["header"].tobytes())
        size = len(header["n_qubits"])
        parts: dict[str, Any] = {}
        for name in header["has"]:
            values = [data[f"{name}_{i}"] for i in range(size)]
            parts[name] = [torch.from_numpy(v) for v in values] if name == "states" else values
    return Result(
        backend=header["backend"], n_qubits=header["n_qubits"], measured=[tuple(w) for w in header["measured"]],
        shots=header["shots"], counts=header["counts"], metadata=header["metadata"], **parts,
    )


# -- the run -----------------------------------------------------------------------------

class _Manifest:
    """The manifest file and the chunk results beside it (in memory when ``path`` is None)."""

    def __init__(self, path: Path | None, document: dict):
        self.path = path
        self.document = document
        self.results: dict[int, Result] = {}

    @property
    def chunks(self) -> list[dict]:
        return self.document["chunks"]

    def result_path(self, k: int) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".chunks") / f"chunk-{k:05d}.npz"

    def save(self) -> None:
        self.document["updated"] = _now()
        if self.path is not None:
            write_atomic(self.path, json.dumps(self.document, sort_keys=True) + "\n")

    def finish(self, k: int, result: Result) -> None:
        self.results[k] = result
        if self.path is not None:
            _save_result(self.result_path(k), result)
        self.chunks[k]["status"] = "done"
        self.save()

    def result(self, k: int) -> Result | None:
        if k in self.results:
            return self.results[k]
        if self.path is not None and self.chunks[k]["status"] == "done" and self.result_path(k).is_file():
            self.results[k] = _load_result(self.result_path(k))
            return self.results[k]
        return None


def _inputs(backend: Backend, circuits, shots, seed, wires, keys, chunks) -> dict:
    return {
        "backend": backend.name,
        "circuits": len(circuits),
        "circuits_digest": circuits_digest(circuits),
        "measure_digest": content_digest([list(w) for w in wires]),
        "keys_digest": None if keys is None else content_digest(canonical_json(keys)),
        "shots": shots,
        "seed": seed,
        "chunks": [list(c) for c in chunks],
    }


def _open_manifest(path: Path | None, inputs: dict, backend: Backend, keys: list | None) -> _Manifest:
    if path is not None and path.is_file():
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"manifest {path} is not readable JSON ({exc}); move it away to start a new run") from exc
        if document.get("format") != MANIFEST_FORMAT:
            raise ConfigError(f"{path} is not a {MANIFEST_FORMAT} manifest (format {document.get('format')!r})")
        recorded = document.get("inputs", {})
        differ = sorted(k for k in set(recorded) | set(inputs) if recorded.get(k) != inputs.get(k))
        if differ:
            raise ConfigError(
                f"manifest {path} was made for other inputs (differs in: {', '.join(differ)}); "
                "rerun with the same circuits, shots, seed, chunking and backend, or use a new manifest path"
            )
        return _Manifest(path, document)
    chunks = [
        {"index": k, "circuits": [start, stop], "keys": None if keys is None else keys[start:stop],
         "seed": _chunk_seed(inputs["seed"], k), "job_id": None, "status": "pending", "history": []}
        for k, (start, stop) in enumerate(inputs["chunks"])
    ]
    document = {
        "format": MANIFEST_FORMAT, "created": _now(), "inputs": inputs, "backend": _redact(backend.describe()),
        "versions": _versions(), "chunks": chunks,
    }
    return _Manifest(path, document)


def run_chunked(
    backend: Backend,
    circuits: Circuit | Sequence[Circuit],
    *,
    shots: int | None = None,
    seed: int | None = None,
    measure: Sequence[int] | Sequence[Sequence[int]] | None = None,
    manifest: str | Path | None = None,
    chunk_size: int | None = None,
    budget: Budget | int | None = None,
    dry_run: bool = False,
    keys: Sequence[Any] | None = None,
) -> Result | Plan:
    """Run ``circuits`` on ``backend`` in chunks that respect its limits, resumably.

    ``manifest``: a JSON path; rerunning with the same path and inputs collects finished chunks
    and submits only the missing ones. ``keys``: one JSON-able label per circuit (e.g. the kernel
    entry ``[i, j]``) recorded per chunk. ``seed`` None picks a fresh seed and records it (a rerun
    then reuses the recorded one). Returns the concatenated :class:`Result` in circuit order, or
    the :class:`Plan` when ``dry_run``.

    Example::

        result = run_chunked(get_backend("ibm:ibm_torino"), circuits, shots=4096, manifest="run.json")
    """
    if not isinstance(backend, Backend):
        raise ConfigError(f"run_chunked needs a Backend (see get_backend), got {type(backend).__name__}")
    flat = expand_circuits(circuits)
    shots = check_shots(shots, exact_ok=backend.exact, backend=backend.name)
    seed = check_seed(seed)
    wires = normalise_measure(measure, [c.n_qubits for c in flat])
    if keys is not None:
        keys = list(keys)
        if len(keys) != len(flat):
            raise ConfigError(f"keys must hold one label per circuit: {len(keys)} keys for {len(flat)} circuits")
        try:
            canonical_json(keys)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"keys must be JSON values (ints, strings, lists): {exc}") from exc
    if isinstance(budget, int) and not isinstance(budget, bool):
        budget = Budget(executions=budget)
    if budget is not None and not isinstance(budget, Budget):
        raise ConfigError(f"budget is a Budget(executions=..., seconds=...) or an int of executions, got {budget!r}")
    path = None if manifest is None else Path(manifest)
    chunks = plan_chunks(backend, len(flat), shots, chunk_size)
    recorded_seed = _recorded_seed(path)
    run_seed = seed if seed is not None else (recorded_seed if recorded_seed is not None else _fresh_seed())
    inputs = _inputs(backend, flat, shots, run_seed, wires, keys, chunks)
    book = _open_manifest(path, inputs, backend, keys)
    pending = [k for k, c in enumerate(book.chunks) if c["job_id"] is None and book.result(k) is None]
    estimates = [backend.estimate_seconds(stop - start, shots or 1) for start, stop in (chunks[k] for k in pending)]
    seconds = None if any(e is None for e in estimates) else float(sum(estimates))
    plan = Plan(backend=backend.name, circuits=len(flat), shots=shots, chunks=chunks, to_submit=pending,
                estimated_seconds=seconds)
    if dry_run:
        return plan
    _check_budget(plan, budget)
    book.save()  # before waiting on anything
    if backend.supports_submit:
        _run_async(backend, book, flat, shots, wires)
    else:
        for k, chunk in enumerate(book.chunks):
            if book.result(k) is None:
                start, stop = chunk["circuits"]
                chunk["history"].append({"event": "run", "at": _now()})
                book.finish(k, backend.run(flat[start:stop], shots=shots, seed=chunk["seed"], measure=wires[start:stop]))
    results = []
    for k, chunk in enumerate(book.chunks):
        part = book.result(k)
        for meta in part.metadata:
            meta["chunk"] = k
        results.append(part)
    return Result.concatenate(results)


def _recorded_seed(path: Path | None) -> int | None:
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("inputs", {}).get("seed")
    except (OSError, json.JSONDecodeError):
        return None  # _open_manifest reports the unreadable file


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0]) >> 1


def _check_budget(plan: Plan, budget: Budget | None) -> None:
    if budget is None:
        return
    if budget.executions is not None and plan.executions_to_submit > budget.executions:
        raise ResourceError(
            f"the run needs {plan.executions_to_submit} executions in {len(plan.to_submit)} job(s), over the budget "
            f"of {budget.executions}; nothing was submitted. Lower shots or circuits, or raise the budget"
        )
    if budget.seconds is not None:
        if plan.estimated_seconds is None:
            raise ConfigError(
                f"backend '{plan.backend}' gives no device-time estimate, so a budget in seconds cannot be "
                "checked; give Budget(executions=...) instead"
            )
        if plan.estimated_seconds > budget.seconds:
            raise ResourceError(
                f"the run needs about {plan.estimated_seconds:.1f} s of device time, over the budget of "
                f"{budget.seconds} s; nothing was submitted. Lower shots or circuits, or raise the budget"
            )


def _run_async(backend: Backend, book: _Manifest, flat: list[Circuit], shots, wires) -> None:
    def submit(k: int) -> None:
        chunk = book.chunks[k]
        start, stop = chunk["circuits"]
        job_id = backend.submit(flat[start:stop], shots=shots, seed=chunk["seed"], measure=wires[start:stop])
        chunk.update(job_id=job_id, status="submitted")
        chunk["history"].append({"event": "submitted", "job_id": job_id, "at": _now()})
        book.save()  # the id is on disk before we wait on anything

    # submit everything first (a Batch runs them close together), then collect
    for k, chunk in enumerate(book.chunks):
        if chunk["job_id"] is None and book.result(k) is None:
            submit(k)
    for k, chunk in enumerate(book.chunks):
        if book.result(k) is not None:
            continue
        start, stop = chunk["circuits"]
        try:
            result = backend.collect(chunk["job_id"], flat[start:stop], shots=shots, measure=wires[start:stop])
        except JobLostError as exc:
            chunk["history"].append({"event": "lost", "job_id": chunk["job_id"], "reason": str(exc), "at": _now()})
            submit(k)
            result = backend.collect(chunk["job_id"], flat[start:stop], shots=shots, measure=wires[start:stop])
        book.finish(k, result)
