"""The encoder interface, shared input validation, and parameter templates.

Every encoder maps a batch of classical samples (images or feature vectors) to

* ``states(x) -> torch.Tensor (B, 2**n)``, complex, Qiskit's little-endian qubit order;
* ``circuits(x) -> list[circuits.Circuit]``, one circuit per sample, which simulate to the
  same states (a test checks this for every encoder).

Parametric encoders additionally expose a data-independent circuit *template* and the numbers
that fill it:

* ``template_circuit() -> Circuit`` whose data-dependent gate parameters are placeholders;
* ``parameters(x) -> torch.Tensor (B, P)``, the values to bind, so that
  ``bind_template(template_circuit(), parameters(x))`` is the batched circuit of ``x``.

The PennyLane template (``encoders.pennylane``) and the Qiskit feature map (``encoders.qiskit``)
are built from this pair, so that an external framework binds per-sample numbers into one fixed
circuit structure instead of rebuilding a circuit per sample.

Placeholders: in a template every parameter of every parametric op is the float-valued *index*
of an entry of the parameter vector (a 0-d tensor, or a ``(2**m,)`` tensor of indices for an op
multiplexed over ``m`` wires). Templates are built by calling the encoder's own circuit builder
on ``torch.arange(P)``, so builder and template cannot drift apart. Ops without parameters
(CX, H, X, fixed ``unitary`` matrices) are constants of the template. A data-dependent global
phase is a placeholder too, named by ``metadata["phase_index"]``.

Accepted inputs (numpy arrays, torch tensors, or nested lists of numbers):

* ``(B, H, W)``: a batch of images;
* ``(B, D)``: a batch of flat samples (scikit-learn's ``(n_samples, n_features)``);
* ``(D,)``: one flat sample.

A 2-D input is always read as a batch ``(B, D)``, never as one ``(H, W)`` image, because
``(64, 64)`` could be either; pass one image as ``x[None]`` (shape ``(1, H, W)``). Functions
that take exactly one sample (``to_qiskit``, ``to_pennylane`` with one image) read a 2-D input
as one ``(H, W)`` image instead (``validate_images(..., single=True)``).

Example::

    from qcstar.encoders import AmplitudeEncoder
    enc = AmplitudeEncoder()                 # MNISQ: 28x28 -> 10 qubits
    psi = enc.states(images)                 # (B, 1024) complex128
    circs = enc.circuits(images[:2])         # [Circuit, Circuit]
"""

from __future__ import annotations

import abc
import hashlib
import math
from typing import Any

import numpy as np
import torch

from qcstar.circuits import Circuit, DataError, ShapeError
from qcstar.circuits.template import bind_template, placeholder_indices, templatize, unbatch  # noqa: F401  (re-exported)

Tensor = torch.Tensor

__all__ = ["Encoder", "bind_template", "templatize", "unbatch", "validate_images", "tensor_digest", "placeholder_indices"]


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------

