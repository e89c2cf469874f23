"""The kernel interface: inputs to states (or features), one Gram routine, PSD projection.

A kernel turns its inputs into a *representation* with :meth:`BaseKernel.prepare` (normalised
states for the fidelity kernel, Pauli features for the projected kernel) and evaluates a Gram
block between two representations with :meth:`BaseKernel.gram`. ``evaluate`` is the two steps
together; the SVM (:mod:`qcstar.kernels.svm`) calls them separately so that it prepares each
sample once and builds only the Gram blocks it needs.

Inputs, one of (keyword-only constructor arguments):

* nothing: ``x`` are states ``(N, 2**n)``, complex or real (exact amplitude states), checked
  to be normalised (raw data passed by mistake fails that check, whose message names ``encoder=``);
* ``encoder=``: anything with ``states(x)`` (a qcstar encoder), ``x`` is raw data, always a
  batch: a square ``(m, m)`` input is ``m`` samples, never one image;
* ``feature_map=``: a parameterised circuit bound to the whole ``(N, P)`` batch ``x`` and
  simulated in ONE batched :func:`qcstar.circuits.simulate` call. Accepted: a Qiskit
  ``QuantumCircuit`` with ``Parameter`` s (converted once by
  :func:`qcstar.circuits.interop.template_from_qiskit`; columns in ``qc.parameters`` order, as
  qiskit-machine-learning binds them), a qcstar template :class:`~qcstar.circuits.Circuit`,
  a parametric qcstar encoder (``x`` are its ``parameters``), or a PennyLane quantum
  function ``f(x)`` using parameter broadcasting (``qml.AngleEmbedding(x, ...)`` with ``x``
  of shape ``(N, P)``; every wire must carry an operation).
"""

from __future__ import annotations

import abc
import functools
import inspect
from typing import Any, Callable

import numpy as np
import torch

from qcstar.circuits.devices import resolve_device
from qcstar.circuits.errors import ConfigError, DataError, ShapeError

Tensor = torch.Tensor

__all__ = ["BaseKernel", "enforce_psd", "feature_map_states"]


