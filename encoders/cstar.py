"""The encoder of a trained quantum circuit C*-algebra net (``qcstar.QCStarNet``).

The encoding of an image ``x`` is the net's joint state on ``n + a`` qubits (``n`` system
qubits, ``a = ceil(log2 d)`` index qubits above them) reached from ``|source>_index |0...0>``:
``net.joint_states(x, source=source)``, basis index ``c * 2**n + x`` (index register most
significant, Qiskit's order). Its circuit is ``net.to_circuit(x, form=form, source=source)``:
X gates preparing ``|source>`` on the index register, then the net's layers.

Parametric: ``parameters(x)`` are the per-gate angles of the Gray-code ``"hardware"`` form (RY/RZ
+ CX, plus the interaction's ``u`` gate when ``a = 1``), in circuit order, and
``template_circuit()`` is that circuit with placeholders. Trained gates that do not depend on
the data (the interaction) are placeholders too; their values are simply equal in every row.

Example::

    net = QCStarNet(n_qubits=4, n_circuits=2, n_layers=2, in_shape=(8, 8))  # ... trained
    enc = CStarEncoder(net, source=0)
    psi = enc.states(images)                     # (B, 2**(4+1))
    theta = enc.parameters(images)               # (B, P): bind into feature_map(enc)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qcstar.circuits import Circuit, ConfigError, ShapeError
from qcstar.circuits.digest import content_digest

from .base import Encoder, check_angles, check_state_memory, split_batch, templatize

Tensor = torch.Tensor

__all__ = ["CStarEncoder"]

_FORMS = ("multiplexed", "hardware")


class CStarEncoder(Encoder):
    """States and circuits of a trained :class:`qcstar.QCStarNet` with index input ``|source>``.

    Args:
        net: the trained net (``mode="shared"``: one image per sample). It is used as it is
            (not copied); the encoder is frozen with it: no gradients flow into the net.
        source: which circuit's index state starts the register (``0 <= source < d``).
        form: the form of :meth:`circuits`: ``"multiplexed"`` (native multiplexed gates) or
            ``"hardware"`` (Gray-code RY/RZ + CX). The template is always the hardware form.

    Inputs are images of the net's ``in_shape`` (its :attr:`sample_shape`): one image ``(H, W)``
    or ``(H*W,)``, or a batch ``(B, H, W)`` or ``(B, H*W)``. Values must be finite and real, and
    a sample whose angles (``net.angles``) are infinite, NaN or beyond ``qcstar.encoders.base.MAX_ANGLE``
    (e.g. unscaled pixels of ``1e200``) is refused with a :class:`~qcstar.encoders.base.SampleError`.

    Example::

        enc = CStarEncoder(net, source=1, form="hardware")
        circs = enc.circuits(images[:2])      # two Circuits on n + a qubits
    """

    name = "CStarEncoder"

    def __init__(self, net: Any, *, source: int = 0, form: str = "multiplexed") -> None:
        for attr in ("joint_states", "to_circuit", "n_qubits", "n_circuits"):
            if not hasattr(net, attr):
                raise ConfigError(f"{self.name}: net must be a qcstar.QCStarNet (missing '{attr}'), got {type(net).__name__}")
        if getattr(net, "mode", "shared") != "shared":
            raise ConfigError(f"{self.name}: the net must be in mode='shared' (one image per sample), got mode={net.mode!r}")
        d = int(net.n_circuits)
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < d:
            raise ConfigError(f"{self.name}: source must be a circuit index in 0..{d - 1}, got {source!r}")
        if form not in _FORMS:
            raise ConfigError(f"{self.name}: form must be one of {_FORMS}, got {form!r}")
        self.net = net
        self.source = source
        self.form = form
        self._template: tuple[str, Circuit] | None = None  # (net digest, template)

    # -- sizes ---------------------------------------------------------------------
    @property
    def n_index(self) -> int:
        """Index qubits a = ceil(log2 d)."""
        a = getattr(self.net, "n_index", None)
        return int(a) if a is not None else (0 if self.net.n_circuits == 1 else math.ceil(math.log2(self.net.n_circuits)))

    @property
    def n_qubits(self) -> int:
        return int(self.net.n_qubits) + self.n_index

    @property
    def sample_shape(self) -> tuple[int, ...] | None:  # type: ignore[override]
        """The shape of one sample: the net's ``in_shape``."""
        shape = getattr(self.net, "in_shape", None)
        return None if shape is None else tuple(int(s) for s in shape)

    # -- inputs --------------------------------------------------------------------
    def _images(self, x: Any, *, single: bool = False) -> Tensor:
        """Validated images as the net's ``(B, *in_shape)``, with their angles checked."""
        images = self._validate(x, single=single)
        angles = getattr(self.net, "angles", None)
        if angles is not None:
            with torch.no_grad():
                check_angles(angles(images), name=self.name)
        return images

    # -- the interface -------------------------------------------------------------
    def states(self, x: Any, *, dtype: torch.dtype = torch.complex128) -> Tensor:
        """Joint states ``(B, 2**(n + a))`` from ``net.joint_states(x, source=source)``.

        Computed in the net's own precision (build it with ``dtype=torch.complex128`` for
        verification), then cast to ``dtype``.
        """
        images = self._images(x)
        check_state_memory(self.n_qubits, images.shape[0], what=self.name, dtype=dtype)
        with torch.no_grad():
            psi = self.net.joint_states(images, source=self.source)
        return psi.to(dtype)

    def circuits(self, x: Any) -> list[Circuit]:
        """One circuit per sample in the chosen ``form``, starting with the ``|source>`` preparation."""
        images = self._images(x)
        c = self.net.to_circuit(images, form=self.form, source=self.source)
        return split_batch(c)

    def _hardware(self, images: Tensor) -> Circuit:
        return self.net.to_circuit(images, form="hardware", source=self.source)

    def template_circuit(self) -> Circuit:
        """The hardware-form circuit with every gate angle a placeholder (cached per net state)."""
        digest = self._net_digest()
        if self._template is None or self._template[0] != digest:
            in_shape = tuple(getattr(self.net, "in_shape", (1,)))
            probe = torch.ones(1, *in_shape, dtype=torch.float64)  # any image: the structure is data-independent
            template, _ = templatize(self._hardware(probe).select(0))
            template.metadata["encoder"] = "cstar"
            self._template = (digest, template)
        return self._template[1]

    def parameters(self, x: Any, *, single: bool = False) -> Tensor:
        """Per-gate angles ``(B, P)`` of the hardware form, in the template's placeholder order.

        The same function makes both: ``templatize`` of the batch's hardware circuit gives these
        values and, for one sample, :meth:`template_circuit`.
        """
        images = self._images(x, single=single)
        _, values = templatize(self._hardware(images))
        values = values.reshape(images.shape[0], -1)
        p_total = int(self.template_circuit().metadata["n_parameters"])
        if values.shape[1] != p_total:  # the net's export changed shape with the data: a bug there
            raise ShapeError(
                f"{self.name}: the hardware circuit has {values.shape[1]} angles but the template {p_total}; "
                "the net's to_circuit(form='hardware') must have a data-independent structure"
            )
        return values

    # -- identity ------------------------------------------------------------------
    def _net_digest(self) -> str:
        state = getattr(self.net, "state_dict", None)
        if state is None:
            return str(id(self.net))
        sd = state()
        return content_digest(type(self.net).__name__, repr(self.net), *[item for k, v in sd.items() for item in (k, v)], length=16)

    def _key(self) -> tuple:
        return (self._net_digest(), self.source, self.form)

    def __repr__(self) -> str:
        return (
            f"CStarEncoder(net=QCStarNet(n_qubits={self.net.n_qubits}, n_circuits={self.net.n_circuits}), "
            f"source={self.source}, form={self.form!r})"
        )