def _to_tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ShapeError(f"{name}: could not read the input as an array ({exc}); pass a numpy array or torch tensor") from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise ShapeError(
            f"{name}: expected numeric images, got an array of dtype {arr.dtype} (shape {arr.shape}); "
            "pass a numeric numpy array or torch tensor"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _first(indices: Tensor, k: int = 5) -> str:
    idx = indices.flatten().tolist()
    shown = ", ".join(str(i) for i in idx[:k])
    return shown + (f", ... ({len(idx)} in all)" if len(idx) > k else "")


def validate_images(
    x: Any,
    *,
    name: str,
    single: bool = False,
    allow_complex: bool = False,
    allow_zero: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Check a batch of samples and return it as a tensor ``(B, H, W)`` or ``(B, D)``.

    Args:
        x: numpy array, torch tensor or nested list; see the module docstring for the shapes.
        name: the encoder's name, used in every message (e.g. ``"AmplitudeEncoder"``).
        single: ``x`` is exactly one sample: ``(D,)``, ``(H, W)``, or a batch of one.
        allow_complex: accept complex values (otherwise they are a :class:`ShapeError`).
        allow_zero: accept samples that are identically zero.
        dtype: the result's dtype; default float64 (complex128 for complex input).

    Raises:
        ShapeError: wrong number of dimensions, an empty batch or empty samples, complex
            values where real ones are needed, or a non-numeric array.
        DataError: NaN or infinite values, or an all-zero sample (unless ``allow_zero``).

    Example::

        x = validate_images(np.zeros((4, 28, 28)) + 1, name="AmplitudeEncoder")   # (4, 28, 28)
    """
    t = _to_tensor(x, name)
    if t.is_complex() and not allow_complex:
        raise ShapeError(f"{name}: expected real-valued images, got a complex {tuple(t.shape)} array; pass x.real or abs(x)")
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.float64)
    if dtype is None:
        dtype = torch.complex128 if t.is_complex() else torch.float64
    t = t.to(dtype)

    shape = tuple(t.shape)
    if single:
        if t.dim() == 1:
            t = t.unsqueeze(0)  # (1, D)
        elif t.dim() == 2:
            t = t.unsqueeze(0)  # (1, H, W)
        elif not (t.dim() == 3 and shape[0] == 1):
            raise ShapeError(
                f"{name}: expected one sample of shape (D,) or (H, W) (or a batch of one, (1, H, W)), got shape {shape}; "
                "pick one sample, e.g. x[0]"
            )
    elif t.dim() == 1:
        t = t.unsqueeze(0)  # one flat sample -> (1, D)
    elif t.dim() not in (2, 3):
        hint = "drop the channel axis, e.g. x[:, 0]" if t.dim() == 4 else "reshape it"
        raise ShapeError(
            f"{name}: expected a batch of images (B, H, W), a batch of flat samples (B, D) or one sample (D,), "
            f"got shape {shape}; {hint}"
        )
    if t.shape[0] == 0:
        raise ShapeError(f"{name}: got an empty batch (shape {shape}); pass at least one sample")
    if any(s == 0 for s in t.shape[1:]):
        raise ShapeError(f"{name}: every sample is empty (shape {shape}); each sample needs at least one value")

    flat = t.detach().reshape(t.shape[0], -1)
    finite = torch.isfinite(flat).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        kinds = []
        if bool(torch.isnan(flat).any()):
            kinds.append("NaN")
        if bool(torch.isinf(flat).any()):
            kinds.append("inf")
        raise DataError(
            f"{name}: sample(s) {_first(bad)} contain {' and '.join(kinds)} values; "
            "replace them first (e.g. np.nan_to_num(x) or torch.nan_to_num(x)) or drop those samples"
        )
    if not allow_zero:
        zero = (flat == 0).all(dim=1)
        if bool(zero.any()):
            bad = torch.nonzero(zero).flatten()
            raise DataError(
                f"{name}: sample(s) {_first(bad)} are all zero, which has no encoding (nothing to normalise); "
                "drop blank images or add a constant offset before encoding"
            )
    return t


def tensor_digest(*items: Any) -> str:
    """A short content hash of tensors/arrays/plain values (for value-based encoder equality)."""
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, Tensor):
            a = item.detach().cpu().contiguous()
            h.update(str((a.dtype, tuple(a.shape))).encode())
            h.update(a.numpy().tobytes() if a.numel() else b"")
        elif isinstance(item, np.ndarray):
            h.update(str((item.dtype, item.shape)).encode())
            h.update(np.ascontiguousarray(item).tobytes())
        else:
            h.update(repr(item).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# the interface
# --------------------------------------------------------------------------------------

class Encoder(abc.ABC):
    """Abstract encoder: classical samples -> quantum states and circuits.

    Subclasses implement :attr:`n_qubits`, :meth:`states`, :meth:`circuits` and, when they are
    parametric, :meth:`parameters` and :meth:`template_circuit`. Encoders compare equal when
    their configuration (and fitted or trained state) is equal, so that they can serve as
    hashable hyperparameters of a PennyLane operation.

    Example::

        enc = AngleEncoder(n_qubits=4, size=2)
        psi = enc(images)                     # same as enc.states(images): (B, 16)
        assert enc.is_parametric
        values = enc.parameters(images)        # (B, enc.n_parameters)
    """

    #: name used in error messages
    name: str = "Encoder"

    # -- required ------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_qubits(self) -> int:
        """Number of qubits of the encoded states."""

    @abc.abstractmethod
    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        """Encoded states ``(B, 2**n)`` of the samples ``x`` (see the module docstring for shapes)."""

    @abc.abstractmethod
    def circuits(self, x: Any) -> list[Circuit]:
        """One :class:`circuits.Circuit` per sample; simulating it from |0...0> gives ``states(x)``."""

    @abc.abstractmethod
    def _key(self) -> tuple:
        """Everything that determines the encoding (configuration and fitted state), hashable."""

    # -- optional: parametric encoders --------------------------------------------
    @property
    def is_parametric(self) -> bool:
        """True when the encoder has a fixed template filled by :meth:`parameters`."""
        return type(self).parameters is not Encoder.parameters

    def parameters(self, x: Any) -> Tensor:
        """Template values ``(B, P)`` of the samples ``x`` (parametric encoders only)."""
        raise NotImplementedError(
            f"{self.name} is not parametric: it has no fixed circuit template. Use circuits(x) for per-sample circuits"
        )

    def template_circuit(self) -> Circuit:
        """The data-independent circuit with placeholders (parametric encoders only)."""
        raise NotImplementedError(
            f"{self.name} is not parametric: it has no fixed circuit template. Use circuits(x) for per-sample circuits"
        )

    def template_for(self, x: Any) -> Circuit:
        """The template that fits the samples ``x`` (differs from :meth:`template_circuit` only
        for encoders whose qubit count is inferred from the data)."""
        return self.template_circuit()

    def n_qubits_for(self, x: Any) -> int:
        """Qubit count used for the samples ``x`` (equal to :attr:`n_qubits` unless inferred from the data)."""
        return self.n_qubits

    @property
    def n_parameters(self) -> int:
        """Length P of the template's parameter vector."""
        return int(self.template_circuit().metadata["n_parameters"])

    def bind(self, values: Tensor) -> Circuit:
        """``bind_template(template_circuit(), values)``: the (batched) circuit for given values."""
        return bind_template(self.template_circuit(), values)

    # -- conveniences -------------------------------------------------------------
    def __call__(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        return self.states(x, dtype=dtype)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def _validate(self, x: Any, **kw: Any) -> Tensor:
        return validate_images(x, name=self.name, **kw)


def as_encoder(obj: Any, where: str) -> Any:
    """Accept an :class:`Encoder`, or any object with ``states``, ``circuits`` and ``n_qubits`` (duck typing)."""
    if isinstance(obj, Encoder) or all(hasattr(obj, a) for a in ("states", "circuits", "n_qubits")):
        return obj
    raise ShapeError(f"{where} expects an encoder (states, circuits, n_qubits), got {type(obj).__name__}")


def encoder_name(obj: Any) -> str:
    return str(getattr(obj, "name", None) or type(obj).__name__)


def is_parametric(obj: Any) -> bool:
    return bool(getattr(obj, "is_parametric", False))


def check_positive_int(value: Any, what: str, owner: str, *, minimum: int = 1) -> int:
    """Validate a constructor argument that must be an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ShapeError(f"{owner}: {what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def flatten_samples(x: Tensor) -> Tensor:
    """(B, H, W) or (B, D) -> (B, D), row-major (pixel (r, c) -> r * W + c)."""
    return x.reshape(x.shape[0], -1)


def resize_area(x: Tensor, size: int, *, name: str) -> Tensor:
    """Resize a batch to ``size x size`` by area averaging; ``(B, D)`` inputs must be square images.

    Returns ``(B, size, size)``. Area averaging (not interpolation) keeps the total intensity
    pattern of each block, which is what downsampling digits needs.
    """
    if x.dim() == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ShapeError(
                f"{name}: resizing needs images; got flat samples of length {x.shape[1]}, which is not a square. "
                "Pass (B, H, W) images or drop size="
            )
        x = x.reshape(x.shape[0], side, side)
    if x.is_complex():
        raise ShapeError(f"{name}: resizing needs real images")
    if tuple(x.shape[1:]) == (size, size):
        return x
    return torch.nn.functional.interpolate(x.unsqueeze(1), size=(size, size), mode="area").squeeze(1)


def n_qubits_for_length(length: int) -> int:
    """Smallest n >= 1 with 2**n >= length."""
    return max(1, (int(length) - 1).bit_length())