def enforce_psd(matrix: np.ndarray) -> np.ndarray:
    """The nearest positive semi-definite matrix (Frobenius norm) to a symmetric ``matrix``:
    its negative eigenvalues clipped to zero. Shot-noise and low-precision Grams need it before
    an SVM, whose dual is only convex for a PSD kernel."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ShapeError(f"enforce_psd needs a square matrix, got shape {m.shape}")
    sym = 0.5 * (m + m.T)
    w, v = np.linalg.eigh(sym.astype(np.float64))
    if w.min(initial=0.0) >= 0:
        return m
    return ((v * np.clip(w, 0.0, None)) @ v.T).astype(m.dtype)


def _is_qiskit_circuit(obj: Any) -> bool:
    return any(cls.__module__.startswith("qiskit") and cls.__name__ == "QuantumCircuit" for cls in type(obj).__mro__)


def _as_real_parameters(x: Any) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.is_complex():
        raise ShapeError("feature-map inputs must be real parameter rows (N, P), got complex values")
    t = t.to(torch.float64)
    if t.dim() == 1:
        t = t[None]
    if t.dim() != 2:
        raise ShapeError(f"feature-map inputs must be parameter rows (N, P), got shape {tuple(t.shape)}")
    return t


def feature_map_states(feature_map: Any) -> Callable[[Any, torch.dtype, Any], Tensor]:
    """A function ``(x, dtype, device) -> states (N, 2**n)`` for a parameterised feature map.

    The conversion (e.g. a Qiskit circuit to a template) happens once, here; each call binds the
    whole batch and simulates it once. See the module docstring for what is accepted.
    """
    from qcstar.circuits import Circuit, simulate
    from qcstar.circuits.template import bind_template

    if _is_qiskit_circuit(feature_map):
        from qcstar.circuits.interop import template_from_qiskit

        template = template_from_qiskit(feature_map)
        return lambda x, dtype, device: template.states(_as_real_parameters(x), dtype=dtype, device=device)
    if isinstance(feature_map, Circuit):
        if not feature_map.metadata.get("template"):
            raise ConfigError(
                "feature_map: a Circuit must be a template (metadata['template'] True, e.g. encoder.template_circuit() "
                "or qcstar.circuits.template.templatize(circuit)[0]); got a concrete circuit"
            )
        return lambda x, dtype, device: simulate(bind_template(feature_map, _as_real_parameters(x)), dtype=dtype, device=device)
    if bool(getattr(feature_map, "is_parametric", False)) and hasattr(feature_map, "template_circuit"):
        template_circuit = feature_map.template_circuit()
        return lambda x, dtype, device: simulate(bind_template(template_circuit, _as_real_parameters(x)), dtype=dtype,
                                                 device=device)
    if callable(feature_map):
        from qcstar.circuits.interop import from_pennylane

        def pennylane_states(x: Any, dtype: torch.dtype, device: Any) -> Tensor:
            t = _as_real_parameters(x)
            circuit = from_pennylane(functools.partial(feature_map, t))
            psi = simulate(circuit, dtype=dtype, device=device)
            return psi if psi.dim() == 2 else psi.expand(t.shape[0], -1)

        return pennylane_states
    raise ConfigError(
        f"feature_map must be a Qiskit QuantumCircuit with Parameters, a qcstar template Circuit, a parametric "
        f"encoder or a PennyLane quantum function f(x); got {type(feature_map).__name__}"
    )


def _check_same_size(x: Any, y: Any) -> None:
    nx, ny = np.shape(x)[-1], np.shape(y)[-1]
    if nx != ny:
        raise ShapeError(f"states of different sizes: {nx} and {ny} amplitudes; both sides need the same qubit count")


def _encode_batch(encoder: Any, x: Any) -> Any:
    """``encoder.states(x)`` for a batch ``x`` (a kernel's inputs are always a batch, as
    qiskit-machine-learning's ``evaluate(x_vec)``). An encoder without a ``sample_shape`` refuses a
    square ``(m, m)`` input as ambiguous (one m x m image, or m samples); here it is m samples, so
    it is encoded in two parts that are not square."""
    shape = getattr(x, "shape", None)
    if (shape is not None and len(shape) == 2 and shape[0] == shape[1] > 1
            and getattr(encoder, "sample_shape", ()) is None):
        head, tail = encoder.states(x[:-1]), encoder.states(x[-1:])
        if isinstance(head, Tensor):
            return torch.cat([head, tail])
        return np.concatenate([np.asarray(head), np.asarray(tail)])
    return encoder.states(x)


class BaseKernel(abc.ABC):
    """A kernel on quantum states: ``evaluate(x_vec, y_vec=None) -> np.ndarray`` (as qiskit-machine-learning).

    Keyword-only arguments shared by every kernel:

    * ``encoder``: turns raw data into states (``encoder.states(x)``);
    * ``feature_map``: a parameterised circuit bound to the whole batch (module docstring);
    * ``tile``: rows per Gram block (bounds the temporary memory);
    * ``device``: torch device of the Gram blocks (``"cuda"`` for a GPU);
    * ``dtype``: ``torch.complex64`` (default, float32 Grams) or ``torch.complex128``;
    * ``enforce_psd``: clip negative eigenvalues of symmetric Grams (``evaluate(x)``);
    * ``norm_tol``: how far ``||psi||^2`` may be from 1 before input states are rejected.

    ``get_params`` / ``set_params`` follow scikit-learn's estimator convention (the constructor's
    arguments, as given), so a kernel inside ``QuantumKernelSVC`` is tuned by name:
    ``GridSearchCV(QuantumKernelSVC(kernel=ProjectedKernel()), {"kernel__gamma": [0.5, 1, 2]})``.
    """

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording_init(self: "BaseKernel", *args: Any, **kw: Any) -> None:
            # the outermost constructor records the arguments exactly as given (scikit-learn's clone
            # checks that get_params returns the very objects passed in)
            if "_given_params" not in self.__dict__:
                self.__dict__["_given_params"] = dict(kw)
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        """Every keyword-only constructor argument along the class chain, with its default."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is p.KEYWORD_ONLY:
                    out[p.name] = p.default
        return out

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn convention); ``deep`` adds ``name__sub`` entries of
        arguments that have parameters themselves."""
        given = self.__dict__.get("_given_params", {})
        params = {name: given.get(name, default) for name, default in self._param_defaults().items()}
        if deep:
            for name, value in list(params.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    params.update({f"{name}__{k}": v for k, v in value.get_params().items()})
        return params

    def set_params(self, **params: Any) -> "BaseKernel":
        """Change constructor arguments (``set_params(gamma=2.0)``; ``encoder__size=8`` reaches into
        an argument with parameters). The kernel is rebuilt and checked as by its constructor; on
        a bad value it raises and stays as it was."""
        if not params:
            return self
        defaults = self._param_defaults()
        given = dict(self.__dict__.get("_given_params", {}))
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in defaults:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}; its parameters are "
                                  f"{', '.join(sorted(defaults))}")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                given[name] = value
        for name, sub_params in nested.items():
            inner = given.get(name, defaults[name])
            if not hasattr(inner, "set_params"):
                raise ConfigError(f"{type(self).__name__}.{name} ({type(inner).__name__}) has no parameters to set")
            given[name] = inner.set_params(**sub_params)
        rebuilt = type(self)(**given)  # validates; self is untouched if this raises
        self.__dict__.clear()
        self.__dict__.update(rebuilt.__dict__)
        return self

    def __init__(self, *, encoder: Any | None = None, feature_map: Any | None = None, tile: int = 4096,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.complex64,
                 enforce_psd: bool = False, norm_tol: float = 1e-5):
        if encoder is not None and feature_map is not None:
            raise ConfigError("pass either encoder= (raw data -> states) or feature_map= (parameter rows -> states), not both")
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
            raise ConfigError(f"tile must be a positive number of rows, got {tile!r}")
        if dtype not in (torch.complex64, torch.complex128):
            raise ConfigError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        if not (isinstance(norm_tol, (int, float)) and 0 < norm_tol < 1):
            raise ConfigError(f"norm_tol must be a number in (0, 1), got {norm_tol!r}")
        if encoder is not None and not hasattr(encoder, "states"):
            raise ConfigError(f"encoder must have a states(x) method (a qcstar encoder), got {type(encoder).__name__}")
        self.encoder = encoder
        self.feature_map = feature_map
        self._feature_states = None if feature_map is None else feature_map_states(feature_map)
        self.tile = int(tile)
        resolve_device(device)  # a clear ConfigError now for a device this machine lacks (kept as given)
        self.device = device
        self.dtype = dtype
        self.enforce_psd = bool(enforce_psd)
        self.norm_tol = float(norm_tol)

    # -- inputs -> states ------------------------------------------------------------
    @property
    def takes_states(self) -> bool:
        """True when inputs are states themselves (no encoder, no feature map)."""
        return self.encoder is None and self._feature_states is None

    def states(self, x: Any, *, dtype: torch.dtype | None = None) -> Tensor:
        """Normalised states ``(N, 2**n)`` of ``x`` (through the encoder or feature map when set)."""
        dtype = self.dtype if dtype is None else dtype
        if self.encoder is not None:
            s = _encode_batch(self.encoder, x)
        elif self._feature_states is not None:
            s = self._feature_states(x, dtype, None)
        else:
            # states as they are, complex or real (exact amplitude states, MNISQ's 'state' files); raw data
            # passed here by mistake is caught by the normalisation check, whose message names encoder=
            s = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
            if s.dtype == torch.bool or not (s.is_complex() or s.is_floating_point()):
                s = s.to(torch.float64)
        if not isinstance(s, Tensor):
            s = torch.as_tensor(np.asarray(s))
        if s.dim() != 2 or s.shape[0] == 0:
            raise ShapeError(f"kernel input must be a non-empty batch of states (N, 2**n), got shape {tuple(s.shape)}")
        dim = int(s.shape[1])
        if dim & (dim - 1):
            raise ShapeError(f"states must have 2**n amplitudes, got {dim} per state; pad them to a power of two")
        self._check_normalised(s)
        return s.to(dtype=dtype)

    def _check_normalised(self, s: Tensor) -> None:
        norms = s.detach().abs().square().sum(dim=1, dtype=torch.float64) if not s.is_complex() else \
            torch.view_as_real(s.detach()).to(torch.float64).square().sum(dim=(1, 2))
        off = (norms - 1.0).abs()
        bad = torch.nonzero(~(off <= self.norm_tol)).flatten()  # NaN counts as bad
        if bad.numel():
            i = int(bad[0])
            if not torch.isfinite(norms[i]):
                raise DataError(f"{bad.numel()} of {s.shape[0]} input states are not normalised: state {i} contains "
                                "NaN or infinite amplitudes")
            raise DataError(
                f"{bad.numel()} of {s.shape[0]} input states are not normalised (state {i} has squared norm "
                f"{float(norms[i]):.6g}, expected 1 within norm_tol={self.norm_tol:g}); divide each state by its norm, "
                "or pass encoder=... / feature_map=... to build normalised states from data"
            )

    # -- the two steps ---------------------------------------------------------------
    def prepare(self, x: Any, *, double: bool = False) -> Tensor:
        """What :meth:`gram` consumes, for inputs ``x`` (states unless a subclass says otherwise)."""
        self._exact_only("prepare")
        return self.states(x, dtype=torch.complex128 if double else None)

    def _exact_only(self, what: str) -> None:
        """Refuse the exact two-step path (prepare, gram) on a kernel estimated with shots."""
        if getattr(self, "shot_settings", None) is not None:
            raise ConfigError(
                f"{type(self).__name__}(shots=...) estimates whole Grams with evaluate(); {what}() is the exact path "
                "(used by QuantumKernelSVC). Pass kernel.evaluate(x_train) and kernel.evaluate(x_test, x_train) to "
                "sklearn.svm.SVC(kernel='precomputed') instead"
            )

    @abc.abstractmethod
    def gram(self, a: Tensor, b: Tensor | None = None, *, double: bool = False,
             out: np.ndarray | None = None) -> np.ndarray:
        """The Gram block ``K[i, j] = k(a_i, b_j)`` of two prepared inputs (``b=None``: ``a`` with itself).
        ``double=True`` accumulates and returns float64 (what an SVM needs); ``out``: an array (or a
        view) to write the block into, so that a caller assembling a larger Gram needs no copy."""

    def evaluate(self, x_vec: Any, y_vec: Any | None = None) -> np.ndarray:
        """The kernel matrix ``(N, M)`` between ``x_vec`` and ``y_vec`` (``(N, N)`` when ``y_vec`` is None)."""
        if y_vec is not None and self.takes_states:
            _check_same_size(x_vec, y_vec)  # before the normalisation check: the more basic mistake first
        a = self.prepare(x_vec)
        if y_vec is None:
            out = self.gram(a)
            return enforce_psd(out) if self.enforce_psd else out
        return self.gram(a, self.prepare(y_vec))

    def __repr__(self) -> str:
        """The arguments that differ from their defaults, as scikit-learn prints estimators."""
        shown = []
        for name, default in self._param_defaults().items():
            value = self.__dict__.get("_given_params", {}).get(name, default)
            if value is default:
                continue
            text = repr(value)
            if name == "feature_map" or len(text) > 200:
                text = f"<{type(value).__name__}>"
            shown.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"
