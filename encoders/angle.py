"""A plain angle-encoding baseline: one rotation per qubit per repetition.

Features (per sample, in this order):

1. ``size`` given: resize the image to ``size x size`` by area averaging and flatten it
   row-major; otherwise flatten the sample as it is;
2. divide by ``max_value`` (pixels then lie in [0, 1]);
3. ``pca`` given: project on the top ``pca`` principal components fitted by :meth:`fit`
   (deterministic SVD, signs fixed), each divided by its largest absolute value on the fitted
   data, so the fitted features lie in [-1, 1].

Feature count vs. angles: the circuit takes ``P = n_qubits * reps`` angles; feature ``r*n + q``
drives qubit ``q`` in repetition ``r``. Fewer than ``P`` features are zero-padded at the end
(those qubits get angle 0); more than ``P`` is an error (silently dropping pixels would encode
the image corner), whose message says to use ``size=`` or ``pca=``.

Angles are ``scale * feature``. Circuit: for each repetition, the rotation on every qubit
(``"rz"`` is preceded, once at the start, by a Hadamard on every qubit, because RZ alone only
changes the phase of |0>), and between repetitions the entangler of
:mod:`qcstar.circuits.entanglers` (the one shared with ``QCStarNet``): ``"ladder"`` is
``CX(0,1) CX(1,2) ... CX(n-2,n-1)``, ``"ring"`` adds ``CX(n-1,0)``, ``None`` (or ``"none"``)
has none.

Values: NaN, inf and complex inputs are refused (:mod:`qcstar.encoders.base`); samples whose angles
are infinite or beyond ``qcstar.encoders.base.MAX_ANGLE`` (about 1.1e15 rad, where a float angle
carries no information) are refused with a :class:`~qcstar.encoders.base.SampleError`.

Example::

    enc = AngleEncoder(n_qubits=4, size=2)           # 2x2 resized image -> 4 angles
    psi = enc.states(images)                         # (B, 16)
    pca = AngleEncoder(n_qubits=6, reps=2, pca=12).fit(train_images)
    theta = pca.parameters(images)                   # (B, 12): the values a feature map binds
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from qcstar.circuits import Circuit, ConfigError, ShapeError, simulate
from qcstar.circuits.digest import content_digest
from qcstar.circuits.entanglers import ENTANGLERS, append_entangler

from .base import (
    Encoder,
    bind_template,
    check_angles,
    check_finite_float,
    check_positive_int,
    check_sample_shape,
    check_state_memory,
    flatten_samples,
    resize_area,
    split_batch,
)

Tensor = torch.Tensor

__all__ = ["AngleEncoder"]

_ROTATIONS = ("rx", "ry", "rz")


class AngleEncoder(Encoder):
    """Angle encoding: features -> rotation angles, with optional CNOT entanglers between repetitions.

    Args:
        n_qubits: number of qubits.
        rotation: ``"rx"``, ``"ry"`` or ``"rz"`` (RZ after a Hadamard layer).
        reps: repetitions; ``n_qubits * reps`` angles in all.
        entangler: ``"ladder"``, ``"ring"``, or ``None`` / ``"none"``, applied between repetitions.
        size: resize images to ``size x size`` (area averaging) first.
        pca: number of principal components (call :meth:`fit` first).
        scale: angle = ``scale * feature``.
        max_value: pixel scale divided out before PCA/scaling (255 for 8-bit images).
        sample_shape: the shape of one sample, e.g. ``(8, 8)``, so that one image and a batch are
            never confused (see :mod:`qcstar.encoders.base`); :meth:`fit` learns it too.

    Example::

        enc = AngleEncoder(n_qubits=4, rotation="ry", size=2)
        psi = enc.states(images)                 # (B, 16) complex128
        circs = enc.circuits(images[:3])         # three Circuits with RY angles
    """

    name = "AngleEncoder"

    def __init__(
        self,
        *,
        n_qubits: int,
        rotation: str = "ry",
        reps: int = 1,
        entangler: str | None = "ladder",
        size: int | None = None,
        pca: int | None = None,
        scale: float = math.pi,
        max_value: float = 255.0,
        sample_shape: Sequence[int] | None = None,
    ) -> None:
        self._n = check_positive_int(n_qubits, "n_qubits", self.name)
        rot = str(rotation).lower()
        if rot not in _ROTATIONS:
            raise ConfigError(f"{self.name}: rotation must be one of {_ROTATIONS}, got {rotation!r}")
        self.rotation = rot
        self.reps = check_positive_int(reps, "reps", self.name)
        if entangler is not None and entangler not in ENTANGLERS:
            raise ConfigError(f"{self.name}: entangler must be one of {ENTANGLERS} or None, got {entangler!r}")
        self.entangler = None if entangler == "none" else entangler
        self.size = None if size is None else check_positive_int(size, "size", self.name)
        self.pca = None if pca is None else check_positive_int(pca, "pca", self.name)
        self.scale = check_finite_float(scale, "scale", self.name)
        self.max_value = check_finite_float(max_value, "max_value", self.name, positive=True)
        self.sample_shape = check_sample_shape(sample_shape, self.name)
        # fitted PCA state: mean (F,), components (k, F), per-component scale (k,)
        self.pca_mean: Tensor | None = None
        self.pca_components: Tensor | None = None
        self.pca_scale: Tensor | None = None

    @property
    def n_qubits(self) -> int:
        return self._n

    @property
    def n_parameters(self) -> int:
        return self._n * self.reps

    # -- features ------------------------------------------------------------------
    def _raw_features(self, x: Any, *, single: bool = False, batch: bool = False) -> Tensor:
        t = self._validate(x, single=single, batch=batch)
        if self.size is not None:
            t = resize_area(t, self.size, name=self.name)
        return flatten_samples(t) / self.max_value  # (B, F)

    def fit(self, x: Any) -> "AngleEncoder":
        """Learn the sample shape from the batch ``x`` and fit the PCA on it (with ``pca``). Returns self.

        Deterministic: an exact SVD of the centred data, each component's sign chosen so that
        its largest-magnitude entry is positive.
        """
        super().fit(x)
        if self.pca is None:
            return self
        f = self._raw_features(x, batch=True).detach()
        n_samples, n_feat = f.shape
        if self.pca > min(n_samples, n_feat):
            raise ShapeError(
                f"{self.name}: pca={self.pca} components need at least {self.pca} samples and features, "
                f"got {n_samples} samples of {n_feat} features; use a smaller pca= or fit on more samples"
            )
        mean = f.mean(0)
        _, _, vh = torch.linalg.svd(f - mean, full_matrices=False)
        comps = vh[: self.pca]  # (k, F)
        pivot = comps.abs().argmax(dim=1)
        sign = torch.sign(comps.gather(1, pivot[:, None]))
        sign[sign == 0] = 1
        comps = comps * sign
        proj = (f - mean) @ comps.T  # (N, k)
        scale = proj.abs().amax(0)
        scale[scale == 0] = 1
        self.pca_mean, self.pca_components, self.pca_scale = mean, comps, scale
        return self

    def features(self, x: Any, *, single: bool = False) -> Tensor:
        """The features ``(B, n_qubits * reps)`` (before ``scale``), zero-padded as documented."""
        f = self._raw_features(x, single=single)
        if self.pca is not None:
            if self.pca_components is None:
                raise ConfigError(f"{self.name}(pca={self.pca}) is not fitted; call enc.fit(train_images) first")
            if f.shape[1] != self.pca_mean.shape[0]:
                raise ShapeError(
                    f"{self.name}: the PCA was fitted on {self.pca_mean.shape[0]} features per sample, got {f.shape[1]}"
                )
            f = ((f - self.pca_mean.to(f)) @ self.pca_components.to(f).T) / self.pca_scale.to(f)
        p = self.n_parameters
        if f.shape[1] > p:
            raise ShapeError(
                f"{self.name}: {f.shape[1]} features per sample but only n_qubits * reps = {p} angles; "
                f"reduce them with size= (a size x size image) or pca=, or raise n_qubits/reps"
            )
        if f.shape[1] < p:
            f = torch.nn.functional.pad(f, (0, p - f.shape[1]))
        return f

    # -- the interface -------------------------------------------------------------
    def parameters(self, x: Any, *, single: bool = False) -> Tensor:
        """The rotation angles ``(B, n_qubits * reps)`` = ``scale * features(x)`` (checked: see the module docstring)."""
        return check_angles(self.scale * self.features(x, single=single), name=self.name)

    def _build(self, values: Tensor) -> Circuit:
        """The circuit from angles (P,) or (B, P); called on arange(P) it is the template."""
        n = self._n
        c = Circuit(n)
        if self.rotation == "rz":
            for q in range(n):
                c.h(q)
        for r in range(self.reps):
            if r > 0:
                append_entangler(c, self.entangler)
            for q in range(n):
                getattr(c, self.rotation)(values[..., r * n + q], q)
        return c

    def template_circuit(self) -> Circuit:
        c = self._build(torch.arange(self.n_parameters, dtype=torch.float64))
        c.metadata.update({"encoder": "angle", "template": True, "n_parameters": self.n_parameters})
        return c

    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        """States ``(B, 2**n)`` from one batched simulation of the template."""
        theta = self.parameters(x)  # (B, P)
        check_state_memory(self._n, theta.shape[0], what=self.name, dtype=dtype)
        return simulate(bind_template(self.template_circuit(), theta), dtype=dtype)

    def circuits(self, x: Any) -> list[Circuit]:
        c = bind_template(self.template_circuit(), self.parameters(x).detach())
        c.metadata["encoder"] = "angle"
        return split_batch(c)

    def _key(self) -> tuple:
        fitted = None
        if self.pca_components is not None:
            fitted = content_digest(self.pca_mean, self.pca_components, self.pca_scale, length=16)
        return (
            self._n, self.rotation, self.reps, self.entangler, self.size, self.pca, self.scale, self.max_value,
            self.sample_shape, fitted,
        )

    def __repr__(self) -> str:
        return (
            f"AngleEncoder(n_qubits={self._n}, rotation={self.rotation!r}, reps={self.reps}, entangler={self.entangler!r}, "
            f"size={self.size}, pca={self.pca}, scale={self.scale:.6g}, sample_shape={self.sample_shape})"
        )
