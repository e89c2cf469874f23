"""The fidelity kernel K(x, y) = |<psi(x)|psi(y)>|^2 as tiled matrix products.

The Gram ``|S_x S_y^H|^2`` is one GEMM per row tile (CPU, CUDA, or Ray tasks), about four
orders of magnitude faster than N^2 compute-uncompute circuits. Real states (exact amplitude
encoding, AQCE) take a real GEMM, four times cheaper than a complex one; a symmetric Gram
computes only its upper triangle of tiles and mirrors it.

Example::

    from sklearn.svm import SVC
    k = FidelityKernel()
    gram = k.evaluate(train_states)                 # (N, N)
    test = k.evaluate(test_states, train_states)    # (M, N)
    SVC(kernel="precomputed").fit(gram, y_train).score(test, y_test)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qcstar.circuits.devices import resolve_device
from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.circuits.resources import check_memory

from .base import BaseKernel

Tensor = torch.Tensor

__all__ = ["FidelityKernel", "fidelity_gram", "real_if_real"]

BACKENDS = ("torch", "ray")
#: the smallest row tile of a symmetric Gram (smaller GEMMs lose more speed than the triangle saves)
MIN_SYMMETRIC_ROWS = 512


def real_if_real(s: Tensor) -> Tensor:
    """``s.real`` when every imaginary part is exactly zero (then a real GEMM gives the same kernel), else ``s``."""
    if s.is_complex() and not bool(torch.any(s.imag != 0)):
        return s.real
    return s


def _squared_overlaps(a: Tensor, b: Tensor) -> Tensor:
    """|a b^H|^2 for one tile (real or complex)."""
    block = a @ (b.conj().T if b.is_complex() else b.T)
    return torch.view_as_real(block).square().sum(-1) if block.is_complex() else block.square_()  # in place: one tile less


def _ray_overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _squared_overlaps(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def fidelity_gram(a: Tensor, b: Tensor | None = None, *, tile: int = 4096, device: str | torch.device | None = None,
                  double: bool = True, backend: str = "torch", out: np.ndarray | None = None) -> np.ndarray:
    """``|a b^H|^2`` ``(N, M)`` (``b=None``: ``a`` with itself, symmetric, unit diagonal).

    ``a``, ``b``: normalised states ``(N, D)``, ``(M, D)``; real when their imaginary parts are
    zero. ``double``: float64 accumulation and result (else float32). ``device``: where the tiles
    are multiplied (the result is on the host). ``backend="ray"``: one Ray task per row tile on
    the running Ray instance (started locally when none is; ``RAY_ADDRESS`` selects a cluster).
    ``out``: an ``(N, M)`` array (or a view of a larger one) to write into instead of a new one.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if b is not None and a.shape[1] != b.shape[1]:
        raise ShapeError(f"states of different sizes: {a.shape[1]} and {b.shape[1]} amplitudes")
    symmetric = b is None
    device = resolve_device(device)  # ConfigError (not a torch assertion) for a device this machine lacks
    a = real_if_real(a)
    b = a if symmetric else real_if_real(b)
    if a.is_complex() != b.is_complex():  # one side real, the other complex: complex GEMM
        a, b = a.to(torch.complex128), b.to(torch.complex128)
    real = np.float64 if double else np.float32
    work = (torch.complex128 if a.is_complex() else torch.float64) if double else \
        (torch.complex64 if a.is_complex() else torch.float32)
    n, m = a.shape[0], b.shape[0]
    rows = min(int(tile), n)
    if symmetric:  # >= 8 row tiles, so that the skipped lower triangle saves ~45 % of the products
        rows = min(rows, max(MIN_SYMMETRIC_ROWS, -(-n // 8)))
    result_bytes = 0 if out is not None else n * m * np.dtype(real).itemsize
    check_memory(result_bytes + 3 * rows * m * torch.empty((), dtype=work).element_size(),
                 f"a {n} x {m} fidelity Gram (with {rows}-row tiles)")
    if out is None:
        out = np.empty((n, m), dtype=real)
    elif out.shape != (n, m):
        raise ShapeError(f"out must have shape ({n}, {m}), got {out.shape}")
    starts = list(range(0, n, rows))
    with torch.no_grad():
        if backend == "ray":
            _ray_fill(out, a.to(work).cpu().numpy(), None if symmetric else b.to(work).cpu().numpy(), starts, rows)
        else:
            bd = b.to(device=device, dtype=work)
            ad = bd if symmetric else None
            for start in starts:
                stop = min(start + rows, n)
                rows_a = ad[start:stop] if symmetric else a[start:stop].to(device=device, dtype=work)
                cols = bd[start:] if symmetric else bd  # symmetric: the upper triangle of tiles only
                block = _squared_overlaps(rows_a, cols).cpu().numpy()
                if symmetric:
                    out[start:stop, start:] = block
                    out[stop:, start:stop] = block[:, stop - start:].T
                else:
                    out[start:stop] = block
    if symmetric:
        np.fill_diagonal(out, 1.0)  # the inputs were checked to be normalised; removes rounding on the diagonal
    return out


def _ray_fill(out: np.ndarray, a: np.ndarray, b: np.ndarray | None, starts: list[int], rows: int) -> None:
    from qcstar.circuits.errors import require

    ray = require("ray", "ray", "Gram tiles as Ray tasks (backend='ray')")
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    task = ray.remote(_ray_overlaps)
    n = a.shape[0]
    cols_ref = ray.put(a if b is None else b)
    futures = []
    for start in starts:
        stop = min(start + rows, n)
        cols = ray.put(a[start:]) if b is None else cols_ref
        futures.append((start, stop, task.remote(a[start:stop], cols)))
    for start, stop, fut in futures:
        block = ray.get(fut)
        if b is None:
            out[start:stop, start:] = block
            out[stop:, start:stop] = block[:, stop - start:].T
        else:
            out[start:stop] = block


class FidelityKernel(BaseKernel):
    """K(x, y) = |<psi(x)|psi(y)>|^2 from states, tiled so that a 60,000-sample Gram fits in memory,
    or estimated from shots on a circuit backend.

    Keyword-only: ``encoder``, ``feature_map``, ``tile``, ``device``, ``dtype``, ``enforce_psd``,
    ``norm_tol`` (see :class:`BaseKernel`), and

    * ``shots``: ``None`` (default) for the exact Gram from states; an int estimates every entry
      from that many shots per circuit (:mod:`qcstar.kernels.shots`, README "Kernels with shots");
    * ``backend``: exact: ``"torch"``, or ``"ray"`` for one Ray task per row tile. With shots:
      where the circuits run, a :func:`qcstar.circuits.backends.get_backend` spec (``"torch"``,
      ``"aer:fake_torino"``, ...) or a Backend instance;
    * with shots only: ``method`` (``"compute-uncompute"`` or ``"shadows"``), ``seed``,
      ``n_bases`` (random bases per state for shadows, default 50), ``mitigation`` (any of
      ``"readout"``, ``"depolarizing"``), ``measure_diagonal`` (estimate K(x, x) instead of
      setting it to 1), ``chunk_size`` (most circuits per job, default 2048; the backend's own
      limits apply too), ``manifest`` (a JSON path: the run is resumable, each part keeps a
      :func:`qcstar.circuits.backends.jobs.run_chunked` manifest beside it) and ``budget`` (an
      int of executions or a ``Budget``: checked for the whole evaluation before submitting).

    With shots, :meth:`evaluate` estimates the Gram and ``last_run_`` holds its standard errors,
    circuits, executions and jobs; :meth:`plan` lists the jobs without submitting;
    ``prepare``/``gram`` (the exact SVM path) refuse.

    Example::

        from qiskit.circuit.library import zz_feature_map
        k = FidelityKernel(feature_map=zz_feature_map(10, reps=2))
        gram = k.evaluate(x_train)                  # x_train: (N, 10) -> (N, N)
        noisy = FidelityKernel(feature_map=zz_feature_map(4), backend="aer:fake_manila", shots=2000, seed=1,
                               mitigation=("readout", "depolarizing"), enforce_psd=True).evaluate(x_train)
    """

    def __init__(self, *, backend: Any = "torch", shots: int | None = None, method: str = "compute-uncompute",
                 seed: int | None = None, n_bases: int | None = None, mitigation: Any = (),
                 measure_diagonal: bool = False, chunk_size: int | None = None, manifest: Any = None,
                 budget: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        from .shots import fidelity_estimate, settings_for

        self.shot_settings = settings_for(backend, shots, dict(seed=seed, n_bases=n_bases, mitigation=mitigation,
                                                               measure_diagonal=measure_diagonal,
                                                               chunk_size=chunk_size, manifest=manifest,
                                                               budget=budget), exact_backends=BACKENDS)
        if self.shot_settings is not None:
            self._estimate = fidelity_estimate(method)
        elif method != "compute-uncompute":
            raise ConfigError(f"method={method!r} estimates with shots; pass shots=<int> as well")
        self.backend = backend
        self.shots = shots
        self.method = method

    def evaluate(self, x_vec: Any, y_vec: Any | None = None) -> np.ndarray:
        if self.shot_settings is None:
            return super().evaluate(x_vec, y_vec)
        from .shots import evaluate_with_shots

        return evaluate_with_shots(self, x_vec, y_vec, self.method, self._estimate)

    def plan(self, x_vec: Any, y_vec: Any | None = None) -> list:
        """``(part, Plan)`` of every job :meth:`evaluate` would run with shots (circuits,
        executions, jobs, estimated device time); submits nothing."""
        from .shots import plan_with_shots

        if self.shot_settings is None:
            raise ConfigError("plan() lists the jobs of a kernel estimated with shots; this kernel is exact (shots=None)")
        return plan_with_shots(self, x_vec, y_vec, self.method, self._estimate)

    def gram(self, a: Tensor, b: Tensor | None = None, *, double: bool = False,
             out: np.ndarray | None = None) -> np.ndarray:
        return fidelity_gram(a, b, tile=self.tile, device=self.device, backend=self.backend,
                             double=double or self.dtype == torch.complex128, out=out)
