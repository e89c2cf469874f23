"""Kernels estimated from measurement shots on a backend (simulator, noisy simulator, device).

:class:`~qcstar.kernels.FidelityKernel` and :class:`~qcstar.kernels.ProjectedKernel` take
``shots=`` (README, "Kernels with shots"); with ``shots=None`` they stay exact Grams from states.
With shots, ``backend=`` names where circuits run (a :mod:`qcstar.circuits.backends` spec such as
``"torch"`` or ``"aer:fake_torino"``, or a Backend instance) and ``evaluate`` estimates the Gram:

* ``method="compute-uncompute"`` (fidelity): the circuit ``U(y)^dagger U(x)|0>`` per entry,
  ``K = P(0...0)``; a symmetric Gram runs only ``i < j`` (diagonal 1, or measured for the
  depolarising correction). A parametric input (encoder template, Qiskit or PennyLane feature
  map) is ONE template of ``2P`` parameters bound to rows ``[x_i, -x_j]``
  (:func:`qcstar.circuits.adjoint.adjoint`); per-image circuits (AQCE) are composed per pair.
  Binomial standard error ``sqrt(K (1 - K) / shots)``.
* ``method="shadows"`` (fidelity): randomised measurements. Each state is measured in the same
  ``n_bases`` random local Pauli bases (seeded), ``shots`` each: ``N * n_bases`` circuits, O(N)
  instead of O(N^2). The overlap ``tr(rho_a rho_b)`` is estimated by the cross-correlation of
  Elben et al. (arXiv:1812.02624; arXiv:1909.01282) with common random local unitaries:
  ``2^n sum_{s,s'} (-2)^(-D[s,s']) P_a(s) P_b(s')`` averaged over bases, here for the local
  Pauli-basis ensemble of the classical shadows of Huang, Kueng and Preskill (arXiv:2002.08953).
  Per qubit that is ``(1 + 3 z_a z_b) / 2`` for the measured axis, so with the Walsh-Hadamard
  transform ``W_a(k) = sum_s (-1)^(k.s) P_a(s)`` the estimate is
  ``2^-n sum_k 3^|k| W_a(k) W_b(k)``: a GEMM of per-state features. The diagonal (purity) uses the
  unbiased pair-of-distinct-shots form ``(S X - 2^n) / (S - 1)`` (Brydges et al., arXiv:1806.05747).
  Standard errors from the spread over bases.
* projected kernel: 3 circuits per state (every qubit in the X, Y and Z basis), ``<P_q>``
  estimated from the bits; the squared feature distance is bias-corrected by the estimated shot
  variances before ``exp(-gamma d^2)`` (Huang et al., arXiv:2011.01938).

Noise mitigation (``mitigation=``, any of):

* ``"readout"``: readout-error mitigation with mthree (arXiv:2108.12518; extra ``mitigation``):
  per-qubit assignment matrices calibrated on the same backend (two circuits, all-0 and all-1
  preparations), applied to every circuit's counts (quasi-probabilities);
* ``"depolarizing"``: the global depolarising model of Hubregtsen et al. (arXiv:2105.02276, their
  "split channel" mitigation): circuit (x, y) keeps the state with probability
  ``sqrt(p_x p_y)``, ``K_noisy = sqrt(p_x p_y) K + (1 - sqrt(p_x p_y)) / 2^n``, with ``p_x``
  solved from the measured diagonal ``K_noisy(x, x) = p_x + (1 - p_x) / 2^n``; solved for ``K``.
  Costs N (and M) extra diagonal circuits;
* PSD projection of symmetric Grams: ``enforce_psd=True`` of the kernel
  (:func:`qcstar.kernels.enforce_psd`).

Every run is recorded in ``kernel.last_run_`` (:class:`ShotReport`): standard errors, circuits,
executions (circuits x shots), jobs and the measured diagonal.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from qcstar.circuits import Circuit, Op
from qcstar.circuits.adjoint import adjoint
from qcstar.circuits.errors import ConfigError, ShapeError, require
from qcstar.circuits.resources import check_memory
from qcstar.circuits.template import bind_template

Tensor = torch.Tensor

__all__ = ["FIDELITY_METHODS", "MITIGATIONS", "CircuitSource", "Runner", "ShotReport", "ShotSettings", "circuit_source",
           "depolarizing_correction", "pauli_basis_angles", "readout_matrices", "shadow_features",
           "walsh_hadamard"]

FIDELITY_METHODS = ("compute-uncompute", "shadows")
MITIGATIONS = ("readout", "depolarizing")
#: Euler angles (theta, phi, lambda) of the U gate that rotates a Pauli basis onto Z before measurement
PAULI_ROTATIONS = {"Z": (0.0, 0.0, 0.0), "X": (math.pi / 2, 0.0, math.pi), "Y": (math.pi / 2, 0.0, math.pi / 2)}
BASES = ("Z", "X", "Y")


# --------------------------------------------------------------------------------------------------
# settings and report
@dataclass
class ShotSettings:
    """How a kernel estimates with shots (built from the kernel's keyword arguments)."""

    backend: Any
    shots: int
    seed: int | None = None
    n_bases: int = 50
    mitigation: tuple[str, ...] = ()
    measure_diagonal: bool = False
    chunk_size: int = 2048
    manifest: Path | None = None
    budget: Any = None

    @classmethod
    def from_options(cls, *, backend: Any, shots: Any, seed: Any, n_bases: Any = 50, mitigation: Any = (),
                     measure_diagonal: Any = False, chunk_size: Any = 2048, manifest: Any = None,
                     budget: Any = None) -> "ShotSettings":
        from qcstar.circuits.backends import get_backend

        for name, value in (("shots", shots), ("n_bases", n_bases), ("chunk_size", chunk_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ConfigError(f"seed must be a non-negative int or None, got {seed!r}")
        if isinstance(mitigation, str):
            mitigation = (mitigation,)
        mitigation = tuple(mitigation or ())
        unknown = [m for m in mitigation if m not in MITIGATIONS]
        if unknown:
            raise ConfigError(f"mitigation must be a sequence of {MITIGATIONS}, got {unknown}; enforce_psd=True "
                              "projects a Gram onto the PSD cone")
        if backend == "ray":
            raise ConfigError("backend='ray' computes exact Grams from states (shots=None); with shots, pass a "
                              "circuit backend such as 'torch' or 'aer:fake_torino'")
        from qcstar.circuits.backends.jobs import Budget

        if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
            budget = Budget(executions=int(budget))
        if budget is not None and not isinstance(budget, Budget):
            raise ConfigError(f"budget is an int of executions or a Budget(executions=..., seconds=...), got {budget!r}")
        return cls(backend=get_backend(backend), shots=int(shots), seed=None if seed is None else int(seed),
                   n_bases=int(n_bases), mitigation=mitigation, measure_diagonal=bool(measure_diagonal),
                   chunk_size=int(chunk_size), manifest=None if manifest is None else Path(manifest), budget=budget)


@dataclass
class ShotReport:
    """What one ``evaluate`` with shots cost and how precise it is."""

    method: str
    backend: str
    shots: int
    circuits: int = 0
    executions: int = 0
    jobs: int = 0
    calibration_circuits: int = 0
    standard_error: np.ndarray | None = None
    diagonal: dict[str, np.ndarray] = field(default_factory=dict)
    mitigation: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "backend": self.backend, "shots": self.shots, "circuits": self.circuits,
                "executions": self.executions, "jobs": self.jobs, "calibration_circuits": self.calibration_circuits,
                "mitigation": list(self.mitigation)}


# --------------------------------------------------------------------------------------------------
# the circuits of a batch of inputs
class CircuitSource:
    """The circuits of N inputs: one template with values ``(N, P)``, or N explicit circuits."""

    def __init__(self, *, n_qubits: int, template: Circuit | None = None, values: Tensor | None = None,
                 circuits: Sequence[Circuit] | None = None):
        self.n_qubits = int(n_qubits)
        self.template = None if template is None else _without_phase(template)
        self.values = values
        self.circuits = None if circuits is None else list(circuits)
        if self.template is not None and self.template.metadata.get("matrix_slots"):
            raise ConfigError("a template with open matrix slots cannot be run with shots; bind its matrices first")

    def __len__(self) -> int:
        return int(self.values.shape[0]) if self.template is not None else len(self.circuits)

    @property
    def is_template(self) -> bool:
        return self.template is not None


def _without_phase(template: Circuit) -> Circuit:
    """The template with its global phase dropped (no measurement sees it; two phase placeholders cannot be joined)."""
    meta = {k: v for k, v in template.metadata.items() if k != "phase_index"}
    return Circuit(template.n_qubits, list(template.ops), 0.0, meta)


def _shifted(template: Circuit, offset: int) -> list[Op]:
    """The template's ops with every placeholder index moved by ``offset``."""
    out = []
    for op in template.ops:
        if op.params:
            params = tuple((p if isinstance(p, Tensor) else torch.tensor(float(p), dtype=torch.float64)) + offset
                           for p in op.params)
            op = Op(op.name, op.wires, params, None, op.controls, op.control_values, op.mux)
        out.append(op)
    return out


def circuit_source(kernel: Any, x: Any) -> CircuitSource:
    """The circuits of inputs ``x`` for a kernel's input kind (encoder, feature map or states)."""
    from qcstar.circuits.template import templatize

    fm, enc = kernel.feature_map, kernel.encoder
    if fm is not None:
        from .base import _as_real_parameters, _is_qiskit_circuit

        if _is_qiskit_circuit(fm):
            from qcstar.circuits.interop import template_from_qiskit

            qt = template_from_qiskit(fm)
            return CircuitSource(n_qubits=qt.n_qubits, template=qt.template, values=qt.values(_as_real_parameters(x)))
        if isinstance(fm, Circuit):
            return CircuitSource(n_qubits=fm.n_qubits, template=fm, values=_as_real_parameters(x))
        if bool(getattr(fm, "is_parametric", False)) and hasattr(fm, "template_circuit"):
            t = fm.template_circuit()
            return CircuitSource(n_qubits=t.n_qubits, template=t, values=_as_real_parameters(x))
        from qcstar.circuits.interop import from_pennylane

        rows = _as_real_parameters(x)  # a PennyLane function: its broadcast circuit, templatized
        t, v = templatize(from_pennylane(functools.partial(fm, rows)))
        return CircuitSource(n_qubits=t.n_qubits, template=t, values=v if v.dim() == 2 else v.expand(rows.shape[0], -1))
    if enc is None:  # states: exact amplitude-encoding circuits prepare them
        from qcstar.encoders import AmplitudeEncoder

        s = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
        kernel.states(s)  # the same checks (complex, normalised, 2**n) as the exact kernel
        enc = AmplitudeEncoder(sample_shape=(int(s.shape[-1]),))
        x = s
    if bool(getattr(enc, "is_parametric", False)):
        try:
            values = enc.parameters(x)
        except ShapeError:  # e.g. complex amplitudes: no fixed template, per-sample circuits below
            values = None
        if values is not None:
            t = enc.template_for(x) if hasattr(enc, "template_for") else enc.template_circuit()
            return CircuitSource(n_qubits=t.n_qubits, template=t, values=values.detach().to(torch.float64))
    circuits = [c.select(0) if c.batch_size == 1 else c for c in enc.circuits(x)]
    return CircuitSource(n_qubits=circuits[0].n_qubits, circuits=[_without_phase(c) for c in circuits])


# --------------------------------------------------------------------------------------------------
# running circuits in chunks
#: one number per kind of circuit batch of an evaluation: its seed and manifest part derive from it
PARTS = {"pairs": 1, "diagonal-x": 2, "diagonal-y": 3, "shadows-x": 4, "shadows-y": 5, "pauli-x": 6, "pauli-y": 7,
         "readout": 8}
#: results turned into probability vectors at once (bounds the temporary (rows, 2**n) array)
PROBABILITY_ROWS = 4096


def part_path(manifest: str | Path, part: str) -> Path:
    """The manifest of one part of an evaluation: ``run.json`` -> ``run.pairs.json``."""
    base = Path(manifest)
    return base.with_name(f"{base.stem}.{part}{base.suffix or '.json'}")


class Runner:
    """Runs the circuit batches of one evaluation through
    :func:`qcstar.circuits.backends.jobs.run_chunked` (chunks within the backend's limits, one
    resumable manifest per part), counting circuits, executions and jobs in the report.

    ``manifest``: the evaluation's index file (``run.json``; each part keeps ``run.<part>.json``
    beside it). ``dry_run``: build every circuit batch and record its :class:`Plan` in
    ``plans``, submit nothing (the estimates are then zeros).
    """

    def __init__(self, settings: ShotSettings, report: ShotReport, *, manifest: str | Path | None = None,
                 dry_run: bool = False):
        self.settings = settings
        self.report = report
        self.manifest = None if manifest is None else Path(manifest)
        self.dry_run = bool(dry_run)
        self.plans: list[tuple[str, Any]] = []
        self._mitigator: Any = None

    def seed(self, part: str) -> int | None:
        """The part's seed (None: a fresh one, recorded in its manifest, so a rerun reuses it)."""
        if self.settings.seed is None:
            return None
        return int(np.random.SeedSequence([self.settings.seed, PARTS[part]]).generate_state(1, dtype=np.uint64)[0] >> 1)

    def run(self, part: str, circuits: Circuit | list[Circuit], count: int) -> Any:
        """The Result of ``count`` circuits (or None in a dry run), chunked and recorded."""
        from qcstar.circuits.backends.jobs import run_chunked

        s = self.settings
        path = None if self.manifest is None else part_path(self.manifest, part)
        if self.manifest is not None and not self.dry_run:  # a dry run writes nothing
            self._write_index(part, path)
        common = dict(shots=s.shots, seed=self.seed(part), manifest=path, chunk_size=s.chunk_size)
        if self.dry_run:
            self.plans.append((part, run_chunked(s.backend, circuits, dry_run=True, **common)))
            return None
        result = run_chunked(s.backend, circuits, **common)
        self.report.jobs += len({m.get("chunk", 0) for m in result.metadata})
        self.report.circuits += count
        self.report.executions += count * s.shots
        return result

    def _write_index(self, part: str, path: Path) -> None:
        import json

        from qcstar.circuits.files import write_atomic

        index: dict[str, Any] = {}
        if self.manifest.is_file():
            try:
                index = json.loads(self.manifest.read_text())
            except (OSError, ValueError):
                index = {}
        if index.get("format") not in (None, KERNEL_RUN_FORMAT):
            raise ConfigError(f"{self.manifest} is not a {KERNEL_RUN_FORMAT} index; use another --manifest path")
        parts = dict(index.get("parts", {}))
        if parts.get(part) == path.name and index.get("format") == KERNEL_RUN_FORMAT:
            return
        parts[part] = path.name
        index.update({"format": KERNEL_RUN_FORMAT, "method": self.report.method, "shots": self.settings.shots,
                      "seed": self.settings.seed, "mitigation": list(self.settings.mitigation),
                      "backend": self.report.backend, "parts": parts})
        write_atomic(self.manifest, json.dumps(index, indent=1, sort_keys=True) + "\n")

    def probabilities(self, part: str, builder: Callable[[int, int], Any], count: int,
                      reduce: Callable[[np.ndarray, int], Any]) -> None:
        """Run the ``count`` circuits ``builder(0, count)`` and call ``reduce(probabilities (k, 2**n),
        start)`` on consecutive rows (readout-mitigated when asked)."""
        if count == 0:
            return
        result = self.run(part, builder(0, count), count)
        for start in range(0, count, PROBABILITY_ROWS):
            stop = min(start + PROBABILITY_ROWS, count)
            if result is None:  # a dry run
                reduce(np.zeros((stop - start, 2 ** self._n_qubits(builder))), start)
                continue
            reduce(self._probabilities(result, range(start, stop)), start)

    @staticmethod
    def _n_qubits(builder: Callable[[int, int], Any]) -> int:
        first = builder(0, 1)
        return (first[0] if isinstance(first, list) else first).n_qubits

    def _probabilities(self, result: Any, rows: range) -> np.ndarray:
        if "readout" not in self.settings.mitigation:
            return np.stack([result.probabilities(i) for i in rows])
        return self._mitigated(result, rows)

    # -- readout mitigation --------------------------------------------------------------
    def _mitigated(self, result: Any, rows: range) -> np.ndarray:
        """mthree's correction of each circuit's counts (quasi-probabilities, arXiv:2108.12518).

        On a Qiskit device (Aer with a fake backend's noise, an IBM fake backend) mthree
        calibrates the physical qubits that the transpiler chose, read from each circuit's
        metadata; elsewhere the calibration runs two circuits through our backend (logical wires)."""
        mthree = require("mthree", "mitigation", "readout-error mitigation (mitigation=('readout',))")
        n = len(result.measured[rows[0]])
        system = _qiskit_system(self.settings.backend)
        physical = [result.metadata[i].get("physical_qubits") for i in rows]
        counts = [result.counts[i] for i in rows]
        if system is not None and all(q is not None for q in physical):
            wanted = sorted({int(q) for qs in physical for q in qs})
            mit = self._mitigator if isinstance(self._mitigator, tuple) and set(wanted) <= set(self._mitigator[1])                 else None
            if mit is None:
                m3 = mthree.M3Mitigation(system)
                m3.cals_from_system(qubits=wanted, shots=self.calibration_shots(), async_cal=False)
                self.report.calibration_circuits += 2 * len(wanted)  # mthree's independent calibration
                self._mitigator = mit = (m3, wanted)
            quasi = mit[0].apply_correction(counts, [list(map(int, q)) for q in physical])
        else:
            if self._mitigator is None or isinstance(self._mitigator, tuple):
                m3 = mthree.M3Mitigation()
                m3.cals_from_matrices(self._logical_calibration(n))
                self._mitigator = m3
            quasi = self._mitigator.apply_correction(counts, list(range(n)))
        probs = np.zeros((len(counts), 2 ** n))
        for i, q in enumerate(quasi):
            for bits, value in q.items():
                probs[i, int(bits, 2)] = value
        return probs

    def _logical_calibration(self, n: int) -> list[np.ndarray]:
        result = self.run("readout", calibration_circuits(n), 2)
        self.report.calibration_circuits += 2
        return readout_matrices_from(result, n)

    def calibration_shots(self) -> int:
        """Shots per calibration circuit: more than the kernel circuits', so calibration noise stays small."""
        return max(8 * self.settings.shots, 8192)


KERNEL_RUN_FORMAT = "qcstar-kernel-run/1"


def _qiskit_system(backend: Any) -> Any:
    """The Qiskit backend that mthree can calibrate directly, or None (our torch backend, a real
    IBM device: those calibrate through our own protocol)."""
    if getattr(backend, "noise_backend", None) is not None and getattr(backend, "simulator", None) is not None:
        return backend.simulator  # AerSimulator.from_backend(fake): the fake device's noise and qubits
    if getattr(backend, "local", False) and getattr(backend, "backend", None) is not None:
        return backend.backend  # an IBM fake backend in local testing mode
    return None


def calibration_circuits(n_qubits: int) -> list[Circuit]:
    """All qubits in |0>, and all in |1>: the two circuits of a per-qubit readout calibration."""
    zero, ones = Circuit(n_qubits), Circuit(n_qubits)
    for q in range(n_qubits):
        zero.id(q)  # an op per wire, so that a device transpiler keeps every wire measured
        ones.x(q)
    return [zero, ones]


def readout_matrices_from(result: Any, n_qubits: int) -> list[np.ndarray]:
    """Per-qubit assignment matrices ``A[measured, prepared]`` (mthree's layout) from the Result of
    :func:`calibration_circuits`."""
    p0, p1 = (result.probabilities(i) for i in range(2))
    mats = []
    for q in range(n_qubits):
        bit = (np.arange(2 ** n_qubits) >> q) & 1
        one_given_zero = float(p0[bit == 1].sum())
        zero_given_one = float(p1[bit == 0].sum())
        mats.append(np.array([[1 - one_given_zero, zero_given_one], [one_given_zero, 1 - zero_given_one]],
                             dtype=np.float32))
    return mats


def readout_matrices(backend: Any, n_qubits: int, *, shots: int, seed: int | None = None) -> list[np.ndarray]:
    """Per-qubit assignment matrices of ``backend`` from the two :func:`calibration_circuits`."""
    return readout_matrices_from(backend.run(calibration_circuits(n_qubits), shots=shots, seed=seed), n_qubits)


# --------------------------------------------------------------------------------------------------
# compute-uncompute
def _pair_rows(pairs: np.ndarray, a: CircuitSource, b: CircuitSource) -> Callable[[int, int], Any]:
    """Builder of the circuits ``U(b_j)^dagger U(a_i)`` for ``pairs[start:stop]``."""
    if a.is_template:
        template = a.template
        p = int(template.metadata["n_parameters"])
        combined = Circuit(template.n_qubits, list(template.ops) + _shifted(adjoint(template), p), 0.0,
                           {"template": True, "n_parameters": 2 * p})

        def build(start: int, stop: int) -> Circuit:
            idx = pairs[start:stop]
            values = torch.cat([a.values[idx[:, 0]], -b.values[idx[:, 1]]], dim=1)  # the adjoint's values negated
            return bind_template(combined, values)

        return build
    daggers: dict[int, Circuit] = {}

    def build_explicit(start: int, stop: int) -> list[Circuit]:
        out = []
        for i, j in pairs[start:stop]:
            if j not in daggers:
                daggers[j] = adjoint(b.circuits[j])
            out.append(a.circuits[i].compose(daggers[j]))
        return out

    return build_explicit


def compute_uncompute(a: CircuitSource, b: CircuitSource | None, runner: "Runner") -> np.ndarray:
    """The estimated Gram ``P(0...0)`` of ``U(b_j)^dagger U(a_i)|0>`` (``b=None``: symmetric, i < j)."""
    settings, report = runner.settings, runner.report
    symmetric = b is None
    b = a if symmetric else b
    if a.is_template != b.is_template:
        raise ConfigError("both sides of a kernel must be templates or explicit circuits")
    n, m = len(a), len(b)
    if symmetric:
        iu = np.triu_indices(n, k=1)
        pairs = np.stack(iu, axis=1)
    else:
        pairs = np.stack(np.meshgrid(np.arange(n), np.arange(m), indexing="ij"), axis=-1).reshape(-1, 2)
    check_memory(n * m * 8 * 2, f"a {n} x {m} kernel estimated with shots")
    zero = np.zeros(len(pairs))

    def keep_zero(target: np.ndarray) -> Callable[[np.ndarray, int], None]:
        def reduce(probs: np.ndarray, start: int) -> None:
            target[start:start + len(probs)] = probs[:, 0]

        return reduce

    runner.probabilities("pairs", _pair_rows(pairs, a, b), len(pairs), keep_zero(zero))
    gram = np.empty((n, m))
    if symmetric:
        gram[iu] = zero
        gram.T[iu] = zero
        np.fill_diagonal(gram, 1.0)
    else:
        gram[:] = zero.reshape(n, m)
    need_diagonal = settings.measure_diagonal or "depolarizing" in settings.mitigation
    if need_diagonal:
        sides = {"x": a} if symmetric else {"x": a, "y": b}
        for name, side in sides.items():
            own = np.stack([np.arange(len(side))] * 2, axis=1)
            report.diagonal[name] = np.zeros(len(side))
            runner.probabilities(f"diagonal-{name}", _pair_rows(own, side, side), len(own),
                                 keep_zero(report.diagonal[name]))
        if symmetric:
            np.fill_diagonal(gram, report.diagonal["x"])
    se = np.sqrt(np.clip(gram * (1 - gram), 0, None) / settings.shots)
    if symmetric and not need_diagonal:
        np.fill_diagonal(se, 0.0)
    report.standard_error = se
    if "depolarizing" in settings.mitigation:
        dx = report.diagonal["x"]
        gram = depolarizing_correction(gram, dx, dx if symmetric else report.diagonal["y"], a.n_qubits)
        if symmetric:
            np.fill_diagonal(gram, 1.0)
    return gram


def depolarizing_correction(gram: np.ndarray, diagonal_x: np.ndarray, diagonal_y: np.ndarray,
                            n_qubits: int) -> np.ndarray:
    """Undo global depolarising noise (Hubregtsen et al., arXiv:2105.02276, "split channel").

    Circuit (x, y) keeps its state with probability ``sqrt(p_x p_y)``:
    ``K_noisy = sqrt(p_x p_y) K + (1 - sqrt(p_x p_y)) / 2^n``, where the measured diagonal gives
    ``p_x = (K_noisy(x, x) - 2^-n) / (1 - 2^-n)`` (clipped to [1e-6, 1]). Returns ``K``.
    """
    dim = 2.0 ** n_qubits
    gram = np.asarray(gram, dtype=np.float64)
    dx, dy = (np.asarray(d, dtype=np.float64) for d in (diagonal_x, diagonal_y))
    if dx.shape != (gram.shape[0],) or dy.shape != (gram.shape[1],):
        raise ShapeError(f"diagonals of lengths {dx.shape} and {dy.shape} do not fit a Gram of shape {gram.shape}")
    px = np.clip((dx - 1 / dim) / (1 - 1 / dim), 1e-6, 1.0)
    py = np.clip((dy - 1 / dim) / (1 - 1 / dim), 1e-6, 1.0)
    survival = np.sqrt(np.outer(px, py))
    return (gram - (1 - survival) / dim) / survival


# --------------------------------------------------------------------------------------------------
# measurements in local Pauli bases (shadows, projected kernel)
def pauli_basis_angles(bases: np.ndarray) -> Tensor:
    """U-gate angles ``(..., 3 n)`` that rotate each qubit's basis (0 = Z, 1 = X, 2 = Y) onto Z."""
    table = torch.tensor([PAULI_ROTATIONS[b] for b in BASES], dtype=torch.float64)
    return table[torch.as_tensor(np.asarray(bases), dtype=torch.long)].flatten(-2)


def _measured_rows(src: CircuitSource, bases: np.ndarray) -> Callable[[int, int], Any]:
    """Builder of circuits ``(input i, setting r)`` (row ``i * R + r``) measured in ``bases[r]`` ``(R, n)``."""
    n, settings = src.n_qubits, len(bases)
    angles = pauli_basis_angles(bases)  # (R, 3n)
    if src.is_template:
        p = int(src.template.metadata["n_parameters"])
        ops = list(src.template.ops)
        for q in range(n):
            ops.append(Op("u", (q,), tuple(torch.tensor(float(p + 3 * q + k), dtype=torch.float64) for k in range(3))))
        measured = Circuit(n, ops, 0.0, {"template": True, "n_parameters": p + 3 * n})

        def build(start: int, stop: int) -> Circuit:
            rows = torch.arange(start, stop)
            values = torch.cat([src.values[rows // settings], angles[rows % settings]], dim=1)
            return bind_template(measured, values)

        return build

    def build_explicit(start: int, stop: int) -> list[Circuit]:
        out = []
        for row in range(start, stop):
            c = src.circuits[row // settings].copy()
            for q in range(n):
                c.u(*(float(v) for v in angles[row % settings, 3 * q:3 * q + 3]), q)
            out.append(c)
        return out

    return build_explicit


def walsh_hadamard(probs: np.ndarray) -> np.ndarray:
    """``W(k) = sum_s (-1)^(k.s) P(s)`` over the last axis (length ``2**n``): the expectations of the
    Z-strings ``Z^k`` of the measured basis."""
    shape = probs.shape
    n = int(shape[-1]).bit_length() - 1
    w = np.array(probs, dtype=np.float64).reshape(-1, *([2] * n))
    for axis in range(1, n + 1):
        lo, hi = np.take(w, 0, axis=axis), np.take(w, 1, axis=axis)
        w = np.stack([lo + hi, lo - hi], axis=axis)
    return w.reshape(shape)


def _weights(n: int) -> np.ndarray:
    """``sqrt(3^|k| / 2^n)`` per Z-string ``k``: the shadow estimator's reweighting of each Pauli string."""
    popcount = np.array([bin(k).count("1") for k in range(2 ** n)])
    return np.sqrt(3.0 ** popcount / 2.0 ** n)


def shadow_bases(n_bases: int, n_qubits: int, seed: int | None) -> np.ndarray:
    """``(n_bases, n_qubits)`` random local Pauli bases (0 = Z, 1 = X, 2 = Y), shared by every state.

    Drawn from ``seed`` (seed None: a fixed draw, so that a resumed run builds the same circuits;
    the shots themselves still get fresh randomness)."""
    return np.random.default_rng(np.random.SeedSequence([0 if seed is None else seed, 0x5AD0])).integers(
        0, 3, size=(n_bases, n_qubits))


def shadow_features(src: CircuitSource, runner: "Runner", side: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Per-state features ``(N, R, 2**n)`` with ``tr(rho_a rho_b) ~ mean_r F_a[r] . F_b[r]`` and the
    unbiased purity estimates ``(N,)`` (module docstring)."""
    settings = runner.settings
    n, r = src.n_qubits, settings.n_bases
    if n > 14:
        raise ConfigError(f"the shadow estimator here holds 2**n Walsh coefficients per state and basis; "
                          f"{n} qubits is too many (at most 14)")
    check_memory(len(src) * r * 2 ** n * 8 * 3, f"shadow features of {len(src)} states x {r} bases x 2**{n}")
    bases = shadow_bases(r, n, settings.seed)
    weights = _weights(n)
    features = np.empty((len(src), r, 2 ** n))
    flat = features.reshape(-1, 2 ** n)

    def reduce(probs: np.ndarray, start: int) -> None:
        flat[start:start + len(probs)] = walsh_hadamard(probs) * weights

    runner.probabilities(f"shadows-{side}", _measured_rows(src, bases), len(src) * r, reduce)
    s = settings.shots
    self_overlap = np.einsum("nrk,nrk->nr", features, features)  # X_r = P^T M P per basis
    purity = ((s * self_overlap - 2.0 ** n) / (s - 1)).mean(axis=1) if s > 1 else np.full(len(src), np.nan)
    return features, purity


def shadow_gram(fa: np.ndarray, fb: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The overlap estimates ``mean_r F_a[r] . F_b[r]`` and their standard errors over the bases."""
    fb = fa if fb is None else fb
    r = fa.shape[1]
    total = np.zeros((fa.shape[0], fb.shape[0]))
    squares = np.zeros_like(total)
    for k in range(r):  # one GEMM per basis: the spread over bases gives the standard error
        block = fa[:, k] @ fb[:, k].T
        total += block
        squares += block * block
    mean = total / r
    var = np.clip(squares / r - mean * mean, 0, None) / max(r - 1, 1)
    return mean, np.sqrt(var)


def shadows(a: CircuitSource, b: CircuitSource | None, runner: "Runner") -> np.ndarray:
    """The shadow (randomised-measurement) estimate of the fidelity Gram."""
    settings, report = runner.settings, runner.report
    fa, purity_a = shadow_features(a, runner)
    report.diagonal["x"] = purity_a
    if b is None:
        gram, se = shadow_gram(fa, None)
        np.fill_diagonal(gram, purity_a if settings.measure_diagonal else 1.0)
        if not settings.measure_diagonal:
            np.fill_diagonal(se, 0.0)
        dy = purity_a
    else:
        fb, dy = shadow_features(b, runner, "y")
        report.diagonal["y"] = dy
        gram, se = shadow_gram(fa, fb)
    report.standard_error = se
    if "depolarizing" in settings.mitigation:
        # a depolarised state has purity p^2 + (1 - p^2)/2^n: the same survival formula as the diagonal above
        gram = depolarizing_correction(gram, purity_a, dy, a.n_qubits)
        if b is None:
            np.fill_diagonal(gram, 1.0)
    return gram


def pauli_features(src: CircuitSource, runner: "Runner", side: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Measured ``<X_q>, <Y_q>, <Z_q>`` ``(N, 3n)`` (the exact kernel's column order) and their
    estimated shot variances ``(1 - f^2) / (shots - 1)``."""
    settings, n = runner.settings, src.n_qubits
    bases = np.array([[BASES.index(p)] * n for p in "XYZ"])  # 3 settings: all X, all Y, all Z
    rows = np.empty((len(src) * 3, n))
    signs = 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1)  # (2**n, n): +1 for bit 0

    def reduce(probs: np.ndarray, start: int) -> None:
        rows[start:start + len(probs)] = probs @ signs

    runner.probabilities(f"pauli-{side}", _measured_rows(src, bases), len(src) * 3, reduce)
    f = rows.reshape(len(src), 3, n).transpose(0, 2, 1).reshape(len(src), 3 * n)  # column q * 3 + basis
    var = np.clip(1 - f * f, 0, None) / max(settings.shots - 1, 1)
    return f, var


def projected_gram(fa: np.ndarray, va: np.ndarray, fb: np.ndarray, vb: np.ndarray, gamma: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``exp(-gamma d^2)`` with ``d^2`` bias-corrected by the shot variances, and its delta-method
    standard error. Written as GEMMs, so the memory is O(N M), not O(N M n)."""
    check_memory(fa.shape[0] * fb.shape[0] * 8 * 4, f"a {fa.shape[0]} x {fb.shape[0]} projected kernel from shots")
    sq_a, sq_b = fa * fa, fb * fb
    # sum_k (a - b)^2 - (v_a + v_b): the squared distance minus its expected shot noise
    d2 = sq_a.sum(1)[:, None] + sq_b.sum(1)[None, :] - 2 * fa @ fb.T - va.sum(1)[:, None] - vb.sum(1)[None, :]
    d2 = np.clip(d2, 0, None)
    # Var(d^2) ~ sum_k 4 (a - b)^2 (v_a + v_b) + 2 (v_a + v_b)^2, expanded into products of the two sides
    cross = (sq_a * va).sum(1)[:, None] + sq_a @ vb.T + va @ sq_b.T + (sq_b * vb).sum(1)[None, :] \
        - 2 * ((fa * va) @ fb.T + fa @ (fb * vb).T)
    pair = (va * va).sum(1)[:, None] + 2 * va @ vb.T + (vb * vb).sum(1)[None, :]
    d2_var = np.clip(4 * cross + 2 * pair, 0, None)
    k = np.exp(-gamma * d2)
    return k, gamma * k * np.sqrt(d2_var)


# --------------------------------------------------------------------------------------------------
# the kernels' side
SHOT_OPTIONS = ("seed", "n_bases", "mitigation", "measure_diagonal", "chunk_size", "manifest", "budget")
_DEFAULTS = {"seed": None, "n_bases": 50, "mitigation": (), "measure_diagonal": False, "chunk_size": 2048,
             "manifest": None, "budget": None}


def settings_for(backend: Any, shots: Any, options: dict[str, Any], *, exact_backends: tuple[str, ...]
                 ) -> ShotSettings | None:
    """The :class:`ShotSettings` of a kernel's keywords, or None for an exact kernel (``shots=None``)."""
    unknown = sorted(set(options) - set(SHOT_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown keyword(s) {unknown}; the shot options are {SHOT_OPTIONS}")
    if shots is None:
        given = sorted(k for k, v in options.items() if v is not None and v != _DEFAULTS[k])
        if given:
            raise ConfigError(f"{given} only apply to kernels estimated with shots; pass shots=<int> as well")
        if backend not in exact_backends:
            raise ConfigError(f"exact kernels (shots=None) are computed from states with backend in {exact_backends}, "
                              f"got {backend!r}; pass shots=<int> to run circuits on '{backend}'")
        return None
    merged = {**_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    return ShotSettings.from_options(backend=backend, shots=shots, **merged)


def _sources(kernel: Any, x_vec: Any, y_vec: Any) -> tuple[CircuitSource, CircuitSource | None]:
    a = circuit_source(kernel, x_vec)
    b = None if y_vec is None else circuit_source(kernel, y_vec)
    if b is not None and a.n_qubits != b.n_qubits:
        raise ShapeError(f"the two sides have {a.n_qubits} and {b.n_qubits} qubits; both need the same qubit count")
    return a, b


def _report(settings: ShotSettings, method: str) -> ShotReport:
    return ShotReport(method=method, backend=getattr(settings.backend, "name", type(settings.backend).__name__),
                      shots=settings.shots, mitigation=settings.mitigation)


def plan_with_shots(kernel: Any, x_vec: Any, y_vec: Any, method: str,
                    estimate: Callable[[CircuitSource, CircuitSource | None, Runner], np.ndarray]) -> list[tuple[str, Any]]:
    """The ``(part, Plan)`` of every circuit batch an evaluation would run; submits nothing."""
    settings = kernel.shot_settings
    a, b = _sources(kernel, x_vec, y_vec)
    runner = Runner(settings, _report(settings, method), manifest=settings.manifest, dry_run=True)
    estimate(a, b, runner)
    return runner.plans


def _check_budget(plans: list[tuple[str, Any]], budget: Any) -> None:
    from qcstar.circuits.errors import ResourceError

    executions = sum(plan.executions_to_submit for _, plan in plans)
    jobs = sum(len(plan.to_submit) for _, plan in plans)
    if budget.executions is not None and executions > budget.executions:
        raise ResourceError(f"the kernel needs {executions} executions in {jobs} job(s), over the budget of "
                            f"{budget.executions}; nothing was submitted. Lower shots or samples, or raise the budget")
    if budget.seconds is not None:
        seconds = [plan.estimated_seconds for _, plan in plans]
        if any(t is None for t in seconds):
            raise ConfigError("the backend gives no device-time estimate, so a budget in seconds cannot be checked; "
                              "give an execution budget instead")
        if sum(seconds) > budget.seconds:
            raise ResourceError(f"the kernel needs about {sum(seconds):.1f} s of device time, over the budget of "
                                f"{budget.seconds} s; nothing was submitted")


def evaluate_with_shots(kernel: Any, x_vec: Any, y_vec: Any, method: str,
                        estimate: Callable[[CircuitSource, CircuitSource | None, Runner], np.ndarray]) -> np.ndarray:
    """A kernel's ``evaluate`` with shots: the circuits of both sides, the budget check, the estimate,
    PSD projection, the report."""
    from .base import enforce_psd

    settings = kernel.shot_settings
    if settings.budget is not None:  # the whole evaluation is checked before its first submission
        _check_budget(plan_with_shots(kernel, x_vec, y_vec, method, estimate), settings.budget)
    report = _report(settings, method)
    a, b = _sources(kernel, x_vec, y_vec)
    gram = estimate(a, b, Runner(settings, report, manifest=settings.manifest))
    kernel.last_run_ = report
    if y_vec is None and kernel.enforce_psd:
        gram = enforce_psd(gram)
    return gram


def fidelity_estimate(method: str) -> Callable[[CircuitSource, CircuitSource | None, Runner], np.ndarray]:
    if method not in FIDELITY_METHODS:
        raise ConfigError(f"method must be one of {FIDELITY_METHODS}, got {method!r}")
    return compute_uncompute if method == "compute-uncompute" else shadows


def projected_estimate(gamma: float) -> Callable[[CircuitSource, CircuitSource | None, Runner], np.ndarray]:
    def estimate(a: CircuitSource, b: CircuitSource | None, runner: Runner) -> np.ndarray:
        if "depolarizing" in runner.settings.mitigation:
            raise ConfigError("the depolarising correction applies to fidelity kernels; the projected kernel takes "
                              "mitigation=('readout',)")
        fa, va = pauli_features(a, runner)
        fb, vb = (fa, va) if b is None else pauli_features(b, runner, "y")
        gram, se = projected_gram(fa, va, fb, vb, gamma)
        if b is None:
            np.fill_diagonal(gram, 1.0)
            np.fill_diagonal(se, 0.0)
        runner.report.standard_error = se
        return gram

    return estimate
