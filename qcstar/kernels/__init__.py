"""Quantum kernels computed from states, not from per-pair circuits, and SVMs at MNISQ scale.

* :class:`BaseKernel` - the interface (``evaluate(x_vec, y_vec=None)``, as qiskit-machine-learning)
  with inputs as states, raw data plus ``encoder=``, or a parameterised ``feature_map=`` (Qiskit,
  PennyLane or a qcstar template) bound to the whole batch; :func:`enforce_psd`.
* :class:`FidelityKernel` - ``|<psi(x)|psi(y)>|^2`` by tiled GEMM (CPU, CUDA or Ray tasks).
* :class:`ProjectedKernel` - Huang et al.'s projected kernel (arXiv:2011.01938).
* :class:`QuantumKernelSVC`, :class:`QuantumKernelRidge` - scikit-learn estimators; the SVC
  never holds the N x N Gram (per-pair Grams, or LIBSVM's polynomial kernel for real states).
* :func:`vote`, :func:`one_vs_one_accuracy` - one-vs-one decisions and accuracies.

The SVM names import scikit-learn, so they load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import BaseKernel, enforce_psd, feature_map_states
from .fidelity import FidelityKernel, fidelity_gram
from .projected import ProjectedKernel

_LAZY = {name: "qcstar.kernels.svm" for name in
         ("QuantumKernelSVC", "QuantumKernelRidge", "class_pairs", "one_vs_one_accuracy", "vote")}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'qcstar.kernels' has no attribute '{name}'")
    return getattr(importlib.import_module(target), name)


__all__ = ["BaseKernel", "FidelityKernel", "ProjectedKernel", "enforce_psd", "feature_map_states", "fidelity_gram",
           *_LAZY]
