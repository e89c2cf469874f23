"""Exact amplitude encoding with MNISQ's preprocessing, and its exact state-preparation circuit.

Preprocessing (MNISQ, arXiv:2306.16627), applied to each sample by :func:`mnisq_amplitudes`,
the package's one implementation of it (``AQCEEncoder`` uses it too):

1. optionally resize to ``size x size`` by area averaging (MNISQ itself does not resize);
2. flatten row-major (pixel (r, c) of a ``W``-wide image -> index ``r * W + c``);
3. divide by ``max_value`` (255 for 8-bit images);
4. zero-pad at the end to ``2**n`` entries;
5. L2-normalise (after dividing by the sample's largest magnitude, an exact no-op for the
   result that keeps pixels of ``1e200`` or ``1e-200`` from overflowing or underflowing the norm).

Amplitude ``k`` of the state is pixel ``k``, with Qiskit's little-endian order (qubit 0 is the
least significant bit of ``k``), so ``states(x)[:, :784].reshape(28, 28)`` gives the normalised
28x28 image back. A 28x28 image uses 10 qubits.

The qubit count follows the data unless fixed: ``n_qubits=``, ``size=`` (``size**2`` pixels) or
``sample_shape=`` (e.g. ``(8, 8)``: 6 qubits) fix it up front, so that :attr:`n_qubits` and
:meth:`template_circuit` work before any data is seen.

Circuit (a Möttönen-style binary tree, from the top qubit down): qubit ``n-1`` gets
``RY(2 atan2(|upper half|, |lower half|))``; qubit ``q`` then gets a multiplexed RY whose
``2**(n-1-q)`` angles are selected by the qubits above it (``Circuit.mux``, ``mux[0]`` = qubit
``q+1`` = least significant). Norms of sub-vectors make every angle in ``[0, pi]``; at the last
level (qubit 0) the angle is ``2 atan2(a_odd, a_even)`` of the *signed* amplitudes, which makes
real vectors with negative entries exact without any phase gate. Complex vectors get the tree
on the magnitudes, then a tree of multiplexed RZ (from qubit 0 up) for the relative phases and a
global phase. The circuit uses ``2**n - 1`` RY angles (plus ``2**n - 1`` RZ angles when complex).

Example::

    enc = AmplitudeEncoder()                  # MNISQ: 28x28 -> 10 qubits
    psi = enc.states(images)                  # (B, 1024), complex128
    (c,) = enc.circuits(images[:1])
    # circuits.simulate(c, dtype=torch.complex128) equals psi[0] to 1e-12
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from qcstar.circuits import Circuit, ConfigError, ShapeError

from .base import (
    Encoder,
    SampleError,
    check_finite_float,
    check_positive_int,
    check_sample_shape,
    check_state_memory,
    flatten_samples,
    n_qubits_for_length,
    resize_area,
    split_batch,
    validate_images,
)

Tensor = torch.Tensor

__all__ = ["AmplitudeEncoder", "mnisq_amplitudes"]

_PADS = ("end", "none")


def _check_fits(length: int, n: int, pad: str, name: str) -> None:
    if length > 2**n:
        raise ShapeError(
            f"{name}: {length} values do not fit in 2**{n} = {2**n} amplitudes; "
            f"use n_qubits={n_qubits_for_length(length)} (or more), resize the images (size=), "
            "or let the qubit count be inferred (n_qubits=None)"
        )
    if pad == "none" and length != 2**n:
        raise ShapeError(
            f"{name}(pad='none') needs exactly 2**{n} = {2**n} values per sample, got {length}; "
            "use pad='end' to zero-pad"
        )


def _resolve_n(length: int, n_qubits: int | None, pad: str, name: str) -> int:
    n = n_qubits if n_qubits is not None else n_qubits_for_length(length)
    if pad == "none" and n_qubits is None and length != 2**n:
        raise ShapeError(
            f"{name}(pad='none') needs a power-of-two number of values per sample, got {length}; "
            "use pad='end' to zero-pad"
        )
    _check_fits(length, n, pad, name)
    return n


def mnisq_amplitudes(
    x: Any,
    *,
    n_qubits: int | None = None,
    max_value: float = 255.0,
    pad: str = "end",
    size: int | None = None,
    sample_shape: Sequence[int] | None = None,
    single: bool = False,
    allow_complex: bool = True,
    dtype: torch.dtype | None = None,
    name: str = "mnisq_amplitudes",
) -> Tensor:
    """MNISQ's amplitude preprocessing (arXiv:2306.16627): the unit vectors ``(B, 2**n)`` of ``x``.

    Validates ``x`` (:func:`qcstar.encoders.base.validate_images`: shapes, NaN/inf, all-zero samples),
    optionally resizes to ``size x size``, flattens row-major, divides by ``max_value``, zero-pads
    at the end to ``2**n`` (``n = n_qubits``, or the smallest that fits) and L2-normalises, after
    dividing each sample by its largest magnitude so that the norm neither overflows nor
    underflows. Pixel ``k`` is basis state ``k`` (qubit 0 = least significant bit).

    Returns float64 (complex128 for complex input) unless ``dtype`` is given.

    Raises:
        ShapeError: shapes (see ``validate_images``), too many values for ``n_qubits``.
        SampleError: NaN/inf values or all-zero samples.
        ResourceError: the vectors would not fit in the memory cap.

    Example::

        t = mnisq_amplitudes(np.ones((2, 28, 28)))    # (2, 1024), t[:, 784:] == 0
    """
    t = validate_images(x, name=name, single=single, sample_shape=sample_shape, allow_complex=allow_complex)
    if size is not None:
        t = resize_area(t, size, name=name)
    flat = flatten_samples(t) / max_value  # (B, D)
    n = _resolve_n(flat.shape[1], n_qubits, pad, name)
    check_state_memory(n, flat.shape[0], what=name, dtype=flat.dtype)
    dim = 2**n
    if flat.shape[1] < dim:
        flat = torch.nn.functional.pad(flat, (0, dim - flat.shape[1]))  # zeros at the end
    peak = flat.abs().amax(dim=1, keepdim=True)  # (B, 1)
    zero = peak[:, 0] == 0
    if bool(zero.any()):  # only reachable through resizing signed images
        bad = torch.nonzero(zero).flatten().tolist()
        raise SampleError(f"{name}: sample(s) {bad[:5]} are all zero after resizing; drop them or use size=None")
    flat = flat / peak
    out = flat / torch.linalg.vector_norm(flat, dim=1, keepdim=True)
    return out if dtype is None else out.to(dtype)


def _ry_tree_angles(a: Tensor, n: int, *, signed_last: bool) -> Tensor:
    """RY angles of the binary tree for real amplitudes ``a`` (B, 2**n) -> (B, 2**n - 1).

    Layout: level m (target qubit n-1-m, multiplexed by the m qubits above) occupies entries
    ``[2**m - 1, 2**(m+1) - 1)``; within a level entry j is the value of those m qubits.
    """
    b = a.shape[0]
    p = a.square()
    out = []
    for m in range(n):
        q = n - 1 - m
        if q == 0 and signed_last:
            pairs = a.reshape(b, 2**m, 2)  # index = 2 j + bit0
            lo, hi = pairs[..., 0], pairs[..., 1]
        else:
            # index k = j 2**(q+1) + bit_q 2**q + low  ->  (j, bit_q, low)
            half = p.reshape(b, 2**m, 2, 2**q).sum(-1).sqrt()
            lo, hi = half[..., 0], half[..., 1]
        out.append(2 * torch.atan2(hi, lo))  # (B, 2**m)
    return torch.cat(out, dim=-1)


def _build_ry_tree(values: Tensor, n: int) -> Circuit:
    """The RY tree from angle values (P,) or (B, P), P = 2**n - 1 (also builds the template)."""
    c = Circuit(n)
    for m in range(n):
        q = n - 1 - m
        seg = values[..., 2**m - 1: 2 ** (m + 1) - 1]
        if m == 0:
            c.ry(seg[..., 0], q)
        else:
            c.mux("ry", seg, q, list(range(q + 1, n)))
    return c


def _append_phase_tree(c: Circuit, phases: Tensor, n: int) -> None:
    """Append diag(exp(i phases)) (B, 2**n) as multiplexed RZ from qubit 0 up, plus a global phase."""
    b = phases.shape[0]
    phi = phases
    for q in range(n):
        pairs = phi.reshape(b, 2 ** (n - 1 - q), 2)
        # RZ(alpha) = diag(e^{-i alpha/2}, e^{i alpha/2}) moves the pair mean to the two phases
        alpha = pairs[..., 1] - pairs[..., 0]
        phi = pairs.mean(-1)
        if q == n - 1:
            c.rz(alpha[..., 0], q)
        else:
            c.mux("rz", alpha, q, list(range(q + 1, n)))
    c.global_phase = phi[..., 0]


class AmplitudeEncoder(Encoder):
    """Exact amplitude encoding (MNISQ preprocessing) with an exact state-preparation circuit.

    Args:
        n_qubits: number of qubits; ``None`` infers the smallest n with ``2**n >= pixels``
            (from ``size`` or ``sample_shape`` when given, else from each input).
        size: resize images to ``size x size`` (area averaging) first; ``None`` keeps them.
        max_value: pixel scale (divided out before normalising, as MNISQ does).
        pad: ``"end"`` zero-pads at the end (MNISQ); ``"none"`` requires exactly ``2**n`` values.
        sample_shape: the shape of one sample, e.g. ``(28, 28)``: one image and a batch are then
            never confused, and the qubit count is known up front (see :mod:`qcstar.encoders.base`).

    The encoder is parametric for real data: ``parameters(x)`` are the ``2**n - 1`` RY angles of
    the tree and ``template_circuit()`` the tree with placeholders. Complex data has no fixed
    template (its circuits carry an extra RZ tree); use ``circuits(x)``.

    Example::

        enc = AmplitudeEncoder()                        # 28x28 -> 10 qubits
        psi = enc.states(mnist_batch)                    # (B, 1024)
        small = AmplitudeEncoder(size=8)                 # 64 pixels -> 6 qubits
        theta = small.parameters(mnist_batch)            # (B, 63)
        AmplitudeEncoder(sample_shape=(8, 8)).n_qubits   # 6, before any data
    """

    name = "AmplitudeEncoder"

    def __init__(
        self,
        *,
        n_qubits: int | None = None,
        size: int | None = None,
        max_value: float = 255.0,
        pad: str = "end",
        sample_shape: Sequence[int] | None = None,
    ) -> None:
        self._n = None if n_qubits is None else check_positive_int(n_qubits, "n_qubits", self.name)
        self.size = None if size is None else check_positive_int(size, "size", self.name)
        self.max_value = check_finite_float(max_value, "max_value", self.name, positive=True)
        if pad not in _PADS:
            raise ConfigError(f"{self.name}: pad must be one of {_PADS}, got {pad!r}")
        self.pad = pad
        self.sample_shape = check_sample_shape(sample_shape, self.name)
        length = self._known_length()
        if length is not None:
            _resolve_n(length, self._n, self.pad, self.name)

    def _known_length(self) -> int | None:
        """Values per sample after resizing, when the configuration fixes it."""
        if self.size is not None:
            return self.size * self.size
        if self.sample_shape is not None:
            return math.prod(self.sample_shape)
        return None

    # -- qubit count ---------------------------------------------------------------
    @property
    def n_qubits(self) -> int:
        if self._n is not None:
            return self._n
        length = self._known_length()
        if length is not None:
            return _resolve_n(length, None, self.pad, self.name)
        raise ShapeError(
            f"{self.name}(n_qubits=None, size=None, sample_shape=None) infers the qubit count from each input, "
            "so it has none before seeing data; fix it up front with n_qubits= (e.g. 10 for MNIST), "
            "sample_shape= (e.g. (8, 8) for 6 qubits), size= or fit(images), or ask n_qubits_for(x)"
        )

    def n_qubits_for(self, x: Any) -> int:
        t = self._validate(x, allow_complex=True)
        if self.size is not None:
            t = resize_area(t, self.size, name=self.name)
        return _resolve_n(flatten_samples(t).shape[1], self._n, self.pad, self.name)

    # -- preprocessing -------------------------------------------------------------
    def amplitudes(self, x: Any, *, single: bool = False) -> Tensor:
        """The normalised, padded vectors ``(B, 2**n)`` (float64, or complex128 for complex input);
        :func:`mnisq_amplitudes` with this encoder's configuration."""
        return mnisq_amplitudes(
            x, n_qubits=self._n, max_value=self.max_value, pad=self.pad, size=self.size,
            sample_shape=self.sample_shape, single=single, name=self.name,
        )

    # -- the interface -------------------------------------------------------------
    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        """Exact states ``(B, 2**n)``: the normalised vectors themselves."""
        return self.amplitudes(x).to(dtype)

    def circuits(self, x: Any) -> list[Circuit]:
        """One exact state-preparation circuit per sample (RY tree; plus an RZ tree when complex)."""
        a = self.amplitudes(x)
        n = int(a.shape[1]).bit_length() - 1
        if a.is_complex():
            c = _build_ry_tree(_ry_tree_angles(a.abs(), n, signed_last=False), n)
            _append_phase_tree(c, torch.angle(a), n)
        else:
            c = _build_ry_tree(_ry_tree_angles(a, n, signed_last=True), n)
        c.metadata["encoder"] = "amplitude"
        return split_batch(c)

    def parameters(self, x: Any, *, single: bool = False) -> Tensor:
        """The ``2**n - 1`` RY angles per sample ``(B, 2**n - 1)``, level by level from the top qubit."""
        a = self.amplitudes(x, single=single)
        if a.is_complex():
            if bool((a.imag != 0).any()):
                raise ShapeError(
                    f"{self.name}: complex samples have no fixed parameter template (they need an extra RZ tree); "
                    "use circuits(x) or states(x), or pass real data"
                )
            a = a.real
        n = int(a.shape[1]).bit_length() - 1
        return _ry_tree_angles(a, n, signed_last=True)

    def template_circuit(self, *, n_qubits: int | None = None) -> Circuit:
        """The RY tree with placeholders on ``n_qubits`` (default: :attr:`n_qubits`)."""
        n = self.n_qubits if n_qubits is None else check_positive_int(n_qubits, "n_qubits", self.name)
        check_state_memory(n, 1, what=f"{self.name} template", dtype=torch.float64)  # 2**n - 1 placeholders
        p = 2**n - 1
        c = _build_ry_tree(torch.arange(p, dtype=torch.float64), n)
        c.metadata.update({"encoder": "amplitude", "template": True, "n_parameters": p})
        return c

    def template_for(self, x: Any) -> Circuit:
        return self.template_circuit(n_qubits=self.n_qubits_for(x))

    def _key(self) -> tuple:
        return (self._n, self.size, self.max_value, self.pad, self.sample_shape)

    def __repr__(self) -> str:
        return (
            f"AmplitudeEncoder(n_qubits={self._n}, size={self.size}, max_value={self.max_value}, pad={self.pad!r}, "
            f"sample_shape={self.sample_shape})"
        )
