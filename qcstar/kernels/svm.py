"""Kernel SVMs on quantum states at MNISQ scale, without ever holding the N x N Gram.

MNISQ (arXiv:2306.16627) trains ``SVC(kernel="precomputed", C=1)`` on a 60,000 x 60,000
fidelity Gram (28.8 GB in float64). Two exact routes give the same model with far less memory:

1. ``route="gram"`` (any states, also complex ones and the projected kernel): one-vs-one over
   the class pairs. Each pair's Gram (float64) is built by tiled GEMM from three blocks (the
   first class's own block is computed once for its nine pairs), solved by a binary LIBSVM
   ``SVC(kernel="precomputed")`` and freed; only the support vectors' states, dual
   coefficients and intercepts are kept. The samples of a pair are ordered as LIBSVM orders
   them inside a multiclass ``SVC`` (the first class's, then the second's), so the binary
   problems are the very ones ``SVC(kernel="precomputed")`` solves. One-vs-rest solves one
   binary problem per class on the full Gram (memory-checked first).
2. ``route="poly"`` (fidelity kernel on real states: exact amplitude encoding, AQCE):
   ``|<a|b>|^2 = (a.b)^2`` is LIBSVM's polynomial kernel (degree 2, gamma 1, coef0 0), computed
   on demand with LIBSVM's kernel cache; it gives one-vs-rest at full scale too.

Both keep the one-vs-one decision values, so accuracy can be reported under LIBSVM's vote rule
(``SVC.predict``: ties go to the lowest class) and under scikit-learn ``OneVsOneClassifier``'s
rule (ties broken by summed confidences; MNISQ's protocol): :func:`vote`.

Example::

    from qcstar.encoders import AmplitudeEncoder
    clf = QuantumKernelSVC(kernel=FidelityKernel(encoder=AmplitudeEncoder()), C=1.0)
    clf.fit(train_images, train_labels).score(test_images, test_labels)
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from qcstar.circuits.errors import ConfigError, DataError, ShapeError

from .base import BaseKernel
from .fidelity import FidelityKernel, real_if_real

Tensor = torch.Tensor

__all__ = ["QuantumKernelRidge", "QuantumKernelSVC", "class_pairs", "one_vs_one_accuracy", "vote"]

MULTICLASS = ("ovo", "ovr")
ROUTES = ("auto", "gram", "poly")
TIE_BREAKS = ("libsvm", "sklearn")
#: rows of inputs prepared at once (bounds the temporary complex states of an encoder)
PREPARE_ROWS = 8192
#: LIBSVM kernel cache (MB) of the poly route when ``cache_size=None``: at N = 60,000 a column is
#: 240 KB and the cache should hold the support vectors' columns (MNIST one-vs-rest: ~20 min with
#: 2,000 MB, hours with scikit-learn's 200 MB)
POLY_CACHE_MB = 2000.0
#: bytes of one test-kernel tile (test rows x support vectors, float64)
TEST_TILE_BYTES = 1 << 28


def class_pairs(n_classes: int) -> list[tuple[int, int]]:
    """The one-vs-one pairs in LIBSVM's order: (0, 1), (0, 2), ..., (1, 2), ..."""
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def vote(decision: np.ndarray, n_classes: int, *, rule: str = "libsvm") -> np.ndarray:
    """Class indices from one-vs-one decision values ``(M, n_pairs)`` (positive: the pair's first class,
    as ``SVC(decision_function_shape="ovo")``).

    ``rule="libsvm"``: one vote per pair, ties to the lowest class (``SVC.predict``).
    ``rule="sklearn"``: votes plus summed confidences squashed into (-1/3, 1/3), so ties go to the
    class with the larger confidence (``sklearn.multiclass.OneVsOneClassifier``).
    """
    if rule not in TIE_BREAKS:
        raise ConfigError(f"rule must be one of {TIE_BREAKS}, got {rule!r}")
    dec = np.asarray(decision, dtype=np.float64)
    if dec.ndim == 1:
        dec = dec[:, None]
    pairs = class_pairs(n_classes)
    if dec.ndim != 2 or dec.shape[1] != len(pairs):
        raise ShapeError(f"{n_classes} classes need decision values (M, {len(pairs)}), got shape {dec.shape}")
    votes = np.zeros((dec.shape[0], n_classes))
    confidence = np.zeros_like(votes)
    for k, (i, j) in enumerate(pairs):
        if rule == "libsvm":
            first = dec[:, k] > 0
        else:  # OneVsOneClassifier: the binary estimator predicts the second class when its decision is > 0
            first = ~(-dec[:, k] > 0)
            confidence[:, i] += dec[:, k]
            confidence[:, j] -= dec[:, k]
        votes[first, i] += 1
        votes[~first, j] += 1
    if rule == "sklearn":
        votes += confidence / (3 * (np.abs(confidence) + 1))
    return np.argmax(votes, axis=1)


