"""The projected quantum kernel of Huang et al., "Power of data in quantum machine learning"
(arXiv:2011.01938, Nat. Commun. 12, 2631, 2021): the one-qubit reduced density matrices,
summarised by <X_q>, <Y_q>, <Z_q>, under a Gaussian kernel on those 3n features."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qcstar.circuits.errors import ConfigError
from qcstar.circuits.resources import check_memory
from qcstar.circuits.statevector import expectation

from .base import BaseKernel

Tensor = torch.Tensor

__all__ = ["ProjectedKernel"]


class ProjectedKernel(BaseKernel):
    """exp(-gamma * sum_q,P (<P_q>_x - <P_q>_y)^2) on one-qubit Pauli expectations.

    Keyword-only: ``gamma`` > 0 and the arguments of :class:`BaseKernel`. ``shots=<int>``
    measures the expectations instead (3 circuits per state: every qubit in the X, Y, Z basis) on
    ``backend`` (a :func:`qcstar.circuits.backends.get_backend` spec or Backend, default
    ``"torch"``), with ``seed``, ``mitigation=("readout",)``, ``chunk_size``, ``manifest`` and ``budget`` as
    :class:`~qcstar.kernels.FidelityKernel`; ``last_run_`` holds the standard errors and costs.
    """

    def __init__(self, *, gamma: float = 1.0, backend: Any = "torch", shots: int | None = None,
                 seed: int | None = None, mitigation: Any = (), chunk_size: int | None = None, manifest: Any = None,
                 budget: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not (isinstance(gamma, (int, float, np.floating)) and gamma > 0 and np.isfinite(gamma)):
            raise ConfigError(f"gamma must be a positive finite number, got {gamma!r}")
        self.gamma = float(gamma)
        from .shots import settings_for

        self.shot_settings = settings_for(backend, shots, dict(seed=seed, mitigation=mitigation, chunk_size=chunk_size,
                                                               manifest=manifest, budget=budget),
                                          exact_backends=("torch",))
        self.backend = backend
        self.shots = shots

    def evaluate(self, x_vec: Any, y_vec: Any | None = None) -> np.ndarray:
        if self.shot_settings is None:
            return super().evaluate(x_vec, y_vec)
        from .shots import evaluate_with_shots, projected_estimate

        return evaluate_with_shots(self, x_vec, y_vec, "projected", projected_estimate(self.gamma))

    def plan(self, x_vec: Any, y_vec: Any | None = None) -> list:
        """``(part, Plan)`` of every job :meth:`evaluate` would run with shots; submits nothing."""
        from .shots import plan_with_shots, projected_estimate

        if self.shot_settings is None:
            raise ConfigError("plan() lists the jobs of a kernel estimated with shots; this kernel is exact (shots=None)")
        return plan_with_shots(self, x_vec, y_vec, "projected", projected_estimate(self.gamma))

    def features(self, x: Any) -> Tensor:
        """The 3n projected features ``(N, 3n)``: <X_q>, <Y_q>, <Z_q> for every qubit q."""
        s = self.states(x)
        n = int(s.shape[1]).bit_length() - 1
        cols = [expectation(s, {q: p}) for q in range(n) for p in "XYZ"]
        return torch.stack(cols, dim=1).to(torch.float64)

    def prepare(self, x: Any, *, double: bool = False) -> Tensor:
        """The projected features (float64 always: 3n numbers per sample are cheap)."""
        self._exact_only("prepare")
        return self.features(x)

    def gram(self, a: Tensor, b: Tensor | None = None, *, double: bool = False,
             out: np.ndarray | None = None) -> np.ndarray:
        b = a if b is None else b
        check_memory(a.shape[0] * b.shape[0] * 8 * 2, f"a {a.shape[0]} x {b.shape[0]} projected-kernel Gram")
        d2 = torch.cdist(a, b).square()
        k = torch.exp(-self.gamma * d2).cpu().numpy()
        if out is None:
            return k
        out[...] = k
        return out
