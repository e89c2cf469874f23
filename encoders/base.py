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

The PennyLane template (``qcstar.encoders.pennylane``) and the Qiskit feature map (``qcstar.encoders.qiskit``)
are built from this pair, so that an external framework binds per-sample numbers into one fixed
circuit structure instead of rebuilding a circuit per sample. Templates themselves (placeholders,
binding, splitting a batch) are :mod:`qcstar.circuits.template`.

One sample or a batch
---------------------
An encoder reads its input with the shape of ONE sample, ``sample_shape``: given to the
constructor (``AmplitudeEncoder(sample_shape=(8, 8))``), learned by ``fit(batch)``, or implied
by the encoder (``CStarEncoder`` uses its net's ``in_shape``). With ``sample_shape = S``
(``D = prod(S)`` values):

* ``S`` or ``(D,)``: one sample; ``(B, *S)`` or ``(B, D)``: a batch; anything else is a
  :class:`~qcstar.circuits.errors.ShapeError` naming these shapes.

Without a sample shape the encoder reads ``(B, H, W)`` as a batch of images, ``(D,)`` as one
flat sample and a 2-D ``(B, D)`` as a batch of flat samples (scikit-learn's
``(n_samples, n_features)``, PennyLane's broadcasting), except a *square* 2-D input ``(m, m)``:
that is the shape of one image as much as of a batch, so it is refused with a ShapeError saying
how to tell the encoder (``sample_shape=``, ``fit``, ``x[None]`` or ``x.reshape(1, -1)``) rather
than silently encoding the image's rows as ``m`` samples.

One sample gives a batch of one: ``states(one_sample)`` has shape ``(1, 2**n)`` and
``circuits(one_sample)`` one circuit, so the result's first axis always counts samples (as
scikit-learn's ``transform`` does).

Values are validated at this boundary: NaN, infinite and (for encoders of real data) complex
values are refused, and so is an all-zero sample for encoders that normalise. Very large or
very small finite values: amplitude normalisation rescales first, so pixels of ``1e200`` still
give the right unit vector; encoders that turn values into gate angles (angle, C*-net) refuse
samples whose angles are infinite or beyond :data:`MAX_ANGLE` (:func:`check_angles`).

Example::

    from qcstar.encoders import AmplitudeEncoder
    enc = AmplitudeEncoder()                 # MNISQ: 28x28 -> 10 qubits
    psi = enc.states(images)                 # (B, 1024) complex128
    circs = enc.circuits(images[:2])         # [Circuit, Circuit]
    one = AmplitudeEncoder(sample_shape=(28, 28)).states(images[0])   # (1, 1024)
"""

from __future__ import annotations

import abc
import math
from typing import Any, Sequence

import numpy as np
import torch

from qcstar.circuits import Circuit, ConfigError, DataError, ShapeError
from qcstar.circuits.resources import check_memory, state_bytes
from qcstar.circuits.template import bind_template, placeholder_indices, templatize, unbatch  # noqa: F401  (re-exported)

Tensor = torch.Tensor

__all__ = [
    "Encoder", "SampleError", "bind_template", "templatize", "unbatch", "validate_images", "placeholder_indices",
    "resize_area", "split_batch", "check_state_memory", "check_angles", "MAX_ANGLE",
]


class SampleError(DataError, ShapeError):
    """A sample's values cannot be encoded: NaN, infinite, all zero, or overflowing angles.

    A :class:`~qcstar.circuits.errors.DataError` (the data is bad, not the call); it also derives
    from :class:`~qcstar.circuits.errors.ShapeError`, the class AQCE's preprocessing raised for
    these cases before the encoders shared one validation, so existing ``except`` clauses hold.
    """


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


def check_sample_shape(sample_shape: Any, owner: str) -> tuple[int, ...] | None:
    """Validate a ``sample_shape=`` argument: ``None`` or a non-empty tuple of positive ints."""
    if sample_shape is None:
        return None
    if isinstance(sample_shape, (int, np.integer)) and not isinstance(sample_shape, bool):
        sample_shape = (int(sample_shape),)
    try:
        shape = tuple(sample_shape)
    except TypeError:
        shape = ()
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and int(s) >= 1 for s in shape):
        raise ConfigError(
            f"{owner}: sample_shape must be the shape of one sample, a tuple of positive ints such as (28, 28) "
            f"or (64,), got {sample_shape!r}"
        )
    return tuple(int(s) for s in shape)


def _shape_hint(shape: tuple[int, ...]) -> str:
    if len(shape) == 4:
        return "drop the channel axis, e.g. x[:, 0] (one (H, W) image is x[None])"
    return "reshape it (one (H, W) image is x[None])"


def _read_batch(t: Tensor, *, name: str, single: bool, batch: bool, sample_shape: tuple[int, ...] | None) -> Tensor:
    """``t`` as a batch: ``(B, *sample_shape)`` when the sample shape is known, else (B, D) / (B, H, W)."""
    shape = tuple(t.shape)
    if t.dim() >= 2 and t.shape[0] == 0:
        raise ShapeError(f"{name}: got an empty batch (shape {shape}); pass at least one sample")
    if t.numel() == 0:
        raise ShapeError(f"{name}: every sample is empty (shape {shape}); each sample needs at least one value")
    if sample_shape is not None:
        s, d = sample_shape, math.prod(sample_shape)
        if shape == s or shape == (d,):
            return t.reshape(1, *s)
        if (t.dim() == len(s) + 1 and shape[1:] == s) or (t.dim() == 2 and shape[1] == d):
            out = t.reshape(shape[0], *s)
        else:
            what = "images" if len(s) == 2 else "samples"
            shown = ", ".join(map(str, s))
            raise ShapeError(
                f"{name}: expected a batch of {what} (B, {shown}) or flat samples (B, {d}), or one sample {s} or ({d},) "
                f"({name} takes {what} of shape {s}); got shape {shape}; {_shape_hint(shape)}"
            )
    elif t.dim() == 1:
        out = t.unsqueeze(0)  # one flat sample -> (1, D)
    elif t.dim() == 2:
        if single:
            out = t.unsqueeze(0)  # one (H, W) image
        elif shape[0] == shape[1] and shape[0] > 1 and not batch:
            m = shape[0]
            raise ShapeError(
                f"{name}: a {m}x{m} input is one {m}x{m} image or a batch of {m} samples of {m} values, and {name} "
                f"has no sample_shape to tell which; pass sample_shape=({m}, {m}) (or call fit(images)) to read it as "
                f"one image, sample_shape=({m},) to read it as a batch, or x[None] / x.reshape(1, -1) for one image"
            )
        else:
            out = t  # (B, D): scikit-learn's (n_samples, n_features)
    elif t.dim() == 3:
        out = t
    else:
        raise ShapeError(
            f"{name}: expected a batch of images (B, H, W), a batch of flat samples (B, D) or one sample (D,), "
            f"got shape {shape}; {_shape_hint(shape)}"
        )
    if single and out.shape[0] != 1:
        raise ShapeError(
            f"{name}: expected one sample of shape (D,) or (H, W) (or a batch of one, (1, H, W)), got shape {shape}; "
            "pick one sample, e.g. x[0]"
        )
    return out


def validate_images(
    x: Any,
    *,
    name: str,
    single: bool = False,
    batch: bool = False,
    sample_shape: Sequence[int] | None = None,
    allow_complex: bool = False,
    allow_zero: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Check samples and return them as a batch: ``(B, *sample_shape)``, else ``(B, H, W)`` or ``(B, D)``.

    Args:
        x: numpy array, torch tensor or nested list; see the module docstring for the shapes.
        name: the encoder's name, used in every message (e.g. ``"AmplitudeEncoder"``).
        single: ``x`` is exactly one sample: ``(D,)``, ``(H, W)``, or a batch of one.
        batch: ``x`` is known to be a batch (``fit``'s input): a square 2-D input is ``(B, D)``.
        sample_shape: the shape of one sample, when known (see the module docstring).
        allow_complex: accept complex values (otherwise they are a :class:`ShapeError`).
        allow_zero: accept samples that are identically zero.
        dtype: the result's dtype; default float64 (complex128 for complex input).

    Raises:
        ShapeError: wrong number of dimensions, an ambiguous square 2-D input without a sample
            shape, an empty batch or empty samples, complex values where real ones are needed,
            or a non-numeric array.
        SampleError: NaN or infinite values, or an all-zero sample (unless ``allow_zero``).

    Example::

        x = validate_images(np.zeros((4, 28, 28)) + 1, name="AmplitudeEncoder")   # (4, 28, 28)
        one = validate_images(image, name="E", sample_shape=(28, 28))            # (1, 28, 28)
    """
    t = _to_tensor(x, name)
    if t.is_complex() and not allow_complex:
        raise ShapeError(f"{name}: expected real-valued images, got a complex {tuple(t.shape)} array; pass x.real or abs(x)")
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.float64)
    if dtype is None:
        dtype = torch.complex128 if t.is_complex() else torch.float64
    t = _read_batch(t.to(dtype), name=name, single=single, batch=batch, sample_shape=check_sample_shape(sample_shape, name))

    flat = t.detach().reshape(t.shape[0], -1)
    finite = torch.isfinite(flat).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        kinds = []
        if bool(torch.isnan(flat).any()):
            kinds.append("NaN")
        if bool(torch.isinf(flat).any()):
            kinds.append("inf")
        raise SampleError(
            f"{name}: sample(s) {_first(bad)} contain {' and '.join(kinds)} values; "
            "replace them first (e.g. np.nan_to_num(x) or torch.nan_to_num(x)) or drop those samples "
            "(NaN or inf values have no encoding)"
        )
    if not allow_zero:
        zero = (flat == 0).all(dim=1)
        if bool(zero.any()):
            bad = torch.nonzero(zero).flatten()
            raise SampleError(
                f"{name}: sample(s) {_first(bad)} are all zero, which has no encoding (nothing to normalise); "
                "drop blank images or add a constant offset before encoding"
            )
    return t


def check_state_memory(n_qubits: int, batch: int, *, what: str, dtype: torch.dtype = torch.complex128, factor: float = 3.0) -> None:
    """Refuse, before allocating, ``batch`` states of ``n_qubits`` qubits that exceed the memory cap.

    ``factor`` counts the buffers alive at once (an encoder holds its input, the padded vector
    and the result). See :mod:`qcstar.circuits.resources` for the cap and how to raise it.
    """
    itemsize = torch.empty(0, dtype=dtype).element_size()
    check_memory(state_bytes(n_qubits, batch, itemsize=itemsize), f"{what}: {batch} state(s) of {n_qubits} qubits", factor=factor)


#: Largest angle magnitude an encoder accepts: beyond 2**50 (about 1.1e15) neighbouring floats are
#: 0.25 rad apart, so the angle carries no information about the sample.
MAX_ANGLE = 2.0**50


def check_angles(angles: Tensor, *, name: str) -> Tensor:
    """Refuse samples whose gate angles are NaN, infinite or beyond :data:`MAX_ANGLE` (e.g. pixels
    of 1e200 times pi): such angles overflow or carry no information. Returns ``angles``."""
    a = angles.detach().reshape(angles.shape[0], -1)
    bad = ~(torch.isfinite(a) & (a.abs() <= MAX_ANGLE)).all(dim=1)
    if bool(bad.any()):
        raise SampleError(
            f"{name}: sample(s) {_first(torch.nonzero(bad).flatten())} give gate angles that are infinite, NaN or "
            f"beyond {MAX_ANGLE:.3g} rad (where they carry no information): the values are far outside the range "
            "expected; rescale the input (e.g. divide by its maximum, or set max_value= / scale=)"
        )
    return angles


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

    #: the shape of one sample, when known (see the module docstring); set by ``fit`` or the constructor
    sample_shape: tuple[int, ...] | None = None

    # -- required ------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_qubits(self) -> int:
        """Number of qubits of the encoded states."""

    @abc.abstractmethod
    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        """Encoded states ``(B, 2**n)`` of the samples ``x`` (one sample gives ``(1, 2**n)``)."""

    @abc.abstractmethod
    def circuits(self, x: Any) -> list[Circuit]:
        """One :class:`circuits.Circuit` per sample; simulating it from |0...0> gives ``states(x)``."""

    @abc.abstractmethod
    def _key(self) -> tuple:
        """Everything that determines the encoding (configuration and fitted state), hashable."""

    # -- fitting -------------------------------------------------------------------
    def fit(self, x: Any) -> "Encoder":
        """Learn the shape of one sample from a batch ``x`` (``(B, H, W)`` or ``(B, D)``; ``(D,)`` is
        one sample). Afterwards one sample of that shape and a batch are never confused.
        Returns self.

        Raises:
            ShapeError: the batch's samples disagree with an already known ``sample_shape``.
        """
        t = self._validate(x, allow_complex=True, allow_zero=True, batch=True)  # checks a known shape
        if self.sample_shape is None:
            self.sample_shape = tuple(int(s) for s in t.shape[1:])
        return self

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
        return validate_images(x, name=self.name, sample_shape=self.sample_shape, **kw)


def as_encoder(obj: Any, where: str) -> Any:
    """Accept an :class:`Encoder`, or any object with ``states``, ``circuits`` and ``n_qubits`` (duck typing)."""
    if isinstance(obj, Encoder) or all(hasattr(obj, a) for a in ("states", "circuits", "n_qubits")):
        return obj
    raise ConfigError(f"{where} expects an encoder (states, circuits, n_qubits), got {type(obj).__name__}")


def encoder_name(obj: Any) -> str:
    return str(getattr(obj, "name", None) or type(obj).__name__)


def is_parametric(obj: Any) -> bool:
    return bool(getattr(obj, "is_parametric", False))


def check_positive_int(value: Any, what: str, owner: str, *, minimum: int = 1) -> int:
    """Validate a constructor argument that must be an int >= minimum (a :class:`ConfigError` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(f"{owner}: {what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_finite_float(value: Any, what: str, owner: str, *, positive: bool = False) -> float:
    """Validate a constructor argument that must be a finite (optionally positive) real number."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if isinstance(value, bool) or not math.isfinite(f) or (positive and f <= 0):
        raise ConfigError(f"{owner}: {what} must be a {'positive ' if positive else ''}finite number, got {value!r}")
    return f


def split_batch(circuit: Circuit) -> list[Circuit]:
    """One unbatched circuit per sample (``Circuit.select``); an unbatched circuit gives ``[circuit]``."""
    b = circuit.batch_size
    return [circuit] if b is None else [circuit.select(i) for i in range(b)]


def flatten_samples(x: Tensor) -> Tensor:
    """(B, H, W) or (B, D) -> (B, D), row-major (pixel (r, c) -> r * W + c)."""
    return x.reshape(x.shape[0], -1)


def resize_area(x: Tensor, size: int, *, name: str) -> Tensor:
    """Resize a batch to ``size x size`` by area averaging; ``(B, D)`` inputs must be square images.

    Returns ``(B, size, size)``. Every output pixel is the mean of the input pixels it covers
    (torch's adaptive average pooling), which keeps the intensity pattern of each block: what
    downsampling digits needs. This is the package's one image-resizing rule.
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
    return torch.nn.functional.adaptive_avg_pool2d(x.unsqueeze(1), (size, size)).squeeze(1)


def n_qubits_for_length(length: int) -> int:
    """Smallest n >= 1 with 2**n >= length."""
    return max(1, (int(length) - 1).bit_length())