def _check_choice(value: Any, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}")


def _check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _checked_sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` as a float64 array ``(n,)``: finite, non-negative; a number means that weight for all."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:  # one number for every sample, as scikit-learn allows
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ShapeError(f"sample_weight must have shape ({n},), one weight per sample; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError("sample_weight must be finite and non-negative")
    if not np.any(w > 0):
        raise DataError("every sample weight is zero: nothing to fit")
    return w


class _KernelInputs:
    """Shared input handling of the kernel estimators: raw data or states -> prepared float64 rows."""

    kernel: Any

    def _kernel(self) -> BaseKernel:
        kernel = FidelityKernel() if self.kernel is None else self.kernel
        if not isinstance(kernel, BaseKernel):
            raise ConfigError(f"kernel must be a qcstar.kernels kernel (FidelityKernel, ProjectedKernel, ...), "
                              f"got {type(kernel).__name__}")
        return kernel

    def _rows(self, X: Any, reset: bool) -> Any:
        """Validated inputs: a numpy float array for raw data, a 2-D tensor or array for states."""
        if not self._kernel().takes_states:
            # allow_nd: images (N, H, W) go to the encoder as they are
            return validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=True, allow_nd=True)
        x = X if isinstance(X, Tensor) else np.asarray(X)
        if x.ndim != 2:
            raise ShapeError(f"expected states (n_samples, 2**n), got shape {tuple(x.shape)}")
        if reset:
            self.n_features_in_ = int(x.shape[1])
        elif x.shape[1] != self.n_features_in_:
            raise ShapeError(f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input (the states it was fitted on)")
        return x

    def _prepare(self, X: Any, reset: bool) -> Tensor:
        """Prepared rows (states or projected features, float64/complex128) in chunks of PREPARE_ROWS."""
        kernel = self._kernel()
        x = self._rows(X, reset)
        parts = []
        for start in range(0, len(x), PREPARE_ROWS):
            part = kernel.prepare(x[start:start + PREPARE_ROWS], double=True)
            real = real_if_real(part)
            parts.append(real.clone() if real is not part else part)  # .real is a view of the complex chunk
        if not parts:
            raise ShapeError("expected at least one sample, got 0")
        if any(p.is_complex() for p in parts):  # complex states: all chunks complex
            return torch.cat([p.to(torch.complex128) for p in parts])
        rows = torch.cat(parts) if len(parts) > 1 else parts[0]
        if isinstance(kernel, FidelityKernel):  # all-zero columns of the training states add nothing to a.b
            if reset:
                self.columns_ = torch.nonzero(rows.abs().sum(0) > 0).flatten()
            rows = rows[:, self.columns_]
        return rows.contiguous()


class QuantumKernelSVC(_KernelInputs, ClassifierMixin, BaseEstimator):
    """A C-SVM on a quantum kernel (scikit-learn estimator; usable in ``Pipeline`` and ``GridSearchCV``).

    Keyword-only parameters:

    * ``kernel``: a :class:`FidelityKernel` (default, on states) or :class:`ProjectedKernel`, with
      ``encoder=``/``feature_map=`` when ``X`` is raw data;
    * ``C``: the SVM's regularisation (MNISQ: 1);
    * ``class_weight``: ``None``, ``"balanced"`` (``n_samples / (n_classes * count)``) or a dict
      ``{label: weight}``, as ``SVC``: sample ``i`` gets ``C * class_weight[y_i] * sample_weight_i``
      (LIBSVM's per-sample cost) in every binary problem it takes part in, one-vs-rest included;
    * ``multiclass``: ``"ovo"`` (LIBSVM's and MNISQ's one-vs-one) or ``"ovr"`` (one-vs-rest);
    * ``route``: ``"gram"`` (per-pair precomputed Grams), ``"poly"`` (LIBSVM polynomial kernel,
      fidelity kernel on real states only) or ``"auto"`` (``"gram"``, except ``"poly"`` for
      one-vs-rest on real states, which needs no N x N Gram);
    * ``tie_break``: ``"libsvm"`` or ``"sklearn"`` (see :func:`vote`), for ``predict`` with ``"ovo"``;
    * ``tol``, ``cache_size``: LIBSVM's stopping tolerance and kernel cache (MB; default ``None``:
      2,000 on the ``"poly"`` route, scikit-learn's 200 otherwise. The ``"poly"`` route at
      N = 60,000 wants ~2,000: a cached column is 4N bytes and the cache should hold the support
      vectors' columns, else LIBSVM recomputes them);
    * ``verbose``: progress lines on stderr.

    After ``fit``: ``classes_``, ``class_weight_`` (one weight per class), ``support_`` (training
    indices of the support vectors, union over the binary problems), ``n_binary_`` and ``route_``.

    The kernel's own parameters are tuned by name (``{"kernel__gamma": [...]}`` in ``GridSearchCV``).
    There is no ``predict_proba`` (LIBSVM's Platt scaling refits every binary problem under
    internal cross-validation): wrap the estimator in ``sklearn.calibration.CalibratedClassifierCV``
    for probabilities.
    """

    def __init__(self, *, kernel: BaseKernel | None = None, C: float = 1.0,
                 class_weight: dict | str | None = None, multiclass: str = "ovo", route: str = "auto",
                 tie_break: str = "libsvm", tol: float = 1e-3, cache_size: float | None = None, verbose: bool = False):
        self.kernel = kernel
        self.C = C
        self.class_weight = class_weight
        self.multiclass = multiclass
        self.route = route
        self.tie_break = tie_break
        self.tol = tol
        self.cache_size = cache_size
        self.verbose = verbose

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[QuantumKernelSVC] {message}", file=sys.stderr, flush=True)

    def _svc(self, **kw: Any):
        from sklearn.svm import SVC

        cache = self.cache_size
        if cache is None:  # the poly route computes kernel columns on demand: a large cache pays (see docstring)
            cache = POLY_CACHE_MB if kw.get("kernel") == "poly" else 200.0
        return SVC(C=float(self.C), tol=float(self.tol), cache_size=float(cache), **kw)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "QuantumKernelSVC":
        """Fit on inputs ``X`` (states, or raw data for a kernel with an encoder/feature map) and labels ``y``.

        ``sample_weight`` (optional, ``(n_samples,)``, finite, >= 0) multiplies each sample's ``C``, as in
        ``SVC.fit``; a sample of weight 0 takes no part.
        """
        _check_positive(self.C, "C")
        _check_positive(self.tol, "tol")
        if self.cache_size is not None:
            _check_positive(self.cache_size, "cache_size")
        _check_choice(self.multiclass, MULTICLASS, "multiclass")
        _check_choice(self.route, ROUTES, "route")
        _check_choice(self.tie_break, TIE_BREAKS, "tie_break")
        kernel = self._kernel()
        rows = self._prepare(X, reset=True)
        y = column_or_1d(np.asarray(y), warn=True)
        if len(y) != rows.shape[0]:
            raise ShapeError(f"X has {rows.shape[0]} samples but y has {len(y)} labels; pass one label per sample")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"the SVM needs samples of at least two classes; y has only one class ({self.classes_.tolist()[0]!r}): "
                            "add samples of another class")
        costs = self._sample_costs(y_index, sample_weight)
        real = not rows.is_complex()
        route = self.route
        if route == "auto":
            route = "poly" if (self.multiclass == "ovr" and real and isinstance(kernel, FidelityKernel)) else "gram"
        if route == "poly" and not (real and isinstance(kernel, FidelityKernel)):
            raise ConfigError("route='poly' needs the fidelity kernel on real states (|<a|b>|^2 = (a.b)^2); "
                              "these states are complex or the kernel is not a FidelityKernel: use route='gram'")
        self.route_ = route
        binary = len(self.classes_) == 2
        problems = class_pairs(2) if binary else (class_pairs(len(self.classes_)) if self.multiclass == "ovo"
                                                  else [(c, None) for c in range(len(self.classes_))])
        self._log(f"{rows.shape[0]} inputs prepared: {rows.shape[1]} {'complex' if rows.is_complex() else 'real'} "
                  f"columns per sample; route '{route}'")
        t0 = time.perf_counter()
        if route == "poly":
            self._fit_poly(rows.numpy(), y_index, binary, costs)
        elif self.multiclass == "ovo" or binary:
            self._fit_pairs(kernel, rows, y_index, problems, costs)
        else:
            self._fit_rest(kernel, rows, y_index, costs)
        self.n_binary_ = len(problems)
        self._log(f"fitted {self.n_binary_} binary problem(s) by route '{route}' in {time.perf_counter() - t0:.1f} s")
        return self

    def _sample_costs(self, y_index: np.ndarray, sample_weight: Any) -> np.ndarray | None:
        """Per-sample multipliers of C, ``class_weight_[y_i] * sample_weight_i``; None when all are 1."""
        n, k = len(y_index), len(self.classes_)
        cw = self.class_weight
        if cw is None:
            self.class_weight_ = np.ones(k)
        elif isinstance(cw, str) and cw == "balanced":
            from sklearn.utils.class_weight import compute_class_weight

            self.class_weight_ = compute_class_weight("balanced", classes=np.arange(k), y=y_index)
        elif isinstance(cw, dict):
            self.class_weight_ = np.ones(k)
            for label, w in cw.items():
                where = np.flatnonzero(self.classes_ == label)
                if len(where) != 1:
                    raise ConfigError(f"class_weight names the label {label!r}, which is not a class of y "
                                      f"(classes: {self.classes_.tolist()})")
                self.class_weight_[where[0]] = _check_positive(w, f"class_weight[{label!r}]")
        else:
            raise ConfigError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}")
        costs = self.class_weight_[y_index]
        if sample_weight is not None:  # refuses all-zero weights; class weights are positive
            costs = costs * _checked_sample_weight(sample_weight, n)
        empty = self.classes_[[c for c in range(k) if not np.any(costs[y_index == c] > 0)]].tolist()
        if empty:
            raise DataError(f"class(es) {empty} have no sample of positive weight (sample_weight x class_weight): "
                            "drop the class from y or give its samples weight")
        return None if np.all(costs == 1.0) else costs

    # -- route 1: precomputed Grams --------------------------------------------------
    def _keep_support(self, kernel: BaseKernel, rows: Tensor, models: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
        self.support_ = np.unique(np.concatenate([sv for sv, _, _ in models]))
        where = {int(i): k for k, i in enumerate(self.support_)}
        self.support_rows_ = rows[torch.as_tensor(self.support_)].clone()
        self.models_ = [(np.array([where[int(i)] for i in sv]), coef, b) for sv, coef, b in models]

    def _fit_pairs(self, kernel: BaseKernel, rows: Tensor, y_index: np.ndarray, pairs: list,
                   costs: np.ndarray | None) -> None:
        # samples of weight 0 take no part (as LIBSVM drops them); they are left out of the Grams
        # because scikit-learn's SVC(kernel="precomputed") mispredicts when given them (measured with
        # scikit-learn 1.9: 8 % instead of 91 % on digits), its kernel index then pointing at wrong rows
        active = np.ones(len(y_index), bool) if costs is None else costs > 0
        members = {c: np.flatnonzero((y_index == c) & active) for c in range(len(self.classes_))}
        first_class, first_block = None, None
        models = []
        for k, (i, j) in enumerate(pairs):
            t0 = time.perf_counter()
            # LIBSVM's multiclass order inside a pair: the first class's samples, then the second's
            idx = np.concatenate([members[i], members[j]])
            n_i = len(members[i])
            if first_class != i:  # pairs come first-class-major: the (i, i) block serves 9 pairs
                first_block = None  # free the previous class's block before computing the next
                first_block, first_class = kernel.gram(rows[torch.as_tensor(members[i])], double=True), i
            gram = np.empty((len(idx), len(idx)))
            gram[:n_i, :n_i] = first_block
            kernel.gram(rows[torch.as_tensor(members[i])], rows[torch.as_tensor(members[j])], double=True,
                        out=gram[:n_i, n_i:])  # written in place: no second copy of the largest blocks
            gram[n_i:, :n_i] = gram[:n_i, n_i:].T
            kernel.gram(rows[torch.as_tensor(members[j])], double=True, out=gram[n_i:, n_i:])
            svc = self._svc(kernel="precomputed").fit(gram, (y_index[idx] == j).astype(np.int64),
                                                      sample_weight=None if costs is None else costs[idx])
            del gram
            # scikit-learn's binary convention is positive -> second class; keep LIBSVM's (positive -> first)
            models.append((idx[svc.support_], -svc.dual_coef_[0].copy(), -float(svc.intercept_[0])))
            self._log(f"pair {k + 1}/{len(pairs)} ({self.classes_[i]} vs {self.classes_[j]}): {len(idx)} samples, "
                      f"{len(svc.support_)} support vectors, {time.perf_counter() - t0:.1f} s")
        self._keep_support(kernel, rows, models)

    def _fit_rest(self, kernel: BaseKernel, rows: Tensor, y_index: np.ndarray, costs: np.ndarray | None) -> None:
        keep = np.arange(len(y_index)) if costs is None else np.flatnonzero(costs > 0)  # as in _fit_pairs
        gram = kernel.gram(rows[torch.as_tensor(keep)], double=True)
        models = []
        for c in range(len(self.classes_)):
            svc = self._svc(kernel="precomputed").fit(gram, (y_index[keep] == c).astype(np.int64),
                                                      sample_weight=None if costs is None else costs[keep])
            models.append((keep[svc.support_], svc.dual_coef_[0].copy(), float(svc.intercept_[0])))
            self._log(f"class {c + 1}/{len(self.classes_)} vs rest: {len(svc.support_)} support vectors")
        del gram
        self._keep_support(kernel, rows, models)

    # -- route 2: LIBSVM's polynomial kernel -----------------------------------------
    def _fit_poly(self, rows: np.ndarray, y_index: np.ndarray, binary: bool, costs: np.ndarray | None) -> None:
        poly = dict(kernel="poly", degree=2, gamma=1.0, coef0=0.0)
        if self.multiclass == "ovo" or binary:
            self.poly_models_ = [self._svc(decision_function_shape="ovo", **poly).fit(rows, y_index, sample_weight=costs)]
            self.support_ = self.poly_models_[0].support_
        else:
            self.poly_models_ = []
            for c in range(len(self.classes_)):
                t0 = time.perf_counter()
                self.poly_models_.append(self._svc(**poly).fit(rows, (y_index == c).astype(np.int64),
                                                               sample_weight=costs))
                self._log(f"class {c + 1}/{len(self.classes_)} ({self.classes_[c]}) vs rest: "
                          f"{len(self.poly_models_[-1].support_)} support vectors, {time.perf_counter() - t0:.1f} s")
            self.support_ = np.unique(np.concatenate([m.support_ for m in self.poly_models_]))

    # -- prediction --------------------------------------------------------------------
    def _binary_decisions(self, X: Any) -> np.ndarray:
        """Decision values (M, n_binary): one-vs-one positive -> first class; one-vs-rest positive -> the class."""
        check_is_fitted(self, "route_")
        rows = self._prepare(X, reset=False)
        if self.route_ == "poly":
            x = rows.numpy()
            if len(self.poly_models_) == 1:
                dec = self.poly_models_[0].decision_function(x)
                return -dec[:, None] if dec.ndim == 1 else dec  # binary: scikit-learn's sign -> LIBSVM's
            return np.stack([m.decision_function(x) for m in self.poly_models_], axis=1)
        kernel = self._kernel()
        n_sv = max(1, self.support_rows_.shape[0])
        step = max(1, min(rows.shape[0], TEST_TILE_BYTES // (8 * n_sv)))
        out = np.empty((rows.shape[0], len(self.models_)))
        for start in range(0, rows.shape[0], step):
            k = kernel.gram(rows[start:start + step], self.support_rows_, double=True)
            for m, (pos, coef, b) in enumerate(self.models_):
                out[start:start + step, m] = k[:, pos] @ coef + b
            self._log(f"decision values: {min(start + step, rows.shape[0])}/{rows.shape[0]} inputs")
        return out

    @property
    def decision_function_shape(self) -> str:
        """``"ovo"`` or ``"ovr"``: the layout of :meth:`decision_function` for more than two classes (as ``SVC``)."""
        return self.multiclass

    def decision_function(self, X: Any) -> np.ndarray:
        """As ``SVC(decision_function_shape="ovo")`` for ``"ovo"`` ``(M, n_pairs)``, ``(M, n_classes)`` for
        ``"ovr"``, and ``(M,)`` (positive -> ``classes_[1]``) for two classes."""
        dec = self._binary_decisions(X)
        if len(self.classes_) == 2:
            return -dec[:, 0]
        return dec

    def predict(self, X: Any) -> np.ndarray:
        dec = self._binary_decisions(X)
        if len(self.classes_) > 2 and self.multiclass == "ovr":
            return self.classes_[np.argmax(dec, axis=1)]
        return self.classes_[vote(dec, len(self.classes_), rule=self.tie_break)]


class QuantumKernelRidge(_KernelInputs, RegressorMixin, BaseEstimator):
    """Kernel ridge regression on a quantum kernel (``sklearn.kernel_ridge.KernelRidge`` on the Gram).

    Keyword-only: ``kernel`` (default :class:`FidelityKernel` on states) and ``alpha`` (> 0).
    Holds the N x N training Gram during ``fit``: for N up to tens of thousands.
    """

    def __init__(self, *, kernel: BaseKernel | None = None, alpha: float = 1.0):
        self.kernel = kernel
        self.alpha = alpha

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "QuantumKernelRidge":
        """Fit on inputs ``X`` and targets ``y`` (``(N,)`` or ``(N, T)``); ``sample_weight`` as ``KernelRidge.fit``."""
        from sklearn.kernel_ridge import KernelRidge

        _check_positive(self.alpha, "alpha")
        rows = self._prepare(X, reset=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or len(y) != rows.shape[0]:
            raise ShapeError(f"X has {rows.shape[0]} samples but y has shape {y.shape}; pass one target per sample")
        if not np.isfinite(y).all():
            raise DataError("y contains NaN or infinity; the regression targets must be finite")
        w = None if sample_weight is None else _checked_sample_weight(sample_weight, rows.shape[0])
        self.train_rows_ = rows
        self.model_ = KernelRidge(alpha=float(self.alpha), kernel="precomputed").fit(
            self._kernel().gram(rows, double=True), y, sample_weight=w)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        rows = self._prepare(X, reset=False)
        return self.model_.predict(self._kernel().gram(rows, self.train_rows_, double=True))


def one_vs_one_accuracy(gram_train: np.ndarray, y_train: np.ndarray, gram_test: np.ndarray, y_test: np.ndarray,
                        *, C: float = 1.0) -> float:
    """Test accuracy of ``SVC(kernel="precomputed", C=C)`` (one-vs-one internally, as MNISQ) on given Grams."""
    from sklearn.svm import SVC

    clf = SVC(kernel="precomputed", C=C)
    clf.fit(gram_train, y_train)
    return float(clf.score(gram_test, y_test))
